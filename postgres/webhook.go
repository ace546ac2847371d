package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// SetWebhookKey stores the account's Event Webhook verification key (base64
// DER, checked by the Service); "" removes it.
func (s *Store) SetWebhookKey(ctx context.Context, acct int64, key string) error {
	if key == "" {
		_, err := s.db.Exec(ctx, "DELETE FROM webhook_keys WHERE account_id = $1", acct)
		return err
	}
	_, err := s.db.Exec(ctx, `INSERT INTO webhook_keys (account_id, public_key, updated_at) VALUES ($1, $2, $3)
		ON CONFLICT (account_id) DO UPDATE SET public_key = excluded.public_key, updated_at = excluded.updated_at`,
		acct, key, toMS(time.Now()))
	return err
}

// WebhookKey returns the account's verification key, "" when none is set.
func (s *Store) WebhookKey(ctx context.Context, acct int64) (string, error) {
	var key string
	err := s.db.QueryRow(ctx, "SELECT public_key FROM webhook_keys WHERE account_id = $1", acct).Scan(&key)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return key, err
}
