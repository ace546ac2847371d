package sqlite

import (
	"context"
	"fmt"
	"github.com/segmentd/segmentd/internal/cputime"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/storetest"
)

func TestEventContract(t *testing.T) {
	storetest.RunEvents(t, func(t *testing.T) storetest.EventsStore {
		st, err := Open(context.Background(), filepath.Join(t.TempDir(), "segmentd.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

// TestEventQueryPlans checks that the event statements probe indexes rather
// than scan an account's events (ten million at the benchmark's size), and
// that the one that reads all of them (eventcache.go) reads only the
// account's range of the primary key.
func TestEventQueryPlans(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	for _, q := range []string{qEventHashes, qEventAt, qContactIDsByEmail, qContactEmailsAfter, qAlternateEmailsAll, qEventsLastSeq, qEventsUnattached, qWaitingEmails, qAttachEvents, qScanEvents,
		qEventsFirstSeq, qPruneEvents, qMinEventTime, qEventsAnyBefore, qRecordAttachment,
		qEventFrontier, qRowsFirstSeq, qRowsLastSeq, qPackRows, qDeletePacked, qInsertBlock, qScanBlocks, qBlockAt, qAccountBlocks,
		qBlocksBefore, qBlockData, qRewriteBlock, qBlocksMinTime, qBlocksFirstSeq} {
		plan := queryPlan(t, s, q)
		for _, step := range plan {
			scan := strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, "VIRTUAL TABLE") && step != "SCAN CONSTANT ROW"
			// The primary key searched by account alone reads all its events.
			// (event_attachments, which packing reads so, holds only the
			// attachments since the last snapshot.)
			whole := strings.HasSuffix(step, "event_rows USING PRIMARY KEY (account_id=?)") && q != qEventHashes && q != qEventsLastSeq && q != qEventsFirstSeq && q != qRowsLastSeq
			if scan || whole || strings.Contains(step, "TEMP B-TREE") {
				t.Errorf("query %s\nhas plan step %q (whole plan %q)", q, step, plan)
			}
		}
		t.Logf("%s\n  %q", q, plan)
	}
}

// BenchmarkAddEventsLoaded measures AddEvents in 1,000-event batches on a
// loaded data directory (segmentd bench segments -data DIR): set
// SEGMENTD_EVENTS_BENCH_DB to a COPY of its segmentd.db, since the benchmark
// adds events to it. Timestamps follow the loaded ones, as webhook
// deliveries do.
func BenchmarkAddEventsLoaded(b *testing.B) {
	path := os.Getenv("SEGMENTD_EVENTS_BENCH_DB")
	if path == "" {
		b.Skip("SEGMENTD_EVENTS_BENCH_DB not set")
	}
	ctx := context.Background()
	t0 := time.Now()
	s, err := Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.Logf("open (with migrations): %v", time.Since(t0))
	var acct, maxTS int64
	if err := s.read.QueryRow("SELECT account_id, event_timestamp FROM events WHERE account_id = (SELECT MAX(account_id) FROM events) ORDER BY seq DESC LIMIT 1").Scan(&acct, &maxTS); err != nil {
		b.Fatal(err)
	}
	rows, err := s.read.Query("SELECT email FROM contacts WHERE account_id = ? AND email IS NOT NULL LIMIT 200000", acct)
	if err != nil {
		b.Fatal(err)
	}
	var emails []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			b.Fatal(err)
		}
		emails = append(emails, e)
	}
	rows.Close()
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	types := []string{"processed", "delivered", "open", "click", "bounce", "unsubscribe"}
	const batch = 1000
	evs := make([]segmentd.Event, batch)
	ts := maxTS
	var cpu time.Duration // this process's CPU time in AddEvents
	add := func() {
		for j := range evs {
			ts += int64(rng.IntN(3))
			evs[j] = segmentd.Event{Email: emails[rng.IntN(len(emails))], Type: types[rng.IntN(len(types))],
				Timestamp: time.UnixMilli(ts + rng.Int64N(60_000)).UTC(), SinglesendID: "ss-1",
				SGEventID: fmt.Sprintf("%016x%08x", rng.Uint64(), j)}
		}
		b.StartTimer()
		c0 := cputime.Process()
		res, err := s.AddEvents(ctx, acct, evs)
		cpu += cputime.Process() - c0
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		if res.Added != batch {
			b.Fatalf("added %d", res.Added)
		}
	}
	// The first batch loads the account's sg_event_hash set (eventids.go).
	t0 = time.Now()
	add()
	b.Logf("first batch (loads the hash set): %v", time.Since(t0))
	b.ResetTimer()
	b.StopTimer()
	cpu = 0
	for i := 0; i < b.N; i++ {
		add()
	}
	b.ReportMetric(cpu.Seconds()*1000/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkAddEvents measures AddEvents in 1,000-event batches shaped like
// those of `segmentd events bench`: an account of 100,000 contacts (filled
// first, in a few seconds), each batch naming 1,000 of their emails, the
// types processed, delivered, open, click…, one singlesend id, unique
// sg_event_ids and timestamps that increase with some jitter. The store is
// warmed with 200,000 events first, so that the emails are remembered and
// the hash set is past its first merge, as in a running server. It reports
// the process's CPU milliseconds per batch (GC and background checkpoints
// included) and allocations in AddEvents alone. The store grows by 1,000
// events per op: compare runs of the same -benchtime (e.g. 500x).
func BenchmarkAddEvents(b *testing.B) {
	const (
		contacts = 100_000
		batch    = 1000
		warm     = 200
	)
	bs := newBenchStore(b)
	for n0 := 0; n0 < contacts; n0 += benchBatch {
		bs.upsert(b, benchPatches(n0, min(benchBatch, contacts-n0), bs.text, bs.num))
	}
	emails := make([]string, contacts)
	for n := range emails {
		emails[n] = fmt.Sprintf("user%08d@%s", n, benchDomain[n%len(benchDomain)])
	}
	types := []string{"processed", "delivered", "open", "open", "click", "bounce", "unsubscribe", "deferred"}
	t0 := time.Now().UnixMilli()
	evs := make([]segmentd.Event, batch)
	next := 0
	fill := func() {
		for j := range evs {
			i := next + j
			// A fresh copy of the email, as the webhook's parser makes.
			evs[j] = segmentd.Event{Email: strings.Clone(emails[(i*7919)%contacts]), Type: types[i%len(types)],
				Timestamp: time.UnixMilli(t0 + int64(i)*10 - int64(i*7919%60_000)).UTC(), SinglesendID: "ss-1",
				SGEventID: "bench-" + strconv.Itoa(i)}
		}
		next += batch
	}
	ctx := b.Context()
	add := func() {
		res, err := bs.s.AddEvents(ctx, bs.acct, evs)
		if err != nil {
			b.Fatal(err)
		}
		if res.Added != batch || res.Unmatched != 0 {
			b.Fatalf("added %d, unmatched %d", res.Added, res.Unmatched)
		}
	}
	for range warm {
		fill()
		add()
	}
	b.ReportAllocs()
	var cpu time.Duration
	for b.Loop() {
		b.StopTimer()
		fill()
		b.StartTimer()
		c0 := cputime.Process()
		add()
		cpu += cputime.Process() - c0
	}
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkScanEventsLoaded measures ScanEvents over the loaded account's
// events (SEGMENTD_EVENTS_BENCH_DB, as BenchmarkAddEventsLoaded; only read).
func BenchmarkScanEventsLoaded(b *testing.B) {
	path := os.Getenv("SEGMENTD_EVENTS_BENCH_DB")
	if path == "" {
		b.Skip("SEGMENTD_EVENTS_BENCH_DB not set")
	}
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var acct int64
	if err := s.read.QueryRow("SELECT MAX(id) FROM accounts").Scan(&acct); err != nil {
		b.Fatal(err)
	}
	limit, page := 2_000_000, 10_000
	if v, err := strconv.Atoi(os.Getenv("SEGMENTD_SCAN_LIMIT")); err == nil {
		limit = v
	}
	if v, err := strconv.Atoi(os.Getenv("SEGMENTD_SCAN_PAGE")); err == nil {
		page = v // the rebuild's is readEventsPage
	}
	b.ResetTimer()
	c0 := cputime.Process()
	n := 0
	for i := 0; i < b.N; i++ {
		n = 0
		for after := int64(0); n < limit; {
			evs, last, err := s.ScanEvents(ctx, acct, after, page)
			if err != nil {
				b.Fatal(err)
			}
			n += len(evs)
			if len(evs) < page {
				break
			}
			after = last
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
	b.ReportMetric(float64((cputime.Process()-c0).Nanoseconds())/float64(b.N*n), "cpu-ns/event")
}

// TestEventEncodings: every field ScanEvents returns is what AddEvents
// stored, whichever stored form (eventcodec.go) it took, and an id is a
// duplicate exactly when it was stored before.
func TestEventEncodings(t *testing.T) {
	s, acct := openAccount(t)
	ctx := t.Context()
	str := func(v string) *string { return &v }
	owner := upsertOne(t, s, acct, segmentd.ContactPatch{Email: str("a@example.com")})
	ids := []string{
		"0123456789abcdef01234567",         // hex: 12 bytes stored
		"0123456789ABCDEF01234567",         // upper-case hex: text
		"0123456",                          // short: text
		"sZROwMGMagFgnOEmSdvhig==",         // base64: 16 bytes
		"sZROwMGMagFgnOEmSdvhig",           // unpadded: text
		"ZGVsaXZlcmVkLTAtMjQ0NTI5MjMtMXVv", // base64 without padding
		"\x01raw",                          // starts with a form byte's text
		"\x01" + "abcdef0123456789",        // a form byte then hex
		"\x02\x03",                         // form bytes only
		"ab+/ab+/",                         // base64 of bytes that are not text
		"a",
		"événement-1",
	}
	var in []segmentd.Event
	types := []string{"open", "click", "group_resubscribe", "delivered", "custom_type"}
	for i, id := range ids {
		in = append(in, segmentd.Event{Email: "a@example.com", Type: types[i%len(types)], Timestamp: time.UnixMilli(int64(1000 + i)).UTC(),
			SGEventID: id, URL: "https://x.test/" + strconv.Itoa(i), SinglesendID: "ss", AutomationID: "au", MarketingCampaignID: "mc"})
	}
	in = append(in, segmentd.Event{Email: "b@example.com", Source: "sms", Type: "open", Timestamp: time.UnixMilli(-5).UTC()})
	res, err := s.AddEvents(ctx, acct, in)
	if err != nil || res.Added != len(in) {
		t.Fatalf("AddEvents: %+v, %v", res, err)
	}
	got, last, err := s.ScanEvents(ctx, acct, 0, 100)
	if err != nil || len(got) != len(in) || last != int64(len(in)) {
		t.Fatalf("ScanEvents: %d events, last %d, %v", len(got), last, err)
	}
	for i, ev := range got {
		want := in[i]
		if want.Source == "" {
			want.Source = "mail"
		}
		if want.Email == "a@example.com" {
			want.ContactID = owner
		}
		if ev != want {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, ev, want)
		}
	}
	// Each id again, and ids one character away: the first are
	// duplicates, the others new.
	var again []segmentd.Event
	for i, id := range ids {
		again = append(again, idEvent(id, int64(9000+i)), idEvent(id+"0", 1000))
	}
	res, err = s.AddEvents(ctx, acct, again)
	if err != nil || res.Duplicates != len(ids) || res.Added != len(ids) {
		t.Fatalf("redelivery: %+v, %v; want %d duplicates and %d added", res, err, len(ids), len(ids))
	}
}

func TestEventCodec(t *testing.T) {
	for _, id := range []string{"01a243a7-ed22-70a6-a7bd-19d6ed58d080", "01A243A7-ED22-70A6-A7BD-19D6ED58D080", "not-a-uuid", "0123456789abcdef", "01a243a7ed2270a6a7bd19d6ed58d080x"} {
		enc := encodeContactID(id)
		if got := string(appendContactID(nil, enc)); got != id {
			t.Errorf("contact id %q: stored %q, read back %q", id, enc, got)
		}
		if b, ok := enc.([]byte); ok && len(b) != 16 {
			t.Errorf("contact id %q: stored as %d bytes", id, len(b))
		}
	}
	for _, id := range []string{"0123456789abcdef", "00", "abcdef012345678", "QUJDRA==", "QUJD", "\x01", "\x03abc", "\x00", "x"} {
		enc := encodeEventID(id)
		var b []byte
		switch x := enc.(type) {
		case string:
			b = []byte(x)
		case []byte:
			b = x
		}
		if got := string(appendEventID(nil, b)); got != id {
			t.Errorf("event id %q: stored %q, read back %q", id, enc, got)
		}
	}
	for _, typ := range []string{"open", "processed", "group_resubscribe", "opened", "7", ""} {
		if got := decodeEventType(encodeEventType(typ)); got != typ {
			t.Errorf("event type %q: read back %q", typ, got)
		}
	}
}

// waitFor stores an event for each of n emails no contact has,
// nobody0@example.com on, in batches of 1,000.
func waitFor(tb testing.TB, s *Store, acct int64, n int) {
	tb.Helper()
	for n0 := 0; n0 < n; n0 += 1000 {
		var evs []segmentd.Event
		for i := n0; i < min(n, n0+1000); i++ {
			evs = append(evs, segmentd.Event{Email: fmt.Sprintf("nobody%d@example.com", i), Type: "open", Timestamp: time.Now().UTC(), SGEventID: fmt.Sprintf("waiting-%d", i)})
		}
		r, err := s.AddEvents(context.Background(), acct, evs)
		if err != nil || r.Unmatched != len(evs) {
			tb.Fatalf("AddEvents: %+v, %v", r, err)
		}
	}
}

// TestAttachEventsManyWaiting: past maxWaitingRead emails waiting,
// AttachEvents searches the contacts' emails instead, and finds the same.
func TestAttachEventsManyWaiting(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	acct, err := s.CreateAccount(ctx, "a", 0, testNow)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, acct.ID, maxWaitingRead+1)
	res, err := s.UpsertContacts(ctx, acct.ID, []segmentd.ContactPatch{patch("someone@example.com"), patch(fmt.Sprintf("nobody%d@example.com", maxWaitingRead))}, nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.AttachEvents(ctx, acct.ID, res.Contacts)
	if err != nil || len(got) != 1 || got[0].SGEventID != fmt.Sprintf("waiting-%d", maxWaitingRead) || got[0].ContactID == "" {
		t.Fatalf("AttachEvents = %+v, %v; want waiting-%d with its contact", got, err, maxWaitingRead)
	}
}

// BenchmarkAttachEvents measures what follows each upsert's commit in the
// store stage of a job (audience's afterUpsert): AttachEvents for the
// 30,000 contacts of one request, in an account of 30,000 contacts, with
// no event waiting for a contact (the usual case), with one waiting for
// an email no contact has, and with maxWaitingRead+1 (the contacts'
// emails searched in the index, as every call did before session 15).
func BenchmarkAttachEvents(b *testing.B) {
	for _, waiting := range []int{0, 1, maxWaitingRead + 1} {
		b.Run(fmt.Sprintf("waiting=%d", waiting), func(b *testing.B) {
			bs := newBenchStore(b)
			res := bs.upsert(b, benchPatches(0, benchBatch, bs.text, bs.num))
			waitFor(b, bs.s, bs.acct, waiting)
			b.ReportAllocs()
			for b.Loop() {
				got, err := bs.s.AttachEvents(b.Context(), bs.acct, res.Contacts)
				if err != nil || len(got) != 0 {
					b.Fatalf("AttachEvents: %d events, %v", len(got), err)
				}
			}
			b.ReportMetric(float64(len(res.Contacts)), "contacts")
		})
	}
}
