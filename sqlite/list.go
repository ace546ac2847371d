package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
)

// listSelect selects a list; append a WHERE clause. It does not count the
// list's contacts (ContactCount is the Service's, from the engine, and
// CountListMembers the store's): a count reads every membership.
const listSelect = `SELECT l.id, l.name, l.description, l.favorite, l.created_at, l.updated_at FROM lists l `

func scanList(row rowScanner) (segmentd.List, error) {
	var l segmentd.List
	var created, updated int64
	if err := row.Scan(&l.ID, &l.Name, &l.Description, &l.Favorite, &created, &updated); err != nil {
		return l, err
	}
	l.CreatedAt = fromMS(created)
	l.UpdatedAt = fromMS(updated)
	return l, nil
}

func getList(ctx context.Context, q queryer, acct int64, id string) (segmentd.List, error) {
	l, err := scanList(q.QueryRowContext(ctx, listSelect+"WHERE l.account_id = ? AND l.id = ?", acct, id))
	if errors.Is(err, sql.ErrNoRows) {
		return l, notFound("id", "list %s does not exist", segmentd.Quote(id))
	}
	return l, err
}

// qNextListNum numbers a new list of the account ?1: one more than its
// greatest (lists_num). A number is given again only after the list that
// had it was deleted, and with it its memberships (deleteList).
const qNextListNum = "(SELECT coalesce(max(num), 0) + 1 FROM lists WHERE account_id = ?1)"

// checkListName returns KindConflict when another list of the account (not
// except) has name, ignoring case.
func checkListName(ctx context.Context, tx *sql.Tx, acct int64, name, except string) error {
	return checkName(ctx, tx, "list", name, "SELECT count(*) FROM lists WHERE account_id = ? AND name_key = ? AND id != ?",
		acct, strings.ToLower(name), except)
}

func (s *Store) CreateList(ctx context.Context, acct int64, name string, now time.Time) (segmentd.List, error) {
	return s.CreateListWith(ctx, acct, segmentd.List{Name: name}, 0, now)
}

// CreateListWith implements segmentd.Store (max 0: no bound).
func (s *Store) CreateListWith(ctx context.Context, acct int64, in segmentd.List, max int, now time.Time) (segmentd.List, error) {
	now = msTime(now)
	l := segmentd.List{ID: segmentd.NewID(), Name: in.Name, Description: in.Description, Favorite: in.Favorite, CreatedAt: now, UpdatedAt: now}
	err := s.writeTxKeep(ctx, true, func(tx *sql.Tx) error { // no contact changes
		if max > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM lists WHERE account_id = ?", acct).Scan(&n); err != nil {
				return err
			}
			if n >= max {
				return segmentd.Errorf(segmentd.KindInvalid, "", "the account already has the maximum of %d lists", max)
			}
		}
		if err := checkListName(ctx, tx, acct, l.Name, ""); err != nil {
			return err
		}
		// list_members names the list by its number (qNextListNum).
		_, err := tx.ExecContext(ctx, "INSERT INTO lists (account_id, id, num, name, name_key, description, favorite, created_at, updated_at) VALUES (?1, ?2, "+
			qNextListNum+", ?3, ?4, ?5, ?6, ?7, ?7)",
			acct, l.ID, l.Name, strings.ToLower(l.Name), l.Description, l.Favorite, toMS(now))
		return err
	})
	if err != nil {
		return segmentd.List{}, err
	}
	return l, nil
}

func (s *Store) Lists(ctx context.Context, acct int64, afterID string, limit int) ([]segmentd.List, error) {
	if limit <= 0 {
		return nil, nil
	}
	return queryAll(ctx, s.read, scanList, listSelect+"WHERE l.account_id = ? AND l.id > ? ORDER BY l.id LIMIT ?", acct, afterID, limit)
}

func (s *Store) CountLists(ctx context.Context, acct int64) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM lists WHERE account_id = ?", acct).Scan(&n)
	return n, err
}

func (s *Store) List(ctx context.Context, acct int64, id string) (segmentd.List, error) {
	return getList(ctx, &s.reads, acct, id)
}

// CountListMembers counts a list's contacts (0 for a list that does not
// exist).
func (s *Store) CountListMembers(ctx context.Context, acct int64, id string) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, qCountListMembers, acct, id).Scan(&n)
	return n, err
}

func (s *Store) RenameList(ctx context.Context, acct int64, id, name string, now time.Time) (segmentd.List, error) {
	return s.updateList(ctx, acct, segmentd.List{ID: id, Name: name}, false, now)
}

// UpdateList implements segmentd.Store.
func (s *Store) UpdateList(ctx context.Context, acct int64, l segmentd.List, now time.Time) (segmentd.List, error) {
	return s.updateList(ctx, acct, l, true, now)
}

// updateList sets a list's name, and with details its description and
// favorite flag.
func (s *Store) updateList(ctx context.Context, acct int64, in segmentd.List, details bool, now time.Time) (segmentd.List, error) {
	var l segmentd.List
	id, name := in.ID, in.Name
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		cur, err := getList(ctx, tx, acct, id)
		if err != nil {
			return err
		}
		if err := checkListName(ctx, tx, acct, name, id); err != nil {
			return err
		}
		if !details {
			in.Description, in.Favorite = cur.Description, cur.Favorite
		}
		_, err = tx.ExecContext(ctx, "UPDATE lists SET name = ?, name_key = ?, description = ?, favorite = ?, updated_at = ? WHERE account_id = ? AND id = ?",
			name, strings.ToLower(name), in.Description, in.Favorite, toMS(now), acct, id)
		if err != nil {
			return err
		}
		l, err = getList(ctx, tx, acct, id)
		return err
	})
	if err != nil {
		return segmentd.List{}, err
	}
	return l, nil
}

// DeleteList removes the list and its memberships (not the contacts) and
// returns the ids of the contacts that were on it, sorted.
func (s *Store) DeleteList(ctx context.Context, acct int64, id string) ([]string, error) {
	var ids []string
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		ids, err = deleteList(ctx, tx, acct, id)
		return err
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// qDeleteChildSegments marks deleted the live segments whose parent list
// is the given one. It scans the account's segments, which are few (at
// most 200 live by default), so the parent needs no index.
const qDeleteChildSegments = `UPDATE segments SET deleted_at = ? WHERE account_id = ? AND deleted_at IS NULL
	AND EXISTS (SELECT 1 FROM json_each(segments.parent_list_ids) WHERE json_each.value = ?) RETURNING id`

// DeleteListWithSegments is DeleteList that also marks deleted, in the same
// transaction, the live segments whose parent list it was.
func (s *Store) DeleteListWithSegments(ctx context.Context, acct int64, id string, now time.Time) (members, segments []string, err error) {
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		if members, err = deleteList(ctx, tx, acct, id); err != nil {
			return err
		}
		if segments, err = queryAll(ctx, tx, scanID, qDeleteChildSegments, toMS(now), acct, id); err != nil || len(segments) == 0 {
			return err
		}
		return recordCatalogChange(ctx, tx, acct)
	})
	if err != nil {
		return nil, nil, err
	}
	return members, sortedUnique(segments), nil
}

// deleteList removes the list and its memberships in tx, records the
// deletion in the change history, and returns the ids of the contacts that
// were on it, sorted.
func deleteList(ctx context.Context, tx *sql.Tx, acct int64, id string) ([]string, error) {
	var num int64
	err := tx.QueryRowContext(ctx, "DELETE FROM lists WHERE account_id = ? AND id = ? RETURNING num", acct, id).Scan(&num)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("id", "list %s does not exist", segmentd.Quote(id))
	}
	if err != nil {
		return nil, err
	}
	seq, err := nextChange(ctx, tx)
	if err != nil {
		return nil, err
	}
	if _, err := tx.ExecContext(ctx, qRecordDeletion, acct, seq, "list", id); err != nil {
		return nil, err
	}
	ids, err := queryAll(ctx, tx, scanID, qDeleteListMembers, acct, num)
	if err != nil {
		return nil, err
	}
	return sortedUnique(ids), nil
}

// RemoveListMembers takes contacts off a list and returns how many were on it.
func (s *Store) RemoveListMembers(ctx context.Context, acct int64, listID string, contactIDs []string) (int, error) {
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var have int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM lists WHERE account_id = ? AND id = ?", acct, listID).Scan(&have); err != nil {
			return err
		}
		if have == 0 {
			return notFound("id", "list %s does not exist", segmentd.Quote(listID))
		}
		if len(contactIDs) == 0 {
			return nil
		}
		ids := jsonStrings(contactIDs)
		res, err := tx.ExecContext(ctx, qRemoveListMembers, acct, listID, ids)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		seq, err := nextChange(ctx, tx)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, qStampContacts, seq, acct, ids)
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// scanID reads a row of one text column.
func scanID(row rowScanner) (string, error) {
	var id string
	err := row.Scan(&id)
	return id, err
}

func scanInt64(row rowScanner) (int64, error) {
	var n int64
	err := row.Scan(&n)
	return n, err
}
