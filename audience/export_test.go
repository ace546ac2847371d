package audience

// QueuedJobs returns how many jobs wait in s's queue, not yet taken by the
// worker: the tests wait for it instead of sleeping.
func QueuedJobs(s *Service) int { return len(s.queue) }
