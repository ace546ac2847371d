package engine

import (
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/query"
)

func TestIdentifierFieldsComeFirst(t *testing.T) {
	got := []query.TextField{query.FieldEmail, query.FieldPhoneNumberID, query.FieldExternalID, query.FieldAnonymousID}
	for i, f := range got {
		if int(f) != i {
			t.Fatalf("identifier field %s is text field %d, want %d: account.idents relies on the order", f.Name(), f, i)
		}
	}
}

// IdentifierCounts follows writes that set, change and clear identifiers,
// and deletes.
func TestIdentifierCounts(t *testing.T) {
	e := New()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cs := []segmentd.Contact{
		{ID: "a", Email: "a@x.com", ExternalID: "e1", Country: "NZ"},
		{ID: "b", Email: "b@x.com", Country: "NZ"},
		{ID: "c", AnonymousID: "anon", PhoneNumberID: "+64", Country: "NZ"},
		{ID: "d", Email: "d@x.com", Country: "AU"},
	}
	e.PutContacts(1, cs, now)
	ch, err := e.Check(1, query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE country = 'NZ'")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.PutSegment(1, "nz", ch, "", now); err != nil {
		t.Fatal(err)
	}
	want := func(step string, w segmentd.IdentifierCounts) {
		t.Helper()
		if got := e.IdentifierCounts(1, "nz", now); got != w {
			t.Fatalf("%s: IdentifierCounts = %+v, want %+v", step, got, w)
		}
	}
	want("start", segmentd.IdentifierCounts{Email: 2, PhoneNumberID: 1, ExternalID: 1, AnonymousID: 1})
	cs[0].ExternalID = ""
	cs[3].Country = "NZ"
	e.PutContacts(1, []segmentd.Contact{cs[0], cs[3]}, now)
	want("after updates", segmentd.IdentifierCounts{Email: 3, PhoneNumberID: 1, AnonymousID: 1})
	e.DeleteContacts(1, []string{"c"}, now)
	want("after a delete", segmentd.IdentifierCounts{Email: 3})
	// The next contact reuses the freed index: none of c's identifiers may
	// stick to it.
	e.PutContacts(1, []segmentd.Contact{{ID: "e", Email: "e@x.com", Country: "NZ"}}, now)
	want("after reusing the index", segmentd.IdentifierCounts{Email: 4})
	e.DeleteAllContacts(1, now)
	want("after delete all", segmentd.IdentifierCounts{})
	if got := e.IdentifierCounts(2, "nz", now); got != (segmentd.IdentifierCounts{}) {
		t.Fatalf("another account: %+v", got)
	}
}
