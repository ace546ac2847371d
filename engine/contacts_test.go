package engine

import (
	"reflect"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/query"
)

// TestContactsAndCounts: the engine renders a contact as it was put (but
// for values of fields the account does not have), in the order asked,
// once per id, without unknown or deleted contacts; and counts the
// account's contacts and each list's as they change.
func TestContactsAndCounts(t *testing.T) {
	e := New()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if e.ContactCount(1) != 0 || e.ListCount(1, "l1") != 0 || e.ContactsByIDs(1, []string{"a"}, now) != nil {
		t.Fatal("an unknown account has contacts")
	}
	defs := []segmentd.FieldDefinition{
		{ID: "w1", Name: "plan", Type: segmentd.FieldText},
		{ID: "n2", Name: "score", Type: segmentd.FieldNumber},
		{ID: "d3", Name: "birthday", Type: segmentd.FieldDate},
	}
	if err := e.SetFields(1, defs, now); err != nil {
		t.Fatal(err)
	}
	created := now.Add(-time.Hour)
	a := segmentd.Contact{
		ID: "a", Email: "a@example.com", PhoneNumberID: "ph", ExternalID: "ext", AnonymousID: "anon",
		AlternateEmails: []string{"a2@example.com", "a3@example.com"},
		FirstName:       "Ada", LastName: "Lovelace", AddressLine1: "1 Road", AddressLine2: "Flat 2", City: "London",
		StateProvinceRegion: "LDN", PostalCode: "N1", Country: "GB", PhoneNumber: "+44", WhatsApp: "wa", Line: "ln",
		Facebook: "fb", UniqueName: "ada",
		CustomFields: map[string]segmentd.Value{
			"w1": {Type: segmentd.FieldText, Text: "pro"},
			"n2": {Type: segmentd.FieldNumber, Number: 2.5},
			"d3": {Type: segmentd.FieldDate, Time: time.Date(1815, 12, 10, 0, 0, 0, 0, time.UTC)},
		},
		ListIDs:   []string{"l1", "l2"},
		CreatedAt: created, UpdatedAt: now,
	}
	b := segmentd.Contact{ID: "b", Email: "b@example.com", ListIDs: []string{"l2"}, CreatedAt: created, UpdatedAt: created,
		CustomFields: map[string]segmentd.Value{"w9": {Type: segmentd.FieldText, Text: "no such field"}}}
	e.PutContacts(1, []segmentd.Contact{a, b}, now)
	ch, err := e.Check(1, query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE plan = 'pro'")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.PutSegment(1, "pro", ch, "", now); err != nil {
		t.Fatal(err)
	}

	got := e.ContactsByIDs(1, []string{"b", "unknown", "a", "b"}, now)
	wantA := a
	wantA.SegmentIDs = []string{"pro"}
	wantB := b
	wantB.CustomFields = nil // w9 is no field of the account
	if want := []segmentd.Contact{wantB, wantA}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ContactsByIDs =\n%+v\nwant\n%+v", got, want)
	}
	if e.ContactCount(1) != 2 || e.ListCount(1, "l1") != 1 || e.ListCount(1, "l2") != 2 || e.ListCount(1, "l3") != 0 {
		t.Fatalf("counts: contacts %d, l1 %d, l2 %d, l3 %d", e.ContactCount(1), e.ListCount(1, "l1"), e.ListCount(1, "l2"), e.ListCount(1, "l3"))
	}

	// a leaves l1 (so l1 is forgotten), then b is deleted.
	a.ListIDs = []string{"l2"}
	e.PutContacts(1, []segmentd.Contact{a}, now)
	e.DeleteContacts(1, []string{"b"}, now)
	if got := e.ContactsByIDs(1, []string{"a", "b"}, now); len(got) != 1 || got[0].ID != "a" || !reflect.DeepEqual(got[0].ListIDs, []string{"l2"}) {
		t.Fatalf("after the changes: %+v", got)
	}
	if e.ContactCount(1) != 1 || e.ListCount(1, "l1") != 0 || e.ListCount(1, "l2") != 1 {
		t.Fatalf("counts after the changes: contacts %d, l1 %d, l2 %d", e.ContactCount(1), e.ListCount(1, "l1"), e.ListCount(1, "l2"))
	}
	e.RemoveList(1, "l2", now)
	if e.ListCount(1, "l2") != 0 {
		t.Fatal("a deleted list still counts contacts")
	}
	e.DeleteAllContacts(1, now)
	if e.ContactCount(1) != 0 || len(e.ContactsByIDs(1, []string{"a"}, now)) != 0 {
		t.Fatal("contacts left after deleting them all")
	}
	if got := e.SegmentsOfMany(1, []string{"a", "x"}, now); len(got) != 2 || got[0] != nil || got[1] != nil {
		t.Fatalf("SegmentsOfMany after deleting every contact = %v", got)
	}
}

// TestRecentEvents: a contact's events come back newest first, every
// column kept, at most limit of them; none for an unknown contact.
func TestRecentEvents(t *testing.T) {
	e := New()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e.PutContacts(1, []segmentd.Contact{{ID: "a", Email: "a@example.com"}, {ID: "b", Email: "b@example.com"}}, now)
	at := func(h int) int64 { return now.Add(time.Duration(-h) * time.Hour).UnixMilli() }
	e.AddEvents(1, "a", []query.Event{
		{Source: "mail", Type: "open", Timestamp: at(3), SinglesendID: "ss1"},
		{Source: "mail", Type: "click", Timestamp: at(1), URL: "https://example.com/x", MarketingCampaignID: "c1", AutomationID: "au"},
	}, now)
	e.AddEvents(1, "a", []query.Event{{Source: "mail", Type: "delivered", Timestamp: at(5)}}, now)
	got := e.RecentEvents(1, "a", 10, now)
	want := []segmentd.Event{
		{ContactID: "a", Source: "mail", Type: "click", Timestamp: time.UnixMilli(at(1)).UTC(), URL: "https://example.com/x", MarketingCampaignID: "c1", AutomationID: "au"},
		{ContactID: "a", Source: "mail", Type: "open", Timestamp: time.UnixMilli(at(3)).UTC(), SinglesendID: "ss1"},
		{ContactID: "a", Source: "mail", Type: "delivered", Timestamp: time.UnixMilli(at(5)).UTC()},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("RecentEvents =\n%+v\nwant\n%+v", got, want)
	}
	if got := e.RecentEvents(1, "a", 2, now); !reflect.DeepEqual(got, want[:2]) {
		t.Fatalf("limit 2: %+v", got)
	}
	if got := e.RecentEvents(1, "b", 10, now); len(got) != 0 {
		t.Fatalf("b has events: %+v", got)
	}
	if e.RecentEvents(1, "nobody", 10, now) != nil || e.RecentEvents(2, "a", 10, now) != nil {
		t.Fatal("an unknown contact or account has events")
	}
}

// TestPutContactsAddingLists: a contact the engine holds keeps its lists
// and joins those it is given, its other fields replaced as PutContacts
// replaces them, and segments on a list see it join; an unknown contact
// is created on the lists it is given.
func TestPutContactsAddingLists(t *testing.T) {
	e := New()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	a := segmentd.Contact{ID: "a", Email: "a@example.com", FirstName: "Ada", ListIDs: []string{"l1", "l2"}, CreatedAt: now, UpdatedAt: now}
	e.PutContacts(1, []segmentd.Contact{a}, now)
	ch, err := e.Check(1, query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE first_name = 'Grace'")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.PutSegment(1, "grace3", ch, "l3", now); err != nil {
		t.Fatal(err)
	}
	later := now.Add(time.Minute)
	a.FirstName, a.UpdatedAt, a.ListIDs = "Grace", later, []string{"l3"}
	b := segmentd.Contact{ID: "b", Email: "b@example.com", FirstName: "Grace", ListIDs: []string{"l3"}, CreatedAt: later, UpdatedAt: later}
	e.PutContactsAddingLists(1, []segmentd.Contact{a, b}, later)
	got := e.ContactsByIDs(1, []string{"a", "b"}, later)
	wantA := a
	wantA.ListIDs, wantA.SegmentIDs = []string{"l1", "l2", "l3"}, []string{"grace3"}
	wantB := b
	wantB.SegmentIDs = []string{"grace3"}
	if want := []segmentd.Contact{wantA, wantB}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after PutContactsAddingLists:\n%+v\nwant\n%+v", got, want)
	}
	if e.ListCount(1, "l1") != 1 || e.ListCount(1, "l2") != 1 || e.ListCount(1, "l3") != 2 {
		t.Fatalf("counts: l1 %d, l2 %d, l3 %d", e.ListCount(1, "l1"), e.ListCount(1, "l2"), e.ListCount(1, "l3"))
	}
}

// TestListSample: a list's sample is its members, those that reached the
// engine last first, up to the limit; a contact that joins the list later
// keeps its place; a deleted contact's index goes to the next new contact,
// which then takes that place; an unknown list or account samples nothing.
func TestListSample(t *testing.T) {
	e := New()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := e.ListSample(1, "l", 50); got != nil {
		t.Fatalf("an unknown account's sample = %v", got)
	}
	put := func(id string, lists ...string) {
		e.PutContacts(1, []segmentd.Contact{{ID: id, Email: id + "@example.com", ListIDs: lists, CreatedAt: now, UpdatedAt: now}}, now)
	}
	put("a", "l")
	put("b")
	put("c", "l")
	put("d", "l")
	put("b", "l") // b, older than c and d, joins after them
	for _, tc := range []struct {
		limit int
		want  []string
	}{{50, []string{"d", "c", "b", "a"}}, {2, []string{"d", "c"}}, {0, nil}} {
		if got := e.ListSample(1, "l", tc.limit); !reflect.DeepEqual(got, tc.want) {
			t.Fatalf("ListSample(limit %d) = %v, want %v", tc.limit, got, tc.want)
		}
	}
	e.DeleteContacts(1, []string{"a"}, now)
	put("e", "l") // takes a's index
	if got, want := e.ListSample(1, "l", 50), []string{"d", "c", "b", "e"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ListSample after a deletion and a new contact = %v, want %v", got, want)
	}
	if got := e.ListSample(1, "unknown", 50); got != nil {
		t.Fatalf("an unknown list's sample = %v", got)
	}
}
