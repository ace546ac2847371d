package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// EventsStore is a store that keeps contacts and their events.
type EventsStore interface {
	segmentd.Store
	segmentd.EventStore
}

// RunEvents runs the event-store contract. open must return a new, empty
// store.
func RunEvents(t *testing.T, open func(t *testing.T) EventsStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st EventsStore)
	}{
		{"MatchByEmail", testEventsMatch},
		{"Idempotent", testEventsIdempotent},
		{"Batches", testEventBatches},
		{"AttachLater", testEventsAttach},
		{"ScanPages", testEventsScan},
		{"Prune", testEventsPrune},
		{"Isolation", testEventsIsolation},
		{"ChangeHistory", testEventsChangeHistory},
		{"ReadAccount", testReadAccount},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var evT0 = time.Date(2026, 3, 1, 12, 0, 0, 123_456_789, time.UTC)

func ev(email, typ, sgID string, at time.Time) segmentd.Event {
	return segmentd.Event{Email: email, Type: typ, Timestamp: at, SGEventID: sgID}
}

// scanAll reads every event of acct through ScanEvents pages of 2.
func scanAll(t *testing.T, st EventsStore, acct int64) []segmentd.Event {
	t.Helper()
	var out []segmentd.Event
	for after := int64(0); ; {
		evs, last, err := st.ScanEvents(ctx(t), acct, after, 2)
		noErr(t, "ScanEvents", err)
		out = append(out, evs...)
		if len(evs) < 2 {
			if len(evs) == 0 && last != after {
				t.Fatalf("ScanEvents after %d: no events but last = %d", after, last)
			}
			return out
		}
		if last <= after {
			t.Fatalf("ScanEvents after %d: last = %d", after, last)
		}
		after = last
	}
}

func eventKey(e segmentd.Event) string {
	return fmt.Sprintf("%s|%s|%s|%s|%s|%s|%s|%s|%s|%s", e.ContactID, e.Email, e.Source, e.Type,
		e.Timestamp.UTC().Format(time.RFC3339Nano), e.SinglesendID, e.AutomationID, e.MarketingCampaignID, e.URL, e.SGEventID)
}

func eventKeys(evs []segmentd.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = eventKey(e)
	}
	return out
}

func testEventsMatch(t *testing.T, st EventsStore) {
	acct := newAccount(t, st, "a")
	res := upsert(t, st, acct, nil,
		segmentd.ContactPatch{Email: str("ada@example.com")},
		segmentd.ContactPatch{Email: str("grace@example.com"), AlternateEmails: strs("g.hopper@example.com")})
	ada, grace := res.Contacts[0].ID, res.Contacts[1].ID

	full := segmentd.Event{Email: "ADA@Example.com", Source: "mail", Type: "click", Timestamp: evT0,
		SinglesendID: "ss1", AutomationID: "au1", MarketingCampaignID: "mc1", URL: "https://example.com/x", SGEventID: "e1"}
	in := []segmentd.Event{full, ev("g.hopper@example.com", "open", "e2", evT0.Add(time.Second)), ev("nobody@example.com", "delivered", "", evT0)}
	got := must[segmentd.EventsResult](t, "AddEvents")(st.AddEvents(ctx(t), acct, in))
	if got.Added != 3 || got.Duplicates != 0 || got.Unmatched != 1 || len(got.Events) != 3 {
		t.Fatalf("AddEvents = %+v, want 3 added, 1 unmatched", got)
	}
	if in[0].Email != "ADA@Example.com" {
		t.Fatalf("AddEvents changed its argument")
	}
	ms := evT0.Truncate(time.Millisecond)
	want := []segmentd.Event{
		{ContactID: ada, Email: "ada@example.com", Source: "mail", Type: "click", Timestamp: ms,
			SinglesendID: "ss1", AutomationID: "au1", MarketingCampaignID: "mc1", URL: "https://example.com/x", SGEventID: "e1"},
		{ContactID: grace, Email: "g.hopper@example.com", Source: "mail", Type: "open", Timestamp: ms.Add(time.Second), SGEventID: "e2"},
		{Email: "nobody@example.com", Source: "mail", Type: "delivered", Timestamp: ms},
	}
	if g, w := eventKeys(got.Events), eventKeys(want); !slices.Equal(g, w) {
		t.Fatalf("AddEvents events:\n got %q\nwant %q", g, w)
	}
	if g, w := eventKeys(scanAll(t, st, acct)), eventKeys(want); !slices.Equal(g, w) {
		t.Fatalf("ScanEvents:\n got %q\nwant %q", g, w)
	}
	empty := must[segmentd.EventsResult](t, "AddEvents(nil)")(st.AddEvents(ctx(t), acct, nil))
	if empty.Added != 0 || len(empty.Events) != 0 {
		t.Fatalf("AddEvents(nil) = %+v", empty)
	}
}

func testEventsIdempotent(t *testing.T, st EventsStore) {
	acct := newAccount(t, st, "a")
	upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("ada@example.com")})
	batch := []segmentd.Event{ev("ada@example.com", "open", "e1", evT0), ev("ada@example.com", "click", "e2", evT0),
		ev("ada@example.com", "open", "e1", evT0.Add(time.Hour)), // repeated in the batch
		ev("ada@example.com", "open", "", evT0)}                  // no id: always stored
	res := must[segmentd.EventsResult](t, "AddEvents")(st.AddEvents(ctx(t), acct, batch))
	if res.Added != 3 || res.Duplicates != 1 {
		t.Fatalf("first delivery: %+v, want 3 added, 1 duplicate", res)
	}
	before := eventKeys(scanAll(t, st, acct))
	res = must[segmentd.EventsResult](t, "AddEvents")(st.AddEvents(ctx(t), acct, batch[:3]))
	if res.Added != 0 || res.Duplicates != 3 || len(res.Events) != 0 {
		t.Fatalf("redelivery: %+v, want 0 added, 3 duplicates", res)
	}
	if after := eventKeys(scanAll(t, st, acct)); !slices.Equal(after, before) {
		t.Fatalf("redelivery changed the events:\n got %q\nwant %q", after, before)
	}
}

// testEventBatches: batches stored together give each batch the result it
// would get stored alone after the ones before it.
func testEventBatches(t *testing.T, st EventsStore) {
	acct := newAccount(t, st, "a")
	upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("ada@example.com")})
	must[segmentd.EventsResult](t, "AddEvents")(st.AddEvents(ctx(t), acct, []segmentd.Event{ev("ada@example.com", "open", "e0", evT0)}))
	batches := [][]segmentd.Event{
		{ev("ada@example.com", "open", "e1", evT0), ev("ada@example.com", "open", "e0", evT0)}, // e0: stored before
		nil,
		{ev("ada@example.com", "click", "e1", evT0), ev("nobody@example.com", "open", "e2", evT0)}, // e1: the first batch's
		{ev("ada@example.com", "click", "e3", evT0), ev("ada@example.com", "click", "e3", evT0)},
	}
	res := must[[]segmentd.EventsResult](t, "AddEventBatches")(st.AddEventBatches(ctx(t), acct, batches))
	want := []struct{ added, dups, unmatched int }{{1, 1, 0}, {0, 0, 0}, {1, 1, 1}, {1, 1, 0}}
	if len(res) != len(want) {
		t.Fatalf("AddEventBatches gave %d results for %d batches", len(res), len(want))
	}
	for i, w := range want {
		if r := res[i]; r.Added != w.added || r.Duplicates != w.dups || r.Unmatched != w.unmatched || len(r.Events) != w.added {
			t.Errorf("batch %d: %+v, want %d added, %d duplicates, %d unmatched", i, r, w.added, w.dups, w.unmatched)
		}
	}
	if got := len(scanAll(t, st, acct)); got != 4 {
		t.Fatalf("%d events stored, want 4", got)
	}
}

func testEventsAttach(t *testing.T, st EventsStore) {
	acct := newAccount(t, st, "a")
	must[segmentd.EventsResult](t, "AddEvents")(st.AddEvents(ctx(t), acct, []segmentd.Event{
		ev("new@example.com", "open", "e1", evT0), ev("alt@example.com", "click", "e2", evT0), ev("other@example.com", "open", "e3", evT0)}))

	none, err := st.AttachEvents(ctx(t), acct, nil)
	if err != nil || len(none) != 0 {
		t.Fatalf("AttachEvents(nil) = %v, %v", none, err)
	}
	res := upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("new@example.com"), AlternateEmails: strs("alt@example.com")})
	c := res.Contacts[0]
	got, err := st.AttachEvents(ctx(t), acct, res.Contacts)
	noErr(t, "AttachEvents", err)
	if len(got) != 2 {
		t.Fatalf("AttachEvents returned %d events, want 2: %+v", len(got), got)
	}
	for _, e := range got {
		if e.ContactID != c.ID {
			t.Fatalf("attached event %+v, want contact %s", e, c.ID)
		}
	}
	again, err := st.AttachEvents(ctx(t), acct, res.Contacts)
	if err != nil || len(again) != 0 {
		t.Fatalf("second AttachEvents = %+v, %v; want nothing", again, err)
	}
	byContact := map[string]string{}
	for _, e := range scanAll(t, st, acct) {
		byContact[e.SGEventID] = e.ContactID
	}
	if byContact["e1"] != c.ID || byContact["e2"] != c.ID || byContact["e3"] != "" {
		t.Fatalf("stored contact ids %v, want e1 and e2 on %s, e3 on none", byContact, c.ID)
	}
	// A later event of that email matches at once.
	r := must[segmentd.EventsResult](t, "AddEvents")(st.AddEvents(ctx(t), acct, []segmentd.Event{ev("alt@example.com", "open", "e4", evT0)}))
	if r.Unmatched != 0 || r.Events[0].ContactID != c.ID {
		t.Fatalf("AddEvents after the contact exists: %+v", r)
	}

	// Another account with nothing waiting: its contact of e3's email
	// takes nothing, and e3 still waits in its own account for its
	// contact, found with events attached before it.
	b := newAccount(t, st, "b")
	resB := upsert(t, st, b, nil, segmentd.ContactPatch{Email: str("other@example.com")})
	if got, err := st.AttachEvents(ctx(t), b, resB.Contacts); err != nil || len(got) != 0 {
		t.Fatalf("AttachEvents in an account with no event waiting = %+v, %v; want nothing", got, err)
	}
	res = upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("other@example.com")})
	got, err = st.AttachEvents(ctx(t), acct, res.Contacts)
	if err != nil || len(got) != 1 || got[0].SGEventID != "e3" || got[0].ContactID != res.Contacts[0].ID {
		t.Fatalf("AttachEvents of e3's contact = %+v, %v; want e3 on %s", got, err, res.Contacts[0].ID)
	}
}

func testEventsScan(t *testing.T, st EventsStore) {
	acct := newAccount(t, st, "a")
	var in []segmentd.Event
	for i := range 7 {
		in = append(in, ev(fmt.Sprintf("u%d@example.com", i), "delivered", fmt.Sprintf("e%d", i), evT0.Add(time.Duration(i)*time.Minute)))
	}
	must[segmentd.EventsResult](t, "AddEvents")(st.AddEvents(ctx(t), acct, in[:4]))
	must[segmentd.EventsResult](t, "AddEvents")(st.AddEvents(ctx(t), acct, in[4:]))
	got := scanAll(t, st, acct)
	var ids []string
	for _, e := range got {
		ids = append(ids, e.SGEventID)
	}
	if want := []string{"e0", "e1", "e2", "e3", "e4", "e5", "e6"}; !slices.Equal(ids, want) {
		t.Fatalf("scan order %v, want %v", ids, want)
	}
	evs, last, err := st.ScanEvents(ctx(t), acct, 0, 100)
	noErr(t, "ScanEvents", err)
	tail, last2, err := st.ScanEvents(ctx(t), acct, last, 100)
	noErr(t, "ScanEvents", err)
	if len(evs) != 7 || len(tail) != 0 || last2 != last {
		t.Fatalf("ScanEvents: %d events then %d (last %d, %d)", len(evs), len(tail), last, last2)
	}
}

func testEventsPrune(t *testing.T, st EventsStore) {
	acct := newAccount(t, st, "a")
	other := newAccount(t, st, "b")
	in := []segmentd.Event{ev("a@example.com", "open", "old", evT0.Add(-48*time.Hour)), ev("a@example.com", "open", "edge", evT0),
		ev("a@example.com", "open", "new", evT0.Add(time.Hour))}
	must[segmentd.EventsResult](t, "AddEvents")(st.AddEvents(ctx(t), acct, in))
	must[segmentd.EventsResult](t, "AddEvents")(st.AddEvents(ctx(t), other, in[:1]))
	n, err := st.PruneEvents(ctx(t), acct, evT0.Truncate(time.Millisecond))
	noErr(t, "PruneEvents", err)
	if n != 1 {
		t.Fatalf("PruneEvents = %d, want 1", n)
	}
	var ids []string
	for _, e := range scanAll(t, st, acct) {
		ids = append(ids, e.SGEventID)
	}
	if !slices.Equal(ids, []string{"edge", "new"}) {
		t.Fatalf("after pruning: %v, want [edge new]", ids)
	}
	if len(scanAll(t, st, other)) != 1 {
		t.Fatalf("pruning one account touched another")
	}
	// A pruned event's id may come again: it is stored anew.
	r := must[segmentd.EventsResult](t, "AddEvents")(st.AddEvents(ctx(t), acct, in[:1]))
	if r.Added != 1 {
		t.Fatalf("re-adding a pruned event: %+v", r)
	}
	if n, err := st.PruneEvents(ctx(t), newAccount(t, st, "empty"), evT0); err != nil || n != 0 {
		t.Fatalf("PruneEvents on an empty account = %d, %v", n, err)
	}
}

func testEventsIsolation(t *testing.T, st EventsStore) {
	a := newAccount(t, st, "a")
	b := newAccount(t, st, "b")
	upsert(t, st, a, nil, segmentd.ContactPatch{Email: str("ada@example.com")})
	r := must[segmentd.EventsResult](t, "AddEvents")(st.AddEvents(ctx(t), b, []segmentd.Event{ev("ada@example.com", "open", "e1", evT0)}))
	if r.Unmatched != 1 {
		t.Fatalf("an event matched another account's contact: %+v", r)
	}
	// The same sg_event_id in another account is another event.
	r = must[segmentd.EventsResult](t, "AddEvents")(st.AddEvents(ctx(t), a, []segmentd.Event{ev("ada@example.com", "open", "e1", evT0)}))
	if r.Added != 1 || r.Events[0].ContactID == "" {
		t.Fatalf("AddEvents in account a: %+v", r)
	}
	res := upsert(t, st, b, nil, segmentd.ContactPatch{Email: str("x@example.com")})
	if got, _ := st.AttachEvents(ctx(t), b, res.Contacts); len(got) != 0 {
		t.Fatalf("AttachEvents attached %+v", got)
	}
	if len(scanAll(t, st, a)) != 1 || len(scanAll(t, st, b)) != 1 {
		t.Fatalf("accounts see each other's events")
	}
}
