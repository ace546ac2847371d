package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/segmentd/segmentd"
)

// The control plane's writes (docs/admin.md): listing and revoking API
// keys, resetting and deleting accounts.

// APIKeys implements segmentd.Store.
func (s *Store) APIKeys(ctx context.Context, acct int64) ([]segmentd.APIKey, error) {
	q := "SELECT id, account_id, name, hash, scopes, created_at FROM api_keys"
	var args []any
	if acct != 0 {
		q += " WHERE account_id = ?"
		args = append(args, acct)
	}
	return queryAll(ctx, s.read, scanAPIKey, q+" ORDER BY id", args...)
}

func scanAPIKey(row rowScanner) (segmentd.APIKey, error) {
	var k segmentd.APIKey
	var scopes string
	var created int64
	if err := row.Scan(&k.ID, &k.AccountID, &k.Name, &k.Hash, &scopes, &created); err != nil {
		return k, err
	}
	for _, f := range strings.Fields(scopes) {
		k.Scopes = append(k.Scopes, segmentd.Scope(f))
	}
	k.CreatedAt = fromMS(created)
	return k, nil
}

// RevokeAPIKey implements segmentd.Store. Requests look their key up in
// the store every time, so the key stops working at once, in this
// process and in any other on the same file.
func (s *Store) RevokeAPIKey(ctx context.Context, id int64) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM api_keys WHERE id = ?", id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = notFound("id", "API key %d does not exist", id)
			}
			return err
		}
		return nil
	})
}

// accountData are the tables that hold an account's data, which a reset
// empties. The history's own records before the reset go too: a reader
// behind the reset starts again after it.
var accountData = []string{
	"contacts", "contact_alternate_emails", "list_members", "lists", "field_definitions",
	"segments", "segment_refreshes", "cc_segments", "event_rows", "event_blocks", "event_bounds",
	"deletions", "event_attachments", "catalog_changes", "membership_changes", "export_chunks", "exports", "tags", "contact_tags", "contact_cc",
	"webhook_subscriptions", "webhook_outbox", "webhook_deliveries", "import_chunks", "imports",
	"history_segments", "segment_history", "webhook_replays",
	"contact_tombstones",
}

// clearAccount deletes the account's data and its finished jobs.
func (s *Store) clearAccount(ctx context.Context, tx *sql.Tx, acct int64) error {
	for _, t := range accountData {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+t+" WHERE account_id = ?", acct); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, "DELETE FROM jobs WHERE account_id = ? AND status <> 'pending'", acct)
	return err
}

// ResetAccount implements segmentd.Store.
func (s *Store) ResetAccount(ctx context.Context, acct int64) (int64, error) {
	var seq int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := accountExists(ctx, tx, acct); err != nil {
			return err
		}
		var err error
		if seq, err = nextChange(ctx, tx); err != nil {
			return err
		}
		if err := s.clearAccount(ctx, tx, acct); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "INSERT INTO account_resets (account_id, change_seq) VALUES (?, ?)", acct, seq)
		return err
	})
	if err != nil {
		return 0, err
	}
	s.events.forgetIDs(acct) // it holds the deleted events' hashes
	return seq, nil
}

// DeleteAccount implements segmentd.Store.
func (s *Store) DeleteAccount(ctx context.Context, acct int64) error {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := accountExists(ctx, tx, acct); err != nil {
			return err
		}
		subs, err := queryAll(ctx, tx, scanID, "SELECT name FROM accounts WHERE parent_id = ? ORDER BY id", acct)
		if err != nil {
			return err
		}
		if len(subs) > 0 {
			return segmentd.Errorf(segmentd.KindConflict, "", "the account has subusers (%s); delete them first", quoteAll(subs))
		}
		seq, err := nextChange(ctx, tx)
		if err != nil {
			return err
		}
		if err := s.clearAccount(ctx, tx, acct); err != nil {
			return err
		}
		for _, t := range []string{"jobs", "account_counters", "webhook_keys", "api_keys", "account_resets"} {
			if _, err := tx.ExecContext(ctx, "DELETE FROM "+t+" WHERE account_id = ?", acct); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO account_resets (account_id, change_seq, dropped) VALUES (?, ?, 1)", acct, seq); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM accounts WHERE id = ?", acct)
		return err
	})
	if err != nil {
		return err
	}
	s.events.forgetIDs(acct)
	return nil
}

func accountExists(ctx context.Context, tx *sql.Tx, acct int64) error {
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM accounts WHERE id = ?", acct).Scan(&n); err != nil {
		return err
	}
	if n == 0 {
		return notFound("", "account %d does not exist", acct)
	}
	return nil
}

// quoteAll quotes names for a message, the first few of them.
func quoteAll(names []string) string {
	const show = 5
	q := make([]string, 0, show+1)
	for i, n := range names {
		if i == show {
			q = append(q, "…")
			break
		}
		q = append(q, segmentd.Quote(n))
	}
	return strings.Join(q, ", ")
}

// qAccountReset reads the account's last reset or deletion after a change
// number.
const qAccountReset = "SELECT coalesce(max(change_seq), 0), coalesce(max(dropped), 0) FROM account_resets WHERE account_id = ? AND change_seq > ?"
