package postgres

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/cputime"
)

// The benchmarks mirror the SQLite store's (sqlite/bench_test.go,
// sqlite/events_test.go): the same contacts and events, so that
//
//	go test -run '^$' -bench 'UpsertContacts|AddEvents' ./sqlite ./postgres
//
// compares the stores. Each runs on plain PostgreSQL and on Citus.
// cpu-ms/op is this process's CPU; db-cpu-ms/op is that of the database
// server processes serving the store's connections (read from /proc when
// the database runs on this machine; on Citus the coordinator's only, not
// the workers'), which on a busy shared machine compares two versions of
// a statement better than wall time.

// benchBatch is the contacts of one upsert request: SendGrid's maximum.
const benchBatch = segmentd.MaxUpsertContacts

var (
	benchFirst  = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Margaret", "Niklaus"}
	benchLast   = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Hamilton", "Wirth"}
	benchCity   = []string{"London", "New York", "Zurich", "Austin", "Boston", "Paris", "Berlin", "Tokyo", "Lagos", "Lima"}
	benchDomain = []string{"gmail.com", "yahoo.com", "example.com", "outlook.com", "proton.me"}
)

// benchPatches returns contacts n0 … n0+count-1 of a deterministic
// population: an email, three text fields, a Text and a Number custom field.
func benchPatches(n0, count int, text, num string) []segmentd.ContactPatch {
	ps := make([]segmentd.ContactPatch, count)
	for i := range ps {
		n := n0 + i
		email := fmt.Sprintf("user%08d@%s", n, benchDomain[n%len(benchDomain)])
		first, last, city := benchFirst[n%len(benchFirst)], benchLast[(n/7)%len(benchLast)], benchCity[(n/3)%len(benchCity)]
		ps[i] = segmentd.ContactPatch{
			Email: &email, FirstName: &first, LastName: &last, City: &city,
			CustomFields: map[string]*segmentd.Value{
				text: {Type: segmentd.FieldText, Text: benchCity[(n/11)%len(benchCity)]},
				num:  {Type: segmentd.FieldNumber, Number: float64(n % 1000)},
			},
		}
	}
	return ps
}

type benchStore struct {
	s         *Store
	acct      int64
	text, num string
	list      string
}

func newBenchStore(b *testing.B, srv server) *benchStore {
	b.Helper()
	ctx := b.Context()
	s := openFresh(b, srv)
	now := time.Now()
	a, err := s.CreateAccount(ctx, "bench", 0, now)
	if err != nil {
		b.Fatal(err)
	}
	tf, err := s.CreateFieldDefinition(ctx, a.ID, "favourite_city", segmentd.FieldText, 100, now)
	if err != nil {
		b.Fatal(err)
	}
	nf, err := s.CreateFieldDefinition(ctx, a.ID, "score", segmentd.FieldNumber, 100, now)
	if err != nil {
		b.Fatal(err)
	}
	l, err := s.CreateList(ctx, a.ID, "everyone", now)
	if err != nil {
		b.Fatal(err)
	}
	return &benchStore{s: s, acct: a.ID, text: tf.ID, num: nf.ID, list: l.ID}
}

func (bs *benchStore) upsert(b *testing.B, ps []segmentd.ContactPatch) segmentd.UpsertResult {
	res, err := bs.s.UpsertContacts(b.Context(), bs.acct, ps, []string{bs.list}, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	if len(res.Errors) > 0 {
		b.Fatalf("upsert errors: %+v", res.Errors[0])
	}
	return res
}

// dbCPU is the CPU time the server processes of the store's connections
// have used (0 where /proc cannot tell): utime and stime of each, in clock
// ticks of 10 ms.
func dbCPU(s *Store) time.Duration {
	var ticks int64
	s.backends.Range(func(k, _ any) bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", k.(uint32)))
		if err != nil {
			return true
		}
		// The fields after the command's closing parenthesis: utime and
		// stime are the 12th and 13th.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 12 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			ticks += u + st
		}
		return true
	})
	return time.Duration(ticks) * 10 * time.Millisecond
}

// eachServerB runs fn as a sub-benchmark per server.
func eachServerB(b *testing.B, fn func(b *testing.B, srv server)) {
	for _, srv := range servers {
		b.Run(srv.name, func(b *testing.B) {
			srv.dsn(b)
			fn(b, srv)
		})
	}
}

// BenchmarkUpsertContacts measures UpsertContacts with batches of 30,000
// contacts (email, first_name, last_name, city, one Text and one Number
// custom field, one list), the store's share of an ingest through HTTP.
//
//	new:    each batch creates 30,000 contacts; the database grows by that much per op
//	update: each batch updates the same 30,000 existing contacts
//	join:   the same 30,000 stored contacts put on a new list each op, by email alone
//	resync: the same 30,000 stored contacts re-sent by email alone onto the list they are on
func BenchmarkUpsertContacts(b *testing.B) {
	eachServerB(b, func(b *testing.B, srv server) {
		b.Run("new-30k", func(b *testing.B) {
			bs := newBenchStore(b, srv)
			var cpu time.Duration
			db0 := dbCPU(bs.s)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				ps := benchPatches(i*benchBatch, benchBatch, bs.text, bs.num)
				b.StartTimer()
				c0 := cputime.Process()
				if res := bs.upsert(b, ps); res.Created != benchBatch {
					b.Fatalf("created %d, want %d", res.Created, benchBatch)
				}
				cpu += cputime.Process() - c0
			}
			reportRate(b, cpu)
			reportDB(b, dbCPU(bs.s)-db0)
		})
		b.Run("update-30k", func(b *testing.B) {
			bs := newBenchStore(b, srv)
			ps := benchPatches(0, benchBatch, bs.text, bs.num)
			bs.upsert(b, ps)
			var cpu time.Duration
			db0 := dbCPU(bs.s)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c0 := cputime.Process()
				if res := bs.upsert(b, ps); res.Updated != benchBatch {
					b.Fatalf("updated %d, want %d", res.Updated, benchBatch)
				}
				cpu += cputime.Process() - c0
			}
			reportRate(b, cpu)
			reportDB(b, dbCPU(bs.s)-db0)
		})
		b.Run("join-30k", func(b *testing.B) {
			// The same 30,000 stored contacts, re-sent by email alone to
			// put them on another list each op: what a SendGrid client
			// sends for a contact's second and later lists.
			bs := newBenchStore(b, srv)
			bs.upsert(b, benchPatches(0, benchBatch, bs.text, bs.num))
			ps := make([]segmentd.ContactPatch, benchBatch)
			for i, p := range benchPatches(0, benchBatch, bs.text, bs.num) {
				ps[i] = segmentd.ContactPatch{Email: p.Email}
			}
			var cpu time.Duration
			db0 := dbCPU(bs.s)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				l, err := bs.s.CreateList(b.Context(), bs.acct, "join "+strconv.Itoa(i), time.Now())
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				c0 := cputime.Process()
				res, err := bs.s.UpsertContacts(b.Context(), bs.acct, ps, []string{l.ID}, time.Now())
				if err != nil || res.Updated != benchBatch || len(res.Errors) > 0 {
					b.Fatalf("updated %d, errors %v, %v", res.Updated, res.Errors, err)
				}
				cpu += cputime.Process() - c0
			}
			reportRate(b, cpu)
			reportDB(b, dbCPU(bs.s)-db0)
		})
		b.Run("resync-30k", func(b *testing.B) {
			// The same 30,000 stored contacts re-sent by email alone onto
			// the list they are on, each op: a client's daily re-sync. The
			// first re-send, before the timer, is reported apart
			// (first-…-ms): where the store assumes the memberships new,
			// it is the one that meets them held and runs again.
			bs := newBenchStore(b, srv)
			bs.upsert(b, benchPatches(0, benchBatch, bs.text, bs.num))
			// Without statistics the planner may probe by list_members_added,
			// which holds the contact after added_at: a scan of the list's
			// entries per probe, a minute a batch (docs/postgres.md, "Session
			// 17: memberships without probes"). An older database has them.
			if _, err := bs.s.pool.Exec(b.Context(), "ANALYZE list_members"); err != nil {
				b.Fatal(err)
			}
			ps := make([]segmentd.ContactPatch, benchBatch)
			for i, p := range benchPatches(0, benchBatch, bs.text, bs.num) {
				ps[i] = segmentd.ContactPatch{Email: p.Email}
			}
			resync := func() {
				res, err := bs.s.UpsertContacts(b.Context(), bs.acct, ps, []string{bs.list}, time.Now())
				if err != nil || len(res.Joined) != benchBatch || len(res.Errors) > 0 {
					b.Fatalf("joined %d, errors %v, %v", len(res.Joined), res.Errors, err)
				}
			}
			db0, c0 := dbCPU(bs.s), cputime.Process()
			resync()
			firstCPU, firstDB := cputime.Process()-c0, dbCPU(bs.s)-db0
			var cpu time.Duration
			db0 = dbCPU(bs.s)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c0 := cputime.Process()
				resync()
				cpu += cputime.Process() - c0
			}
			reportRate(b, cpu)
			reportDB(b, dbCPU(bs.s)-db0)
			b.ReportMetric(float64(firstCPU.Milliseconds()), "first-cpu-ms")
			if firstDB > 0 {
				b.ReportMetric(float64(firstDB.Milliseconds()), "first-db-cpu-ms")
			}
		})
	})
}

// reportDB reports the database server's CPU milliseconds per op.
func reportDB(b *testing.B, cpu time.Duration) {
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "db-cpu-ms/op")
	}
}

// reportRate reports contacts per second of wall time and the CPU
// milliseconds this process spent per batch.
func reportRate(b *testing.B, cpu time.Duration) {
	b.ReportMetric(float64(b.N*benchBatch)/b.Elapsed().Seconds(), "contacts/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
	}
}

// BenchmarkAddEvents measures AddEvents in 1,000-event batches shaped like
// those of `segmentd events bench`, as the SQLite store's benchmark does:
// an account of 100,000 contacts, each batch naming 1,000 of their emails,
// unique sg_event_ids, timestamps increasing with some jitter. The store is
// warmed with 20,000 events first (SQLite's benchmark warms its in-memory
// id set with 200,000; this store keeps nothing in memory). The store
// grows by 1,000 events per op: compare runs of the same -benchtime.
func BenchmarkAddEvents(b *testing.B) {
	eachServerB(b, func(b *testing.B, srv server) {
		const (
			contacts = 100_000
			batch    = 1000
			warm     = 20
		)
		bs := newBenchStore(b, srv)
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
		db0 := dbCPU(bs.s)
		for b.Loop() {
			b.StopTimer()
			fill()
			b.StartTimer()
			c0 := cputime.Process()
			add()
			cpu += cputime.Process() - c0
		}
		b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
		reportDB(b, dbCPU(bs.s)-db0)
		b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
	})
}

// BenchmarkIngest is one round of an ingest: 30,000 new contacts in one
// upsert, then 10,000 events naming them, as one AddEventBatches call of
// ten 1,000-event batches (a webhook worker's queue). It reports each
// part's rate; sqlite/ingest_bench_test.go is the same on SQLite. The
// store grows by one round per op.
func BenchmarkIngest(b *testing.B) {
	eachServerB(b, func(b *testing.B, srv server) {
		bs := newBenchStore(b, srv)
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
	})
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

// BenchmarkReadAccount measures the engine rebuild's read of one account
// (ReadAccount) without the engine: 100,000 contacts and 500,000 events
// (ten per contact would be the 1M/10M bench's shape; this is half), read
// page by page with callbacks that only count ("whole"), and the contacts
// alone ("contacts"; each must come with its one list). It reports the rows read
// per second of wall time and the CPU of this process and of the
// database's processes the store's connections use (on Citus, the
// coordinator's: the workers' is not seen).
func BenchmarkReadAccount(b *testing.B) {
	eachServerB(b, func(b *testing.B, srv server) {
		const contacts, events = 100_000, 500_000
		bs := newBenchStore(b, srv)
		for n0 := 0; n0 < contacts; n0 += benchBatch {
			bs.upsert(b, benchPatches(n0, min(benchBatch, contacts-n0), bs.text, bs.num))
		}
		ps := benchPatches(0, contacts, bs.text, bs.num)
		for i := range events / ingestEventCount {
			if _, err := bs.s.AddEventBatches(b.Context(), bs.acct, ingestEvents(i, ps)); err != nil {
				b.Fatal(err)
			}
		}
		read := func(b *testing.B, withEvents bool) {
			var cpu time.Duration
			db0 := dbCPU(bs.s)
			rows := 0
			for b.Loop() {
				c0 := cputime.Process()
				nc, ne := 0, 0
				var evs func([]segmentd.Event) error
				if withEvents {
					evs = func(es []segmentd.Event) error {
						ne += len(es)
						return nil
					}
				}
				_, _, err := bs.s.ReadAccount(b.Context(), bs.acct, func(cs []segmentd.Contact) error {
					for i := range cs {
						if len(cs[i].ListIDs) != 1 {
							return fmt.Errorf("contact %s has %d lists, want 1", cs[i].ID, len(cs[i].ListIDs))
						}
					}
					nc += len(cs)
					return nil
				}, evs)
				if err != nil {
					b.Fatal(err)
				}
				if want := map[bool]int{true: events}[withEvents]; nc != contacts || ne != want {
					b.Fatalf("read %d contacts and %d events, want %d and %d", nc, ne, contacts, want)
				}
				rows += nc + ne
				cpu += cputime.Process() - c0
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
			reportDB(b, dbCPU(bs.s)-db0)
		}
		b.Run("whole", func(b *testing.B) { read(b, true) })
		b.Run("contacts", func(b *testing.B) { read(b, false) })
	})
}

// BenchmarkEventIDs measures qInsertEventIDs alone: 1,000 new
// sg_event_ids per op into an account's event_ids that holds a million
// already, the statement and the table an event batch writes its ids with,
// which is how the database enforces the ids' idempotency (docs/postgres.md,
// "Session 20: what the ingest target needs"). "bench" ids are shaped like
// `segmentd bench ingest --realistic`'s (rb-SEED-N, consecutive: each op's
// land side by side in the index); "random" ids are 22 random characters,
// as SendGrid's are, each op's spread over the whole index. db-cpu-ms/op is
// the database's CPU per 1,000 ids.
func BenchmarkEventIDs(b *testing.B) {
	const (
		held  = 1_000_000
		batch = 1000
	)
	shapes := []struct {
		name string
		id   func(i int) string
		sql  string // the held ids, numbered 0 … held-1
	}{
		{"bench", func(i int) string { return "rb-1-" + strconv.Itoa(i) }, `'rb-1-' || i`},
		{"random", func(i int) string {
			sum := sha256.Sum256(binary.BigEndian.AppendUint64(nil, uint64(i)))
			return hex.EncodeToString(sum[:11])
		}, `left(encode(sha256(int8send(i)), 'hex'), 22)`},
	}
	eachServerB(b, func(b *testing.B, srv server) {
		for _, shape := range shapes {
			b.Run(shape.name, func(b *testing.B) {
				ctx := b.Context()
				bs := newBenchStore(b, srv)
				// The account's row of account_changes, which the statement reads.
				if _, err := bs.s.AddEvents(ctx, bs.acct, []segmentd.Event{{Email: "nobody@example.com", Type: "open", Timestamp: time.Now()}}); err != nil {
					b.Fatal(err)
				}
				if _, err := bs.s.db.Exec(ctx, `INSERT INTO event_ids (account_id, sg_event_id) SELECT $1, `+shape.sql+` FROM generate_series(0, $2 - 1) AS g (i)`, bs.acct, held); err != nil {
					b.Fatal(err)
				}
				if _, err := bs.s.db.Exec(ctx, "VACUUM ANALYZE event_ids"); err != nil {
					b.Fatal(err)
				}
				next := held
				ids := make([]string, batch)
				var cpu time.Duration
				db0 := dbCPU(bs.s)
				for b.Loop() {
					b.StopTimer()
					for j := range ids {
						ids[j] = shape.id(next + j)
					}
					next += batch
					b.StartTimer()
					c0 := cputime.Process()
					if _, err := bs.s.db.Exec(ctx, qInsertEventIDs, bs.acct, ids); err != nil {
						b.Fatal(err)
					}
					cpu += cputime.Process() - c0
				}
				b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
				reportDB(b, dbCPU(bs.s)-db0)
			})
		}
	})
}
