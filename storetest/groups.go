package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// UpsertGroupStore is a store that applies upserts in groups.
type UpsertGroupStore interface {
	segmentd.Store
	segmentd.UpsertGrouper
}

// RunUpsertGroups runs the contract of UpsertContactsGroup: a group
// applies as its upserts would one after the other through
// UpsertContacts, and an upsert of it that fails changes nothing while
// the others apply. open must return a new, empty store.
func RunUpsertGroups(t *testing.T, open func(t *testing.T) UpsertGroupStore) {
	t.Run("AsOneByOne", func(t *testing.T) { testGroupAsOneByOne(t, open(t), open(t)) })
}

// groupStep is one upsert of testGroupAsOneByOne: patches of emails
// e<from> … e<to-1> with a first name (none: identifiers only), on the
// named lists ("gone": a list deleted before the group runs).
type groupStep struct {
	from, to int
	first    string
	lists    []string
}

func (g groupStep) patches() []segmentd.ContactPatch {
	var ps []segmentd.ContactPatch
	for i := g.from; i < g.to; i++ {
		p := segmentd.ContactPatch{Email: str(fmt.Sprintf("e%d@example.com", i))}
		if g.first != "" {
			p.FirstName = str(g.first)
		}
		ps = append(ps, p)
	}
	return ps
}

// groupOutcome is what an upsert reported, without the store's ids.
type groupOutcome struct {
	Created, Updated, Errors, Contacts, Joined int
	Kind                                       segmentd.ErrorKind // of a failed upsert
	// Lists: each contact of the result with its lists' names, so that a
	// contact an upsert changes shows the lists the group's earlier
	// upserts gave it.
	Lists string
}

func testGroupAsOneByOne(t *testing.T, grouped, oneByOne UpsertGroupStore) {
	steps := []groupStep{
		{0, 6, "A", []string{"l1"}},
		{4, 8, "B", []string{"l2"}},  // updates e4, e5; creates e6, e7
		{0, 3, "", []string{"gone"}}, // fails: the list is gone
		{0, 8, "", []string{"l2"}},   // e0 … e3 join l2; e4 … e7 are on it
		{2, 3, "C", []string{"l1"}},  // e2 keeps l2 from the upsert before
	}
	run := func(st UpsertGroupStore, group bool) ([]groupOutcome, map[string]string) {
		t.Helper()
		acct := newAccount(t, st, "acme")
		names := map[string]string{}
		ids := map[string]string{}
		for _, n := range []string{"l1", "l2", "gone"} {
			l := must[segmentd.List](t, "CreateList")(st.CreateList(ctx(t), acct, n, now))
			ids[n], names[l.ID] = l.ID, n
		}
		noErr(t, "DeleteList", errOnly(st.DeleteList(ctx(t), acct, ids["gone"])))
		ups := make([]segmentd.ContactUpsert, len(steps))
		for i, s := range steps {
			ups[i].Patches = s.patches()
			for _, n := range s.lists {
				ups[i].ListIDs = append(ups[i].ListIDs, ids[n])
			}
		}
		res := make([]segmentd.UpsertResult, len(ups))
		errs := make([]error, len(ups))
		if group {
			var err error
			res, errs, err = st.UpsertContactsGroup(ctx(t), acct, ups, now)
			noErr(t, "UpsertContactsGroup", err)
		} else {
			for i, u := range ups {
				res[i], errs[i] = st.UpsertContacts(ctx(t), acct, u.Patches, u.ListIDs, now.Add(time.Duration(i)*time.Millisecond))
			}
		}
		var out []groupOutcome
		for i, r := range res {
			o := groupOutcome{Created: r.Created, Updated: r.Updated, Errors: len(r.Errors), Contacts: len(r.Contacts), Joined: len(r.Joined)}
			for _, c := range r.Contacts {
				var ls []string
				for _, id := range c.ListIDs {
					ls = append(ls, names[id])
				}
				slices.Sort(ls)
				o.Lists += fmt.Sprintf("%s %v; ", c.Email, ls)
			}
			if errs[i] != nil {
				o = groupOutcome{Kind: segmentd.ErrorKindOf(errs[i])}
			}
			out = append(out, o)
		}
		state := map[string]string{}
		for _, c := range snap(t, st, acct).Contacts {
			var ls []string
			for _, id := range c.ListIDs {
				ls = append(ls, names[id])
			}
			slices.Sort(ls)
			state[c.Email] = fmt.Sprintf("%s %v", c.FirstName, ls)
		}
		return out, state
	}
	gotRes, gotState := run(grouped, true)
	wantRes, wantState := run(oneByOne, false)
	if !reflect.DeepEqual(gotRes, wantRes) {
		t.Errorf("grouped results %+v\nwant (one by one)  %+v", gotRes, wantRes)
	}
	if !reflect.DeepEqual(gotState, wantState) {
		t.Errorf("grouped contacts %v\nwant (one by one)  %v", gotState, wantState)
	}
	if want := (groupOutcome{Kind: segmentd.KindNotFound}); gotRes[2] != want {
		t.Errorf("the upsert to a deleted list: %+v, want %+v", gotRes[2], want)
	}
	if want := "e2@example.com [l1 l2]; "; gotRes[4].Lists != want {
		t.Errorf("the last upsert's contact: %q, want %q (l2 from the fourth upsert)", gotRes[4].Lists, want)
	}
	if len(gotState) != 8 || gotState["e2@example.com"] != "C [l1 l2]" {
		t.Errorf("contacts %v: want 8, e2 named C on l1 and l2", gotState)
	}
}
