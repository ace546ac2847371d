package audience_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/internal/cputime"
	"github.com/segmentd/segmentd/sqlite"
)

// BenchmarkRebuildLoaded measures the engine's rebuild without a snapshot
// (LoadMembership with no snapshot path) over a loaded SQLite database:
// SEGMENTD_REBUILD_BENCH_DB names its segmentd.db, for example one a
// `segmentd bench ingest --realistic --data DIR` run left (only read). It
// reports the process's CPU per rebuild, the figure to compare on a
// shared machine, the heap after it (the engine and the store), and the
// engine's own estimate of its bytes (Stats.Bytes, of which EventBytes).
func BenchmarkRebuildLoaded(b *testing.B) {
	path := os.Getenv("SEGMENTD_REBUILD_BENCH_DB")
	if path == "" {
		b.Skip("SEGMENTD_REBUILD_BENCH_DB not set")
	}
	ctx := context.Background()
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	var heap uint64
	var engineBytes, eventBytes int64
	var cpu time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := engine.NewMembership()
		svc := audience.New(st, segmentd.SystemClock{}, slog.New(slog.DiscardHandler),
			audience.Config{Segments: st, CCSegments: st, Membership: m, Events: st})
		c0 := cputime.Process()
		if err := svc.LoadMembership(ctx); err != nil {
			b.Fatal(err)
		}
		cpu += cputime.Process() - c0
		b.StopTimer()
		runtime.GC()
		runtime.GC() // the second empties the engine's pools of page buffers (sync.Pool keeps them one collection)
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap = ms.HeapAlloc
		engineBytes, eventBytes = 0, 0
		for _, acct := range m.Accounts() {
			st := m.Stats(acct)
			engineBytes += st.Bytes
			eventBytes += st.EventBytes
		}
		svc.Close()
		runtime.KeepAlive(m)
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(engineBytes)/(1<<20), "engine-MiB")
	b.ReportMetric(float64(eventBytes)/(1<<20), "events-MiB")
}

// TestRebuildPagesOfContacts: a rebuild over more than two of the store's
// pages of contacts, which the store reuses from one page to the next
// (segmentd.Store allows it), gives the engine every contact with its own
// values: the engine takes each page after the store has read the next.
func TestRebuildPagesOfContacts(t *testing.T) {
	w := newWorld(t, 14)
	const n = 12_345 // the store's pages are of 5,000
	patches := make([]segmentd.ContactPatch, n)
	for i := range patches {
		email, first := fmt.Sprintf("c%05d@example.com", i), fmt.Sprint("F", i%7)
		patches[i] = segmentd.ContactPatch{Email: &email, FirstName: &first}
	}
	if _, err := w.store.UpsertContacts(w.ctx, w.acct, patches, nil, w.clock.Now()); err != nil {
		t.Fatal(err)
	}
	seg, err := w.svc.CreateSegment(w.ctx, w.acct, "F3", "SELECT contact_id, updated_at FROM contact_data WHERE first_name = 'F3'", "2", nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for after := ""; ; {
		cs, err := w.store.ScanContacts(w.ctx, w.acct, after, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if c.FirstName == "F3" {
				want = append(want, c.ID)
			}
		}
		if len(cs) < 1000 {
			break
		}
		after = cs[len(cs)-1].ID
	}
	_, m := w.restart("")
	got := m.Members(w.acct, seg.ID, -1, w.clock.Now())
	slices.Sort(got)
	slices.Sort(want)
	if len(want) != (n+3)/7 || !slices.Equal(got, want) {
		t.Fatalf("rebuilt engine: %d members of F3, want %d", len(got), len(want))
	}
}
