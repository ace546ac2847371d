package sqlite

import (
	"context"
	"database/sql"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/segmentd/segmentd"
)

// What the store keeps in memory so that a webhook batch costs few
// statements (issue 5, docs/events.md): each account's sg_event_id hashes,
// and the contacts of the emails recent batches named.
//
// Idempotency on sg_event_id without a random-key index (migration 0010).
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
// Emails: AddEvents remembers which contact each email it looked up
// belongs to (or that none does). Every other write transaction may change
// that (an upsert, a delete, a new alternate email) and forgets them all
// (writeTxKeep), so the memory holds only answers the store would give
// now. It is bounded by maxCachedEmails.
//
// Both are read and written only inside write transactions, which the
// single writer connection serialises. A hash set is loaded at the
// account's first AddEvents (a covering scan of events_time: seconds at
// ten million events) and dropped when anything else may have changed the
// account's events: pruning, a failed commit. A commit by another
// connection (another process on the same file, such as `segmentd events
// load`) changes PRAGMA data_version, and everything is dropped. (So does a
// checkpoint that another connection ends by truncating the WAL; the
// background checkpoints are PASSIVE and do not.)

// maxCachedEmails bounds the remembered emails of a store (about 30 MB);
// when full, they are all forgotten and the cache fills again.
const maxCachedEmails = 1 << 18

// eventCache is the in-memory part of event ingestion. Its fields are
// guarded by mu and used only inside write transactions.
type eventCache struct {
	mu      sync.Mutex
	version int64                       // the writer's PRAGMA data_version they are valid for
	ids     map[int64]*hashSet          // per account
	emails  map[int64]map[string]string // per account: email → contact id, "" for none
	nEmails int
}

// forgetEmails drops the remembered emails: the caller's write may change
// which contact an email names.
func (c *eventCache) forgetEmails() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.emails, c.nEmails = nil, 0
}

// forgetIDs drops the account's hash set; the next AddEvents loads it again.
func (c *eventCache) forgetIDs(acct int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.ids, acct)
}

const (
	qEventHashes = "SELECT sg_event_hash FROM events WHERE account_id = ? AND sg_event_hash IS NOT NULL"
	// qEventAt is the probe for a hit: a redelivery has the same timestamp.
	qEventAt = "SELECT sg_event_id FROM events WHERE account_id = ? AND event_timestamp = ? AND sg_event_hash = ?"
	// qEventsWithHashes reads the ids of every event with one of the hashes
	// (a JSON array), scanning events_time rather than the table.
	qEventsWithHashes = "SELECT sg_event_id FROM events INDEXED BY events_time WHERE account_id = ? AND sg_event_hash IN (SELECT value FROM json_each(?))"
)

// hashSet is an exact set of 64-bit hashes: a sorted array of most of them
// (8 bytes each), a directory of where each range of top bits starts in it
// (so that a lookup reads two or three cache lines, not the twenty-odd of a
// binary search over ten million), and a map of those added since the
// array was last merged.
type hashSet struct {
	sorted []int64
	dir    []uint32 // dir[b] is the first index of bucket b in sorted; len 1<<bits + 1
	bits   uint
	recent map[int64]struct{}
}

// bucket is the top bits of h in sorted's order (int64 order, so the sign
// bit flipped).
func (s *hashSet) bucket(h int64) uint64 { return (uint64(h) ^ 1<<63) >> (64 - s.bits) }

// index builds dir for sorted: about eight hashes a bucket.
func (s *hashSet) index() {
	s.bits = 1
	for s.bits < 28 && len(s.sorted)>>(s.bits+3) > 0 {
		s.bits++
	}
	s.dir = make([]uint32, 1<<s.bits+1)
	b := uint64(0)
	for i, h := range s.sorted {
		for hb := s.bucket(h); b <= hb; b++ {
			s.dir[b] = uint32(i)
		}
	}
	for ; b < uint64(len(s.dir)); b++ {
		s.dir[b] = uint32(len(s.sorted))
	}
}

func (s *hashSet) has(h int64) bool {
	if _, ok := s.recent[h]; ok {
		return true
	}
	if len(s.sorted) == 0 {
		return false
	}
	b := s.bucket(h)
	_, ok := slices.BinarySearch(s.sorted[s.dir[b]:s.dir[b+1]], h)
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
	s.index()
}

// eventIDs returns the account's hash set, loading it if needed, inside
// the write transaction tx. It checks first that no other connection has
// written since the cache was filled.
func (s *Store) eventIDs(ctx context.Context, tx *sql.Tx, acct int64) (*hashSet, error) {
	var version int64
	if err := tx.QueryRowContext(ctx, "PRAGMA data_version").Scan(&version); err != nil {
		return nil, err
	}
	c := &s.events
	c.mu.Lock()
	defer c.mu.Unlock()
	if version != c.version || c.ids == nil {
		c.ids, c.emails, c.nEmails, c.version = make(map[int64]*hashSet), nil, 0, version
	}
	if set := c.ids[acct]; set != nil {
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
	set.index()
	c.ids[acct] = set
	return set, nil
}

// owners maps each of emails (lower-cased, distinct) to its contact as
// contactIDsByEmail does, answering from the remembered emails where it
// can, inside the write transaction tx (after eventIDs).
func (s *Store) owners(ctx context.Context, tx *sql.Tx, acct int64, emails []string) (map[string]string, error) {
	c := &s.events
	c.mu.Lock()
	known := c.emails[acct]
	out := make(map[string]string, len(emails))
	var miss []string
	for _, e := range emails {
		if id, ok := known[e]; !ok {
			miss = append(miss, e)
		} else if id != "" {
			out[e] = id
		}
	}
	c.mu.Unlock()
	if len(miss) == 0 {
		return out, nil
	}
	found, err := contactIDsByEmail(ctx, tx, acct, miss)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nEmails+len(miss) > maxCachedEmails {
		c.emails, c.nEmails = nil, 0
	}
	if c.emails == nil {
		c.emails = make(map[int64]map[string]string)
	}
	m := c.emails[acct]
	if m == nil {
		m = make(map[string]string)
		c.emails[acct] = m
	}
	for _, e := range miss {
		id := found[e]
		if id != "" {
			out[e] = id
		}
		m[strings.Clone(e)] = id
	}
	c.nEmails += len(miss)
	return out, nil
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

// WarmEvents loads the sg_event_id hash set of every account now, so that
// the first webhook batch after a start does not wait for it. segmentd
// runs it beside the engine rebuild; each account's load holds the writer
// (seconds at ten million events).
func (s *Store) WarmEvents(ctx context.Context) error {
	accts, err := s.Accounts(ctx)
	if err != nil {
		return err
	}
	for _, a := range accts {
		err := s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
			_, err := s.eventIDs(ctx, tx, a.ID)
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}
