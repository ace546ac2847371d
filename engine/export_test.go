package engine

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/query"
)

// TestSelectForExport: the selection is the union of the lists and
// segments asked for (everyone when none), in id order, each contact with
// the lists and segments it is in; and it stays as it was when taken
// while the account changes under it: contacts deleted (their indexes
// given to new contacts), moved between lists, out of a segment.
func TestSelectForExport(t *testing.T) {
	m := NewMembership()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	id := func(i int) string { return fmt.Sprintf("0190a000-0000-7000-8000-%012d", i) }
	var cs []segmentd.Contact
	for i := 9; i >= 0; i-- { // indexes in the reverse of id order
		c := segmentd.Contact{ID: id(i), Email: fmt.Sprintf("u%d@example.com", i), Country: "CA"}
		switch {
		case i < 4:
			c.ListIDs = []string{"la"}
		case i < 6:
			c.ListIDs = []string{"la", "lb"}
		}
		if i%2 == 0 {
			c.Country = "US"
		}
		cs = append(cs, c)
	}
	cs = append(cs, segmentd.Contact{ID: "odd-id", Email: "odd@example.com", Country: "US"}) // not a UUID: sorts after them
	m.PutContacts(1, cs, now)
	for _, s := range []struct{ id, src string }{
		{"s-us", "SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"},
		{"cc:1", "SELECT contact_id, updated_at FROM contact_data WHERE country = 'CA'"},
	} {
		if err := m.Engine.PutSegment(1, s.id, mustCheck(t, m.Engine, 1, query.SQL, s.src), "", now); err != nil {
			t.Fatal(err)
		}
	}

	type row struct {
		id          string
		lists, segs []string
	}
	read := func(sel segmentd.ExportSelection) []row {
		var out []row
		for i := range sel.Len() {
			out = append(out, row{sel.ID(i), sel.Lists(i), sel.Segments(i)})
		}
		return out
	}
	ids := func(rows []row) []string {
		var out []string
		for _, r := range rows {
			out = append(out, r.id)
		}
		return out
	}

	all := m.SelectForExport(1, segmentd.ExportQuery{}, now)
	byList := m.SelectForExport(1, segmentd.ExportQuery{ListIDs: []string{"lb", "nope"}}, now)
	both := m.SelectForExport(1, segmentd.ExportQuery{ListIDs: []string{"lb"}, SegmentIDs: []string{"s-us", "missing"}}, now)
	none := m.SelectForExport(2, segmentd.ExportQuery{}, now)
	named := m.SelectForExport(1, segmentd.ExportQuery{ContactIDs: []string{id(7), id(2), "nobody"}, Exclude: []string{id(2)}}, now)
	excluded := m.SelectForExport(1, segmentd.ExportQuery{ListIDs: []string{"la"}, Exclude: []string{id(0), id(5)}}, now)
	before := read(all)

	// The account moves on: a contact deleted and a new one taking its
	// index, another taken off its lists and out of the segment.
	m.DeleteContacts(1, []string{id(4)}, now)
	m.PutContacts(1, []segmentd.Contact{{ID: id(99), Email: "new@example.com", Country: "US", ListIDs: []string{"lb"}},
		{ID: id(0), Email: "u0@example.com", Country: "CA"}}, now)
	m.DeleteList(1, "la", now)

	got := read(all)
	if len(got) != 11 || !slices.IsSorted(ids(got)[:10]) || got[10].id != "odd-id" || !slices.EqualFunc(got, before, func(a, b row) bool {
		return a.id == b.id && slices.Equal(a.lists, b.lists) && slices.Equal(a.segs, b.segs)
	}) {
		t.Fatalf("every contact changed after the selection:\n%v\nwas\n%v", got, before)
	}
	want := map[string]row{
		id(0): {id(0), []string{"la"}, []string{"s-us"}},
		id(4): {id(4), []string{"la", "lb"}, []string{"s-us"}},
		id(5): {id(5), []string{"la", "lb"}, []string{"cc:1"}},
		id(7): {id(7), nil, []string{"cc:1"}},
	}
	for _, r := range got {
		if w, ok := want[r.id]; ok && (!slices.Equal(r.lists, w.lists) || !slices.Equal(r.segs, w.segs)) {
			t.Errorf("%s: lists %v segments %v, want %v %v", r.id, r.lists, r.segs, w.lists, w.segs)
		}
	}
	if got := ids(read(byList)); !slices.Equal(got, []string{id(4), id(5)}) {
		t.Errorf("by list lb: %v", got)
	}
	if got := ids(read(both)); !slices.Equal(got, []string{id(0), id(2), id(4), id(5), id(6), id(8), "odd-id"}) {
		t.Errorf("by lb and s-us: %v", got)
	}
	if none.Len() != 0 {
		t.Errorf("an unknown account selects %d", none.Len())
	}
	if got := ids(read(named)); !slices.Equal(got, []string{id(7)}) {
		t.Errorf("by contact ids, less one: %v", got)
	}
	if got := ids(read(excluded)); !slices.Equal(got, []string{id(1), id(2), id(3), id(4)}) {
		t.Errorf("by list la, less two: %v", got)
	}
}
