package audience

// QueuedJobs returns how many tasks wait in s's queues, not yet taken by
// the worker: the tests wait for it instead of sleeping.
func QueuedJobs(s *Service) int { return s.backlog.queued() }

// YieldsWaiting returns how many of s's stages wait at a yield point for
// the requests being accepted.
func YieldsWaiting(s *Service) int {
	s.accepts.mu.Lock()
	defer s.accepts.mu.Unlock()
	return s.accepts.waiting
}

// InputReadAhead reports whether the input of job id, queued in s's
// backlog, has been read back from the journal.
func InputReadAhead(s *Service, id string) bool {
	s.backlog.mu.Lock()
	defer s.backlog.mu.Unlock()
	for _, a := range s.backlog.accts {
		for _, t := range a.jobs {
			if t.job.ID == id {
				return t.read.done.Load()
			}
		}
	}
	return false
}
