package sqlite

import (
	"context"
	"fmt"
	"github.com/segmentd/segmentd/internal/cputime"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
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
// that the one that reads all of them (eventcache.go) reads events_time
// alone.
func TestEventQueryPlans(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	for _, q := range []string{qEventHashes} {
		plan := queryPlan(t, s, q)
		if !slices.ContainsFunc(plan, func(step string) bool { return strings.Contains(step, "INDEX events_time") }) {
			t.Errorf("query %s\nhas plan %q, want a search of events_time", q, plan)
		}
		t.Logf("%s\n  %q", q, plan)
	}
	for _, q := range []string{qEventAt, qContactIDsByEmail, qEventsLastSeq, qEventsUnattached, qAttachEvents, qScanEvents, qScanEventsJoined, qEventsFirstSeq, qPruneEvents, qEventsAnyBefore} {
		plan := queryPlan(t, s, q)
		for _, step := range plan {
			scan := strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, "VIRTUAL TABLE")
			if scan || strings.Contains(step, "TEMP B-TREE") {
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
	if err := s.read.QueryRow("SELECT MAX(account_id) FROM events").Scan(&acct); err != nil {
		b.Fatal(err)
	}
	limit := 2_000_000
	if v, err := strconv.Atoi(os.Getenv("SEGMENTD_SCAN_LIMIT")); err == nil {
		limit = v
	}
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		n = 0
		for after := int64(0); n < limit; {
			evs, last, err := s.ScanEvents(ctx, acct, after, 10_000)
			if err != nil {
				b.Fatal(err)
			}
			n += len(evs)
			if len(evs) < 10_000 {
				break
			}
			after = last
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/event")
}

// TestScanEventsSeparator checks that ScanEvents returns texts holding the
// byte it joins fields with (eventSep) intact, by reading such a page column
// by column.
func TestScanEventsSeparator(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := context.Background()
	acct := int64(1)
	in := []segmentd.Event{
		{Email: "a@example.com", Type: "click", Timestamp: time.UnixMilli(1000).UTC(), URL: "https://x.test/\xff\xff", SGEventID: "e1"},
		{Email: "b@example.com", Type: "open", Timestamp: time.UnixMilli(2000).UTC(), SGEventID: "e2\xff"},
	}
	if _, err := s.AddEvents(ctx, acct, in); err != nil {
		t.Fatal(err)
	}
	got, last, err := s.ScanEvents(ctx, acct, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || last != 2 || got[0].URL != in[0].URL || got[1].SGEventID != in[1].SGEventID || got[0].Source != "mail" || got[1].Email != "b@example.com" {
		t.Fatalf("ScanEvents = %+v, %d", got, last)
	}
	// A page without the byte is split from the joined text.
	_, _, ok, err := scanEventsJoined(ctx, s.read, acct, 0, 1)
	if err != nil || ok {
		t.Fatalf("joined scan of a text holding the separator: ok %v, err %v", ok, err)
	}
	if _, err := s.AddEvents(ctx, acct, []segmentd.Event{{Email: "c@example.com", Type: "open", Timestamp: time.UnixMilli(3000).UTC(), AutomationID: "au"}}); err != nil {
		t.Fatal(err)
	}
	got, last, ok, err = scanEventsJoined(ctx, s.read, acct, 2, 10)
	if err != nil || !ok || last != 3 || len(got) != 1 || got[0].AutomationID != "au" || got[0].Email != "c@example.com" || got[0].Type != "open" || got[0].ContactID != "" || got[0].SGEventID != "" {
		t.Fatalf("joined scan = %+v, %d, %v, %v", got, last, ok, err)
	}
}
