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
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/storetest"
)

// openPacking opens a store whose event blocks cover at most span
// sequence numbers.
func openPacking(t *testing.T, path string, span int64) *Store {
	t.Helper()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.span = span
	t.Cleanup(func() { s.Close() })
	return s
}

// The store contracts, with blocks of two events: every read, probe,
// attachment, prune and change of the contracts meets events in several
// blocks.
func TestEventContractPacked(t *testing.T) {
	storetest.RunEvents(t, func(t *testing.T) storetest.EventsStore {
		return openPacking(t, filepath.Join(t.TempDir(), "segmentd.db"), 2)
	})
}

func TestContractPacked(t *testing.T) {
	storetest.Run(t, func(t *testing.T) segmentd.Store {
		return openPacking(t, filepath.Join(t.TempDir(), "segmentd.db"), 2)
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

// TestPackEvents: events are written as blocks as they arrive, except
// those with no contact and those whose attachment the history records;
// every page size reads them all in order; a redelivery of an event of a
// block is a duplicate; an attached event stays a row.
func TestPackEvents(t *testing.T) {
	s := openPacking(t, filepath.Join(t.TempDir(), "segmentd.db"), 16)
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
	// A redelivery of the first batch and of the last.
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
	for b := range 10 { // blocks above the attached rows
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

// TestPackEventsAtomic: a batch's blocks are written in its transaction,
// and rows with a contact that an older segmentd left above the newest
// block are packed in it, before them; when a statement fails, nothing of
// the batch is stored and the rows stay (no event is counted twice or
// lost); the next batch packs them and stores its own.
func TestPackEventsAtomic(t *testing.T) {
	s := openPacking(t, filepath.Join(t.TempDir(), "segmentd.db"), 16)
	ctx := t.Context()
	acct := createAccount(t, s)
	if _, err := s.UpsertContacts(ctx, acct, []segmentd.ContactPatch{patch("a@example.com")}, nil, testNow); err != nil {
		t.Fatal(err)
	}
	batch := func(from, n int) []segmentd.Event {
		var evs []segmentd.Event
		for i := from; i < from+n; i++ {
			evs = append(evs, segmentd.Event{Email: "a@example.com", Type: "open", Timestamp: testNow, SGEventID: fmt.Sprintf("id-%d", i)})
		}
		return evs
	}
	add := func(from, n int) {
		t.Helper()
		if res, err := s.AddEvents(ctx, acct, batch(from, n)); err != nil || res.Added != n {
			t.Fatalf("AddEvents: %+v, %v", res, err)
		}
	}
	add(0, 20)
	if rows, blocks, packed := blockCounts(t, s, acct); rows != 0 || blocks != 2 || packed != 20 {
		t.Fatalf("after a batch: %d rows, %d blocks holding %d; want none, 2 and 20", rows, blocks, packed)
	}
	// Rows as a segmentd that packed later left them: 40 numbers above
	// the newest block.
	ids, err := s.ContactsByEmails(ctx, acct, []string{"a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	old := batch(20, 40)
	for i := range old {
		old[i].Source, old[i].ContactID = segmentd.DefaultEventSource, ids["a@example.com"].ID
	}
	err = s.writeConnTx(ctx, true, func(conn *sql.Conn, tx *sql.Tx) error {
		return conn.Raw(func(dc any) error { return s.inserts.insert(ctx, dc, acct, 20, old) })
	})
	if err != nil {
		t.Fatal(err)
	}
	s.events.forgetIDs(acct) // loaded again with the rows' ids
	if _, err := s.write.Exec("CREATE TRIGGER fail_pack BEFORE DELETE ON event_rows BEGIN SELECT RAISE(ABORT, 'injected'); END"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddEvents(ctx, acct, batch(60, 5)); err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("a batch whose packing fails: %v, want the injected error", err)
	}
	if rows, blocks, _ := blockCounts(t, s, acct); rows != 40 || blocks != 2 {
		t.Fatalf("after the failed batch: %d rows, %d blocks; want 40 and 2", rows, blocks)
	}
	if _, err := s.write.Exec("DROP TRIGGER fail_pack"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.write.Exec("CREATE TRIGGER fail_block BEFORE INSERT ON event_blocks WHEN NEW.first_seq > 60 BEGIN SELECT RAISE(ABORT, 'injected'); END"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AddEvents(ctx, acct, batch(60, 5)); err == nil || !strings.Contains(err.Error(), "injected") {
		t.Fatalf("a batch whose block fails: %v, want the injected error", err)
	}
	if rows, blocks, _ := blockCounts(t, s, acct); rows != 40 || blocks != 2 {
		t.Fatalf("after the failed batch: %d rows, %d blocks; want 40 and 2", rows, blocks)
	}
	if _, err := s.write.Exec("DROP TRIGGER fail_block"); err != nil {
		t.Fatal(err)
	}
	add(60, 5)
	rows, blocks, packed := blockCounts(t, s, acct)
	if rows != 0 || blocks != 6 || packed != 65 {
		t.Fatalf("after packing: %d rows, %d blocks holding %d; want none, 6 and 65", rows, blocks, packed)
	}
	got := scanAllEvents(t, s, acct, 1000)
	if len(got) != 65 {
		t.Fatalf("read %d events, want 65", len(got))
	}
	for i, ev := range got {
		if want := fmt.Sprintf("id-%d", i); ev.SGEventID != want {
			t.Fatalf("event %d is %q, want %q", i, ev.SGEventID, want)
		}
	}
	if res, err := s.AddEvents(ctx, acct, batch(0, 65)); err != nil || res.Duplicates != 65 {
		t.Fatalf("redelivery of every event: %+v, %v", res, err)
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
	acct := createAccount(t, s)
	var contacts []segmentd.ContactPatch
	for i := range 100 {
		contacts = append(contacts, patch(fmt.Sprintf("c%d@example.com", i)))
	}
	if _, err := s.UpsertContacts(ctx, acct, contacts, nil, testNow); err != nil {
		t.Fatal(err)
	}
	const total = 4*eventBlockSpan + 1000
	for b := 0; b < total; b += 1000 {
		var batch []segmentd.Event
		for i := b; i < min(b+1000, total); i++ {
			batch = append(batch, segmentd.Event{Email: fmt.Sprintf("c%d@example.com", i%101), Type: "delivered",
				Timestamp: testNow.Add(time.Duration(i) * time.Millisecond), SGEventID: fmt.Sprintf("%024x", i), SinglesendID: "ss-1"})
		}
		addRows(t, s, acct, batch)
	}
	want := scanAllEvents(t, s, acct, 50_000)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("DROP TABLE event_blocks; DROP INDEX segment_history_seq; ALTER TABLE accounts DROP COLUMN history_gap; ALTER TABLE webhook_subscriptions DROP COLUMN old_secret; ALTER TABLE webhook_subscriptions DROP COLUMN old_secret_until; ALTER TABLE history_segments DROP COLUMN pruned_before; ALTER TABLE history_segments DROP COLUMN pruned_seq; " + undoListNums + "; PRAGMA user_version = 27"); err != nil {
		t.Fatal(err)
	}
	var before int64
	if err := db.QueryRow("PRAGMA page_count").Scan(&before); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s = openPacking(t, path, eventBlockSpan)
	if v, _ := s.SchemaVersion(ctx); v != 35 {
		t.Fatalf("schema version %d", v)
	}
	rows, blocks, packed := blockCounts(t, s, acct)
	// c100@example.com names no contact: its events stay rows.
	unattached := int64(0)
	for i := range total {
		if i%101 == 100 {
			unattached++
		}
	}
	if blocks != 5 || packed != total-unattached || rows != unattached {
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

// addRows stores evs as rows only, each with its email's owner, as a
// segmentd that packed its events later did.
func addRows(t *testing.T, s *Store, acct int64, evs []segmentd.Event) {
	t.Helper()
	ctx := t.Context()
	out := slices.Clone(evs)
	oldest := int64(math.MaxInt64)
	for i := range out {
		out[i].Source = segmentd.DefaultEventSource
		oldest = min(oldest, toMS(out[i].Timestamp))
	}
	err := s.writeConnTx(ctx, true, func(conn *sql.Conn, tx *sql.Tx) error {
		if err := s.owners(ctx, tx, acct, out); err != nil {
			return err
		}
		var last int64
		if err := tx.QueryRowContext(ctx, qEventsLastSeq, acct).Scan(&last); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, qLowerEventBound, acct, oldest); err != nil {
			return err
		}
		return conn.Raw(func(dc any) error { return s.inserts.insert(ctx, dc, acct, last, out) })
	})
	if err != nil {
		t.Fatal(err)
	}
	s.events.forgetIDs(acct)
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
