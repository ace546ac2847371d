package audience

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/segmentd/segmentd"
)

// Jobs in a store shared with other servers (Config.Jobs). The store
// orders an account's jobs across servers (segmentd.JobQueue): this server
// stores each job it accepts as pending, with its input (encodeAccept, the
// journal's record), and runs it on a goroutine of its account once every
// earlier job of the account, whichever server accepted it, has finished.
// So jobs of one account apply in the order they were acknowledged, and
// jobs of different accounts never wait for each other. A job reads
// completed only once the engine of the server answering has caught up
// with it (Service.Job catches up before it answers a finished job); the
// follower catches up after each job meanwhile.
//
// A server keeps its pending jobs' leases alive. A job whose server
// stopped is taken over when its lease ends, from its stored input: by a
// server whose own job of the account waits behind it, or by any server's
// sweep of lapsed jobs (takeOver), or at once by the same server started
// again (ResumeSharedJobs), so an accepted job always runs.

// DefaultJobLease is how long a server owns the jobs it accepted without
// renewing them (Config.JobLease).
const DefaultJobLease = 30 * time.Second

// queues holds, per account, the accepted jobs this server has yet to run.
// An account present in m has a goroutine running its jobs.
type queues struct {
	mu      sync.Mutex
	m       map[int64][]*jobTask
	running sync.WaitGroup
	// closing: the Service is closing; a sweep starts no account.
	closing bool
	// accepting holds a *sync.Mutex per account, held from a job's
	// acceptance in the store to its place in the account's queue, so that
	// the queue is in the store's job-number order: a later job ahead of an
	// earlier one would wait for its turn forever.
	accepting sync.Map
}

// submitShared stores a job as pending, with its input, and queues it on
// its account.
func (s *Service) submitShared(ctx context.Context, task *jobTask) (string, error) {
	acct := task.job.AccountID
	m, _ := s.queues.accepting.LoadOrStore(acct, new(sync.Mutex))
	accepting := m.(*sync.Mutex)
	accepting.Lock()
	defer accepting.Unlock()
	rec := encodeAccept(&task.job, task.in)
	if err := s.cfg.Jobs.AcceptJob(ctx, task.job, rec, s.owner, time.Now().Add(s.cfg.JobLease)); err != nil {
		return "", err
	}
	task.since = time.Now()
	s.queues.mu.Lock()
	defer s.queues.mu.Unlock()
	if len(s.queues.m[acct]) > 0 {
		// Queued behind another job: the input waits as its record until
		// the job comes first (takeQueued). Held decoded, the realistic
		// bench's queue took a server on PostgreSQL to 2.8 GB at a
		// million contacts (docs/jobs.md, "Back-pressure").
		task.queued, task.in = rec, nil
	}
	s.startAccountLocked(acct, task)
	return task.job.ID, nil
}

// takeQueued decodes the input of t, first in its account's queue, when
// it waits as its record (submitShared). A record this server encoded
// that does not decode fails its job.
func takeQueued(t *jobTask) error {
	t.decodeQueued()
	if err := t.read.err; err != nil {
		return fmt.Errorf("decoding a queued job's input: %w", err)
	}
	if in := t.read.in; in != nil {
		t.in, t.read.in = in, nil
	}
	return nil
}

// decodeQueued decodes t's queued input into t.read, once (a shared
// store's task is never in the journal, whose read-back t.read serves
// otherwise): a caller that comes while another decodes waits for it.
func (t *jobTask) decodeQueued() {
	t.read.once.Do(func() {
		defer t.read.done.Store(true)
		if t.queued != nil {
			_, _, _, t.read.in, t.read.err = decodeAccept(t.queued, true)
			t.queued = nil
		}
	})
}

// decodeAhead starts decoding the input of the job queued first on acct,
// if it waits as its record (submitShared): the job about to run is off
// the queue, and its transaction leaves this server's CPU to the decoding,
// which would otherwise wait for the transaction's end on the account's
// goroutine, between one transaction and the next. One job's input is
// held decoded ahead at most.
func (s *Service) decodeAhead(acct int64) {
	s.queues.mu.Lock()
	var next *jobTask
	if q := s.queues.m[acct]; len(q) > 0 {
		next = q[0]
	}
	s.queues.mu.Unlock()
	if next != nil {
		go next.decodeQueued()
	}
}

// startAccount makes sure an account's jobs have a goroutine running them
// (with no job of this server's: to take over lapsed ones).
func (s *Service) startAccount(acct int64) {
	s.queues.mu.Lock()
	defer s.queues.mu.Unlock()
	s.startAccountLocked(acct, nil)
}

// startAccountLocked queues task (when not nil) on acct and starts the
// account's goroutine unless it runs; s.queues.mu is held.
func (s *Service) startAccountLocked(acct int64, task *jobTask) {
	if task == nil && s.queues.closing {
		return
	}
	if s.queues.m == nil {
		s.queues.m = map[int64][]*jobTask{}
	}
	q, busy := s.queues.m[acct]
	if task != nil {
		q = append(q, task)
	}
	s.queues.m[acct] = q
	if !busy {
		s.queues.running.Add(1)
		go s.runAccountJobs(acct)
	}
}

// runAccountJobs runs the account's pending jobs that fall to this server,
// in the account's order: its own, each when its turn comes, and any job
// standing before them whose server's lease lapsed. It ends when this
// server has no job of the account left and none stands lapsed.
//
// An upsert job whose turn came is pipelined: once its transaction has
// committed, a finisher gives the engine its contacts and stores its
// result (the job reads completed only then, as before), while this loop
// runs the account's next job, when that is this server's upsert too and
// stands next in the store's order after the committed ones. So the
// engine's work on one upsert overlaps the next one's transaction, and
// jobs still commit in the account's order. Any other job waits until
// the committed ones have finished.
func (s *Service) runAccountJobs(acct int64) {
	defer s.queues.running.Done()
	ctx := context.Background()
	fin := s.newFinisher(ctx)
	defer fin.close()
	wait := time.Millisecond
	for {
		s.queues.mu.Lock()
		var t *jobTask
		if q := s.queues.m[acct]; len(q) > 0 {
			t = q[0]
		}
		s.queues.mu.Unlock()
		if t != nil && t.err == nil {
			t.err = takeQueued(t) // a failure fails the job at its turn (runSharedJob)
		}
		if t == nil || !s.pipelined(t) {
			fin.drain() // anything else runs after the committed upserts finished
		}
		head, err := fin.next(ctx, s.cfg.Jobs, acct)
		ran := false
		switch {
		case err != nil:
			s.log.Warn("waiting for a job's turn", "account", acct, "err", err)
		case t != nil && head.ID == t.job.ID && head.Owner == s.owner:
			// Its turn. A lease that lapsed meanwhile (the store was out of
			// reach) is taken back first, unless another server took the
			// job: then that one runs it.
			if head.Lapsed {
				_, ok, err := s.cfg.Jobs.TakeJob(ctx, acct, t.job.ID, s.owner, time.Now(), time.Now().Add(s.cfg.JobLease))
				if err != nil {
					s.log.Warn("taking back a job", "job_id", t.job.ID, "account", acct, "err", err)
					break
				}
				if !ok {
					s.popJob(acct, t)
					ran = true
					break
				}
			}
			s.popJob(acct, t)
			if s.pipelined(t) {
				s.ownBegin(acct) // ended by finishShared
				s.decodeAhead(acct)
				fin.add(t, s.storeUpsert(t))
			} else {
				s.runSharedJob(ctx, t)
			}
			ran = true
		case head.ID != "" && head.Lapsed:
			fin.drain()
			ran = s.takeOver(ctx, acct, head.ID)
		case t == nil:
			// Nothing of this server's to run; a live server runs the head.
			if s.endAccount(acct) {
				return
			}
			continue
		case head.ID == "" || head.ID == t.job.ID || head.Owner != s.owner && s.notPending(ctx, t):
			// t finished or stands taken over elsewhere (this server's
			// lease lapsed): that server runs it.
			s.popJob(acct, t)
			ran = true
		}
		if ran {
			wait = time.Millisecond
			continue
		}
		time.Sleep(wait)
		wait = min(2*wait, 20*time.Millisecond)
	}
}

// popJob takes t, first in its account's queue, off it, and counts it
// out of the account's backlog.
func (s *Service) popJob(acct int64, t *jobTask) {
	s.queues.mu.Lock()
	defer s.queues.mu.Unlock()
	if q := s.queues.m[acct]; len(q) > 0 && q[0] == t {
		s.queues.m[acct] = q[1:]
		s.backlog.unreserve(acct, t.items)
	}
}

// endAccount ends the account's goroutine, unless a job was queued on it
// meanwhile.
func (s *Service) endAccount(acct int64) bool {
	s.queues.mu.Lock()
	defer s.queues.mu.Unlock()
	if len(s.queues.m[acct]) > 0 {
		return false
	}
	delete(s.queues.m, acct)
	return true
}

// notPending reports whether t's job no longer stands pending in the
// store (another server took it over and finished it).
func (s *Service) notPending(ctx context.Context, t *jobTask) bool {
	cur, err := s.store.Job(ctx, t.job.AccountID, t.job.ID)
	return err == nil && cur.Status != segmentd.JobPending
}

// takeOver takes a pending job whose server's lease lapsed and runs it
// from its stored input; false when another server took it first.
func (s *Service) takeOver(ctx context.Context, acct int64, id string) bool {
	input, ok, err := s.cfg.Jobs.TakeJob(ctx, acct, id, s.owner, time.Now(), time.Now().Add(s.cfg.JobLease))
	if err != nil {
		s.log.Warn("taking over a job", "job_id", id, "account", acct, "err", err)
		return false
	}
	if !ok {
		return false
	}
	t := &jobTask{since: time.Now()}
	var in *jobInput
	if input != nil {
		t.job, _, _, in, err = decodeAccept(input, true)
	}
	if input == nil || err != nil || t.job.ID != id || t.job.AccountID != acct {
		// Stored without its input (by an earlier version), or damaged:
		// nothing of it can run.
		if err != nil {
			s.log.Error("reading a taken-over job's input", "job_id", id, "account", acct, "err", err)
		}
		j, jerr := s.store.Job(ctx, acct, id)
		if jerr != nil {
			s.log.Error("reading a taken-over job", "job_id", id, "account", acct, "err", jerr)
			return false
		}
		j.Errored, j.Errors = j.Requested, []segmentd.JobError{{Index: -1, Message: segmentd.MsgJobAbandoned}}
		j.Finish(s.clock.Now())
		if err := s.cfg.Jobs.FinishJob(ctx, j); err != nil {
			s.log.Error("recording job result", "job_id", id, "err", err)
		}
		return true
	}
	s.log.Info("taking over a job whose server stopped", "job_id", id, "account", acct, "type", t.job.Type)
	t.in, t.items, t.multi = in, in.items(), in.op == opImport
	s.runSharedJob(ctx, t)
	return true
}

// runSharedJob runs a job whose turn came and stores its result.
func (s *Service) runSharedJob(ctx context.Context, t *jobTask) {
	j := &t.job
	if t.err == nil { // not a queued input that failed to decode (takeQueued)
		start := time.Now()
		_, t.err = s.apply(j, t.in)
		s.observeStage("store", start)
	}
	s.finishShared(ctx, t, nil, false)
}

// pipelined reports whether t, a job of a shared store, is an upsert
// whose engine update may overlap the account's next job (runAccountJobs).
// Not while a test holds committed jobs (Config.TestOnlyCommitHold),
// whose tests count on the account's next job waiting.
func (s *Service) pipelined(t *jobTask) bool {
	return t.in != nil && t.in.op == opUpsert && !t.multi && s.cfg.TestOnlyCommitHold <= 0
}

// storeUpsert is an upsert job's store stage in a shared store, leaving
// to finishShared what gives the engine its contacts.
func (s *Service) storeUpsert(t *jobTask) (own func() bool) {
	j := &t.job
	start := time.Now()
	defer s.observeStage("store", start)
	res, err := s.store.UpsertContacts(context.Background(), j.AccountID, t.in.patches, t.in.lists, s.clock.Now())
	if err != nil {
		t.err = err
		return nil
	}
	countUpsert(j, res)
	_, own = s.upsertCommitted(j.AccountID, res, t.in.lists)
	t.in = nil // own holds what the engine needs; the patches can go
	return own
}

// finishShared finishes a job of a shared store whose store stage ran:
// own, when not nil, gives the engine the job's changes first; then the
// job's result is stored. piped marks a pipelined upsert (runAccountJobs),
// counted in flight by ownBegin.
func (s *Service) finishShared(ctx context.Context, t *jobTask, own func() bool, piped bool) {
	j := &t.job
	if t.err == nil {
		s.testOnlyHold(j)
		if own != nil {
			start := time.Now()
			held := own()
			if !held {
				// Another write came between this server's upsert and
				// the one before it: the engine catches up now, so that
				// the account's next upserts find it just before them
				// and give it their changes themselves.
				err := s.sync(ctx, j.AccountID)
				if err != nil && ctx.Err() == nil {
					s.log.Warn("catching up an account's changes", "account", j.AccountID, "err", err)
				}
				held = err == nil
			}
			if held { // own is a pipelined upsert's (runAccountJobs)
				s.noteReflected(j.AccountID, j.ID)
			}
			s.observeStage("engine", start)
		}
	}
	s.finishJob(t)
	if s.cfg.Observer != nil {
		s.cfg.Observer.JobFinished(*j, time.Since(t.since))
	}
	if err := s.recordResult(ctx, *j); err != nil {
		s.log.Error("recording job result", "job_id", j.ID, "err", err)
	} else if t.multi {
		s.importFinished(ctx, j.AccountID, j.ID)
	}
	// The follower brings the job's other changes (events attached to its
	// contacts, another server's writes) to the engine while the
	// account's next job writes: the two overlap instead of taking turns.
	// Whoever reads the job finished catches up first (Service.Job), so a
	// job still reads completed only once its changes are in the engine
	// that answers. While this server's pipelined upserts are in flight,
	// the follower leaves the account to them (followUp), and is asked
	// again once the last has ended.
	switch {
	case piped:
		if s.ownEnd(j.AccountID) {
			s.nudge(j.AccountID)
		}
	case t.err == nil:
		s.nudge(j.AccountID)
	}
}

// recordResult stores a finished job's result. While the store cannot be
// reached it tries again, backing off to a second, until the result lands
// or the service closes: a result left unstored would keep the job pending
// under this server's renewed lease, and the account's later jobs waiting
// behind it, until a restart (docs/postgres.md, "Failure").
func (s *Service) recordResult(ctx context.Context, j segmentd.Job) error {
	wait := 10 * time.Millisecond
	for warned := false; ; warned = true {
		err := s.cfg.Jobs.FinishJob(ctx, j)
		if err == nil || segmentd.ErrorKindOf(err) != segmentd.KindUnavailable || s.isClosing() {
			return err
		}
		if !warned {
			s.log.Warn("recording job result: the store cannot be reached; trying again until it can", "job_id", j.ID, "err", err)
		}
		time.Sleep(wait)
		wait = min(2*wait, time.Second)
	}
}

// isClosing reports whether Close has begun waiting for the accounts' jobs.
func (s *Service) isClosing() bool {
	s.queues.mu.Lock()
	defer s.queues.mu.Unlock()
	return s.queues.closing
}

// sweepLapsed starts the accounts that hold a job whose server's lease
// lapsed, so that this server takes it over.
func (s *Service) sweepLapsed(ctx context.Context) {
	accts, err := s.cfg.Jobs.LapsedJobs(ctx, time.Now())
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("looking for jobs whose server stopped", "err", err)
		}
		return
	}
	for _, acct := range accts {
		s.startAccount(acct)
	}
}

// ResumeSharedJobs, with a shared store, ends the leases of the jobs that
// this server's previous run (named prev, "" for none) accepted and did
// not finish, and takes them over at once, in their accounts' order,
// instead of after their lease. Call it once, after LoadMembership; from
// then on the server also sweeps for lapsed jobs of other servers (a
// lease's third apart).
func (s *Service) ResumeSharedJobs(ctx context.Context, prev string) error {
	if s.cfg.Jobs == nil {
		return errors.New("segmentd: only a shared store's jobs are resumed so")
	}
	if prev != "" {
		if err := s.cfg.Jobs.RenewJobs(ctx, prev, time.UnixMilli(0)); err != nil {
			return err
		}
	}
	s.sweepLapsed(ctx)
	s.sweeping.Store(true)
	return nil
}

// Owner is this server's name on the jobs it accepts in a shared store,
// which ResumeSharedJobs takes at the next start.
func (s *Service) Owner() string { return s.owner }

// finishJob sets a run job's result from its error, and its status.
func (s *Service) finishJob(t *jobTask) {
	j := &t.job
	if t.err != nil {
		s.log.Error("job failed", "job_id", j.ID, "account", j.AccountID, "type", j.Type, "err", t.err)
	}
	settle(t)
	j.Finish(s.clock.Now())
}

// renewLeases keeps this server's pending jobs its own until ctx ends,
// and, once ResumeSharedJobs ran, takes over other servers' lapsed jobs.
func (s *Service) renewLeases(ctx context.Context) {
	tick := time.NewTicker(s.cfg.JobLease / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := s.cfg.Jobs.RenewJobs(ctx, s.owner, time.Now().Add(s.cfg.JobLease)); err != nil && ctx.Err() == nil {
				s.log.Warn("renewing job leases", "err", err)
			}
			if s.sweeping.Load() {
				s.sweepLapsed(ctx)
			}
		}
	}
}

// finisher finishes, in order, an account's pipelined upserts whose
// transaction committed (runAccountJobs): their engine update and stored
// result. Its goroutine starts with the first one.
type finisher struct {
	s   *Service
	ctx context.Context

	mu sync.Mutex
	// committed are the jobs handed over and not finished yet, by id.
	committed map[string]bool
	idle      *sync.Cond // signalled when committed empties
	ch        chan pipedJob
}

// maxFinishing bounds the committed upserts an account's finisher holds
// waiting for their engine update: past it, the account's next
// transaction waits (add blocks). Each holds its contacts, 30,000 at
// most; with room for 64, the realistic bench's million contacts on
// PostgreSQL, whose engine updates and stored results took longer than
// the transactions, held up to 64 of them and peaked at 2.8–3.0 GB of
// RSS (docs/postgres.md, "Session 16"). Two keep the engine's work
// beside the next transaction, which is what pipelining is for.
const maxFinishing = 2

type pipedJob struct {
	t   *jobTask
	own func() bool
}

func (s *Service) newFinisher(ctx context.Context) *finisher {
	f := &finisher{s: s, ctx: ctx, committed: map[string]bool{}}
	f.idle = sync.NewCond(&f.mu)
	return f
}

// add hands over t, whose transaction committed, with own, its engine
// update.
func (f *finisher) add(t *jobTask, own func() bool) {
	f.mu.Lock()
	f.committed[t.job.ID] = true
	if f.ch == nil {
		f.ch = make(chan pipedJob, maxFinishing)
		go f.run(f.ch)
	}
	f.mu.Unlock()
	f.ch <- pipedJob{t, own}
}

func (f *finisher) run(ch chan pipedJob) {
	for p := range ch {
		f.s.finishShared(f.ctx, p.t, p.own, true)
		f.mu.Lock()
		delete(f.committed, p.t.job.ID)
		if len(f.committed) == 0 {
			f.idle.Broadcast()
		}
		f.mu.Unlock()
	}
}

// drain waits until every job handed over has finished.
func (f *finisher) drain() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.committed) > 0 {
		f.idle.Wait()
	}
}

// close drains the finisher and ends its goroutine.
func (f *finisher) close() {
	f.drain()
	if f.ch != nil {
		close(f.ch)
	}
}

// next returns the account's oldest pending job that is not one of the
// committed ones still finishing (its ID "" when none is). The committed
// ones are read before the store, so a job that finishes meanwhile is
// skipped either way.
func (f *finisher) next(ctx context.Context, q segmentd.JobQueue, acct int64) (segmentd.QueuedJob, error) {
	f.mu.Lock()
	committed := maps.Clone(f.committed)
	f.mu.Unlock()
	heads, err := q.NextJobs(ctx, acct, time.Now(), len(committed)+1)
	if err != nil {
		return segmentd.QueuedJob{}, err
	}
	for _, h := range heads {
		if !committed[h.ID] {
			return h, nil
		}
	}
	return segmentd.QueuedJob{}, nil
}
