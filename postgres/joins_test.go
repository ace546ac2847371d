package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// joinsFixture is an account of stored contacts, with lists to put them
// on, held by two stores on one schema (two servers).
type joinsFixture struct {
	t        *testing.T
	ctx      context.Context
	a, b     *Store
	acct     int64
	ids      []string // the stored contacts, in email order
	emails   []string
	t0       time.Time
	nextList int
}

const joinsContacts = 20

func newJoinsFixture(t *testing.T, srv server) *joinsFixture {
	t.Helper()
	ctx := context.Background()
	sts := twoServers(t, srv)
	f := &joinsFixture{t: t, ctx: ctx, a: sts[0], b: sts[1], t0: time.Now().UTC().Truncate(time.Millisecond)}
	acct, err := f.a.CreateAccount(ctx, "joins", 0, f.t0)
	if err != nil {
		t.Fatal(err)
	}
	f.acct = acct.ID
	first := f.list()
	name := "Ann"
	var ps []segmentd.ContactPatch
	for i := range joinsContacts {
		e := fmt.Sprintf("j%02d@example.com", i)
		f.emails = append(f.emails, e)
		ps = append(ps, segmentd.ContactPatch{Email: &e, FirstName: &name})
	}
	res, err := f.a.UpsertContacts(ctx, f.acct, ps, []string{first}, f.t0)
	if err != nil || len(res.Errors) > 0 || res.Created != joinsContacts {
		t.Fatalf("creating the contacts: %v %+v", err, res.Errors)
	}
	for _, c := range res.Contacts {
		f.ids = append(f.ids, c.ID)
	}
	return f
}

// list creates a list.
func (f *joinsFixture) list() string {
	f.t.Helper()
	f.nextList++
	l, err := f.a.CreateList(f.ctx, f.acct, fmt.Sprintf("list %d", f.nextList), f.t0)
	if err != nil {
		f.t.Fatal(err)
	}
	return l.ID
}

// join puts the contacts of emails on list through st, by email alone (a
// membership-only patch each), at time at.
func (f *joinsFixture) join(st *Store, list string, at time.Time, emails ...string) segmentd.UpsertResult {
	f.t.Helper()
	ps := make([]segmentd.ContactPatch, len(emails))
	for i := range emails {
		ps[i] = segmentd.ContactPatch{Email: &emails[i]}
	}
	res, err := st.UpsertContacts(f.ctx, f.acct, ps, []string{list}, at)
	if err != nil || len(res.Errors) > 0 {
		f.t.Fatalf("joining %d contacts to %s: %v %+v", len(emails), list, err, res.Errors)
	}
	return res
}

// members returns list's members with the time each was added.
func (f *joinsFixture) members(list string) map[string]int64 {
	f.t.Helper()
	rows, err := f.a.pool.Query(f.ctx, "SELECT contact_id, added_at FROM list_members WHERE account_id = $1 AND list_id = $2", f.acct, list)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	out := make(map[string]int64)
	for rows.Next() {
		var id string
		var at int64
		if err := rows.Scan(&id, &at); err != nil {
			f.t.Fatal(err)
		}
		out[id] = at
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	return out
}

// joinedAt returns the contacts membership_changes says joined a list
// under change number seq (nil: no row).
func (f *joinsFixture) joinedAt(seq int64) []string {
	f.t.Helper()
	rows, err := f.a.pool.Query(f.ctx, "SELECT contact_ids FROM membership_changes WHERE account_id = $1 AND change_seq = $2", f.acct, seq)
	if err != nil {
		f.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var ids []string
		if err := rows.Scan(&ids); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, ids...)
	}
	if err := rows.Err(); err != nil {
		f.t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// sorted returns a sorted copy of ids.
func sorted(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// Stored contacts joining a list none of them is on: their memberships
// are written unprobed, and the upsert's result and history are those
// of the probing path.
func TestUpsertJoinsAssumed(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		f := newJoinsFixture(t, srv)
		l := f.list()
		at := f.t0.Add(time.Minute)
		// An email given twice joins once.
		res := f.join(f.a, l, at, append(slices.Clone(f.emails), f.emails[3])...)
		if got := f.a.joinsAssumed.Load(); got != 1 {
			t.Fatalf("upserts that assumed their memberships new: %d, want 1", got)
		}
		if got := f.a.joinConflicts.Load(); got != 0 {
			t.Fatalf("conflicts: %d, want 0", got)
		}
		want := sorted(f.ids)
		if !slices.Equal(res.Joined, want) || len(res.Contacts) != 0 || res.Updated != joinsContacts+1 {
			t.Fatalf("result %+v, want every contact joined", res)
		}
		if got := f.joinedAt(res.Change); !slices.Equal(got, want) {
			t.Fatalf("membership_changes at %d: %v, want %v", res.Change, got, want)
		}
		m := f.members(l)
		if len(m) != joinsContacts {
			t.Fatalf("%d members, want %d", len(m), joinsContacts)
		}
		for id, added := range m {
			if added != toMS(at) {
				t.Fatalf("contact %s added at %d, want %d", id, added, toMS(at))
			}
		}
	})
}

// A membership another server added between two upserts of this one:
// the upsert that assumed its memberships new meets it as a unique
// violation, rolls back whole and runs again with the probes, and its
// result is the probing path's: the existing membership keeps the time
// it was added, the history names only the contacts that joined, the new
// contact of the batch is created once, under the number the failed
// attempt took.
func TestUpsertJoinsHeld(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		f := newJoinsFixture(t, srv)
		l := f.list()
		early, late := f.t0.Add(time.Minute), f.t0.Add(2*time.Minute)
		held := f.join(f.b, l, early, f.emails[7]) // the other server
		if f.a.joinConflicts.Load() != 0 || f.a.joinsAssumed.Load() != 0 {
			t.Fatal("the other server's upsert counted on this one")
		}
		newEmail, name := "new@example.com", "Bea"
		ps := []segmentd.ContactPatch{{Email: &newEmail, FirstName: &name}}
		for i := range f.emails {
			ps = append(ps, segmentd.ContactPatch{Email: &f.emails[i]})
		}
		res, err := f.a.UpsertContacts(f.ctx, f.acct, ps, []string{l}, late)
		if err != nil || len(res.Errors) > 0 {
			t.Fatalf("upsert: %v %+v", err, res.Errors)
		}
		if got := f.a.joinConflicts.Load(); got != 1 {
			t.Fatalf("conflicts: %d, want 1", got)
		}
		if got := f.a.joinsAssumed.Load(); got != 0 {
			t.Fatalf("upserts committed unprobed: %d, want 0", got)
		}
		if res.Change != held.Change+1 {
			t.Fatalf("change number %d, want %d: the failed attempt's number is taken again", res.Change, held.Change+1)
		}
		if res.Created != 1 || len(res.Contacts) != 1 || res.Contacts[0].Email != newEmail {
			t.Fatalf("created %d: %+v", res.Created, res.Contacts)
		}
		newID := res.Contacts[0].ID
		if !slices.Equal(res.Joined, sorted(f.ids)) {
			t.Fatalf("joined %v, want every stored contact", res.Joined)
		}
		var n int
		if err := f.a.pool.QueryRow(f.ctx, "SELECT count(*) FROM contacts WHERE account_id = $1 AND email = $2", f.acct, newEmail).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d contacts of %s, %v", n, newEmail, err)
		}
		var joiners []string
		for _, id := range f.ids {
			if id != f.ids[7] {
				joiners = append(joiners, id)
			}
		}
		joiners = sorted(joiners)
		if got := f.joinedAt(res.Change); !slices.Equal(got, joiners) {
			t.Fatalf("membership_changes at %d: %v, want the %d contacts that joined", res.Change, got, len(joiners))
		}
		m := f.members(l)
		if len(m) != joinsContacts+1 {
			t.Fatalf("%d members, want %d", len(m), joinsContacts+1)
		}
		for id, added := range m {
			want := toMS(late)
			if id == f.ids[7] {
				want = toMS(early)
			}
			if added != want {
				t.Fatalf("contact %s added at %d, want %d", id, added, want)
			}
		}
		if _, ok := m[newID]; !ok {
			t.Fatal("the new contact is not on the list")
		}
	})
}

// Contacts re-sent onto a list they are on, again and again (a daily
// re-sync): the first upsert meets a unique violation, the next ones
// probe; once quietJoins upserts in a row found none of their
// memberships held, the next assumes them new again.
func TestUpsertJoinsResync(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		f := newJoinsFixture(t, srv)
		l := f.list()
		at := f.t0.Add(time.Minute)
		f.join(f.a, l, at, f.emails...)
		if f.a.joinsAssumed.Load() != 1 || f.a.joinConflicts.Load() != 0 {
			t.Fatalf("first join: %d assumed, %d conflicts", f.a.joinsAssumed.Load(), f.a.joinConflicts.Load())
		}
		for i := range 2 * quietJoins {
			res := f.join(f.a, l, at.Add(time.Duration(i+1)*time.Minute), f.emails...)
			if got := f.a.joinConflicts.Load(); got != 1 {
				t.Fatalf("re-sync %d: %d conflicts, want 1 (the first)", i, got)
			}
			if !slices.Equal(res.Joined, sorted(f.ids)) {
				t.Fatalf("re-sync %d: joined %v", i, res.Joined)
			}
			if got := f.joinedAt(res.Change); got != nil {
				t.Fatalf("re-sync %d: membership_changes names %v", i, got)
			}
		}
		for id, added := range f.members(l) {
			if added != toMS(at) {
				t.Fatalf("contact %s added at %d, want %d", id, added, toMS(at))
			}
		}
		if f.a.joinsAssumed.Load() != 1 {
			t.Fatalf("re-syncs committed unprobed: %d", f.a.joinsAssumed.Load()-1)
		}
		// New lists: probed quietJoins times, then assumed new again.
		for i := range quietJoins + 1 {
			f.join(f.a, f.list(), at, f.emails...)
			want := int64(1)
			if i == quietJoins {
				want = 2
			}
			if got := f.a.joinsAssumed.Load(); got != want {
				t.Fatalf("new list %d: %d upserts unprobed, want %d", i, got, want)
			}
		}
		if got := f.a.joinConflicts.Load(); got != 1 {
			t.Fatalf("conflicts: %d, want 1", got)
		}
	})
}
