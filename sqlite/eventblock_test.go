package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/storetest"
)

// blockTestEvents are events of every form a block encodes: each kind of
// contact id, email, type, source and sg_event_id, repeated strings and
// timestamps going back.
func blockTestEvents(rng *rand.Rand, n int) []segmentd.Event {
	contacts := []string{"", "01a243a7-ed22-70a6-a7bd-19d6ed58d080", "00000000-0000-7000-8000-000000ff0000", "legacy-id", "u", "t"}
	emails := []string{"a@example.com", "b@example.com", "no-at-sign", "trailing@", "@leading", "x@y@z.test", "", "a@example.com"}
	types := []string{"open", "click", "processed", "custom-type", "group_resubscribe"}
	sources := []string{"mail", "sms", ""}
	strs := []string{"", "", "camp-1", "https://x.test/a?b=c", "7"}
	ids := []string{"", "0123456789abcdef01234567", "sZROwMGMagFgnOEmSdvhig==", "Plain id", "\x01starts with a form byte", "\x03", "abc"}
	out := make([]segmentd.Event, n)
	ts := int64(1_700_000_000_000)
	for i := range out {
		ts += rng.Int64N(200_000) - 50_000
		src := sources[rng.IntN(len(sources))]
		if src == "" {
			src = segmentd.DefaultEventSource
		}
		id := ids[rng.IntN(len(ids))]
		if id != "" && rng.IntN(2) == 0 {
			id = fmt.Sprintf("%s-%d", id, i)
		}
		out[i] = segmentd.Event{
			ContactID: contacts[rng.IntN(len(contacts))], Email: emails[rng.IntN(len(emails))], Source: src,
			Type: types[rng.IntN(len(types))], Timestamp: fromMS(ts),
			SinglesendID: strs[rng.IntN(len(strs))], AutomationID: strs[rng.IntN(len(strs))],
			MarketingCampaignID: strs[rng.IntN(len(strs))], URL: strs[rng.IntN(len(strs))], SGEventID: id,
		}
	}
	return out
}

// TestEventBlockCodec: a block reads back exactly the events it was given,
// from any point; a damaged block is an error, never a panic.
func TestEventBlockCodec(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	evs := blockTestEvents(rng, 500)
	var e blockEncoder
	e.reset(1000)
	seqs := make([]int64, len(evs))
	seq := int64(999)
	for i := range evs {
		seq += 1 + rng.Int64N(3)
		seqs[i] = seq
		e.add(seq, &evs[i])
	}
	data := string(e.bytes())
	var br blockReader
	for _, after := range []int64{math.MinInt64, 999, seqs[0], seqs[250], seqs[499]} {
		got, gotSeqs, err := decodeBlock(&br, data, 1000, after, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		for k < len(seqs) && seqs[k] <= after {
			k++
		}
		if !slices.Equal(gotSeqs, seqs[k:]) {
			t.Fatalf("after %d: seqs %v, want %v", after, gotSeqs[:min(5, len(gotSeqs))], seqs[k:min(k+5, len(seqs))])
		}
		for i := range got {
			if got[i] != evs[k+i] {
				t.Fatalf("after %d, event %d:\n got %+v\nwant %+v", after, k+i, got[i], evs[k+i])
			}
		}
	}
	// Every truncation and a flipped byte anywhere, in a block of 30
	// events: an error or events, never a panic.
	e.reset(1000)
	for i := range 30 {
		e.add(seqs[i], &evs[i])
	}
	data = string(e.bytes())
	for n := range len(data) {
		if _, _, err := decodeBlock(&br, data[:n], 1000, 0, nil, nil); err == nil {
			t.Fatalf("a block cut to %d of %d bytes read without an error", n, len(data))
		}
	}
	for i := range len(data) {
		b := []byte(data)
		b[i] ^= 0xff
		decodeBlock(&br, string(b), 1000, 0, nil, nil)
	}
}

// openPacking opens a store that packs blocks of span sequence numbers,
// keeping keep as rows, right after each AddEventBatches' commit in its
// goroutine (packQueue.inline) rather than on packLoop, so that a test
// knows where its events are.
func openPacking(t *testing.T, path string, span, keep int64) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.pack = packParams{span: span, keep: keep}
	s.packing.inline = true
	t.Cleanup(func() {
		if err := s.packing.inlineErr; err != nil {
			t.Errorf("packing: %v", err)
		}
		s.Close()
	})
	return s
}

// The store contracts, with blocks of two events and one row kept: every
// read, probe, attachment, prune and change of the contracts meets events
// in blocks.
func TestEventContractPacked(t *testing.T) {
	storetest.RunEvents(t, func(t *testing.T) storetest.EventsStore {
		return openPacking(t, filepath.Join(t.TempDir(), "segmentd.db"), 2, 1)
	})
}

func TestContractPacked(t *testing.T) {
	storetest.Run(t, func(t *testing.T) segmentd.Store {
		return openPacking(t, filepath.Join(t.TempDir(), "segmentd.db"), 2, 1)
	})
}

// blockCounts are the account's event rows and blocks, and the events
// the blocks hold.
func blockCounts(t *testing.T, s *Store, acct int64) (rows, blocks, packed int64) {
	t.Helper()
	err := s.read.QueryRow(`SELECT (SELECT COUNT(*) FROM event_rows WHERE account_id = ?1),
		(SELECT COUNT(*) FROM event_blocks WHERE account_id = ?1), (SELECT COALESCE(SUM(events), 0) FROM event_blocks WHERE account_id = ?1)`, acct).
		Scan(&rows, &blocks, &packed)
	if err != nil {
		t.Fatal(err)
	}
	return rows, blocks, packed
}

// scanAllEvents reads the account's events in pages of page.
func scanAllEvents(t *testing.T, s *Store, acct int64, page int) []segmentd.Event {
	t.Helper()
	var out []segmentd.Event
	for after := int64(0); ; {
		evs, last, err := s.ScanEvents(t.Context(), acct, after, page)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, evs...)
		if len(evs) < page {
			return out
		}
		after = last
	}
}

// TestPackEvents: events are packed as they arrive, except the newest,
// those with no contact and those whose attachment the history records;
// every page size reads them all in order; a redelivery of a packed event
// is a duplicate; an attached event stays a row.
func TestPackEvents(t *testing.T) {
	s := openPacking(t, filepath.Join(t.TempDir(), "segmentd.db"), 64, 32)
	ctx := t.Context()
	acct := createAccount(t, s)
	var contacts []segmentd.ContactPatch
	for i := range 20 {
		contacts = append(contacts, patch(fmt.Sprintf("c%d@example.com", i)))
	}
	if _, err := s.UpsertContacts(ctx, acct, contacts, nil, testNow); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var sent []segmentd.Event
	for b := range 30 {
		var batch []segmentd.Event
		for i := range 37 {
			email := fmt.Sprintf("c%d@example.com", rng.IntN(25)) // c20–c24: no contact yet
			batch = append(batch, segmentd.Event{Email: email, Type: "open", Timestamp: testNow.Add(time.Duration(b*100+i) * time.Second),
				SGEventID: fmt.Sprintf("id-%d-%d", b, i), URL: "https://x.test/" + strings.Repeat("u", i%3)})
		}
		res, err := s.AddEvents(ctx, acct, batch)
		if err != nil || res.Added != len(batch) {
			t.Fatalf("batch %d: %+v, %v", b, res, err)
		}
		sent = append(sent, res.Events...)
	}
	rows, blocks, packed := blockCounts(t, s, acct)
	if blocks == 0 || rows+packed != int64(len(sent)) {
		t.Fatalf("%d rows, %d blocks holding %d; want blocks, %d events in all", rows, blocks, packed, len(sent))
	}
	for _, page := range []int{1, 7, 64, 100, 5000} {
		got := scanAllEvents(t, s, acct, page)
		if !slices.Equal(got, sent) {
			t.Fatalf("pages of %d: %d events, want %d (or different)", page, len(got), len(sent))
		}
	}
	// A redelivery of the first batch (packed) and of the last (rows).
	for _, b := range []int{0, 29} {
		var again []segmentd.Event
		for i := range 37 {
			again = append(again, segmentd.Event{Email: "c1@example.com", Type: "open", Timestamp: testNow, SGEventID: fmt.Sprintf("id-%d-%d", b, i)})
		}
		res, err := s.AddEvents(ctx, acct, again)
		if err != nil || res.Duplicates != 37 || res.Added != 0 {
			t.Fatalf("redelivery of batch %d: %+v, %v", b, res, err)
		}
	}
	// The hash set loaded again from the blocks and rows finds them too.
	s.events.forgetIDs(acct)
	res, err := s.AddEvents(ctx, acct, []segmentd.Event{{Email: "c1@example.com", Type: "open", Timestamp: testNow, SGEventID: "id-0-3"}})
	if err != nil || res.Duplicates != 1 {
		t.Fatalf("redelivery after reloading the hash set: %+v, %v", res, err)
	}
	// The events of c20–c24 were rows all along; attached now, they stay
	// rows while the history records their attachment.
	_, err = s.UpsertContacts(ctx, acct, []segmentd.ContactPatch{patch("c20@example.com")}, nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	byEmail, err := s.ContactsByEmails(ctx, acct, []string{"c20@example.com"})
	created := []segmentd.Contact{byEmail["c20@example.com"]}
	if err != nil || created[0].ID == "" {
		t.Fatalf("ContactsByEmails: %v, %v", byEmail, err)
	}
	attached, err := s.AttachEvents(ctx, acct, created)
	if err != nil || len(attached) == 0 {
		t.Fatalf("AttachEvents: %d, %v", len(attached), err)
	}
	for b := range 10 { // enough to pack every range again
		var batch []segmentd.Event
		for i := range 37 {
			batch = append(batch, segmentd.Event{Email: "c2@example.com", Type: "click", Timestamp: testNow, SGEventID: fmt.Sprintf("more-%d-%d", b, i)})
		}
		if _, err := s.AddEvents(ctx, acct, batch); err != nil {
			t.Fatal(err)
		}
	}
	var held int
	if err := s.read.QueryRow(`SELECT COUNT(*) FROM event_attachments a JOIN event_rows e ON e.account_id = a.account_id AND e.seq = a.event_seq
		WHERE a.account_id = ?`, acct).Scan(&held); err != nil || held != len(attached) {
		t.Fatalf("attached events still rows: %d of %d (%v)", held, len(attached), err)
	}
	all := scanAllEvents(t, s, acct, 10)
	n := 0
	for _, ev := range all {
		if ev.Email == "c20@example.com" {
			if ev.ContactID != created[0].ID {
				t.Fatalf("attached event read without its contact: %+v", ev)
			}
			n++
		}
	}
	if n != len(attached) {
		t.Fatalf("read %d events of c20, attached %d", n, len(attached))
	}
}

// TestPackEventsAtomic: a block is packed in a transaction of its own,
// after the batch's; when a statement of it fails, the batch stays stored
// and neither the block nor the rows' deletion remains (the rows all
// stay, no event is counted twice or lost), and the next batch packs
// them.
func TestPackEventsAtomic(t *testing.T) {
	s := openPacking(t, filepath.Join(t.TempDir(), "segmentd.db"), 16, 8)
	ctx := t.Context()
	acct := createAccount(t, s)
	if _, err := s.UpsertContacts(ctx, acct, []segmentd.ContactPatch{patch("a@example.com")}, nil, testNow); err != nil {
		t.Fatal(err)
	}
	add := func(from, n int) {
		t.Helper()
		var batch []segmentd.Event
		for i := from; i < from+n; i++ {
			batch = append(batch, segmentd.Event{Email: "a@example.com", Type: "open", Timestamp: testNow, SGEventID: fmt.Sprintf("id-%d", i)})
		}
		if res, err := s.AddEvents(ctx, acct, batch); err != nil || res.Added != n {
			t.Fatalf("AddEvents: %+v, %v", res, err)
		}
	}
	add(0, 20)
	if _, err := s.write.Exec("CREATE TRIGGER fail_pack BEFORE DELETE ON event_rows BEGIN SELECT RAISE(ABORT, 'injected'); END"); err != nil {
		t.Fatal(err)
	}
	add(20, 20)
	if err := s.packing.inlineErr; err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("packing that fails: %v, want the injected error", err)
	}
	s.packing.inlineErr = nil
	if rows, blocks, _ := blockCounts(t, s, acct); rows != 40 || blocks != 0 {
		t.Fatalf("after the failed packing: %d rows, %d blocks; want 40 and none", rows, blocks)
	}
	if _, err := s.write.Exec("DROP TRIGGER fail_pack"); err != nil {
		t.Fatal(err)
	}
	add(40, 1)
	rows, blocks, packed := blockCounts(t, s, acct)
	if blocks != 2 || packed != 32 || rows != 9 {
		t.Fatalf("after packing: %d rows, %d blocks holding %d; want 9, 2 and 32", rows, blocks, packed)
	}
	if got := scanAllEvents(t, s, acct, 1000); len(got) != 41 || got[40].SGEventID != "id-40" {
		t.Fatalf("read %d events", len(got))
	}
	// A row the writer's memory of the newest events does not know gone
	// (deleted behind its back): the block is packed from the rows.
	if _, err := s.write.Exec("DELETE FROM event_rows WHERE account_id = ? AND seq = 35", acct); err != nil {
		t.Fatal(err)
	}
	add(41, 16)
	rows, blocks, packed = blockCounts(t, s, acct)
	if blocks != 3 || packed != 47 || rows != 9 {
		t.Fatalf("after packing past a deleted row: %d rows, %d blocks holding %d; want 9, 3 and 47", rows, blocks, packed)
	}
	got := scanAllEvents(t, s, acct, 1000)
	if len(got) != 56 || got[33].SGEventID != "id-33" || got[34].SGEventID != "id-35" {
		t.Fatalf("read %d events, around the deleted one %q %q", len(got), got[33].SGEventID, got[34].SGEventID)
	}
}

// TestMigratePacksEvents: a schema-24 database's events are packed at the
// upgrade, read back alike, and their ids stay duplicates; the file
// shrinks.
func TestMigratePacksEvents(t *testing.T) {
	path := filepath.Join(t.TempDir(), "segmentd.db")
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s.pack = packParams{span: math.MaxInt32, keep: math.MaxInt32}
	acct := createAccount(t, s)
	var contacts []segmentd.ContactPatch
	for i := range 100 {
		contacts = append(contacts, patch(fmt.Sprintf("c%d@example.com", i)))
	}
	if _, err := s.UpsertContacts(ctx, acct, contacts, nil, testNow); err != nil {
		t.Fatal(err)
	}
	const total = 3*eventBlockSpan + eventBlockKeep + 1000
	for b := 0; b < total; b += 1000 {
		var batch []segmentd.Event
		for i := b; i < min(b+1000, total); i++ {
			batch = append(batch, segmentd.Event{Email: fmt.Sprintf("c%d@example.com", i%101), Type: "delivered",
				Timestamp: testNow.Add(time.Duration(i) * time.Millisecond), SGEventID: fmt.Sprintf("%024x", i), SinglesendID: "ss-1"})
		}
		if _, err := s.AddEvents(ctx, acct, batch); err != nil {
			t.Fatal(err)
		}
	}
	want := scanAllEvents(t, s, acct, 50_000)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("DROP TABLE event_blocks; DROP INDEX segment_history_seq; ALTER TABLE accounts DROP COLUMN history_gap; " + undoListNums + "; PRAGMA user_version = 27"); err != nil {
		t.Fatal(err)
	}
	var before int64
	if err := db.QueryRow("PRAGMA page_count").Scan(&before); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s = openPacking(t, path, eventBlockSpan, eventBlockKeep)
	if v, _ := s.SchemaVersion(ctx); v != 31 {
		t.Fatalf("schema version %d", v)
	}
	rows, blocks, packed := blockCounts(t, s, acct)
	// c100@example.com names no contact: its events stay rows.
	unattached := int64(0)
	for i := range 3 * eventBlockSpan {
		if i%101 == 100 {
			unattached++
		}
	}
	if blocks != 3 || packed != 3*eventBlockSpan-unattached || rows != total-packed {
		t.Fatalf("after the upgrade: %d rows, %d blocks holding %d", rows, blocks, packed)
	}
	var after int64
	if err := s.read.QueryRow("PRAGMA page_count").Scan(&after); err != nil {
		t.Fatal(err)
	}
	if after >= before {
		t.Errorf("pages: %d before the upgrade, %d after", before, after)
	}
	for _, page := range []int{999, 50_000} {
		if got := scanAllEvents(t, s, acct, page); !slices.Equal(got, want) {
			t.Fatalf("pages of %d after the upgrade: %d events, want %d (or different)", page, len(got), len(want))
		}
	}
	res, err := s.AddEvents(ctx, acct, []segmentd.Event{
		{Email: "x@example.com", Type: "open", Timestamp: testNow, SGEventID: fmt.Sprintf("%024x", 5)},
		{Email: "x@example.com", Type: "open", Timestamp: testNow, SGEventID: fmt.Sprintf("%024x", total-1)},
		{Email: "x@example.com", Type: "open", Timestamp: testNow.Add(time.Hour), SGEventID: "new"},
	})
	if err != nil || res.Duplicates != 2 || res.Added != 1 {
		t.Fatalf("redelivery after the upgrade: %+v, %v; want 2 duplicates, 1 added", res, err)
	}
	// Pruning rewrites the blocks: the first 5,000 events are older.
	n, err := s.PruneEvents(ctx, acct, testNow.Add(5000*time.Millisecond))
	if err != nil || n != 5000 {
		t.Fatalf("PruneEvents: %d, %v; want 5000", n, err)
	}
	got := scanAllEvents(t, s, acct, 3000)
	if len(got) != len(want)+1-5000 || got[0] != want[5000] {
		t.Fatalf("after pruning: %d events, first %+v", len(got), got[0])
	}
	if last, err := s.LastEventSeq(ctx, acct); err != nil || last != total+1 {
		t.Fatalf("LastEventSeq %d, %v; want %d", last, err, total+1)
	}
}

func createAccount(t *testing.T, s *Store) int64 {
	t.Helper()
	a, err := s.CreateAccount(t.Context(), "acme", 0, testNow)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

func patch(email string) segmentd.ContactPatch { return segmentd.ContactPatch{Email: &email} }

// TestPackInBackground: packLoop packs after the batches' commits, with no
// packing in them; every read taken while it packs (pages of several
// sizes, each its own read transaction) gives each event stored so far
// once, in order; once it is done only the newest rows are left, and
// every id, packed or not, is a duplicate.
func TestPackInBackground(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.pack = packParams{span: 4, keep: 2} // read by packLoop after its first wake, which AddEvents sends
	ctx := t.Context()
	acct := createAccount(t, s)
	if _, err := s.UpsertContacts(ctx, acct, []segmentd.ContactPatch{patch("a@example.com"), patch("b@example.com")}, nil, testNow); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var sent []segmentd.Event
	stored := func() []segmentd.Event {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(sent)
	}
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		defer close(readErr)
		for reads := 0; ; reads++ {
			select {
			case <-stop:
				return
			default:
			}
			before := len(stored())
			page := []int{1, 5, 16, 1000}[reads%4]
			var got []segmentd.Event
			for after := int64(0); ; {
				evs, last, err := s.ScanEvents(ctx, acct, after, page)
				if err != nil {
					readErr <- err
					return
				}
				got = append(got, evs...)
				if len(evs) < page {
					break
				}
				after = last
			}
			want := stored()
			if len(got) < before || len(got) > len(want) || !slices.Equal(got, want[:len(got)]) {
				readErr <- fmt.Errorf("read %d events in pages of %d while packing; %d stored before, %d after (or different)", len(got), page, before, len(want))
				return
			}
		}
	}()
	for b := range 60 {
		var batch []segmentd.Event
		for i := range 11 {
			email := []string{"a@example.com", "b@example.com", "nobody@example.com"}[(b+i)%3]
			batch = append(batch, segmentd.Event{Email: email, Type: "open", Timestamp: testNow.Add(time.Duration(b*100+i) * time.Second), SGEventID: fmt.Sprintf("id-%d-%d", b, i)})
		}
		res, err := s.AddEvents(ctx, acct, batch)
		if err != nil || res.Added != len(batch) {
			t.Fatalf("batch %d: %+v, %v", b, res, err)
		}
		mu.Lock()
		sent = append(sent, res.Events...)
		mu.Unlock()
	}
	close(stop)
	if err := <-readErr; err != nil {
		t.Fatal(err)
	}
	// Done: below a block and the kept rows above the frontier, and the
	// events of nobody@example.com (a third) stay rows.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		rows, _, packed := blockCounts(t, s, acct)
		if packed > 0 && rows-int64(len(sent))/3 < 4+2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("packing not done within a minute: %d rows, %d events in blocks", rows, packed)
		}
	}
	if got := scanAllEvents(t, s, acct, 7); !slices.Equal(got, sent) {
		t.Fatalf("after packing: %d events, want %d (or different)", len(got), len(sent))
	}
	for _, b := range []int{0, 59} {
		res, err := s.AddEvents(ctx, acct, []segmentd.Event{{Email: "a@example.com", Type: "open", Timestamp: testNow, SGEventID: fmt.Sprintf("id-%d-1", b)}})
		if err != nil || res.Duplicates != 1 {
			t.Fatalf("redelivery of batch %d: %+v, %v", b, res, err)
		}
	}
}

// TestPackYieldsToWriters: while another write transaction runs or waits,
// the packer packs only an account more than packForceBlocks blocks
// behind, and only down to that bound; once the writer is idle it packs
// the rest.
func TestPackYieldsToWriters(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const span, keep = 4, 2
	s.pack = packParams{span: span, keep: keep}
	ctx := t.Context()
	acct := createAccount(t, s)
	if _, err := s.UpsertContacts(ctx, acct, []segmentd.ContactPatch{patch("a@example.com")}, nil, testNow); err != nil {
		t.Fatal(err)
	}
	s.packing.enter() // a writer waiting, as far as the packer can tell
	const total = 300
	for b := range total / 10 {
		var batch []segmentd.Event
		for i := range 10 {
			batch = append(batch, segmentd.Event{Email: "a@example.com", Type: "open", Timestamp: testNow, SGEventID: fmt.Sprintf("id-%d-%d", b, i)})
		}
		if _, err := s.AddEvents(ctx, acct, batch); err != nil {
			t.Fatal(err)
		}
	}
	waitRows := func(what string, done func(rows int64) bool) {
		t.Helper()
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(2 * time.Millisecond) {
			rows, _, packed := blockCounts(t, s, acct)
			if rows+packed != total {
				t.Fatalf("%d rows and %d events in blocks, %d stored", rows, packed, total)
			}
			if done(rows) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d rows left after a minute", what, rows)
			}
		}
	}
	force := int64(keep + packForceBlocks*span)
	waitRows("packing down to the bound while a writer waits", func(rows int64) bool { return rows < force })
	if rows, _, _ := blockCounts(t, s, acct); rows < force-span {
		t.Fatalf("%d rows left while a writer waits; the packer goes no further than %d", rows, force-span)
	}
	s.packing.leave()
	waitRows("packing the rest once the writer is idle", func(rows int64) bool { return rows < span+keep })
	if got := scanAllEvents(t, s, acct, 7); len(got) != total {
		t.Fatalf("read %d events, stored %d", len(got), total)
	}
}
