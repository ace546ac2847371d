package sqlite

import (
	"strconv"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// BenchmarkIngest is one round of an ingest: 30,000 new contacts in one
// upsert, then 10,000 events naming them, as one AddEventBatches call of
// ten 1,000-event batches (a webhook worker's queue). It reports each
// part's rate. postgres/bench_test.go has the same on PostgreSQL and
// Citus, to compare the stores. The store grows by one round per op.
func BenchmarkIngest(b *testing.B) {
	bs := newBenchStore(b)
	var upsertTime, eventTime time.Duration
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		ps := benchPatches(i*benchBatch, benchBatch, bs.text, bs.num)
		batches := ingestEvents(i, ps)
		b.StartTimer()
		t0 := time.Now()
		if res := bs.upsert(b, ps); res.Created != benchBatch {
			b.Fatalf("created %d, want %d", res.Created, benchBatch)
		}
		t1 := time.Now()
		res, err := bs.s.AddEventBatches(b.Context(), bs.acct, batches)
		if err != nil {
			b.Fatal(err)
		}
		eventTime += time.Since(t1)
		upsertTime += t1.Sub(t0)
		for _, r := range res {
			if r.Added != len(batches[0]) || r.Unmatched != 0 {
				b.Fatalf("added %d, unmatched %d", r.Added, r.Unmatched)
			}
		}
	}
	b.ReportMetric(float64(b.N*benchBatch)/upsertTime.Seconds(), "contacts/s")
	b.ReportMetric(float64(b.N*ingestEventCount)/eventTime.Seconds(), "events/s")
}

const ingestEventCount = 10_000

// ingestEvents returns round i's events: ten batches of 1,000 naming the
// round's contacts ps.
func ingestEvents(i int, ps []segmentd.ContactPatch) [][]segmentd.Event {
	types := []string{"processed", "delivered", "open", "open", "click", "bounce", "unsubscribe", "deferred"}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
	batches := make([][]segmentd.Event, 10)
	for j := range ingestEventCount {
		n := i*ingestEventCount + j
		batches[j/1000] = append(batches[j/1000], segmentd.Event{Email: *ps[(j*7919)%len(ps)].Email, Type: types[j%len(types)],
			Timestamp: t0.Add(time.Duration(j) * 10 * time.Millisecond), SinglesendID: "ss-1", SGEventID: "ingest-" + strconv.Itoa(n)})
	}
	return batches
}
