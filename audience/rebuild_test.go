package audience_test

import (
	"context"
	"log/slog"
	"os"
	"runtime"
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
