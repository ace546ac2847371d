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
