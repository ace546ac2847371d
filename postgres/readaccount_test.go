package postgres

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/segmentd/segmentd"
)

// TestReadAccountPaged: ReadAccount and ReadAccountLean read the same
// events in pages of any size, in number order, the blocks' and the rows'
// (events without a contact) merged, each page no longer than asked; the
// lean read leaves every event's email and sg_event_id empty. A caller may
// do what it likes with a page once it has returned (segmentd.Store): the
// test overwrites each, which the store reuses, and the pages after it
// still read true (it fails with a page handed over while the store still
// reads its numbers from it).
func TestReadAccountPaged(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := context.Background()
		st, acct, _, now := openWithContacts(t, freshSchema(t, srv), "paged")
		defer st.Close()
		// 40 calls of 30 events: 40 blocks, more than a statement of
		// scanBlocks reads, and one event in 20 with no contact (a row).
		for call := range 40 {
			var evs []segmentd.Event
			for i := range 30 {
				n := call*30 + i
				email := fmt.Sprintf("c%d@example.com", n%50)
				if n%20 == 3 {
					email = "nobody@example.com"
				}
				evs = append(evs, segmentd.Event{Email: email, Type: []string{"open", "click"}[n%2], Timestamp: now,
					URL: fmt.Sprintf("https://x.test/%d", n%3), SGEventID: fmt.Sprintf("p-%d", n)})
			}
			if _, err := st.AddEvents(ctx, acct.ID, evs); err != nil {
				t.Fatal(err)
			}
		}
		noContacts := func([]segmentd.Contact) error { return nil }
		var want []segmentd.Event
		wantChange, wantEvent, err := st.ReadAccount(ctx, acct.ID, noContacts, func(p []segmentd.Event) error {
			want = append(want, p...)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(want) != 1200 || want[0].SGEventID != "p-0" || want[1199].SGEventID != "p-1199" || want[3].ContactID != "" || want[4].ContactID == "" {
			t.Fatalf("ReadAccount gave %d events, first %+v, last %+v", len(want), want[0], want[len(want)-1])
		}
		lean := slices.Clone(want)
		for i := range lean {
			lean[i].Email, lean[i].SGEventID = "", ""
		}
		for _, page := range []int{13, 250, 1200, 5000} {
			for _, isLean := range []bool{false, true} {
				var got []segmentd.Event
				var sizes []int
				change, event, err := st.readAccount(ctx, acct.ID, noContacts, func(p []segmentd.Event) error {
					got = append(got, p...)
					sizes = append(sizes, len(p))
					for i := range p {
						p[i] = segmentd.Event{Email: "x", SGEventID: "x", Type: "x"}
					}
					return nil
				}, isLean, page)
				if err != nil {
					t.Fatal(err)
				}
				expect := want
				if isLean {
					expect = lean
				}
				if !reflect.DeepEqual(got, expect) || change != wantChange || event != wantEvent {
					t.Fatalf("pages of %d (lean %v): %d events, marks %d, %d; want ReadAccount's %d, marks %d, %d", page, isLean, len(got), change, event, len(expect), wantChange, wantEvent)
				}
				for i, n := range sizes {
					if n > page || n < page && i < len(sizes)-1 {
						t.Fatalf("pages of %d: sizes %v", page, sizes)
					}
				}
			}
		}
		if _, _, err := st.ReadAccountLean(ctx, acct.ID, noContacts, func(p []segmentd.Event) error {
			if len(p) != 1200 || !reflect.DeepEqual(p, lean) {
				t.Fatalf("ReadAccountLean gave %d events, want ReadAccount's, lean", len(p))
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestReadAheadReuse: readAhead hands read back only pages that use has
// returned from, emptied, and never one use holds; every page reaches use
// in order.
func TestReadAheadReuse(t *testing.T) {
	var mu sync.Mutex
	held := map[*int]bool{} // the first element of each page use holds
	n := 0
	var used []int
	err := readAhead(context.Background(), func(_ context.Context, reuse []int) ([]int, bool, error) {
		if reuse != nil {
			mu.Lock()
			bad := len(reuse) != 0 || held[&reuse[:1][0]]
			mu.Unlock()
			if bad {
				return nil, false, fmt.Errorf("reuse %v, held by use", reuse)
			}
		}
		page := append(reuse, n, n+1, n+2)
		n += 3
		return page, n >= 300, nil
	}, func(p []int) error {
		mu.Lock()
		held[&p[0]] = true
		mu.Unlock()
		used = append(used, p...)
		mu.Lock()
		delete(held, &p[0])
		mu.Unlock()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range used {
		if v != i {
			t.Fatalf("use was given %v…, want 0, 1, 2, … in order", used[:min(len(used), 12)])
		}
	}
	if len(used) != 300 {
		t.Fatalf("use was given %d values, want 300", len(used))
	}
}
