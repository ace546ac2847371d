package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/query"
)

// TestKeyedColumnsBoundedByBytes: keyed latest-event columns are dropped,
// least recently used first, while together they pass their bound in
// bytes, and are built again with the same answers when asked for; the
// column a preview just built stays even alone past the bound.
func TestKeyedColumnsBoundedByBytes(t *testing.T) {
	e := New()
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	const contacts, keys = 400, 6
	var cs []segmentd.Contact
	for i := range contacts {
		cs = append(cs, segmentd.Contact{ID: fmt.Sprintf("c%03d", i), Email: fmt.Sprintf("c%03d@x.test", i), CreatedAt: base, UpdatedAt: base})
	}
	e.PutContacts(1, cs, base)
	// Contact i has an open of single send ssK for every K <= i%keys: ssK's
	// column holds (keys-K)/keys of the contacts.
	for i := range contacts {
		var evs []query.Event
		for k := range i%keys + 1 {
			evs = append(evs, query.Event{Type: "open", SinglesendID: fmt.Sprint("ss", k), Timestamp: base.Add(-time.Hour).UnixMilli()})
		}
		e.AddEvents(1, fmt.Sprintf("c%03d", i), evs, base)
	}
	a := e.accts[1]
	count := func(k int) int {
		t.Helper()
		q, err := query.Parse(query.SQL, fmt.Sprintf("SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND singlesend_id = 'ss%d' AND event_timestamp > timestampadd(day, -1, current_timestamp))", k))
		if err != nil {
			t.Fatal(err)
		}
		_, n, err := e.Preview(1, q, nil, "", 0, base)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	want := func(k int) (n int) {
		for i := range contacts {
			if i%keys >= k {
				n++
			}
		}
		return n
	}
	keyedBytes := func() (b int64, n int) {
		for typ, m := range a.der.keyed {
			for k, c := range m {
				b += keyedColBytes(typ, k, c)
				n++
			}
		}
		return b, n
	}
	// Unbounded: every column kept.
	for k := range keys {
		if got := count(k); got != want(k) {
			t.Fatalf("ss%d: %d contacts, want %d", k, got, want(k))
		}
	}
	all, n := keyedBytes()
	if n != keys {
		t.Fatalf("%d keyed columns, want %d", n, keys)
	}
	// Bounded at half of them: after each preview the columns fit, and the
	// one just asked for is there.
	a.der.keyedMax = all / 2
	for round := range 2 {
		for k := range keys {
			if got := count(k); got != want(k) {
				t.Fatalf("round %d, ss%d: %d contacts, want %d", round, k, got, want(k))
			}
			b, n := keyedBytes()
			if b > a.der.keyedMax || n < 1 || n != a.der.nKeyed {
				t.Fatalf("round %d, after ss%d: %d columns (counted %d) of %d bytes, bound %d", round, k, n, a.der.nKeyed, b, a.der.keyedMax)
			}
			if a.der.keyed["open"][query.EventKey{Col: "singlesend_id", Value: fmt.Sprint("ss", k)}] == nil {
				t.Fatalf("round %d: ss%d's column, just built, was dropped", round, k)
			}
		}
	}
	// A bound below any one column: the last one asked for stays alone.
	a.der.keyedMax = 1
	if got := count(0); got != want(0) {
		t.Fatalf("ss0 under a 1-byte bound: %d contacts, want %d", got, want(0))
	}
	if _, n := keyedBytes(); n != 1 || a.der.keyed["open"][query.EventKey{Col: "singlesend_id", Value: "ss0"}] == nil {
		t.Fatalf("%d keyed columns under a 1-byte bound, want ss0's alone", n)
	}
}
