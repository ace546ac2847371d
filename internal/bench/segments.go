package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/internal/cli"
)

// runSegments implements "segmentd bench segments": it
// generates contacts and events deterministically and loads them straight
// into a store (UpsertContacts in 30,000-contact batches, AddEvents in
// 50,000-event batches), starts this binary as a child server on that data
// directory, and measures the engine rebuild at start, then the five
// reference queries (docs/decisions.md §11) as Segments 2.0 segments created
// through the HTTP API: the median latency of GET /segments/2.0/{id} with
// and without the sample, the server's peak RSS, and (in this process, from
// a second rebuild) the engine's bytes per contact.
func runSegments(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench segments", flag.ContinueOnError)
	fs.SetOutput(stderr)
	nContacts := fs.Int("contacts", 1_000_000, "contacts to generate")
	nEvents := fs.Int("events", 10_000_000, "events to generate")
	requests := fs.Int("requests", 50, "GET requests per segment and mode (the median is reported)")
	seed := fs.Uint64("seed", 1, "generator seed")
	data := fs.String("data", "", "data directory (default: a new temporary directory, removed afterwards); an existing one is reused as loaded")
	databaseURL := fs.String("database-url", "", "a PostgreSQL database (postgres://…) to load and serve instead of the data directory's SQLite file; one that holds an account is reused as loaded")
	stats := fs.Bool("stats", true, "rebuild the engine in this process afterwards to report its bytes per contact, then measure the engine snapshot")
	liveSegments := fs.Int("live-segments", 200, "segments stored for the in-process rebuild and snapshot measures (removed afterwards)")
	changes := fs.Int("snapshot-changes", 10_000, "contacts changed and events added after the snapshot, replayed by the load from it")
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *nContacts < 1 || *nEvents < 0 || *requests < 1 {
		return errors.New("bench segments: --contacts and --requests must be positive, --events not negative")
	}
	dir, cleanup, err := benchDir(*data)
	if err != nil {
		return err
	}
	defer cleanup()
	loc := storeLoc{path: filepath.Join(dir, "segmentd.db"), url: *databaseURL}
	// Events are placed relative to the start of today (UTC), so "the last
	// 30 days" selects the same share of them whenever the bench runs.
	now := time.Now().UTC()
	g := benchGen{seed: *seed, contacts: *nContacts, events: *nEvents, day: now.Truncate(24 * time.Hour)}

	fmt.Fprintf(stdout, "segmentd bench segments: %d contacts, %d events, seed %d, data %s\n", *nContacts, *nEvents, *seed, dir)
	if loaded, err := loc.loaded(ctx); err != nil {
		return err
	} else if loaded {
		fmt.Fprintf(stdout, "load: reusing %s as it is\n", loc)
		if err := g.readLists(ctx, loc); err != nil {
			return err
		}
	} else if err := g.load(ctx, loc, stdout); err != nil {
		return err
	}
	dbBytes, dbWhat, err := loc.size(ctx, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "database size: %.1f MiB (%s)\n", float64(dbBytes)/(1<<20), dbWhat)

	// The server, as a separate process so that its memory is measured alone.
	logs, logw := io.Pipe()
	defer logw.Close()
	loaded := make(chan time.Duration, 1)
	go scanLoadedLine(logs, loaded)
	child, err := startBenchServer(ctx, dir, logw, loc.args()...)
	if err != nil {
		return err
	}
	defer child.stop()
	listened := child.listened
	rebuild := "?"
	select {
	case d := <-loaded:
		rebuild = d.Round(time.Millisecond).String()
	case <-time.After(5 * time.Second):
	}
	fmt.Fprintf(stdout, "engine rebuild at start: %s (server log); start to listening: %s\n", rebuild, listened.Round(time.Millisecond))

	c := child.client()
	var created []string
	defer func() {
		for _, id := range created {
			_ = c.do("DELETE", "/v3/marketing/segments/2.0/"+id, nil, 202, nil)
		}
	}()
	fmt.Fprintf(stdout, "%-22s %9s %12s %14s %12s\n", "segment", "count", "create ms", "count ms p50", "+sample p50")
	for i, q := range g.referenceQueries() {
		var seg struct {
			ID            string `json:"id"`
			ContactsCount int    `json:"contacts_count"`
		}
		// Unique names, and the segments are deleted afterwards, so that a
		// data directory can be benchmarked again.
		body, _ := json.Marshal(map[string]string{"name": fmt.Sprintf("bench %d %s %d", i, q.name, time.Now().UnixNano()), "query_dsl": q.sql})
		t0 := time.Now()
		if err := c.do("POST", "/v3/marketing/segments/2.0", body, 201, &seg); err != nil {
			return err
		}
		create := time.Since(t0)
		countMed, n, err := medianGet(c, "/v3/marketing/segments/2.0/"+seg.ID+"?contacts_sample=false", *requests)
		if err != nil {
			return err
		}
		sampleMed, _, err := medianGet(c, "/v3/marketing/segments/2.0/"+seg.ID, *requests)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%-22s %9d %12.1f %14.3f %12.3f\n", q.name, n, ms(create), ms(countMed), ms(sampleMed))
		created = append(created, seg.ID)
	}
	rss, err := peakRSS(child.pid())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "server peak RSS: %.0f MiB (%.0f bytes per contact)\n", float64(rss)/(1<<20), float64(rss)/float64(*nContacts))
	for _, id := range created {
		if err := c.do("DELETE", "/v3/marketing/segments/2.0/"+id, nil, 202, nil); err != nil {
			return err
		}
	}
	created = nil
	child.stop()

	if *stats {
		return engineStats(ctx, loc, &g, *liveSegments, *changes, stdout)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// scanLoadedLine finds the server's "membership engine loaded" log line and
// sends its duration; the rest of the log is discarded.
func scanLoadedLine(r io.Reader, loaded chan<- time.Duration) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg      string   `json:"msg"`
			Duration *float64 `json:"duration_ms"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "membership engine loaded" && line.Duration != nil {
			loaded <- time.Duration(*line.Duration * float64(time.Millisecond))
			break
		}
	}
	_, _ = io.Copy(io.Discard, r)
}

// medianGet GETs path n times and returns the median latency and the
// segment's contacts_count.
func medianGet(c *benchClient, path string, n int) (time.Duration, int, error) {
	var seg struct {
		ContactsCount int `json:"contacts_count"`
	}
	ds := make([]time.Duration, n)
	for i := range ds {
		t0 := time.Now()
		if err := c.do("GET", path, nil, 200, &seg); err != nil {
			return 0, 0, err
		}
		ds[i] = time.Since(t0)
	}
	slices.Sort(ds)
	return ds[n/2], seg.ContactsCount, nil
}

// engineStats rebuilds the engine from the store in this process, as serve
// does, with nSegs segments stored, and prints its rebuild time and memory
// figures; then it writes the engine snapshot, changes nChanges contacts
// and adds nChanges events in the store, and loads a new engine from the
// snapshot and those changes.
func engineStats(ctx context.Context, loc storeLoc, g *benchGen, nSegs, nChanges int, stdout io.Writer) error {
	st, err := openStore(ctx, loc)
	if err != nil {
		return err
	}
	defer st.Close()
	snap := filepath.Join(filepath.Dir(loc.path), "engine.snap")
	if err := os.Remove(snap); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	defer os.Remove(snap)
	accts, err := st.Accounts(ctx)
	if err != nil || len(accts) == 0 {
		return fmt.Errorf("bench segments: no account (%v)", err)
	}
	acct := accts[0].ID
	var segIDs []string
	defer func() {
		for _, id := range segIDs {
			_ = st.DeleteSegment(context.Background(), acct, id, time.Now())
		}
	}()
	qs := g.referenceQueries()
	for i := range nSegs {
		q := qs[i%len(qs)].sql
		// Variants of the reference queries, so each segment is evaluated.
		if i >= len(qs) {
			col := "created_at"
			if strings.Contains(q, " JOIN ") {
				col = "c.created_at"
			}
			q += fmt.Sprintf(" AND %s > '2000-01-%02d'", col, 1+i%28)
		}
		seg, err := st.CreateSegment(ctx, acct, segmentd.Segment{ID: segmentd.NewID(), Name: fmt.Sprintf("bench live %d %d", i, time.Now().UnixNano()),
			QueryDSL: q, QueryVersion: "2", CreatedAt: time.Now(), UpdatedAt: time.Now()}, nSegs+segmentd.DefaultMaxLiveSegments)
		if err != nil {
			return err
		}
		segIDs = append(segIDs, seg.ID)
	}
	open := func() (*audience.Service, engine.Membership) {
		m := engine.NewMembership()
		return audience.New(st, segmentd.SystemClock{}, slog.New(slog.DiscardHandler),
			audience.Config{Segments: st, Membership: m, Events: st, SnapshotPath: snap}), m
	}
	svc, m := open()
	defer svc.Close()
	runtime.GC()
	var ms0 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	t0 := time.Now()
	if err := svc.LoadMembership(ctx); err != nil {
		return err
	}
	took := time.Since(t0)
	runtime.GC()
	var ms1 runtime.MemStats
	runtime.ReadMemStats(&ms1)
	s := m.Stats(acct)
	fmt.Fprintf(stdout, "engine (in-process full rebuild %s): %d contacts, %d events, %d lists, %d segments, %.0f MiB, %.0f bytes per contact (Go heap grew %.0f bytes per contact)\n",
		took.Round(time.Millisecond), s.Contacts, s.Events, s.Lists, len(s.Segments), float64(s.Bytes)/(1<<20), s.BytesPerContact,
		float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc))/float64(max(s.Contacts, 1)))

	info, _, err := svc.WriteSnapshot(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "snapshot written: %.0f MiB in %s (engine updates blocked %s)\n", float64(info.Bytes)/(1<<20), info.Took.Round(time.Millisecond), info.Blocked.Round(time.Millisecond))

	// Changes the snapshot does not hold: contacts rewritten and new events.
	rng := rand.New(rand.NewPCG(g.seed, 2))
	var patches []segmentd.ContactPatch
	var evs []segmentd.Event
	for range nChanges {
		i := rng.IntN(g.contacts)
		patches = append(patches, segmentd.ContactPatch{Email: ptr(genEmail(i)), Country: ptr(genCountries[rng.IntN(len(genCountries)-1)])})
		evs = append(evs, segmentd.Event{Email: genEmail(rng.IntN(g.contacts)), Type: "click", Timestamp: time.Now().UTC(), SGEventID: fmt.Sprintf("snapbench-%d-%d", time.Now().UnixNano(), len(evs))})
	}
	for len(patches) > 0 {
		n := min(len(patches), segmentd.MaxUpsertContacts)
		if _, err := st.UpsertContacts(ctx, acct, patches[:n], nil, time.Now()); err != nil {
			return err
		}
		patches = patches[n:]
	}
	if _, err := st.AddEvents(ctx, acct, evs); err != nil {
		return err
	}

	svc2, m2 := open()
	defer svc2.Close()
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	t0 = time.Now()
	if err := svc2.LoadMembership(ctx); err != nil {
		return err
	}
	took = time.Since(t0)
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	loaded, ok := svc2.SnapshotLoaded()
	if !ok {
		return errors.New("bench segments: the snapshot was not loaded")
	}
	s2 := m2.Stats(acct)
	fmt.Fprintf(stdout, "engine from the snapshot: %s (replayed %d contacts, %d events), %.0f bytes per contact (Go heap grew %.0f bytes per contact)\n",
		took.Round(time.Millisecond), loaded.Replayed.Contacts, loaded.Replayed.Events, s2.BytesPerContact,
		float64(int64(ms1.HeapAlloc)-int64(ms0.HeapAlloc))/float64(max(s2.Contacts, 1)))
	return nil
}

// benchGen generates the benchmark's contacts and events. Everything but
// the anchor day is a function of the seed and the sizes.
type benchGen struct {
	seed             uint64
	contacts, events int
	day              time.Time
	lists            []string // list ids, once created
}

const benchLists = 20

var (
	genDomains   = []string{"gmail.com", "gmail.com", "gmail.com", "yahoo.com", "yahoo.com", "hotmail.com", "outlook.com", "aol.com", "icloud.com", "proton.me", "example.org", "fastmail.com"}
	genCountries = []string{"US", "US", "US", "US", "GB", "GB", "CA", "DE", "FR", "BR", "IN", "AU", "MX", "JP", "NL", "ES", "IT", "PT", "SE", ""}
	genFirst     = []string{"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica",
		"Thomas", "Sarah", "Carlos", "Ana", "Wei", "Priya", "Olu", "Yuki", "Lena", "Ahmed", "Sofia", "Lucas", "Emma", "Noah", "Ada", "Grace"}
	genLast   = []string{"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez", "Silva", "Chen", "Patel", "Kim", "Müller", "Rossi"}
	genCities = []string{"New York", "London", "Toronto", "Berlin", "Paris", "São Paulo", "Mumbai", "Sydney", "Mexico City", "Tokyo", "Amsterdam", "Madrid", "Rome", "Lisbon", "Stockholm", "Austin"}
	// genTypes weights the event types roughly as a mail program sees them.
	genTypes = []string{"processed", "processed", "processed", "delivered", "delivered", "delivered", "open", "open", "open", "open", "click", "deferred", "bounce", "dropped", "unsubscribe", "spamreport"}
)

// genEmail is contact i's address. Addresses past the contact count
// (events of people not yet contacts) use the same scheme.
func genEmail(i int) string {
	return "user" + strconv.Itoa(i) + "@" + genDomains[(i*7+i/13)%len(genDomains)]
}

// load creates the store at dbPath and fills it.
func (g *benchGen) load(ctx context.Context, loc storeLoc, stdout io.Writer) error {
	st, err := openStore(ctx, loc)
	if err != nil {
		return err
	}
	defer st.Close()
	svc := audience.New(st, segmentd.SystemClock{}, slog.New(slog.DiscardHandler), audience.Config{})
	defer svc.Close()
	acct, err := svc.EnsureDefaultAccount(ctx)
	if err != nil {
		return err
	}
	now := time.Now().UTC()
	score, err := st.CreateFieldDefinition(ctx, acct.ID, "score", segmentd.FieldNumber, segmentd.MaxCustomFields, now)
	if err != nil {
		return err
	}
	for i := range benchLists {
		l, err := st.CreateList(ctx, acct.ID, fmt.Sprintf("list%02d", i), now)
		if err != nil {
			return err
		}
		g.lists = append(g.lists, l.ID)
	}

	t0 := time.Now()
	rng := rand.New(rand.NewPCG(g.seed, 1))
	// 30,000 contacts a batch, the API's limit; smaller runs use at least
	// 20 batches so that every list gets members.
	size := max(1, min(segmentd.MaxUpsertContacts, g.contacts/benchLists))
	batch := make([]segmentd.ContactPatch, 0, size)
	for start, b := 0, 0; start < g.contacts; start, b = start+size, b+1 {
		batch = batch[:0]
		for i := start; i < min(start+size, g.contacts); i++ {
			p := segmentd.ContactPatch{
				Email:     ptr(genEmail(i)),
				FirstName: ptr(genFirst[rng.IntN(len(genFirst))]),
				LastName:  ptr(genLast[rng.IntN(len(genLast))]),
				City:      ptr(genCities[rng.IntN(len(genCities))]),
			}
			if c := genCountries[rng.IntN(len(genCountries))]; c != "" {
				p.Country = ptr(c)
			}
			if rng.IntN(10) < 8 {
				p.CustomFields = map[string]*segmentd.Value{score.ID: {Type: segmentd.FieldNumber, Number: float64(rng.IntN(1000))}}
			}
			batch = append(batch, p)
		}
		// List membership is per request, as with the API: each batch
		// joins two of the lists, so each list holds about a tenth.
		lists := []string{g.lists[b%benchLists], g.lists[(b*7+3)%benchLists]}
		if _, err := st.UpsertContacts(ctx, acct.ID, batch, lists, now); err != nil {
			return err
		}
	}
	took := time.Since(t0)
	fmt.Fprintf(stdout, "load: %d contacts in %s (%.0f/s)\n", g.contacts, took.Round(time.Millisecond), float64(g.contacts)/took.Seconds())

	// Events arrive in time order over the last 180 days, each for a random
	// address; 2%% name no contact.
	t0 = time.Now()
	const evBatch = 50_000
	span := int64(180 * 24 * time.Hour / time.Millisecond)
	first := g.day.UnixMilli() - span
	evs := make([]segmentd.Event, 0, evBatch)
	var unmatched int
	for start := 0; start < g.events; start += evBatch {
		evs = evs[:0]
		for i := start; i < min(start+evBatch, g.events); i++ {
			who := rng.IntN(g.contacts)
			if rng.IntN(50) == 0 {
				who = g.contacts + rng.IntN(g.contacts/10+1)
			}
			ev := segmentd.Event{
				Email:     genEmail(who),
				Type:      genTypes[rng.IntN(len(genTypes))],
				Timestamp: time.UnixMilli(first + span*int64(i)/int64(g.events) + rng.Int64N(60_000)).UTC(),
				SGEventID: fmt.Sprintf("%016x%08x", rng.Uint64(), i),
			}
			switch {
			case rng.IntN(3) == 0:
				ev.SinglesendID = fmt.Sprintf("ss-%04d", rng.IntN(400))
			case rng.IntN(2) == 0:
				ev.AutomationID = fmt.Sprintf("au-%03d", rng.IntN(40))
			}
			if ev.Type == "click" {
				ev.URL = fmt.Sprintf("https://example.com/p/%d", rng.IntN(200))
			}
			evs = append(evs, ev)
		}
		res, err := st.AddEvents(ctx, acct.ID, evs)
		if err != nil {
			return err
		}
		unmatched += res.Unmatched
	}
	took = time.Since(t0)
	fmt.Fprintf(stdout, "load: %d events (%d of no contact) in %s (%.0f/s)\n", g.events, unmatched, took.Round(time.Millisecond), float64(g.events)/max(took.Seconds(), 1e-9))
	return nil
}

func ptr[T any](v T) *T { return &v }

type benchQuery struct{ name, sql string }

// referenceQueries are the five reference queries (docs/decisions.md §11)
// in 2.0 SQL.
func (g *benchGen) referenceQueries() []benchQuery {
	return []benchQuery{
		{"gmail_and_US", "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%@gmail.com' AND country = 'US'"},
		{"in_list", "SELECT contact_id, updated_at FROM contact_data WHERE array_contains(list_ids, ['" + g.listID(7) + "'])"},
		{"number_range_or_name", "SELECT contact_id, updated_at FROM contact_data WHERE score BETWEEN 100 AND 120 OR first_name = 'Yuki'"},
		{"opened_last_30_days", "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id " +
			"WHERE e.event_type = 'open' AND e.event_timestamp > timestampadd(day, -30, current_timestamp)"},
		{"never_clicked", "SELECT contact_id, updated_at FROM contact_data WHERE contact_id NOT IN (SELECT contact_id FROM event_data WHERE event_type = 'click')"},
	}
}

// listID is the id of list i.
func (g *benchGen) listID(i int) string { return g.lists[i%len(g.lists)] }

// readLists reads back the lists of a data directory being reused.
func (g *benchGen) readLists(ctx context.Context, loc storeLoc) error {
	st, err := openStore(ctx, loc)
	if err != nil {
		return err
	}
	defer st.Close()
	accts, err := st.Accounts(ctx)
	if err != nil || len(accts) == 0 {
		return fmt.Errorf("bench segments: reading %s: no account (%v)", loc, err)
	}
	ls, err := st.Lists(ctx, accts[0].ID, "", 1000)
	if err != nil {
		return err
	}
	byName := make(map[string]string)
	for _, l := range ls {
		byName[l.Name] = l.ID
	}
	g.lists = g.lists[:0]
	for i := range benchLists {
		id, ok := byName[fmt.Sprintf("list%02d", i)]
		if !ok {
			return fmt.Errorf("bench segments: %s has no list%02d: not a bench data directory", loc, i)
		}
		g.lists = append(g.lists, id)
	}
	return nil
}
