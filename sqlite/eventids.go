package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"strconv"

	"github.com/segmentd/segmentd"
)

// Idempotency on sg_event_id without a random-key index (migration 0010).
//
// The store keeps, per account, the set of the sg_event_hash values it
// holds. An event whose hash is not in the set is new: no statement runs
// for it, which is nearly every event. A hit is confirmed in the store by
// comparing the text: first among the events with the same timestamp and
// hash (one probe of events_time, which is what a redelivery finds), then,
// for the hits that probe leaves open (the same sg_event_id sent again
// with another timestamp, or two ids with equal hashes), among all the
// account's events with those hashes (a scan of events_time, once per
// batch that has such hits). A hash collision therefore never drops an
// event, and an id is a duplicate whatever its timestamp.
//
// The sets are read and written only inside write transactions, which the
// single writer connection serialises. A set is loaded at the account's
// first AddEvents (a covering scan of events_time: a few seconds at ten
// million events) and dropped when anything else may have changed the
// account's events: pruning, a failed commit, or a commit by another
// connection (another process on the same file, such as `segmentd events
// load`), which PRAGMA data_version reveals.

const (
	qEventHashes = "SELECT sg_event_hash FROM events WHERE account_id = ? AND sg_event_hash IS NOT NULL"
	// qEventAt is the probe for a hit: a redelivery has the same timestamp.
	qEventAt = "SELECT sg_event_id FROM events WHERE account_id = ? AND event_timestamp = ? AND sg_event_hash = ?"
	// qEventsWithHashes reads the ids of every event with one of the hashes
	// (a JSON array), scanning events_time rather than the table.
	qEventsWithHashes = "SELECT sg_event_id FROM events INDEXED BY events_time WHERE account_id = ? AND sg_event_hash IN (SELECT value FROM json_each(?))"
)

// hashSet is an exact set of 64-bit hashes: a sorted array of most of them
// (8 bytes each) and a map of those added since it was last merged.
type hashSet struct {
	sorted []int64
	recent map[int64]struct{}
}

func (s *hashSet) has(h int64) bool {
	if _, ok := s.recent[h]; ok {
		return true
	}
	_, ok := slices.BinarySearch(s.sorted, h)
	return ok
}

// add adds h, merging the map into the sorted array once it holds a
// sixteenth as many (at least 65,536), so that merges cost O(1) per add.
func (s *hashSet) add(h int64) {
	if s.recent == nil {
		s.recent = make(map[int64]struct{})
	}
	s.recent[h] = struct{}{}
	if len(s.recent) < max(65536, len(s.sorted)/16) {
		return
	}
	add := make([]int64, 0, len(s.recent))
	for h := range s.recent {
		add = append(add, h)
	}
	slices.Sort(add)
	merged := make([]int64, 0, len(s.sorted)+len(add))
	i, j := 0, 0
	for i < len(s.sorted) && j < len(add) {
		if s.sorted[i] <= add[j] {
			merged = append(merged, s.sorted[i])
			i++
		} else {
			merged = append(merged, add[j])
			j++
		}
	}
	merged = append(append(merged, s.sorted[i:]...), add[j:]...)
	s.sorted, s.recent = merged, nil
}

// eventIDs returns the account's hash set, loading it if needed, inside
// the write transaction tx.
func (s *Store) eventIDs(ctx context.Context, tx *sql.Tx, acct int64) (*hashSet, error) {
	var version int64
	if err := tx.QueryRowContext(ctx, "PRAGMA data_version").Scan(&version); err != nil {
		return nil, err
	}
	s.evMu.Lock()
	defer s.evMu.Unlock()
	if version != s.evVersion || s.evIDs == nil {
		s.evIDs, s.evVersion = make(map[int64]*hashSet), version
	}
	if set := s.evIDs[acct]; set != nil {
		return set, nil
	}
	rows, err := tx.QueryContext(ctx, qEventHashes, acct)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	set := &hashSet{}
	for rows.Next() {
		var h int64
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		set.sorted = append(set.sorted, h)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.Sort(set.sorted)
	s.evIDs[acct] = set
	return set, nil
}

// forgetEventIDs drops the account's hash set; the next AddEvents loads it
// again.
func (s *Store) forgetEventIDs(acct int64) {
	s.evMu.Lock()
	defer s.evMu.Unlock()
	delete(s.evIDs, acct)
}

// knownEventIDs returns the batch's sg_event_ids that the account already
// holds, given its hash set.
func knownEventIDs(ctx context.Context, tx *sql.Tx, acct int64, set *hashSet, evs []segmentd.Event) (map[string]bool, error) {
	known := make(map[string]bool)
	var stmt *sql.Stmt
	var open []int64 // hashes of hits the timestamp probe did not confirm
	for i := range evs {
		ev := &evs[i]
		if ev.SGEventID == "" {
			continue
		}
		h := eventHash(ev.SGEventID)
		if !set.has(h) {
			continue
		}
		if stmt == nil {
			var err error
			if stmt, err = tx.PrepareContext(ctx, qEventAt); err != nil {
				return nil, err
			}
			defer stmt.Close()
		}
		rows, err := stmt.QueryContext(ctx, acct, toMS(ev.Timestamp), h)
		if err != nil {
			return nil, err
		}
		if err := addStrings(rows, known); err != nil {
			return nil, err
		}
		if !known[ev.SGEventID] {
			open = append(open, h)
		}
	}
	if len(open) == 0 {
		return known, nil
	}
	b := make([]byte, 0, 21*len(open)+2)
	b = append(b, '[')
	for i, h := range open {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, h, 10)
	}
	rows, err := tx.QueryContext(ctx, qEventsWithHashes, acct, string(append(b, ']')))
	if err != nil {
		return nil, err
	}
	return known, addStrings(rows, known)
}

// addStrings adds the one text column of rows to set, and closes rows.
func addStrings(rows *sql.Rows, set map[string]bool) error {
	defer rows.Close()
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return err
		}
		set[s] = true
	}
	return rows.Err()
}
