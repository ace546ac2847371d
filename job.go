package segmentd

import "time"

// JobType is the job_type SendGrid reports for a contacts job.
type JobType string

const (
	JobUpsert JobType = "upsert"
	JobDelete JobType = "delete"
)

// JobStatus is SendGrid's import/upsert job status.
type JobStatus string

const (
	JobPending   JobStatus = "pending"
	JobCompleted JobStatus = "completed" // finished with no errors
	JobErrored   JobStatus = "errored"   // finished with some errors
	JobFailed    JobStatus = "failed"    // every item failed, or the job could not run
)

// Job is an asynchronous contacts job (upsert, delete, list delete with
// contacts, removal from a list, identifier delete), polled at
// GET /v3/marketing/contacts/imports/{id}.
type Job struct {
	ID         string
	AccountID  int64
	Type       JobType
	Status     JobStatus
	Requested  int
	Created    int
	Updated    int
	Deleted    int
	Errored    int
	Errors     []JobError
	StartedAt  time.Time
	FinishedAt time.Time // zero while pending
}

// JobError is one item's failure inside a job.
type JobError struct {
	Index   int    `json:"index"` // position in the request, -1 when not about one item
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// MaxJobErrors bounds the per-item errors a job keeps.
const MaxJobErrors = 1000

// Finish sets the job's final status from its counts.
func (j *Job) Finish(now time.Time) {
	j.FinishedAt = now
	switch {
	case j.Errored == 0:
		j.Status = JobCompleted
	case j.Errored >= j.Requested:
		j.Status = JobFailed
	default:
		j.Status = JobErrored
	}
}
