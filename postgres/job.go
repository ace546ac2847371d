package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

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
	tag, err := s.db.Exec(ctx, `INSERT INTO jobs (account_id, id, job_type, status, requested, created, updated, deleted,
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
	err := s.db.QueryRow(ctx, `SELECT id, job_type, status, requested, created, updated, deleted, errored, errors,
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

// jobErrors is a job's errors as stored.
func jobErrors(j segmentd.Job) (string, error) {
	if len(j.Errors) == 0 {
		return "[]", nil
	}
	b, err := json.Marshal(j.Errors)
	return string(b), err
}

// AcceptJob implements segmentd.JobQueue: the job's number is the
// account's next, taken under the account's lock (its counter row), so
// numbers follow the order jobs were accepted in. The job's row carries
// its input. The two statements go in one batch, one round trip, and run
// in its implicit transaction.
func (s *Store) AcceptJob(ctx context.Context, j segmentd.Job, input []byte, owner string, lease time.Time) error {
	errs, err := jobErrors(j)
	if err != nil {
		return err
	}
	var b pgx.Batch
	b.Queue(`INSERT INTO account_counters AS c (account_id, name, value) VALUES ($1, 'job', 1)
		ON CONFLICT (account_id, name) DO UPDATE SET value = c.value + 1`, j.AccountID)
	// The number is read back from the counter row by an INSERT … SELECT
	// on the account's shard (Citus takes no subquery in VALUES).
	b.Queue(`INSERT INTO jobs (account_id, id, job_type, status, requested, created, updated, deleted,
		errored, errors, started_at, finished_at, num, owner, lease_until, input)
		SELECT c.account_id, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, c.value, $13, $14, $15
		FROM account_counters c WHERE c.account_id = $1 AND c.name = 'job'`,
		j.AccountID, j.ID, string(j.Type), string(j.Status), j.Requested, j.Created, j.Updated, j.Deleted, j.Errored, errs,
		toMS(j.StartedAt), nullMS(j.FinishedAt), owner, toMS(lease), input)
	return classify(s.pool.SendBatch(ctx, &b).Close())
}

// RenewJobs implements segmentd.JobQueue.
func (s *Store) RenewJobs(ctx context.Context, owner string, lease time.Time) error {
	_, err := s.db.Exec(ctx, "UPDATE jobs SET lease_until = $2 WHERE owner = $1 AND status = 'pending'", owner, toMS(lease))
	return err
}

// NextJob implements segmentd.JobQueue. It only reads.
func (s *Store) NextJob(ctx context.Context, acct int64, now time.Time) (segmentd.QueuedJob, error) {
	q, err := s.NextJobs(ctx, acct, now, 1)
	if err != nil || len(q) == 0 {
		return segmentd.QueuedJob{}, err
	}
	return q[0], nil
}

// NextJobs implements segmentd.JobQueue. It only reads.
func (s *Store) NextJobs(ctx context.Context, acct int64, now time.Time, n int) ([]segmentd.QueuedJob, error) {
	return queryAll(ctx, s.db, func(row pgx.Row) (segmentd.QueuedJob, error) {
		var q segmentd.QueuedJob
		var owner *string
		var lease *int64
		err := row.Scan(&q.ID, &owner, &lease)
		if owner != nil {
			q.Owner = *owner
		}
		q.Lapsed = lease == nil || *lease < toMS(now)
		return q, err
	}, "SELECT id, owner, lease_until FROM jobs WHERE account_id = $1 AND status = 'pending' ORDER BY num LIMIT $2", acct, n)
}

// TakeJob implements segmentd.JobQueue: one conditional UPDATE, which of
// two servers taking the same job only one passes.
func (s *Store) TakeJob(ctx context.Context, acct int64, id, owner string, now, lease time.Time) ([]byte, bool, error) {
	var input []byte
	err := s.db.QueryRow(ctx, `UPDATE jobs SET owner = $3, lease_until = $5
		WHERE account_id = $1 AND id = $2 AND status = 'pending' AND (lease_until IS NULL OR lease_until < $4) RETURNING input`,
		acct, id, owner, toMS(now), toMS(lease)).Scan(&input)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return input, true, nil
}

// LapsedJobs implements segmentd.JobQueue. On Citus it reads every shard:
// it runs once in a lease's third, per server.
func (s *Store) LapsedJobs(ctx context.Context, now time.Time) ([]int64, error) {
	return queryAll(ctx, s.db, func(r pgx.Row) (int64, error) {
		var id int64
		return id, r.Scan(&id)
	}, "SELECT DISTINCT account_id FROM jobs WHERE status = 'pending' AND (lease_until IS NULL OR lease_until < $1) ORDER BY account_id", toMS(now))
}

// FinishJob implements segmentd.JobQueue. The job's input goes with its
// pending state.
func (s *Store) FinishJob(ctx context.Context, j segmentd.Job) error {
	errs, err := jobErrors(j)
	if err != nil {
		return err
	}
	tag, err := s.db.Exec(ctx, `UPDATE jobs SET status = $3, requested = $4, created = $5, updated = $6, deleted = $7, errored = $8,
		errors = $9, started_at = $10, finished_at = $11, owner = NULL, lease_until = NULL, input = NULL
		WHERE account_id = $1 AND id = $2 AND status = 'pending'`,
		j.AccountID, j.ID, string(j.Status), j.Requested, j.Created, j.Updated, j.Deleted, j.Errored, errs, toMS(j.StartedAt), nullMS(j.FinishedAt))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return segmentd.Errorf(segmentd.KindConflict, "id", "job %s is no longer pending", segmentd.Quote(j.ID))
	}
	return nil
}

// Listen implements segmentd.Notifier with LISTEN on the change history's
// channel, on a connection of its own, until ctx ends or the connection
// fails.
func (s *Store) Listen(ctx context.Context, changed func(acct int64)) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return classify(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "LISTEN "+changesChannel); err != nil {
		return classify(err)
	}
	defer func() {
		// The connection goes back to the pool: stop listening first.
		if ctx.Err() == nil {
			_, _ = conn.Exec(context.Background(), "UNLISTEN "+changesChannel)
		} else {
			_ = conn.Conn().Close(context.Background()) // a connection cut mid-wait cannot be reused
		}
	}()
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return classify(err)
		}
		if _, own := s.backends.Load(n.PID); own {
			// This store's own write: the Service that made it brings it
			// to its engine itself (Notifier).
			continue
		}
		if acct, err := strconv.ParseInt(n.Payload, 10, 64); err == nil {
			changed(acct)
		}
	}
}

// Jobs implements segmentd.Store.
func (s *Store) Jobs(ctx context.Context, acct int64, q segmentd.JobsQuery) ([]segmentd.Job, error) {
	if len(q.Types) == 0 || q.Limit <= 0 {
		return nil, nil
	}
	types := make([]string, len(q.Types))
	for i, t := range q.Types {
		types[i] = string(t)
	}
	statuses := make([]string, len(q.Statuses))
	for i, st := range q.Statuses {
		statuses[i] = string(st)
	}
	rows, err := s.db.Query(ctx, `SELECT id, job_type, status, requested, created, updated, deleted, errored, errors,
		started_at, finished_at FROM jobs
		WHERE account_id = $1 AND job_type = ANY($2) AND (cardinality($3::text[]) = 0 OR status = ANY($3))
		  AND ($4 = '' OR started_at < $5 OR (started_at = $5 AND id < $4))
		ORDER BY started_at DESC, id DESC LIMIT $6`, acct, types, statuses, q.BeforeID, toMS(q.Before), q.Limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []segmentd.Job
	for rows.Next() {
		j := segmentd.Job{AccountID: acct}
		var typ, status, errs string
		var started int64
		var finished *int64
		if err := rows.Scan(&j.ID, &typ, &status, &j.Requested, &j.Created, &j.Updated, &j.Deleted, &j.Errored, &errs, &started, &finished); err != nil {
			return nil, err
		}
		j.Type, j.Status, j.StartedAt, j.FinishedAt = segmentd.JobType(typ), segmentd.JobStatus(status), fromMS(started), timeOf(finished)
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
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = string(t)
	}
	tag, err := s.db.Exec(ctx, `DELETE FROM jobs WHERE account_id = $1 AND job_type = ANY($2) AND started_at < $3 AND status <> 'pending'`,
		acct, names, toMS(before))
	if err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}
