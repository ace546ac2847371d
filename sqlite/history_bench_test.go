package sqlite

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/cputime"
)

// BenchmarkHistoryLastEntries reads what the history says a segment's
// members were last told to be (the reconciliations of docs/webhooks.md,
// "A start without a marked snapshot"), and prunes it once every row is
// older than the retention (each pair's last entry stays), once more with
// the same cut (nothing to prune), and once ten minutes later after 1,000
// long-standing members left (their entries go). SEGMENTD_BENCH_CONTACTS contacts (default 200,000)
// enter one segment; every tenth leaves again. It reports the wall and
// CPU time of one read and of each prune pass.
func BenchmarkHistoryLastEntries(b *testing.B) {
	n := 200_000
	if v, err := strconv.Atoi(os.Getenv("SEGMENTD_BENCH_CONTACTS")); err == nil && v > 0 {
		n = v
	}
	ctx := b.Context()
	s, err := Open(ctx, filepath.Join(b.TempDir(), "bench.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	a, err := s.CreateAccount(ctx, "bench", 0, t0)
	if err != nil {
		b.Fatal(err)
	}
	var ts []segmentd.Transition
	flush := func() {
		if err := s.AppendTransitions(ctx, a.ID, ts, nil, true); err != nil {
			b.Fatal(err)
		}
		ts = ts[:0]
	}
	for i := range n {
		id := fmt.Sprintf("01900000-0000-7000-8000-%012x", i)
		ts = append(ts, segmentd.Transition{SegmentID: "s1", ContactID: id, Email: fmt.Sprintf("c%d@example.com", i), Entered: true,
			At: t0.Add(time.Duration(i) * time.Millisecond), Cause: segmentd.CauseContact})
		if i%10 == 9 {
			ts = append(ts, segmentd.Transition{SegmentID: "s1", ContactID: id, Email: fmt.Sprintf("c%d@example.com", i),
				At: t0.Add(time.Duration(i)*time.Millisecond + time.Hour), Cause: segmentd.CauseContact})
		}
		if len(ts) >= 10_000 {
			flush()
		}
	}
	flush()
	for b.Loop() {
		c0, w0 := cputime.Process(), time.Now()
		got, err := s.HistoryLastEntries(ctx, a.ID, "s1")
		if err != nil {
			b.Fatal(err)
		}
		if want := n - n/10; len(got) != want {
			b.Fatalf("%d last entries, want %d", len(got), want)
		}
		b.ReportMetric(float64(time.Since(w0).Milliseconds()), "read-ms")
		b.ReportMetric(float64((cputime.Process() - c0).Milliseconds()), "read-cpu-ms")
	}
	c0, w0 := cputime.Process(), time.Now()
	pruned := 0
	for {
		k, err := s.PruneHistory(ctx, t0.Add(48*time.Hour), segmentd.MaxHistoryPruneBatch)
		if err != nil {
			b.Fatal(err)
		}
		pruned += k
		if k < segmentd.MaxHistoryPruneBatch {
			break
		}
	}
	if pruned != 2*(n/10) {
		b.Fatalf("pruned %d, want %d", pruned, 2*(n/10))
	}
	b.ReportMetric(float64(time.Since(w0).Milliseconds()), "prune-ms")
	b.ReportMetric(float64((cputime.Process() - c0).Milliseconds()), "prune-cpu-ms")
	c0, w0 = cputime.Process(), time.Now()
	if k, err := s.PruneHistory(ctx, t0.Add(48*time.Hour), segmentd.MaxHistoryPruneBatch); err != nil || k != 0 {
		b.Fatalf("a second pass pruned %d %v", k, err)
	}
	b.ReportMetric(float64(time.Since(w0).Milliseconds()), "prune-again-ms")
	b.ReportMetric(float64((cputime.Process() - c0).Milliseconds()), "prune-again-cpu-ms")

	// Ten minutes later: 1,000 long-standing members leave; their old
	// entries go, the exits stay (within the retention).
	for i := range 1000 {
		id := fmt.Sprintf("01900000-0000-7000-8000-%012x", i*10)
		ts = append(ts, segmentd.Transition{SegmentID: "s1", ContactID: id, Email: fmt.Sprintf("c%d@example.com", i*10),
			At: t0.Add(49 * time.Hour), Cause: segmentd.CauseContact})
	}
	flush()
	c0, w0 = cputime.Process(), time.Now()
	if k, err := s.PruneHistory(ctx, t0.Add(48*time.Hour+10*time.Minute), segmentd.MaxHistoryPruneBatch); err != nil || k != 1000 {
		b.Fatalf("the pass after 1,000 exits pruned %d %v, want 1000", k, err)
	}
	b.ReportMetric(float64(time.Since(w0).Milliseconds()), "prune-next-ms")
	b.ReportMetric(float64((cputime.Process() - c0).Milliseconds()), "prune-next-cpu-ms")
}
