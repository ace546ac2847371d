package sqlite

import (
	"context"
	"database/sql"

	"github.com/segmentd/segmentd"
)

// ScanContacts returns up to limit contacts with ids greater than afterID,
// in id order: the membership engine pages through an account with it at
// start.
func (s *Store) ScanContacts(ctx context.Context, acct int64, afterID string, limit int) ([]segmentd.Contact, error) {
	var cs []segmentd.Contact
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		cs, err = queryContacts(ctx, tx, acct, "SELECT "+contactColumns+" FROM contacts WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?", acct, afterID, limit)
		return err
	})
	return cs, err
}
