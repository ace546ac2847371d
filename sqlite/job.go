package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
)

// jobArgs returns the stored form of j's mutable columns, in the order
// status, requested, created, updated, deleted, errored, errors, started_at,
// finished_at.
func jobArgs(j segmentd.Job) ([]any, error) {
	errs := "[]"
	if len(j.Errors) > 0 {
		b, err := json.Marshal(j.Errors)
		if err != nil {
			return nil, err
		}
		errs = string(b)
	}
	var finished any
	if !j.FinishedAt.IsZero() {
		finished = toMS(j.FinishedAt)
	}
	return []any{string(j.Status), j.Requested, j.Created, j.Updated, j.Deleted, j.Errored, errs, toMS(j.StartedAt), finished}, nil
}

// The jobs' writes change no contact, so they keep the remembered emails
// (writeTxKeep): the worker's writes between two upserts would otherwise
// forget what the first recorded (docs/sqlite.md, "Matched contacts from
// memory").

// CreateJob stores a new job. An id the account already has is KindConflict.
func (s *Store) CreateJob(ctx context.Context, j segmentd.Job) error {
	if j.ID == "" {
		return segmentd.Errorf(segmentd.KindInvalid, "id", "job id is required")
	}
	args, err := jobArgs(j)
	if err != nil {
		return err
	}
	return s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM jobs WHERE account_id = ? AND id = ?", j.AccountID, j.ID).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return segmentd.Errorf(segmentd.KindConflict, "id", "job %q already exists", j.ID)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO jobs (account_id, id, job_type, status, requested, created, updated, deleted,
			errored, errors, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			append([]any{j.AccountID, j.ID, string(j.Type)}, args...)...)
		return err
	})
}

func (s *Store) Job(ctx context.Context, acct int64, id string) (segmentd.Job, error) {
	j := segmentd.Job{AccountID: acct}
	var typ, status, errs string
	var started int64
	var finished sql.NullInt64
	err := s.read.QueryRowContext(ctx, `SELECT id, job_type, status, requested, created, updated, deleted, errored, errors,
		started_at, finished_at FROM jobs WHERE account_id = ? AND id = ?`, acct, id).
		Scan(&j.ID, &typ, &status, &j.Requested, &j.Created, &j.Updated, &j.Deleted, &j.Errored, &errs, &started, &finished)
	if errors.Is(err, sql.ErrNoRows) {
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
	if finished.Valid {
		j.FinishedAt = fromMS(finished.Int64)
	}
	return j, nil
}

// AcceptJob implements segmentd.JobQueue.
func (s *Store) AcceptJob(ctx context.Context, j segmentd.Job, input []byte, owner string, lease time.Time) error {
	args, err := jobArgs(j)
	if err != nil {
		return err
	}
	return s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		var num int64
		err := tx.QueryRowContext(ctx, `INSERT INTO account_counters (account_id, name, value) VALUES (?, 'job', 1)
			ON CONFLICT (account_id, name) DO UPDATE SET value = value + 1 RETURNING value`, j.AccountID).Scan(&num)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO jobs (account_id, id, job_type, status, requested, created, updated, deleted,
			errored, errors, started_at, finished_at, num, owner, lease_until, input) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			append(append([]any{j.AccountID, j.ID, string(j.Type)}, args...), num, owner, toMS(lease), input)...)
		return err
	})
}

// RenewJobs implements segmentd.JobQueue.
func (s *Store) RenewJobs(ctx context.Context, owner string, lease time.Time) error {
	return s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE jobs SET lease_until = ? WHERE owner = ? AND status = 'pending'", toMS(lease), owner)
		return err
	})
}

// NextJob implements segmentd.JobQueue.
func (s *Store) NextJob(ctx context.Context, acct int64, now time.Time) (segmentd.QueuedJob, error) {
	q, err := s.NextJobs(ctx, acct, now, 1)
	if err != nil || len(q) == 0 {
		return segmentd.QueuedJob{}, err
	}
	return q[0], nil
}

// NextJobs implements segmentd.JobQueue.
func (s *Store) NextJobs(ctx context.Context, acct int64, now time.Time, n int) ([]segmentd.QueuedJob, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT id, owner, lease_until FROM jobs WHERE account_id = ? AND status = 'pending' ORDER BY num LIMIT ?", acct, n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []segmentd.QueuedJob
	for rows.Next() {
		var q segmentd.QueuedJob
		var owner sql.NullString
		var lease sql.NullInt64
		if err := rows.Scan(&q.ID, &owner, &lease); err != nil {
			return nil, err
		}
		q.Owner, q.Lapsed = owner.String, !lease.Valid || lease.Int64 < toMS(now)
		out = append(out, q)
	}
	return out, rows.Err()
}

// TakeJob implements segmentd.JobQueue.
func (s *Store) TakeJob(ctx context.Context, acct int64, id, owner string, now, lease time.Time) ([]byte, bool, error) {
	var input []byte
	taken := false
	err := s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `UPDATE jobs SET owner = ?, lease_until = ?
			WHERE account_id = ? AND id = ? AND status = 'pending' AND (lease_until IS NULL OR lease_until < ?) RETURNING input`,
			owner, toMS(lease), acct, id, toMS(now)).Scan(&input)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		taken = err == nil
		return err
	})
	return input, taken, err
}

// LapsedJobs implements segmentd.JobQueue.
func (s *Store) LapsedJobs(ctx context.Context, now time.Time) ([]int64, error) {
	return queryAll(ctx, s.read, scanInt64,
		"SELECT DISTINCT account_id FROM jobs WHERE status = 'pending' AND (lease_until IS NULL OR lease_until < ?) ORDER BY account_id", toMS(now))
}

// FinishJob implements segmentd.JobQueue. The job's input goes with its
// pending state.
func (s *Store) FinishJob(ctx context.Context, j segmentd.Job) error {
	args, err := jobArgs(j)
	if err != nil {
		return err
	}
	return s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		return execOne(ctx, tx, segmentd.Errorf(segmentd.KindConflict, "id", "job %s is no longer pending", segmentd.Quote(j.ID)),
			`UPDATE jobs SET status = ?, requested = ?, created = ?, updated = ?, deleted = ?, errored = ?, errors = ?, started_at = ?,
			finished_at = ?, owner = NULL, lease_until = NULL, input = NULL WHERE account_id = ? AND id = ? AND status = 'pending'`,
			append(args, j.AccountID, j.ID)...)
	})
}

// Jobs implements segmentd.Store.
func (s *Store) Jobs(ctx context.Context, acct int64, q segmentd.JobsQuery) ([]segmentd.Job, error) {
	if len(q.Types) == 0 || q.Limit <= 0 {
		return nil, nil
	}
	where := "account_id = ? AND job_type IN (?" + strings.Repeat(", ?", len(q.Types)-1) + ")"
	args := []any{acct}
	for _, t := range q.Types {
		args = append(args, string(t))
	}
	if len(q.Statuses) > 0 {
		where += " AND status IN (?" + strings.Repeat(", ?", len(q.Statuses)-1) + ")"
		for _, st := range q.Statuses {
			args = append(args, string(st))
		}
	}
	if q.BeforeID != "" {
		where += " AND (started_at < ? OR (started_at = ? AND id < ?))"
		args = append(args, toMS(q.Before), toMS(q.Before), q.BeforeID)
	}
	rows, err := s.read.QueryContext(ctx, `SELECT id, job_type, status, requested, created, updated, deleted, errored, errors,
		started_at, finished_at FROM jobs WHERE `+where+` ORDER BY started_at DESC, id DESC LIMIT ?`, append(args, q.Limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []segmentd.Job
	for rows.Next() {
		j := segmentd.Job{AccountID: acct}
		var typ, status, errs string
		var started int64
		var finished sql.NullInt64
		if err := rows.Scan(&j.ID, &typ, &status, &j.Requested, &j.Created, &j.Updated, &j.Deleted, &j.Errored, &errs, &started, &finished); err != nil {
			return nil, err
		}
		j.Type, j.Status, j.StartedAt = segmentd.JobType(typ), segmentd.JobStatus(status), fromMS(started)
		if finished.Valid {
			j.FinishedAt = fromMS(finished.Int64)
		}
		if errs != "" && errs != "[]" {
			if err := json.Unmarshal([]byte(errs), &j.Errors); err != nil {
				return nil, fmt.Errorf("job %s: errors: %w", j.ID, err)
			}
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// DeleteJobs implements segmentd.Store.
func (s *Store) DeleteJobs(ctx context.Context, acct int64, types []segmentd.JobType, before time.Time) (int, error) {
	if len(types) == 0 {
		return 0, nil
	}
	args := []any{acct}
	for _, t := range types {
		args = append(args, string(t))
	}
	var n int64
	err := s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM jobs WHERE account_id = ? AND job_type IN (?"+strings.Repeat(", ?", len(types)-1)+
			") AND started_at < ? AND status <> 'pending'", append(args, toMS(before))...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return int(n), err
}
