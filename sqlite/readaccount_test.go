package sqlite

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// TestReadAccountPagesReused: ReadAccount reuses its pages of events from
// one callback to the next (segmentd.Store allows it); the events kept
// from each page, over more than two pages of contacts' events and then
// unmatched ones (a page of blocks alone, then one of blocks and rows, once
// the contacts' events are packed), are those ScanEvents gives page by
// page in fresh slices.
func TestReadAccountPagesReused(t *testing.T) {
	s, acct := openAccount(t)
	ctx := t.Context()
	str := func(v string) *string { return &v }
	var patches []segmentd.ContactPatch
	for i := range 100 {
		patches = append(patches, segmentd.ContactPatch{Email: str(fmt.Sprintf("r%03d@example.com", i))})
	}
	if _, err := s.UpsertContacts(ctx, acct, patches, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	total := 2*readEventsPage + 1234
	types := []string{"open", "click", "delivered"}
	for from := 0; from < total; from += 5000 {
		evs := make([]segmentd.Event, min(5000, total-from))
		for j := range evs {
			i := from + j
			email := fmt.Sprintf("r%03d@example.com", i%100)
			if i >= 2*readEventsPage+500 {
				email = "nobody@example.com" // no contact: stored as rows after the blocks
			}
			evs[j] = segmentd.Event{Email: email, Type: types[i%3], Timestamp: time.UnixMilli(int64(1_000_000 + i)).UTC(),
				SGEventID: "e" + strconv.Itoa(i), SinglesendID: "ss-" + strconv.Itoa(i%7), URL: "https://x.test/" + strconv.Itoa(i%13)}
		}
		if res, err := s.AddEvents(ctx, acct, evs); err != nil || res.Added != len(evs) {
			t.Fatalf("AddEvents: %+v, %v", res.Added, err)
		}
	}
	var got []segmentd.Event
	pages := 0
	_, through, err := s.ReadAccount(ctx, acct, func([]segmentd.Contact) error { return nil }, func(evs []segmentd.Event) error {
		pages++
		got = append(got, evs...) // the values, not the slice
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if pages < 3 || len(got) != total {
		t.Fatalf("ReadAccount gave %d events in %d pages, want %d in at least 3", len(got), pages, total)
	}
	var want []segmentd.Event
	for after := int64(0); ; {
		evs, last, err := s.ScanEvents(ctx, acct, after, readEventsPage)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, evs...)
		if len(evs) < readEventsPage {
			break
		}
		after = last
	}
	if len(want) != total || through != int64(total) {
		t.Fatalf("ScanEvents gave %d events; ReadAccount's last sequence number %d; want %d", len(want), through, total)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("event %d: ReadAccount gave %+v, ScanEvents %+v", i, got[i], want[i])
		}
	}
}

// TestReadAccountContactPagesReused: ReadAccount reads every page of
// contacts into one array (segmentd.Store allows it), and the contacts
// kept from each page are those ScanContacts gives in fresh slices, lists
// included.
func TestReadAccountContactPagesReused(t *testing.T) {
	s, acct := openAccount(t)
	ctx := t.Context()
	list, err := s.CreateList(ctx, acct, "l", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const n = 2*readContactsPage + 345
	patches := make([]segmentd.ContactPatch, n)
	for i := range patches {
		email, first := fmt.Sprintf("p%05d@example.com", i), "F"+strconv.Itoa(i%7)
		patches[i] = segmentd.ContactPatch{Email: &email, FirstName: &first}
	}
	if _, err := s.UpsertContacts(ctx, acct, patches[:n/2], []string{list.ID}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpsertContacts(ctx, acct, patches[n/2:], nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	var got []segmentd.Contact
	var arrays []*segmentd.Contact
	if _, _, err := s.ReadAccount(ctx, acct, func(cs []segmentd.Contact) error {
		arrays = append(arrays, &cs[0])
		got = append(got, cs...) // the values, not the slice
		return nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	want, err := s.ScanContacts(ctx, acct, "", n+1)
	if err != nil {
		t.Fatal(err)
	}
	if len(arrays) != 3 || arrays[1] != arrays[0] || arrays[2] != arrays[0] || len(got) != n || len(want) != n {
		t.Fatalf("ReadAccount gave %d contacts in %d pages (arrays %v), ScanContacts %d; want %d in 3 pages of one array", len(got), len(arrays), arrays, len(want), n)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("contact %d: ReadAccount gave %+v, ScanContacts %+v", i, got[i], want[i])
		}
	}
}

// TestJoinedPageIDs: a list's joined contact ids are found in the page
// in any order, those of contacts not in the page skipped.
func TestJoinedPageIDs(t *testing.T) {
	cs := []segmentd.Contact{{ID: "b"}, {ID: "d"}, {ID: "f"}, {ID: "h"}}
	for _, tt := range []struct {
		joined string
		want   []int
	}{
		{"", nil},
		{"b\x00d\x00h", []int{0, 1, 3}},
		{"a\x00c\x00f\x00z", []int{2}},
		{"f\x00b\x00h\x00d", []int{2, 0, 3, 1}}, // out of order
	} {
		var got []int
		joinedPageIDs(cs, []byte(tt.joined), func(i int) { got = append(got, i) })
		if !slices.Equal(got, tt.want) {
			t.Errorf("joinedPageIDs(%q) found %v, want %v", tt.joined, got, tt.want)
		}
	}
}
