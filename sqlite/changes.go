package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/segmentd/segmentd"
)

// The change history (migration 0009): the membership engine's snapshot
// records the change mark it was taken at, and at start replays only what
// changed after it (docs/snapshot.md).

const (
	qNextChange = "UPDATE store_changes SET seq = seq + 1 RETURNING seq"
	qChangeMark = "SELECT store_id, seq FROM store_changes"
	// qChangedContacts: the contacts written after a change; Changes
	// adds those that joined a list after it without their row being
	// written (qJoinedAfter), sorts them and drops repeats. "change_seq >
	// 0" lets the planner use the partial index; asked to order or dedupe
	// the ids, it walked every contact of the account in id order instead.
	qChangedContacts = "SELECT id FROM contacts WHERE account_id = ? AND change_seq > ? AND change_seq > 0"
	// qJoinedAfter: the contacts upserts after a change only added to
	// lists, packed a row an upsert (packJoined).
	qJoinedAfter      = "SELECT contact_ids FROM membership_changes WHERE account_id = ? AND change_seq > ?"
	qRecordJoined     = "INSERT INTO membership_changes (account_id, change_seq, contact_ids) VALUES (?, ?, ?)"
	qDeletionsAfter   = "SELECT kind, id FROM deletions WHERE account_id = ? AND change_seq > ? ORDER BY change_seq"
	qRecordDeletion   = "INSERT OR IGNORE INTO deletions (account_id, change_seq, kind, id) VALUES (?, ?, ?, ?)"
	qRecordDeletions  = "INSERT OR IGNORE INTO deletions (account_id, change_seq, kind, id) SELECT ?, ?, 'contact', value FROM json_each(?)"
	qStampContacts    = "UPDATE contacts SET change_seq = ? WHERE account_id = ? AND id IN (SELECT value FROM json_each(?))"
	qRecordAttachment = "INSERT OR IGNORE INTO event_attachments (account_id, change_seq, event_seq) " +
		"SELECT account_id, ?, seq FROM event_rows INDEXED BY events_unattached WHERE account_id = ? AND contact_id IS NULL AND email = ?"
	qAttachedEvents = "SELECT " + eventColumns + " FROM event_attachments a JOIN event_rows e ON e.account_id = a.account_id AND e.seq = a.event_seq " +
		"WHERE a.account_id = ? AND a.change_seq > ? AND a.event_seq <= ? ORDER BY a.event_seq"
	qCatalogChanged = "SELECT EXISTS (SELECT 1 FROM catalog_changes WHERE account_id = ? AND change_seq > ?)"
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

// Changes implements segmentd.Store, in one read transaction so that
// everything it reports is of one moment.
func (s *Store) Changes(ctx context.Context, acct int64, after, afterEvent int64, eventLimit int) (segmentd.AccountChanges, error) {
	var ch segmentd.AccountChanges
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		ch = segmentd.AccountChanges{EventsThrough: afterEvent}
		var store string
		if err := tx.QueryRowContext(ctx, qChangeMark).Scan(&store, &ch.Through); err != nil {
			return err
		}
		var dropped bool
		if err := tx.QueryRowContext(ctx, qAccountReset, acct, after).Scan(&ch.ResetAt, &dropped); err != nil {
			return err
		}
		if dropped || ch.ResetAt > 0 {
			// A reset or a deletion: what came before it is gone
			// (segmentd.AccountChanges).
			ch.Dropped = dropped
			if dropped {
				ch.ResetAt = 0
			}
			return nil
		}
		if err := tx.QueryRowContext(ctx, qCatalogChanged, acct, after).Scan(&ch.Catalog); err != nil {
			return err
		}
		dels, err := queryAll(ctx, tx, scanDeletion, qDeletionsAfter, acct, after)
		if err != nil {
			return err
		}
		for _, d := range dels {
			switch d.kind {
			case "all":
				ch.AllDeleted = true
			case "list":
				ch.DeletedLists = append(ch.DeletedLists, d.id)
			default:
				ch.Deleted = append(ch.Deleted, d.id)
			}
		}
		changed, err := queryAll(ctx, tx, scanID, qChangedContacts, acct, after)
		if err != nil {
			return err
		}
		packs, err := queryAll(ctx, tx, scanBytes, qJoinedAfter, acct, after)
		if err != nil {
			return err
		}
		for _, p := range packs {
			if changed, err = unpackJoined(changed, p); err != nil {
				return err
			}
		}
		ch.Changed = sortedUnique(changed)
		if ch.Attached, err = scanEvents(ctx, tx, qAttachedEvents, acct, after, afterEvent); err != nil {
			return err
		}
		if eventLimit > 0 {
			ch.Events, ch.EventsThrough, err = scanEventPage(ctx, tx, nil, acct, afterEvent, eventLimit)
		}
		return err
	})
	return ch, err
}

func scanBytes(row rowScanner) ([]byte, error) {
	var b []byte
	err := row.Scan(&b)
	return b, err
}

// packJoined packs contact ids for membership_changes: a UUID in its
// canonical lower-case form as a zero byte and its 16 bytes, any other id
// as its length in bytes (1 to 255) and its text. Migration 0029 packs
// the same way. It returns apart, in order, the ids that have no packed
// form (empty, or longer than 255 bytes); the caller records those
// another way (qStampContacts).
func packJoined(ids []string) (packed []byte, rest []string) {
	packed = make([]byte, 0, 17*len(ids))
	for _, id := range ids {
		if k := segmentd.HistoryContactKey(id); len(k) == 16 {
			packed = append(append(packed, 0), k...)
			continue
		}
		if len(id) == 0 || len(id) > maxPackedID {
			rest = append(rest, id)
			continue
		}
		packed = append(append(packed, byte(len(id))), id...)
	}
	return packed, rest
}

// maxPackedID is the longest contact id packJoined packs: its length
// takes one byte.
const maxPackedID = 255

// unpackJoined appends the ids packJoined packed in p to ids.
func unpackJoined(ids []string, p []byte) ([]string, error) {
	for len(p) > 0 {
		n := int(p[0])
		if n == 0 {
			n = 16
		}
		if len(p) < 1+n {
			return ids, fmt.Errorf("membership_changes: %d bytes left of a record of %d", len(p)-1, n)
		}
		if p[0] == 0 {
			ids = append(ids, segmentd.HistoryContactID(p[1:17]))
		} else {
			ids = append(ids, string(p[1:1+n]))
		}
		p = p[1+n:]
	}
	return ids, nil
}

type deletion struct{ kind, id string }

func scanDeletion(row rowScanner) (deletion, error) {
	var d deletion
	err := row.Scan(&d.kind, &d.id)
	return d, err
}

// catalogTx is writeTx for a write of the account's field definitions or
// segments: fn's transaction also records the catalog change.
func (s *Store) catalogTx(ctx context.Context, acct int64, fn func(*sql.Tx) error) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return recordCatalogChange(ctx, tx, acct)
	})
}

// recordCatalogChange takes a change number for a write of the account's
// field definitions or segments, so that a reader of the history reloads
// them.
func recordCatalogChange(ctx context.Context, tx *sql.Tx, acct int64) error {
	seq, err := nextChange(ctx, tx)
	if err == nil {
		_, err = tx.ExecContext(ctx, "INSERT INTO catalog_changes (account_id, change_seq) VALUES (?, ?)", acct, seq)
	}
	return err
}

// ForgetChanges implements segmentd.Store.
func (s *Store) ForgetChanges(ctx context.Context, mark segmentd.ChangeMark) error {
	return s.writeTxKeep(ctx, true, func(tx *sql.Tx) error { // no contact changes
		for acct, through := range mark.Seqs {
			if _, err := tx.ExecContext(ctx, "DELETE FROM deletions WHERE account_id = ? AND change_seq <= ?", acct, through); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM event_attachments WHERE account_id = ? AND change_seq <= ?", acct, through); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM catalog_changes WHERE account_id = ? AND change_seq <= ?", acct, through); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM membership_changes WHERE account_id = ? AND change_seq <= ?", acct, through); err != nil {
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
