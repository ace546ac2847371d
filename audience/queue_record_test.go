package audience

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/sqlite"
)

// gatedStore is the SQLite store whose first UpsertContacts waits until
// release is closed, having closed entered: the jobs accepted meanwhile
// stay queued.
type gatedStore struct {
	*sqlite.Store
	once             sync.Once
	entered, release chan struct{}
}

func (s *gatedStore) UpsertContacts(ctx context.Context, acct int64, ps []segmentd.ContactPatch, lists []string, now time.Time) (segmentd.UpsertResult, error) {
	s.once.Do(func() {
		close(s.entered)
		<-s.release
	})
	return s.Store.UpsertContacts(ctx, acct, ps, lists, now)
}

// TestSharedQueueHoldsRecords: in a shared store, a job queued behind
// another of its account keeps its input as its accept record, not
// decoded, until it comes first (takeQueued; the first queued stays
// decoded), and the account's queued
// jobs are bounded by MaxBacklog with SendGrid's 429 (RateLimitError) as
// in a store of its own. A record that does not decode fails its job and
// no other. Before, a server on PostgreSQL held every queued job decoded
// and unbounded: 2.8 GB at the realistic bench's million contacts.
func TestSharedQueueHoldsRecords(t *testing.T) {
	ctx := context.Background()
	sq, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	st := &gatedStore{Store: sq, entered: make(chan struct{}), release: make(chan struct{})}
	acct, err := sq.CreateAccount(ctx, "acme", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	svc := New(st, segmentd.SystemClock{}, slog.New(slog.DiscardHandler), Config{Segments: sq, Events: sq, Membership: engine.NewMembership(),
		Shared: true, FollowInterval: 5 * time.Millisecond, Jobs: sq, JobLease: 30 * time.Second, MaxBacklog: 30})
	defer svc.Close()
	var released sync.Once
	release := func() { released.Do(func() { close(st.release) }) }
	defer release() // before Close, which waits for the job held
	if err := svc.LoadMembership(ctx); err != nil {
		t.Fatal(err)
	}
	plan, err := svc.CreateField(ctx, acct.ID, "plan", segmentd.FieldText)
	if err != nil {
		t.Fatal(err)
	}
	upsert := func(n int) (string, error) {
		patches := make([]segmentd.ContactPatch, 10)
		for i := range patches {
			email := fmt.Sprintf("c%d-%d@example.com", n, i)
			patches[i] = segmentd.ContactPatch{Email: &email, CustomFields: map[string]*segmentd.Value{
				plan.ID: {Type: segmentd.FieldText, Text: fmt.Sprintf("plan-%d", n)}}}
		}
		return svc.UpsertContacts(ctx, acct.ID, patches, nil)
	}
	var ids []string
	for n := range 4 {
		id, err := upsert(n)
		if err != nil {
			t.Fatalf("upsert %d: %v", n, err)
		}
		ids = append(ids, id)
		if n == 0 {
			<-st.entered // the first job runs and waits: the others queue
		}
	}
	// Jobs 1–3 (30 contacts) wait, within the bound of 30; the first was
	// counted out when it ran. A fourth queued (40) is not.
	_, err = upsert(4)
	var rl *segmentd.RateLimitError
	if !errors.As(err, &rl) || segmentd.ErrorKindOf(err) != segmentd.KindRateLimited || rl.Limit != 30 {
		t.Fatalf("a job past the bound: %v, want a RateLimitError of limit 30", err)
	}
	svc.queues.mu.Lock()
	q := svc.queues.m[acct.ID]
	if len(q) != 3 {
		svc.queues.mu.Unlock()
		t.Fatalf("%d jobs queued, want 3", len(q))
	}
	// Job 1 was queued first (job 0 had left the queue to run): it stays
	// decoded, ready. Those behind it hold their records.
	for i, task := range q {
		if decoded := task.in != nil && task.queued == nil; decoded != (i == 0) {
			svc.queues.mu.Unlock()
			t.Fatalf("queued job %d: input decoded %v, record of %d bytes; want decoded only for the first", i+1, task.in != nil, len(task.queued))
		}
	}
	q[1].queued = []byte{0} // job 2's record, damaged
	svc.queues.mu.Unlock()
	release()

	for i, id := range ids {
		j := waitJob(t, svc, acct.ID, id)
		want := segmentd.JobCompleted
		if i == 2 {
			want = segmentd.JobFailed
		}
		if j.Status != want {
			t.Fatalf("job %d: %+v, want %s", i, j, want)
		}
	}
	if n, err := svc.CountContacts(ctx, acct.ID); err != nil || n != 30 {
		t.Fatalf("contacts = %d, %v; want 30 (jobs 0, 1 and 3)", n, err)
	}
	_, byEmail, err := svc.ContactsByEmails(ctx, acct.ID, []string{"c3-9@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if v := byEmail["c3-9@example.com"].CustomFields[plan.ID]; v.Text != "plan-3" {
		t.Fatalf("a contact of the last queued job: plan %+v, want plan-3", v)
	}
	// The backlog drained: a job past the earlier bound is accepted.
	id, err := upsert(4)
	if err != nil {
		t.Fatalf("upsert once the queue drained: %v", err)
	}
	if j := waitJob(t, svc, acct.ID, id); j.Status != segmentd.JobCompleted {
		t.Fatalf("upsert once the queue drained: %+v", j)
	}
}

// steppedStore is the SQLite store whose every UpsertContacts sends its
// number on entered and waits for a token on proceed.
type steppedStore struct {
	*sqlite.Store
	n       atomic.Int32
	entered chan int32
	proceed chan struct{}
}

func (s *steppedStore) UpsertContacts(ctx context.Context, acct int64, ps []segmentd.ContactPatch, lists []string, now time.Time) (segmentd.UpsertResult, error) {
	s.entered <- s.n.Add(1)
	<-s.proceed
	return s.Store.UpsertContacts(ctx, acct, ps, lists, now)
}

// TestSharedQueueDecodesAhead: in a shared store, the input of the job
// queued next on an account, held as its record (submitShared), is
// decoded while the job before it is in its transaction (decodeAhead),
// not after that transaction on the account's goroutine; and the jobs
// complete as before.
func TestSharedQueueDecodesAhead(t *testing.T) {
	ctx := context.Background()
	sq, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	st := &steppedStore{Store: sq, entered: make(chan int32, 8), proceed: make(chan struct{}, 8)}
	acct, err := sq.CreateAccount(ctx, "acme", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	svc := New(st, segmentd.SystemClock{}, slog.New(slog.DiscardHandler), Config{Segments: sq, Events: sq, Membership: engine.NewMembership(),
		Shared: true, FollowInterval: 5 * time.Millisecond, Jobs: sq, JobLease: 30 * time.Second})
	defer svc.Close()
	defer func() { // before Close, which waits for the jobs held
		for range 3 {
			st.proceed <- struct{}{}
		}
	}()
	if err := svc.LoadMembership(ctx); err != nil {
		t.Fatal(err)
	}
	upsert := func(n int) string {
		t.Helper()
		patches := make([]segmentd.ContactPatch, 10)
		for i := range patches {
			email := fmt.Sprintf("c%d-%d@example.com", n, i)
			patches[i] = segmentd.ContactPatch{Email: &email}
		}
		id, err := svc.UpsertContacts(ctx, acct.ID, patches, nil)
		if err != nil {
			t.Fatalf("upsert %d: %v", n, err)
		}
		return id
	}
	ids := []string{upsert(0)}
	if n := <-st.entered; n != 1 {
		t.Fatalf("upsert %d entered first", n)
	}
	// Job 0 is in its transaction: job 1 queues decoded (the queue was
	// empty), job 2 behind it as its record.
	ids = append(ids, upsert(1), upsert(2))
	next := func() *jobTask {
		svc.queues.mu.Lock()
		defer svc.queues.mu.Unlock()
		if q := svc.queues.m[acct.ID]; len(q) > 0 {
			return q[0]
		}
		return nil
	}
	if t2 := next(); t2 == nil || t2.job.ID != ids[1] {
		t.Fatal("job 1 is not first in the queue")
	}
	st.proceed <- struct{}{} // job 0 commits; job 1 runs, and stops in its transaction
	if n := <-st.entered; n != 2 {
		t.Fatalf("upsert %d entered second", n)
	}
	t2 := next()
	if t2 == nil || t2.job.ID != ids[2] {
		t.Fatal("job 2 is not first in the queue while job 1 runs")
	}
	for deadline := time.Now().Add(10 * time.Second); !t2.read.done.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("job 2's input was not decoded while job 1 was in its transaction")
		}
	}
	if t2.read.err != nil || t2.read.in == nil || len(t2.read.in.patches) != 10 {
		t.Fatalf("job 2 decoded ahead: %v, %+v", t2.read.err, t2.read.in)
	}
	for range 2 {
		st.proceed <- struct{}{}
	}
	for i, id := range ids {
		if j := waitJob(t, svc, acct.ID, id); j.Status != segmentd.JobCompleted {
			t.Fatalf("job %d: %+v", i, j)
		}
	}
	if n, err := svc.CountContacts(ctx, acct.ID); err != nil || n != 30 {
		t.Fatalf("contacts = %d, %v; want 30", n, err)
	}
}

// finishGatedStore is the SQLite store whose FinishJob waits until
// release is closed, counting the upserts whose transaction began
// meanwhile.
type finishGatedStore struct {
	*sqlite.Store
	// start holds the upserts until the test queued them all, so that
	// the account's jobs run back to back (an account whose queue empties
	// waits for its finisher to drain).
	start    chan struct{}
	release  chan struct{}
	entered  atomic.Int32 // UpsertContacts calls
	finished atomic.Int32 // FinishJob calls returned
	// most is the most upserts begun while FinishJob was held.
	most atomic.Int32
}

func (s *finishGatedStore) UpsertContacts(ctx context.Context, acct int64, ps []segmentd.ContactPatch, lists []string, now time.Time) (segmentd.UpsertResult, error) {
	n := s.entered.Add(1)
	select {
	case <-s.release:
	default:
		s.most.Store(max(s.most.Load(), n))
	}
	<-s.start
	return s.Store.UpsertContacts(ctx, acct, ps, lists, now)
}

func (s *finishGatedStore) FinishJob(ctx context.Context, j segmentd.Job) error {
	<-s.release
	defer s.finished.Add(1)
	return s.Store.FinishJob(ctx, j)
}

// TestFinisherBounded: an account's pipelined upserts wait for their
// engine update and stored result in a finisher that holds at most
// maxFinishing of them besides the one it works on; past that, the
// account's next transaction waits. With results held up (FinishJob), the
// upserts begun are the one finishing, maxFinishing waiting and one
// handing over. With room for 64, all ten began, and on PostgreSQL the
// jobs so held took the server to 2.8 GB at a million contacts.
func TestFinisherBounded(t *testing.T) {
	ctx := context.Background()
	sq, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	st := &finishGatedStore{Store: sq, start: make(chan struct{}), release: make(chan struct{})}
	acct, err := sq.CreateAccount(ctx, "acme", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	svc := New(st, segmentd.SystemClock{}, slog.New(slog.DiscardHandler), Config{Segments: sq, Events: sq, Membership: engine.NewMembership(),
		Shared: true, FollowInterval: time.Hour, Jobs: st, JobLease: 30 * time.Second})
	defer svc.Close()
	var started, released sync.Once
	start := func() { started.Do(func() { close(st.start) }) }
	release := func() { released.Do(func() { close(st.release) }) }
	defer release() // before Close, which waits for the jobs held
	defer start()
	if err := svc.LoadMembership(ctx); err != nil {
		t.Fatal(err)
	}
	const jobs = 10
	var ids []string
	for n := range jobs {
		email := fmt.Sprintf("c%d@example.com", n)
		id, err := svc.UpsertContacts(ctx, acct.ID, []segmentd.ContactPatch{{Email: &email}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	start()
	bound := int32(maxFinishing + 2)
	deadline := time.Now().Add(30 * time.Second)
	for st.entered.Load() < min(bound, jobs) {
		if time.Now().After(deadline) {
			t.Fatalf("%d upserts began, want %d", st.entered.Load(), bound)
		}
		time.Sleep(time.Millisecond)
	}
	// Upserts past the bound would begin within milliseconds: give them
	// the time to show, then let the results be stored.
	time.Sleep(300 * time.Millisecond)
	release()
	for _, id := range ids {
		if j := waitJob(t, svc, acct.ID, id); j.Status != segmentd.JobCompleted {
			t.Fatalf("job %s: %+v", id, j)
		}
	}
	if most := st.most.Load(); most != bound {
		t.Fatalf("%d upserts began while the results were held, want %d (maxFinishing %d waiting, one finishing, one handing over)", most, bound, maxFinishing)
	}
}
