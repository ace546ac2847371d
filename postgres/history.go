package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

// Membership history (segmentd.HistoryStore, docs/history.md): every
// transition in segment_history, its segment named by a small number of
// history_segments. Every statement names its account, so Citus routes it
// to one node.

var _ segmentd.HistoryStore = (*Store)(nil)

// historySegmentCounter names the account_counters row that numbers the
// account's history segments.
const historySegmentCounter = "history_segment"

// appendHistory stores numbered transitions in the history, in tx.
func appendHistory(ctx context.Context, tx pgx.Tx, acct int64, ts []segmentd.Transition) error {
	keys := map[string]int64{}
	rows := make([][]any, len(ts))
	for i := range ts {
		t := &ts[i]
		key, ok := keys[t.SegmentID]
		if !ok {
			var err error
			if key, err = historySegmentKey(ctx, tx, acct, t.SegmentID, true); err != nil {
				return err
			}
			keys[t.SegmentID] = key
		}
		rows[i] = []any{acct, int32(key), toMS(t.At), t.Seq, segmentd.HistoryContactKey(t.ContactID), t.Email, int16(segmentd.HistoryKind(t))}
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"segment_history"},
		[]string{"account_id", "segment_key", "at", "seq", "contact_id", "email", "kind"}, pgx.CopyFromRows(rows))
	return err
}

// historySegmentKey returns the history's number of a segment (0 when it
// has none and add is false).
func historySegmentKey(ctx context.Context, q querier, acct int64, segID string, add bool) (int64, error) {
	var key int64
	err := q.QueryRow(ctx, "SELECT key FROM history_segments WHERE account_id = $1 AND segment_id = $2", acct, segID).Scan(&key)
	if !errors.Is(err, pgx.ErrNoRows) || !add {
		if errors.Is(err, pgx.ErrNoRows) {
			err = nil
		}
		return key, err
	}
	if err := q.QueryRow(ctx, `INSERT INTO account_counters AS c (account_id, name, value) VALUES ($1, $2, 1)
		ON CONFLICT (account_id, name) DO UPDATE SET value = c.value + 1 RETURNING value`, acct, historySegmentCounter).Scan(&key); err != nil {
		return 0, err
	}
	_, err = q.Exec(ctx, "INSERT INTO history_segments (account_id, segment_id, key) VALUES ($1, $2, $3)", acct, segID, key)
	return key, err
}

// HistoryCounts implements segmentd.HistoryStore.
func (s *Store) HistoryCounts(ctx context.Context, acct int64, segID string, after time.Time, step time.Duration) ([]segmentd.HistoryCount, error) {
	key, err := historySegmentKey(ctx, s.db, acct, segID, false)
	if err != nil || key == 0 {
		return []segmentd.HistoryCount{}, classify(err)
	}
	from := toMS(after)
	cs, err := queryAll(ctx, s.db, func(row pgx.Row) (segmentd.HistoryCount, error) {
		var c segmentd.HistoryCount
		err := row.Scan(&c.Bucket, &c.Entered, &c.Exited)
		return c, err
	}, `SELECT (at - $1 - 1) / $2 AS b, count(*) FILTER (WHERE kind & 1 = 1)::int, count(*) FILTER (WHERE kind & 1 = 0)::int
		FROM segment_history WHERE account_id = $3 AND segment_key = $4 AND at > $1 GROUP BY b ORDER BY b`, from, step.Milliseconds(), acct, key)
	return cs, classify(err)
}

// historyColumns are what scanHistory reads.
const historyColumns = "seq, at, contact_id, email, kind"

func scanHistory(acct int64, segID string) func(pgx.Row) (segmentd.Transition, error) {
	return func(row pgx.Row) (segmentd.Transition, error) {
		t := segmentd.Transition{AccountID: acct, SegmentID: segID}
		var at int64
		var kind int16
		var contact []byte
		err := row.Scan(&t.Seq, &at, &contact, &t.Email, &kind)
		t.At, t.ContactID = fromMS(at), segmentd.HistoryContactID(contact)
		segmentd.SetHistoryKind(&t, int(kind))
		return t, err
	}
}

// HistoryTransitions implements segmentd.HistoryStore.
func (s *Store) HistoryTransitions(ctx context.Context, acct int64, segID string, from, to time.Time, after segmentd.HistoryCursor, limit int) ([]segmentd.Transition, error) {
	key, err := historySegmentKey(ctx, s.db, acct, segID, false)
	if err != nil || key == 0 {
		return []segmentd.Transition{}, classify(err)
	}
	cAt, cSeq := toMS(from), int64(-1)
	if !after.At.IsZero() && toMS(after.At) >= cAt {
		cAt, cSeq = toMS(after.At), after.Seq
	}
	ts, err := queryAll(ctx, s.db, scanHistory(acct, segID), "SELECT "+historyColumns+` FROM segment_history
		WHERE account_id = $1 AND segment_key = $2 AND (at, seq) > ($3, $4) AND at < $5 ORDER BY at, seq LIMIT $6`,
		acct, key, cAt, cSeq, toMS(to), limit)
	return ts, classify(err)
}

// HistoryNextOf implements segmentd.HistoryStore.
func (s *Store) HistoryNextOf(ctx context.Context, acct int64, segID, contactID string, t time.Time) (segmentd.Transition, bool, error) {
	key, err := historySegmentKey(ctx, s.db, acct, segID, false)
	if err != nil || key == 0 {
		return segmentd.Transition{}, false, classify(err)
	}
	tr, err := scanHistory(acct, segID)(s.db.QueryRow(ctx, "SELECT "+historyColumns+` FROM segment_history
		WHERE account_id = $1 AND contact_id = $2 AND segment_key = $3 AND at > $4 ORDER BY at, seq LIMIT 1`, acct, segmentd.HistoryContactKey(contactID), key, toMS(t)))
	if errors.Is(err, pgx.ErrNoRows) {
		return tr, false, nil
	}
	return tr, err == nil, classify(err)
}

// HistoryMark implements segmentd.HistoryStore.
func (s *Store) HistoryMark(ctx context.Context, acct int64) (int64, error) {
	var last int64
	err := s.db.QueryRow(ctx, qLastTransition, acct).Scan(&last)
	return last, classify(err)
}

// HistoryAfter implements segmentd.HistoryStore: one range of the
// index by number (segment_history_seq).
func (s *Store) HistoryAfter(ctx context.Context, acct int64, after int64) ([]segmentd.Transition, error) {
	ts, err := queryAll(ctx, s.db, func(row pgx.Row) (segmentd.Transition, error) {
		t := segmentd.Transition{AccountID: acct}
		var at int64
		var kind int16
		var contact []byte
		err := row.Scan(&t.SegmentID, &t.Seq, &at, &contact, &t.Email, &kind)
		t.At, t.ContactID = fromMS(at), segmentd.HistoryContactID(contact)
		segmentd.SetHistoryKind(&t, int(kind))
		return t, err
	}, `SELECT g.segment_id, h.seq, h.at, h.contact_id, h.email, h.kind FROM segment_history h
		JOIN history_segments g ON g.account_id = h.account_id AND g.key = h.segment_key
		WHERE h.account_id = $1 AND h.seq > $2 ORDER BY h.seq`, acct, after)
	return ts, classify(err)
}

// HistoryFirstAfter implements segmentd.HistoryStore.
func (s *Store) HistoryFirstAfter(ctx context.Context, acct int64, segID string, t time.Time) ([]segmentd.Transition, error) {
	key, err := historySegmentKey(ctx, s.db, acct, segID, false)
	if err != nil || key == 0 {
		return []segmentd.Transition{}, classify(err)
	}
	ts, err := queryAll(ctx, s.db, scanHistory(acct, segID), "SELECT DISTINCT ON (contact_id) "+historyColumns+` FROM segment_history
		WHERE account_id = $1 AND segment_key = $2 AND at > $3 ORDER BY contact_id, at, seq`, acct, key, toMS(t))
	// Ordered by the ids, not by the keys the history keeps them as.
	slices.SortFunc(ts, func(a, b segmentd.Transition) int { return strings.Compare(a.ContactID, b.ContactID) })
	return ts, classify(err)
}

// PruneHistory implements segmentd.HistoryStore: segment by segment, each
// statement routed to the account's node. A pair's last transition stays
// when it is an entry (qPrunable). A pass reads only what may have
// become prunable since the segment's last complete pass
// (qPruneCandidates), and a complete pass moves the segment's mark.
//
// The statements are not one transaction: the account's last number is
// read first, so every transition numbered up to it is visible to the
// ones after (a store of an account's transitions commits in number
// order, under its counter's lock), and the mark moves only after the
// delete.
func (s *Store) PruneHistory(ctx context.Context, before time.Time, limit int) (int, error) {
	type seg struct{ acct, key, prunedBefore, prunedSeq int64 }
	segs, err := queryAll(ctx, s.db, func(row pgx.Row) (seg, error) {
		var g seg
		var key int32
		err := row.Scan(&g.acct, &key, &g.prunedBefore, &g.prunedSeq)
		g.key = int64(key)
		return g, err
	}, "SELECT account_id, key, pruned_before, pruned_seq FROM history_segments ORDER BY account_id, key")
	if err != nil {
		return 0, classify(err)
	}
	total := 0
	for _, g := range segs {
		if total >= limit {
			break
		}
		cut := toMS(before)
		var last int64
		if err := s.db.QueryRow(ctx, "SELECT coalesce(max(seq), 0) FROM segment_history WHERE account_id = $1", g.acct).Scan(&last); err != nil {
			return total, classify(err)
		}
		cands, after := qPruneCandidates, g.prunedSeq
		if g.prunedBefore == 0 {
			cands, after = qPruneAll, last // no mark: every transition before the cut
		}
		// The oldest prunable candidates, up to what the batch has left,
		// then those deleted by their keys: Citus takes no correlated
		// subquery in a statement whose FROM holds a CTE, so the delete
		// cannot read cand itself.
		type key struct{ at, seq int64 }
		budget := limit - total
		keys, err := queryAll(ctx, s.db, func(row pgx.Row) (key, error) {
			var k key
			return k, row.Scan(&k.at, &k.seq)
		}, cands+"SELECT at, seq FROM cand h WHERE "+qPrunable+" ORDER BY at, seq LIMIT $6", g.acct, g.key, cut, g.prunedBefore, after, budget)
		if err != nil {
			return total, classify(err)
		}
		if len(keys) > 0 {
			ats, seqs := make([]int64, len(keys)), make([]int64, len(keys))
			for i, k := range keys {
				ats[i], seqs[i] = k.at, k.seq
			}
			tag, err := s.db.Exec(ctx, `DELETE FROM segment_history WHERE account_id = $1 AND segment_key = $2
				AND (at, seq) IN (SELECT * FROM unnest($3::bigint[], $4::bigint[]))`, g.acct, g.key, ats, seqs)
			if err != nil {
				return total, classify(err)
			}
			total += int(tag.RowsAffected())
		}
		if len(keys) == budget {
			continue // a batch: the pass goes on at the next call
		}
		if _, err := s.db.Exec(ctx, "UPDATE history_segments SET pruned_before = $1, pruned_seq = $2 WHERE account_id = $3 AND key = $4",
			cut, last, g.acct, g.key); err != nil {
			return total, classify(err)
		}
	}
	return total, nil
}

// qPruneCandidates names cand: the transitions of segment $2 of account
// $1 timed before the cut $3 that may have become prunable since the
// segment's last complete pass (cut $4, the account's last number then
// $5): those timed from $4 on, and every one before the cut of a pair
// with a transition numbered after $5. Any other is a pair's last entry
// still: it was at that pass, and no later transition of its pair came.
// So a pass reads the transitions of the time since the last and the
// pairs that moved, not again every entry it kept. qPruneAll, of a
// segment without a mark ($4 is 0), names every transition before the
// cut, up to the account's last number $5 (a later one is one of the
// pairs that moved at the next pass).
const qPruneAll = `WITH cand AS (
	SELECT account_id, segment_key, at, seq, contact_id, kind FROM segment_history WHERE account_id = $1 AND segment_key = $2 AND at >= $4 AND at < $3
		AND seq <= $5)
`

const qPruneCandidates = `WITH moved AS (
		SELECT DISTINCT account_id, contact_id FROM segment_history WHERE account_id = $1 AND seq > $5 AND segment_key = $2),
	cand AS (
		SELECT account_id, segment_key, at, seq, contact_id, kind FROM segment_history WHERE account_id = $1 AND segment_key = $2 AND at >= $4 AND at < $3
		UNION
		SELECT o.account_id, o.segment_key, o.at, o.seq, o.contact_id, o.kind FROM moved m JOIN segment_history o
			ON o.account_id = m.account_id AND o.contact_id = m.contact_id WHERE o.account_id = $1 AND o.segment_key = $2 AND o.at < $3)
`

// qPrunable is true of a history row h the retention may delete: an exit,
// or a transition its segment and contact have a later one of (by
// number). A pair's last entry stays, however old: it is what the
// receivers were last told (segmentd.HistoryStore.PruneHistory). The
// contact index (account, contact, segment, time) answers the probe;
// every table it names is the account's, so Citus routes it to one node.
const qPrunable = `(h.kind & 1 = 0 OR EXISTS (SELECT 1 FROM segment_history l WHERE l.account_id = h.account_id
	AND l.contact_id = h.contact_id AND l.segment_key = h.segment_key AND l.seq > h.seq))`

// HistoryLastEntries implements segmentd.HistoryStore: each contact's last
// row of the segment by number (DISTINCT ON), kept when it is an entry.
func (s *Store) HistoryLastEntries(ctx context.Context, acct int64, segID string) ([]segmentd.Transition, error) {
	key, err := historySegmentKey(ctx, s.db, acct, segID, false)
	if err != nil || key == 0 {
		return []segmentd.Transition{}, classify(err)
	}
	ts, err := queryAll(ctx, s.db, scanHistory(acct, segID), "SELECT "+historyColumns+` FROM (
		SELECT DISTINCT ON (contact_id) `+historyColumns+` FROM segment_history
		WHERE account_id = $1 AND segment_key = $2 ORDER BY contact_id, seq DESC) last WHERE kind & 1 = 1`, acct, key)
	return ts, classify(err)
}

// HistoryGap implements segmentd.HistoryStore (accounts.history_gap); an
// account the store does not have has one.
func (s *Store) HistoryGap(ctx context.Context, acct int64) (bool, error) {
	var gap int32
	err := s.db.QueryRow(ctx, "SELECT history_gap FROM accounts WHERE id = $1", acct).Scan(&gap)
	if errors.Is(err, pgx.ErrNoRows) {
		return true, nil
	}
	return gap != 0, classify(err)
}

// MarkHistoryGap implements segmentd.HistoryGapMarker.
func (s *Store) MarkHistoryGap(ctx context.Context, acct int64) error {
	_, err := s.db.Exec(ctx, "UPDATE accounts SET history_gap = 1 WHERE id = $1 AND history_gap = 0", acct)
	return classify(err)
}

// ClearHistoryGap implements segmentd.HistoryGapMarker.
func (s *Store) ClearHistoryGap(ctx context.Context, acct int64) error {
	_, err := s.db.Exec(ctx, "UPDATE accounts SET history_gap = 0 WHERE id = $1 AND history_gap <> 0", acct)
	return classify(err)
}

// HistorySegments implements segmentd.HookReplayStore.
func (s *Store) HistorySegments(ctx context.Context, acct int64) ([]string, error) {
	ids, err := queryAll(ctx, s.db, func(row pgx.Row) (string, error) {
		var id string
		err := row.Scan(&id)
		return id, err
	}, "SELECT segment_id FROM history_segments WHERE account_id = $1 ORDER BY segment_id", acct)
	return ids, classify(err)
}

// PutHookReplay implements segmentd.HookReplayStore.
func (s *Store) PutHookReplay(ctx context.Context, acct int64, r segmentd.HookReplay) error {
	var at int64
	if !r.After.At.IsZero() {
		at = toMS(r.After.At)
	}
	_, err := s.db.Exec(ctx, `INSERT INTO webhook_replays (account_id, subscription_id, from_at, to_at, segments, after_at, after_seq)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (account_id, subscription_id) DO UPDATE SET from_at = excluded.from_at,
		to_at = excluded.to_at, segments = excluded.segments, after_at = excluded.after_at, after_seq = excluded.after_seq`,
		acct, r.SubscriptionID, toMS(r.From), toMS(r.To), strings.Join(r.Segments, " "), at, r.After.Seq)
	return classify(err)
}

// HookReplay implements segmentd.HookReplayStore.
func (s *Store) HookReplay(ctx context.Context, acct int64, subID string) (segmentd.HookReplay, bool, error) {
	r := segmentd.HookReplay{SubscriptionID: subID}
	var from, to, at int64
	var segs string
	err := s.db.QueryRow(ctx, `SELECT from_at, to_at, segments, after_at, after_seq FROM webhook_replays
		WHERE account_id = $1 AND subscription_id = $2`, acct, subID).Scan(&from, &to, &segs, &at, &r.After.Seq)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, false, nil
	}
	r.From, r.To, r.Segments = fromMS(from), fromMS(to), strings.Fields(segs)
	if at != 0 {
		r.After.At = fromMS(at)
	}
	return r, err == nil, classify(err)
}

// DeleteHookReplay implements segmentd.HookReplayStore.
func (s *Store) DeleteHookReplay(ctx context.Context, acct int64, subID string) error {
	_, err := s.db.Exec(ctx, "DELETE FROM webhook_replays WHERE account_id = $1 AND subscription_id = $2", acct, subID)
	return classify(err)
}
