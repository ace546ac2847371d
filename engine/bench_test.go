package engine

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentd/segmentd/internal/cputime"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/query"
)

// The benchmark world: a deterministic generator of contacts and events in
// the shape of segmentd's reference workload (1,000,000 contacts,
// 10,000,000 events), and its five reference queries in Segments 2.0 SQL
// (docs/decisions.md §11).

var benchFields = []segmentd.FieldDefinition{
	{ID: "n1", Name: "score", Type: segmentd.FieldNumber},
	{ID: "d2", Name: "birthday", Type: segmentd.FieldDate},
	{ID: "w3", Name: "plan", Type: segmentd.FieldText},
}

var benchCountries = []string{"US", "US", "US", "GB", "FR", "DE", "CA", "BR", "IN", "JP", "ES", "IT", "NL", "SE", "MX"}
var benchDomains = []string{"gmail.com", "gmail.com", "yahoo.com", "outlook.com", "example.com", "corp.test"}
var benchEventTypes = []string{"delivered", "delivered", "delivered", "open", "open", "click", "processed", "bounce"}

const benchLists = 20

// genContact returns contact i of the world; the same i always gives the
// same contact.
func genContact(i int, now time.Time) segmentd.Contact {
	rng := rand.New(rand.NewPCG(uint64(i), 7))
	c := segmentd.Contact{
		ID:        fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i*7919),
		Email:     fmt.Sprintf("user%d@%s", i, benchDomains[rng.IntN(len(benchDomains))]),
		FirstName: fmt.Sprintf("Name%d", rng.IntN(2000)),
		LastName:  fmt.Sprintf("Last%d", rng.IntN(5000)),
		City:      fmt.Sprintf("City%d", rng.IntN(800)),
		Country:   benchCountries[rng.IntN(len(benchCountries))],
		CreatedAt: now.Add(-time.Duration(rng.Int64N(int64(3 * 365 * 24 * time.Hour)))).Truncate(time.Millisecond),
	}
	c.UpdatedAt = c.CreatedAt
	if rng.IntN(3) == 0 {
		c.PostalCode = fmt.Sprintf("%05d", rng.IntN(99999))
	}
	for l := 0; l < benchLists; l++ {
		if rng.IntN(10) == 0 {
			c.ListIDs = append(c.ListIDs, fmt.Sprintf("list%02d", l))
		}
	}
	c.CustomFields = map[string]segmentd.Value{
		"n1": {Type: segmentd.FieldNumber, Number: float64(rng.IntN(100))},
	}
	if rng.IntN(2) == 0 {
		c.CustomFields["d2"] = segmentd.Value{Type: segmentd.FieldDate, Time: now.AddDate(-20-rng.IntN(40), 0, -rng.IntN(365))}
	}
	if rng.IntN(2) == 0 {
		c.CustomFields["w3"] = segmentd.Value{Type: segmentd.FieldText, Text: []string{"free", "pro", "enterprise"}[rng.IntN(3)]}
	}
	return c
}

// genEvents returns contact i's events (10 on average).
func genEvents(i int, now time.Time) []query.Event {
	rng := rand.New(rand.NewPCG(uint64(i), 11))
	evs := make([]query.Event, rng.IntN(21))
	for k := range evs {
		evs[k] = query.Event{
			Source:       "mail",
			Type:         benchEventTypes[rng.IntN(len(benchEventTypes))],
			Timestamp:    now.Add(-time.Duration(rng.Int64N(int64(365 * 24 * time.Hour)))).UnixMilli(),
			SinglesendID: fmt.Sprintf("ss%d", rng.IntN(50)),
		}
	}
	return evs
}

var referenceQueries = []struct{ name, src string }{
	{"gmail_and_US", "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%@gmail.com' AND country = 'US'"},
	{"in_list", "SELECT contact_id, updated_at FROM contact_data WHERE array_contains(list_ids, ['list07'])"},
	{"number_range_or_name", "SELECT contact_id, updated_at FROM contact_data WHERE score BETWEEN 10 AND 20 OR first_name = 'Name7'"},
	{"opened_last_30_days", "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' AND e.event_timestamp > timestampadd(day, -30, current_timestamp)"},
	{"never_clicked", "SELECT contact_id, updated_at FROM contact_data WHERE contact_id NOT IN (SELECT contact_id FROM event_data WHERE event_type = 'click')"},
}

// buildWorld loads n contacts (and their events when events is true) into
// account 1 of a new engine.
func buildWorld(tb testing.TB, n int, events bool) *Engine {
	e := New()
	now := base
	if err := e.SetFields(1, benchFields, now); err != nil {
		tb.Fatal(err)
	}
	batch := make([]segmentd.Contact, 0, 10000)
	for i := 0; i < n; i++ {
		batch = append(batch, genContact(i, now))
		if len(batch) == cap(batch) || i == n-1 {
			e.PutContacts(1, batch, now)
			batch = batch[:0]
		}
	}
	if events {
		for i := 0; i < n; i++ {
			c := genContact(i, now)
			e.AddEvents(1, c.ID, genEvents(i, now), now)
		}
	}
	return e
}

var (
	worldOnce sync.Once
	world     *Engine
)

// worldContacts is millionWorld's size: 1,000,000, or
// SEGMENTD_BENCH_WORLD_CONTACTS to try a benchmark at a smaller size (its
// figures then are not the ones the targets name).
func worldContacts() int {
	if n, err := strconv.Atoi(os.Getenv("SEGMENTD_BENCH_WORLD_CONTACTS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// millionWorld is 1,000,000 contacts and about 10,000,000 events, built once
// per test binary (worldContacts).
func millionWorld(b *testing.B) *Engine {
	worldOnce.Do(func() {
		start := time.Now()
		world = buildWorld(b, worldContacts(), true)
		st := world.Stats(1)
		b.Logf("world: %d contacts, %d events, built in %v", st.Contacts, st.Events, time.Since(start).Round(time.Millisecond))
	})
	return world
}

// segmentMix returns n segment queries: the reference queries with varied
// constants, as an account's live segments would look.
func segmentMix(n int) []string {
	out := make([]string, n)
	for i := range out {
		switch i % 6 {
		case 0:
			out[i] = fmt.Sprintf("SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%%@%s' AND country = '%s'", benchDomains[i%len(benchDomains)], benchCountries[i%len(benchCountries)])
		case 1:
			out[i] = fmt.Sprintf("SELECT contact_id, updated_at FROM contact_data WHERE array_contains(list_ids, ['list%02d'])", i%benchLists)
		case 2:
			out[i] = fmt.Sprintf("SELECT contact_id, updated_at FROM contact_data WHERE score BETWEEN %d AND %d OR first_name = 'Name%d'", i%50, i%50+10, i)
		case 3:
			out[i] = fmt.Sprintf("SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' AND e.event_timestamp > timestampadd(day, -%d, current_timestamp)", 7+i%60)
		case 4:
			out[i] = fmt.Sprintf("SELECT contact_id, updated_at FROM contact_data WHERE contact_id NOT IN (SELECT contact_id FROM event_data WHERE event_type = '%s' AND singlesend_id = 'ss%d')", benchEventTypes[i%len(benchEventTypes)], i%50)
		case 5:
			out[i] = fmt.Sprintf("SELECT contact_id, updated_at FROM contact_data WHERE plan = 'pro' AND city = 'City%d' OR last_name LIKE 'Last%d%%'", i, i)
		}
	}
	return out
}

// BenchmarkRecheck measures re-checking one contact in an account of
// 100,000 contacts (10 events each on average) with 100 and 200 live
// segments (segmentMix: a third of them engagement queries):
//
//   - all: the contact re-checked against every segment (a new contact):
//     Record materialised, query.MatchAll, bitmaps and wake updated;
//   - write: PutContacts of an existing contact whose country changed,
//     which re-checks only the segments that read what changed.
//
// Targets: about 4 µs for 100 segments, at most 20 µs for 200
// (docs/decisions.md §11).
func BenchmarkRecheck(b *testing.B) {
	for _, nseg := range []int{100, 200} {
		e := buildWorld(b, 100_000, true)
		for i, src := range segmentMix(nseg) {
			if err := e.PutSegment(1, fmt.Sprint("s", i), mustCheck(b, e, 1, query.SQL, src), "", base); err != nil {
				b.Fatal(err)
			}
		}
		b.Run(fmt.Sprintf("all/segments=%d", nseg), func(b *testing.B) {
			a := e.get(1)
			a.mu.Lock()
			defer a.mu.Unlock()
			ms := base.UnixMilli()
			d := delta{all: true}
			for i := 0; b.Loop(); i++ {
				a.touched(uint32(i*37%100_000), ms, &d)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(nseg), "ns/segment")
		})
		b.Run(fmt.Sprintf("write/segments=%d", nseg), func(b *testing.B) {
			cs := make([]segmentd.Contact, 1000)
			for i := range cs {
				cs[i] = genContact(i*37, base)
			}
			for i := 0; b.Loop(); i++ {
				c := &cs[i%len(cs)]
				c.Country = benchCountries[i%len(benchCountries)]
				e.PutContacts(1, cs[i%len(cs):i%len(cs)+1], base)
			}
		})
	}
}

// BenchmarkPutSegment measures creating a segment over 1,000,000 contacts
// (10,000,000 events): a full evaluation, on all cores.
func BenchmarkPutSegment(b *testing.B) {
	e := millionWorld(b)
	for _, q := range referenceQueries {
		b.Run(q.name, func(b *testing.B) {
			ch := mustCheck(b, e, 1, query.SQL, q.src)
			for b.Loop() {
				if err := e.PutSegment(1, "bench-"+q.name, ch, "", base); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(e.Count(1, "bench-"+q.name, base)), "members")
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/segment")
		})
	}
}

// BenchmarkRebuildSegments measures loading 200 segments at once
// (PutSegments: one pass, MatchAll per contact) over 1,000,000 contacts and
// 10,000,000 events: the segment half of rebuilding the engine at start.
// The contact half is in the world's build time, logged with -v.
func BenchmarkRebuildSegments(b *testing.B) {
	e := millionWorld(b)
	var defs []SegmentDef
	for i, src := range segmentMix(200) {
		defs = append(defs, SegmentDef{ID: fmt.Sprint("rebuild", i), Query: mustCheck(b, e, 1, query.SQL, src).Query})
	}
	for b.Loop() {
		for _, err := range e.PutSegments(1, defs, base) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
	for _, d := range defs {
		e.RemoveSegment(1, d.ID)
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/200segments")
}

// BenchmarkCount measures Count and a 50-contact sample of each reference
// segment over 1,000,000 contacts (target: ≤ 5 ms median per count).
func BenchmarkCount(b *testing.B) {
	e := millionWorld(b)
	for _, q := range referenceQueries {
		id := "count-" + q.name
		if err := e.PutSegment(1, id, mustCheck(b, e, 1, query.SQL, q.src), "", base); err != nil {
			b.Fatal(err)
		}
		b.Run(q.name, func(b *testing.B) {
			for b.Loop() {
				e.Count(1, id, base)
			}
		})
		b.Run(q.name+"/sample50", func(b *testing.B) {
			for b.Loop() {
				e.Members(1, id, 50, base)
			}
		})
	}
}

// BenchmarkReads measures the reads the API answers from the engine
// rather than the store (docs/decisions.md §19), on accounts of 100,000
// and 1,000,000 contacts (no events) with 50 live segments (segmentMix),
// to show that their cost does not grow with the account:
//
//   - ContactCount: GET /v3/marketing/contacts/count;
//   - ListCount: a list's contact_count (each list holds about a tenth);
//   - SegmentSample: a segment GET's 50-contact sample, its first members
//     rendered in full with their lists and segments;
//   - SegmentsOf50: the segment_ids of a 50-contact sample read from the
//     store (a list's, the contacts').
//
// The two reads that take microseconds also report their CPU time per
// read, which other work on the machine does not inflate.
func BenchmarkReads(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		e := buildWorld(b, n, false)
		segs := segmentMix(50)
		for i, src := range segs {
			if err := e.PutSegment(1, fmt.Sprintf("s%02d", i), mustCheck(b, e, 1, query.SQL, src), "", base); err != nil {
				b.Fatal(err)
			}
		}
		// A segment holding about half the account, whose first members
		// are spread over the index like any segment's.
		const half = "SELECT contact_id, updated_at FROM contact_data WHERE score < 50"
		if err := e.PutSegment(1, "half", mustCheck(b, e, 1, query.SQL, half), "", base); err != nil {
			b.Fatal(err)
		}
		ids := e.Members(1, "half", 50, base)
		b.Run(fmt.Sprintf("contacts=%d/ContactCount", n), func(b *testing.B) {
			for b.Loop() {
				if e.ContactCount(1) != n {
					b.Fatal("wrong count")
				}
			}
		})
		b.Run(fmt.Sprintf("contacts=%d/ListCount", n), func(b *testing.B) {
			for b.Loop() {
				if e.ListCount(1, "list07") == 0 {
					b.Fatal("empty list")
				}
			}
		})
		b.Run(fmt.Sprintf("contacts=%d/SegmentSample", n), func(b *testing.B) {
			cpu0 := cputime.Process()
			for b.Loop() {
				if cs := e.ContactsByIDs(1, e.Members(1, "half", 50, base), base); len(cs) != 50 {
					b.Fatalf("sample of %d", len(cs))
				}
			}
			b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
		b.Run(fmt.Sprintf("contacts=%d/SegmentsOf50", n), func(b *testing.B) {
			cpu0 := cputime.Process()
			for b.Loop() {
				e.SegmentsOfMany(1, ids, base)
			}
			b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// BenchmarkSearch measures a contacts search (full evaluation, first 50 ids
// and the total) over 1,000,000 contacts.
func BenchmarkSearch(b *testing.B) {
	e := millionWorld(b)
	ch, err := e.Check(1, query.SGQL, "email LIKE '%@gmail.com' AND country = 'US'")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		e.Search(1, ch, 50, base)
	}
}

// BenchmarkMemoryPerContact loads 1,000,000 contacts, without and with
// 10,000,000 events, and reports the heap they hold per contact (measured
// with runtime.MemStats, and as Stats estimates it). Target: ≤ 400 bytes per
// contact (docs/decisions.md §11).
func BenchmarkMemoryPerContact(b *testing.B) {
	for _, events := range []bool{false, true} {
		b.Run(fmt.Sprintf("events=%v", events), func(b *testing.B) {
			for b.Loop() {
				var m0, m1 runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&m0)
				e := buildWorld(b, 1_000_000, events)
				runtime.GC()
				runtime.ReadMemStats(&m1)
				st := e.Stats(1)
				b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/float64(st.Contacts), "heap-bytes/contact")
				b.ReportMetric(st.BytesPerContact, "stats-bytes/contact")
				runtime.KeepAlive(e)
			}
		})
	}
}

// BenchmarkStats measures Stats of an account of 1,000,000 contacts and
// 10,000,000 events: what each scrape of /metrics reads per account
// (docs/operations.md), under the account's read lock.
func BenchmarkStats(b *testing.B) {
	e := buildWorld(b, 1_000_000, true)
	for b.Loop() {
		if st := e.Stats(1); st.Contacts != 1_000_000 {
			b.Fatalf("Stats: %d contacts", st.Contacts)
		}
	}
}

// webhookSegments are the three engagement shapes `segmentd events bench`
// creates, repeated: every one of them reads events.
var webhookSegments = []string{
	"SELECT c.contact_id, c.updated_at FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' AND e.event_timestamp > timestampadd(day, -30, current_timestamp)",
	"SELECT contact_id, updated_at FROM contact_data WHERE contact_id NOT IN (SELECT contact_id FROM event_data WHERE event_type = 'click')",
	"SELECT c.contact_id, c.updated_at, MAX(e.event_timestamp) FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' GROUP BY c.contact_id HAVING MAX(e.event_timestamp) < timestampadd(day, -7, current_timestamp)",
}

// BenchmarkEventBatch measures the engine's part of a webhook batch:
// Membership.AddEvents of 1,000 events, one each for 1,000 contacts, with
// 200 live segments: segmentMix (a third of them read events), and the
// events bench's engagement segments (all of them do), in accounts of
// 100,000 and 1,000,000 contacts (10 events each on average). Event types
// cycle as in `segmentd events bench`. Target: the whole webhook request
// within 50 ms (docs/decisions.md §11).
func BenchmarkEventBatch(b *testing.B) {
	engagement := make([]string, 200)
	for i := range engagement {
		engagement[i] = webhookSegments[i%len(webhookSegments)]
	}
	types := []string{"processed", "delivered", "open", "open", "click", "bounce", "unsubscribe", "deferred"}
	for _, w := range []struct {
		name     string
		contacts int
		history  int // rounds of genEvents per contact: about ten events each
		queries  []string
	}{
		{"mix/contacts=100000", 100_000, 1, segmentMix(200)},
		{"engagement/contacts=100000", 100_000, 1, engagement},
		// The end of a ten-million-event run on 100,000 contacts.
		{"engagement/contacts=100000/history=100", 100_000, 10, engagement},
		{"engagement/contacts=1000000", 1_000_000, 1, engagement},
	} {
		b.Run(w.name, func(b *testing.B) {
			e := buildWorld(b, w.contacts, true)
			for r := 1; r < w.history; r++ {
				for i := 0; i < w.contacts; i++ {
					e.AddEvents(1, genContact(i, base).ID, genEvents(r*w.contacts+i, base), base)
				}
			}
			for i, src := range w.queries {
				if err := e.PutSegment(1, fmt.Sprint("s", i), mustCheck(b, e, 1, query.SQL, src), "", base); err != nil {
					b.Fatal(err)
				}
			}
			ids := make([]string, w.contacts)
			for i := range ids {
				ids[i] = genContact(i, base).ID
			}
			m := Membership{Engine: e}
			evs := make([]segmentd.Event, 1000)
			now := base
			cpu0 := cputime.Process()
			for n := 0; b.Loop(); n++ {
				for j := range evs {
					i := n*len(evs) + j
					evs[j] = segmentd.Event{ContactID: ids[i*7919%len(ids)], Source: "mail", Type: types[i%len(types)],
						Timestamp: now.Add(-time.Duration(i%86400) * time.Second), SinglesendID: "ss-1"}
				}
				// The clock moves between batches, as it does between requests.
				now = now.Add(10 * time.Millisecond)
				m.AddEvents(1, evs, now)
			}
			b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}

// BenchmarkLoadEvents measures a rebuild's events through PrepareEvents
// and EndEvents (no segment yet, as at start): 2,000,000 events, ten a
// contact, in pages of 50,000 in the order they were stored (contacts at
// random), over 200,000 contacts and, for the engine's tables far larger
// than the caches, 1,000,000. prepare-ms is the pages' conversion (the
// store's goroutine in a rebuild), engine-ms their intake and the pack
// (the engine's goroutine, which the events phase waits on), both by the
// clock; cpu-ms the process's CPU over both (the figure to compare on a
// shared machine).
func BenchmarkLoadEvents(b *testing.B) {
	const events, page = 2_000_000, 50_000
	types := []string{"processed", "delivered", "delivered", "open", "open", "click", "bounce", "deferred"}
	for _, contacts := range []int{200_000, 1_000_000} {
		b.Run(fmt.Sprint("contacts=", contacts), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(3, 3))
			ids := make([]string, contacts)
			for i := range ids {
				ids[i] = genContact(i, base).ID
			}
			evs := make([]segmentd.Event, events)
			for i := range evs {
				evs[i] = segmentd.Event{ContactID: ids[rng.IntN(contacts)], Source: "mail", Type: types[rng.IntN(len(types))],
					Timestamp: base.Add(time.Duration(i) * time.Second), SinglesendID: fmt.Sprint("ss", i/40_000),
					MarketingCampaignID: fmt.Sprint("mc", i/100_000)}
				if evs[i].Type == "click" {
					evs[i].URL = fmt.Sprint("https://example.com/", rng.IntN(50))
				}
			}
			var prepare, intake, cpu time.Duration
			var pg []segmentd.Event
			for b.Loop() {
				b.StopTimer()
				e := buildWorld(b, contacts, false)
				runtime.GC()
				b.StartTimer()
				m := Membership{Engine: e}
				for from := 0; from < len(evs); from += page {
					// A page's ids are its own strings, side by side, as
					// the store decodes them.
					b.StopTimer()
					pg = append(pg[:0], evs[from:min(from+page, len(evs))]...)
					for i := range pg {
						pg[i].ContactID = strings.Clone(pg[i].ContactID)
					}
					b.StartTimer()
					cpu0, t0 := cputime.Process(), time.Now()
					add := m.PrepareEvents(1, pg)
					t1 := time.Now()
					add(base)
					prepare, intake = prepare+t1.Sub(t0), intake+time.Since(t1)
					cpu += cputime.Process() - cpu0
				}
				cpu0, t0 := cputime.Process(), time.Now()
				m.EndEvents(1)
				intake += time.Since(t0)
				cpu += cputime.Process() - cpu0
			}
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(prepare.Milliseconds())/float64(b.N), "prepare-ms/op")
			b.ReportMetric(float64(intake.Milliseconds())/float64(b.N), "engine-ms/op")
		})
	}
}
