package segmentd

import (
	"context"
	"slices"
	"time"
)

// JobType is the job_type SendGrid reports for a contacts job.
type JobType string

const (
	JobUpsert JobType = "upsert"
	JobDelete JobType = "delete"
	// JobListDelete is Constant Contact's list_delete activity
	// (DELETE /v3/contact_lists/{id}); SendGrid's face never shows it.
	JobListDelete JobType = "list_delete"
	// JobTagDelete is Constant Contact's tag delete activity
	// (DELETE /v3/contact_tags/{id}).
	JobTagDelete JobType = "tag_delete"

	// Constant Contact's bulk activities (POST /v3/activities/<type>).
	JobCCJSONImport         JobType = "contacts_json_import"
	JobCCFileImport         JobType = "contacts_file_import"
	JobCCAddToLists         JobType = "add_list_memberships"
	JobCCRemoveFromLists    JobType = "remove_list_memberships"
	JobCCContactDelete      JobType = "contact_delete"
	JobCCCustomFieldsDelete JobType = "custom_fields_delete"
	JobCCTagsAdd            JobType = "contacts_taggings_add"
	JobCCTagsRemove         JobType = "contacts_taggings_remove"
	JobCCTagsDelete         JobType = "contacts_tags_delete"
	// JobCCExport is a contact export (POST /v3/activities/contact_exports)
	// read as an activity: exports are kept by ExportStore, not as jobs.
	JobCCExport JobType = "contact_exports"
)

// ActivityTypes are the job types of Constant Contact's activities
// (GET /v3/activities lists them).
var ActivityTypes = []JobType{JobListDelete, JobTagDelete, JobCCJSONImport, JobCCFileImport, JobCCAddToLists,
	JobCCRemoveFromLists, JobCCContactDelete, JobCCCustomFieldsDelete, JobCCTagsAdd, JobCCTagsRemove, JobCCTagsDelete}

// Activity reports whether a job of type t is one of Constant Contact's
// activities rather than a SendGrid contacts job.
func (t JobType) Activity() bool { return slices.Contains(ActivityTypes, t) }

// JobsQuery selects a page of an account's jobs (Store.Jobs), newest
// first.
type JobsQuery struct {
	Types    []JobType   // the job types listed
	Statuses []JobStatus // when not empty, the statuses listed
	// Before, when BeforeID is set, is where the page starts: jobs
	// started before Before, or at Before with an id below BeforeID
	// (the last job of the previous page).
	Before   time.Time
	BeforeID string
	Limit    int
}

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

// JobQueue orders an account's jobs across the servers that share a store
// (a store held by one server needs none: its one job worker orders them).
// A server accepts a job by storing it pending with its input, under the
// account's next job number; it runs the job once every earlier job of the
// account has finished, whichever server accepted that one, and stores the
// result in place of the pending row, which any server's Job then reads.
// A job whose server stopped (its lease ended) is taken over by another
// server, or by the same one started again, which runs it from its stored
// input (docs/jobs.md).
type JobQueue interface {
	// AcceptJob stores j, pending, with its input, owned by owner until
	// lease, numbered after the account's earlier jobs.
	AcceptJob(ctx context.Context, j Job, input []byte, owner string, lease time.Time) error
	// RenewJobs sets the lease of owner's pending jobs to lease (a time
	// already past ends them, for a server that restarted).
	RenewJobs(ctx context.Context, owner string, lease time.Time) error
	// NextJob returns the account's oldest pending job (its ID "" when
	// none is).
	NextJob(ctx context.Context, acct int64, now time.Time) (QueuedJob, error)
	// NextJobs returns the account's n oldest pending jobs, oldest first
	// (fewer when fewer are pending).
	NextJobs(ctx context.Context, acct int64, now time.Time, n int) ([]QueuedJob, error)
	// TakeJob makes the pending job id owner's until lease when its
	// owner's lease ended before now, and returns its input (nil for a job
	// stored without one). ok is false when the job does not stand so (it
	// finished, or another server took it first).
	TakeJob(ctx context.Context, acct int64, id, owner string, now, lease time.Time) (input []byte, ok bool, err error)
	// LapsedJobs returns the accounts with a pending job whose lease ended
	// before now.
	LapsedJobs(ctx context.Context, now time.Time) ([]int64, error)
	// FinishJob stores a finished job in place of its pending row and
	// drops its input; a job that is no longer pending is KindConflict.
	FinishJob(ctx context.Context, j Job) error
}

// QueuedJob is an account's oldest pending job (JobQueue.NextJob).
type QueuedJob struct {
	ID    string
	Owner string // the server that runs it
	// Lapsed: its owner's lease ended; another server may take it.
	Lapsed bool
}

// MsgJobAbandoned is the error of a job that no server can run: it was
// stored without its input (by a version before inputs were stored), and
// its server stopped before running it.
const MsgJobAbandoned = "the server that accepted this job stopped before running it; nothing of it was applied"
