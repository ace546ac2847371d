package audience_test

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/internal/facetest"
	"github.com/segmentd/segmentd/sqlite"
)

// readsSetup makes lists l1 and l2 through svc, puts ada on l1 with a
// job, then writes to the store behind the Service's back, as another
// server would (or as a job's store stage does before its engine stage):
// ada joins l2 and bob is created on l2. It returns the lists and the
// two contacts' ids.
func readsSetup(t *testing.T, svc *audience.Service, st *sqlite.Store, acct int64) (l1, l2, ada, bob string) {
	t.Helper()
	ctx := t.Context()
	var lists [2]string
	for i := range lists {
		l, err := svc.CreateList(ctx, acct, []string{"l1", "l2"}[i])
		if err != nil {
			t.Fatal(err)
		}
		lists[i] = l.ID
	}
	adaEmail, bobEmail := "ada@example.com", "bob@example.com"
	id, err := svc.UpsertContacts(ctx, acct, []segmentd.ContactPatch{{Email: &adaEmail}}, lists[:1])
	if err != nil {
		t.Fatal(err)
	}
	facetest.WaitJob(t, svc, acct, id)
	now := time.Now()
	if _, err := st.UpsertContacts(ctx, acct, []segmentd.ContactPatch{{Email: &adaEmail}}, lists[1:], now); err != nil {
		t.Fatal(err)
	}
	res, err := st.UpsertContacts(ctx, acct, []segmentd.ContactPatch{{Email: &bobEmail}}, lists[1:], now)
	if err != nil {
		t.Fatal(err)
	}
	_, found, err := svc.ContactsByEmails(ctx, acct, []string{adaEmail})
	if err != nil {
		t.Fatal(err)
	}
	return lists[0], lists[1], found[adaEmail].ID, res.Contacts[0].ID
}

// readLists reads ada and bob through each of the Service's reads by
// contact and fails unless every read gives each the lists want says.
func readLists(t *testing.T, svc *audience.Service, acct int64, want map[string][]string) {
	t.Helper()
	ctx := t.Context()
	check := func(what string, cs ...segmentd.Contact) {
		t.Helper()
		for _, c := range cs {
			if w, ok := want[c.ID]; ok && !slices.Equal(c.ListIDs, w) {
				t.Fatalf("%s: contact %s (%s) on lists %v, want %v", what, c.ID, c.Email, c.ListIDs, w)
			}
		}
	}
	for id := range want {
		c, err := svc.Contact(ctx, acct, id)
		if err != nil {
			t.Fatal(err)
		}
		check("Contact", c)
	}
	ids := []string{}
	for id := range want {
		ids = append(ids, id)
	}
	cs, err := svc.ContactsByIDs(ctx, acct, ids)
	if err != nil || len(cs) != len(ids) {
		t.Fatalf("ContactsByIDs: %d, %v", len(cs), err)
	}
	check("ContactsByIDs", cs...)
	_, found, err := svc.ContactsByEmails(ctx, acct, []string{"ada@example.com", "bob@example.com"})
	if err != nil || len(found) != 2 {
		t.Fatalf("ContactsByEmails: %d, %v", len(found), err)
	}
	check("ContactsByEmails", found["ada@example.com"], found["bob@example.com"])
	byIdent, err := svc.ContactsByIdentifier(ctx, acct, segmentd.IdentifierEmail, []string{"ada@example.com", "bob@example.com"})
	if err != nil || len(byIdent) != 2 {
		t.Fatalf("ContactsByIdentifier: %d, %v", len(byIdent), err)
	}
	check("ContactsByIdentifier", byIdent["ada@example.com"], byIdent["bob@example.com"])
	sample, _, err := svc.SampleContacts(ctx, acct)
	if err != nil || len(sample) != 2 {
		t.Fatalf("SampleContacts: %d, %v", len(sample), err)
	}
	check("SampleContacts", sample...)
}

// listSample returns the ids of a list's sample through the Service, which
// is the engine's alone (docs/decisions.md §19), whatever the store holds.
func listSample(t *testing.T, svc *audience.Service, acct int64, list string) []string {
	t.Helper()
	_, cs, err := svc.List(t.Context(), acct, list, true)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range cs {
		if !slices.Contains(c.ListIDs, list) {
			t.Fatalf("sample contact %s on lists %v, not on %s", c.ID, c.ListIDs, list)
		}
		ids = append(ids, c.ID)
	}
	return ids
}

// TestReadsListsFromEngine: with an engine of its own the Service takes
// a read contact's lists from the engine, not the store: ada, whom a
// store write the engine has not seen put on l2, reads on l1 alone. Bob,
// whom the engine does not hold at all (created by that write), reads
// with the store's lists rather than none. A list's sample is the
// engine's: l2's is empty. Once the engine has seen the writes (here, the
// account rebuilt from the store) both read as the store holds them, and
// l2's sample is bob, the newer, then ada.
func TestReadsListsFromEngine(t *testing.T) {
	w := newWorld(t, 1)
	l1, l2, ada, bob := readsSetup(t, w.svc, w.store, w.acct)
	readLists(t, w.svc, w.acct, map[string][]string{ada: {l1}, bob: {l2}})
	if got := listSample(t, w.svc, w.acct, l2); len(got) != 0 {
		t.Fatalf("l2's sample before the engine saw the writes = %v, want none", got)
	}

	cs, err := w.store.ContactsByIDs(w.ctx, w.acct, []string{ada, bob})
	if err != nil {
		t.Fatal(err)
	}
	w.members.PutContacts(w.acct, cs, w.clock.Now())
	both := []string{l1, l2}
	slices.Sort(both)
	readLists(t, w.svc, w.acct, map[string][]string{ada: both, bob: {l2}})
	if got := listSample(t, w.svc, w.acct, l2); !slices.Equal(got, []string{bob, ada}) {
		t.Fatalf("l2's sample = %v, want bob then ada %v", got, []string{bob, ada})
	}
}

// TestReadsListsSharedStore: on a store other servers share, the engine
// follows their writes late (here never: polling every hour, no
// notifier), so a read contact's lists are the store's: ada reads on
// both lists at once. A list's sample stays the engine's, as counts do
// (docs/decisions.md §19, "Consistency"): l2's is empty until the
// follower catches up.
func TestReadsListsSharedStore(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	svc := audience.New(st, segmentd.SystemClock{}, slog.New(slog.NewTextHandler(io.Discard, nil)), audience.Config{
		Segments: st, Membership: engine.NewMembership(), Shared: true, FollowInterval: time.Hour, Jobs: st})
	t.Cleanup(func() { svc.Close(); st.Close() })
	if err := svc.LoadMembership(ctx); err != nil {
		t.Fatal(err)
	}
	acct, err := svc.EnsureDefaultAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	l1, l2, ada, bob := readsSetup(t, svc, st, acct.ID)
	both := []string{l1, l2}
	slices.Sort(both)
	readLists(t, svc, acct.ID, map[string][]string{ada: both, bob: {l2}})
	if got := listSample(t, svc, acct.ID, l2); len(got) != 0 {
		t.Fatalf("l2's sample before the follower caught up = %v, want none", got)
	}
}
