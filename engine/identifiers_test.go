package engine

import (
	"math/rand/v2"
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

// IdentifierCounts' cache (kept per segment with the account's write
// count) is exact after every step of a random sequence of writes:
// contacts written with and without identifiers, deleted (their indexes
// reused), events that move a time-dependent segment, the clock moving,
// a segment's query replaced. Each step's counts are checked against
// the segment's members counted one by one, and a second call without a
// write between must be answered from the cache.
func TestIdentifierCountsCache(t *testing.T) {
	e := New()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rng := rand.New(rand.NewPCG(7, 17))
	contacts := map[string]segmentd.Contact{}
	ids := walkIDs(30)
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	segs := map[string]string{
		"nz":     "SELECT contact_id, updated_at FROM contact_data WHERE country = 'NZ'",
		"opened": "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND event_timestamp > timestampadd(day, -2, current_timestamp))",
	}
	putSeg := func(id, src string) {
		ch, err := e.Check(1, query.SQL, src)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.PutSegment(1, id, ch, "", now); err != nil {
			t.Fatal(err)
		}
	}
	e.PutContacts(1, []segmentd.Contact{{ID: ids[0], Email: "c@x.com"}}, now)
	for id, src := range segs {
		putSeg(id, src)
	}
	for step := range 400 {
		var what string
		switch op := rng.IntN(100); {
		case op < 45:
			c := segmentd.Contact{ID: ids[rng.IntN(len(ids))], Email: pick("", "a@x.com", "b@y.org"),
				PhoneNumberID: pick("", "+64"), AnonymousID: pick("", "anon"), Country: pick("NZ", "AU", "")}
			if c.Email == "" && c.PhoneNumberID == "" && c.AnonymousID == "" {
				c.ExternalID = "x-" + c.ID
			}
			contacts[c.ID] = c
			e.PutContacts(1, []segmentd.Contact{c}, now)
			what = "put " + c.ID
		case op < 60:
			id := ids[rng.IntN(len(ids))]
			delete(contacts, id)
			e.DeleteContacts(1, []string{id}, now)
			what = "delete " + id
		case op < 85:
			id := ids[rng.IntN(len(ids))]
			if _, ok := contacts[id]; !ok {
				continue
			}
			ts := now.Add(-time.Duration(rng.IntN(72)) * time.Hour).UnixMilli()
			e.AddEvents(1, id, []query.Event{{Source: "mail", Type: pick("open", "click"), Timestamp: ts}}, now)
			what = "event " + id
		case op < 97:
			now = now.Add(time.Duration(rng.IntN(24)) * time.Hour)
			what = "clock to " + now.Format(time.RFC3339)
		default:
			segs["nz"] = pick("SELECT contact_id, updated_at FROM contact_data WHERE country = 'NZ'",
				"SELECT contact_id, updated_at FROM contact_data WHERE country <> 'NZ'")
			putSeg("nz", segs["nz"])
			what = "segment nz replaced"
		}
		for id := range segs {
			var want segmentd.IdentifierCounts
			for _, m := range e.Members(1, id, -1, now) {
				c := contacts[m]
				want.Email += boolInt(c.Email != "")
				want.PhoneNumberID += boolInt(c.PhoneNumberID != "")
				want.ExternalID += boolInt(c.ExternalID != "")
				want.AnonymousID += boolInt(c.AnonymousID != "")
			}
			if got := e.IdentifierCounts(1, id, now); got != want {
				t.Fatalf("step %d (%s): IdentifierCounts(%s) = %+v, want %+v", step, what, id, got, want)
			}
			a := e.get(1)
			cached := a.segs[id].idents.Load()
			if got := e.IdentifierCounts(1, id, now); got != want || a.segs[id].idents.Load() != cached {
				t.Fatalf("step %d (%s): a second IdentifierCounts(%s) = %+v (not from the cache: %v), want %+v",
					step, what, id, got, a.segs[id].idents.Load() != cached, want)
			}
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
