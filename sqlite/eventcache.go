package sqlite

import (
	"context"
	"database/sql"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"

	"github.com/segmentd/segmentd"
)

// What the store keeps in memory so that a webhook batch costs few
// statements (docs/events.md "Throughput"): each account's sg_event_id hashes,
// and the contacts of the emails recent batches named.
//
// Idempotency on sg_event_id without a random-key index (migration 0010).
// The store keeps, per account, the sg_event_hash of every event it holds
// with that event's timestamp. An event whose hash is not there is new: no
// statement runs for it, which is nearly every event. A hit is confirmed
// by comparing the stored text, one probe of events_time (account_id,
// event_timestamp, sg_event_hash) per timestamp the hash is held with:
// usually one, the event's own when it is a redelivery. A hash collision
// therefore never drops an event, and an id is a duplicate whatever its
// timestamp.
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
	qEventHashes = "SELECT sg_event_hash, event_timestamp FROM events WHERE account_id = ? AND sg_event_hash IS NOT NULL"
	// qEventAt is the probe for a hit.
	qEventAt = "SELECT sg_event_id FROM events WHERE account_id = ? AND event_timestamp = ? AND sg_event_hash = ?"
)

// hashSet holds 64-bit hashes, each with the timestamp (unix ms) of an
// event that has it: a sorted array of most of them (16 bytes each), a
// directory of where each range of top bits starts in it (so that a lookup
// reads two or three cache lines, not the twenty-odd of a binary search
// over ten million), and a hash table of those added since the array was
// last merged. A hash held with several timestamps (two ids with one hash)
// is in the array several times, or in the table.
type hashSet struct {
	sorted []hashAt
	dir    []uint32 // dir[b] is the first index of bucket b in sorted; len 1<<bits + 1
	bits   uint

	// recent is the table: open addressing with linear probing, a slot
	// per power of two, a hash's first slot chosen by multiplying it with
	// seed (odd, random), so that ids made to share bits of their hashes
	// do not share slots. A zero hash marks an empty slot; hash 0 itself
	// is kept in zero, by timestamp.
	recent []hashAt
	seed   uint64
	zero   []int64
	n      int // entries in recent and zero
}

type hashAt struct{ h, ts int64 }

func cmpHash(a, b hashAt) int {
	switch {
	case a.h < b.h:
		return -1
	case a.h > b.h:
		return 1
	}
	return 0
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
	if len(s.dir) != 1<<s.bits+1 {
		s.dir = make([]uint32, 1<<s.bits+1)
	}
	b := uint64(0)
	for i, e := range s.sorted {
		for hb := s.bucket(e.h); b <= hb; b++ {
			s.dir[b] = uint32(i)
		}
	}
	for ; b < uint64(len(s.dir)); b++ {
		s.dir[b] = uint32(len(s.sorted))
	}
}

// slot is h's first slot in recent.
func (s *hashSet) slot(h int64) int {
	return int((uint64(h) * s.seed) >> (64 - bits.TrailingZeros(uint(len(s.recent)))))
}

// times appends to dst the timestamps h is held with.
func (s *hashSet) times(h int64, dst []int64) []int64 {
	if h == 0 {
		dst = append(dst, s.zero...)
	} else if len(s.recent) > 0 {
		mask := len(s.recent) - 1
		for i := s.slot(h); s.recent[i].h != 0; i = (i + 1) & mask {
			if s.recent[i].h == h {
				dst = append(dst, s.recent[i].ts)
			}
		}
	}
	if len(s.sorted) == 0 {
		return dst
	}
	b := s.bucket(h)
	part := s.sorted[s.dir[b]:s.dir[b+1]]
	i, _ := slices.BinarySearchFunc(part, hashAt{h: h}, cmpHash)
	for ; i < len(part) && part[i].h == h; i++ {
		dst = append(dst, part[i].ts)
	}
	return dst
}

// add adds h with ts, merging the table into the sorted array once it
// holds a sixteenth as many (at least 65,536), so that merges cost O(1)
// per add. The table has at least 4/3 as many slots, so it is never more
// than three quarters full.
func (s *hashSet) add(h, ts int64) {
	limit := max(65536, len(s.sorted)/16)
	if s.recent == nil {
		s.recent = make([]hashAt, max(1<<16, 1<<bits.Len(uint(limit+limit/3))))
		s.seed = rand.Uint64() | 1
	}
	if h == 0 {
		s.zero = append(s.zero, ts)
	} else {
		mask := len(s.recent) - 1
		i := s.slot(h)
		for s.recent[i].h != 0 {
			i = (i + 1) & mask
		}
		s.recent[i] = hashAt{h, ts}
	}
	s.n++
	if s.n >= limit {
		s.merge()
	}
}

// merge moves the table's entries into the sorted array, which grows in
// place: the table's entries are gathered at its front and sorted there,
// then merged into sorted from the back.
func (s *hashSet) merge() {
	add := s.recent[:0]
	for _, e := range s.recent {
		if e.h != 0 {
			add = append(add, e)
		}
	}
	for _, ts := range s.zero {
		add = append(add, hashAt{0, ts})
	}
	slices.SortFunc(add, cmpHash)
	i, j := len(s.sorted)-1, len(add)-1
	s.sorted = slices.Grow(s.sorted, len(add))[:len(s.sorted)+len(add)]
	for k := len(s.sorted) - 1; j >= 0; k-- {
		if i >= 0 && s.sorted[i].h > add[j].h {
			s.sorted[k] = s.sorted[i]
			i--
		} else {
			s.sorted[k] = add[j]
			j--
		}
	}
	s.index()
	clear(s.recent)
	s.zero, s.n = s.zero[:0], 0
	if size := 1 << bits.Len(uint(len(s.sorted)/16*4/3)); size > len(s.recent) {
		s.recent = make([]hashAt, size)
	}
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
	// The account's sequence range bounds its events: room for them all
	// at once, rather than growing (twice the memory) while loading.
	var first, last int64
	if err := tx.QueryRowContext(ctx, qEventsFirstSeq, acct).Scan(&first); err != nil {
		return nil, err
	}
	if err := tx.QueryRowContext(ctx, qEventsLastSeq, acct).Scan(&last); err != nil {
		return nil, err
	}
	set := &hashSet{sorted: make([]hashAt, 0, last-first+1)}
	rows, err := tx.QueryContext(ctx, qEventHashes, acct)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var e hashAt
		if err := rows.Scan(&e.h, &e.ts); err != nil {
			return nil, err
		}
		set.sorted = append(set.sorted, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(set.sorted, cmpHash)
	set.index()
	c.ids[acct] = set
	return set, nil
}

// owners sets the ContactID of each of evs (emails lower-cased) to the
// contact its email names, as contactIDsByEmail does, answering from the
// remembered emails where it can, inside the write transaction tx (after
// eventIDs).
func (s *Store) owners(ctx context.Context, tx *sql.Tx, acct int64, evs []segmentd.Event) error {
	b := &s.batch
	c := &s.events
	c.mu.Lock()
	known := c.emails[acct]
	b.miss = b.miss[:0]
	for i := range evs {
		if id, ok := known[evs[i].Email]; ok {
			evs[i].ContactID = id
		} else {
			b.miss = append(b.miss, int32(i))
		}
	}
	c.mu.Unlock()
	if len(b.miss) == 0 {
		return nil
	}
	var emails []string
	seen := make(map[string]bool, len(b.miss))
	for _, i := range b.miss {
		if e := evs[i].Email; !seen[e] {
			seen[e] = true
			emails = append(emails, e)
		}
	}
	found, err := contactIDsByEmail(ctx, tx, acct, emails)
	if err != nil {
		return err
	}
	for _, i := range b.miss {
		evs[i].ContactID = found[evs[i].Email]
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.nEmails+len(emails) > maxCachedEmails {
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
	for _, e := range emails {
		m[strings.Clone(e)] = found[e]
	}
	c.nEmails += len(emails)
	return nil
}

// batchBuffers are AddEvents' working memory, kept from one batch to the
// next: the single writer connection serialises AddEvents' transactions,
// so one batch at a time uses them.
type batchBuffers struct {
	hashes []int64         // eventHash of each event's sg_event_id (0 without one)
	first  map[int64]int32 // a hash → the first event of the batch with it
	keep   []int32         // the events to store, by index
	miss   []int32         // events whose email is not remembered
	times  []int64
}

// hash sets b.hashes to the hashes of evs' sg_event_ids (0 for none).
func (b *batchBuffers) hash(evs []segmentd.Event) {
	b.hashes = slices.Grow(b.hashes[:0], len(evs))[:len(evs)]
	for i := range evs {
		b.hashes[i] = 0
		if id := evs[i].SGEventID; id != "" {
			b.hashes[i] = eventHash(id)
		}
	}
}

// newEvents sets b.keep to the events of evs (hashed by b.hash) to store:
// all but those whose sg_event_id the account already holds (given its
// hash set) or an earlier event of the batch has. Repeats within the batch
// are found by hash, comparing the ids only when a hash repeats.
func (b *batchBuffers) newEvents(ctx context.Context, tx *sql.Tx, acct int64, set *hashSet, evs []segmentd.Event) error {
	if b.first == nil {
		b.first = make(map[int64]int32, len(evs))
	}
	clear(b.first)
	b.keep = b.keep[:0]
	var stored map[string]bool // ids of the batch confirmed on disk
	var stmt *sql.Stmt
	for i := range evs {
		id := evs[i].SGEventID
		if id == "" {
			b.keep = append(b.keep, int32(i))
			continue
		}
		h := b.hashes[i]
		if j, ok := b.first[h]; !ok {
			b.first[h] = int32(i)
		} else if evs[j].SGEventID == id || b.keeps(evs, h, id) {
			continue
		}
		if stored[id] {
			continue
		}
		if b.times = set.times(h, b.times[:0]); len(b.times) > 0 {
			if stmt == nil {
				var err error
				if stmt, err = tx.PrepareContext(ctx, qEventAt); err != nil {
					return err
				}
				defer stmt.Close()
				stored = make(map[string]bool)
			}
			// The event's own timestamp first: a redelivery is found there.
			if j := slices.Index(b.times, toMS(evs[i].Timestamp)); j > 0 {
				b.times[0], b.times[j] = b.times[j], b.times[0]
			}
			for _, ts := range b.times {
				rows, err := stmt.QueryContext(ctx, acct, ts, h)
				if err != nil {
					return err
				}
				if err := addStrings(rows, stored); err != nil {
					return err
				}
				if stored[id] {
					break
				}
			}
			if stored[id] {
				continue
			}
		}
		b.keep = append(b.keep, int32(i))
	}
	return nil
}

// keeps tells whether an event b.keep holds has sg_event_id id, of hash h:
// the slow path of a hash repeated within a batch by another id.
func (b *batchBuffers) keeps(evs []segmentd.Event, h int64, id string) bool {
	for _, k := range b.keep {
		if b.hashes[k] == h && evs[k].SGEventID == id {
			return true
		}
	}
	return false
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
