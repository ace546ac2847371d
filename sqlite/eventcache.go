package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"unsafe"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/eventblock"
)

// What the store keeps in memory so that a webhook batch costs few
// statements (docs/events.md "Throughput"): each account's sg_event_id hashes,
// and the contacts of the emails recent batches named.
//
// Idempotency on sg_event_id without a random-key index (migrations 0010
// and 0015). The store keeps, per account, the 64-bit hash of every
// sg_event_id it holds with that event's sequence number. An event whose
// hash is not there is new: no statement runs for it, which is nearly
// every event. A hit is confirmed by comparing the stored id, one probe of
// the primary key per sequence number the hash is held with (usually one).
// A hash collision therefore never drops an event, and an id is a
// duplicate whatever its timestamp.
//
// Emails: AddEvents remembers which contact each email it looked up
// belongs to (or that none does). Every other write transaction may change
// that (an upsert, a delete, a new alternate email) and forgets them all
// (writeTxKeep), so the memory holds only answers the store would give
// now; but for the upserts (UpsertContacts, UpsertContactsGroup), which
// record the emails of the contacts they wrote instead and read a
// membership-only request's contacts from them (upsertBatch.knownEmails,
// upsertBatch.remember; docs/sqlite.md, "Matched contacts from memory"),
// and forget them all when they change what they cannot record or fail.
// It is bounded by maxCachedEmails.
//
// Both are read and written only inside write transactions, which the
// single writer connection serialises. A hash set is loaded at the
// account's first AddEvents (a scan of its events, hashing their ids:
// seconds at ten million events) and dropped when anything else may have changed the
// account's events: pruning, a failed commit. A commit by another
// connection (another process on the same file, such as `segmentd events
// load`) changes PRAGMA data_version, and everything is dropped. (So does a
// checkpoint that another connection ends by truncating the WAL; the
// background checkpoints are PASSIVE and do not.)

// maxCachedEmails bounds the remembered emails of a store: about 60 bytes
// each (the email's bytes, the owner's 16, the index's slot; ownerTable),
// so at most about 64 MB. It is a million so that a million-contact
// account's emails all fit: with fewer, events spread over every contact
// found each email forgotten again before it came back, and the lookups
// were most of a batch's store time. When full, about half are forgotten:
// whole accounts in the map's iteration order, and of the last one its
// latest emails.
const maxCachedEmails = 1 << 20

// emailOwner is what an email names: the 16 bytes of its contact's id, or
// no contact (has false). sole says more: the email is the contact's own
// (its email column, not an alternate email) and the contact has no other
// identifier, which is all an upsert of identifiers alone needs to know
// of a stored contact (upsertBatch.knownEmails). It is false when not
// known.
type emailOwner struct {
	id   [16]byte
	has  bool
	sole bool
}

// eventCache is the in-memory part of event ingestion. Its fields are
// guarded by mu and used only inside write transactions.
type eventCache struct {
	mu      sync.Mutex
	version int64                 // the writer's PRAGMA data_version they are valid for
	ids     map[int64]*hashSet    // per account
	read    map[int64]readSet     // per account: a set a lean read hashed, not yet taken (readSet)
	emails  map[int64]*ownerTable // per account
	loads   map[int64]*ownerLoad  // per account: its owners read in whole (loadOwners)
	nEmails int
	limit   int // maxCachedEmails, or a test's smaller bound
}

// ownerLoad is how far the account's contacts have been read into its
// remembered emails since they were last forgotten (loadOwners).
type ownerLoad struct {
	after string // the greatest contact id read
	read  int    // the contacts read so far
	done  bool   // every email and alternate email of the account is remembered
	off   bool   // given up (the bound reached, an id of another form)
}

// forgetEmails drops the remembered emails: the caller's write may change
// which contact an email names.
func (c *eventCache) forgetEmails() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgetEmailsLocked()
}

// forgetEmailsLocked is forgetEmails with c.mu held.
func (c *eventCache) forgetEmailsLocked() { c.emails, c.loads, c.nEmails = nil, nil, 0 }

// forgetIDs drops the account's hash set, and any a lean read hashed; the
// next AddEvents loads it again.
func (c *eventCache) forgetIDs(acct int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.ids, acct)
	delete(c.read, acct)
}

// readSet is an account's hash set as a lean read (ReadAccountLean) hashed
// it from the events it read, with the store's change mark of the read
// transaction's snapshot: the engine's rebuild at start reads every event
// of the account, and the set loaded apart (WarmEvents) read them all a
// second time, about 2 s of a core at ten million events
// (docs/events.md, "Ingestion"). eventIDs takes it as the account's set when
// no write has taken a change number since: every write that adds events
// or deletes an account's takes one (AddEventBatches, the resets), so the
// set holds every sg_event_id the account holds. Pruning takes none but
// drops it (forgetIDs).
type readSet struct {
	set    *hashSet // loaded (loadEntry), not yet sorted (sortLoaded)
	store  string   // store_changes' store_id and seq in the read's snapshot
	change int64
}

// offerIDs keeps the set a lean read of acct hashed, unsorted, for
// eventIDs to take; none is kept while the account's set is loaded.
func (c *eventCache) offerIDs(acct int64, r readSet) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ids[acct] != nil {
		return
	}
	if c.read == nil {
		c.read = make(map[int64]readSet)
	}
	c.read[acct] = r
}

const (
	qEventHashes = "SELECT seq, sg_event_id FROM event_rows WHERE account_id = ? AND sg_event_id IS NOT NULL"
	// qEventAt is the probe for a hit: the id bound in its stored form
	// (encodeEventID), which is one per id.
	qEventAt = "SELECT 1 FROM event_rows WHERE account_id = ? AND seq = ? AND sg_event_id = ?"
)

// hashSet holds 64-bit hashes, each with the sequence number of an event
// that has it.
//
// Most of them are in parts, 8 bytes each: the hash's top 32 bits above
// the sequence number's low 32, in ascending order, in 256 arrays by the
// hash's top 8 bits, with a directory of where each range of top bits
// ends in its array (so that a lookup reads two or three cache lines, not
// the twenty-odd of a binary search over ten million). The arrays grow
// one at a time, each by a 256th: one array of ten million entries grew
// by 80 MB at a time and held its old 64 MB besides while it was copied,
// then left them to the collector (the peak of a bulk load of events,
// docs/decisions.md §20).
// 32 bits of hash make a new id meet an entry of another id about once per
// 430 lookups at ten million events, each such meeting costing one probe;
// the sequence number's high bits are those of one of the numbers up to
// the greatest held (last), in practice all zero.
//
// Those added since the arrays were last merged are in recent, a hash table
// with the whole hash and number: open addressing with linear probing, a
// slot per power of two, a hash's first slot chosen by multiplying it with
// seed (odd, random), so that ids made to share bits of their hashes do
// not share slots. A zero hash marks an empty slot; hash 0 itself is kept
// in zero, by sequence number.
type hashSet struct {
	parts  [hashParts][]uint64
	sorted int      // entries in parts
	dir    []uint32 // dir[b] is the end of bucket b in its part; len 1<<bits
	bits   uint     // at least hashPartBits: a bucket lies in one part

	recent []hashSeq
	seed   uint64
	zero   []int64
	n      int   // entries in recent and zero
	last   int64 // the greatest sequence number held
}

// The parts of a hashSet, by the top hashPartBits of a hash, and the
// share of the entries the recent table takes before a merge.
const (
	hashPartBits = 8
	hashParts    = 1 << hashPartBits
	recentShare  = 32
)

type hashSeq struct {
	h   uint64
	seq int64
}

// packHash is the sorted arrays' entry for h at seq.
func packHash(h uint64, seq int64) uint64 { return h>>32<<32 | uint64(uint32(seq)) }

// bucket is the top bits of an entry (or of a hash: the same bits).
func (s *hashSet) bucket(h uint64) uint64 { return h >> (64 - s.bits) }

// part is the part of an entry (or of a hash).
func part(h uint64) uint64 { return h >> (64 - hashPartBits) }

// presize gives each part room for its share of n entries about to be
// loaded (loadEntry). The shares are uneven (the hash's top bits are the
// least mixed of its bits): a part given more grows, and sortLoaded
// trims it.
func (s *hashSet) presize(n int) {
	if n < 16*hashParts {
		return // grown by appends
	}
	for p := range s.parts {
		s.parts[p] = make([]uint64, 0, n/hashParts)
	}
}

// loadEntry adds a packed entry in any order; sortLoaded follows the last.
func (s *hashSet) loadEntry(e uint64) {
	p := part(e)
	s.parts[p] = append(s.parts[p], e)
	s.sorted++
}

// sortLoaded sorts the entries loadEntry added, each part's array cut to
// its length (a part's copy at a time), and indexes them.
func (s *hashSet) sortLoaded() {
	for p, es := range s.parts {
		if cap(es) > len(es) {
			es = slices.Clone(es)
		}
		slices.Sort(es)
		s.parts[p] = es
	}
	s.index()
}

// index builds dir for parts: about sixteen entries a bucket (two cache
// lines; eight a bucket made the directory a byte an entry).
func (s *hashSet) index() {
	s.bits = hashPartBits
	for s.bits < 28 && s.sorted>>(s.bits+4) > 0 {
		s.bits++
	}
	if len(s.dir) != 1<<s.bits {
		s.dir = make([]uint32, 1<<s.bits)
	}
	per := uint64(1) << (s.bits - hashPartBits) // buckets a part
	for p, es := range s.parts {
		b := uint64(p) * per
		for i, e := range es {
			for hb := s.bucket(e); b < hb; b++ {
				s.dir[b] = uint32(i)
			}
		}
		for ; b < uint64(p+1)*per; b++ {
			s.dir[b] = uint32(len(es))
		}
	}
}

// slot is h's first slot in recent.
func (s *hashSet) slot(h uint64) int {
	return int((h * s.seed) >> (64 - bits.TrailingZeros(uint(len(s.recent)))))
}

// seqs appends to dst the sequence numbers h may be held with: every one
// it is held with, and, rarely, others (parts keep 32 bits of each).
func (s *hashSet) seqs(h uint64, dst []int64) []int64 {
	if h == 0 {
		dst = append(dst, s.zero...)
	} else if len(s.recent) > 0 {
		mask := len(s.recent) - 1
		for i := s.slot(h); s.recent[i].h != 0; i = (i + 1) & mask {
			if s.recent[i].h == h {
				dst = append(dst, s.recent[i].seq)
			}
		}
	}
	if s.sorted == 0 {
		return dst
	}
	es := s.parts[part(h)]
	b := s.bucket(h)
	from := uint32(0)
	if b&(1<<(s.bits-hashPartBits)-1) != 0 {
		from = s.dir[b-1] // not the part's first bucket
	}
	es = es[from:s.dir[b]]
	top := h >> 32 << 32
	i, _ := slices.BinarySearch(es, top)
	for ; i < len(es) && es[i]>>32<<32 == top; i++ {
		for seq := int64(uint32(es[i])); seq <= s.last; seq += 1 << 32 {
			if seq > 0 {
				dst = append(dst, seq)
			}
		}
	}
	return dst
}

// add adds h with seq, merging the table into the sorted arrays once it
// holds a 32nd as many (at least 65,536), so that merges cost O(1)
// per add (a sixteenth made the table 16 MB at ten million events; each
// merge rewrites the arrays, 80 MB, about once per 300,000 events then). The table has at least 4/3 as many slots, so it is never more
// than three quarters full.
func (s *hashSet) add(h uint64, seq int64) {
	limit := max(65536, s.sorted/recentShare)
	if s.recent == nil {
		s.recent = make([]hashSeq, max(1<<16, 1<<bits.Len(uint(limit+limit/3))))
		s.seed = rand.Uint64() | 1
	}
	s.last = max(s.last, seq)
	if h == 0 {
		s.zero = append(s.zero, seq)
	} else {
		mask := len(s.recent) - 1
		i := s.slot(h)
		for s.recent[i].h != 0 {
			i = (i + 1) & mask
		}
		s.recent[i] = hashSeq{h, seq}
	}
	s.n++
	if s.n >= limit {
		s.merge()
	}
}

// merge moves the table's entries into the sorted arrays, each of which
// grows in place: the new entries are packed and sorted, then each part's
// merged into its array from the back.
func (s *hashSet) merge() {
	add := make([]uint64, 0, s.n)
	for _, e := range s.recent {
		if e.h != 0 {
			add = append(add, packHash(e.h, e.seq))
		}
	}
	for _, seq := range s.zero {
		add = append(add, packHash(0, seq))
	}
	slices.Sort(add)
	for len(add) > 0 {
		p := part(add[0])
		n := 1
		for n < len(add) && part(add[n]) == p {
			n++
		}
		s.parts[p] = mergeSorted(s.parts[p], add[:n])
		add = add[n:]
		s.sorted += n
	}
	s.index()
	clear(s.recent)
	s.zero, s.n = s.zero[:0], 0
	if size := 1 << bits.Len(uint(s.sorted/recentShare*4/3)); size > len(s.recent) {
		s.recent = make([]hashSeq, size)
	}
}

// mergeSorted merges add into es, both sorted, growing es in place.
func mergeSorted(es, add []uint64) []uint64 {
	i, j := len(es)-1, len(add)-1
	es = slices.Grow(es, len(add))[:len(es)+len(add)]
	for k := len(es) - 1; j >= 0; k-- {
		if i >= 0 && es[i] > add[j] {
			es[k] = es[i]
			i--
		} else {
			es[k] = add[j]
			j--
		}
	}
	return es
}

// bytes is the set's heap bytes (its arrays' capacities).
func (s *hashSet) bytes() int {
	n := len(s.dir)*4 + len(s.recent)*int(unsafe.Sizeof(hashSeq{})) + cap(s.zero)*8
	for _, es := range s.parts {
		n += cap(es) * 8
	}
	return n
}

// eventIDs returns the account's hash set, loading it if needed, inside
// the write transaction tx. It checks first that no other connection has
// written since the cache was filled.
func (s *Store) eventIDs(ctx context.Context, tx *sql.Tx, acct int64) (*hashSet, error) {
	c, err := s.lockCache(ctx, tx)
	if err != nil {
		return nil, err
	}
	defer c.mu.Unlock()
	if set := c.ids[acct]; set != nil {
		delete(c.read, acct)
		return set, nil
	}
	if r, ok := c.read[acct]; ok {
		delete(c.read, acct)
		var store string
		var change int64
		if err := tx.QueryRowContext(ctx, qChangeMark).Scan(&store, &change); err != nil {
			return nil, err
		}
		if store == r.store && change == r.change {
			r.set.sortLoaded()
			c.ids[acct] = r.set
			return r.set, nil
		}
	}
	set, err := sizedHashSet(ctx, tx, acct)
	if err != nil {
		return nil, err
	}
	rows, err := tx.QueryContext(ctx, qEventHashes, acct)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var seq int64
	var stored sql.RawBytes
	var id []byte
	for rows.Next() {
		if err := rows.Scan(&seq, &stored); err != nil {
			return nil, err
		}
		id = appendEventID(id[:0], stored)
		set.loadEntry(packHash(eventHashBytes(id), seq))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if err := hashBlocks(ctx, tx, acct, set); err != nil {
		return nil, err
	}
	set.sortLoaded()
	c.ids[acct] = set
	return set, nil
}

// sizedHashSet is an empty hash set with room for the account's events:
// its sequence range bounds them, so they are loaded at once rather than
// grown into (twice the memory).
func sizedHashSet(ctx context.Context, q queryer, acct int64) (*hashSet, error) {
	var first, last, firstBlock int64
	if err := q.QueryRowContext(ctx, qEventsFirstSeq, acct).Scan(&first); err != nil {
		return nil, err
	}
	if err := q.QueryRowContext(ctx, qBlocksFirstSeq, acct).Scan(&firstBlock); err == nil && (first == 0 || firstBlock < first) {
		first = firstBlock
	} else if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, err
	}
	if err := q.QueryRowContext(ctx, qEventsLastSeq, acct).Scan(&last); err != nil {
		return nil, err
	}
	set := &hashSet{last: last}
	set.presize(int(last - first + 1))
	return set, nil
}

// hashLean loads the sg_event_ids of a lean read's page (their stored
// forms, ReadAccountLean), numbered by seqs, into the set (loadEntry), and
// empties them, as ReadAccountLean hands its pages over. buf is reused.
func (s *hashSet) hashLean(evs []segmentd.Event, seqs []int64, buf []byte) []byte {
	for i := range evs {
		if stored := evs[i].SGEventID; stored != "" {
			buf = appendEventID(buf[:0], stored)
			s.loadEntry(packHash(eventHashBytes(buf), seqs[i]))
			evs[i].SGEventID = ""
		}
	}
	return buf
}

// lockCache locks the event cache (the caller unlocks c.mu) inside the
// write transaction tx, first dropping all it holds if another connection
// has written since it was filled.
func (s *Store) lockCache(ctx context.Context, tx *sql.Tx) (*eventCache, error) {
	var version int64
	if err := tx.QueryRowContext(ctx, "PRAGMA data_version").Scan(&version); err != nil {
		return nil, err
	}
	c := &s.events
	c.mu.Lock()
	if version != c.version || c.ids == nil {
		c.ids, c.emails, c.loads, c.nEmails, c.version = make(map[int64]*hashSet), nil, nil, 0, version
	}
	return c, nil
}

// hashBlocks adds the sg_event_ids of the account's blocks to set (loadEntry).
func hashBlocks(ctx context.Context, tx *sql.Tx, acct int64, set *hashSet) error {
	rows, err := tx.QueryContext(ctx, qAccountBlocks, acct)
	if err != nil {
		return err
	}
	defer rows.Close()
	var first int64
	var data sql.RawBytes
	var br eventblock.Reader
	var id []byte
	for rows.Next() {
		if err := rows.Scan(&first, &data); err != nil {
			return err
		}
		for br.Open(string(data), first); br.Next(); {
			if br.Ev.StoredID != "" {
				id = br.Ev.SGEventID(id[:0])
				set.loadEntry(packHash(eventHashBytes(id), br.Ev.Seq))
			}
		}
		if br.Err() != nil {
			return fmt.Errorf("event block %d of account %d: %w", first, acct, br.Err())
		}
	}
	return rows.Err()
}

// owners sets the ContactID of each of evs (emails lower-cased) to the
// contact its email names, as contactIDsByEmail does, answering from the
// remembered emails where it can, inside the write transaction tx (after
// eventIDs).
func (s *Store) owners(ctx context.Context, tx *sql.Tx, acct int64, evs []segmentd.Event) error {
	b := &s.batch
	c := &s.events
	b.miss = b.miss[:0]
	for i := range evs {
		b.miss = append(b.miss, int32(i))
	}
	if b.ownersKnown(c, acct, evs) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(b.miss))
	emails := distinctEmails(evs, b.miss, seen)
	// The account's next contacts first, then a lookup of the emails they
	// did not bring.
	if err := s.loadOwners(ctx, tx, acct, ownerLoadRatio*len(emails)); err != nil {
		return err
	}
	if b.ownersKnown(c, acct, evs) == 0 {
		return nil
	}
	clear(seen)
	emails = distinctEmails(evs, b.miss, seen)
	found, err := contactIDsByEmail(ctx, tx, acct, emails)
	if err != nil {
		return err
	}
	for _, i := range b.miss {
		evs[i].ContactID = found[evs[i].Email]
	}
	c.mu.Lock()
	m := c.remember(acct, len(emails))
	for _, e := range emails {
		if c.nEmails >= c.bound() {
			break // a batch of more emails than the bound
		}
		var o emailOwner
		if id := found[e]; id != "" {
			if o.id, o.has = parseCanonicalUUID(id); !o.has {
				continue // an id of another form: looked up each time
			}
		}
		if m.set(e, o) {
			c.nEmails++
		}
	}
	c.mu.Unlock()
	return nil
}

// ownersKnown sets the owner of each event of b.miss whose email c
// remembers for acct, keeps in b.miss those it does not, and returns how
// many. Once the account's contacts were all read in, an email not
// remembered names no contact, and none is kept.
func (b *batchBuffers) ownersKnown(c *eventCache, acct int64, evs []segmentd.Event) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	known := c.emails[acct]
	whole := c.loads[acct] != nil && c.loads[acct].done
	rest := b.miss[:0]
	for _, i := range b.miss {
		if o, ok := known.get(evs[i].Email); !ok {
			if !whole {
				rest = append(rest, i)
			}
		} else if o.has {
			evs[i].ContactID = b.contactID(o.id)
		}
	}
	b.miss = rest
	return len(rest)
}

// distinctEmails returns the emails of evs[i], i in idx, each once (seen
// holds those returned).
func distinctEmails(evs []segmentd.Event, idx []int32, seen map[string]bool) []string {
	var emails []string
	for _, i := range idx {
		if e := evs[i].Email; !seen[e] {
			seen[e] = true
			emails = append(emails, e)
		}
	}
	return emails
}

// bound is the most emails c remembers.
func (c *eventCache) bound() int {
	if c.limit == 0 {
		return maxCachedEmails
	}
	return c.limit
}

// remember returns the account's remembered emails, made room for n more;
// c.mu is held.
func (c *eventCache) remember(acct int64, n int) *ownerTable {
	if limit := c.bound(); c.nEmails+n > limit {
		c.evictEmails(max(0, min(limit/2, limit-n)))
	}
	if c.emails == nil {
		c.emails = make(map[int64]*ownerTable)
	}
	m := c.emails[acct]
	if m == nil {
		m = newOwnerTable()
		c.emails[acct] = m
	}
	return m
}

// ownerLoadRatio is how many contacts loadOwners reads for each email a
// batch looked up: reading a contact in id order costs about a fifth of
// looking one email up (2.3 against 11–21 µs of CPU at 200,000 contacts),
// so an account whose events keep naming emails not remembered has its
// contacts read in whole for less than the lookups would have cost.
const ownerLoadRatio = 4

// ownerLoadStep bounds how many contacts loadOwners reads for one batch
// beyond its ownerLoadRatio share: a load reads at least as many as it
// has read so far (up to this bound), so one that batch after batch finds
// emails it does not hold doubles its pace, and the emails of the contacts
// read before a batch's lookups need none. A million-contact account is
// whole after about 25 batches rather than 250, having looked up a few
// tens of thousands of emails rather than 250,000; a workload whose
// contact writes keep forgetting the emails starts again at the ratio
// each time. 50,000 contacts take about 115 ms of CPU.
const ownerLoadStep = 50_000

// loadOwners reads up to n more of the account's contacts (or as many as
// it read so far, up to ownerLoadStep), in id order, into its remembered
// emails, inside the write transaction tx. Once every
// contact was read, and then the alternate emails, the account's emails
// are all remembered (ownerLoad.done): a batch then looks up nothing. Events
// spread over every contact of a large account (a million, each named by
// a few events) otherwise each look one email up the first time it comes.
// Any other write forgets the emails and the progress (forgetEmails), so
// everything read describes the store as it is.
func (s *Store) loadOwners(ctx context.Context, tx *sql.Tx, acct int64, n int) error {
	c := &s.events
	c.mu.Lock()
	ld := c.loads[acct]
	if ld == nil {
		if c.loads == nil {
			c.loads = make(map[int64]*ownerLoad)
		}
		ld = &ownerLoad{}
		c.loads[acct] = ld
	}
	after, stop := ld.after, ld.done || ld.off
	n = max(n, min(ld.read, ownerLoadStep))
	c.mu.Unlock()
	if stop || n <= 0 {
		return nil
	}
	rows, err := tx.QueryContext(ctx, qContactEmailsAfter, acct, after, n)
	if err != nil {
		return err
	}
	defer rows.Close()
	type contactEmail struct {
		id, email string
		sole      bool
	}
	var page []contactEmail
	for rows.Next() {
		var r contactEmail
		if err := rows.Scan(&r.id, &r.email, &r.sole); err != nil {
			return err
		}
		page = append(page, r)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	rows.Close()
	var alts map[string]string
	last := len(page) < n
	if last {
		alts = map[string]string{}
		if err := scanPairs(ctx, tx, alts, qAlternateEmailsAll, acct); err != nil {
			return err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loads[acct] != ld { // evicted meanwhile
		return nil
	}
	if c.nEmails+len(page)+len(alts) > c.bound() {
		ld.off = true // the account's emails do not fit beside the others'
		return nil
	}
	m := c.remember(acct, 0)
	for _, r := range page {
		id, ok := parseCanonicalUUID(r.id)
		if !ok {
			ld.off = true // looked up each time, so never whole
			return nil
		}
		if m.set(r.email, emailOwner{id: id, has: true, sole: r.sole}) { // an email before an alternate one
			c.nEmails++
		}
		ld.after = r.id
	}
	ld.read += len(page)
	for e, idText := range alts {
		id, ok := parseCanonicalUUID(idText)
		if !ok {
			ld.off = true
			return nil
		}
		if _, had := m.get(e); !had {
			m.set(e, emailOwner{id: id, has: true})
			c.nEmails++
		}
	}
	ld.done = last
	return nil
}

// evictEmails forgets remembered emails until at most keep remain.
func (c *eventCache) evictEmails(keep int) {
	for _, ld := range c.loads {
		ld.done, ld.off = false, true // no longer whole, and not read again
	}
	for acct, m := range c.emails {
		if c.nEmails <= keep {
			return
		}
		if drop := c.nEmails - keep; drop < m.len() {
			m.truncate(m.len() - drop)
			c.nEmails -= drop
			return
		}
		c.nEmails -= m.len()
		delete(c.emails, acct)
	}
}

// batchBuffers are AddEvents' working memory, kept from one batch to the
// next: the single writer connection serialises AddEvents' transactions,
// so one batch at a time uses them.
type batchBuffers struct {
	hashes []uint64         // eventHash of each event's sg_event_id (0 without one)
	first  map[uint64]int32 // a hash → the first event of the batch with it
	keep   []int32          // the events to store, by index
	miss   []int32          // events whose email is not remembered
	seqs   []int64
	idText []byte
	blocks blockIDs // the block the last duplicate probe read
}

// contactID is the text of a remembered owner's id.
func (b *batchBuffers) contactID(id [16]byte) string {
	b.idText = appendUUID(b.idText[:0], id[:])
	return string(b.idText)
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
		b.first = make(map[uint64]int32, len(evs))
	}
	clear(b.first)
	b.keep = b.keep[:0]
	b.blocks = blockIDs{} // a block read by an earlier transaction may have changed since
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
		if b.seqs = set.seqs(h, b.seqs[:0]); len(b.seqs) > 0 {
			if stmt == nil {
				var err error
				if stmt, err = tx.PrepareContext(ctx, qEventAt); err != nil {
					return err
				}
				defer stmt.Close()
			}
			stored := encodeEventID(id)
			dup := false
			for _, seq := range b.seqs {
				var one int
				err := stmt.QueryRowContext(ctx, acct, seq, stored).Scan(&one)
				if err == nil {
					dup = true
					break
				}
				if !errors.Is(err, sql.ErrNoRows) {
					return err
				}
				// Not a row: perhaps an event of a block.
				if dup, err = b.blocks.storedIDAt(ctx, tx, acct, seq, storedText(stored)); dup || err != nil {
					if err != nil {
						return err
					}
					break
				}
			}
			if dup {
				continue
			}
		}
		b.keep = append(b.keep, int32(i))
	}
	return nil
}

// keeps tells whether an event b.keep holds has sg_event_id id, of hash h:
// the slow path of a hash repeated within a batch by another id.
func (b *batchBuffers) keeps(evs []segmentd.Event, h uint64, id string) bool {
	for _, k := range b.keep {
		if b.hashes[k] == h && evs[k].SGEventID == id {
			return true
		}
	}
	return false
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
