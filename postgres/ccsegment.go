package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

const ccSegmentSelect = `SELECT segment_id, name, criteria, created_at, edited_at, deleted_at FROM cc_segments WHERE account_id = $1 AND `

func scanCCSegment(row pgx.Row) (segmentd.CCSegment, error) {
	var s segmentd.CCSegment
	var created, edited int64
	var deleted *int64
	if err := row.Scan(&s.ID, &s.Name, &s.Criteria, &created, &edited, &deleted); err != nil {
		return s, err
	}
	s.CreatedAt, s.EditedAt, s.DeletedAt = fromMS(created), fromMS(edited), timeOf(deleted)
	return s, nil
}

// checkCCSegmentName returns KindConflict when another live segment of the
// account (not except) has name, ignoring case.
func checkCCSegmentName(ctx context.Context, tx pgx.Tx, acct int64, name string, except int64) error {
	return checkName(ctx, tx, "segment", name,
		"SELECT EXISTS (SELECT 1 FROM cc_segments WHERE account_id = $1 AND name_key = $2 AND segment_id <> $3 AND deleted_at IS NULL)",
		acct, strings.ToLower(name), except)
}

func ccNotFound(id int64) error {
	return notFound("segment_id", "segment %d does not exist", id)
}

// CreateCCSegment counts the live segments and takes the next id under
// the account lock, so that servers creating segments at once neither pass
// maxLive nor give one id twice.
func (s *Store) CreateCCSegment(ctx context.Context, acct int64, seg segmentd.CCSegment, maxLive int) (segmentd.CCSegment, error) {
	seg.CreatedAt, seg.EditedAt, seg.DeletedAt = msTime(seg.CreatedAt), msTime(seg.EditedAt), time.Time{}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := recordCatalogChange(ctx, tx, acct); err != nil {
			return err
		}
		if err := checkCCSegmentName(ctx, tx, acct, seg.Name, 0); err != nil {
			return err
		}
		var live int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM cc_segments WHERE account_id = $1 AND deleted_at IS NULL", acct).Scan(&live); err != nil {
			return err
		}
		if live >= maxLive {
			return segmentd.Errorf(segmentd.KindInvalid, "", "an account may have at most %d segments", maxLive)
		}
		// Deleted segments keep their rows, so the maximum never falls and
		// an id is never given twice.
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(segment_id), 0) + 1 FROM cc_segments WHERE account_id = $1", acct).Scan(&seg.ID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO cc_segments (account_id, segment_id, name, name_key, criteria, created_at, edited_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			acct, seg.ID, seg.Name, strings.ToLower(seg.Name), seg.Criteria, toMS(seg.CreatedAt), toMS(seg.EditedAt))
		return err
	})
	if isUniqueViolation(err) {
		return segmentd.CCSegment{}, nameTaken("segment", seg.Name)
	}
	if err != nil {
		return segmentd.CCSegment{}, err
	}
	return seg, nil
}

func (s *Store) CCSegments(ctx context.Context, acct int64, p segmentd.CCSegmentPage) ([]segmentd.CCSegment, error) {
	where := "deleted_at IS NULL "
	args := []any{acct}
	var order string
	switch p.Order {
	case segmentd.CCByName:
		order = "ORDER BY name_key, segment_id"
		if a := p.After; a != nil {
			where += "AND (name_key, segment_id) > ($2, $3) "
			args = append(args, strings.ToLower(a.Name), a.ID)
		}
	default:
		order = "ORDER BY edited_at DESC, segment_id DESC"
		if a := p.After; a != nil {
			where += "AND (edited_at, segment_id) < ($2, $3) "
			args = append(args, toMS(a.EditedAt), a.ID)
		}
	}
	q := ccSegmentSelect + where + order
	if p.Limit > 0 {
		q += " LIMIT $" + strconv.Itoa(len(args)+1)
		args = append(args, p.Limit)
	}
	return queryAll(ctx, s.db, scanCCSegment, q, args...)
}

func (s *Store) CCSegment(ctx context.Context, acct int64, id int64) (segmentd.CCSegment, error) {
	seg, err := scanCCSegment(s.db.QueryRow(ctx, ccSegmentSelect+"segment_id = $2", acct, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return seg, ccNotFound(id)
	}
	return seg, err
}

func (s *Store) UpdateCCSegment(ctx context.Context, acct int64, seg segmentd.CCSegment) (segmentd.CCSegment, error) {
	var out segmentd.CCSegment
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := recordCatalogChange(ctx, tx, acct); err != nil {
			return err
		}
		if err := checkCCSegmentName(ctx, tx, acct, seg.Name, seg.ID); err != nil {
			return err
		}
		// RETURNING reads back created_at as stored, whatever the caller passed.
		var err error
		out, err = scanCCSegment(tx.QueryRow(ctx, `UPDATE cc_segments SET name = $3, name_key = $4, criteria = $5, edited_at = $6
			WHERE account_id = $1 AND segment_id = $2 AND deleted_at IS NULL
			RETURNING segment_id, name, criteria, created_at, edited_at, deleted_at`,
			acct, seg.ID, seg.Name, strings.ToLower(seg.Name), seg.Criteria, toMS(seg.EditedAt)))
		if errors.Is(err, pgx.ErrNoRows) {
			return ccNotFound(seg.ID)
		}
		return err
	})
	if isUniqueViolation(err) {
		return segmentd.CCSegment{}, nameTaken("segment", seg.Name)
	}
	if err != nil {
		return segmentd.CCSegment{}, err
	}
	return out, nil
}

func (s *Store) DeleteCCSegment(ctx context.Context, acct int64, id int64, now time.Time) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := recordCatalogChange(ctx, tx, acct); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, "UPDATE cc_segments SET deleted_at = $3 WHERE account_id = $1 AND segment_id = $2 AND deleted_at IS NULL", acct, id, toMS(now))
		if err == nil && tag.RowsAffected() == 0 {
			err = ccNotFound(id)
		}
		return err
	})
}
