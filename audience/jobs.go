package audience

import (
	"context"

	"github.com/segmentd/segmentd"
)

// jobTask is a queued job. Jobs run in two stages, each one job at a time
// in submission order: write commits the job's store transaction; then
// publish passes what changed to the engine and the job is completed. The
// engine work of one job overlaps the next job's transaction.
type jobTask struct {
	job     segmentd.Job
	write   func(*segmentd.Job) (publish func(), err error)
	publish func()
	err     error
	// wait, when set, makes this an internal task (no job record): its
	// caller waits for it on this channel (see run).
	wait chan error
	// events, when set, makes this an event batch (AddEvents), written by
	// writeEvents instead of write.
	events *eventsJob
	// sharedExempt runs publish even in a shared store: the task is not a
	// write of one account (the engine snapshot's).
	sharedExempt bool
}

func (s *Service) write() {
	defer close(s.finish)
	var next *jobTask // taken from the queue but not yet run
	for open := true; open || next != nil; {
		t := next
		if t == nil {
			if t, open = <-s.queue; !open {
				return
			}
		}
		if t.events == nil {
			next = nil
			t.publish, t.err = t.write(&t.job)
			s.finish <- t
			continue
		}
		var group []*jobTask
		var closed bool
		group, next, closed = s.gatherEvents(t)
		open = open && !closed
		s.writeEvents(group)
		for _, g := range group {
			s.finish <- g
		}
	}
}

// gatherEvents returns event batch t with the batches of its account
// already queued behind it, up to the first other task (next, taken from
// the queue) or maxGroupedEvents; closed reports that the queue was found
// closed.
func (s *Service) gatherEvents(t *jobTask) (group []*jobTask, next *jobTask, closed bool) {
	group = []*jobTask{t}
	for n := len(t.events.evs); n < maxGroupedEvents; {
		select {
		case u, ok := <-s.queue:
			if !ok {
				return group, nil, true
			}
			if u.events == nil || u.events.acct != t.events.acct {
				return group, u, false
			}
			group = append(group, u)
			n += len(u.events.evs)
		default:
			return group, nil, false
		}
	}
	return group, nil, false
}

func (s *Service) complete() {
	defer close(s.done)
	for t := range s.finish {
		if t.wait != nil {
			if t.err == nil {
				t.err = s.reflectTask(t)
			}
			t.wait <- t.err
			continue
		}
		j := &t.job
		if t.err == nil {
			if err := s.reflectTask(t); err != nil {
				// The write committed; a shared store's history brings it
				// to the engine at the next catch-up.
				s.log.Error("bringing a job's changes to the engine", "job_id", j.ID, "account", j.AccountID, "err", err)
			}
		}
		s.finishJob(t)
		// Reads see the result at once; the row follows, so that writing it
		// never holds up the reader waiting for the store's writer.
		s.pendingMu.Lock()
		final := *j
		s.pending[j.ID] = &final
		s.pendingMu.Unlock()
		if err := s.store.CreateJob(context.Background(), final); err != nil {
			s.log.Error("recording job result", "job_id", j.ID, "err", err)
		}
		s.pendingMu.Lock()
		delete(s.pending, j.ID)
		s.pendingMu.Unlock()
	}
}

// submit queues a job and returns its id at once. A job lives in memory
// until it has finished: it reads completed only after its transaction has
// committed and the engine has taken its changes; its row is written then.
// Acknowledging a request never waits for the store's single writer (which
// the running job holds). A job lost to a crash before it finished is
// unknown after the restart, and none of its writes were acknowledged.
func (s *Service) submit(ctx context.Context, acct int64, t segmentd.JobType, requested int, write func(*segmentd.Job) (publish func(), err error)) (string, error) {
	task := &jobTask{job: segmentd.Job{ID: segmentd.NewID(), AccountID: acct, Type: t, Status: segmentd.JobPending, Requested: requested, StartedAt: s.clock.Now()}, write: write}
	if s.cfg.Jobs != nil {
		return s.submitShared(ctx, task)
	}
	pending := task.job
	s.pendingMu.Lock()
	s.pending[pending.ID] = &pending
	s.pendingMu.Unlock()
	select {
	case s.queue <- task:
	case <-ctx.Done():
		s.pendingMu.Lock()
		delete(s.pending, pending.ID)
		s.pendingMu.Unlock()
		return "", ctx.Err()
	}
	return pending.ID, nil
}

// Job returns a job by id, pending or finished.
func (s *Service) Job(ctx context.Context, acct int64, id string) (segmentd.Job, error) {
	if s.cfg.Jobs != nil {
		// The store has every server's jobs. Before a finished one is
		// answered, this server's engine catches up with it.
		j, err := s.store.Job(ctx, acct, id)
		if err == nil && j.Status != segmentd.JobPending {
			err = s.sync(ctx, acct)
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
// its engine stage, after the jobs queued before it, and waits for both.
func (s *Service) onWorker(ctx context.Context, write func() (publish func(), err error)) error {
	return s.run(ctx, &jobTask{write: func(*segmentd.Job) (func(), error) { return write() }, wait: make(chan error, 1), sharedExempt: true})
}

// run queues an internal task and waits for both its stages.
func (s *Service) run(ctx context.Context, t *jobTask) error {
	select {
	case s.queue <- t:
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-t.wait
}

// reflectTask makes the engine reflect a task whose write committed: its
// publish stage in a store of its own, a catch-up of its account in a
// shared store.
func (s *Service) reflectTask(t *jobTask) error {
	acct := t.job.AccountID
	if t.events != nil {
		if t.publish == nil {
			return nil // a later batch of a group: the first one's update covers it
		}
		acct = t.events.acct
	}
	if t.sharedExempt {
		if t.publish != nil {
			t.publish()
		}
		return nil
	}
	return s.reflect(context.Background(), acct, t.publish)
}
