package postgres

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/eventblock"
)

// Packing the event rows stored before migration 0022 (docs/postgres.md,
// "Packing the rows stored before"). Until 0022 every event was a row of events; so
// are the events a migrate-store copies from SQLite. PackEventRows turns
// the rows that have a contact into blocks, as an event batch would have
// written them: the rows of at most blockSpan numbers to a block, keyed by
// its last event's number, in eventblock's encoding. The rows that stay
// rows are those that stay rows for new events too: an event with no
// contact (AttachEvents updates it), and an attached event whose
// attachment the change history still records (Changes reads it as a row
// by number, qEventsBySeq).
//
// It works a few blocks a transaction (packTxBlocks), each under the
// account's lock, so that an account of millions of events is never one
// transaction and its writers wait for one such transaction at most. A
// transaction writes its blocks and deletes their rows together: a crash
// or a kill leaves either, and the next run starts over from what is
// stored, since the rows left to pack are the state. The sg_event_ids
// stay in event_ids, where migration 0022 (or CopyFrom) put them: the
// account's idempotency does not change.
//
// A block never overlaps another (scanBlocks reads them in their keys'
// order): rows below the next block go into new blocks of their own, and
// rows inside a block's range (an event attached after the block was
// written, whose record the history has since forgotten) into that
// block, written again with them.

const (
	// packTxBlocks bounds the blocks one packing transaction writes: up to
	// 32,768 rows, the time the account's writers may wait.
	packTxBlocks = 8

	// qNextPackRow is the number of the first row after $2 that has a
	// contact: one range of the primary key, skipping the rows without.
	qNextPackRow = "SELECT seq FROM events WHERE account_id = $1 AND seq > $2 AND contact_id IS NOT NULL ORDER BY seq LIMIT 1"
	// qBlockFrom is the first block whose range ends at $2 or after.
	qBlockFrom = "SELECT first_seq, last_seq FROM event_blocks WHERE account_id = $1 AND last_seq >= $2 ORDER BY last_seq LIMIT 1"
	// qAttachedIn are the numbers in [$2, $3] whose attachment the history
	// records.
	qAttachedIn = "SELECT event_seq FROM event_attachments WHERE account_id = $1 AND event_seq BETWEEN $2 AND $3"
	// qTakePackRows deletes the rows of [$2, $3] that have a contact,
	// except the numbers $4, and returns them.
	qTakePackRows = "DELETE FROM events e WHERE e.account_id = $1 AND e.seq BETWEEN $2 AND $3 AND e.contact_id IS NOT NULL AND e.seq <> ALL ($4::bigint[]) RETURNING e.seq, " + eventColumns
	// qBlockData and qRewriteBlock read a block and write it again.
	qBlockData    = "SELECT data FROM event_blocks WHERE account_id = $1 AND last_seq = $2"
	qRewriteBlock = "UPDATE event_blocks SET min_ts = $3, data = $4 WHERE account_id = $1 AND last_seq = $2"
)

// packLockKey names the advisory lock a packing run holds, so that the
// servers starting together over one database pack once: the others wait
// for it, then find nothing left. It names the schema, as the migrations'
// lock does.
func packLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("segmentd event rows\x00" + schema))
	return int64(h.Sum64())
}

// PackProgress is what PackEventRows reports as it goes.
type PackProgress struct {
	// Waiting reports that another server packs: this one tries again
	// every packRetry.
	Waiting bool
	// Account is the account of the transaction just committed.
	Account int64
	// Packed are the events the run has packed so far, all accounts.
	Packed int
}

// packRetry is how often a server waiting for another's packing run tries
// to take over: a run whose server died is resumed that much later.
const packRetry = 10 * time.Second

// PackEventRows packs every account's event rows that have a contact into
// blocks (above) and returns the events packed: 0 once all are. It first
// finds the accounts with rows to pack, taking no lock; with none it is
// done. Otherwise it packs them on one connection holding a session
// advisory lock, which one server of the database holds at a time: a
// server that finds it held tries again every packRetry, holding no
// connection meanwhile, and packs what is left when it gets it (nothing,
// once the holder finished). progress, when not nil, is called after each
// transaction that packed and while waiting. A run stopped part-way (its
// context ended, its server killed) leaves whole transactions, and the
// next goes on.
func (s *Store) PackEventRows(ctx context.Context, progress func(PackProgress)) (int, error) {
	report := func(p PackProgress) {
		if progress != nil {
			progress(p)
		}
	}
	accts, err := s.accountsToPack(ctx)
	if err != nil || len(accts) == 0 {
		return 0, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, classify(err)
	}
	key := packLockKey(s.schema)
	waited := false
	for {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil {
			// Cancelled, the request may have taken the lock: closing the
			// session releases it either way.
			conn.Conn().Close(context.Background())
			conn.Release()
			return 0, classify(err)
		}
		if ok {
			break
		}
		conn.Release()
		waited = true
		report(PackProgress{Waiting: true})
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(packRetry):
		}
		if conn, err = s.pool.Acquire(ctx); err != nil {
			return 0, classify(err)
		}
	}
	defer func() {
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", key); err != nil {
			conn.Conn().Close(context.Background())
		}
		conn.Release()
	}()
	if waited {
		// What the other server left, if anything.
		if accts, err = s.accountsToPack(ctx); err != nil {
			return 0, err
		}
	}
	txBlocks := packTxBlocks
	if s.packBlocks > 0 {
		txBlocks = s.packBlocks
	}
	total := 0
	for _, acct := range accts {
		err := packAccount(ctx, conn, acct, txBlocks, 0, func(n int) {
			total += n
			report(PackProgress{Account: acct, Packed: total})
		})
		if err != nil {
			return total, classify(fmt.Errorf("packing the event rows of account %d: %w", acct, err))
		}
	}
	return total, nil
}

// accountsToPack are the accounts with a row of events that has a contact:
// one probe of each account's rows (qNextPackRow).
func (s *Store) accountsToPack(ctx context.Context) ([]int64, error) {
	accts, err := queryAll(ctx, s.db, func(r pgx.Row) (int64, error) {
		var id int64
		return id, r.Scan(&id)
	}, "SELECT id FROM accounts ORDER BY id")
	if err != nil {
		return nil, err
	}
	var out []int64
	for _, acct := range accts {
		var seq int64
		err := s.db.QueryRow(ctx, qNextPackRow, acct, 0).Scan(&seq)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, acct)
	}
	return out, nil
}

// packConn is what packs: the locked connection, or in tests the pool.
type packConn interface {
	querier
	Begin(ctx context.Context) (pgx.Tx, error)
}

// packAccount packs the account's rows on db, txBlocks blocks a
// transaction, each under the account's lock, and stops after maxTx
// transactions (0: no bound); done is told each transaction's events.
func packAccount(ctx context.Context, db packConn, acct int64, txBlocks, maxTx int, done func(int)) error {
	var after int64 // every row with a contact up to it is packed or stays
	for n := 0; maxTx == 0 || n < maxTx; n++ {
		var packed int
		more := false
		err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
			if err := lockAccount(ctx, tx, acct); err != nil {
				return err
			}
			var err error
			packed, after, more, err = packRows(ctx, tx, acct, after, txBlocks)
			return err
		})
		if err != nil {
			return err
		}
		if packed > 0 {
			done(packed)
		}
		if !more {
			return nil
		}
	}
	return nil
}

// packRows packs up to txBlocks blocks of the account's rows with a
// contact numbered after after, inside tx, which holds the account's
// lock. It returns the events packed, the number up to which every row
// with a contact is packed or stays a row, and whether rows may be left.
func packRows(ctx context.Context, tx pgx.Tx, acct, after int64, txBlocks int) (int, int64, bool, error) {
	packed := 0
	var enc eventblock.Encoder
	var br eventblock.Reader
	for range txBlocks {
		var lo int64
		err := tx.QueryRow(ctx, qNextPackRow, acct, after).Scan(&lo)
		if errors.Is(err, pgx.ErrNoRows) {
			return packed, after, false, nil
		}
		if err != nil {
			return packed, after, false, err
		}
		// The range the row's block covers: a new block's, of at most
		// blockSpan numbers below the next block, or the block's whose
		// range holds it (into).
		hi, into := lo+blockSpan-1, false
		var bFirst, bLast int64
		err = tx.QueryRow(ctx, qBlockFrom, acct, lo).Scan(&bFirst, &bLast)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return packed, after, false, err
		case bFirst <= lo:
			lo, hi, into = bFirst, bLast, true
		default:
			hi = min(hi, bFirst-1)
		}
		attached, err := queryAll(ctx, tx, func(r pgx.Row) (int64, error) {
			var seq int64
			return seq, r.Scan(&seq)
		}, qAttachedIn, acct, lo, hi)
		if err != nil {
			return packed, after, false, err
		}
		evs, seqs, err := takePackRows(ctx, tx, acct, lo, hi, attached)
		if err != nil {
			return packed, after, false, err
		}
		after = hi
		if len(evs) == 0 {
			continue // attached events only
		}
		if !into {
			enc.Reset(seqs[0])
			for i := range evs {
				enc.Add(seqs[i], &evs[i])
			}
			if _, err := tx.Exec(ctx, qInsertBlock, acct, seqs[len(seqs)-1], seqs[0], enc.MinTimestamp(), enc.Bytes()); err != nil {
				return packed, after, false, err
			}
			packed += len(evs)
			continue
		}
		// Into the block whose range holds them: written again with them.
		var data []byte
		if err := tx.QueryRow(ctx, qBlockData, acct, bLast).Scan(&data); err != nil {
			return packed, after, false, err
		}
		bevs, bseqs, err := eventblock.Decode(&br, string(data), bFirst, math.MinInt64, nil, nil)
		if err != nil {
			return packed, after, false, fmt.Errorf("event block to %d of account %d: %w", bLast, acct, err)
		}
		all, allSeqs := eventblock.Merge(bevs, bseqs, evs, seqs, len(bevs)+len(evs))
		enc.Reset(bFirst)
		for i := range all {
			enc.Add(allSeqs[i], &all[i])
		}
		if _, err := tx.Exec(ctx, qRewriteBlock, acct, bLast, enc.MinTimestamp(), enc.Bytes()); err != nil {
			return packed, after, false, err
		}
		packed += len(evs)
	}
	return packed, after, true, nil
}

// takePackRows deletes the rows of [lo, hi] that have a contact, except
// those numbered in attached, and returns them in number order.
func takePackRows(ctx context.Context, tx pgx.Tx, acct, lo, hi int64, attached []int64) ([]segmentd.Event, []int64, error) {
	rows, err := tx.Query(ctx, qTakePackRows, acct, lo, hi, attached)
	if err != nil {
		return nil, nil, err
	}
	type numbered struct {
		seq int64
		ev  segmentd.Event
	}
	var got []numbered
	for rows.Next() {
		var e numbered
		if e.ev, err = scanEvent(rows, &e.seq); err != nil {
			rows.Close()
			return nil, nil, err
		}
		got = append(got, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	// DELETE … RETURNING returns them in no set order.
	slices.SortFunc(got, func(a, b numbered) int { return cmp.Compare(a.seq, b.seq) })
	evs, seqs := make([]segmentd.Event, len(got)), make([]int64, len(got))
	for i := range got {
		evs[i], seqs[i] = got[i].ev, got[i].seq
	}
	return evs, seqs, nil
}
