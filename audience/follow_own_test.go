package audience

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/sqlite"
)

// readBackStore is the SQLite store counting the changed contacts its
// change history hands out (Changes): what catch-ups read back.
type readBackStore struct {
	*sqlite.Store
	changed atomic.Int64
}

func (s *readBackStore) Changes(ctx context.Context, acct int64, after, afterEvent int64, eventLimit int) (segmentd.AccountChanges, error) {
	ch, err := s.Store.Changes(ctx, acct, after, afterEvent, eventLimit)
	s.changed.Add(int64(len(ch.Changed)))
	return ch, err
}

// TestFollowerLeavesOwnUpserts: in a shared store, a run of this server's
// pipelined upserts reaches the engine from memory, each by its own
// engine update (applyOwn); the follower, woken after each job and
// polling every few milliseconds, reads none of them back from the change
// history while they are in flight (followUp), and neither does a client
// polling each job in turn (noteReflected). Without those, each caught up
// an upsert as soon as it committed, ahead of the engine update, and read
// its contacts back from the store. A write of another server between
// them is still caught up, and the engine ends where the store is.
func TestFollowerLeavesOwnUpserts(t *testing.T) {
	ctx := context.Background()
	sq, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	st := &readBackStore{Store: sq}
	acct, err := st.CreateAccount(ctx, "acme", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	mem := engine.NewMembership()
	svc := New(st, segmentd.SystemClock{}, slog.New(slog.DiscardHandler), Config{Segments: sq, Events: sq, Membership: mem,
		Shared: true, FollowInterval: 2 * time.Millisecond, Jobs: sq, JobLease: 30 * time.Second})
	defer svc.Close()
	if err := svc.LoadMembership(ctx); err != nil {
		t.Fatal(err)
	}
	upsert := func(n int) string {
		t.Helper()
		patches := make([]segmentd.ContactPatch, 200)
		for i := range patches {
			email := fmt.Sprintf("c%d-%d@example.com", n, i)
			patches[i] = segmentd.ContactPatch{Email: &email}
		}
		id, err := svc.UpsertContacts(ctx, acct.ID, patches, nil)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	waitJob(t, svc, acct.ID, upsert(0))
	st.changed.Store(0)
	// Accepted at once, then polled in turn as a client does: each job
	// read finished needs no catch-up either (noteReflected). They are
	// fewer than the jobs it remembers, so none is forgotten however far
	// the poll lags behind the server.
	const jobs = 30
	if jobs > reflectedJobs {
		t.Fatalf("%d jobs, more than the %d remembered", jobs, reflectedJobs)
	}
	var ids []string
	for n := 1; n <= jobs; n++ {
		ids = append(ids, upsert(n))
	}
	for _, id := range ids {
		if j := waitJob(t, svc, acct.ID, id); j.Status != segmentd.JobCompleted {
			t.Fatalf("upsert %s: %+v", id, j)
		}
	}
	if n := st.changed.Load(); n != 0 {
		t.Fatalf("catch-ups read %d contacts back from the history; want none of this server's own upserts", n)
	}
	if got := mem.ContactCount(acct.ID); got != (jobs+1)*200 {
		t.Fatalf("engine holds %d contacts, want %d", got, (jobs+1)*200)
	}

	// Another server's write (straight to the store) is caught up.
	other := "other@example.com"
	if _, err := sq.UpsertContacts(ctx, acct.ID, []segmentd.ContactPatch{{Email: &other}}, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for mem.ContactCount(acct.ID) != (jobs+1)*200+1 {
		if time.Now().After(deadline) {
			t.Fatalf("engine holds %d contacts; another server's write never caught up", mem.ContactCount(acct.ID))
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestOwnUpsertAttachesWaitingEvents: an event stored before its contact
// (another server's, or this one's) waits; this server's pipelined upsert
// that creates the contact attaches it under a change of its own, after
// the upsert's. The job reads completed only once the engine holds that
// change too: the engine update from memory gives it the contacts, not
// the attachment, so the job is not remembered as held (noteReflected)
// and is caught up. The follower polls once an hour here, so nothing
// else brings the attachment; before the fix the job read completed with
// the engine counting the event out.
func TestOwnUpsertAttachesWaitingEvents(t *testing.T) {
	ctx := context.Background()
	svc, acct := sharedOnSQLite(t)
	upsert := func(email string) {
		t.Helper()
		id, err := svc.UpsertContacts(ctx, acct.ID, []segmentd.ContactPatch{{Email: &email}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if j := waitJob(t, svc, acct.ID, id); j.Status != segmentd.JobCompleted {
			t.Fatalf("upsert %s: %+v", email, j)
		}
	}
	upsert("ada@example.com")
	opened, err := svc.CreateSegment(ctx, acct.ID, "opened", "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open'", "2", nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if _, err := svc.AddEvents(ctx, acct.ID, []segmentd.Event{
		{Email: "ada@example.com", Type: "open", Timestamp: now, SGEventID: "e1"},
		{Email: "carol@example.com", Type: "open", Timestamp: now, SGEventID: "e2"},
	}); err != nil {
		t.Fatal(err)
	}
	count := func() int {
		t.Helper()
		v, err := svc.Segment(ctx, acct.ID, opened.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		return v.ContactsCount
	}
	if n := count(); n != 1 {
		t.Fatalf("opened count before Carol = %d, want 1", n)
	}
	upsert("carol@example.com")
	if n := count(); n != 2 {
		t.Fatalf("opened count once Carol's upsert read completed = %d, want 2 (her waiting event attached)", n)
	}
}

// TestOwnBeginSkipsEngineUpdate: an upsert's store stage counts itself in
// flight (ownBegin) while the account's previous upsert's engine update
// runs (applyOwn holds the account's point): it does not wait for it.
// Until session 18 ownBegin took the point's lock, and this test's
// ownBegin blocked until the engine update was let go.
func TestOwnBeginSkipsEngineUpdate(t *testing.T) {
	svc, acct := sharedOnSQLite(t)
	p := svc.follow.get(acct.ID)
	p.mu.Lock()
	change := p.change
	p.mu.Unlock()

	entered, release := make(chan struct{}), make(chan struct{})
	applied := make(chan bool)
	go func() {
		applied <- svc.applyOwn(acct.ID, change+1, 0, func() {
			close(entered)
			<-release
		})
	}()
	<-entered // the engine update runs, holding the point
	begun := make(chan bool)
	go func() {
		svc.ownBegin(acct.ID)
		begun <- svc.ownEnd(acct.ID)
	}()
	waited := false
	select {
	case catchUp := <-begun:
		if catchUp {
			t.Error("ownEnd asks for a catch-up the follower never missed")
		}
	case <-time.After(10 * time.Second):
		t.Error("ownBegin still waits for the engine update after 10 s")
		waited = true
	}
	close(release)
	if !<-applied {
		t.Error("applyOwn: the engine update was not taken as held")
	}
	if waited {
		<-begun // it ends once the engine update has
	}
}

// sharedOnSQLite makes a Service on a SQLite store of its own, configured
// as a shared store whose follower polls once an hour (so nothing but the
// test's own calls brings changes), with one account.
func sharedOnSQLite(t *testing.T) (*Service, segmentd.Account) {
	t.Helper()
	ctx := context.Background()
	sq, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	acct, err := sq.CreateAccount(ctx, "acme", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	svc := New(sq, segmentd.SystemClock{}, slog.New(slog.DiscardHandler), Config{Segments: sq, Events: sq, Membership: engine.NewMembership(),
		Shared: true, FollowInterval: time.Hour, Jobs: sq, JobLease: 30 * time.Second})
	t.Cleanup(svc.Close)
	if err := svc.LoadMembership(ctx); err != nil {
		t.Fatal(err)
	}
	return svc, acct
}
