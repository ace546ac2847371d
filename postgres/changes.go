package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

// The change history (docs/snapshot.md, docs/postgres.md): the membership
// engine's snapshot records each account's last change number, and a
// start replays what changed after it. Each account numbers its changes in
// account_changes.change_seq, taken under the account's row lock
// (nextChange), so that within an account numbers follow commit order and
// a reader of "change_seq > last" misses nothing.

const (
	qChangeMark      = "SELECT account_id, change_seq FROM account_changes WHERE change_seq > 0"
	qChangedContacts = "SELECT id FROM contacts WHERE account_id = $1 AND change_seq > $2 ORDER BY id"
	qDeletionsAfter  = "SELECT kind, id FROM deletions WHERE account_id = $1 AND change_seq > $2 ORDER BY change_seq"
)

// ChangeMark implements segmentd.Store: the store's identity and every
// account's last change number, as committed.
func (s *Store) ChangeMark(ctx context.Context) (segmentd.ChangeMark, error) {
	m := segmentd.ChangeMark{Seqs: map[int64]int64{}}
	if err := s.pool.QueryRow(ctx, "SELECT store_id FROM store_identity").Scan(&m.StoreID); err != nil {
		return m, err
	}
	rows, err := s.pool.Query(ctx, qChangeMark)
	if err != nil {
		return m, err
	}
	defer rows.Close()
	for rows.Next() {
		var acct, seq int64
		if err := rows.Scan(&acct, &seq); err != nil {
			return m, err
		}
		m.Seqs[acct] = seq
	}
	return m, rows.Err()
}

// ContactChanges implements segmentd.Store, in one snapshot, so that the
// deletions and the changed contacts are of one moment.
func (s *Store) ContactChanges(ctx context.Context, acct int64, after int64) (segmentd.ContactChanges, error) {
	var ch segmentd.ContactChanges
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		ch = segmentd.ContactChanges{}
		rows, err := tx.Query(ctx, qDeletionsAfter, acct, after)
		if err != nil {
			return err
		}
		for rows.Next() {
			var kind, id string
			if err := rows.Scan(&kind, &id); err != nil {
				rows.Close()
				return err
			}
			switch kind {
			case "all":
				ch.AllDeleted = true
			case "list":
				ch.DeletedLists = append(ch.DeletedLists, id)
			default:
				ch.Deleted = append(ch.Deleted, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		changed, err := queryAll(ctx, tx, scanString, qChangedContacts, acct, after)
		if len(changed) > 0 {
			ch.Changed = changed
		}
		return err
	})
	return ch, err
}

// ForgetChanges implements segmentd.Store: one statement per account and
// table, sent together. It takes no account lock: it deletes only records
// at or before numbers already committed, which no writer touches again.
func (s *Store) ForgetChanges(ctx context.Context, mark segmentd.ChangeMark) error {
	if len(mark.Seqs) == 0 {
		return nil
	}
	var b pgx.Batch
	for acct, through := range mark.Seqs {
		b.Queue("DELETE FROM deletions WHERE account_id = $1 AND change_seq <= $2", acct, through)
		b.Queue("DELETE FROM event_attachments WHERE account_id = $1 AND change_seq <= $2", acct, through)
	}
	return s.pool.SendBatch(ctx, &b).Close()
}
