package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/segmentd/segmentd"
)

// Packing events into blocks (eventblock.go; docs/events.md "Packed event
// blocks").
//
// An account's events above its newest block's range are rows of
// event_rows, as AddEvents writes them. Once there are more than
// span+keep sequence numbers above that range, the oldest span of them
// become a block: in one transaction, the rows of the range are read,
// encoded, written as one row of event_blocks and deleted, so a crash
// leaves either the rows or the block, never both or neither. Blocks are
// written in order: the newest block's last_seq is the account's packing
// frontier, and each block covers the range from the first row above the
// frontier.
//
// Two kinds of row stay rows when their range is packed: an event with no
// contact (AttachEvents updates it when the contact appears, through the
// partial index events_unattached), and an event whose attachment the
// change history still records (event_attachments, which Changes reads
// with the rows). So every reader of the events reads both, merged by
// sequence number (scanEventPage).
//
// AddEventBatches stores rows only; the store's packer (packLoop, below)
// packs after its commit, a block a transaction, on the writer's idle
// turns. Open packs what an upgrade from a schema without blocks, or a
// stop before the packer caught up, left as rows.

// Packing parameters: a block covers eventBlockSpan sequence numbers, and
// the newest eventBlockKeep stay rows (the events most likely to be
// redelivered, whose duplicate probes read a row rather than decode a
// block).
const (
	eventBlockSpan = 4096
	eventBlockKeep = 4096
	// packTxBlocks bounds the blocks one of Open's packing transactions
	// writes.
	packTxBlocks = 32
)

// eventTail is what the writer holds of an account's newest events, so
// that packing them need not read their rows back (most of its cost):
// every event stored since it started that has a contact, in sequence
// order, from the number from up. It lives in the account's hash set
// (eventcache.go) and is dropped with it; a write that changes event rows
// other than by adding them (AttachEvents, a prune, a reset) makes it
// stale inside its transaction (eventCache.forgetTail), and the next batch
// starts it again after its own number. A block whose range it covers is
// encoded from it; the rows are still deleted by the same statement, which
// must delete exactly as many rows as it holds there, or the block is
// packed from the rows instead.
type eventTail struct {
	stale bool
	from  int64
	seqs  []int64
	evs   []segmentd.Event
}

// add records the events evs, numbered after last, that AddEvents stored.
func (t *eventTail) add(last int64, evs []segmentd.Event) {
	if t.stale {
		*t = eventTail{from: last + 1}
	}
	for i := range evs {
		if evs[i].ContactID != "" {
			t.seqs = append(t.seqs, last+1+int64(i))
			t.evs = append(t.evs, evs[i])
		}
	}
}

// take returns the events it holds of [lo, hi], if it covers the range.
func (t *eventTail) take(lo, hi int64) ([]int64, []segmentd.Event, bool) {
	if t == nil || t.stale || t.from > lo {
		return nil, nil, false
	}
	n, _ := slices.BinarySearch(t.seqs, hi+1)
	return t.seqs[:n], t.evs[:n], true
}

// drop forgets the events through hi, which are packed.
func (t *eventTail) drop(hi int64) {
	n, _ := slices.BinarySearch(t.seqs, hi+1)
	t.seqs, t.evs = t.seqs[n:], t.evs[n:]
	t.from = hi + 1
}

// packParams are a store's packing parameters (tests set small ones).
type packParams struct{ span, keep int64 }

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
	// the one whose range holds ?2 + 1, if any.
	qScanBlocks = "SELECT first_seq, data FROM event_blocks WHERE account_id = ?1 AND events > 0 AND first_seq >= COALESCE(" +
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

// packEvents packs the account's events into blocks while more than
// span+keep sequence numbers lie above its frontier, at most maxBlocks
// blocks (0: no bound), inside the write transaction tx, from tail where
// it can (nil: from the rows). It returns the events packed and how many
// sequence numbers then lie above the frontier (more blocks are due while
// that is at least span+keep).
func (s *Store) packEvents(ctx context.Context, tx *sql.Tx, acct int64, maxBlocks int, tail *eventTail) (int, int64, error) {
	p := s.pack
	var last int64
	if err := tx.QueryRowContext(ctx, qRowsLastSeq, acct).Scan(&last); err != nil {
		return 0, 0, err
	}
	var frontier int64
	if err := tx.QueryRowContext(ctx, qEventFrontier, acct).Scan(&frontier); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, 0, err
	}
	if last-frontier < p.span+p.keep {
		return 0, max(last-frontier, 0), nil // the usual case: one probe of each B-tree
	}
	packed, rest := 0, last-frontier
	for n := 0; maxBlocks == 0 || n < maxBlocks; n++ {
		var lo int64
		if err := tx.QueryRowContext(ctx, qRowsFirstSeq, acct, frontier).Scan(&lo); err != nil {
			return packed, 0, err
		}
		if lo == 0 {
			return packed, 0, nil
		}
		// The numbers from the first row on: the frontier's own gap (events
		// pruned, a block's unused end) is no work.
		rest = last - lo + 1
		hi := lo + p.span - 1
		if last-hi < p.keep {
			break
		}
		k, err := s.packBlock(ctx, tx, acct, lo, hi, tail)
		if err != nil {
			return packed, 0, fmt.Errorf("packing events %d to %d: %w", lo, hi, err)
		}
		packed += k
		frontier, rest = hi, last-hi
	}
	return packed, rest, nil
}

// packBlock writes the rows of [lo, hi] that can be packed as one block and
// deletes them: from tail when it covers the range, else from the rows.
func (s *Store) packBlock(ctx context.Context, tx *sql.Tx, acct, lo, hi int64, tail *eventTail) (int, error) {
	if seqs, evs, ok := tail.take(lo, hi); ok {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT pack"); err != nil {
			return 0, err
		}
		res, err := tx.ExecContext(ctx, qDeletePacked, acct, lo, hi)
		if err != nil {
			return 0, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, err
		}
		if n == int64(len(evs)) {
			if err := s.insertBlock(ctx, tx, acct, lo, hi, seqs, evs); err != nil {
				return 0, err
			}
			if _, err := tx.ExecContext(ctx, "RELEASE pack"); err != nil {
				return 0, err
			}
			tail.drop(hi)
			return len(evs), nil
		}
		// Not the rows the tail holds (it should not happen): from the
		// rows then, and the tail starts again.
		if _, err := tx.ExecContext(ctx, "ROLLBACK TO pack; RELEASE pack"); err != nil {
			return 0, err
		}
		*tail = eventTail{stale: true}
	}
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
	e.reset(lo)
	var oldest any
	for i := range evs {
		e.add(seqs[i], &evs[i])
		ts := toMS(evs[i].Timestamp)
		if o, ok := oldest.(int64); !ok || ts < o {
			oldest = ts
		}
	}
	_, err := tx.ExecContext(ctx, qInsertBlock, acct, lo, hi, len(evs), oldest, e.bytes())
	return err
}

// packAll packs every account's events as AddEventBatches would, a few
// blocks a transaction: at Open, after an upgrade from a schema without
// blocks (a crash part-way leaves whole blocks, and the next Open goes on).
// It returns the events packed.
func (s *Store) packAll(ctx context.Context) (int, error) {
	accts, err := queryAll(ctx, s.write, scanInt64, qEventAccounts)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, acct := range accts {
		for {
			var n int
			err := s.writeTx(ctx, func(tx *sql.Tx) error {
				var err error
				n, _, err = s.packEvents(ctx, tx, acct, packTxBlocks, nil)
				return err
			})
			if err != nil {
				return total, err
			}
			total += n
			if n == 0 {
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
func scanBlocks(ctx context.Context, q queryer, acct, after int64, limit int, evs []segmentd.Event, seqs []int64) ([]segmentd.Event, []int64, error) {
	rows, err := q.QueryContext(ctx, qScanBlocks, acct, after)
	if err != nil {
		return evs, seqs, err
	}
	defer rows.Close()
	var br blockReader
	var first int64
	var data sql.RawBytes
	for len(evs) < limit && rows.Next() {
		if err := rows.Scan(&first, &data); err != nil {
			return evs, seqs, err
		}
		if evs, seqs, err = decodeBlock(&br, string(data), first, after, evs, seqs); err != nil {
			return evs, seqs, fmt.Errorf("event block %d of account %d: %w", first, acct, err)
		}
	}
	return evs, seqs, rows.Err()
}

// mergeEvents merges two runs of events each in sequence order (a's
// numbers in as, b's in bs) and keeps the first limit.
func mergeEvents(a []segmentd.Event, as []int64, b []segmentd.Event, bs []int64, limit int) ([]segmentd.Event, []int64) {
	if len(b) == 0 {
		return a[:min(len(a), limit)], as[:min(len(as), limit)]
	}
	if len(a) == 0 {
		return b[:min(len(b), limit)], bs[:min(len(bs), limit)]
	}
	n := min(len(a)+len(b), limit)
	out := make([]segmentd.Event, 0, n)
	seqs := make([]int64, 0, n)
	i, j := 0, 0
	for len(out) < n {
		if j == len(b) || i < len(a) && as[i] < bs[j] {
			out, seqs = append(out, a[i]), append(seqs, as[i])
			i++
		} else {
			out, seqs = append(out, b[j]), append(seqs, bs[j])
			j++
		}
	}
	return out, seqs
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
		var br blockReader
		br.open(string(data), c.first)
		for br.next() {
			c.seqs = append(c.seqs, br.ev.seq)
			c.ids = append(c.ids, br.ev.storedID)
		}
		if br.err != nil {
			return false, fmt.Errorf("event block %d of account %d: %w", c.first, acct, br.err)
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
			s.events.forgetTail(acct)
			var data []byte
			if err := tx.QueryRowContext(ctx, qBlockData, acct, first).Scan(&data); err != nil {
				return err
			}
			var br blockReader
			evs, seqs, err := decodeBlock(&br, string(data), first, math.MinInt64, nil, nil)
			if err != nil {
				return fmt.Errorf("event block %d of account %d: %w", first, acct, err)
			}
			e := &s.packer
			e.reset(first)
			var oldest any
			for i := range evs {
				ts := toMS(evs[i].Timestamp)
				if ts < before {
					continue
				}
				e.add(seqs[i], &evs[i])
				if o, ok := oldest.(int64); !ok || ts < o {
					oldest = ts
				}
			}
			if _, err := tx.ExecContext(ctx, qRewriteBlock, e.n, oldest, e.bytes(), acct, first); err != nil {
				return err
			}
			pruned = len(evs) - e.n
			return nil
		})
		if err != nil {
			return total, err
		}
		total += pruned
	}
	return total, nil
}

// Packing off the ingest path. AddEventBatches only stores rows; after its
// commit it tells packQueue how many events it added, and packLoop, a
// goroutine of the store, packs the accounts that have a block's worth
// above their frontier, one block a write transaction, on the writer's
// idle turns: it waits while any other write transaction runs or waits for
// the writer. A batch that arrives while a block is being packed waits for
// that one block only (a few milliseconds). Only an account more than
// packForceBlocks blocks behind is packed while writers wait, a block
// between their transactions, so that under a load that never leaves the
// writer idle the rows (and the writer's memory of them, eventTail) stay
// bounded.
//
// Each block is one transaction, as before: a kill -9 at any point leaves
// either its rows or the block. Readers merge blocks and rows by sequence
// number inside one read transaction, so a page read while a block is
// packed sees either its rows or the block.

// packForceBlocks is how many blocks an account may fall behind before
// packLoop packs it while writers wait.
const packForceBlocks = 16

// packQueue is what packLoop works from.
type packQueue struct {
	mu     sync.Mutex
	behind map[int64]int64 // per account due: sequence numbers above its frontier, as last known
	wake   chan struct{}   // cap 1: an account became due
	idle   chan struct{}   // cap 1: the last write transaction ended
	// writers counts the write transactions running or waiting for the
	// writer connection (writeConnTx).
	writers atomic.Int64
	// run is held by packLoop for each block, and by a prune for its
	// whole length (its reads of the blocks and rows span transactions).
	run sync.Mutex
	// inline: pack in AddEventBatches' goroutine after its commit, each
	// block its own transaction, rather than on packLoop (tests, so that
	// the store contracts meet blocks at known points); inlineErr keeps
	// what that packing failed with (under inlineMu: batches may run
	// side by side).
	inline    bool
	inlineMu  sync.Mutex
	inlineErr error
}

func newPackQueue() packQueue {
	return packQueue{behind: make(map[int64]int64), wake: make(chan struct{}, 1), idle: make(chan struct{}, 1)}
}

// enter and leave bracket a write transaction, waiting included.
func (q *packQueue) enter() { q.writers.Add(1) }

func (q *packQueue) leave() {
	if q.writers.Add(-1) == 0 {
		select {
		case q.idle <- struct{}{}:
		default:
		}
	}
}

// added notes that n events were stored for acct: it is due once a block
// and the kept rows lie above its frontier (an account not known yet is
// checked at once).
func (q *packQueue) added(acct int64, n int, p packParams) {
	q.mu.Lock()
	b, ok := q.behind[acct]
	if !ok {
		b = p.span + p.keep
	}
	q.behind[acct] = b + int64(n)
	q.mu.Unlock()
	if q.inline {
		return // the caller packs
	}
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next returns an account due and how far behind it is, preferring the
// furthest behind.
func (q *packQueue) next(p packParams) (acct, behind int64, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for a, b := range q.behind {
		if b < p.span+p.keep {
			delete(q.behind, a)
			continue
		}
		if !ok || b > behind {
			acct, behind, ok = a, b, true
		}
	}
	return acct, behind, ok
}

// packed records what a packing transaction left of acct: rest sequence
// numbers above its frontier, plus the events stored since (which added
// counted on top of the estimate the transaction replaces).
func (q *packQueue) packed(acct, before, rest int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.behind[acct] = rest + max(q.behind[acct]-before, 0)
}

// drained tells whether no account is due (benchmarks wait for it).
func (q *packQueue) drained() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.behind) == 0 && q.writers.Load() == 0
}

// drop forgets acct until events are added again (its packing failed).
func (q *packQueue) drop(acct int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.behind, acct)
}

// packLoop packs the accounts due (packQueue) until the store closes. It
// reads nothing of the store's settings before the first wake, which
// comes from an AddEventBatches after them.
func (s *Store) packLoop(ctx context.Context) {
	q := &s.packing
	for {
		select {
		case <-q.wake:
		case <-ctx.Done():
			return
		}
	accounts:
		for {
			acct, behind, ok := q.next(s.pack)
			if !ok {
				break
			}
			for behind < s.pack.keep+packForceBlocks*s.pack.span && q.writers.Load() > 0 {
				select {
				case <-q.idle:
				case <-q.wake: // perhaps another account, further behind
					if acct, behind, ok = q.next(s.pack); !ok {
						break accounts
					}
				case <-ctx.Done():
					return
				}
			}
			if _, err := s.packStep(ctx, acct, behind); err != nil {
				if ctx.Err() != nil {
					return
				}
				// The rows stay rows (each block is all or nothing); the
				// account is tried again when events are next added to it.
				s.logger().Error("sqlite: packing events into a block failed; they stay rows until the account's next events",
					"account", acct, "err", err)
				q.drop(acct)
			}
		}
	}
}

// packStep packs one block of acct in one write transaction, if one is
// due, from the writer's memory of its newest events where it can. behind
// is the estimate the caller acted on. It returns the events packed.
func (s *Store) packStep(ctx context.Context, acct, behind int64) (int, error) {
	q := &s.packing
	q.run.Lock()
	defer q.run.Unlock()
	var n int
	var rest int64
	err := s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		tail, err := s.cachedTail(ctx, tx, acct)
		if err != nil {
			return err
		}
		n, rest, err = s.packEvents(ctx, tx, acct, 1, tail)
		return err
	})
	if err != nil {
		return 0, err
	}
	q.packed(acct, behind, rest)
	return n, nil
}

// packNow packs every account's due blocks in the caller's goroutine, a
// block a transaction (packQueue.inline, tests).
func (s *Store) packNow(ctx context.Context) error {
	for {
		acct, behind, ok := s.packing.next(s.pack)
		if !ok {
			return nil
		}
		if _, err := s.packStep(ctx, acct, behind); err != nil {
			s.packing.drop(acct)
			return err
		}
	}
}
