package sqlite

import (
	"fmt"
	"slices"
	"testing"

	"github.com/segmentd/segmentd"
)

// TestFillLists reads contacts' lists from list_members (keyed by list
// first) both ways fillLists has: one range per list for a dense set of
// contacts, seeks for a sparse one (its range abandoned once it gave more
// rows than the seeks would visit) and for a few. Each way gives every
// contact its stored lists, sorted, with the lists the caller set kept.
func TestFillLists(t *testing.T) {
	s, a, lists := accountWithLists(t, 3)
	ctx := t.Context()
	// Contact i is on list k when i%(k+2) == 0; list 0 holds them all.
	const n = 300
	emails := make([]string, n)
	patches := make([]segmentd.ContactPatch, n)
	for i := range patches {
		emails[i] = fmt.Sprintf("c%03d@example.com", i)
		patches[i] = segmentd.ContactPatch{Email: &emails[i]}
	}
	if _, err := s.UpsertContacts(ctx, a.ID, patches, lists[:1], testNow); err != nil {
		t.Fatal(err)
	}
	for k := 1; k < 3; k++ {
		var some []segmentd.ContactPatch
		for i := range patches {
			if i%(k+2) == 0 {
				some = append(some, patches[i])
			}
		}
		if _, err := s.UpsertContacts(ctx, a.ID, some, lists[k:k+1], testNow); err != nil {
			t.Fatal(err)
		}
	}
	cs, err := s.ContactsByEmails(ctx, a.ID, emails)
	if err != nil || len(cs) != n {
		t.Fatalf("ContactsByEmails: %d, %v", len(cs), err)
	}
	want := map[string][]string{}
	byEmail := map[string]int{}
	for i, e := range emails {
		byEmail[e] = i
	}
	var ids []string
	for _, c := range cs {
		i := byEmail[c.Email]
		w := []string{lists[0]}
		for k := 1; k < 3; k++ {
			if i%(k+2) == 0 {
				w = append(w, lists[k])
			}
		}
		slices.Sort(w)
		want[c.ID] = w
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	extra := "00000000-0000-4000-8000-000000000000" // a list the caller set, not stored
	for _, tc := range []struct {
		name  string
		ids   []string
		dense bool
	}{
		{"few", ids[10:20], false},
		{"dense", ids[100:200], true},
		{"sparse", append(append(slices.Clone(ids[:16]), ids[150]), ids[n-16:]...), false},
	} {
		idx := map[string]*segmentd.Contact{}
		for _, id := range tc.ids {
			idx[id] = &segmentd.Contact{ID: id, ListIDs: []string{extra, lists[0]}}
		}
		if len(tc.ids) > seekListsAlone {
			lbn, err := listsByNum(ctx, s.read, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			probe := map[string]*segmentd.Contact{}
			for _, id := range tc.ids {
				probe[id] = &segmentd.Contact{ID: id}
			}
			if dense, err := listRange(ctx, s.read, a.ID, tc.ids, probe, lbn); err != nil || dense != tc.dense {
				t.Errorf("%s: listRange read it all: %v, %v; want %v", tc.name, dense, err, tc.dense)
			}
		}
		if err := fillLists(ctx, s.read, a.ID, idx); err != nil {
			t.Fatal(err)
		}
		for id, c := range idx {
			w := append([]string{extra}, want[id]...)
			slices.Sort(w)
			if !slices.Equal(c.ListIDs, w) {
				t.Errorf("%s: contact %s on %v, want %v", tc.name, id, c.ListIDs, w)
			}
		}
	}
}

// TestUpsertListsAdded: an upsert changing at most seekListsAlone stored
// contacts reads their lists (UpsertResult.ListsAdded false, Contacts in
// full, what a one-contact answer needs); one changing more leaves them
// unread and says so, Contacts carrying only the request's lists.
func TestUpsertListsAdded(t *testing.T) {
	s, a, lists := accountWithLists(t, 2)
	ctx := t.Context()
	const n = seekListsAlone + 1
	patches := make([]segmentd.ContactPatch, n)
	for i := range patches {
		email := fmt.Sprintf("c%03d@example.com", i)
		patches[i] = segmentd.ContactPatch{Email: &email}
	}
	if _, err := s.UpsertContacts(ctx, a.ID, patches, lists[:1], testNow); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		contacts  int
		wantAdded bool
	}{{1, false}, {seekListsAlone, false}, {n, true}} {
		changed := make([]segmentd.ContactPatch, tc.contacts)
		for i := range changed {
			changed[i] = segmentd.ContactPatch{Email: patches[i].Email, FirstName: new(fmt.Sprintf("F%d-%d", tc.contacts, i))}
		}
		res, err := s.UpsertContacts(ctx, a.ID, changed, lists[1:], testNow)
		if err != nil {
			t.Fatal(err)
		}
		want := slices.Sorted(slices.Values(lists))
		if tc.wantAdded {
			want = lists[1:]
		}
		if res.ListsAdded != tc.wantAdded || len(res.Contacts) != tc.contacts {
			t.Fatalf("upsert changing %d stored contacts: ListsAdded %v, %d contacts; want %v, %d", tc.contacts, res.ListsAdded, len(res.Contacts), tc.wantAdded, tc.contacts)
		}
		for _, c := range res.Contacts {
			if !slices.Equal(c.ListIDs, want) {
				t.Fatalf("upsert changing %d stored contacts: %s's lists %v, want %v", tc.contacts, c.Email, c.ListIDs, want)
			}
		}
	}
}

// accountWithLists opens a store with one account and n lists of it.
func accountWithLists(t *testing.T, n int) (*Store, segmentd.Account, []string) {
	t.Helper()
	s := openTemp(t)
	a, err := s.CreateAccount(t.Context(), "acme", 0, testNow)
	if err != nil {
		t.Fatal(err)
	}
	lists := make([]string, n)
	for i := range lists {
		l, err := s.CreateList(t.Context(), a.ID, fmt.Sprintf("L%d", i), testNow)
		if err != nil {
			t.Fatal(err)
		}
		lists[i] = l.ID
	}
	return s, a, lists
}
