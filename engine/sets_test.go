package engine

import (
	"reflect"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/query"
)

// TestSetsOfMany: each contact's lists and segments as ContactsByIDs
// renders them, Held false for an unknown or deleted contact and for
// every contact of an account the engine does not hold; lists follow
// AddToLists and RemoveList.
func TestSetsOfMany(t *testing.T) {
	e := New()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := e.SetsOfMany(1, []string{"a"}, now); len(got) != 1 || got[0].Held {
		t.Fatalf("unknown account: %+v", got)
	}
	e.PutContacts(1, []segmentd.Contact{
		{ID: "a", Email: "a@example.com", ListIDs: []string{"l2", "l1"}},
		{ID: "b", Email: "b@example.com", ListIDs: []string{"l2"}},
		{ID: "c", Email: "c@example.com"},
		{ID: "d", Email: "d@example.com", ListIDs: []string{"l1"}},
	}, now)
	ch, err := e.Check(1, query.SGQL, "email LIKE 'a%' OR email LIKE 'c%'")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.PutSegment(1, "s1", ch, "", now); err != nil {
		t.Fatal(err)
	}
	e.DeleteContacts(1, []string{"d"}, now)
	ids := []string{"c", "a", "unknown", "b", "d"}
	want := []segmentd.ContactSets{
		{Held: true, SegmentIDs: []string{"s1"}},
		{Held: true, ListIDs: []string{"l1", "l2"}, SegmentIDs: []string{"s1"}},
		{},
		{Held: true, ListIDs: []string{"l2"}},
		{},
	}
	if got := e.SetsOfMany(1, ids, now); !reflect.DeepEqual(got, want) {
		t.Fatalf("SetsOfMany = %+v\nwant %+v", got, want)
	}
	for i, c := range e.ContactsByIDs(1, []string{"c", "a", "b"}, now) {
		w := want[[]int{0, 1, 3}[i]]
		if !reflect.DeepEqual(c.ListIDs, w.ListIDs) || !reflect.DeepEqual(c.SegmentIDs, w.SegmentIDs) {
			t.Fatalf("ContactsByIDs' %s: lists %v segments %v, SetsOfMany's %+v", c.ID, c.ListIDs, c.SegmentIDs, w)
		}
	}
	e.AddToLists(1, []string{"c"}, []string{"l3"}, now)
	e.RemoveList(1, "l2", now)
	want[0].ListIDs = []string{"l3"}
	want[1].ListIDs = []string{"l1"}
	want[3].ListIDs = nil
	if got := e.SetsOfMany(1, ids, now); !reflect.DeepEqual(got, want) {
		t.Fatalf("after AddToLists and RemoveList: SetsOfMany = %+v\nwant %+v", got, want)
	}
}
