package audience

// QueuedJobs returns how many tasks wait in s's queues, not yet taken by
// the worker: the tests wait for it instead of sleeping.
func QueuedJobs(s *Service) int { return s.backlog.queued() }
