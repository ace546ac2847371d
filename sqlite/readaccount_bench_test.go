package sqlite

import (
	"os"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/cputime"
)

// BenchmarkReadAccountLoaded measures ReadAccount, the store's part of the
// engine's rebuild, over a loaded database: SEGMENTD_REBUILD_BENCH_DB
// names its segmentd.db (as for audience's BenchmarkRebuildLoaded; only
// read). contacts reads the contacts alone, all the contacts and then the
// events. It reports the process's CPU per read (the figure to compare on
// a shared machine) and what it read.
func BenchmarkReadAccountLoaded(b *testing.B) {
	path := os.Getenv("SEGMENTD_REBUILD_BENCH_DB")
	if path == "" {
		b.Skip("SEGMENTD_REBUILD_BENCH_DB not set")
	}
	s, err := Open(b.Context(), path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	accts, err := s.Accounts(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	for _, whole := range []bool{false, true} {
		name := "contacts"
		if whole {
			name = "all"
		}
		b.Run(name, func(b *testing.B) {
			var contacts, events int
			var cpu time.Duration
			for range b.N {
				contacts, events = 0, 0
				c0 := cputime.Process()
				for _, a := range accts {
					var evf func([]segmentd.Event) error
					if whole {
						evf = func(evs []segmentd.Event) error { events += len(evs); return nil }
					}
					if _, _, err := s.ReadAccount(b.Context(), a.ID, func(cs []segmentd.Contact) error { contacts += len(cs); return nil }, evf); err != nil {
						b.Fatal(err)
					}
				}
				cpu += cputime.Process() - c0
			}
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(contacts), "contacts")
			b.ReportMetric(float64(events), "events")
		})
	}
}
