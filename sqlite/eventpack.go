package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/eventblock"
)

// Packing events into blocks (the encoding is internal/eventblock's,
// shared with the PostgreSQL store; docs/events.md "Packed event blocks").
//
// AddEventBatches writes each batch's events that have a contact straight
// into blocks, in the batch's own transaction: a block holds the events of
// one range of sequence numbers (at most eventBlockSpan of them), and the
// newest block's last_seq is the account's frontier. An event with no
// contact stays a row of event_rows inside its block's range (AttachEvents
// updates it when the contact appears, through the partial index
// events_unattached), as does an event whose attachment the change history
// records (event_attachments, which Changes reads with the rows). So every
// reader of the events reads both, merged by sequence number
// (scanEventPage).
//
// Rows with a contact above the frontier are what a segmentd before
// direct blocks left (it kept the newest events as rows and packed them
// later), or an upgrade from a schema without blocks: packEvents packs
// them, in blocks of at most eventBlockSpan numbers, before a batch writes
// its own blocks above them, and Open packs every account's
// (packUpgraded). A block and the deletion of its rows are one
// transaction, so a crash leaves either the rows or the block.

const (
	// eventBlockSpan bounds the sequence numbers of one block.
	eventBlockSpan = 4096
	// packTxBlocks bounds the blocks one of Open's packing transactions
	// writes.
	packTxBlocks = 32
)

const (
	qEventFrontier = "SELECT last_seq FROM event_blocks WHERE account_id = ? ORDER BY first_seq DESC LIMIT 1"
	qRowsFirstSeq  = "SELECT COALESCE(MIN(seq), 0) FROM event_rows WHERE account_id = ? AND seq > ?"
	qRowsLastSeq   = "SELECT COALESCE(MAX(seq), 0) FROM event_rows WHERE account_id = ?"
	// qPackRows and qDeletePacked select the same rows: those of a range
	// that have a contact and no attachment the history records.
	qPackRows = "SELECT seq, " + eventColumns + " FROM event_rows WHERE account_id = ?1 AND seq BETWEEN ?2 AND ?3 AND contact_id IS NOT NULL " +
		"AND seq NOT IN (SELECT event_seq FROM event_attachments WHERE account_id = ?1 AND event_seq BETWEEN ?2 AND ?3) ORDER BY seq"
	qDeletePacked = "DELETE FROM event_rows WHERE account_id = ?1 AND seq BETWEEN ?2 AND ?3 AND contact_id IS NOT NULL " +
		"AND seq NOT IN (SELECT event_seq FROM event_attachments WHERE account_id = ?1 AND event_seq BETWEEN ?2 AND ?3)"
	qInsertBlock = "INSERT INTO event_blocks (account_id, first_seq, last_seq, events, min_timestamp, data) VALUES (?, ?, ?, ?, ?, ?)"
	// qScanBlocks reads the blocks holding events after ?2, in order: from
	// the one whose range holds ?2 + 1, if any. A block is read as text
	// (its bytes as they are: the database's encoding is UTF-8), which the
	// driver hands over as the string decodeBlock reads: read as a blob,
	// each block was copied twice (the driver's bytes, then a string of
	// them), a fifth of what a rebuild's events allocated.
	qScanBlocks = "SELECT first_seq, CAST(data AS TEXT) FROM event_blocks WHERE account_id = ?1 AND events > 0 AND first_seq >= COALESCE(" +
		"(SELECT CASE WHEN last_seq > ?2 THEN first_seq ELSE ?2 + 1 END FROM event_blocks WHERE account_id = ?1 AND first_seq <= ?2 ORDER BY first_seq DESC LIMIT 1), 0) " +
		"ORDER BY first_seq"
	// qBlockAt reads the block whose range may hold a sequence number.
	qBlockAt        = "SELECT first_seq, last_seq, data FROM event_blocks WHERE account_id = ?1 AND first_seq <= ?2 ORDER BY first_seq DESC LIMIT 1"
	qAccountBlocks  = "SELECT first_seq, data FROM event_blocks WHERE account_id = ? AND events > 0 ORDER BY first_seq"
	qBlocksBefore   = "SELECT first_seq FROM event_blocks WHERE account_id = ? AND min_timestamp < ? ORDER BY first_seq"
	qBlockData      = "SELECT data FROM event_blocks WHERE account_id = ? AND first_seq = ?"
	qRewriteBlock   = "UPDATE event_blocks SET events = ?, min_timestamp = ?, data = ? WHERE account_id = ? AND first_seq = ?"
	qBlocksMinTime  = "SELECT MIN(min_timestamp) FROM event_blocks WHERE account_id = ?"
	qBlocksFirstSeq = "SELECT first_seq FROM event_blocks WHERE account_id = ? AND events > 0 ORDER BY first_seq LIMIT 1"
	qEventAccounts  = "SELECT id FROM accounts"
)

// packEvents packs the account's rows above its frontier into blocks of
// at most s.span numbers, at most maxBlocks blocks (0: no bound), inside
// the write transaction tx. It returns the events packed and whether rows
// are left above the frontier. Without such rows (the usual case) it costs
// one probe of each B-tree.
func (s *Store) packEvents(ctx context.Context, tx *sql.Tx, acct int64, maxBlocks int) (int, bool, error) {
	var last int64
	if err := tx.QueryRowContext(ctx, qRowsLastSeq, acct).Scan(&last); err != nil {
		return 0, false, err
	}
	var frontier int64
	if err := tx.QueryRowContext(ctx, qEventFrontier, acct).Scan(&frontier); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, false, err
	}
	packed := 0
	for n := 0; last > frontier; n++ {
		if maxBlocks > 0 && n == maxBlocks {
			return packed, true, nil
		}
		var lo int64
		if err := tx.QueryRowContext(ctx, qRowsFirstSeq, acct, frontier).Scan(&lo); err != nil {
			return packed, false, err
		}
		hi := min(lo+s.span-1, last)
		k, err := s.packBlock(ctx, tx, acct, lo, hi)
		if err != nil {
			return packed, false, fmt.Errorf("packing events %d to %d: %w", lo, hi, err)
		}
		packed += k
		frontier = hi
	}
	return packed, false, nil
}

// packBlock writes the rows of [lo, hi] that can be packed as one block and
// deletes them.
func (s *Store) packBlock(ctx context.Context, tx *sql.Tx, acct, lo, hi int64) (int, error) {
	rows, err := tx.QueryContext(ctx, qPackRows, acct, lo, hi)
	if err != nil {
		return 0, err
	}
	r := eventRows{withSeq: true, seqs: []int64{}}
	for rows.Next() {
		if err := r.scan(rows); err != nil {
			rows.Close()
			return 0, err
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	seqs := r.seqs
	evs := r.events()
	res, err := tx.ExecContext(ctx, qDeletePacked, acct, lo, hi)
	if err != nil {
		return 0, err
	}
	if n, err := res.RowsAffected(); err != nil || n != int64(len(evs)) {
		return 0, fmt.Errorf("deleted %d rows for %d packed events (%v)", n, len(evs), err)
	}
	if err := s.insertBlock(ctx, tx, acct, lo, hi, seqs, evs); err != nil {
		return 0, err
	}
	return len(evs), nil
}

// insertBlock writes evs, numbered seqs, as the block of [lo, hi].
func (s *Store) insertBlock(ctx context.Context, tx *sql.Tx, acct, lo, hi int64, seqs []int64, evs []segmentd.Event) error {
	e := &s.packer
	e.Reset(lo)
	for i := range evs {
		e.Add(seqs[i], &evs[i])
	}
	_, err := tx.ExecContext(ctx, qInsertBlock, acct, lo, hi, e.Len(), e.MinTimestamp(), e.Bytes())
	return err
}

// writeBlock writes the block of the events evs numbered from first on:
// those that have a contact (the others are rows).
func (s *Store) writeBlock(ctx context.Context, tx *sql.Tx, acct, first int64, evs []segmentd.Event) error {
	e := &s.packer
	e.Reset(first)
	for i := range evs {
		if evs[i].ContactID != "" {
			e.Add(first+int64(i), &evs[i])
		}
	}
	_, err := tx.ExecContext(ctx, qInsertBlock, acct, first, first+int64(len(evs))-1, e.Len(), e.MinTimestamp(), e.Bytes())
	return err
}

// packAll packs every account's rows above its frontier (packEvents), a
// few blocks a transaction: at Open, after an upgrade from a schema
// without blocks or from a segmentd that packed later (a crash part-way
// leaves whole blocks, and the next Open goes on). It returns the events
// packed.
func (s *Store) packAll(ctx context.Context) (int, error) {
	accts, err := queryAll(ctx, s.write, scanInt64, qEventAccounts)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, acct := range accts {
		for {
			var n int
			var more bool
			err := s.writeTx(ctx, func(tx *sql.Tx) error {
				var err error
				n, more, err = s.packEvents(ctx, tx, acct, packTxBlocks)
				return err
			})
			if err != nil {
				return total, err
			}
			total += n
			if !more {
				break
			}
		}
	}
	return total, nil
}

// packUpgraded packs what an upgrade from a schema without blocks left as
// rows (packAll) and, when it packed any, gives the pages the rows held
// back to the file system (vacuumIfSparse) if they are more than an
// eighth of the file: the blocks take about two thirds of the rows'
// pages, so at the upgrade of a file made mostly of events about a
// third of it is freed.
func (s *Store) packUpgraded(ctx context.Context) error {
	n, err := s.packAll(ctx)
	if err != nil || n == 0 {
		return err
	}
	return s.vacuumIfSparse(ctx, 8)
}

// scanBlocks appends the events of the account's blocks after the
// sequence number after to evs (their numbers to seqs), block by block,
// until at least limit are read.
func scanBlocks(ctx context.Context, q queryer, acct, after int64, limit int, evs []segmentd.Event, seqs []int64, lean bool) ([]segmentd.Event, []int64, error) {
	decode := eventblock.Decode
	if lean {
		decode = eventblock.DecodeLean
	}
	rows, err := q.QueryContext(ctx, qScanBlocks, acct, after)
	if err != nil {
		return evs, seqs, err
	}
	defer rows.Close()
	var br eventblock.Reader
	var first int64
	var data string
	for len(evs) < limit && rows.Next() {
		if err := rows.Scan(&first, &data); err != nil {
			return evs, seqs, err
		}
		if evs, seqs, err = decode(&br, data, first, after, evs, seqs); err != nil {
			return evs, seqs, fmt.Errorf("event block %d of account %d: %w", first, acct, err)
		}
	}
	return evs, seqs, rows.Err()
}

// blockIDs are the sg_event_ids (stored forms) of one block, by sequence
// number, kept for the duplicate probes of one batch.
type blockIDs struct {
	acct, first, last int64
	seqs              []int64
	ids               []string
}

// storedIDAt tells whether the block holding seq, if any, holds an event
// numbered seq whose stored sg_event_id is stored.
func (c *blockIDs) storedIDAt(ctx context.Context, tx *sql.Tx, acct, seq int64, stored string) (bool, error) {
	if c.seqs == nil || c.acct != acct || seq < c.first || seq > c.last {
		var data []byte
		*c = blockIDs{acct: acct}
		err := tx.QueryRowContext(ctx, qBlockAt, acct, seq).Scan(&c.first, &c.last, &data)
		if errors.Is(err, sql.ErrNoRows) {
			c.first, c.last, c.seqs = math.MaxInt64, math.MinInt64, []int64{}
			return false, nil
		}
		if err != nil {
			return false, err
		}
		var br eventblock.Reader
		br.Open(string(data), c.first)
		for br.Next() {
			c.seqs = append(c.seqs, br.Ev.Seq)
			c.ids = append(c.ids, br.Ev.StoredID)
		}
		if br.Err() != nil {
			return false, fmt.Errorf("event block %d of account %d: %w", c.first, acct, br.Err())
		}
		if c.seqs == nil {
			c.seqs = []int64{}
		}
		if seq > c.last {
			return false, nil
		}
	}
	i, ok := slices.BinarySearch(c.seqs, seq)
	return ok && c.ids[i] == stored, nil
}

// pruneBlocks deletes the events older than before (unix ms) from the
// account's blocks, one block per transaction, rewriting each block that
// holds one (a block left empty stays, so that the frontier and the
// sequence numbers never go back). It returns the events deleted.
func (s *Store) pruneBlocks(ctx context.Context, acct, before int64) (int, error) {
	firsts, err := queryAll(ctx, s.read, scanInt64, qBlocksBefore, acct, before)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, first := range firsts {
		var pruned int
		err := s.writeTx(ctx, func(tx *sql.Tx) error {
			var data []byte
			if err := tx.QueryRowContext(ctx, qBlockData, acct, first).Scan(&data); err != nil {
				return err
			}
			var br eventblock.Reader
			evs, seqs, err := eventblock.Decode(&br, string(data), first, math.MinInt64, nil, nil)
			if err != nil {
				return fmt.Errorf("event block %d of account %d: %w", first, acct, err)
			}
			e := &s.packer
			e.Reset(first)
			for i := range evs {
				if toMS(evs[i].Timestamp) >= before {
					e.Add(seqs[i], &evs[i])
				}
			}
			if _, err := tx.ExecContext(ctx, qRewriteBlock, e.Len(), e.MinTimestamp(), e.Bytes(), acct, first); err != nil {
				return err
			}
			pruned = len(evs) - e.Len()
			return nil
		})
		if err != nil {
			return total, err
		}
		total += pruned
	}
	return total, nil
}
