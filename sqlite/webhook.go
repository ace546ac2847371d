package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/segmentd/segmentd"
)

var _ segmentd.WebhookKeyStore = (*Store)(nil)

// SetWebhookKey stores the account's Event Webhook verification key (base64
// DER, checked by the Service); "" removes it.
func (s *Store) SetWebhookKey(ctx context.Context, acct int64, key string) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		if key == "" {
			_, err := tx.ExecContext(ctx, "DELETE FROM webhook_keys WHERE account_id = ?", acct)
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO webhook_keys (account_id, public_key, updated_at) VALUES (?, ?, ?)
			ON CONFLICT (account_id) DO UPDATE SET public_key = excluded.public_key, updated_at = excluded.updated_at`,
			acct, key, toMS(time.Now()))
		return err
	})
}

// WebhookKey returns the account's verification key, "" when none is set.
func (s *Store) WebhookKey(ctx context.Context, acct int64) (string, error) {
	var key string
	err := s.reads.QueryRowContext(ctx, "SELECT public_key FROM webhook_keys WHERE account_id = ?", acct).Scan(&key)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return key, err
}
