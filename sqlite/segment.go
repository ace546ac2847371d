package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
)

var _ segmentd.SegmentStore = (*Store)(nil)

const segmentSelect = `SELECT id, name, query_dsl, query_version, parent_list_ids, created_at, updated_at,
	sample_updated_at, last_refreshed_at, deleted_at FROM segments `

func scanSegment(row rowScanner) (segmentd.Segment, error) {
	var s segmentd.Segment
	var parents string
	var created, updated int64
	var sampled, refreshed, deleted sql.NullInt64
	if err := row.Scan(&s.ID, &s.Name, &s.QueryDSL, &s.QueryVersion, &parents, &created, &updated, &sampled, &refreshed, &deleted); err != nil {
		return s, err
	}
	if err := json.Unmarshal([]byte(parents), &s.ParentListIDs); err != nil {
		return s, err
	}
	s.CreatedAt, s.UpdatedAt = fromMS(created), fromMS(updated)
	if sampled.Valid {
		s.SampleUpdatedAt = fromMS(sampled.Int64)
	}
	if refreshed.Valid {
		s.LastRefreshedAt = fromMS(refreshed.Int64)
	}
	if deleted.Valid {
		s.DeletedAt = fromMS(deleted.Int64)
	}
	return s, nil
}

func nullMS(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return toMS(t)
}

func segmentNotFound(id string) error {
	return notFound("segment_id", "segment %s does not exist", segmentd.Quote(id))
}

// checkSegmentName returns KindConflict when another live segment of the
// account (not except) has name, ignoring case.
func checkSegmentName(ctx context.Context, tx *sql.Tx, acct int64, name, except string) error {
	return checkName(ctx, tx, "segment", name, "SELECT count(*) FROM segments WHERE account_id = ? AND name_key = ? AND id != ? AND deleted_at IS NULL",
		acct, strings.ToLower(name), except)
}

func (s *Store) CreateSegment(ctx context.Context, acct int64, seg segmentd.Segment, maxLive int) (segmentd.Segment, error) {
	seg.CreatedAt, seg.UpdatedAt = msTime(seg.CreatedAt), msTime(seg.UpdatedAt)
	if seg.ParentListIDs == nil {
		seg.ParentListIDs = []string{}
	}
	err := s.catalogTx(ctx, acct, func(tx *sql.Tx) error {
		if err := checkSegmentName(ctx, tx, acct, seg.Name, ""); err != nil {
			return err
		}
		for _, id := range seg.ParentListIDs {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM lists WHERE account_id = ? AND id = ?", acct, id).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return segmentd.ParentListNotFound(id)
			}
		}
		var live int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM segments WHERE account_id = ? AND deleted_at IS NULL", acct).Scan(&live); err != nil {
			return err
		}
		if live >= maxLive {
			return segmentd.Errorf(segmentd.KindInvalid, "", "an account may have at most %d segments", maxLive)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO segments (account_id, id, name, name_key, query_dsl, query_version, parent_list_ids,
			created_at, updated_at, sample_updated_at, last_refreshed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			acct, seg.ID, seg.Name, strings.ToLower(seg.Name), seg.QueryDSL, seg.QueryVersion, jsonStrings(seg.ParentListIDs),
			toMS(seg.CreatedAt), toMS(seg.UpdatedAt), nullMS(seg.SampleUpdatedAt), nullMS(seg.LastRefreshedAt))
		return err
	})
	if err != nil {
		return segmentd.Segment{}, err
	}
	return seg, nil
}

func (s *Store) Segments(ctx context.Context, acct int64) ([]segmentd.Segment, error) {
	return queryAll(ctx, s.read, scanSegment, segmentSelect+"WHERE account_id = ? AND deleted_at IS NULL ORDER BY created_at, id", acct)
}

func (s *Store) Segment(ctx context.Context, acct int64, id string) (segmentd.Segment, error) {
	seg, err := scanSegment(s.reads.QueryRowContext(ctx, segmentSelect+"WHERE account_id = ? AND id = ?", acct, strings.ToLower(id)))
	if errors.Is(err, sql.ErrNoRows) {
		return seg, segmentNotFound(id)
	}
	return seg, err
}

func (s *Store) UpdateSegment(ctx context.Context, acct int64, seg segmentd.Segment) (segmentd.Segment, error) {
	seg.UpdatedAt = msTime(seg.UpdatedAt)
	err := s.catalogTx(ctx, acct, func(tx *sql.Tx) error {
		if err := checkSegmentName(ctx, tx, acct, seg.Name, seg.ID); err != nil {
			return err
		}
		return execOne(ctx, tx, segmentNotFound(seg.ID), `UPDATE segments SET name = ?, name_key = ?, query_dsl = ?, updated_at = ?, sample_updated_at = ?
			WHERE account_id = ? AND id = ? AND deleted_at IS NULL`,
			seg.Name, strings.ToLower(seg.Name), seg.QueryDSL, toMS(seg.UpdatedAt), nullMS(seg.SampleUpdatedAt), acct, seg.ID)
	})
	if err != nil {
		return segmentd.Segment{}, err
	}
	return seg, nil
}

func (s *Store) DeleteSegment(ctx context.Context, acct int64, id string, now time.Time) error {
	return s.catalogTx(ctx, acct, func(tx *sql.Tx) error {
		return execOne(ctx, tx, segmentNotFound(id), "UPDATE segments SET deleted_at = ? WHERE account_id = ? AND id = ? AND deleted_at IS NULL", toMS(now), acct, id)
	})
}

func (s *Store) RecordRefresh(ctx context.Context, acct int64, r segmentd.Refresh, since time.Time, allow func([]segmentd.Refresh) error) error {
	// The single writer holds every account's refreshes for the transaction.
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		past, err := queryAll(ctx, tx, scanRefresh, qRefreshesSince, acct, toMS(since))
		if err != nil {
			return err
		}
		if err := allow(past); err != nil {
			return err
		}
		if err := execOne(ctx, tx, segmentNotFound(r.SegmentID), "UPDATE segments SET last_refreshed_at = ? WHERE account_id = ? AND id = ? AND deleted_at IS NULL", toMS(r.At), acct, r.SegmentID); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO segment_refreshes (account_id, segment_id, at, time_zone) VALUES (?, ?, ?, ?)", acct, r.SegmentID, toMS(r.At), r.TimeZone)
		return err
	})
}

const qRefreshesSince = "SELECT segment_id, at, time_zone FROM segment_refreshes WHERE account_id = ? AND at >= ? ORDER BY at"

func scanRefresh(row rowScanner) (segmentd.Refresh, error) {
	var r segmentd.Refresh
	var at int64
	err := row.Scan(&r.SegmentID, &at, &r.TimeZone)
	r.At = fromMS(at)
	return r, err
}

func (s *Store) Refreshes(ctx context.Context, acct int64, since time.Time) ([]segmentd.Refresh, error) {
	return queryAll(ctx, &s.reads, scanRefresh, qRefreshesSince, acct, toMS(since))
}
