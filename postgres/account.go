package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

// Accounts and API keys are global (reference tables on Citus): they are
// the only tables whose statements do not name an account.

const accountCols = "id, coalesce(parent_id, 0), name, created_at"

func scanAccount(row pgx.Row) (segmentd.Account, error) {
	var a segmentd.Account
	var created int64
	if err := row.Scan(&a.ID, &a.ParentID, &a.Name, &created); err != nil {
		return a, err
	}
	a.CreatedAt = fromMS(created)
	return a, nil
}

func accountNameTaken(name string) error {
	return segmentd.Errorf(segmentd.KindConflict, "name", "an account named %q already exists", name)
}

// CreateAccount creates an account; a parentID other than 0 makes it a
// subuser of that (existing) account.
func (s *Store) CreateAccount(ctx context.Context, name string, parentID int64, now time.Time) (segmentd.Account, error) {
	a := segmentd.Account{ParentID: parentID, Name: name, CreatedAt: msTime(now)}
	if name == "" {
		return a, segmentd.Errorf(segmentd.KindInvalid, "name", "account name is required")
	}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var taken bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM accounts WHERE name = $1)", name).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return accountNameTaken(name)
		}
		var parent *int64
		if parentID != 0 {
			if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1)", parentID).Scan(&taken); err != nil {
				return err
			}
			if !taken {
				return notFound("parent_id", "parent account %d does not exist", parentID)
			}
			parent = &parentID
		}
		return tx.QueryRow(ctx, "INSERT INTO accounts (parent_id, name, created_at) VALUES ($1, $2, $3) RETURNING id",
			parent, name, toMS(a.CreatedAt)).Scan(&a.ID)
	})
	if isUniqueViolation(err) {
		return segmentd.Account{}, accountNameTaken(name) // another server created it meanwhile
	}
	if err != nil {
		return segmentd.Account{}, err
	}
	return a, nil
}

func (s *Store) Account(ctx context.Context, id int64) (segmentd.Account, error) {
	a, err := scanAccount(s.db.QueryRow(ctx, "SELECT "+accountCols+" FROM accounts WHERE id = $1", id))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, notFound("", "account %d does not exist", id)
	}
	return a, err
}

func (s *Store) AccountByName(ctx context.Context, name string) (segmentd.Account, error) {
	a, err := scanAccount(s.db.QueryRow(ctx, "SELECT "+accountCols+" FROM accounts WHERE name = $1", name))
	if errors.Is(err, pgx.ErrNoRows) {
		return a, notFound("", "account %s does not exist", segmentd.Quote(name))
	}
	return a, err
}

// Accounts returns every account ordered by id.
func (s *Store) Accounts(ctx context.Context) ([]segmentd.Account, error) {
	return queryAll(ctx, s.db, scanAccount, "SELECT "+accountCols+" FROM accounts ORDER BY id")
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
	hashTaken := segmentd.Errorf(segmentd.KindConflict, "hash", "an API key with this hash already exists")
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1)", k.AccountID).Scan(&exists); err != nil {
			return err
		}
		if !exists {
			return notFound("account_id", "account %d does not exist", k.AccountID)
		}
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM api_keys WHERE hash = $1)", k.Hash).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return hashTaken
		}
		return tx.QueryRow(ctx, "INSERT INTO api_keys (account_id, name, hash, scopes, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id",
			k.AccountID, k.Name, k.Hash, strings.Join(scopes, " "), toMS(k.CreatedAt)).Scan(&k.ID)
	})
	if isUniqueViolation(err) {
		return segmentd.APIKey{}, hashTaken
	}
	if err != nil {
		return segmentd.APIKey{}, err
	}
	return k, nil
}

func (s *Store) APIKeyByHash(ctx context.Context, hash string) (segmentd.APIKey, error) {
	k, _, err := s.apiKeyByHash(ctx, hash, false)
	return k, err
}

var _ segmentd.APIKeyAccountReader = (*Store)(nil)

// qAPIKeyWithAccount is a key by its hash with its account's columns
// (accountCols), NULL when the account is gone: both reference tables on
// Citus, joined on the coordinator.
const qAPIKeyWithAccount = `SELECT k.id, k.account_id, k.name, k.hash, k.scopes, k.created_at,
	a.id, coalesce(a.parent_id, 0), a.name, a.created_at
	FROM api_keys k LEFT JOIN accounts a ON a.id = k.account_id WHERE k.hash = $1`

// APIKeyWithAccount implements segmentd.APIKeyAccountReader: the key and
// its account in one round trip rather than two (every request's
// authentication; docs/postgres.md, "Segment GET on a database").
func (s *Store) APIKeyWithAccount(ctx context.Context, hash string) (segmentd.APIKey, segmentd.Account, error) {
	return s.apiKeyByHash(ctx, hash, true)
}

// apiKeyByHash reads a key by its hash, and its account when withAccount.
func (s *Store) apiKeyByHash(ctx context.Context, hash string, withAccount bool) (segmentd.APIKey, segmentd.Account, error) {
	var k segmentd.APIKey
	var a segmentd.Account
	var scopes string
	var created int64
	var err error
	if withAccount {
		var id, parent, acreated *int64
		var name *string
		err = s.db.QueryRow(ctx, qAPIKeyWithAccount, hash).Scan(&k.ID, &k.AccountID, &k.Name, &k.Hash, &scopes, &created, &id, &parent, &name, &acreated)
		if err == nil && id == nil {
			return k, a, notFound("", "account %d does not exist", k.AccountID)
		}
		if err == nil {
			a = segmentd.Account{ID: *id, ParentID: *parent, Name: *name, CreatedAt: fromMS(*acreated)}
		}
	} else {
		err = s.db.QueryRow(ctx, "SELECT id, account_id, name, hash, scopes, created_at FROM api_keys WHERE hash = $1", hash).
			Scan(&k.ID, &k.AccountID, &k.Name, &k.Hash, &scopes, &created)
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return k, a, notFound("", "unknown API key")
	}
	if err != nil {
		return k, a, err
	}
	for _, f := range strings.Fields(scopes) {
		k.Scopes = append(k.Scopes, segmentd.Scope(f))
	}
	k.CreatedAt = fromMS(created)
	return k, a, nil
}

func (s *Store) CountAPIKeys(ctx context.Context) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, "SELECT count(*) FROM api_keys").Scan(&n)
	return n, err
}
