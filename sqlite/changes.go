package sqlite

import (
	"context"
	"database/sql"

	"github.com/segmentd/segmentd"
)

// The change history (migration 0009): the membership engine's snapshot
// records the change mark it was taken at, and at start replays only what
// changed after it (docs/snapshot.md).

const (
	qNextChange       = "UPDATE store_changes SET seq = seq + 1 RETURNING seq"
	qChangeMark       = "SELECT store_id, seq FROM store_changes"
	qChangedContacts  = "SELECT id FROM contacts WHERE account_id = ? AND change_seq > ? ORDER BY id"
	qDeletionsAfter   = "SELECT kind, id FROM deletions WHERE account_id = ? AND change_seq > ? ORDER BY change_seq"
	qRecordDeletion   = "INSERT OR IGNORE INTO deletions (account_id, change_seq, kind, id) VALUES (?, ?, ?, ?)"
	qRecordDeletions  = "INSERT OR IGNORE INTO deletions (account_id, change_seq, kind, id) SELECT ?, ?, 'contact', value FROM json_each(?)"
	qStampContacts    = "UPDATE contacts SET change_seq = ? WHERE account_id = ? AND id IN (SELECT value FROM json_each(?))"
	qRecordAttachment = "INSERT OR IGNORE INTO event_attachments (account_id, change_seq, event_seq) " +
		"SELECT account_id, ?, seq FROM events WHERE account_id = ? AND contact_id IS NULL AND email = ?"
	qAttachedEvents = "SELECT " + eventColumns + " FROM event_attachments a JOIN events e ON e.account_id = a.account_id AND e.seq = a.event_seq " +
		"WHERE a.account_id = ? AND a.change_seq > ? AND a.event_seq <= ? ORDER BY a.event_seq"
)

// nextChange takes the next change number for the transaction's writes.
func nextChange(ctx context.Context, tx *sql.Tx) (int64, error) {
	var seq int64
	err := tx.QueryRowContext(ctx, qNextChange).Scan(&seq)
	return seq, err
}

// ChangeMark implements segmentd.Store. Every account is numbered from
// the one store-wide sequence (a single writer commits in number order),
// so each account's mark is the sequence's last number.
func (s *Store) ChangeMark(ctx context.Context) (segmentd.ChangeMark, error) {
	m := segmentd.ChangeMark{Seqs: map[int64]int64{}}
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var seq int64
		if err := tx.QueryRowContext(ctx, qChangeMark).Scan(&m.StoreID, &seq); err != nil {
			return err
		}
		ids, err := queryAll(ctx, tx, scanInt64, "SELECT id FROM accounts")
		for _, id := range ids {
			m.Seqs[id] = seq
		}
		return err
	})
	return m, err
}

// ContactChanges implements segmentd.Store, in one read transaction so
// that the deletions and the changed contacts are of one moment.
func (s *Store) ContactChanges(ctx context.Context, acct int64, after int64) (segmentd.ContactChanges, error) {
	var ch segmentd.ContactChanges
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		ch = segmentd.ContactChanges{}
		rows, err := tx.QueryContext(ctx, qDeletionsAfter, acct, after)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var kind, id string
			if err := rows.Scan(&kind, &id); err != nil {
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
		if err := rows.Err(); err != nil {
			return err
		}
		ids, err := tx.QueryContext(ctx, qChangedContacts, acct, after)
		if err != nil {
			return err
		}
		defer ids.Close()
		for ids.Next() {
			var id string
			if err := ids.Scan(&id); err != nil {
				return err
			}
			ch.Changed = append(ch.Changed, id)
		}
		return ids.Err()
	})
	return ch, err
}

// ForgetChanges implements segmentd.Store.
func (s *Store) ForgetChanges(ctx context.Context, mark segmentd.ChangeMark) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		for acct, through := range mark.Seqs {
			if _, err := tx.ExecContext(ctx, "DELETE FROM deletions WHERE account_id = ? AND change_seq <= ?", acct, through); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM event_attachments WHERE account_id = ? AND change_seq <= ?", acct, through); err != nil {
				return err
			}
		}
		return nil
	})
}

// LastEventSeq implements segmentd.EventStore.
func (s *Store) LastEventSeq(ctx context.Context, acct int64) (int64, error) {
	var seq int64
	err := s.read.QueryRowContext(ctx, qEventsLastSeq, acct).Scan(&seq)
	return seq, err
}

// AttachedEvents implements segmentd.EventStore.
func (s *Store) AttachedEvents(ctx context.Context, acct int64, after, throughSeq int64) ([]segmentd.Event, error) {
	rows, err := s.read.QueryContext(ctx, qAttachedEvents, acct, after, throughSeq)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []segmentd.Event
	for rows.Next() {
		ev, err := scanEvent(rows, nil)
		if err != nil {
			return nil, err
		}
		out = append(out, ev)
	}
	return out, rows.Err()
}
