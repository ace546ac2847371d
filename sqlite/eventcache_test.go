package sqlite

import (
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

func TestHashSet(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var s hashSet
	in := make(map[uint64][]int64)
	top := make(map[uint64][]int64) // by the hash's top 32 bits
	seq := int64(0)
	add := func(h uint64) {
		seq++
		s.add(h, seq)
		in[h] = append(in[h], seq)
		top[h>>32] = append(top[h>>32], seq)
	}
	for _, h := range []uint64{math.MaxUint64, 0, 1, 1 << 63, 1<<32 - 1} {
		add(h)
	}
	add(7) // a hash held twice, before and after merges
	add(7)
	// Past two merges (the first at 65,536 adds).
	for range 200_000 {
		add(rng.Uint64())
	}
	add(7)
	if s.sorted == 0 {
		t.Fatal("no merge happened")
	}
	check := func(name string, s *hashSet) {
		t.Helper()
		// Every number a hash is held with, and no number of an entry
		// whose top 32 bits differ.
		for h, want := range in {
			got := s.seqs(h, nil)
			for _, w := range want {
				if !slices.Contains(got, w) {
					t.Fatalf("%s: seqs(%#x) = %v, want %v among them", name, h, got, w)
				}
			}
			for _, g := range got {
				if !slices.Contains(top[h>>32], g) {
					t.Fatalf("%s: seqs(%#x) = %v: %d is another hash's", name, h, got, g)
				}
			}
		}
		others := 0
		for range 100_000 {
			h := rng.Uint64()
			got := s.seqs(h, nil)
			for _, g := range got {
				if !slices.Contains(top[h>>32], g) {
					t.Fatalf("%s: seqs(%#x) = %v, never added", name, h, got)
				}
			}
			others += len(got)
		}
		// 100,000 lookups among 200,008 entries: about 4.7 meet another
		// hash's top 32 bits.
		if others > 30 {
			t.Fatalf("%s: %d numbers of other hashes in 100,000 lookups", name, others)
		}
	}
	check("added", &s)
	// As loaded at start: every hash in the sorted array.
	loaded := hashSet{last: seq}
	loaded.presize(len(in))
	for h, seqs := range in {
		for _, q := range seqs {
			loaded.loadEntry(packHash(h, q))
		}
	}
	loaded.sortLoaded()
	check("loaded", &loaded)
}

// TestHashSetHighSeq: numbers past 32 bits, of which the sorted array
// keeps the low 32, come back among the candidates.
func TestHashSetHighSeq(t *testing.T) {
	var s hashSet
	big := int64(5)<<32 + 17
	s.add(42, big)
	s.add(43, 17)
	s.merge()
	if got := s.seqs(42, nil); !slices.Contains(got, big) {
		t.Fatalf("seqs(42) = %v, want %d among them", got, big)
	}
	if got := s.seqs(43, nil); !slices.Contains(got, 17) {
		t.Fatalf("seqs(43) = %v, want 17 among them", got)
	}
}

// TestHashSetGrowsByParts: a merge grows the arrays of the parts its
// entries fall in, each a small share of the set, never one array of
// every entry (which held the old and the new array at once).
func TestHashSetGrowsByParts(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var s hashSet
	for i := range 300_000 {
		s.add(rng.Uint64(), int64(i+1))
	}
	if s.sorted == 0 {
		t.Fatal("no merge happened")
	}
	largest := 0
	for _, es := range s.parts {
		largest = max(largest, cap(es))
	}
	if largest > s.sorted/hashParts*2 {
		t.Fatalf("largest array %d entries of %d in %d parts", largest, s.sorted, hashParts)
	}
}

func addEvents(t *testing.T, s *Store, acct int64, evs ...segmentd.Event) segmentd.EventsResult {
	t.Helper()
	res, err := s.AddEvents(t.Context(), acct, evs)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// openAccount opens a fresh store, closed when the test ends, with one
// account, "a", whose id it returns.
func openAccount(t *testing.T) (*Store, int64) {
	t.Helper()
	s := openTemp(t)
	t.Cleanup(func() { s.Close() })
	a, err := s.CreateAccount(t.Context(), "a", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return s, a.ID
}

func idEvent(id string, ts int64) segmentd.Event {
	return segmentd.Event{Email: "a@example.com", Type: "open", Timestamp: time.UnixMilli(ts).UTC(), SGEventID: id}
}

// TestEventIDCollision: an id whose hash the set holds for another id
// (a 64-bit collision, made here by hand) is still stored, and is then a
// duplicate itself.
func TestEventIDCollision(t *testing.T) {
	s, acct := openAccount(t)
	addEvents(t, s, acct, idEvent("first", 1000))
	s.events.mu.Lock()
	s.events.ids[acct].add(eventHash("second"), 1) // "first" is seq 1
	s.events.mu.Unlock()
	if res := addEvents(t, s, acct, idEvent("second", 1000)); res.Added != 1 || res.Duplicates != 0 {
		t.Fatalf("colliding id: %+v, want stored", res)
	}
	if res := addEvents(t, s, acct, idEvent("second", 1000), idEvent("first", 5000)); res.Added != 0 || res.Duplicates != 2 {
		t.Fatalf("redelivery: %+v, want 2 duplicates", res)
	}
}

// TestBatchHashRepeat: within a batch, an id whose hash an earlier event
// of another id has (a collision, made here by hand) is kept, and its own
// repeats are still duplicates.
func TestBatchHashRepeat(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	evs := []segmentd.Event{idEvent("a", 1000), idEvent("b", 1000), idEvent("", 1000), idEvent("b", 2000), idEvent("a", 3000), idEvent("c", 1000)}
	var b batchBuffers
	b.hash(evs)
	b.hashes[1], b.hashes[3] = b.hashes[0], b.hashes[0]
	err := s.writeTx(t.Context(), func(tx *sql.Tx) error {
		return b.newEvents(t.Context(), tx, 1, &hashSet{}, evs)
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int32{0, 1, 2, 5}; !slices.Equal(b.keep, want) {
		t.Fatalf("kept %v, want %v", b.keep, want)
	}
}

// TestEventIDsOtherWriter: events another process stores on the same file
// (segmentd events load beside a server) are duplicates here too.
func TestEventIDsOtherWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "segmentd.db")
	s1, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	s2, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	a, err := s1.CreateAccount(t.Context(), "a", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	addEvents(t, s1, a.ID, idEvent("e1", 1000)) // loads s1's set
	for i := range 3 {
		id := fmt.Sprintf("other%d", i)
		if res := addEvents(t, s2, a.ID, idEvent(id, 2000)); res.Added != 1 {
			t.Fatalf("s2 first delivery of %s: %+v", id, res)
		}
		if res := addEvents(t, s1, a.ID, idEvent(id, 2000), idEvent("e1", 1000)); res.Added != 0 || res.Duplicates != 2 {
			t.Fatalf("s1 redelivery of %s: %+v, want 2 duplicates", id, res)
		}
	}
}

// TestEventIDsKeptAcrossBatches: the set is loaded once, not per batch:
// checkpoints like the background ones (PASSIVE), run here between the
// batches, do not look like another writer's commits.
func TestEventIDsKeptAcrossBatches(t *testing.T) {
	s, acct := openAccount(t)
	addEvents(t, s, acct, idEvent("e0", 1000))
	s.events.mu.Lock()
	set := s.events.ids[acct]
	s.events.mu.Unlock()
	checkpointed := 0
	for i := 1; i < 20; i++ {
		addEvents(t, s, acct, idEvent(fmt.Sprintf("e%d", i), 1000))
		if i%5 == 0 {
			var busy, frames, done int
			if err := s.ckpt.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &done); err != nil {
				t.Fatal(err)
			}
			checkpointed += done
		}
	}
	if checkpointed == 0 {
		t.Fatal("no checkpoint copied a frame: the test checks nothing")
	}
	addEvents(t, s, acct, idEvent("last", 1000))
	s.events.mu.Lock()
	defer s.events.mu.Unlock()
	if s.events.ids[acct] != set {
		t.Fatal("the account's hash set was loaded again")
	}
}

func emailEvent(email string) segmentd.Event {
	return segmentd.Event{Email: email, Type: "open", Timestamp: time.UnixMilli(1000).UTC()}
}

func upsertOne(t *testing.T, s *Store, acct int64, p segmentd.ContactPatch) string {
	t.Helper()
	res, err := s.UpsertContacts(t.Context(), acct, []segmentd.ContactPatch{p}, nil, time.Now())
	if err != nil || len(res.Contacts) != 1 {
		t.Fatalf("UpsertContacts: %+v, %v", res, err)
	}
	return res.Contacts[0].ID
}

// TestEventEmailsFollowContactWrites: the emails AddEvents remembers never
// outlive a contact write that changes whose they are.
func TestEventEmailsFollowContactWrites(t *testing.T) {
	s, acct := openAccount(t)
	owner := func(email string) string {
		t.Helper()
		res := addEvents(t, s, acct, emailEvent(email))
		if len(res.Events) != 1 {
			t.Fatalf("AddEvents(%s): %+v", email, res)
		}
		return res.Events[0].ContactID
	}
	str := func(v string) *string { return &v }
	if got := owner("late@example.com"); got != "" {
		t.Fatalf("no contact yet: owner %q", got)
	}
	late := upsertOne(t, s, acct, segmentd.ContactPatch{Email: str("late@example.com")})
	if got := owner("late@example.com"); got != late {
		t.Fatalf("after the contact was created: owner %q, want %q", got, late)
	}
	alt := upsertOne(t, s, acct, segmentd.ContactPatch{Email: str("main@example.com"), AlternateEmails: &[]string{"alt@example.com"}})
	if got := owner("alt@example.com"); got != alt {
		t.Fatalf("alternate email: owner %q, want %q", got, alt)
	}
	if id := upsertOne(t, s, acct, segmentd.ContactPatch{Email: str("main@example.com"), AlternateEmails: &[]string{}}); id != alt {
		t.Fatalf("the update made contact %s, want %s", id, alt)
	}
	if got := owner("alt@example.com"); got != "" {
		t.Fatalf("after the alternate email was removed: owner %q", got)
	}
	if _, err := s.DeleteContacts(t.Context(), acct, []string{late}); err != nil {
		t.Fatal(err)
	}
	if got := owner("late@example.com"); got != "" {
		t.Fatalf("after the contact was deleted: owner %q", got)
	}
}

// TestEventEmailsOtherWriter: a contact another process creates owns its
// events here at once.
func TestEventEmailsOtherWriter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "segmentd.db")
	s1, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	s2, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	a, err := s1.CreateAccount(t.Context(), "a", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if res := addEvents(t, s1, a.ID, emailEvent("x@example.com")); res.Unmatched != 1 {
		t.Fatalf("before the contact: %+v", res)
	}
	email := "x@example.com"
	id := upsertOne(t, s2, a.ID, segmentd.ContactPatch{Email: &email})
	if res := addEvents(t, s1, a.ID, emailEvent("x@example.com")); res.Unmatched != 0 || res.Events[0].ContactID != id {
		t.Fatalf("after another process created the contact: %+v, want owner %s", res, id)
	}
}

func TestWarmEvents(t *testing.T) {
	s, acct := openAccount(t)
	addEvents(t, s, acct, idEvent("e1", 1000))
	s.events.forgetIDs(acct)
	if err := s.WarmEvents(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.events.mu.Lock()
	set := s.events.ids[acct]
	s.events.mu.Unlock()
	if set == nil || !slices.Equal(set.seqs(eventHash("e1"), nil), []int64{1}) {
		t.Fatal("WarmEvents did not load the account's hash set")
	}
}

// BenchmarkWarmEventsLoaded measures loading the sg_event_id set of a
// loaded data directory's accounts (SEGMENTD_EVENTS_BENCH_DB, as
// BenchmarkAddEventsLoaded; only read), as a start does beside the engine
// rebuild, and reports the set's bytes per event.
func BenchmarkWarmEventsLoaded(b *testing.B) {
	path := os.Getenv("SEGMENTD_EVENTS_BENCH_DB")
	if path == "" {
		b.Skip("SEGMENTD_EVENTS_BENCH_DB not set")
	}
	s, err := Open(b.Context(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	accts, err := s.Accounts(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	var events int
	for b.Loop() {
		for _, a := range accts {
			s.events.forgetIDs(a.ID)
		}
		if err := s.WarmEvents(b.Context()); err != nil {
			b.Fatal(err)
		}
	}
	var bytes int
	for _, set := range s.events.ids {
		events += set.sorted + set.n
		bytes += set.bytes()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*max(events, 1)), "ns/event")
	b.ReportMetric(float64(bytes)/float64(max(events, 1)), "set-bytes/event")
}

// TestEventEmailsBounded: the remembered emails never pass their bound,
// and an email forgotten to make room still finds its contact.
func TestEventEmailsBounded(t *testing.T) {
	s, acct := openAccount(t)
	s.events.limit = 8
	str := func(v string) *string { return &v }
	owners := map[string]string{}
	for i := range 12 {
		e := fmt.Sprintf("c%d@example.com", i)
		owners[e] = upsertOne(t, s, acct, segmentd.ContactPatch{Email: str(e)})
	}
	for round := range 3 {
		for from := 0; from < 12; from += 5 {
			var evs []segmentd.Event
			for i := from; i < min(from+5, 12); i++ {
				evs = append(evs, emailEvent(fmt.Sprintf("c%d@example.com", i)))
			}
			evs = append(evs, emailEvent("nobody@example.com"))
			res := addEvents(t, s, acct, evs...)
			for _, ev := range res.Events {
				if ev.ContactID != owners[ev.Email] {
					t.Fatalf("round %d: %s owned by %q, want %q", round, ev.Email, ev.ContactID, owners[ev.Email])
				}
			}
			s.events.mu.Lock()
			n, held := s.events.nEmails, s.events.emails[acct].len()
			s.events.mu.Unlock()
			if n > 8 || n != held {
				t.Fatalf("round %d: %d emails remembered (%d counted), bound 8", round, held, n)
			}
		}
	}
	// A batch naming more emails than the bound.
	var evs []segmentd.Event
	for i := range 12 {
		evs = append(evs, emailEvent(fmt.Sprintf("c%d@example.com", i)))
	}
	addEvents(t, s, acct, evs...)
	if n := s.events.emails[acct].len(); n > 8 {
		t.Fatalf("after a batch of 12 emails: %d remembered, bound 8", n)
	}
}

// TestEventOwnersReadWhole: the batches that look emails up read the
// account's contacts in too (loadOwners), until every email and alternate
// email is remembered; at every step each event gets the owner the store's
// lookup gives, an alternate email shared by two contacts names the lower
// id, a contact's email wins over another's alternate one, another
// account's contacts never count, and a contact write starts over.
func TestEventOwnersReadWhole(t *testing.T) {
	s, acct := openAccount(t)
	other, err := s.CreateAccount(t.Context(), "b", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	str := func(v string) *string { return &v }
	upsertOne(t, s, other.ID, segmentd.ContactPatch{Email: str("c1@example.com")})
	upsertOne(t, s, other.ID, segmentd.ContactPatch{Email: str("only-b@example.com")})
	var patches []segmentd.ContactPatch
	for i := range 40 {
		p := segmentd.ContactPatch{Email: str(fmt.Sprintf("c%d@example.com", i))}
		switch i {
		case 5:
			p.AlternateEmails = &[]string{"alt@example.com", "c7@example.com"}
		case 10, 11:
			p.AlternateEmails = &[]string{"shared@example.com"}
		}
		patches = append(patches, p)
	}
	if _, err := s.UpsertContacts(t.Context(), acct, patches, nil, time.Now()); err != nil {
		t.Fatal(err)
	}
	names := []string{"alt@example.com", "shared@example.com", "only-b@example.com", "nobody@example.com"}
	for i := range 40 {
		names = append(names, fmt.Sprintf("c%d@example.com", i))
	}
	want := func() map[string]string {
		t.Helper()
		var m map[string]string
		err := s.readTx(t.Context(), func(tx *sql.Tx) (err error) {
			m, err = contactIDsByEmail(t.Context(), tx, acct, names)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	check := func(step string, owners map[string]string, emails ...string) {
		t.Helper()
		var evs []segmentd.Event
		for _, e := range emails {
			evs = append(evs, emailEvent(e))
		}
		res := addEvents(t, s, acct, evs...)
		for _, ev := range res.Events {
			if ev.ContactID != owners[ev.Email] {
				t.Fatalf("%s: %s owned by %q, want %q", step, ev.Email, ev.ContactID, owners[ev.Email])
			}
		}
	}
	loaded := func() bool {
		s.events.mu.Lock()
		defer s.events.mu.Unlock()
		ld := s.events.loads[acct]
		return ld != nil && ld.done
	}
	owners := want()
	if owners["shared@example.com"] != min(owners["c10@example.com"], owners["c11@example.com"]) ||
		owners["c7@example.com"] == owners["c5@example.com"] || owners["alt@example.com"] != owners["c5@example.com"] {
		t.Fatalf("the store's own lookup: %v", owners)
	}
	for i := 0; !loaded(); i++ {
		if i == len(names) {
			t.Fatal("the account's contacts were never read whole")
		}
		// An email of no contact is looked up each time until then.
		check(fmt.Sprintf("batch %d", i), owners, names[i], names[(i+17)%len(names)], fmt.Sprintf("none%d@example.com", i))
	}
	// Whole: every answer is the store's, and every email is remembered.
	check("whole", owners, names...)
	s.events.mu.Lock()
	n := s.events.emails[acct].len()
	s.events.mu.Unlock()
	if n < 42 {
		t.Fatalf("whole, but %d emails remembered", n)
	}
	// An upsert records the emails it wrote: the account stays whole,
	// and the new contact's email names it.
	added := upsertOne(t, s, acct, segmentd.ContactPatch{Email: str("nobody@example.com")})
	if !loaded() {
		t.Fatal("an upsert forgot the account's emails")
	}
	owners = want()
	if owners["nobody@example.com"] != added {
		t.Fatalf("the store's own lookup after the upsert: %v", owners)
	}
	check("after the upsert", owners, names...)
	// Any other contact write forgets it all; the next batches start over.
	if n, err := s.DeleteContacts(t.Context(), acct, []string{added}); err != nil || n != 1 {
		t.Fatalf("DeleteContacts = %d, %v", n, err)
	}
	if loaded() {
		t.Fatal("a contact delete left the account read whole")
	}
	owners = want()
	if owners["nobody@example.com"] != "" {
		t.Fatalf("the store's own lookup after the delete: %v", owners)
	}
	check("after the delete", owners, names...)
}

// leanEventsAccount stores, in the account of a fresh store, events
// with sg_event_ids of every stored form (text, hex, base64), on a
// contact (blocks) and on none (rows), and some without an id, and
// forgets the account's hash set. It returns the store's file and the
// ids.
func leanEventsAccount(t *testing.T) (s *Store, acct int64, path string, ids []string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "segmentd.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	a, err := s.CreateAccount(t.Context(), "a", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	acct = a.ID
	email := "a@example.com"
	upsertOne(t, s, acct, segmentd.ContactPatch{Email: &email})
	var evs []segmentd.Event
	for i := range 300 {
		id := []string{fmt.Sprintf("text-%d", i), fmt.Sprintf("%016x", i), "QUJDREVGR0g=", ""}[i%4]
		if i%4 == 2 {
			id = fmt.Sprintf("%08d", i) + "QUJD" // base64, 12 characters
		}
		ev := idEvent(id, int64(1000+i))
		if i%3 == 0 {
			ev.Email = "nobody@example.com" // a row: no contact
		}
		if id != "" {
			ids = append(ids, id)
		}
		evs = append(evs, ev)
	}
	for part := range slices.Chunk(evs, 50) {
		addEvents(t, s, acct, part...)
	}
	s.events.forgetIDs(acct)
	return s, acct, path, ids
}

// readLean reads the account as the engine's rebuild does, checking that
// every event it hands over has no sg_event_id, as ReadAccountLean says.
func readLean(t *testing.T, s *Store, acct int64) {
	t.Helper()
	_, _, err := s.ReadAccountLean(t.Context(), acct, func([]segmentd.Contact) error { return nil }, func(evs []segmentd.Event) error {
		for _, ev := range evs {
			if ev.SGEventID != "" || ev.Email != "" {
				t.Fatalf("ReadAccountLean handed over %+v", ev)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLeanReadHashesEventIDs: the engine's rebuild read (ReadAccountLean)
// hashes the account's sg_event_ids as it reads the events, and event
// ingestion takes that set rather than reading the events again; it is
// the set a load from the store gives, and every stored id is a duplicate.
func TestLeanReadHashesEventIDs(t *testing.T) {
	s, acct, _, ids := leanEventsAccount(t)
	readLean(t, s, acct)
	s.events.mu.Lock()
	offered := s.events.read[acct].set
	s.events.mu.Unlock()
	if offered == nil {
		t.Fatal("ReadAccountLean hashed no set")
	}
	if err := s.WarmEvents(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.events.mu.Lock()
	taken := s.events.ids[acct]
	s.events.mu.Unlock()
	if taken != offered {
		t.Fatal("the set the lean read hashed was not taken: the events were read again")
	}
	s.events.forgetIDs(acct)
	if err := s.WarmEvents(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.events.mu.Lock()
	loaded := s.events.ids[acct]
	s.events.mu.Unlock()
	same := taken.sorted == loaded.sorted && taken.last == loaded.last && slices.Equal(taken.dir, loaded.dir)
	for p := range taken.parts {
		same = same && slices.Equal(taken.parts[p], loaded.parts[p])
	}
	if !same || taken.sorted != len(ids) {
		t.Fatalf("hashed while read: %d entries, last %d; loaded: %d, last %d", taken.sorted, taken.last, loaded.sorted, loaded.last)
	}
	s.events.mu.Lock()
	s.events.ids[acct] = taken
	s.events.mu.Unlock()
	for _, id := range ids {
		if res := addEvents(t, s, acct, idEvent(id, 1000)); res.Duplicates != 1 {
			t.Fatalf("redelivery of %q: %+v, want a duplicate", id, res)
		}
	}
}

// TestLeanReadSetStale: a set a lean read hashed is not taken once a write
// has come in between, here events another process stored: they are
// duplicates too.
func TestLeanReadSetStale(t *testing.T) {
	s1, acct, path, ids := leanEventsAccount(t)
	s2, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	readLean(t, s1, acct)
	if res := addEvents(t, s2, acct, idEvent("other", 2000)); res.Added != 1 {
		t.Fatalf("the other process's event: %+v", res)
	}
	for _, id := range []string{"other", ids[0]} {
		if res := addEvents(t, s1, acct, idEvent(id, 2000)); res.Added != 0 || res.Duplicates != 1 {
			t.Fatalf("redelivery of %q after the other process's write: %+v, want a duplicate", id, res)
		}
	}
}
