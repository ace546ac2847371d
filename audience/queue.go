package audience

import (
	"context"
	"sync"
	"time"

	"github.com/segmentd/segmentd"
)

// Jobs in a store shared with other servers (Config.Jobs). The store
// orders an account's jobs across servers (segmentd.JobQueue): this server
// stores each job it accepts as pending, and runs it on a goroutine of its
// account once every earlier job of the account, whichever server accepted
// it, has finished. So jobs of one account apply in the order they were
// acknowledged, and jobs of different accounts never wait for each other.
// A job reads completed only once the engine of the server answering has
// caught up with it (Service.Job catches up before it answers a finished
// job); the follower catches up after each job meanwhile.
//
// A server keeps its pending jobs' leases alive; a job whose server
// stopped before running it is failed when its turn comes (nothing of it
// was applied), so the account's later jobs go on.

// jobLease is how long a server owns the jobs it accepted without
// renewing them.
const jobLease = 30 * time.Second

// queues holds, per account, the accepted jobs this server has yet to run.
type queues struct {
	mu      sync.Mutex
	m       map[int64][]*jobTask
	running sync.WaitGroup
	// accepting holds a *sync.Mutex per account, held from a job's
	// acceptance in the store to its place in the account's queue, so that
	// the queue is in the store's job-number order: a later job ahead of an
	// earlier one would wait for its turn forever.
	accepting sync.Map
}

// submitShared stores a job as pending and queues it on its account.
func (s *Service) submitShared(ctx context.Context, task *jobTask) (string, error) {
	acct := task.job.AccountID
	m, _ := s.queues.accepting.LoadOrStore(acct, new(sync.Mutex))
	accepting := m.(*sync.Mutex)
	accepting.Lock()
	defer accepting.Unlock()
	if err := s.cfg.Jobs.AcceptJob(ctx, task.job, s.owner, time.Now().Add(jobLease)); err != nil {
		return "", err
	}
	task.since = time.Now()
	s.queues.mu.Lock()
	defer s.queues.mu.Unlock()
	if s.queues.m == nil {
		s.queues.m = map[int64][]*jobTask{}
	}
	q, busy := s.queues.m[acct]
	s.queues.m[acct] = append(q, task)
	if !busy {
		s.queues.running.Add(1)
		go s.runAccountJobs(acct)
	}
	return task.job.ID, nil
}

// runAccountJobs runs an account's queued jobs in order, each when its
// turn comes, and ends when the queue is empty.
func (s *Service) runAccountJobs(acct int64) {
	defer s.queues.running.Done()
	ctx := context.Background()
	for {
		s.queues.mu.Lock()
		q := s.queues.m[acct]
		if len(q) == 0 {
			delete(s.queues.m, acct)
			s.queues.mu.Unlock()
			return
		}
		t := q[0]
		s.queues.m[acct] = q[1:]
		s.queues.mu.Unlock()
		s.runSharedJob(ctx, t)
	}
}

// runSharedJob waits for a job's turn, runs it, and stores its result.
func (s *Service) runSharedJob(ctx context.Context, t *jobTask) {
	j := &t.job
	if !s.waitTurn(ctx, j) {
		return
	}
	start := time.Now()
	_, t.err = s.apply(j, t.in)
	s.observeStage("store", start)
	s.finishJob(t)
	if s.cfg.Observer != nil {
		s.cfg.Observer.JobFinished(*j, time.Since(t.since))
	}
	if err := s.cfg.Jobs.FinishJob(ctx, *j); err != nil {
		s.log.Error("recording job result", "job_id", j.ID, "err", err)
	} else if t.multi {
		s.importFinished(ctx, j.AccountID, j.ID)
	}
	// The follower brings the job's changes to the engine while the
	// account's next job writes: the two overlap instead of taking turns.
	// Whoever reads the job finished catches up first (Service.Job), so a
	// job still reads completed only once its changes are in the engine
	// that answers.
	if t.err == nil {
		s.nudge(j.AccountID)
	}
}

// waitTurn returns when j stands first among its account's pending jobs,
// or false when it no longer stands at all (failed as abandoned).
func (s *Service) waitTurn(ctx context.Context, j *segmentd.Job) bool {
	for wait := time.Millisecond; ; wait = min(2*wait, 20*time.Millisecond) {
		id, err := s.cfg.Jobs.NextJob(ctx, j.AccountID, time.Now())
		switch {
		case err != nil:
			s.log.Warn("waiting for a job's turn", "job_id", j.ID, "err", err)
		case id == j.ID:
			return true
		case id == "":
			return false
		default:
			if cur, err := s.store.Job(ctx, j.AccountID, j.ID); err == nil && cur.Status != segmentd.JobPending {
				return false
			}
		}
		time.Sleep(wait)
	}
}

// finishJob sets a run job's result from its error, and its status.
func (s *Service) finishJob(t *jobTask) {
	j := &t.job
	if t.err != nil {
		s.log.Error("job failed", "job_id", j.ID, "account", j.AccountID, "type", j.Type, "err", t.err)
	}
	settle(t)
	j.Finish(s.clock.Now())
}

// renewLeases keeps this server's pending jobs its own until ctx ends.
func (s *Service) renewLeases(ctx context.Context) {
	tick := time.NewTicker(jobLease / 3)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := s.cfg.Jobs.RenewJobs(ctx, s.owner, time.Now().Add(jobLease)); err != nil && ctx.Err() == nil {
				s.log.Warn("renewing job leases", "err", err)
			}
		}
	}
}
