package postgres

import (
	"context"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

// The control plane's writes (docs/admin.md): listing and revoking API
// keys, resetting and deleting accounts.

// APIKeys implements segmentd.Store.
func (s *Store) APIKeys(ctx context.Context, acct int64) ([]segmentd.APIKey, error) {
	q := "SELECT id, account_id, name, hash, scopes, created_at FROM api_keys"
	var args []any
	if acct != 0 {
		q += " WHERE account_id = $1"
		args = append(args, acct)
	}
	return queryAll(ctx, s.db, scanAPIKey, q+" ORDER BY id", args...)
}

func scanAPIKey(row pgx.Row) (segmentd.APIKey, error) {
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

// RevokeAPIKey implements segmentd.Store. Every server looks a request's
// key up in the database, so the key stops working at once on all of
// them.
func (s *Store) RevokeAPIKey(ctx context.Context, id int64) error {
	tag, err := s.db.Exec(ctx, "DELETE FROM api_keys WHERE id = $1", id)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return notFound("id", "API key %d does not exist", id)
	}
	return nil
}

// accountData are the account tables a reset empties. The history's own
// records before the reset go too: a reader behind the reset starts again
// after it. account_changes stays: it is the account's lock and its
// numbers go on.
var accountData = []string{
	"contacts", "contact_alternate_emails", "list_members", "lists", "field_definitions",
	"segments", "segment_refreshes", "cc_segments", "events", "event_blocks", "event_ids",
	"deletions", "event_attachments", "catalog_changes", "membership_changes", "export_chunks", "exports", "tags", "contact_tags", "contact_cc",
	"webhook_subscriptions", "webhook_outbox", "webhook_deliveries", "history_segments", "segment_history", "webhook_replays",
	"import_chunks", "imports",
	"contact_tombstones",
}

// clearAccount takes the account's lock and a change number, deletes the
// account's data and finished jobs, and returns the number.
func clearAccount(ctx context.Context, tx pgx.Tx, acct int64) (int64, error) {
	seq, err := nextChange(ctx, tx, acct)
	if err != nil {
		return 0, err
	}
	var b pgx.Batch
	for _, t := range accountData {
		b.Queue("DELETE FROM "+t+" WHERE account_id = $1", acct)
	}
	b.Queue("DELETE FROM jobs WHERE account_id = $1 AND status <> 'pending'", acct)
	return seq, tx.SendBatch(ctx, &b).Close()
}

func accountExists(ctx context.Context, q querier, acct int64) error {
	var ok bool
	if err := q.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM accounts WHERE id = $1)", acct).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return notFound("", "account %d does not exist", acct)
	}
	return nil
}

// ResetAccount implements segmentd.Store.
func (s *Store) ResetAccount(ctx context.Context, acct int64) (int64, error) {
	var seq int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := accountExists(ctx, tx, acct); err != nil {
			return err
		}
		var err error
		if seq, err = clearAccount(ctx, tx, acct); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "INSERT INTO account_resets (account_id, change_seq) VALUES ($1, $2)", acct, seq)
		return err
	})
	return seq, err
}

// DeleteAccount implements segmentd.Store. The account's global rows (its
// keys, then the account) go first: Citus wants a transaction's writes of
// reference tables before those of distributed ones.
func (s *Store) DeleteAccount(ctx context.Context, acct int64) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		// The account's row, locked: a subuser created meanwhile waits
		// for the deletion (and then finds no parent).
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM (SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE) a", acct).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return notFound("", "account %d does not exist", acct)
		}
		subs, err := queryAll(ctx, tx, scanString, "SELECT name FROM accounts WHERE parent_id = $1 ORDER BY id", acct)
		if err != nil {
			return err
		}
		if len(subs) > 0 {
			return segmentd.Errorf(segmentd.KindConflict, "", "the account has subusers (%s); delete them first", quoteAll(subs))
		}
		if _, err := tx.Exec(ctx, "DELETE FROM api_keys WHERE account_id = $1", acct); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM accounts WHERE id = $1", acct); err != nil {
			return err
		}
		seq, err := clearAccount(ctx, tx, acct)
		if err != nil {
			return err
		}
		var b pgx.Batch
		for _, t := range []string{"jobs", "account_counters", "webhook_keys", "account_resets"} {
			b.Queue("DELETE FROM "+t+" WHERE account_id = $1", acct)
		}
		b.Queue("INSERT INTO account_resets (account_id, change_seq, dropped) VALUES ($1, $2, true)", acct, seq)
		return tx.SendBatch(ctx, &b).Close()
	})
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
const qAccountReset = "SELECT coalesce(max(change_seq), 0), coalesce(bool_or(dropped), false) FROM account_resets WHERE account_id = $1 AND change_seq > $2"
