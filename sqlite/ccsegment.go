package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
)

var _ segmentd.CCSegmentStore = (*Store)(nil)

const ccSegmentSelect = `SELECT segment_id, name, criteria, created_at, edited_at, deleted_at FROM cc_segments `

func scanCCSegment(row rowScanner) (segmentd.CCSegment, error) {
	var s segmentd.CCSegment
	var created, edited int64
	var deleted sql.NullInt64
	if err := row.Scan(&s.ID, &s.Name, &s.Criteria, &created, &edited, &deleted); err != nil {
		return s, err
	}
	s.CreatedAt, s.EditedAt = fromMS(created), fromMS(edited)
	if deleted.Valid {
		s.DeletedAt = fromMS(deleted.Int64)
	}
	return s, nil
}

// checkCCSegmentName returns KindConflict when another live segment of the
// account (not except) has name, ignoring case.
func checkCCSegmentName(ctx context.Context, tx *sql.Tx, acct int64, name string, except int64) error {
	return checkName(ctx, tx, "segment", name, "SELECT count(*) FROM cc_segments WHERE account_id = ? AND name_key = ? AND segment_id != ? AND deleted_at IS NULL",
		acct, strings.ToLower(name), except)
}

func ccNotFound(id int64) error {
	return notFound("segment_id", "segment %d does not exist", id)
}

func (s *Store) CreateCCSegment(ctx context.Context, acct int64, seg segmentd.CCSegment, maxLive int) (segmentd.CCSegment, error) {
	seg.CreatedAt, seg.EditedAt, seg.DeletedAt = msTime(seg.CreatedAt), msTime(seg.EditedAt), time.Time{}
	err := s.catalogTx(ctx, acct, func(tx *sql.Tx) error {
		if err := checkCCSegmentName(ctx, tx, acct, seg.Name, 0); err != nil {
			return err
		}
		var live int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM cc_segments WHERE account_id = ? AND deleted_at IS NULL", acct).Scan(&live); err != nil {
			return err
		}
		if live >= maxLive {
			return segmentd.Errorf(segmentd.KindInvalid, "", "an account may have at most %d segments", maxLive)
		}
		// Deleted segments keep their rows, so the maximum never falls and
		// an id is never given twice.
		if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(segment_id), 0) + 1 FROM cc_segments WHERE account_id = ?", acct).Scan(&seg.ID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO cc_segments (account_id, segment_id, name, name_key, criteria, created_at, edited_at)
			VALUES (?, ?, ?, ?, ?, ?, ?)`,
			acct, seg.ID, seg.Name, strings.ToLower(seg.Name), seg.Criteria, toMS(seg.CreatedAt), toMS(seg.EditedAt))
		return err
	})
	if err != nil {
		return segmentd.CCSegment{}, err
	}
	return seg, nil
}

func (s *Store) CCSegments(ctx context.Context, acct int64, p segmentd.CCSegmentPage) ([]segmentd.CCSegment, error) {
	where := "WHERE account_id = ? AND deleted_at IS NULL "
	args := []any{acct}
	var order string
	switch p.Order {
	case segmentd.CCByName:
		order = "ORDER BY name_key, segment_id"
		if a := p.After; a != nil {
			where += "AND (name_key > ? OR name_key = ? AND segment_id > ?) "
			k := strings.ToLower(a.Name)
			args = append(args, k, k, a.ID)
		}
	default:
		order = "ORDER BY edited_at DESC, segment_id DESC"
		if a := p.After; a != nil {
			where += "AND (edited_at < ? OR edited_at = ? AND segment_id < ?) "
			ms := toMS(a.EditedAt)
			args = append(args, ms, ms, a.ID)
		}
	}
	q := ccSegmentSelect + where + order
	if p.Limit > 0 {
		q += " LIMIT ?"
		args = append(args, p.Limit)
	}
	return queryAll(ctx, s.read, scanCCSegment, q, args...)
}

func (s *Store) CCSegment(ctx context.Context, acct int64, id int64) (segmentd.CCSegment, error) {
	seg, err := scanCCSegment(s.read.QueryRowContext(ctx, ccSegmentSelect+"WHERE account_id = ? AND segment_id = ?", acct, id))
	if errors.Is(err, sql.ErrNoRows) {
		return seg, ccNotFound(id)
	}
	return seg, err
}

func (s *Store) UpdateCCSegment(ctx context.Context, acct int64, seg segmentd.CCSegment) (segmentd.CCSegment, error) {
	var out segmentd.CCSegment
	err := s.catalogTx(ctx, acct, func(tx *sql.Tx) error {
		if err := checkCCSegmentName(ctx, tx, acct, seg.Name, seg.ID); err != nil {
			return err
		}
		if err := execOne(ctx, tx, ccNotFound(seg.ID), "UPDATE cc_segments SET name = ?, name_key = ?, criteria = ?, edited_at = ? WHERE account_id = ? AND segment_id = ? AND deleted_at IS NULL",
			seg.Name, strings.ToLower(seg.Name), seg.Criteria, toMS(seg.EditedAt), acct, seg.ID); err != nil {
			return err
		}
		// Read back so that created_at is the stored one whatever the caller passed.
		var err error
		out, err = scanCCSegment(tx.QueryRowContext(ctx, ccSegmentSelect+"WHERE account_id = ? AND segment_id = ?", acct, seg.ID))
		return err
	})
	if err != nil {
		return segmentd.CCSegment{}, err
	}
	return out, nil
}

func (s *Store) DeleteCCSegment(ctx context.Context, acct int64, id int64, now time.Time) error {
	return s.catalogTx(ctx, acct, func(tx *sql.Tx) error {
		return execOne(ctx, tx, ccNotFound(id), "UPDATE cc_segments SET deleted_at = ? WHERE account_id = ? AND segment_id = ? AND deleted_at IS NULL", toMS(now), acct, id)
	})
}
