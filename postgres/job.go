package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

// CreateJob stores a finished job. An id the account already has is
// KindConflict: the primary key refuses it (ON CONFLICT DO NOTHING, then
// no row inserted), so two servers cannot both store one id.
func (s *Store) CreateJob(ctx context.Context, j segmentd.Job) error {
	if j.ID == "" {
		return segmentd.Errorf(segmentd.KindInvalid, "id", "job id is required")
	}
	errs := "[]"
	if len(j.Errors) > 0 {
		b, err := json.Marshal(j.Errors)
		if err != nil {
			return err
		}
		errs = string(b)
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO jobs (account_id, id, job_type, status, requested, created, updated, deleted,
		errored, errors, started_at, finished_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT DO NOTHING`,
		j.AccountID, j.ID, string(j.Type), string(j.Status), j.Requested, j.Created, j.Updated, j.Deleted, j.Errored, errs,
		toMS(j.StartedAt), nullMS(j.FinishedAt))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return segmentd.Errorf(segmentd.KindConflict, "id", "job %q already exists", j.ID)
	}
	return nil
}

func (s *Store) Job(ctx context.Context, acct int64, id string) (segmentd.Job, error) {
	j := segmentd.Job{AccountID: acct}
	var typ, status, errs string
	var started int64
	var finished *int64
	err := s.pool.QueryRow(ctx, `SELECT id, job_type, status, requested, created, updated, deleted, errored, errors,
		started_at, finished_at FROM jobs WHERE account_id = $1 AND id = $2`, acct, id).
		Scan(&j.ID, &typ, &status, &j.Requested, &j.Created, &j.Updated, &j.Deleted, &j.Errored, &errs, &started, &finished)
	if errors.Is(err, pgx.ErrNoRows) {
		return segmentd.Job{}, notFound("id", "job %s does not exist", segmentd.Quote(id))
	}
	if err != nil {
		return segmentd.Job{}, err
	}
	j.Type = segmentd.JobType(typ)
	j.Status = segmentd.JobStatus(status)
	if errs != "" && errs != "[]" {
		if err := json.Unmarshal([]byte(errs), &j.Errors); err != nil {
			return segmentd.Job{}, fmt.Errorf("job %s: errors: %w", id, err)
		}
	}
	j.StartedAt = fromMS(started)
	j.FinishedAt = timeOf(finished)
	return j, nil
}
