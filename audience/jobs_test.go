package audience_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/internal/facetest"
	"github.com/segmentd/segmentd/internal/journal"
	"github.com/segmentd/segmentd/sqlite"
)

// gatedStore holds every upsert of one account until the test lets it
// through, one token each: the job worker is then known to be busy.
type gatedStore struct {
	*sqlite.Store
	// UpsertContactsGroup, a field, hides the store's method of that name:
	// the worker then applies each upsert alone, through the gate.
	UpsertContactsGroup struct{}
	mu                  sync.Mutex
	gated               int64
	entered             chan string // the first email of each held upsert, as it starts
	tokens              chan struct{}
	openOnce            sync.Once
	// rowTokens, when set, holds every job row's write until a token (or
	// its close) lets it through.
	rowTokens chan struct{}
}

func (g *gatedStore) CreateJob(ctx context.Context, j segmentd.Job) error {
	if g.rowTokens != nil {
		<-g.rowTokens
	}
	return g.Store.CreateJob(ctx, j)
}

func newGatedStore(t *testing.T, dir string) *gatedStore {
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return &gatedStore{Store: st, entered: make(chan string, 100), tokens: make(chan struct{}, 100)}
}

// open lets every upsert through, for good.
func (g *gatedStore) open() {
	g.gate(0)
	close(g.tokens)
}

func (g *gatedStore) gate(acct int64) {
	g.mu.Lock()
	g.gated = acct
	g.mu.Unlock()
}

func (g *gatedStore) UpsertContacts(ctx context.Context, acct int64, patches []segmentd.ContactPatch, lists []string, now time.Time) (segmentd.UpsertResult, error) {
	g.mu.Lock()
	held := acct == g.gated
	g.mu.Unlock()
	if held {
		g.entered <- *patches[0].Email
		<-g.tokens
	}
	return g.Store.UpsertContacts(ctx, acct, patches, lists, now)
}

func newJobService(t *testing.T, st *gatedStore, cfg audience.Config) *audience.Service {
	cfg.Segments, cfg.Membership = st, engine.NewMembership()
	svc := audience.New(st, segmentd.SystemClock{}, slog.New(slog.DiscardHandler), cfg)
	// A failing test leaves nothing held: the gate opens before the
	// Service closes.
	t.Cleanup(func() {
		st.openOnce.Do(st.open)
		svc.Close()
	})
	if err := svc.LoadMembership(context.Background()); err != nil {
		t.Fatal(err)
	}
	return svc
}

// upsertOf is an upsert of n contacts a0@domain … whose first name is name.
func upsertOf(domain string, n int, name string) []segmentd.ContactPatch {
	ps := make([]segmentd.ContactPatch, n)
	for i := range ps {
		email, first := fmt.Sprintf("a%d@%s", i, domain), name
		ps[i] = segmentd.ContactPatch{Email: &email, FirstName: &first}
	}
	return ps
}

func mustUpsert(t *testing.T, svc *audience.Service, acct int64, ps []segmentd.ContactPatch) string {
	t.Helper()
	id, err := svc.UpsertContacts(context.Background(), acct, ps, nil)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestJobsOfAccountsTakeTurns: a small job of account B completes while
// account A's earlier jobs still wait (the worker serves the accounts in
// turns), and A's jobs apply in the order they were accepted.
func TestJobsOfAccountsTakeTurns(t *testing.T) {
	ctx := context.Background()
	st := newGatedStore(t, t.TempDir())
	svc := newJobService(t, st, audience.Config{})
	a, err := svc.EnsureDefaultAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := svc.CreateAccount(ctx, "b", "")
	if err != nil {
		t.Fatal(err)
	}
	st.gate(a.ID)
	var aJobs []string
	for i := range 4 {
		aJobs = append(aJobs, mustUpsert(t, svc, a.ID, upsertOf("a.example", 50, fmt.Sprintf("A%d", i))))
	}
	<-st.entered // A0 runs
	bJob := mustUpsert(t, svc, b.ID, upsertOf("b.example", 1, "B"))
	st.tokens <- struct{}{} // A0 finishes; A1 has the turn
	<-st.entered
	st.tokens <- struct{}{} // A1 finishes; B's turn
	if j := facetest.WaitJob(t, svc, b.ID, bJob); j.Status != segmentd.JobCompleted {
		t.Fatalf("B's job: %+v", j)
	}
	for _, id := range aJobs[2:] {
		if j, err := svc.Job(ctx, a.ID, id); err != nil || j.Status != segmentd.JobPending {
			t.Fatalf("A's job %s: %+v, %v; want pending behind the gate", id, j, err)
		}
	}
	st.tokens <- struct{}{}
	st.tokens <- struct{}{}
	for _, id := range aJobs {
		facetest.WaitJob(t, svc, a.ID, id)
	}
	_, got, err := svc.ContactsByEmails(ctx, a.ID, []string{"a0@a.example"})
	if err != nil {
		t.Fatal(err)
	}
	if c := got["a0@a.example"]; c.FirstName != "A3" {
		t.Fatalf("first name %q after A's jobs, want A3 (the last accepted)", c.FirstName)
	}
}

// groupingStore reports the number of upserts of each store transaction
// that applies upserts, and holds the first until released.
type groupingStore struct {
	*sqlite.Store
	calls   chan int
	release chan struct{}
	once    sync.Once
}

func (g *groupingStore) hold(n int) {
	g.calls <- n
	g.once.Do(func() { <-g.release })
}

func (g *groupingStore) UpsertContacts(ctx context.Context, acct int64, patches []segmentd.ContactPatch, lists []string, now time.Time) (segmentd.UpsertResult, error) {
	g.hold(1)
	return g.Store.UpsertContacts(ctx, acct, patches, lists, now)
}

func (g *groupingStore) UpsertContactsGroup(ctx context.Context, acct int64, ups []segmentd.ContactUpsert, now time.Time) ([]segmentd.UpsertResult, []error, error) {
	g.hold(len(ups))
	return g.Store.UpsertContactsGroup(ctx, acct, ups, now)
}

// TestQueuedUpsertsShareATransaction: upserts of one account queued one
// after the other are applied in one store transaction, each as it would
// have been alone: each sees the ones before it, each has its own result,
// and one whose list was deleted after it was accepted fails alone,
// storing nothing.
func TestQueuedUpsertsShareATransaction(t *testing.T) {
	ctx := context.Background()
	sq, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	st := &groupingStore{Store: sq, calls: make(chan int, 100), release: make(chan struct{})}
	svc := audience.New(st, segmentd.SystemClock{}, slog.New(slog.DiscardHandler), audience.Config{Segments: st, Membership: engine.NewMembership()})
	t.Cleanup(func() {
		st.once.Do(func() {})
		svc.Close()
	})
	if err := svc.LoadMembership(ctx); err != nil {
		t.Fatal(err)
	}
	acct, err := svc.EnsureDefaultAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var lists [2]segmentd.List
	for i := range lists {
		if lists[i], err = svc.CreateList(ctx, acct.ID, fmt.Sprintf("list %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	submit := func(ps []segmentd.ContactPatch, list string) string {
		t.Helper()
		id, err := svc.UpsertContacts(ctx, acct.ID, ps, []string{list})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	first := submit(upsertOf("first.example", 1, "F"), lists[0].ID)
	if n := <-st.calls; n != 1 {
		t.Fatalf("the first job's transaction applied %d upserts, want 1", n)
	}
	// The worker holds the first job; these three queue behind it.
	created := submit(upsertOf("a.example", 50, "A"), lists[0].ID)
	gone := submit(upsertOf("gone.example", 5, "G"), lists[1].ID)
	updated := submit(upsertOf("a.example", 2, "B"), lists[0].ID)
	if _, err := svc.DeleteList(ctx, acct.ID, lists[1].ID, false); err != nil {
		t.Fatal(err)
	}
	close(st.release)
	if n := <-st.calls; n != 3 {
		t.Fatalf("the queued jobs' transaction applied %d upserts, want 3", n)
	}
	for _, tc := range []struct {
		id                        string
		status                    segmentd.JobStatus
		created, updated, errored int
	}{
		{first, segmentd.JobCompleted, 1, 0, 0},
		{created, segmentd.JobCompleted, 50, 0, 0},
		{gone, segmentd.JobFailed, 0, 0, 5},
		{updated, segmentd.JobCompleted, 0, 2, 0},
	} {
		j := facetest.WaitJob(t, svc, acct.ID, tc.id)
		if j.Status != tc.status || j.Created != tc.created || j.Updated != tc.updated || j.Errored != tc.errored {
			t.Errorf("job %s: %s, created %d, updated %d, errored %d; want %s, %d, %d, %d",
				tc.id, j.Status, j.Created, j.Updated, j.Errored, tc.status, tc.created, tc.updated, tc.errored)
		}
	}
	if n, err := svc.CountContacts(ctx, acct.ID); err != nil || n != 51 {
		t.Fatalf("CountContacts = %d, %v; want 51 (the failed job's 5 not stored)", n, err)
	}
	_, got, err := svc.ContactsByEmails(ctx, acct.ID, []string{"a0@a.example", "a2@a.example"})
	if err != nil {
		t.Fatal(err)
	}
	if a0, a2 := got["a0@a.example"], got["a2@a.example"]; a0.FirstName != "B" || a2.FirstName != "A" || !slices.Contains(a0.ListIDs, lists[0].ID) {
		t.Fatalf("a0 %q on %v, a2 %q; want B on %s, A", a0.FirstName, a0.ListIDs, a2.FirstName, lists[0].ID)
	}
}

// TestBacklogBoundAnswersAtOnce: past the bound of an account's queued
// contacts a job is refused at once with a RateLimitError saying the bound
// and when to retry, while other accounts, and a job that fits, are
// accepted; a list delete that would queue a refused job deletes nothing.
func TestBacklogBoundAnswersAtOnce(t *testing.T) {
	ctx := context.Background()
	st := newGatedStore(t, t.TempDir())
	svc := newJobService(t, st, audience.Config{MaxBacklog: 5})
	a, err := svc.EnsureDefaultAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := svc.CreateAccount(ctx, "b", "")
	if err != nil {
		t.Fatal(err)
	}
	list, err := svc.CreateList(ctx, a.ID, "keep")
	if err != nil {
		t.Fatal(err)
	}
	st.gate(a.ID)
	first := mustUpsert(t, svc, a.ID, upsertOf("x.example", 3, "1"))
	<-st.entered // the worker holds it: the queue is empty again
	ids := []string{first, mustUpsert(t, svc, a.ID, upsertOf("x.example", 3, "2"))}

	before := time.Now()
	_, err = svc.UpsertContacts(ctx, a.ID, upsertOf("x.example", 3, "3"), nil)
	var limited *segmentd.RateLimitError
	if !errors.As(err, &limited) || segmentd.ErrorKindOf(err) != segmentd.KindRateLimited {
		t.Fatalf("an upsert past the bound: %v, want a RateLimitError", err)
	}
	if limited.Limit != 5 || limited.Reset.Before(before.Add(time.Second)) || limited.Reset.After(time.Now().Add(time.Minute)) {
		t.Fatalf("refusal: limit %d, reset in %v; want 5, between 1 s and a minute", limited.Limit, limited.Reset.Sub(before))
	}
	ids = append(ids, mustUpsert(t, svc, a.ID, upsertOf("x.example", 2, "4"))) // fits: 3 + 2
	if _, err := svc.DeleteList(ctx, a.ID, list.ID, true); !errors.As(err, &limited) {
		t.Fatalf("a list delete with its contacts past the bound: %v, want a RateLimitError", err)
	}
	if _, _, err := svc.List(ctx, a.ID, list.ID, false); err != nil {
		t.Fatalf("the refused list delete deleted the list: %v", err)
	}
	// Another account has a backlog of its own; a job larger than the
	// bound passes when nothing is queued.
	bJob := mustUpsert(t, svc, b.ID, upsertOf("y.example", 7, "b"))

	for range 3 {
		st.tokens <- struct{}{}
	}
	for _, id := range ids {
		if j := facetest.WaitJob(t, svc, a.ID, id); j.Status != segmentd.JobCompleted {
			t.Fatalf("job %s: %+v", id, j)
		}
	}
	if j := facetest.WaitJob(t, svc, b.ID, bJob); j.Status != segmentd.JobCompleted || j.Created != 7 {
		t.Fatalf("B's job: %+v", j)
	}
	// Drained, the account takes jobs again.
	st.gate(0)
	facetest.WaitJob(t, svc, a.ID, mustUpsert(t, svc, a.ID, upsertOf("x.example", 5, "5")))
}

// TestJournaledJobsResume: jobs still queued when a Service closes stay in
// the journal and run when the next one opens it, first, in their order;
// meanwhile they read pending, never unknown. Once done, nothing is left
// to resume.
func TestJournaledJobsResume(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	jdir := filepath.Join(dir, "jobs")
	st := newGatedStore(t, dir)
	svc := newJobService(t, st, audience.Config{})
	if n, err := svc.OpenJournal(ctx, jdir, journal.Options{}); err != nil || n != 0 {
		t.Fatalf("OpenJournal: %d, %v", n, err)
	}
	a, err := svc.EnsureDefaultAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A contact to delete and a list to remove from, made before the gate.
	seed := mustUpsert(t, svc, a.ID, upsertOf("seed.example", 2, "seed"))
	facetest.WaitJob(t, svc, a.ID, seed)
	_, seeded, err := svc.ContactsByEmails(ctx, a.ID, []string{"a0@seed.example"})
	if err != nil {
		t.Fatal(err)
	}
	victim := seeded["a0@seed.example"].ID

	st.gate(a.ID)
	first := mustUpsert(t, svc, a.ID, upsertOf("r.example", 3, "first"))
	<-st.entered
	queued := []string{
		mustUpsert(t, svc, a.ID, upsertOf("r.example", 3, "second")),
		mustUpsert(t, svc, a.ID, upsertOf("s.example", 2, "third")),
	}
	del, err := svc.DeleteContacts(ctx, a.ID, []string{victim}, false)
	if err != nil {
		t.Fatal(err)
	}
	queued = append(queued, del)
	// Held before the running job finishes (as Close holds them), so that
	// the worker takes no other: were Close's goroutine slow to start, the
	// worker would take the next gated job and wait for a token for good.
	svc.HoldJobs()
	closed := make(chan struct{})
	go func() { svc.Close(); close(closed) }()
	st.tokens <- struct{}{} // the running job finishes; the rest stay
	<-closed

	st.gate(0)
	svc2 := newJobService(t, st, audience.Config{})
	for _, id := range queued {
		if _, err := svc2.Job(ctx, a.ID, id); err == nil {
			t.Fatalf("job %s known before the journal was opened", id)
		}
	}
	n, err := svc2.OpenJournal(ctx, jdir, journal.Options{})
	if err != nil || n != len(queued) {
		t.Fatalf("OpenJournal resumed %d, %v; want %d", n, err, len(queued))
	}
	if j := facetest.WaitJob(t, svc2, a.ID, first); j.Status != segmentd.JobCompleted {
		t.Fatalf("the job running at close: %+v", j)
	}
	for _, id := range queued {
		if j := facetest.WaitJob(t, svc2, a.ID, id); j.Status != segmentd.JobCompleted {
			t.Fatalf("resumed job %s: %+v", id, j)
		}
	}
	_, got, err := svc2.ContactsByEmails(ctx, a.ID, []string{"a2@r.example", "a1@s.example", "a0@seed.example"})
	if err != nil {
		t.Fatal(err)
	}
	if got["a2@r.example"].FirstName != "second" || got["a1@s.example"].FirstName != "third" {
		t.Fatalf("contacts after resuming: %+v", got)
	}
	if _, ok := got["a0@seed.example"]; ok {
		t.Fatal("the resumed delete left its contact")
	}
	svc2.Close()

	svc3 := newJobService(t, st, audience.Config{})
	if n, err := svc3.OpenJournal(ctx, jdir, journal.Options{}); err != nil || n != 0 {
		t.Fatalf("a third start resumed %d, %v; want nothing", n, err)
	}
}

// BenchmarkAcceptUnderBacklog times accepting 1,000-contact upserts (one
// custom field each) while the worker applies a backlog of 100,000
// contacts queued before, journaled with fsync as segmentd serve does,
// and reports the p50 and p99 of the time to the job id.
func BenchmarkAcceptUnderBacklog(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "segmentd.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	svc := audience.New(st, segmentd.SystemClock{}, slog.New(slog.DiscardHandler),
		audience.Config{Segments: st, Membership: engine.NewMembership(), MaxBacklog: 1 << 30})
	defer svc.Close()
	if err := svc.LoadMembership(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := svc.OpenJournal(ctx, filepath.Join(dir, "jobs"), journal.Options{NoSync: os.Getenv("BENCH_NOSYNC") != ""}); err != nil {
		b.Fatal(err)
	}
	acct, err := svc.EnsureDefaultAccount(ctx)
	if err != nil {
		b.Fatal(err)
	}
	f, err := svc.CreateField(ctx, acct.ID, "plan", segmentd.FieldText)
	if err != nil {
		b.Fatal(err)
	}
	batch := func(start, n int) []segmentd.ContactPatch {
		ps := upsertOf(fmt.Sprintf("b%d.example", start), n, "Bench")
		for i := range ps {
			ps[i].CustomFields = map[string]*segmentd.Value{f.ID: {Type: segmentd.FieldText, Text: "gold"}}
		}
		return ps
	}
	for i := range 20 {
		if _, err := svc.UpsertContacts(ctx, acct.ID, batch(i, 5000), nil); err != nil {
			b.Fatal(err)
		}
	}
	bodies := make([][]segmentd.ContactPatch, b.N)
	for i := range bodies {
		bodies[i] = batch(1000+i, 1000)
	}
	took := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := svc.UpsertContacts(ctx, acct.ID, bodies[i], nil); err != nil {
			b.Fatal(err)
		}
		took[i] = time.Since(start)
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[len(took)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(audience.QueuedJobs(svc)), "queued-jobs")
}

// TestWorkerYieldsToAccepts: while requests are being accepted
// (Accepting), the job worker waits before a job's store stage and at the
// store's yield points inside it (segmentd.Yield), and goes on once they
// are answered (docs/jobs.md, "The apply yields").
func TestWorkerYieldsToAccepts(t *testing.T) {
	ctx := context.Background()
	st := newGatedStore(t, t.TempDir())
	svc := newJobService(t, st, audience.Config{YieldPause: time.Hour})
	a, err := svc.EnsureDefaultAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.gate(a.ID)
	// As many requests in as the machine has cores: whatever the gate's
	// bound, the worker yields. A failing test lets them out before the
	// Service closes, which waits for the worker.
	var dones []func()
	hold := func() {
		for range runtime.GOMAXPROCS(0) {
			dones = append(dones, svc.Accepting())
		}
	}
	release := func() {
		for _, done := range dones {
			done()
		}
		dones = nil
	}
	t.Cleanup(release)
	hold()
	id := mustUpsert(t, svc, a.ID, upsertOf("a.example", 10, "A"))
	facetest.Poll(t, "the worker waiting before the job", func() bool { return audience.YieldsWaiting(svc) == 1 })
	select {
	case <-st.entered:
		t.Fatal("the job's store stage started while requests were being accepted")
	default:
	}
	release()
	<-st.entered // the job's store stage starts
	hold()
	st.tokens <- struct{}{} // into the store's write, which yields
	facetest.Poll(t, "the store's write waiting", func() bool { return audience.YieldsWaiting(svc) == 1 })
	// Inside its transaction: nothing of it is committed yet.
	if n, err := st.Store.CountContacts(ctx, a.ID); err != nil || n != 0 {
		t.Fatalf("%d contacts stored (%v) while the job's write yields; want 0", n, err)
	}
	if j, err := svc.Job(ctx, a.ID, id); err != nil || j.Status != segmentd.JobPending {
		t.Fatalf("job %+v, %v while its write yields; want pending", j, err)
	}
	release()
	if j := facetest.WaitJob(t, svc, a.ID, id); j.Status != segmentd.JobCompleted || j.Created != 10 {
		t.Fatalf("job %+v, want completed with 10 created", j)
	}
}

// TestWorkerRunsBesideFewerRequestsThanCores: with fewer requests being
// accepted than the machine has cores, each has a core beside the
// worker's, so the worker does not wait for them: a job completes while
// they are still in, though a yield would wait an hour (docs/jobs.md,
// "The apply yields": the bound is the number of cores).
func TestWorkerRunsBesideFewerRequestsThanCores(t *testing.T) {
	ctx := context.Background()
	st := newGatedStore(t, t.TempDir()) // no account gated: upserts go through
	svc := newJobService(t, st, audience.Config{YieldPause: time.Hour})
	a, err := svc.EnsureDefaultAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var dones []func()
	for range runtime.GOMAXPROCS(0) - 1 {
		dones = append(dones, svc.Accepting())
	}
	defer func() {
		for _, done := range dones {
			done()
		}
	}()
	id := mustUpsert(t, svc, a.ID, upsertOf("a.example", 300, "A"))
	var j segmentd.Job
	facetest.Poll(t, "the job done or the worker waiting", func() bool {
		if j, err = svc.Job(ctx, a.ID, id); err != nil {
			t.Fatal(err)
		}
		return j.Status != segmentd.JobPending || audience.YieldsWaiting(svc) > 0
	})
	if n := audience.YieldsWaiting(svc); n != 0 {
		t.Fatalf("%d yields waiting with %d requests in on %d cores; want none", n, len(dones), runtime.GOMAXPROCS(0))
	}
	if j.Status != segmentd.JobCompleted || j.Created != 300 {
		t.Fatalf("job %+v with %d requests in; want completed with 300 created", j, len(dones))
	}
}

// TestYieldLetsUrgentTasksThrough: an event batch queued behind a contact
// job does not wait for the requests being accepted. The job's stages,
// which would wait at their yield points while requests are in, go on
// while the batch is on the worker, so the batch is stored and answered
// with the requests still in; once it is answered, the worker yields to
// them again (docs/jobs.md, "The apply yields").
func TestYieldLetsUrgentTasksThrough(t *testing.T) {
	ctx := context.Background()
	st := newGatedStore(t, t.TempDir())
	svc := newJobService(t, st, audience.Config{YieldPause: time.Hour, Events: st})
	a, err := svc.EnsureDefaultAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var dones []func()
	for range runtime.GOMAXPROCS(0) {
		dones = append(dones, svc.Accepting())
	}
	t.Cleanup(func() {
		for _, done := range dones {
			done()
		}
	})
	id := mustUpsert(t, svc, a.ID, upsertOf("a.example", 300, "A"))
	facetest.Poll(t, "the worker waiting before the job", func() bool { return audience.YieldsWaiting(svc) == 1 })

	added := make(chan error, 1)
	go func() {
		_, err := svc.AddEvents(ctx, a.ID, []segmentd.Event{{Email: "a0@a.example", Type: "open", Timestamp: time.Now().UTC(), SGEventID: "e1"}})
		added <- err
	}()
	select {
	case err := <-added:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(facetest.Deadline):
		t.Fatalf("the event batch was not answered within %v while requests were being accepted: it waited for the job's pauses", facetest.Deadline)
	}
	// The job ran before the batch, on both stages.
	if j, err := svc.Job(ctx, a.ID, id); err != nil || j.Status != segmentd.JobCompleted || j.Created != 300 {
		t.Fatalf("job %+v, %v after the event batch behind it was answered; want completed with 300 created", j, err)
	}
	// The batch answered, the worker yields to the requests again.
	next := mustUpsert(t, svc, a.ID, upsertOf("b.example", 10, "B"))
	facetest.Poll(t, "the worker waiting before the next job", func() bool { return audience.YieldsWaiting(svc) == 1 })
	if j, err := svc.Job(ctx, a.ID, next); err != nil || j.Status != segmentd.JobPending {
		t.Fatalf("job %+v, %v while the worker yields; want pending", j, err)
	}
}

// TestInputReadAhead: while the store stage applies a job, the input of
// the job next in turn is read back from the journal ahead of it
// (docs/jobs.md, "Reading ahead"), and the jobs then apply as they
// would have.
func TestInputReadAhead(t *testing.T) {
	ctx := context.Background()
	st := newGatedStore(t, t.TempDir())
	svc := newJobService(t, st, audience.Config{})
	if _, err := svc.OpenJournal(ctx, t.TempDir(), journal.Options{NoSync: true}); err != nil {
		t.Fatal(err)
	}
	a, err := svc.EnsureDefaultAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	st.gate(a.ID)
	first := mustUpsert(t, svc, a.ID, upsertOf("a.example", 10, "A"))
	<-st.entered // the store stage holds the first job
	second := mustUpsert(t, svc, a.ID, upsertOf("a.example", 10, "B"))
	facetest.Poll(t, "the second job's input read ahead", func() bool { return audience.InputReadAhead(svc, second) })
	st.tokens <- struct{}{}
	<-st.entered
	st.tokens <- struct{}{}
	for _, id := range []string{first, second} {
		if j := facetest.WaitJob(t, svc, a.ID, id); j.Status != segmentd.JobCompleted || j.Updated+j.Created != 10 {
			t.Fatalf("job %+v, want completed with 10 contacts", j)
		}
	}
	_, found, err := svc.ContactsByEmails(ctx, a.ID, []string{"a0@a.example"})
	if err != nil || found["a0@a.example"].FirstName != "B" {
		t.Fatalf("a0@a.example: %+v, %v; want the second job's first name", found["a0@a.example"], err)
	}
}

// TestRowsWrittenAside: a job's row is written after its engine stage on
// a goroutine of its own, so that the next job's engine stage does not
// wait for it (the row waits for the store's write connection, which the
// store stage holds for its transactions), and the row is still written.
func TestRowsWrittenAside(t *testing.T) {
	ctx := context.Background()
	st := newGatedStore(t, t.TempDir())
	st.rowTokens = make(chan struct{})
	svc := newJobService(t, st, audience.Config{})
	// A failing test lets the rows through before the Service closes.
	var once sync.Once
	letRows := func() { once.Do(func() { close(st.rowTokens) }) }
	t.Cleanup(letRows)
	a, err := svc.EnsureDefaultAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first := mustUpsert(t, svc, a.ID, upsertOf("a.example", 10, "A"))
	if j := facetest.WaitJob(t, svc, a.ID, first); j.Status != segmentd.JobCompleted {
		t.Fatalf("first job %+v, want completed", j)
	}
	// Its row is held: the next job still goes through both stages.
	second := mustUpsert(t, svc, a.ID, upsertOf("b.example", 10, "B"))
	if j := facetest.WaitJob(t, svc, a.ID, second); j.Status != segmentd.JobCompleted || j.Created != 10 {
		t.Fatalf("second job %+v while the first one's row is held, want completed with 10 created", j)
	}
	if _, err := st.Store.Job(ctx, a.ID, first); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("the first job's row: %v while held; want not found", err)
	}
	letRows()
	for _, id := range []string{first, second} {
		facetest.Poll(t, "job "+id+"'s row", func() bool {
			j, err := st.Store.Job(ctx, a.ID, id)
			return err == nil && j.Status == segmentd.JobCompleted
		})
	}
}
