package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

// qLists selects lists of the account $1; append the condition. It does
// not count the lists' contacts (ContactCount is the Service's, from the
// engine, and CountListMembers the store's): a count reads every
// membership.
const qLists = `SELECT l.id, l.name, l.description, l.favorite, l.created_at, l.updated_at FROM lists l WHERE l.account_id = $1 AND `

func scanList(row pgx.Row) (segmentd.List, error) {
	var l segmentd.List
	var created, updated int64
	if err := row.Scan(&l.ID, &l.Name, &l.Description, &l.Favorite, &created, &updated); err != nil {
		return l, err
	}
	l.CreatedAt = fromMS(created)
	l.UpdatedAt = fromMS(updated)
	return l, nil
}

func listNotFound(id string) error {
	return notFound("id", "list %s does not exist", segmentd.Quote(id))
}

func getList(ctx context.Context, q querier, acct int64, id string) (segmentd.List, error) {
	l, err := scanList(q.QueryRow(ctx, qLists+"l.id = $2", acct, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return l, listNotFound(id)
	}
	return l, err
}

func listExists(ctx context.Context, q querier, acct int64, id string) (bool, error) {
	var ok bool
	err := q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM lists WHERE account_id = $1 AND id = $2)", acct, id).Scan(&ok)
	return ok, err
}

// checkListName returns KindConflict when another list of the account (not
// except) has name, ignoring case.
func checkListName(ctx context.Context, tx pgx.Tx, acct int64, name, except string) error {
	return checkName(ctx, tx, "list", name, "SELECT EXISTS (SELECT 1 FROM lists WHERE account_id = $1 AND name_key = $2 AND id <> $3)",
		acct, strings.ToLower(name), except)
}

func (s *Store) CreateList(ctx context.Context, acct int64, name string, now time.Time) (segmentd.List, error) {
	return s.CreateListWith(ctx, acct, segmentd.List{Name: name}, 0, now)
}

// CreateListWith implements segmentd.Store (max 0: no bound), counting
// the account's lists under its row lock.
func (s *Store) CreateListWith(ctx context.Context, acct int64, in segmentd.List, max int, now time.Time) (segmentd.List, error) {
	now = msTime(now)
	l := segmentd.List{ID: segmentd.NewID(), Name: in.Name, Description: in.Description, Favorite: in.Favorite, CreatedAt: now, UpdatedAt: now}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, acct); err != nil {
			return err
		}
		if max > 0 {
			var n int
			if err := tx.QueryRow(ctx, "SELECT count(*) FROM lists WHERE account_id = $1", acct).Scan(&n); err != nil {
				return err
			}
			if n >= max {
				return segmentd.Errorf(segmentd.KindInvalid, "", "the account already has the maximum of %d lists", max)
			}
		}
		if err := checkListName(ctx, tx, acct, l.Name, ""); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO lists (account_id, id, name, name_key, description, favorite, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
			acct, l.ID, l.Name, strings.ToLower(l.Name), l.Description, l.Favorite, toMS(now))
		return err
	})
	if isUniqueViolation(err) {
		return segmentd.List{}, nameTaken("list", l.Name)
	}
	if err != nil {
		return segmentd.List{}, err
	}
	return l, nil
}

func (s *Store) Lists(ctx context.Context, acct int64, afterID string, limit int) ([]segmentd.List, error) {
	if limit <= 0 {
		return nil, nil
	}
	return queryAll(ctx, s.db, scanList, qLists+"l.id > $2 ORDER BY l.id LIMIT $3", acct, afterID, limit)
}

func (s *Store) CountLists(ctx context.Context, acct int64) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, "SELECT count(*) FROM lists WHERE account_id = $1", acct).Scan(&n)
	return n, err
}

func (s *Store) List(ctx context.Context, acct int64, id string) (segmentd.List, error) {
	return getList(ctx, s.db, acct, id)
}

// The statements by list, which list_members_list (account_id, list_id)
// serves (migration 0025; TestListReadsUseTheListIndex).
const (
	qCountListMembers  = "SELECT count(*) FROM list_members WHERE account_id = $1 AND list_id = $2"
	qDeleteListMembers = "DELETE FROM list_members WHERE account_id = $1 AND list_id = $2 RETURNING contact_id::text"
	qRemoveListMembers = "DELETE FROM list_members WHERE account_id = $1 AND list_id = $2 AND contact_id = ANY($3) RETURNING contact_id::text"
)

// CountListMembers counts a list's contacts (0 for a list that does not
// exist).
func (s *Store) CountListMembers(ctx context.Context, acct int64, id string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, qCountListMembers, acct, memberKey(id)).Scan(&n)
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
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, acct); err != nil {
			return err
		}
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
		_, err = tx.Exec(ctx, "UPDATE lists SET name = $3, name_key = $4, description = $5, favorite = $6, updated_at = $7 WHERE account_id = $1 AND id = $2",
			acct, id, name, strings.ToLower(name), in.Description, in.Favorite, toMS(now))
		if err != nil {
			return err
		}
		l, err = getList(ctx, tx, acct, id)
		return err
	})
	if isUniqueViolation(err) {
		return segmentd.List{}, nameTaken("list", name)
	}
	if err != nil {
		return segmentd.List{}, err
	}
	return l, nil
}

// DeleteList removes the list and its memberships (not the contacts) and
// returns the ids of the contacts that were on it, sorted.
func (s *Store) DeleteList(ctx context.Context, acct int64, id string) ([]string, error) {
	var ids []string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
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
// is $3. It reads the account's segments, which are few (at most 200 live
// by default), so the parent needs no index.
const qDeleteChildSegments = `UPDATE segments SET deleted_at = $2 WHERE account_id = $1 AND deleted_at IS NULL
	AND parent_list_ids ? $3::text RETURNING id`

// DeleteListWithSegments is DeleteList that also marks deleted, in the same
// transaction, the live segments whose parent list it was.
func (s *Store) DeleteListWithSegments(ctx context.Context, acct int64, id string, now time.Time) (members, segments []string, err error) {
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if members, err = deleteList(ctx, tx, acct, id); err != nil {
			return err
		}
		if segments, err = queryAll(ctx, tx, scanString, qDeleteChildSegments, acct, toMS(now), id); err != nil || len(segments) == 0 {
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
func deleteList(ctx context.Context, tx pgx.Tx, acct int64, id string) ([]string, error) {
	seq, err := nextChange(ctx, tx, acct)
	if err != nil {
		return nil, err
	}
	ids, err := queryAll(ctx, tx, scanString, qDeleteListMembers, acct, memberKey(id))
	if err != nil {
		return nil, err
	}
	tag, err := tx.Exec(ctx, "DELETE FROM lists WHERE account_id = $1 AND id = $2", acct, id)
	if err != nil {
		return nil, err
	}
	if tag.RowsAffected() == 0 {
		return nil, listNotFound(id)
	}
	if _, err := tx.Exec(ctx, "INSERT INTO deletions (account_id, change_seq, kind, id) VALUES ($1, $2, 'list', $3) ON CONFLICT DO NOTHING", acct, seq, id); err != nil {
		return nil, err
	}
	return sortedUnique(ids), nil
}

// RemoveListMembers takes contacts off a list and returns how many were on
// it. The contacts taken off are changes: their ListIDs changed.
func (s *Store) RemoveListMembers(ctx context.Context, acct int64, listID string, contactIDs []string) (int, error) {
	var n int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		seq, err := nextChange(ctx, tx, acct)
		if err != nil {
			return err
		}
		if ok, err := listExists(ctx, tx, acct, listID); err != nil || !ok {
			if err == nil {
				err = listNotFound(listID)
			}
			return err
		}
		if len(contactIDs) == 0 {
			return nil
		}
		removed, err := queryAll(ctx, tx, scanString, qRemoveListMembers, acct, memberKey(listID), memberKeys(contactIDs))
		if err != nil || len(removed) == 0 {
			return err
		}
		n = int64(len(removed))
		_, err = tx.Exec(ctx, "UPDATE contacts SET change_seq = $2 WHERE account_id = $1 AND id = ANY($3)", acct, seq, removed)
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// scanString reads a row of one text column.
func scanString(row pgx.Row) (string, error) {
	var s string
	err := row.Scan(&s)
	return s, err
}

func scanInt64(row pgx.Row) (int64, error) {
	var n int64
	err := row.Scan(&n)
	return n, err
}
