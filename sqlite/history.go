package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
)

// Membership history (segmentd.HistoryStore, docs/history.md): every
// transition in segment_history, its segment named by a small number of
// history_segments.

var _ segmentd.HistoryStore = (*Store)(nil)

// historySegmentCounter names the account_counters row that numbers the
// account's history segments.
const historySegmentCounter = "history_segment"

// historyInsertRows is how many rows one INSERT of appendHistory
// carries: one statement per row cost about 20 µs a transition, most of
// it the driver's round trip.
const historyInsertRows = 128

// appendHistory stores numbered transitions in the history, in tx.
func appendHistory(ctx context.Context, tx *sql.Tx, acct int64, ts []segmentd.Transition) error {
	keys := map[string]int64{}
	const row = "(?, ?, ?, ?, ?, ?, ?)"
	full := "INSERT INTO segment_history (account_id, segment_key, at, seq, contact_id, email, kind) VALUES " + row + strings.Repeat(", "+row, historyInsertRows-1)
	st, err := tx.PrepareContext(ctx, full)
	if err != nil {
		return err
	}
	defer st.Close()
	args := make([]any, 0, 7*historyInsertRows)
	for i := range ts {
		t := &ts[i]
		key, ok := keys[t.SegmentID]
		if !ok {
			if key, err = historySegmentKey(ctx, tx, acct, t.SegmentID, true); err != nil {
				return err
			}
			keys[t.SegmentID] = key
		}
		args = append(args, acct, key, toMS(t.At), t.Seq, segmentd.HistoryContactKey(t.ContactID), t.Email, segmentd.HistoryKind(t))
		if len(args) == cap(args) {
			if _, err := st.ExecContext(ctx, args...); err != nil {
				return err
			}
			args = args[:0]
		}
	}
	if len(args) > 0 {
		q := "INSERT INTO segment_history (account_id, segment_key, at, seq, contact_id, email, kind) VALUES " + row + strings.Repeat(", "+row, len(args)/7-1)
		_, err = tx.ExecContext(ctx, q, args...)
	}
	return err
}

// historySegmentKey returns the history's number of a segment (0 when it
// has none and add is false).
func historySegmentKey(ctx context.Context, q queryer, acct int64, segID string, add bool) (int64, error) {
	var key int64
	err := q.QueryRowContext(ctx, "SELECT key FROM history_segments WHERE account_id = ? AND segment_id = ?", acct, segID).Scan(&key)
	if err != sql.ErrNoRows || !add {
		if err == sql.ErrNoRows {
			err = nil
		}
		return key, err
	}
	if err := q.QueryRowContext(ctx, `INSERT INTO account_counters (account_id, name, value) VALUES (?, ?, 1)
		ON CONFLICT (account_id, name) DO UPDATE SET value = value + 1 RETURNING value`, acct, historySegmentCounter).Scan(&key); err != nil {
		return 0, err
	}
	_, err = q.ExecContext(ctx, "INSERT INTO history_segments (account_id, segment_id, key) VALUES (?, ?, ?)", acct, segID, key)
	return key, err
}

// HistoryCounts implements segmentd.HistoryStore.
func (s *Store) HistoryCounts(ctx context.Context, acct int64, segID string, after time.Time, step time.Duration) ([]segmentd.HistoryCount, error) {
	key, err := historySegmentKey(ctx, s.read, acct, segID, false)
	if err != nil || key == 0 {
		return []segmentd.HistoryCount{}, err
	}
	from := toMS(after)
	return queryAll(ctx, s.read, func(row rowScanner) (segmentd.HistoryCount, error) {
		var c segmentd.HistoryCount
		err := row.Scan(&c.Bucket, &c.Entered, &c.Exited)
		return c, err
	}, `SELECT (at - ? - 1) / ? AS b, sum(kind & 1), sum(1 - (kind & 1)) FROM segment_history
		WHERE account_id = ? AND segment_key = ? AND at > ? GROUP BY b ORDER BY b`, from, step.Milliseconds(), acct, key, from)
}

// historyColumns are what scanHistory reads.
const historyColumns = "seq, at, contact_id, email, kind"

func scanHistory(acct int64, segID string) func(rowScanner) (segmentd.Transition, error) {
	return func(row rowScanner) (segmentd.Transition, error) {
		t := segmentd.Transition{AccountID: acct, SegmentID: segID}
		var at int64
		var kind int
		var contact []byte
		err := row.Scan(&t.Seq, &at, &contact, &t.Email, &kind)
		t.At, t.ContactID = fromMS(at), segmentd.HistoryContactID(contact)
		segmentd.SetHistoryKind(&t, kind)
		return t, err
	}
}

// HistoryMark implements segmentd.HistoryStore.
func (s *Store) HistoryMark(ctx context.Context, acct int64) (int64, error) {
	return lastTransition(ctx, s.read, acct)
}

// HistoryAfter implements segmentd.HistoryStore: one range of the
// index by number (segment_history_seq), the segments' ids read apart
// (joined, SQLite would search the account's segments for every row).
func (s *Store) HistoryAfter(ctx context.Context, acct int64, after int64) ([]segmentd.Transition, error) {
	type seg struct {
		key int64
		id  string
	}
	// Both reads in one transaction: a segment first recorded between
	// them would otherwise have transitions whose key names no segment.
	var out []segmentd.Transition
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		segs, err := queryAll(ctx, tx, func(row rowScanner) (seg, error) {
			var g seg
			err := row.Scan(&g.key, &g.id)
			return g, err
		}, "SELECT key, segment_id FROM history_segments WHERE account_id = ?", acct)
		if err != nil {
			return err
		}
		ids := make(map[int64]string, len(segs))
		for _, g := range segs {
			ids[g.key] = g.id
		}
		out, err = queryAll(ctx, tx, func(row rowScanner) (segmentd.Transition, error) {
			t := segmentd.Transition{AccountID: acct}
			var at, key int64
			var kind int
			var contact []byte
			if err := row.Scan(&key, &t.Seq, &at, &contact, &t.Email, &kind); err != nil {
				return t, err
			}
			id, ok := ids[key]
			if !ok {
				return t, fmt.Errorf("history: transition %d names segment key %d, which the account does not have", t.Seq, key)
			}
			t.SegmentID, t.At, t.ContactID = id, fromMS(at), segmentd.HistoryContactID(contact)
			segmentd.SetHistoryKind(&t, kind)
			return t, nil
		}, qHistoryAfter, acct, after)
		return err
	})
	return out, err
}

// qHistoryAfter reads an account's transitions numbered after a mark
// (HistoryAfter).
const qHistoryAfter = `SELECT segment_key, seq, at, contact_id, email, kind FROM segment_history
	WHERE account_id = ? AND seq > ? ORDER BY seq`

// HistoryTransitions implements segmentd.HistoryStore.
func (s *Store) HistoryTransitions(ctx context.Context, acct int64, segID string, from, to time.Time, after segmentd.HistoryCursor, limit int) ([]segmentd.Transition, error) {
	key, err := historySegmentKey(ctx, s.read, acct, segID, false)
	if err != nil || key == 0 {
		return []segmentd.Transition{}, err
	}
	cAt, cSeq := toMS(from), int64(-1)
	if !after.At.IsZero() && toMS(after.At) >= cAt {
		cAt, cSeq = toMS(after.At), after.Seq
	}
	return queryAll(ctx, s.read, scanHistory(acct, segID), "SELECT "+historyColumns+` FROM segment_history
		WHERE account_id = ? AND segment_key = ? AND (at, seq) > (?, ?) AND at < ? ORDER BY at, seq LIMIT ?`,
		acct, key, cAt, cSeq, toMS(to), limit)
}

// HistoryNextOf implements segmentd.HistoryStore.
func (s *Store) HistoryNextOf(ctx context.Context, acct int64, segID, contactID string, t time.Time) (segmentd.Transition, bool, error) {
	key, err := historySegmentKey(ctx, s.read, acct, segID, false)
	if err != nil || key == 0 {
		return segmentd.Transition{}, false, err
	}
	tr, err := scanHistory(acct, segID)(s.read.QueryRowContext(ctx, "SELECT "+historyColumns+` FROM segment_history
		WHERE account_id = ? AND contact_id = ? AND segment_key = ? AND at > ? ORDER BY at, seq LIMIT 1`, acct, segmentd.HistoryContactKey(contactID), key, toMS(t)))
	if err == sql.ErrNoRows {
		return tr, false, nil
	}
	return tr, err == nil, err
}

// HistoryFirstAfter implements segmentd.HistoryStore.
func (s *Store) HistoryFirstAfter(ctx context.Context, acct int64, segID string, t time.Time) ([]segmentd.Transition, error) {
	key, err := historySegmentKey(ctx, s.read, acct, segID, false)
	if err != nil || key == 0 {
		return []segmentd.Transition{}, err
	}
	ts, err := queryAll(ctx, s.read, scanHistory(acct, segID), "SELECT "+historyColumns+` FROM (
		SELECT `+historyColumns+`, row_number() OVER (PARTITION BY contact_id ORDER BY at, seq) AS n FROM segment_history
		WHERE account_id = ? AND segment_key = ? AND at > ?) WHERE n = 1`, acct, key, toMS(t))
	// Ordered by the ids, not by the keys the history keeps them as.
	slices.SortFunc(ts, func(a, b segmentd.Transition) int { return strings.Compare(a.ContactID, b.ContactID) })
	return ts, err
}

// PruneHistory implements segmentd.HistoryStore: segment by segment, each
// in a transaction of its own, so that the writer is never held long. A
// pair's last transition stays when it is an entry (qPrunable). A pass
// reads only what may have become prunable since the segment's last
// complete pass (qPruneCandidates), and a complete pass moves the
// segment's mark.
func (s *Store) PruneHistory(ctx context.Context, before time.Time, limit int) (int, error) {
	type seg struct{ acct, key, prunedBefore, prunedSeq int64 }
	segs, err := queryAll(ctx, s.read, func(row rowScanner) (seg, error) {
		var g seg
		err := row.Scan(&g.acct, &g.key, &g.prunedBefore, &g.prunedSeq)
		return g, err
	}, "SELECT account_id, key, pruned_before, pruned_seq FROM history_segments ORDER BY account_id, key")
	if err != nil {
		return 0, err
	}
	total := 0
	for _, g := range segs {
		if total >= limit {
			break
		}
		err := s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
			cut := toMS(before)
			// The account's last number: every transition up to it is
			// read by this pass, so it is the mark's when the pass
			// completes. Without a mark, every transition before the cut
			// is a candidate.
			var last int64
			if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(seq), 0) FROM segment_history WHERE account_id = ?", g.acct).Scan(&last); err != nil {
				return err
			}
			cands, after := qPruneCandidates, g.prunedSeq
			if g.prunedBefore == 0 {
				cands, after = qPruneAll, last
			}
			args := []any{g.acct, g.key, cut, g.prunedBefore, after}
			// The bound: the (limit-total)-th oldest prunable candidate,
			// or none when there are fewer (the pass completes).
			bAt, bSeq := cut, int64(-1)
			err := tx.QueryRowContext(ctx, cands+"SELECT at, seq FROM cand h WHERE "+qPrunable+" ORDER BY at, seq LIMIT 1 OFFSET ?6",
				append(args, limit-total)...).Scan(&bAt, &bSeq)
			if err != nil && err != sql.ErrNoRows {
				return err
			}
			res, err := tx.ExecContext(ctx, cands+`DELETE FROM segment_history WHERE account_id = ?1 AND segment_key = ?2
				AND (at, seq) IN (SELECT at, seq FROM cand h WHERE (at, seq) < (?6, ?7) AND `+qPrunable+")", append(args, bAt, bSeq)...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			total += int(n)
			if err != nil || bSeq >= 0 {
				return err
			}
			_, err = tx.ExecContext(ctx, "UPDATE history_segments SET pruned_before = ?, pruned_seq = ? WHERE account_id = ? AND key = ?",
				cut, last, g.acct, g.key)
			return err
		})
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

// qPruneCandidates names cand: the transitions of segment ?2 of account
// ?1 timed before the cut ?3 that may have become prunable since the
// segment's last complete pass (cut ?4, the account's last number then
// ?5): those timed from ?4 on, and every one before the cut of a pair
// with a transition numbered after ?5. Any other is a pair's last entry
// still: it was at that pass, and no later transition of its pair came.
// So a pass reads the transitions of the time since the last and the
// pairs that moved, not again every entry it kept. qPruneAll, of a
// segment without a mark (?4 is 0), names every transition before the
// cut, up to the account's last number ?5 (a later one is one of the
// pairs that moved at the next pass).
const qPruneAll = `WITH cand AS (
	SELECT account_id, segment_key, at, seq, contact_id, kind FROM segment_history WHERE account_id = ?1 AND segment_key = ?2 AND at >= ?4 AND at < ?3 AND seq <= ?5)
`

const qPruneCandidates = `WITH moved(contact_id) AS (
		SELECT DISTINCT contact_id FROM segment_history INDEXED BY segment_history_seq WHERE account_id = ?1 AND seq > ?5 AND segment_key = ?2),
	cand AS (
		SELECT account_id, segment_key, at, seq, contact_id, kind FROM segment_history WHERE account_id = ?1 AND segment_key = ?2 AND at >= ?4 AND at < ?3
		UNION
		SELECT o.account_id, o.segment_key, o.at, o.seq, o.contact_id, o.kind FROM moved m JOIN segment_history o INDEXED BY segment_history_contact
			ON o.account_id = ?1 AND o.contact_id = m.contact_id AND o.segment_key = ?2 AND o.at < ?3)
`

// qPrunable is true of a history row h the retention may delete: an exit,
// or a transition its segment and contact have a later one of (by
// number). A pair's last entry stays, however old: it is what the
// receivers were last told (segmentd.HistoryStore.PruneHistory). The
// contact index (account, contact, segment, time), whose entries carry
// the number, answers the probe.
const qPrunable = `(h.kind & 1 = 0 OR EXISTS (SELECT 1 FROM segment_history l INDEXED BY segment_history_contact WHERE l.account_id = h.account_id
	AND l.contact_id = h.contact_id AND l.segment_key = h.segment_key AND l.seq > h.seq))`

// HistoryLastEntries implements segmentd.HistoryStore: the segment's rows
// grouped by contact, each group's last by number (SQLite takes the bare
// columns from the row of max(seq)).
func (s *Store) HistoryLastEntries(ctx context.Context, acct int64, segID string) ([]segmentd.Transition, error) {
	key, err := historySegmentKey(ctx, s.read, acct, segID, false)
	if err != nil || key == 0 {
		return []segmentd.Transition{}, err
	}
	return queryAll(ctx, s.read, scanHistory(acct, segID), "SELECT "+historyColumns+` FROM (
		SELECT max(seq) AS seq, at, contact_id, email, kind FROM segment_history
		WHERE account_id = ? AND segment_key = ? GROUP BY contact_id) WHERE kind & 1 = 1`, acct, key)
}

// HistoryGap implements segmentd.HistoryStore (accounts.history_gap); an
// account the store does not have has one.
func (s *Store) HistoryGap(ctx context.Context, acct int64) (bool, error) {
	var gap int
	err := s.read.QueryRowContext(ctx, "SELECT history_gap FROM accounts WHERE id = ?", acct).Scan(&gap)
	if err == sql.ErrNoRows {
		return true, nil
	}
	return gap != 0, err
}

// MarkHistoryGap implements segmentd.HistoryGapMarker.
func (s *Store) MarkHistoryGap(ctx context.Context, acct int64) error {
	return s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE accounts SET history_gap = 1 WHERE id = ? AND history_gap = 0", acct)
		return err
	})
}

// ClearHistoryGap implements segmentd.HistoryGapMarker.
func (s *Store) ClearHistoryGap(ctx context.Context, acct int64) error {
	return s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE accounts SET history_gap = 0 WHERE id = ? AND history_gap <> 0", acct)
		return err
	})
}

// HistorySegments implements segmentd.HookReplayStore.
func (s *Store) HistorySegments(ctx context.Context, acct int64) ([]string, error) {
	return queryAll(ctx, s.read, func(row rowScanner) (string, error) {
		var id string
		err := row.Scan(&id)
		return id, err
	}, "SELECT segment_id FROM history_segments WHERE account_id = ? ORDER BY segment_id", acct)
}

// PutHookReplay implements segmentd.HookReplayStore.
func (s *Store) PutHookReplay(ctx context.Context, acct int64, r segmentd.HookReplay) error {
	return s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO webhook_replays (account_id, subscription_id, from_at, to_at, segments, after_at, after_seq)
			VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (account_id, subscription_id) DO UPDATE SET from_at = excluded.from_at,
			to_at = excluded.to_at, segments = excluded.segments, after_at = excluded.after_at, after_seq = excluded.after_seq`,
			acct, r.SubscriptionID, toMS(r.From), toMS(r.To), strings.Join(r.Segments, " "), optMS(r.After.At), r.After.Seq)
		return err
	})
}

// HookReplay implements segmentd.HookReplayStore.
func (s *Store) HookReplay(ctx context.Context, acct int64, subID string) (segmentd.HookReplay, bool, error) {
	r := segmentd.HookReplay{SubscriptionID: subID}
	var from, to, at int64
	var segs string
	err := s.read.QueryRowContext(ctx, `SELECT from_at, to_at, segments, after_at, after_seq FROM webhook_replays
		WHERE account_id = ? AND subscription_id = ?`, acct, subID).Scan(&from, &to, &segs, &at, &r.After.Seq)
	if err == sql.ErrNoRows {
		return r, false, nil
	}
	r.From, r.To, r.Segments, r.After.At = fromMS(from), fromMS(to), strings.Fields(segs), fromOptMS(at)
	return r, err == nil, err
}

// DeleteHookReplay implements segmentd.HookReplayStore.
func (s *Store) DeleteHookReplay(ctx context.Context, acct int64, subID string) error {
	return s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM webhook_replays WHERE account_id = ? AND subscription_id = ?", acct, subID)
		return err
	})
}
