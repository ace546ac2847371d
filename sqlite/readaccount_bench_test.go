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
// events, lean as all through ReadAccountLean (what the rebuild reads).
// It reports the process's CPU per read (the figure to compare on
// a shared machine) and what it read.
func BenchmarkReadAccountLoaded(b *testing.B) {
	s, accts := openLoadedBenchDB(b)
	for _, run := range []struct {
		name        string
		whole, lean bool
	}{{"contacts", false, false}, {"all", true, false}, {"lean", true, true}} {
		whole := run.whole
		read := s.ReadAccount
		if run.lean {
			read = s.ReadAccountLean // the rebuild's
		}
		b.Run(run.name, func(b *testing.B) {
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
					if _, _, err := read(b.Context(), a.ID, func(cs []segmentd.Contact) error { contacts += len(cs); return nil }, evf); err != nil {
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

// BenchmarkContactReadsLoaded measures the reads of contacts with their
// lists over a loaded database (SEGMENTD_REBUILD_BENCH_DB, as for
// BenchmarkReadAccountLoaded; open a copy: Open upgrades it), on the
// account with the most contacts: one contact, 100 contacts spread over
// the account, 1,000 consecutive ones (an export's chunk), the samples,
// and the lists of 30,000 contacts spread over the account (what an upsert
// that changes that many stored contacts read before it left their lists
// to the engine, UpsertResult.ListsAdded; BenchmarkUpsertChanged measures
// that upsert). It reports the
// process's CPU per read.
func BenchmarkContactReadsLoaded(b *testing.B) {
	s, accts := openLoadedBenchDB(b)
	ctx := b.Context()
	var acct int64
	var ids []string
	for _, a := range accts {
		var all []string
		for after := ""; ; {
			cs, err := s.ScanContacts(ctx, a.ID, after, 10_000)
			if err != nil {
				b.Fatal(err)
			}
			for _, c := range cs {
				all = append(all, c.ID)
			}
			if len(cs) < 10_000 {
				break
			}
			after = cs[len(cs)-1].ID
		}
		if len(all) > len(ids) {
			acct, ids = a.ID, all
		}
	}
	if len(ids) < 30_000 {
		b.Skipf("the largest account has %d contacts, fewer than 30,000", len(ids))
	}
	spread := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = ids[i*len(ids)/n]
		}
		return out
	}
	lists, err := s.Lists(ctx, acct, "", 1)
	if err != nil || len(lists) == 0 {
		b.Fatalf("Lists: %d, %v", len(lists), err)
	}
	some, many := spread(100), spread(30_000)
	lean := segmentd.WithoutLists(ctx)
	chunk := ids[len(ids)/2 : len(ids)/2+1000]
	for _, r := range []struct {
		name string
		fn   func() error
	}{
		{"Contact", func() error { _, err := s.Contact(ctx, acct, ids[len(ids)/3]); return err }},
		{"ContactsByIDs-100", func() error { _, err := s.ContactsByIDs(ctx, acct, some); return err }},
		{"ContactsByIDs-1000-consecutive", func() error { _, err := s.ContactsByIDs(ctx, acct, chunk); return err }},
		{"SampleContacts-50", func() error { _, err := s.SampleContacts(ctx, acct, 50); return err }},
		// The same reads leaving the lists to the engine (segmentd.WithoutLists).
		{"Contact-without-lists", func() error { _, err := s.Contact(lean, acct, ids[len(ids)/3]); return err }},
		{"ContactsByIDs-100-without-lists", func() error { _, err := s.ContactsByIDs(lean, acct, some); return err }},
		{"SampleContacts-50-without-lists", func() error { _, err := s.SampleContacts(lean, acct, 50); return err }},
		{"ListIDsOf-30000", func() error {
			cs := make([]segmentd.Contact, len(many))
			ptrs := make([]*segmentd.Contact, len(many))
			for i, id := range many {
				cs[i].ID = id
				ptrs[i] = &cs[i]
			}
			return fillListIDsOf(ctx, s.read, acct, ptrs)
		}},
	} {
		b.Run(r.name, func(b *testing.B) {
			c0 := cputime.Process()
			for b.Loop() {
				if err := r.fn(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cputime.Process()-c0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// openLoadedBenchDB opens the loaded database SEGMENTD_REBUILD_BENCH_DB
// names (skipping the benchmark without one), closed with it, and lists
// its accounts.
func openLoadedBenchDB(b *testing.B) (*Store, []segmentd.Account) {
	b.Helper()
	path := os.Getenv("SEGMENTD_REBUILD_BENCH_DB")
	if path == "" {
		b.Skip("SEGMENTD_REBUILD_BENCH_DB not set")
	}
	s, err := Open(b.Context(), path)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	accts, err := s.Accounts(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	return s, accts
}
