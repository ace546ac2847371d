package bench

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/postgres"
	"github.com/segmentd/segmentd/sqlite"
)

// realistic sizes `segmentd bench ingest --realistic`: an account loaded
// the way a SendGrid client has to send it (docs/decisions.md §11).
type realistic struct {
	contacts   int    // contacts, each sent once in full
	fields     int    // custom fields, Text, Number and Date in turn
	lists      int    // lists
	perContact int    // lists each contact is on
	events     int    // Event Webhook events after the contacts
	batch      int    // contacts per upsert request at most
	parallel   int    // requests in flight
	eventBatch int    // events per webhook request
	requests   int    // GETs per read figure
	seed       uint64 // the generator's seed
}

func (r realistic) check() error {
	switch {
	case r.contacts < 1 || r.batch < 1 || r.batch > segmentd.MaxUpsertContacts || r.parallel < 1:
		return errors.New("bench ingest: --contacts, --batch (1..30000) and --parallel must be positive")
	case r.fields < 0 || r.fields > segmentd.MaxCustomFields:
		return fmt.Errorf("bench ingest: --fields must be 0..%d", segmentd.MaxCustomFields)
	case r.lists < 1 || r.lists > 1000:
		return errors.New("bench ingest: --lists must be 1..1000")
	case r.perContact < 1 || r.perContact > r.lists:
		return errors.New("bench ingest: --lists-per-contact must be 1..--lists")
	case r.events < 0 || r.eventBatch < 1 || r.eventBatch > 10_000:
		return errors.New("bench ingest: --events must not be negative, --event-batch must be 1..10000")
	case r.requests < 1:
		return errors.New("bench ingest: --requests must be positive")
	}
	return nil
}

// ingestFigures are what a realistic run measured: the rows of the
// summary table.
type ingestFigures struct {
	records, contacts int
	ingest            time.Duration // first PUT to the last job read completed
	accepted          []time.Duration
	throttled         int // 429 answers, each retried
	events            int
	eventsTook        time.Duration
	eventLat          []time.Duration
	segmentGet        []time.Duration
	contactCount      []time.Duration
	listCount         []time.Duration
	peakRSS           int64
	dataDir           int64 // after shutdown: the directory, and the database's relations on PostgreSQL
	rebuild           time.Duration
	rebuildRead       bool
}

// runRealistic loads the realistic workload through the child's HTTP API,
// measures it and prints the figures, the data directory's size by table
// and index, and the summary table of docs/decisions.md §11.
// r has been checked.
func runRealistic(ctx context.Context, r realistic, dir string, loc storeLoc, stdout io.Writer) error {
	loc.path = filepath.Join(dir, "segmentd.db")
	if _, err := os.Stat(loc.path); err == nil || loc.url != "" {
		if loaded, err := loc.loaded(ctx); err != nil {
			return err
		} else if loaded {
			return fmt.Errorf("bench ingest --realistic: %s already holds an account: give an empty data directory or database", loc)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	child, err := startBenchServer(ctx, dir, io.Discard, loc.args()...) // its request log would only slow it down
	if err != nil {
		return err
	}
	defer child.stop()
	c := child.client()

	g := realisticGen{realistic: r}
	if err := g.define(c); err != nil {
		return err
	}
	// The bodies are made before the clock starts, so that the figure
	// measures the server, not the generator.
	bodies := g.bodies(segmentd.MaxUpsertBytes)
	full := 0
	for _, b := range bodies {
		if b.full {
			full++
		}
	}
	fmt.Fprintf(stdout, "segmentd bench ingest --realistic: %d contacts with %d custom fields, each on %d of %d lists; %d events; seed %d; server pid %d\n",
		r.contacts, r.fields, r.perContact, r.lists, r.events, r.seed, child.pid())
	fmt.Fprintf(stdout, "upserts: %d records in %d requests (%d full, %d membership-only) of at most %d contacts or %.0f MiB, %d in flight\n",
		r.contacts*r.perContact, len(bodies), full, len(bodies)-full, r.batch, mib(segmentd.MaxUpsertBytes), r.parallel)

	var f ingestFigures
	// The server's CPU time over the contacts, which a busy machine
	// inflates far less than the wall clock: for A/B runs there.
	cpu0, cpuErr := processCPU(child.pid())
	if err := g.ingest(ctx, c, bodies, &f); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "contacts: %d records (%d contacts) completed in %s: %.0f records/s, %.0f contacts/s\n",
		f.records, f.contacts, f.ingest.Round(time.Millisecond), perSecond(f.records, f.ingest), perSecond(f.contacts, f.ingest))
	if cpu1, err := processCPU(child.pid()); err == nil && cpuErr == nil {
		fmt.Fprintf(stdout, "server CPU over the contacts: %.1f s, %.0f records per CPU second\n",
			(cpu1 - cpu0).Seconds(), perSecond(f.records, cpu1-cpu0))
	}
	fmt.Fprintf(stdout, "upsert 202: p50 %.1f ms, p99 %.1f ms, max %.1f ms; %d answered 429 (retried)\n",
		ms(pct(f.accepted, 0.50)), ms(pct(f.accepted, 0.99)), ms(pct(f.accepted, 1)), f.throttled)
	if err := g.verify(c); err != nil {
		return err
	}

	cpu0, cpuErr = processCPU(child.pid())
	if err := g.postEvents(ctx, c, &f); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "events: %d in requests of %d, %d in flight, in %s: %.0f events/s; request p50 %.1f ms, p99 %.1f ms\n",
		f.events, r.eventBatch, r.parallel, f.eventsTook.Round(time.Millisecond), perSecond(f.events, f.eventsTook), ms(pct(f.eventLat, 0.50)), ms(pct(f.eventLat, 0.99)))
	if cpu1, err := processCPU(child.pid()); err == nil && cpuErr == nil && f.events > 0 {
		// As over the contacts: for A/B runs on a busy machine.
		fmt.Fprintf(stdout, "server CPU over the events: %.1f s, %.1f ms per 1,000 events\n",
			(cpu1 - cpu0).Seconds(), ms(cpu1-cpu0)*1000/float64(f.events))
	}

	if err := g.reads(c, &f, stdout); err != nil {
		return err
	}
	if f.peakRSS, err = peakRSS(child.pid()); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "server peak RSS: %.0f MiB\n", mib(f.peakRSS))

	t0 := time.Now()
	if err := child.shutdown(10 * time.Minute); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "shutdown (SIGINT; the engine snapshot written): %s\n", time.Since(t0).Round(time.Millisecond))
	if f.dataDir, err = reportSizes(ctx, dir, loc, stdout); err != nil {
		return err
	}

	// A start without a snapshot rebuilds the engine from the store, and
	// logs how long that took.
	if err := os.Remove(filepath.Join(dir, "engine.snap")); err != nil {
		return fmt.Errorf("bench ingest: removing the engine snapshot: %w", err)
	}
	logs, logw := io.Pipe()
	defer logw.Close()
	loaded := make(chan time.Duration, 1)
	go scanLoadedLine(logs, loaded)
	again, err := startBenchServer(ctx, dir, logw, loc.args()...)
	if err != nil {
		return err
	}
	select {
	case f.rebuild = <-loaded:
		f.rebuildRead = true
	case <-time.After(5 * time.Second):
	}
	// The rebuilt server's CPU and peak RSS when its log told the rebuild
	// done: CPU is the figure to compare on a shared machine.
	rebuildCPU, cpuErr := processCPU(again.pid())
	rebuildRSS, rssErr := peakRSS(again.pid())
	again.stop()
	if f.rebuildRead {
		fmt.Fprintf(stdout, "engine rebuild without a snapshot: %s (server log); start to listening %s\n", f.rebuild.Round(time.Millisecond), again.listened.Round(time.Millisecond))
		if cpuErr == nil && rssErr == nil {
			fmt.Fprintf(stdout, "rebuilt server at that point: CPU %.1f s, peak RSS %.0f MiB\n", rebuildCPU.Seconds(), mib(rebuildRSS))
		}
	} else {
		fmt.Fprintln(stdout, "engine rebuild without a snapshot: ? (not found in the server log)")
	}
	f.summary(r, stdout)
	return nil
}

// realisticGen generates the workload. Contact i is a function of the seed
// and i alone, and so is event i.
type realisticGen struct {
	realistic
	fieldIDs []string // by field number; types fieldTypes[k%3]
	listIDs  []string
	day      time.Time // events fall in the 180 days before it
}

var fieldTypes = []segmentd.FieldType{segmentd.FieldText, segmentd.FieldNumber, segmentd.FieldDate}

// define creates the custom fields and the lists through the API.
func (g *realisticGen) define(c *benchClient) error {
	for k := range g.fields {
		t := fieldTypes[k%len(fieldTypes)]
		id, err := c.createField(fmt.Sprintf("f%d_%s", k+1, strings.ToLower(string(t))), string(t))
		if err != nil {
			return err
		}
		g.fieldIDs = append(g.fieldIDs, id)
	}
	for l := range g.lists {
		id, err := c.createList(fmt.Sprintf("list%02d", l))
		if err != nil {
			return err
		}
		g.listIDs = append(g.listIDs, id)
	}
	g.day = time.Now().UTC().Truncate(24 * time.Hour)
	return nil
}

// rng is contact or event i's generator.
func (g *realisticGen) rng(stream, i uint64) *rand.Rand {
	return rand.New(rand.NewPCG(g.seed, splitmix(stream<<56^i)))
}

// splitmix scatters consecutive numbers over 64 bits (SplitMix64's
// finalizer), so that neighbouring contacts' generators start far apart.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

// memberships returns contact i's lists, its first list first: distinct,
// uniform.
func (g *realisticGen) memberships(i int, into []int) []int {
	rng := g.rng(1, uint64(i))
	into = into[:0]
	for len(into) < g.perContact {
		if l := rng.IntN(g.lists); !slices.Contains(into, l) {
			into = append(into, l)
		}
	}
	return into
}

var (
	genCompanies = []string{"Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Tyrell", "Cyberdyne", "Soylent", "Aperture"}
	genPlans     = []string{"free", "starter", "pro", "team", "enterprise"}
)

// appendContact appends contact i's full record: the reserved fields
// segmentd bench segments generates, and every custom field.
func (g *realisticGen) appendContact(b []byte, i int) []byte {
	rng := g.rng(2, uint64(i))
	b = append(b, `{"email":`...)
	b = strconv.AppendQuote(b, genEmail(i))
	b = append(b, `,"first_name":`...)
	b = strconv.AppendQuote(b, genFirst[rng.IntN(len(genFirst))])
	b = append(b, `,"last_name":`...)
	b = strconv.AppendQuote(b, genLast[rng.IntN(len(genLast))])
	b = append(b, `,"city":`...)
	b = strconv.AppendQuote(b, genCities[rng.IntN(len(genCities))])
	if c := genCountries[rng.IntN(len(genCountries))]; c != "" {
		b = append(b, `,"country":`...)
		b = strconv.AppendQuote(b, c)
	}
	b = fmt.Appendf(b, `,"postal_code":"%05d"`, rng.IntN(100_000))
	if len(g.fieldIDs) > 0 {
		b = append(b, `,"custom_fields":{`...)
		for k, id := range g.fieldIDs {
			if k > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, id)
			b = append(b, ':')
			switch fieldTypes[k%len(fieldTypes)] {
			case segmentd.FieldText:
				if k%2 == 0 {
					b = strconv.AppendQuote(b, genPlans[rng.IntN(len(genPlans))])
				} else {
					b = strconv.AppendQuote(b, genCompanies[rng.IntN(len(genCompanies))]+" "+strconv.Itoa(rng.IntN(10_000)))
				}
			case segmentd.FieldNumber:
				b = strconv.AppendInt(b, int64(rng.IntN(1000)), 10)
			case segmentd.FieldDate:
				b = strconv.AppendQuote(b, time.Date(2015, 1, 1+rng.IntN(3650), 0, 0, 0, 0, time.UTC).Format("2006-01-02"))
			}
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

// upsertBody is one PUT /v3/marketing/contacts.
type upsertBody struct {
	body     []byte
	contacts int
	full     bool // full records, else identifiers only
}

// bodies makes the upsert requests as a SendGrid client must, since an
// upsert's list_ids apply to every contact in it: each contact once in full
// with its first list, grouped by that list, then once per other list with
// its email only, grouped by list; each request holds at most g.batch
// contacts and maxBytes bytes.
func (g *realisticGen) bodies(maxBytes int) []upsertBody {
	first := make([][]int, g.lists) // by list: contacts for which it is the first
	other := make([][]int, g.lists) // by list: contacts for which it is another
	var ls []int
	for i := range g.contacts {
		ls = g.memberships(i, ls)
		first[ls[0]] = append(first[ls[0]], i)
		for _, l := range ls[1:] {
			other[l] = append(other[l], i)
		}
	}
	var out []upsertBody
	var rec []byte
	add := func(byList [][]int, full bool) {
		for l, members := range byList {
			head := fmt.Appendf(nil, `{"list_ids":[%q],"contacts":[`, g.listIDs[l])
			b := upsertBody{body: slices.Clone(head), full: full}
			for _, i := range members {
				if full {
					rec = g.appendContact(rec[:0], i)
				} else {
					rec = append(strconv.AppendQuote(append(rec[:0], `{"email":`...), genEmail(i)), '}')
				}
				if b.contacts == g.batch || b.contacts > 0 && len(b.body)+1+len(rec)+2 > maxBytes {
					out = append(out, b.close())
					b = upsertBody{body: slices.Clone(head), full: full}
				}
				if b.contacts > 0 {
					b.body = append(b.body, ',')
				}
				b.body = append(b.body, rec...)
				b.contacts++
			}
			if b.contacts > 0 {
				out = append(out, b.close())
			}
		}
	}
	add(first, true)
	add(other, false)
	return out
}

func (b upsertBody) close() upsertBody {
	b.body = append(b.body, "]}"...)
	return b
}

// ingest sends the bodies, g.parallel in flight (the next PUT goes as soon
// as a 202 answers; a 429 is retried after the time it names), while one
// poller reads every job, in the order they were accepted, until it reads
// completed. The clock stops when the last job does.
func (g *realisticGen) ingest(ctx context.Context, c *benchClient, bodies []upsertBody, f *ingestFigures) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan upsertBody)
	jobs := make(chan string, len(bodies))
	var mu sync.Mutex
	var senders sync.WaitGroup
	begin := time.Now()
	for range g.parallel {
		senders.Add(1)
		go func() {
			defer senders.Done()
			for b := range work {
				id, took, throttled, err := c.upsertRetry(ctx, b.body)
				if err != nil {
					cancel(err)
					return
				}
				mu.Lock()
				f.accepted = append(f.accepted, took)
				f.throttled += throttled
				mu.Unlock()
				jobs <- id
			}
		}()
	}
	polled := make(chan error, 1)
	go func() {
		var requested int
		for id := range jobs {
			n, err := c.waitJobCount(ctx, id, jobStall)
			if err != nil {
				cancel(err)
				polled <- err
				return
			}
			requested += n
		}
		f.ingest = time.Since(begin)
		f.records = requested
		polled <- nil
	}()
send:
	for _, b := range bodies {
		select {
		case work <- b:
		case <-ctx.Done():
			break send
		}
	}
	close(work)
	senders.Wait()
	close(jobs)
	// The first error is the cause: the poller, once a sender failed, only
	// sees the cancellation.
	pollErr := <-polled
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if pollErr != nil {
		return pollErr
	}
	if want := g.contacts * g.perContact; f.records != want {
		return fmt.Errorf("bench ingest: the jobs requested %d records, want %d", f.records, want)
	}
	f.contacts = g.contacts
	return nil
}

// verify checks that the server holds what was sent: every contact, and
// each list's members.
func (g *realisticGen) verify(c *benchClient) error {
	n, err := c.count()
	if err != nil {
		return err
	}
	if n != g.contacts {
		return fmt.Errorf("bench ingest: the server holds %d contacts, want %d", n, g.contacts)
	}
	want := make([]int, g.lists)
	var ls []int
	for i := range g.contacts {
		for _, l := range g.memberships(i, ls) {
			want[l]++
		}
	}
	for l, id := range g.listIDs {
		got, err := c.listCount(id)
		if err != nil {
			return err
		}
		if got != want[l] {
			return fmt.Errorf("bench ingest: list%02d holds %d contacts, want %d", l, got, want[l])
		}
	}
	return nil
}

// postEvents posts g.events events through the Event Webhook, g.eventBatch
// a request, g.parallel in flight; each 200 means the batch is durable and
// in every segment. Event i goes to a contact and falls in the 180 days
// before today, both drawn from the seed and i.
func (g *realisticGen) postEvents(ctx context.Context, c *benchClient, f *ingestFigures) error {
	if g.events == 0 {
		return nil
	}
	// The addresses are made before the clock starts.
	emails := make([]string, g.contacts)
	for i := range emails {
		emails[i] = genEmail(i)
	}
	const span = 180 * 86400
	last := g.day.Unix()
	var next atomic.Int64
	var mu sync.Mutex
	errc := make(chan error, g.parallel)
	var wg sync.WaitGroup
	begin := time.Now()
	for range g.parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, g.eventBatch*200)
			for {
				start := int(next.Add(int64(g.eventBatch))) - g.eventBatch
				if start >= g.events || ctx.Err() != nil {
					return
				}
				buf = append(buf[:0], '[')
				for i := start; i < min(start+g.eventBatch, g.events); i++ {
					if i > start {
						buf = append(buf, ',')
					}
					h := splitmix(g.seed<<32 ^ uint64(i))
					buf = append(buf, `{"email":"`...)
					buf = append(buf, emails[h%uint64(g.contacts)]...)
					buf = append(buf, `","timestamp":`...)
					buf = strconv.AppendInt(buf, last-int64(h>>40)%span, 10)
					buf = append(buf, `,"event":"`...)
					buf = append(buf, genTypes[(h>>24)%uint64(len(genTypes))]...)
					buf = append(buf, `","sg_event_id":"rb-`...)
					buf = strconv.AppendUint(buf, g.seed, 10)
					buf = append(buf, '-')
					buf = strconv.AppendInt(buf, int64(i), 10)
					buf = append(buf, `","sg_message_id":"m`...)
					buf = strconv.AppendInt(buf, int64(i/1000), 10)
					buf = append(buf, `.filter0001.1","category":["bench"],"singlesend_id":"ss-1"}`...)
				}
				buf = append(buf, ']')
				t := time.Now()
				if err := c.do("POST", "/webhooks/sendgrid/events", buf, 200, nil); err != nil {
					errc <- err
					return
				}
				d := time.Since(t)
				mu.Lock()
				f.eventLat = append(f.eventLat, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	f.eventsTook = time.Since(begin)
	select {
	case err := <-errc:
		return err
	default:
	}
	f.events = g.events
	return nil
}

// reads creates a segment and times g.requests GETs of it with its sample,
// of the contact count and of a list's count.
func (g *realisticGen) reads(c *benchClient, f *ingestFigures, stdout io.Writer) error {
	// Contacts on the first list; with a Number field, half of them.
	q := fmt.Sprintf("SELECT contact_id, updated_at FROM contact_data WHERE array_contains(list_ids, ['%s'])", g.listIDs[0])
	if g.fields >= 2 {
		q += " AND f2_number < 500"
	}
	body, _ := json.Marshal(map[string]string{"name": "bench realistic", "query_dsl": q})
	var seg struct {
		ID string `json:"id"`
	}
	if err := c.do("POST", "/v3/marketing/segments/2.0", body, 201, &seg); err != nil {
		return err
	}
	var count int
	var err error
	f.segmentGet, err = timeGets(c, "/v3/marketing/segments/2.0/"+seg.ID, g.requests, func(raw []byte) error {
		var v struct {
			ContactsCount  int               `json:"contacts_count"`
			ContactsSample []json.RawMessage `json:"contacts_sample"`
		}
		if err := json.Unmarshal(raw, &v); err != nil {
			return err
		}
		if want := min(v.ContactsCount, 50); len(v.ContactsSample) != want || v.ContactsCount == 0 {
			return fmt.Errorf("bench ingest: segment of %d contacts with a sample of %d, want %d", v.ContactsCount, len(v.ContactsSample), want)
		}
		count = v.ContactsCount
		return nil
	})
	if err != nil {
		return err
	}
	if f.contactCount, err = timeGets(c, "/v3/marketing/contacts/count", g.requests, nil); err != nil {
		return err
	}
	if f.listCount, err = timeGets(c, "/v3/marketing/lists/"+g.listIDs[0]+"/contacts/count", g.requests, nil); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "segment GET with its sample (%d contacts: %s): p50 %.2f ms, p99 %.2f ms\n", count, q, ms(pct(f.segmentGet, 0.5)), ms(pct(f.segmentGet, 0.99)))
	fmt.Fprintf(stdout, "contacts/count: p50 %.2f ms, p99 %.2f ms; list count: p50 %.2f ms, p99 %.2f ms (%d requests each)\n",
		ms(pct(f.contactCount, 0.5)), ms(pct(f.contactCount, 0.99)), ms(pct(f.listCount, 0.5)), ms(pct(f.listCount, 0.99)), g.requests)
	return nil
}

// timeGets GETs path n times, one at a time, checks each answer when check
// is given, and returns the latencies sorted.
func timeGets(c *benchClient, path string, n int, check func([]byte) error) ([]time.Duration, error) {
	ds := make([]time.Duration, n)
	for i := range ds {
		t0 := time.Now()
		status, _, raw, err := c.send("GET", path, nil)
		ds[i] = time.Since(t0)
		if err == nil && status != 200 {
			err = fmt.Errorf("bench: GET %s: status %d: %s", path, status, raw)
		}
		if err == nil && check != nil {
			err = check(raw)
		}
		if err != nil {
			return nil, err
		}
	}
	slices.Sort(ds)
	return ds, nil
}

// reportSizes prints the data directory's files and the store's tables and
// indexes, and returns the directory's bytes (with the database's on
// PostgreSQL, whose data is not in it).
func reportSizes(ctx context.Context, dir string, loc storeLoc, stdout io.Writer) (int64, error) {
	var files []sizeRow
	var total int64
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		files = append(files, sizeRow{Table: rel, Bytes: fi.Size()})
		total += fi.Size()
		return nil
	})
	if err != nil {
		return 0, err
	}
	var rows []sizeRow
	if loc.url != "" {
		st, err := postgres.Open(ctx, loc.url, postgres.Options{})
		if err != nil {
			return 0, err
		}
		sizes, err := st.Sizes(ctx)
		st.Close()
		if err != nil {
			return 0, err
		}
		for _, s := range sizes {
			rows = append(rows, sizeRow(s))
			total += s.Bytes
		}
	} else {
		st, err := sqlite.Open(ctx, loc.path)
		if err != nil {
			return 0, err
		}
		sizes, err := st.Sizes(ctx)
		st.Close()
		if err != nil {
			return 0, err
		}
		for _, s := range sizes {
			rows = append(rows, sizeRow(s))
		}
	}
	what := "data directory"
	if loc.url != "" {
		what = "PostgreSQL tables and indexes and the data directory"
	}
	fmt.Fprintf(stdout, "%s after shutdown: %.1f MiB\n", what, mib(total))
	slices.SortFunc(files, func(a, b sizeRow) int { return cmp.Compare(b.Bytes, a.Bytes) })
	for _, f := range files {
		fmt.Fprintf(stdout, "  file %-34s %10.1f MiB\n", f.Table, mib(f.Bytes))
	}
	printTableSizes(rows, stdout)
	return total, nil
}

// sizeRow is a table or index of either store (sqlite.TableSize,
// postgres.TableSize) and its bytes.
type sizeRow struct {
	Table string
	Index string
	Bytes int64
}

// printTableSizes prints the tables, largest (with their indexes) first,
// each followed by its own bytes and its indexes'; tables under 1% of the
// whole go into one line.
func printTableSizes(rows []sizeRow, w io.Writer) {
	type table struct {
		name  string
		total int64
		parts []sizeRow
	}
	byName := map[string]*table{}
	var tables []*table
	var all int64
	for _, r := range rows {
		t := byName[r.Table]
		if t == nil {
			t = &table{name: r.Table}
			byName[r.Table] = t
			tables = append(tables, t)
		}
		t.total += r.Bytes
		t.parts = append(t.parts, r)
		all += r.Bytes
	}
	slices.SortStableFunc(tables, func(a, b *table) int { return cmp.Compare(b.total, a.total) })
	fmt.Fprintf(w, "  store: %.1f MiB, by table and index:\n", mib(all))
	var rest int64
	var restN int
	for _, t := range tables {
		if t.total*100 < all {
			rest += t.total
			restN++
			continue
		}
		fmt.Fprintf(w, "    %-36s %10.1f MiB\n", t.name, mib(t.total))
		if len(t.parts) == 1 && t.parts[0].Index == "" {
			continue
		}
		for _, p := range t.parts {
			name := p.Index
			if name == "" {
				name = "(table)"
			}
			fmt.Fprintf(w, "      %-34s %10.1f MiB\n", name, mib(p.Bytes))
		}
	}
	if restN > 0 {
		fmt.Fprintf(w, "    %-36s %10.1f MiB\n", fmt.Sprintf("%d smaller tables", restN), mib(rest))
	}
}

// summary prints the figures as the rows of the targets table
// (docs/decisions.md §11), whose targets are for 1M contacts and 10M events.
func (f *ingestFigures) summary(r realistic, w io.Writer) {
	rebuild := "?"
	if f.rebuildRead {
		rebuild = fmt.Sprintf("%.2f s", f.rebuild.Seconds())
	}
	rows := [][3]string{
		{"contact records through the API until completed", fmt.Sprintf("%s/s (%.1f s)", thousands(perSecond(f.records, f.ingest)), f.ingest.Seconds()), "≥ 100,000/s (≤ 30 s)"},
		{"202 latency under that load, p99", fmt.Sprintf("%.1f ms", ms(pct(f.accepted, 0.99))), "≤ 250 ms"},
		{fmt.Sprintf("events through the Event Webhook, %d in flight", r.parallel), fmt.Sprintf("%s/s", thousands(perSecond(f.events, f.eventsTook))), "≥ 100,000/s"},
		{"segment GET with 50-contact sample, p50", fmt.Sprintf("%.2f ms", ms(pct(f.segmentGet, 0.5))), "≤ 1 ms"},
		{"contacts/count, list count, p50", fmt.Sprintf("%.2f ms, %.2f ms", ms(pct(f.contactCount, 0.5)), ms(pct(f.listCount, 0.5))), "≤ 1 ms"},
		{"data directory after shutdown", fmt.Sprintf("%s MiB", thousands(mib(f.dataDir))), "≤ 1,500 MiB"},
		{"server peak RSS", fmt.Sprintf("%s MiB", thousands(mib(f.peakRSS))), "≤ 1,200 MiB"},
		{"engine rebuild without snapshot", rebuild, "≤ 10 s"},
	}
	fmt.Fprintf(w, "\nsummary (%d contacts, %d events; the targets are for 1,000,000 and 10,000,000):\n", r.contacts, r.events)
	fmt.Fprintf(w, "| %-49s | %-22s | %-20s |\n", "measure", "figure", "target")
	fmt.Fprintf(w, "|%s|%s|%s|\n", strings.Repeat("-", 51), strings.Repeat("-", 24), strings.Repeat("-", 22))
	for _, row := range rows {
		fmt.Fprintf(w, "| %-49s | %-22s | %-20s |\n", row[0], row[1], row[2])
	}
}

// thousands is x rounded, with commas between thousands, as the issue's
// table writes figures.
func thousands(x float64) string {
	s := strconv.FormatInt(int64(math.Round(x)), 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// pct is the p-quantile of sorted durations (p = 1: the largest).
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(p*float64(len(ds))))]
}

func perSecond(n int, d time.Duration) float64 { return float64(n) / max(d.Seconds(), 1e-9) }

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// upsertRetry PUTs an upsert until it is accepted: a 429 (back-pressure) is
// retried after the Retry-After or X-RateLimit-Reset it names. It returns
// the job, the accepted request's latency and how many 429s came first.
func (c *benchClient) upsertRetry(ctx context.Context, body []byte) (string, time.Duration, int, error) {
	for throttled := 0; ; throttled++ {
		t0 := time.Now()
		status, h, raw, err := c.send("PUT", "/v3/marketing/contacts", body)
		took := time.Since(t0)
		if err != nil {
			return "", 0, throttled, err
		}
		switch status {
		case http.StatusAccepted:
			var r struct {
				JobID string `json:"job_id"`
			}
			if err := json.Unmarshal(raw, &r); err != nil || r.JobID == "" {
				return "", 0, throttled, fmt.Errorf("bench: PUT /v3/marketing/contacts: 202 without a job_id: %s", raw)
			}
			return r.JobID, took, throttled, nil
		case http.StatusTooManyRequests:
			select {
			case <-ctx.Done():
				return "", 0, throttled, ctx.Err()
			case <-time.After(retryAfter(h, time.Now())):
			}
		default:
			return "", 0, throttled, fmt.Errorf("bench: PUT /v3/marketing/contacts: status %d, want 202: %s", status, raw)
		}
	}
}

// retryAfter is how long a 429 asks to wait: Retry-After (seconds), else
// until X-RateLimit-Reset (Unix seconds), else 100 ms; at most a minute.
func retryAfter(h http.Header, now time.Time) time.Duration {
	d := 100 * time.Millisecond
	if s, err := strconv.Atoi(h.Get("Retry-After")); err == nil {
		d = time.Duration(s) * time.Second
	} else if s, err := strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err == nil {
		d = time.Unix(s, 0).Sub(now)
	}
	return min(max(d, 10*time.Millisecond), time.Minute)
}

// jobStall is how long the bench waits for the next job to complete
// before it gives up: however long the backlog, a server working through
// it completes a job well within that.
const jobStall = 5 * time.Minute

// waitJobCount polls an upsert job until it reads completed and returns its
// requested_count; a job still not completed after stall is an error.
func (c *benchClient) waitJobCount(ctx context.Context, id string, stall time.Duration) (int, error) {
	deadline := time.Now().Add(stall)
	for {
		var j struct {
			Status  string
			Results struct {
				RequestedCount int `json:"requested_count"`
				ErroredCount   int `json:"errored_count"`
			}
		}
		if err := c.do("GET", "/v3/marketing/contacts/imports/"+id, nil, 200, &j); err != nil {
			return 0, err
		}
		switch j.Status {
		case "completed":
			if j.Results.ErroredCount > 0 {
				return 0, fmt.Errorf("bench: job %s completed with %d errors", id, j.Results.ErroredCount)
			}
			return j.Results.RequestedCount, nil
		case "errored", "failed":
			return 0, fmt.Errorf("bench: job %s %s with %d errors", id, j.Status, j.Results.ErroredCount)
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("bench: job %s still %s after %s (and every job after it)", id, j.Status, stall)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (c *benchClient) listCount(id string) (int, error) {
	var r struct {
		ContactCount int `json:"contact_count"`
	}
	err := c.do("GET", "/v3/marketing/lists/"+id+"/contacts/count", nil, 200, &r)
	return r.ContactCount, err
}
