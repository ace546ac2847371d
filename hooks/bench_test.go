package hooks_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/hooks"
	"github.com/segmentd/segmentd/internal/cputime"
	"github.com/segmentd/segmentd/internal/facetest"
)

// BenchmarkSegmentCreateHistory measures what the membership history
// costs when a segment is created over many contacts (every contact
// enters it): the create's time with the history kept and without it,
// and the history's bytes on disk per transition (SQLite's dbstat over
// segment_history, its index and history_segments). The account has
// SEGMENTD_BENCH_CONTACTS contacts (default 100,000) and no subscription.
func BenchmarkSegmentCreateHistory(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("SEGMENTD_BENCH_CONTACTS")); err == nil && v > 0 {
		n = v
	}
	for _, keep := range []bool{false, true} {
		b.Run(fmt.Sprintf("contacts=%d/history=%v", n, keep), func(b *testing.B) {
			o := hooks.Options{}
			if keep {
				o.Retention = 24 * time.Hour
			}
			benchSegmentCreate(b, start(b, o), n, keep)
		})
	}
}

// historyBytes is the SQLite pages of the history's tables and indexes.
func historyBytes(b *testing.B, e *env) int64 {
	sizes, err := e.Store.Sizes(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	var bytes int64
	for _, s := range sizes {
		if s.Table == "segment_history" || s.Table == "history_segments" {
			bytes += s.Bytes
		}
	}
	return bytes
}

// upsertAdas upserts n contacts c<i>@example.com named Ada, each job
// waited for.
func upsertAdas(b *testing.B, e *env, n int) {
	ctx := b.Context()
	for i := 0; i < n; i += segmentd.MaxUpsertContacts {
		var ps []segmentd.ContactPatch
		for j := i; j < min(n, i+segmentd.MaxUpsertContacts); j++ {
			ps = append(ps, segmentd.ContactPatch{Email: facetest.Ptr(fmt.Sprintf("c%d@example.com", j)), FirstName: facetest.Ptr("Ada")})
		}
		id, err := e.Svc.UpsertContacts(ctx, e.acct, ps, nil)
		if err != nil {
			b.Fatal(err)
		}
		facetest.WaitJob(b, e.Svc, e.acct, id)
	}
}

func benchSegmentCreate(b *testing.B, e *env, n int, keep bool) {
	ctx := b.Context()
	upsertAdas(b, e, n)
	i := 0
	for b.Loop() {
		if _, err := e.Svc.CreateSegment(ctx, e.acct, fmt.Sprintf("adas %d", i), "SELECT contact_id, updated_at FROM contact_data WHERE first_name = 'Ada'", "2", nil); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i*n), "ns/transition")
	if !keep {
		return
	}
	bytes := historyBytes(b, e)
	b.ReportMetric(float64(bytes)/float64(i*n), "history-bytes/transition")
}

// BenchmarkDelivery measures segment webhooks end to end on SQLite, with
// the history kept and a receiver on loopback that answers 204 at once:
//
//   - transitions/s: SEGMENTD_BENCH_CONTACTS contacts (default 100,000)
//     upserted in jobs of 10,000 that all enter one segment, from the
//     first upsert until the receiver has every entry;
//   - ack-to-delivered p50 and p99: 200 contacts upserted one at a time,
//     from the moment the upsert is accepted (its job id returned, the
//     202 of the API) until the receiver has the contact's entry.
func BenchmarkDelivery(b *testing.B) {
	n := 100_000
	if v, err := strconv.Atoi(os.Getenv("SEGMENTD_BENCH_CONTACTS")); err == nil && v > 0 {
		n = v
	}
	for b.Loop() {
		e := start(b, hooks.Options{Retention: 24 * time.Hour})
		rc := newArrivals(b)
		e.segment(b, "adas", "SELECT contact_id, updated_at FROM contact_data WHERE first_name = 'Ada'")
		sub, err := e.Svc.CreateSubscription(b.Context(), e.acct, audience.SubscriptionInput{URL: facetest.Ptr(rc.srv.URL)})
		if err != nil {
			b.Fatal(err)
		}
		rc.secret = sub.Secret

		startAt := time.Now()
		for i := 0; i < n; i += 10_000 {
			var ps []segmentd.ContactPatch
			for j := i; j < min(n, i+10_000); j++ {
				ps = append(ps, segmentd.ContactPatch{Email: facetest.Ptr(fmt.Sprintf("t%d@example.com", j)), FirstName: facetest.Ptr("Ada")})
			}
			if _, err := e.Svc.UpsertContacts(b.Context(), e.acct, ps, nil); err != nil {
				b.Fatal(err)
			}
		}
		rc.waitCount(b, n)
		took := time.Since(startAt)
		b.ReportMetric(float64(n)/took.Seconds(), "transitions/s")

		var lat []time.Duration
		for i := range 200 {
			email := fmt.Sprintf("l%d@example.com", i)
			if _, err := e.Svc.UpsertContacts(b.Context(), e.acct, []segmentd.ContactPatch{{Email: facetest.Ptr(email), FirstName: facetest.Ptr("Ada")}}, nil); err != nil {
				b.Fatal(err)
			}
			acked := time.Now()
			lat = append(lat, rc.waitEmail(b, email).Sub(acked))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "ack-to-delivered-p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "ack-to-delivered-p99-ms")
	}
}

// arrivals is a receiver that notes when each contact's entry arrived.
type arrivals struct {
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	cond   *sync.Cond
	at     map[string]time.Time // by email
}

func newArrivals(b *testing.B) *arrivals {
	rc := &arrivals{at: map[string]time.Time{}}
	rc.cond = sync.NewCond(&rc.mu)
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		now := time.Now()
		if err := hooks.Verify(rc.secret, r.Header, body, now, time.Hour); err != nil {
			b.Errorf("message does not verify: %v", err)
		}
		var m hooks.Message
		if err := json.Unmarshal(body, &m); err != nil {
			b.Errorf("body: %v", err)
		}
		rc.mu.Lock()
		for _, t := range m.Data {
			if _, ok := rc.at[t.Contact.Email]; !ok {
				rc.at[t.Contact.Email] = now
			}
		}
		rc.cond.Broadcast()
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	b.Cleanup(rc.srv.Close)
	return rc
}

// wait waits, with a deadline of a minute, until ok holds under the lock.
func (rc *arrivals) wait(b *testing.B, what string, ok func() bool) {
	deadline := time.AfterFunc(time.Minute, func() { rc.mu.Lock(); rc.cond.Broadcast(); rc.mu.Unlock() })
	defer deadline.Stop()
	end := time.Now().Add(time.Minute)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for !ok() {
		if time.Now().After(end) {
			b.Fatalf("%s not delivered within a minute", what)
		}
		rc.cond.Wait()
	}
}

func (rc *arrivals) waitCount(b *testing.B, n int) {
	rc.wait(b, fmt.Sprintf("%d transitions", n), func() bool { return len(rc.at) >= n })
}

func (rc *arrivals) waitEmail(b *testing.B, email string) time.Time {
	rc.wait(b, email, func() bool { _, ok := rc.at[email]; return ok })
	return rc.at[email]
}

// BenchmarkHistoryBaseline measures what making an account's history
// gap-free costs at a start (docs/webhooks.md, "The baseline"): the
// account's SEGMENTD_BENCH_CONTACTS contacts (default 200,000) are all
// members of one segment, made while no history was kept (the account's
// history has a gap and no entry), on SQLite. A start with the history
// then writes one baseline row per member and clears the gap; a second
// start, with nothing left to write, is the load alone. It reports the
// wall and CPU time of both starts (from the service's creation until
// LoadMembership returns), the rows written and the history's bytes per
// row.
func BenchmarkHistoryBaseline(b *testing.B) {
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv("SEGMENTD_BENCH_CONTACTS")); err == nil && v > 0 {
		n = v
	}
	e := start(b, hooks.Options{}) // no history: the account is created with a gap
	ctx := b.Context()
	upsertAdas(b, e, n)
	seg, err := e.Svc.CreateSegment(ctx, e.acct, "adas", "SELECT contact_id, updated_at FROM contact_data WHERE first_name = 'Ada'", "2", nil)
	if err != nil {
		b.Fatal(err)
	}
	if gap, err := e.Store.HistoryGap(ctx, e.acct); err != nil || !gap {
		b.Fatalf("the account's gap before = %v %v, want one", gap, err)
	}
	// A start with the history over the same store, timed.
	load := func() (wall, cpu time.Duration) {
		d := hooks.New(hooks.Options{Store: e.Store, History: e.Store, Clock: e.Clock, Log: e.Log, Retention: 24 * time.Hour, Poll: 10 * time.Millisecond})
		if err := d.Start(ctx); err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		c0, w0 := cputime.Process(), time.Now()
		svc := audience.New(e.Store, e.Clock, e.Log, audience.Config{Segments: e.Store, CCSegments: e.Store, Events: e.Store, WebhookKeys: e.Store,
			Exports: e.Store, Hooks: e.Store, Imports: e.Store, Membership: engine.NewMembership(), Outbox: d, History: e.Store, HistoryRetention: 24 * time.Hour})
		if err := svc.LoadMembership(ctx); err != nil {
			b.Fatal(err)
		}
		wall, cpu = time.Since(w0), cputime.Process()-c0
		svc.Close()
		return wall, cpu
	}
	for b.Loop() {
		wall, cpu := load()
		if gap, err := e.Store.HistoryGap(ctx, e.acct); err != nil || gap {
			b.Fatalf("the account's gap after the start = %v %v, want none", gap, err)
		}
		rows, err := e.Store.HistoryLastEntries(ctx, e.acct, seg.ID)
		if err != nil || len(rows) != n {
			b.Fatalf("%d baseline rows (%v), want %d", len(rows), err, n)
		}
		again, againCPU := load()
		b.ReportMetric(wall.Seconds(), "start-with-baseline-s")
		b.ReportMetric(cpu.Seconds(), "start-with-baseline-cpu-s")
		b.ReportMetric(again.Seconds(), "start-alone-s")
		b.ReportMetric(againCPU.Seconds(), "start-alone-cpu-s")
		b.ReportMetric(float64(len(rows)), "rows")
		bytes := historyBytes(b, e)
		b.ReportMetric(float64(bytes)/float64(len(rows)), "history-bytes/row")
		b.StopTimer()
		// The next round starts with the gap again, its rows kept: it
		// writes nothing more (they say what the engine holds).
		if err := e.Store.MarkHistoryGap(ctx, e.acct); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
