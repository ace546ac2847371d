package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
)

const accountCols = "id, COALESCE(parent_id, 0), name, created_at"

func scanAccount(row rowScanner) (segmentd.Account, error) {
	var a segmentd.Account
	var created int64
	if err := row.Scan(&a.ID, &a.ParentID, &a.Name, &created); err != nil {
		return a, err
	}
	a.CreatedAt = fromMS(created)
	return a, nil
}

// CreateAccount creates an account; a parentID other than 0 makes it a
// subuser of that (existing) account.
func (s *Store) CreateAccount(ctx context.Context, name string, parentID int64, now time.Time) (segmentd.Account, error) {
	a := segmentd.Account{ParentID: parentID, Name: name, CreatedAt: msTime(now)}
	if name == "" {
		return a, segmentd.Errorf(segmentd.KindInvalid, "name", "account name is required")
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM accounts WHERE name = ?", name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return segmentd.Errorf(segmentd.KindConflict, "name", "an account named %q already exists", name)
		}
		var parent any
		if parentID != 0 {
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM accounts WHERE id = ?", parentID).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return notFound("parent_id", "parent account %d does not exist", parentID)
			}
			parent = parentID
		}
		// The id follows every id given before, a deleted account's too
		// (its tombstone in account_resets): SQLite alone would give the
		// largest id again once its account was deleted.
		res, err := tx.ExecContext(ctx, `INSERT INTO accounts (id, parent_id, name, created_at)
			SELECT max(m) + 1, ?, ?, ? FROM (SELECT coalesce(max(id), 0) AS m FROM accounts
				UNION ALL SELECT coalesce(max(account_id), 0) FROM account_resets)`,
			parent, name, toMS(a.CreatedAt))
		if err != nil {
			return err
		}
		a.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return segmentd.Account{}, err
	}
	return a, nil
}

func (s *Store) Account(ctx context.Context, id int64) (segmentd.Account, error) {
	a, err := scanAccount(s.reads.QueryRowContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, notFound("", "account %d does not exist", id)
	}
	return a, err
}

func (s *Store) AccountByName(ctx context.Context, name string) (segmentd.Account, error) {
	a, err := scanAccount(s.reads.QueryRowContext(ctx, "SELECT "+accountCols+" FROM accounts WHERE name = ?", name))
	if errors.Is(err, sql.ErrNoRows) {
		return a, notFound("", "account %s does not exist", segmentd.Quote(name))
	}
	return a, err
}

// Accounts returns every account ordered by id.
func (s *Store) Accounts(ctx context.Context) ([]segmentd.Account, error) {
	return queryAll(ctx, &s.reads, scanAccount, "SELECT "+accountCols+" FROM accounts ORDER BY id")
}

// CreateAPIKey stores a key of an existing account. A hash already stored is
// KindConflict.
func (s *Store) CreateAPIKey(ctx context.Context, k segmentd.APIKey) (segmentd.APIKey, error) {
	k.CreatedAt = msTime(k.CreatedAt)
	k.Scopes = append([]segmentd.Scope(nil), k.Scopes...)
	if k.Hash == "" {
		return segmentd.APIKey{}, segmentd.Errorf(segmentd.KindInvalid, "hash", "API key hash is required")
	}
	scopes := make([]string, len(k.Scopes))
	for i, sc := range k.Scopes {
		scopes[i] = string(sc)
	}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM accounts WHERE id = ?", k.AccountID).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("account_id", "account %d does not exist", k.AccountID)
		}
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM api_keys WHERE hash = ?", k.Hash).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return segmentd.Errorf(segmentd.KindConflict, "hash", "an API key with this hash already exists")
		}
		res, err := tx.ExecContext(ctx, "INSERT INTO api_keys (account_id, name, hash, scopes, created_at) VALUES (?, ?, ?, ?, ?)",
			k.AccountID, k.Name, k.Hash, strings.Join(scopes, " "), toMS(k.CreatedAt))
		if err != nil {
			return err
		}
		k.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return segmentd.APIKey{}, err
	}
	return k, nil
}

func (s *Store) APIKeyByHash(ctx context.Context, hash string) (segmentd.APIKey, error) {
	var k segmentd.APIKey
	var scopes string
	var created int64
	err := s.reads.QueryRowContext(ctx, "SELECT id, account_id, name, hash, scopes, created_at FROM api_keys WHERE hash = ?", hash).
		Scan(&k.ID, &k.AccountID, &k.Name, &k.Hash, &scopes, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return k, notFound("", "unknown API key")
	}
	if err != nil {
		return k, err
	}
	for _, f := range strings.Fields(scopes) {
		k.Scopes = append(k.Scopes, segmentd.Scope(f))
	}
	k.CreatedAt = fromMS(created)
	return k, nil
}

func (s *Store) CountAPIKeys(ctx context.Context) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM api_keys").Scan(&n)
	return n, err
}
