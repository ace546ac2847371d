package hooks_test

import (
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/hooks"
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

func benchSegmentCreate(b *testing.B, e *env, n int, keep bool) {
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
	sizes, err := e.Store.Sizes(ctx)
	if err != nil {
		b.Fatal(err)
	}
	var bytes int64
	for _, s := range sizes {
		if s.Table == "segment_history" || s.Table == "history_segments" {
			bytes += s.Bytes
		}
	}
	b.ReportMetric(float64(bytes)/float64(i*n), "history-bytes/transition")
}
