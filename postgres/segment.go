package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

const segmentSelect = `SELECT id, name, query_dsl, query_version, parent_list_ids, created_at, updated_at,
	sample_updated_at, last_refreshed_at, deleted_at FROM segments WHERE account_id = $1 AND `

func scanSegment(row pgx.Row) (segmentd.Segment, error) { return scanSegmentWith(row) }

// scanSegmentWith scans segmentSelect's columns, then into extra the
// columns that follow them.
func scanSegmentWith(row pgx.Row, extra ...any) (segmentd.Segment, error) {
	var s segmentd.Segment
	var parents string
	var created, updated int64
	var sampled, refreshed, deleted *int64
	dest := append([]any{&s.ID, &s.Name, &s.QueryDSL, &s.QueryVersion, &parents, &created, &updated, &sampled, &refreshed, &deleted}, extra...)
	if err := row.Scan(dest...); err != nil {
		return s, err
	}
	if err := json.Unmarshal([]byte(parents), &s.ParentListIDs); err != nil {
		return s, err
	}
	s.CreatedAt, s.UpdatedAt = fromMS(created), fromMS(updated)
	s.SampleUpdatedAt, s.LastRefreshedAt, s.DeletedAt = timeOf(sampled), timeOf(refreshed), timeOf(deleted)
	return s, nil
}

func segmentNotFound(id string) error {
	return notFound("segment_id", "segment %s does not exist", segmentd.Quote(id))
}

// checkSegmentName returns KindConflict when another live segment of the
// account (not except) has name, ignoring case.
func checkSegmentName(ctx context.Context, tx pgx.Tx, acct int64, name, except string) error {
	return checkName(ctx, tx, "segment", name,
		"SELECT EXISTS (SELECT 1 FROM segments WHERE account_id = $1 AND name_key = $2 AND id <> $3 AND deleted_at IS NULL)",
		acct, strings.ToLower(name), except)
}

// CreateSegment counts the live segments under the account lock, so that
// servers creating segments at once stop at maxLive together.
func (s *Store) CreateSegment(ctx context.Context, acct int64, seg segmentd.Segment, maxLive int) (segmentd.Segment, error) {
	seg.CreatedAt, seg.UpdatedAt = msTime(seg.CreatedAt), msTime(seg.UpdatedAt)
	if seg.ParentListIDs == nil {
		seg.ParentListIDs = []string{}
	}
	parents, err := json.Marshal(seg.ParentListIDs)
	if err != nil {
		return segmentd.Segment{}, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := recordCatalogChange(ctx, tx, acct); err != nil {
			return err
		}
		if err := checkSegmentName(ctx, tx, acct, seg.Name, ""); err != nil {
			return err
		}
		for _, id := range seg.ParentListIDs {
			var ok bool
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM lists WHERE account_id = $1 AND id = $2)", acct, id).Scan(&ok); err != nil {
				return err
			}
			if !ok {
				return segmentd.ParentListNotFound(id)
			}
		}
		var live int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM segments WHERE account_id = $1 AND deleted_at IS NULL", acct).Scan(&live); err != nil {
			return err
		}
		if live >= maxLive {
			return segmentd.Errorf(segmentd.KindInvalid, "", "an account may have at most %d segments", maxLive)
		}
		_, err := tx.Exec(ctx, `INSERT INTO segments (account_id, id, name, name_key, query_dsl, query_version, parent_list_ids,
			created_at, updated_at, sample_updated_at, last_refreshed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			acct, seg.ID, seg.Name, strings.ToLower(seg.Name), seg.QueryDSL, seg.QueryVersion, string(parents),
			toMS(seg.CreatedAt), toMS(seg.UpdatedAt), nullMS(seg.SampleUpdatedAt), nullMS(seg.LastRefreshedAt))
		return err
	})
	if isUniqueViolation(err) {
		return segmentd.Segment{}, segmentd.Errorf(segmentd.KindConflict, "id", "segment %s already exists", segmentd.Quote(seg.ID))
	}
	if err != nil {
		return segmentd.Segment{}, err
	}
	return seg, nil
}

func (s *Store) Segments(ctx context.Context, acct int64) ([]segmentd.Segment, error) {
	return queryAll(ctx, s.db, scanSegment, segmentSelect+"deleted_at IS NULL ORDER BY created_at, id", acct)
}

func (s *Store) Segment(ctx context.Context, acct int64, id string) (segmentd.Segment, error) {
	seg, err := scanSegment(s.db.QueryRow(ctx, segmentSelect+"id = $2", acct, strings.ToLower(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return seg, segmentNotFound(id)
	}
	return seg, err
}

var _ segmentd.SegmentRefreshReader = (*Store)(nil)

// qSegmentWithRefreshes is segmentSelect's row and the segment's refreshes
// since $3 as two arrays in the same order (time, then zone, so that equal
// times pair up alike), in one statement routed to the account's node.
const qSegmentWithRefreshes = `SELECT id, name, query_dsl, query_version, parent_list_ids, created_at, updated_at,
	sample_updated_at, last_refreshed_at, deleted_at,
	ARRAY(SELECT r.at FROM segment_refreshes r WHERE r.account_id = $1 AND r.segment_id = $2 AND r.at >= $3 ORDER BY r.at, r.time_zone),
	ARRAY(SELECT r.time_zone FROM segment_refreshes r WHERE r.account_id = $1 AND r.segment_id = $2 AND r.at >= $3 ORDER BY r.at, r.time_zone)
	FROM segments WHERE account_id = $1 AND id = $2`

// SegmentWithRefreshes implements segmentd.SegmentRefreshReader: Segment
// and the segment's own Refreshes in one round trip (docs/postgres.md,
// "Segment GET on a database").
func (s *Store) SegmentWithRefreshes(ctx context.Context, acct int64, id string, since time.Time) (segmentd.Segment, []segmentd.Refresh, error) {
	var ats []int64
	var zones []string
	seg, err := scanSegmentWith(s.db.QueryRow(ctx, qSegmentWithRefreshes, acct, strings.ToLower(id), toMS(since)), &ats, &zones)
	if errors.Is(err, pgx.ErrNoRows) {
		return seg, nil, segmentNotFound(id)
	}
	if err != nil {
		return seg, nil, err
	}
	if len(ats) != len(zones) {
		return seg, nil, fmt.Errorf("segment %s: %d refresh times against %d zones", seg.ID, len(ats), len(zones))
	}
	var past []segmentd.Refresh
	for i, at := range ats {
		past = append(past, segmentd.Refresh{SegmentID: seg.ID, At: fromMS(at), TimeZone: zones[i]})
	}
	return seg, past, nil
}

func (s *Store) UpdateSegment(ctx context.Context, acct int64, seg segmentd.Segment) (segmentd.Segment, error) {
	seg.UpdatedAt = msTime(seg.UpdatedAt)
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := recordCatalogChange(ctx, tx, acct); err != nil {
			return err
		}
		if err := checkSegmentName(ctx, tx, acct, seg.Name, seg.ID); err != nil {
			return err
		}
		return execOne(ctx, tx, segmentNotFound(seg.ID), `UPDATE segments SET name = $3, name_key = $4, query_dsl = $5, updated_at = $6,
			sample_updated_at = $7 WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL`,
			acct, seg.ID, seg.Name, strings.ToLower(seg.Name), seg.QueryDSL, toMS(seg.UpdatedAt), nullMS(seg.SampleUpdatedAt))
	})
	if isUniqueViolation(err) {
		return segmentd.Segment{}, nameTaken("segment", seg.Name)
	}
	if err != nil {
		return segmentd.Segment{}, err
	}
	return seg, nil
}

func (s *Store) DeleteSegment(ctx context.Context, acct int64, id string, now time.Time) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := recordCatalogChange(ctx, tx, acct); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, "UPDATE segments SET deleted_at = $3 WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL", acct, id, toMS(now))
		if err == nil && tag.RowsAffected() == 0 {
			err = segmentNotFound(id)
		}
		return err
	})
}

// RecordRefresh reads the account's past refreshes under the account
// lock, so that two servers refreshing at once cannot both pass a limit:
// the second reads the first's refresh.
func (s *Store) RecordRefresh(ctx context.Context, acct int64, r segmentd.Refresh, since time.Time, allow func([]segmentd.Refresh) error) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, acct); err != nil {
			return err
		}
		past, err := queryAll(ctx, tx, scanRefresh, qRefreshesSince, acct, toMS(since))
		if err != nil {
			return err
		}
		if err := allow(past); err != nil {
			return err
		}
		if err := execOne(ctx, tx, segmentNotFound(r.SegmentID), "UPDATE segments SET last_refreshed_at = $3 WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL",
			acct, r.SegmentID, toMS(r.At)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "INSERT INTO segment_refreshes (account_id, segment_id, at, time_zone) VALUES ($1, $2, $3, $4)", acct, r.SegmentID, toMS(r.At), r.TimeZone)
		return err
	})
}

const qRefreshesSince = "SELECT segment_id, at, time_zone FROM segment_refreshes WHERE account_id = $1 AND at >= $2 ORDER BY at"

func scanRefresh(row pgx.Row) (segmentd.Refresh, error) {
	var r segmentd.Refresh
	var at int64
	err := row.Scan(&r.SegmentID, &at, &r.TimeZone)
	r.At = fromMS(at)
	return r, err
}

func (s *Store) Refreshes(ctx context.Context, acct int64, since time.Time) ([]segmentd.Refresh, error) {
	return queryAll(ctx, s.db, scanRefresh, qRefreshesSince, acct, toMS(since))
}
