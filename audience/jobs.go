package audience

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/journal"
)

// Jobs of a store of its own (docs/jobs.md). An accepted job is written to
// the journal (OpenJournal) before its id is returned, then waits in its
// account's queue (backlog.go); the worker serves the accounts in turns.
// Jobs run in two stages, each one task at a time: write commits the
// job's store transaction; then publish passes what changed to the engine
// and the job is completed. The engine work of one job overlaps the next
// job's transaction.

// jobTask is a queued task: a contact job, an event batch or an internal
// task.
type jobTask struct {
	job segmentd.Job
	// in is a contact job's input; nil while it waits in the journal at
	// accepted, which is read back (read) when the job's turn comes.
	in *jobInput
	// read is the input read back: from the journal, once, by the store
	// stage or, while it applies the jobs before, by readAhead; or, in a
	// shared store, decoded from queued, once, when the job comes first
	// or while the job before it is in its transaction (decodeQueued).
	read struct {
		once sync.Once
		in   *jobInput
		err  error
		done atomic.Bool // once has run (InputReadAhead, for tests)
	}
	// queued is, in a shared store, the accept record of a job queued
	// behind another of its account on this server: its input waits
	// encoded, a fraction of its decoded size, and is decoded into read
	// when the job comes first or is next (submitShared, takeQueued,
	// decodeAhead).
	queued   []byte
	items    int         // the job's weight in its account's backlog
	accepted journal.Pos // the job's accept record (a journaled job)
	applied  journal.Pos // its applied record, once written
	journal  bool        // the job is in the journal

	publish func()
	err     error
	since   time.Time // when it was queued, for its duration (Config.Observer)
	// write, when set, makes this an internal task (no job record): its
	// caller waits for it on wait (see run).
	write func() (publish func(), err error)
	wait  chan error
	// events, when set, makes this an event batch (AddEvents), written by
	// writeEvents; its caller waits on wait as well.
	events *eventsJob
	// sharedExempt runs publish even in a shared store: the task is not a
	// write of one account (the engine snapshot's).
	sharedExempt bool
	// barrier marks drainFinish's task: the engine stage answers it once
	// every task before it is finished and their rows are written.
	barrier bool

	// multi marks an import, which runs one batch per turn (imports.go):
	// it stays first in its account's queue until its last batch, so that
	// the account's later jobs still wait for it while other accounts'
	// jobs run between its batches. next is its next batch, and step its
	// latest step record in the journal.
	multi bool
	next  int
	step  journal.Pos
	// partial marks what the store stage passes the engine stage for a
	// batch of an import that is not its last: its changes, and no job to
	// finish.
	partial bool
}

// write is the store stage.
func (s *Service) write() {
	defer close(s.finish)
	stop, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		s.readAhead(stop)
	}()
	defer func() {
		close(stop)
		<-stopped
	}()
	for {
		group := s.backlog.take()
		if group == nil {
			return
		}
		s.wakeReadAhead()
		t := group[0]
		if t.events == nil && t.write == nil {
			s.accepts.yield()
		}
		start, stage := time.Now(), "store"
		switch {
		case t.events != nil:
			stage = "store_events"
			s.writeEvents(group)
		case t.write != nil:
			stage = "store_task"
			t.publish, t.err = t.write()
		case len(group) > 1:
			s.writeUpserts(group)
		default:
			group[0] = s.writeJob(t)
		}
		s.observeStage(stage, start)
		for _, g := range group {
			s.finish <- g
		}
	}
}

// writeJob runs a contact job's store stage and records its result in
// the journal, so that a restart does not run it again (docs/jobs.md). It
// returns what the engine stage takes: the job, or, for a batch of an
// import that is not its last, that batch's changes.
func (s *Service) writeJob(t *jobTask) *jobTask {
	start := time.Now()
	in, err := s.input(t)
	if err != nil {
		t.err = err
		if t.multi {
			s.backlog.endSteps(t)
		}
		return t
	}
	if in.op == opImport {
		t.in = in // a few strings: kept for its next batches
		if batch := s.writeImportStep(t, in, start); batch != nil {
			return batch
		}
	} else {
		t.publish, t.err = s.apply(&t.job, in)
		dropInput(t)
		s.backlog.ran(t.job.AccountID, t.items, time.Since(start))
	}
	s.recordApplied(t)
	return t
}

// input returns a contact job's input: read back from its accept record
// when it waits in the journal, unless readAhead already did.
func (s *Service) input(t *jobTask) (*jobInput, error) {
	if t.in != nil {
		return t.in, nil
	}
	s.readBack(t)
	return t.read.in, t.read.err
}

// readBack reads a journaled job's input back into t.read, unless that
// was done. readAhead calls it for jobs the store stage may have taken
// (and applied) meanwhile, so it reads nothing of t itself.
func (s *Service) readBack(t *jobTask) {
	t.read.once.Do(func() {
		defer t.read.done.Store(true)
		rec, err := s.journal.Read(t.accepted)
		if err != nil {
			t.read.err = err
			return
		}
		_, _, _, t.read.in, t.read.err = decodeAccept(rec, true)
	})
}

// dropInput lets a job's input read back from the journal go once its
// store stage has run: the task still waits for the engine stage.
func dropInput(t *jobTask) {
	t.read.in = nil
}

// readAhead reads the inputs of the jobs the store stage takes next back
// from the journal and decodes them, each time the store stage takes
// work or a job is queued, until stop: a read that took the store stage,
// the one goroutine of the apply, about 4 % of its CPU is done on the
// other core while it applies the jobs before (docs/jobs.md, "Reading
// ahead"). It holds at most maxReadAheadItems decoded ahead of the store
// stage (or one job larger than that), so the memory the apply needs
// stays bounded whatever the backlog. It yields as the store stage does.
func (s *Service) readAhead(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-s.ahead:
		}
		next := s.backlog.next()
		if len(next) > 0 {
			s.accepts.yield()
		}
		for _, t := range next {
			s.readBack(t) // an error is the store stage's to report
		}
	}
}

// wakeReadAhead tells readAhead that the jobs next in turn may have
// changed.
func (s *Service) wakeReadAhead() {
	select {
	case s.ahead <- struct{}{}:
	default: // awake already
	}
}

// recordApplied settles a job whose store stage ran and appends its
// applied record (docs/jobs.md).
func (s *Service) recordApplied(t *jobTask) {
	settle(t)
	if t.journal {
		pos, err := s.journal.Append(encodeApplied(&t.job), false)
		if err != nil {
			s.log.Error("journaling a job's result", "job_id", t.job.ID, "err", err)
			return
		}
		t.applied = pos
	}
}

// writeUpserts is the store stage of upsert jobs of one account queued
// one after the other, which take grouped (backlog.takeJob): one store
// transaction applies them all, in order (segmentd.UpsertGrouper), then
// each gets its result and its applied record, as writeJob gives one job.
// A kill before the commit leaves all of them to run again; after it, the
// applied records follow in one burst of writes with nothing between.
func (s *Service) writeUpserts(group []*jobTask) {
	start := time.Now()
	acct := group[0].job.AccountID
	ups := make([]segmentd.ContactUpsert, 0, len(group))
	run := make([]*jobTask, 0, len(group))
	items := 0
	for _, t := range group {
		in, err := s.input(t)
		if err == nil && in.op != opUpsert {
			// Not an upsert after all (takeJob groups by job type): run
			// the group's jobs one by one, in their order.
			for _, t := range group {
				s.writeJob(t)
			}
			return
		}
		if err != nil {
			t.err = err
			continue
		}
		ups = append(ups, segmentd.ContactUpsert{Patches: in.patches, ListIDs: in.lists})
		run = append(run, t)
		items += t.items
	}
	if len(ups) > 0 {
		res, errs, err := s.store.(segmentd.UpsertGrouper).UpsertContactsGroup(s.yielding(), acct, ups, s.clock.Now())
		for i, t := range run {
			switch {
			case err != nil:
				t.err = err
			case errs[i] != nil:
				t.err = errs[i]
			default:
				t.publish = s.upserted(&t.job, res[i], ups[i].ListIDs)
			}
		}
		s.backlog.ran(acct, items, time.Since(start))
	}
	for _, t := range group {
		dropInput(t)
	}
	// A job whose input could not be read back gets no applied record,
	// as writeJob leaves it: a restart tries it again.
	for _, t := range run {
		s.recordApplied(t)
	}
}

// apply runs a contact job's store stage: it commits the job's
// transaction, sets the job's counts, and returns what passes the changes
// to the engine.
func (s *Service) apply(j *segmentd.Job, in *jobInput) (publish func(), err error) {
	switch in.op {
	case opUpsert:
		return s.applyUpsert(j, in)
	case opDelete:
		return s.applyDelete(j, in)
	case opDeleteAll:
		return s.applyDeleteAll(j)
	case opDeleteIdentifier:
		return s.applyDeleteIdentifier(j, in)
	case opRemoveFromList:
		return s.applyRemoveFromList(j, in)
	case opImport:
		return s.applyImport(j, in)
	case opListsAdd:
		return s.applyListsAdd(j, in)
	case opListsRemove:
		return s.applyListsRemove(j, in)
	case opCCDelete:
		return s.applyCCDelete(j, in)
	case opTagsAdd, opTagsRemove:
		return s.applyTagging(j, in)
	case opCCImport:
		return s.applyCCImport(j, in)
	}
	return nil, fmt.Errorf("segmentd: job %s: unknown operation %d", j.ID, in.op)
}

// settle turns a job's failure into its result: every item errored.
func settle(t *jobTask) {
	if t.err == nil {
		return
	}
	j := &t.job
	j.Errored = j.Requested
	msg := "the job could not be processed"
	var e *segmentd.Error
	if errors.As(t.err, &e) {
		msg = e.Message
	}
	j.Errors = []segmentd.JobError{{Index: -1, Message: msg}}
}

// complete is the engine stage. A finished job's row is written after
// it by writeRows, on a goroutine of its own: the store's write
// connection, which that needs, is the store stage's for a transaction at
// a time, and the engine stage, which the store stage hands its jobs to,
// would wait for it (docs/jobs.md, "Job rows written aside").
func (s *Service) complete() {
	rows := make(chan *jobTask, maxRowsQueued)
	written := make(chan struct{})
	go func() {
		defer close(written)
		s.writeRows(rows)
	}()
	defer func() {
		close(rows)
		<-written
		close(s.done)
	}()
	for t := range s.finish {
		if t.wait == nil {
			s.accepts.yield() // a job's or an import batch's changes
		}
		start := time.Now()
		if t.partial {
			if err := s.reflectTask(t); err != nil {
				s.log.Error("bringing an import's batch to the engine", "job_id", t.job.ID, "account", t.job.AccountID, "err", err)
			}
			s.observeStage("engine", start)
			continue
		}
		if t.wait != nil {
			if t.err == nil {
				t.err = s.reflectTask(t)
			}
			s.flushOutbox()
			s.observeStage("engine", start)
			if t.barrier {
				rows <- t // answered once the rows before it are written
			} else {
				t.wait <- t.err
			}
			continue
		}
		j := &t.job
		if t.err == nil {
			s.testOnlyHold(j)
			if err := s.reflectTask(t); err != nil {
				// The write committed; a shared store's history brings it
				// to the engine at the next catch-up.
				s.log.Error("bringing a job's changes to the engine", "job_id", j.ID, "account", j.AccountID, "err", err)
			}
		}
		s.flushOutbox()
		s.observeStage("engine", start)
		s.finishJob(t)
		if s.cfg.Observer != nil {
			var took time.Duration
			if !t.since.IsZero() {
				took = time.Since(t.since)
			}
			s.cfg.Observer.JobFinished(*j, took)
		}
		// Reads see the result at once; the row follows, so that writing it
		// never holds up the reader waiting for the store's writer.
		s.pendingMu.Lock()
		final := *j
		s.pending[j.ID] = &final
		s.pendingMu.Unlock()
		rows <- t
	}
}

// maxRowsQueued bounds the finished jobs whose rows wait to be written:
// past it the engine stage waits for writeRows. A row waits for at most
// one store transaction, which applies a job or more, so a few are queued
// at a time.
const maxRowsQueued = 64

// writeRows writes the rows of the jobs the engine stage finished, in the
// order they finished, and then lets the journal drop their records: a
// job whose row is not written when the process is killed is finished
// at the next start from its applied record (docs/jobs.md, "At start").
// A barrier (drainFinish) is answered once the rows before it are
// written.
func (s *Service) writeRows(rows <-chan *jobTask) {
	for t := range rows {
		if t.barrier {
			t.wait <- t.err
			continue
		}
		j := &t.job
		if err := s.store.CreateJob(context.Background(), *j); err != nil {
			s.log.Error("recording job result", "job_id", j.ID, "err", err)
		} else {
			if t.journal {
				s.journalDone(t)
			}
			if t.multi {
				s.importFinished(context.Background(), j.AccountID, j.ID)
			}
		}
		s.pendingMu.Lock()
		delete(s.pending, j.ID)
		s.pendingMu.Unlock()
	}
}

// testOnlyHold holds a job whose store transaction committed before its
// changes reach the engine, for Config.TestOnlyCommitHold (tests only).
func (s *Service) testOnlyHold(j *segmentd.Job) {
	if s.cfg.TestOnlyCommitHold <= 0 {
		return
	}
	s.log.Warn("test only: holding a committed job before the engine and its transitions", "job_id", j.ID, "account", j.AccountID, "hold", s.cfg.TestOnlyCommitHold)
	time.Sleep(s.cfg.TestOnlyCommitHold)
}

// observeStage reports a stage's task that started at start.
func (s *Service) observeStage(stage string, start time.Time) {
	if s.cfg.Observer != nil {
		s.cfg.Observer.StageTook(stage, time.Since(start))
	}
}

// PendingJobs counts the jobs this server accepted and has not finished,
// by type (for metrics): queued on its worker, or, with a shared store,
// in its accounts' queues (queue.go).
func (s *Service) PendingJobs() map[segmentd.JobType]int {
	n := map[segmentd.JobType]int{}
	s.pendingMu.Lock()
	for _, j := range s.pending {
		if j.Status == segmentd.JobPending {
			n[j.Type]++
		}
	}
	s.pendingMu.Unlock()
	s.queues.mu.Lock()
	for _, q := range s.queues.m {
		for _, t := range q {
			n[t.job.Type]++
		}
	}
	s.queues.mu.Unlock()
	return n
}

// flushOutbox stores the transitions the engine made so far, before the
// task that made them is answered (docs/webhooks.md, "Durability"). A
// failure is logged: the write itself is done.
func (s *Service) flushOutbox() {
	if s.cfg.Outbox == nil {
		return
	}
	if err := s.cfg.Outbox.Flush(context.Background()); err != nil {
		s.log.Error("storing segment transitions for webhooks", "err", err)
	}
}

// journalDone records that a job's row is stored and lets the journal
// drop its records.
func (s *Service) journalDone(t *jobTask) {
	if pos, err := s.journal.Append(encodeDone(t.job.ID), false); err != nil {
		s.log.Error("journaling a finished job", "job_id", t.job.ID, "err", err)
	} else {
		s.journal.Release(pos)
	}
	if t.applied != (journal.Pos{}) {
		s.journal.Release(t.applied)
	}
	if t.step != (journal.Pos{}) {
		s.journal.Release(t.step)
	}
	s.journal.Release(t.accepted)
}

// DefaultYieldPause is Config.YieldPause's default: the longest the
// stages wait at one yield point for the requests being accepted
// (acceptGate.yield). Under a stream of requests the backlog still moves,
// a few milliseconds of work between two waits, and the 429 that a full
// backlog answers ends the stream.
const DefaultYieldPause = 50 * time.Millisecond

// Accepting counts a request in as being accepted until the function it
// returns is called: while requests are in, the job worker's stages yield
// the CPU to them at their yield points (docs/jobs.md, "The apply
// yields"). A face calls it first thing for a request that brings a job,
// so that reading and decoding its body count too.
func (s *Service) Accepting() (done func()) {
	return s.accepts.enter()
}

// AcceptingNow reports how many requests count as being accepted
// (Accepting): the faces' tests check which requests do.
func (s *Service) AcceptingNow() int {
	s.accepts.mu.Lock()
	defer s.accepts.mu.Unlock()
	return s.accepts.inFlight
}

// yielding is the context of the store stage's writes on a store of its
// own: the store's yield points wait for the requests being accepted.
func (s *Service) yielding() context.Context {
	return segmentd.WithYield(context.Background(), s.accepts.yield)
}

// submit accepts a job and returns its id at once: a job of a store of
// its own is journaled (when OpenJournal was called) and queued on its
// account, a job of a shared store is stored as pending (queue.go). Its
// account's backlog over Config.MaxBacklog refuses it with a
// RateLimitError, without waiting.
func (s *Service) submit(ctx context.Context, acct int64, t segmentd.JobType, requested int, in *jobInput) (string, error) {
	return s.accept(ctx, acct, t, requested, in, false)
}

// accept is submit; force takes the job whatever the backlog (its request
// already changed the store: DeleteList).
func (s *Service) accept(ctx context.Context, acct int64, t segmentd.JobType, requested int, in *jobInput, force bool) (string, error) {
	return s.acceptJob(ctx, segmentd.Job{ID: segmentd.NewID(), AccountID: acct, Type: t, Requested: requested, StartedAt: s.clock.Now()}, in, force)
}

// acceptJob accepts j, pending, with its input (accept).
func (s *Service) acceptJob(ctx context.Context, j segmentd.Job, in *jobInput, force bool) (string, error) {
	acct := j.AccountID
	j.Status = segmentd.JobPending
	task := &jobTask{job: j, in: in, items: in.items(), multi: in.op == opImport}
	if err := s.backlog.reserve(acct, task.items, force, s.clock.Now()); err != nil {
		return "", err
	}
	if s.cfg.Jobs != nil {
		// The bound holds for the jobs this server has queued on a shared
		// store too; each is counted out when its turn takes it (popJob).
		id, err := s.submitShared(ctx, task)
		if err != nil {
			s.backlog.unreserve(acct, task.items)
			return "", err
		}
		s.noteJob(acct, id)
		return id, nil
	}
	if s.journal != nil {
		pos, err := s.journal.Append(encodeAccept(&task.job, in), true)
		if err != nil {
			s.backlog.unreserve(acct, task.items)
			return "", err
		}
		// The input waits in the journal, not in memory.
		task.in, task.accepted, task.journal = nil, pos, true
	}
	s.queueJob(task)
	s.wakeReadAhead()
	s.noteJob(acct, task.job.ID)
	return task.job.ID, nil
}

// queueJob makes a job readable as pending and queues it on its account.
func (s *Service) queueJob(t *jobTask) {
	pending := t.job
	t.since = time.Now()
	s.pendingMu.Lock()
	s.pending[pending.ID] = &pending
	s.pendingMu.Unlock()
	s.backlog.push(t)
}

// Job returns a job by id, pending or finished. An import whose file has
// not been accepted yet has no job: its job reads as the import stands
// (imports.go).
func (s *Service) Job(ctx context.Context, acct int64, id string) (segmentd.Job, error) {
	j, err := s.job(ctx, acct, id)
	if err == nil && j.Type.Activity() {
		// Constant Contact's activities are read through Activity only.
		return segmentd.Job{}, segmentd.Errorf(segmentd.KindNotFound, "id", "job %q does not exist", id)
	}
	if segmentd.ErrorKindOf(err) == segmentd.KindNotFound && s.cfg.Imports != nil {
		if imp, ierr := s.cfg.Imports.Import(ctx, acct, id); ierr == nil {
			return s.importJob(imp), nil
		}
	}
	return j, err
}

// job returns a job by id, pending or finished.
func (s *Service) job(ctx context.Context, acct int64, id string) (segmentd.Job, error) {
	if s.cfg.Jobs != nil {
		// The store has every server's jobs. Before a finished one is
		// answered, this server's engine catches up with it, and the
		// transitions that made are stored, so that a job read completed
		// has its transitions in the store (docs/webhooks.md,
		// "Durability").
		j, err := s.store.Job(ctx, acct, id)
		switch {
		case err != nil || j.Status == segmentd.JobPending:
		case s.cfg.Shared && s.isReflected(acct, id):
			// The engine held it before its result was stored.
			s.flushOutbox()
		default:
			err = s.reflect(ctx, acct, nil)
		}
		return j, err
	}
	s.pendingMu.Lock()
	j, ok := s.pending[id]
	var pending segmentd.Job
	if ok {
		pending = *j
	}
	s.pendingMu.Unlock()
	if ok {
		if pending.AccountID != acct {
			return segmentd.Job{}, segmentd.Errorf(segmentd.KindNotFound, "id", "job %q does not exist", id)
		}
		return pending, nil
	}
	return s.store.Job(ctx, acct, id)
}

// onWorker runs write on the job worker's store stage and then publish on
// its engine stage, before the contact jobs still queued, and waits for
// both.
func (s *Service) onWorker(ctx context.Context, write func() (publish func(), err error)) error {
	return s.run(ctx, &jobTask{write: write, wait: make(chan error, 1), sharedExempt: true})
}

// run queues an internal task or an event batch ahead of the contact jobs
// and waits for both its stages. Until then the worker's stages do not
// wait at their yield points (acceptGate.enterUrgent): the task does not
// yield, and would otherwise wait for the contact job in front of it to
// end its pauses.
func (s *Service) run(ctx context.Context, t *jobTask) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	defer s.accepts.enterUrgent()()
	if !s.backlog.pushUrgent(t) {
		return errors.New("segmentd: the service is closed")
	}
	return <-t.wait
}

// reflectTask makes the engine reflect a task whose write committed: its
// publish stage in a store of its own, a catch-up of its account in a
// shared store.
//
// It runs the task's publish once and drops it: what publish holds (an
// upsert's stored contacts, most of an upsert group's memory) is garbage
// from then on, not kept while the task waits for its row to be written
// behind the store stage's next transaction (docs/decisions.md §20).
func (s *Service) reflectTask(t *jobTask) error {
	publish := t.publish
	t.publish = nil
	acct := t.job.AccountID
	if t.events != nil {
		if publish == nil {
			return nil // a later batch of a group: the first one's update covers it
		}
		ej := t.events
		acct = ej.acct
		if ej.own {
			defer s.endOwnEvents(acct)
			// In a shared store the engine takes the events now if no
			// other write came between; else a catch-up brings them.
			if s.applyOwn(acct, ej.change, ej.through, publish) {
				return nil
			}
		}
	}
	if t.sharedExempt {
		if publish != nil {
			publish()
		}
		return nil
	}
	return s.reflect(context.Background(), acct, publish)
}
