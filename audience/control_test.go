package audience_test

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/sqlite"
)

// controlServer is a Service as cmd/segmentd wires one on SQLite, with an
// engine snapshot file, and its engine.
type controlServer struct {
	svc *audience.Service
	m   engine.Membership
}

func startControl(t *testing.T, st *sqlite.Store, clock segmentd.Clock, snap string) controlServer {
	t.Helper()
	m := engine.NewMembership()
	svc := audience.New(st, clock, slog.New(slog.DiscardHandler), audience.Config{
		Segments: st, CCSegments: st, Events: st, WebhookKeys: st, Membership: m, SnapshotPath: snap,
	})
	t.Cleanup(svc.Close)
	if err := svc.LoadMembership(context.Background()); err != nil {
		t.Fatal(err)
	}
	return controlServer{svc, m}
}

const openedQuery = "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open'"

// fillAccount gives an account a field, a segment of each vendor,
// contacts and events (n of each); it returns the SendGrid segment.
func fillAccount(t *testing.T, svc *audience.Service, acct int64, n int, clock segmentd.Clock) string {
	t.Helper()
	ctx := context.Background()
	if _, err := svc.CreateField(ctx, acct, fmt.Sprint("plan", n), segmentd.FieldText); err != nil {
		t.Fatal(err)
	}
	seg, err := svc.CreateSegment(ctx, acct, fmt.Sprint("opened", n), openedQuery, "2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateCCSegment(ctx, acct, fmt.Sprint("cc", n), snapshotCriteria); err != nil {
		t.Fatal(err)
	}
	var ps []segmentd.ContactPatch
	var evs []segmentd.Event
	for i := range n {
		email := fmt.Sprintf("c%d-%d@example.com", n, i)
		ps = append(ps, segmentd.ContactPatch{Email: &email})
		evs = append(evs, segmentd.Event{Email: email, Type: "open", Timestamp: clock.Now(), SGEventID: email, MarketingCampaignID: "mc"})
	}
	job, err := svc.UpsertContacts(ctx, acct, ps, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitJob(t, svc, acct, job)
	if _, err := svc.AddEvents(ctx, acct, evs); err != nil {
		t.Fatal(err)
	}
	return seg.ID
}

func waitJob(t *testing.T, svc *audience.Service, acct int64, id string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		j, err := svc.Job(context.Background(), acct, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status == segmentd.JobCompleted {
			return
		}
		if j.Status != segmentd.JobPending || time.Now().After(deadline) {
			t.Fatalf("job %s: %+v", id, j)
		}
		time.Sleep(time.Millisecond)
	}
}

func segmentCount(t *testing.T, svc *audience.Service, acct int64, id string) int {
	t.Helper()
	v, err := svc.Segment(context.Background(), acct, id, false)
	if err != nil {
		t.Fatal(err)
	}
	return v.ContactsCount
}

// TestResetAccount: a reset runs after the account's writes acknowledged
// before it (their job rows go with the rest), empties the store and the
// engine of the account, keeps its keys and other accounts; the account
// takes new data; an engine snapshot taken before the reset is replayed
// across it, event numbers starting again included.
func TestResetAccount(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := segmentd.NewDevClock()
	clock.Set(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	snap := filepath.Join(dir, "engine.snap")
	s := startControl(t, st, clock, snap)
	a, secret, _, err := s.svc.CreateAccountWithKey(ctx, "t1", "")
	if err != nil {
		t.Fatal(err)
	}
	other, _, _, err := s.svc.CreateAccountWithKey(ctx, "t2", "")
	if err != nil {
		t.Fatal(err)
	}
	fillAccount(t, s.svc, a.ID, 3, clock)
	keepSeg := fillAccount(t, s.svc, other.ID, 2, clock)
	if _, wrote, err := s.svc.WriteSnapshot(ctx); err != nil || !wrote {
		t.Fatalf("WriteSnapshot: %v, %v", wrote, err)
	}

	// Jobs queued and not waited for: the reset comes after them.
	var jobs []string
	for i := range 5 {
		job, err := s.svc.UpsertContacts(ctx, a.ID, []segmentd.ContactPatch{{Email: ptr(fmt.Sprintf("late%d@example.com", i))}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job)
	}
	if _, err := s.svc.ResetAccount(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	for _, job := range jobs {
		if _, err := s.svc.Job(ctx, a.ID, job); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
			t.Fatalf("job %s from before the reset: %v, want not found", job, err)
		}
	}
	if n, err := s.svc.CountContacts(ctx, a.ID); err != nil || n != 0 {
		t.Fatalf("contacts after the reset: %d, %v", n, err)
	}
	if st := s.m.Stats(a.ID); st.Contacts != 0 || st.Events != 0 || len(st.Segments) != 0 {
		t.Fatalf("the engine holds %+v of the reset account", st)
	}
	if p, err := s.svc.Authenticate(ctx, secret, "", segmentd.ScopeSendGridRead); err != nil || p.Account.ID != a.ID {
		t.Fatalf("the account's key after the reset: %+v, %v", p, err)
	}
	if n := segmentCount(t, s.svc, other.ID, keepSeg); n != 2 {
		t.Fatalf("the other account's count = %d, want 2", n)
	}

	// New data after the reset, with more events than before: a load of
	// the old snapshot must not read them as already held.
	seg := fillAccount(t, s.svc, a.ID, 5, clock)
	if n := segmentCount(t, s.svc, a.ID, seg); n != 5 {
		t.Fatalf("count after the reset and new data = %d, want 5", n)
	}
	ccs, err := s.svc.CCSegments(ctx, a.ID, segmentd.CCSegmentPage{})
	if err != nil || len(ccs) != 1 {
		t.Fatalf("Constant Contact segments after the reset: %+v, %v", ccs, err)
	}
	ccBefore, err := s.svc.CCSegmentCount(ctx, a.ID, ccs[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	s.svc.Close()
	r := startControl(t, st, clock, snap)
	if _, ok := r.svc.SnapshotLoaded(); !ok {
		t.Fatal("the restart did not load the snapshot")
	}
	if n := segmentCount(t, r.svc, a.ID, seg); n != 5 {
		t.Fatalf("count after a restart from a snapshot taken before the reset = %d, want 5", n)
	}
	if st := r.m.Stats(a.ID); st.Contacts != 5 || st.Events != 5 {
		t.Fatalf("the engine after the replay holds %+v, want 5 contacts and 5 events", st)
	}
	if n, err := r.svc.CCSegmentCount(ctx, a.ID, ccs[0].ID); err != nil || n != ccBefore {
		t.Fatalf("Constant Contact count after the replay = %d, %v; want %d", n, err, ccBefore)
	}
	if n := segmentCount(t, r.svc, other.ID, keepSeg); n != 2 {
		t.Fatalf("the other account's count after the replay = %d, want 2", n)
	}
	if _, err := r.svc.ResetAccount(ctx, "nobody"); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("ResetAccount(unknown) = %v, want not found", err)
	}
}

// TestDeleteAccount: an account with subusers is refused; a deleted one
// loses its keys and leaves the engine, at once and across a restart from
// a snapshot taken before.
func TestDeleteAccount(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clock := segmentd.NewDevClock()
	clock.Set(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	snap := filepath.Join(dir, "engine.snap")
	s := startControl(t, st, clock, snap)
	parent, _, _, err := s.svc.CreateAccountWithKey(ctx, "parent", "")
	if err != nil {
		t.Fatal(err)
	}
	sub, secret, _, err := s.svc.CreateAccountWithKey(ctx, "sub", "parent")
	if err != nil || sub.ParentID != parent.ID {
		t.Fatalf("subuser: %+v, %v", sub, err)
	}
	fillAccount(t, s.svc, sub.ID, 3, clock)
	if _, wrote, err := s.svc.WriteSnapshot(ctx); err != nil || !wrote {
		t.Fatalf("WriteSnapshot: %v, %v", wrote, err)
	}
	if _, err := s.svc.DeleteAccount(ctx, "parent"); segmentd.ErrorKindOf(err) != segmentd.KindConflict {
		t.Fatalf("deleting an account with a subuser: %v, want a conflict", err)
	}
	if _, err := s.svc.DeleteAccount(ctx, "sub"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.svc.Authenticate(ctx, secret, "", segmentd.ScopeSendGridRead); segmentd.ErrorKindOf(err) != segmentd.KindUnauthorized {
		t.Fatalf("the deleted account's key: %v, want unauthorized", err)
	}
	if st := s.m.Stats(sub.ID); st.Bytes != 0 {
		t.Fatalf("the engine holds %+v of the deleted account", st)
	}
	s.svc.Close()
	r := startControl(t, st, clock, snap)
	if _, ok := r.svc.SnapshotLoaded(); !ok {
		t.Fatal("the restart did not load the snapshot")
	}
	if st := r.m.Stats(sub.ID); st.Bytes != 0 {
		t.Fatalf("after a restart from a snapshot taken before the deletion the engine holds %+v of the deleted account", st)
	}
	if _, err := r.svc.DeleteAccount(ctx, "parent"); err != nil {
		t.Fatal(err)
	}
	accts, err := r.svc.Accounts(ctx)
	if err != nil || len(accts) != 0 {
		t.Fatalf("accounts after both deletions: %+v, %v", accts, err)
	}
}

// TestAccountNames: the names an account may have.
func TestAccountNames(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := startControl(t, st, segmentd.SystemClock{}, "")
	long := ""
	for range audience.MaxAccountName {
		long += "é"
	}
	for _, ok := range []string{"a", long, "ci-run 42", "ünïcode"} {
		if _, _, _, err := s.svc.CreateAccountWithKey(ctx, ok, ""); err != nil {
			t.Errorf("name %q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", long + "x", " lead", "trail ", "account-id 7", "tab\there", "bad\xffutf8"} {
		if _, _, _, err := s.svc.CreateAccountWithKey(ctx, bad, ""); segmentd.ErrorKindOf(err) != segmentd.KindInvalid {
			t.Errorf("name %q: %v, want invalid", bad, err)
		}
	}
	if _, _, _, err := s.svc.CreateAccountWithKey(ctx, "a", ""); segmentd.ErrorKindOf(err) != segmentd.KindConflict {
		t.Errorf("a name taken: %v, want a conflict", err)
	}
	if _, _, _, err := s.svc.CreateAccountWithKey(ctx, "orphan", "nobody"); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Errorf("an unknown parent: %v, want not found", err)
	}
	accts, err := s.svc.Accounts(ctx)
	if err != nil || len(accts) != 4 {
		t.Fatalf("accounts: %+v, %v; want the 4 created", accts, err)
	}
}

func ptr[T any](v T) *T { return &v }

// TestResetAfterQueuedJobs: a reset takes every job accepted before it,
// even those still queued when it came (internal tasks otherwise go ahead
// of queued jobs): after it, only a later job's contact is left.
func TestResetAfterQueuedJobs(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := startControl(t, st, segmentd.SystemClock{}, "")
	acct, err := s.svc.EnsureDefaultAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for j := range 8 {
		var ps []segmentd.ContactPatch
		for i := range 2000 {
			email := fmt.Sprintf("q%d-%d@example.com", j, i)
			ps = append(ps, segmentd.ContactPatch{Email: &email})
		}
		if _, err := s.svc.UpsertContacts(ctx, acct.ID, ps, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.svc.ResetAccount(ctx, acct.Name); err != nil {
		t.Fatal(err)
	}
	after := "after@example.com"
	job, err := s.svc.UpsertContacts(ctx, acct.ID, []segmentd.ContactPatch{{Email: &after}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitJob(t, s.svc, acct.ID, job)
	if n, err := s.svc.CountContacts(ctx, acct.ID); err != nil || n != 1 {
		t.Fatalf("contacts after the reset and one later upsert = %d, %v; want 1 (a job accepted before the reset ran after it)", n, err)
	}
}

// TestAuthenticatePrincipal: a good key yields its account and itself; a
// forbidden request (a scope the key lacks, an On-Behalf-Of that is not its
// subuser) yields the key alone, which a face counts the request against;
// an unknown or missing key yields nothing.
func TestAuthenticatePrincipal(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := startControl(t, st, segmentd.SystemClock{}, "")
	acct, _, _, err := s.svc.CreateAccountWithKey(ctx, "parent", "")
	if err != nil {
		t.Fatal(err)
	}
	secret, key, err := s.svc.CreateAPIKey(ctx, "parent", "reader", []segmentd.Scope{segmentd.ScopeSendGridRead})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, secret, obo string
		need              segmentd.Scope
		kind              segmentd.ErrorKind // 0: no error
		account, key      int64
	}{
		{"allowed", secret, "", segmentd.ScopeSendGridRead, 0, acct.ID, key.ID},
		{"a scope the key lacks", secret, "", segmentd.ScopeSendGridWrite, segmentd.KindForbidden, 0, key.ID},
		{"not a subuser", secret, "stranger", segmentd.ScopeSendGridRead, segmentd.KindForbidden, 0, key.ID},
		{"not a subuser, by id", secret, "account-id x", segmentd.ScopeSendGridRead, segmentd.KindForbidden, 0, key.ID},
		{"unknown key", "SG.unknown", "", segmentd.ScopeSendGridRead, segmentd.KindUnauthorized, 0, 0},
		{"no key", "", "", segmentd.ScopeSendGridRead, segmentd.KindUnauthorized, 0, 0},
	} {
		p, err := s.svc.Authenticate(ctx, tt.secret, tt.obo, tt.need)
		if (err == nil) != (tt.kind == 0) || err != nil && segmentd.ErrorKindOf(err) != tt.kind {
			t.Errorf("%s: error %v, want kind %v", tt.name, err, tt.kind)
		}
		if p.Account.ID != tt.account || p.Key.ID != tt.key {
			t.Errorf("%s: account %d, key %d; want %d, %d", tt.name, p.Account.ID, p.Key.ID, tt.account, tt.key)
		}
	}
}
