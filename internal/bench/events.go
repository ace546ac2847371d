package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/cli"
)

// Events is `segmentd events bench`: it starts this binary as a
// child server, upserts --contacts contacts, creates --segments engagement
// segments, then posts --events generated Event Webhook events in
// --batch-event requests (--parallel in flight) and prints events per
// second (durable: each 200 means the batch committed), the median and p99
// request latency (the batch reflected in every segment), the server's CPU
// time per batch, its peak RSS and the database size.
//
// With --data naming a directory that already holds a store loaded by
// `segmentd bench segments` (1M contacts and 10M events by default), no
// contacts are added: the events go to the loaded contacts, and the
// segments are deleted afterwards so that the directory can be used again.
func Events(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("events bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	total := fs.Int("events", 1_000_000, "events to post")
	batch := fs.Int("batch", 1000, "events per request")
	parallel := fs.Int("parallel", 4, "requests in flight")
	contacts := fs.Int("contacts", 100_000, "contacts the events are for (a loaded --data directory: its contacts)")
	segments := fs.Int("segments", 10, "engagement segments to keep up to date")
	data := fs.String("data", "", "data directory for the child server (default: a new temporary directory, removed afterwards); one loaded by `segmentd bench segments` is used as loaded")
	databaseURL := fs.String("database-url", "", "the child server's PostgreSQL database (postgres://…) instead of SQLite in the data directory; one loaded by `segmentd bench segments` is used as loaded")
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *total < 1 || *batch < 1 || *batch > 10_000 || *parallel < 1 || *contacts < 1 || *segments < 0 {
		return errors.New("events bench: --events, --batch (1..10000), --parallel and --contacts must be positive")
	}
	dir, cleanup, err := benchDir(*data)
	if err != nil {
		return err
	}
	defer cleanup()
	loc := storeLoc{path: filepath.Join(dir, "segmentd.db"), url: *databaseURL}
	loaded := false
	if _, err := os.Stat(loc.path); err == nil || loc.url != "" {
		if loaded, err = loc.loaded(ctx); err != nil {
			return err
		}
	}
	started := time.Now()
	child, err := startBenchServer(ctx, dir, io.Discard, loc.args()...)
	if err != nil {
		return err
	}
	defer child.stop()
	c := child.client()
	email := func(u int) string { return fmt.Sprintf("user%07d@%s", u, benchDomains[u%len(benchDomains)]) }
	if loaded {
		if *contacts, err = c.count(); err != nil {
			return err
		}
		email = genEmail
		fmt.Fprintf(stdout, "data %s: %d contacts as loaded; server up in %s\n", dir, *contacts, time.Since(started).Round(time.Millisecond))
	} else if err := benchContacts(ctx, c, *contacts); err != nil {
		return err
	}
	queries := []string{
		"SELECT c.contact_id, c.updated_at FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' AND e.event_timestamp > timestampadd(day, -30, current_timestamp)",
		"SELECT contact_id, updated_at FROM contact_data WHERE contact_id NOT IN (SELECT contact_id FROM event_data WHERE event_type = 'click')",
		"SELECT c.contact_id, c.updated_at, MAX(e.event_timestamp) FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' GROUP BY c.contact_id HAVING MAX(e.event_timestamp) < timestampadd(day, -7, current_timestamp)",
	}
	var created []string
	defer func() {
		for _, id := range created {
			_ = c.do("DELETE", "/v3/marketing/segments/2.0/"+id, nil, 202, nil)
		}
	}()
	t0 := time.Now()
	for i := 0; i < *segments; i++ {
		q := queries[i%len(queries)] // the same shapes again, under distinct names
		body := fmt.Sprintf(`{"name":"engagement %d %d","query_dsl":%q}`, i, t0.UnixNano(), q)
		var seg struct{ ID string }
		if err := c.do("POST", "/v3/marketing/segments/2.0", []byte(body), 201, &seg); err != nil {
			return err
		}
		created = append(created, seg.ID)
	}
	fmt.Fprintf(stdout, "segmentd events bench: %d events in requests of %d, %d in flight, %d contacts, %d segments (created in %s), server pid %d\n",
		*total, *batch, *parallel, *contacts, *segments, time.Since(t0).Round(time.Millisecond), child.pid())

	// The contacts' emails are made before the clock starts, so that the
	// figures measure the server more than this generator.
	emails := make([]string, *contacts)
	for u := range emails {
		emails[u] = email(u)
	}
	// Ids unique to this run, so that a data directory can be used again.
	runID := fmt.Sprintf("bench-%x-", time.Now().UnixNano())
	types := []string{"processed", "delivered", "open", "open", "click", "bounce", "unsubscribe", "deferred"}
	now := time.Now().Unix()
	var next atomic.Int64
	var lat []time.Duration
	var latMu sync.Mutex
	errc := make(chan error, *parallel)
	var wg sync.WaitGroup
	cpu0, err := procCPU(child.pid())
	if err != nil {
		return err
	}
	self0, err := procCPU(os.Getpid())
	if err != nil {
		return err
	}
	begin := time.Now()
	for w := 0; w < *parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 0, *batch*200)
			for {
				start := int(next.Add(int64(*batch))) - *batch
				if start >= *total || ctx.Err() != nil {
					return
				}
				n := min(*batch, *total-start)
				buf = append(buf[:0], '[')
				for i := start; i < start+n; i++ {
					if i > start {
						buf = append(buf, ',')
					}
					buf = append(buf, `{"email":"`...)
					buf = append(buf, emails[(i*7919)%*contacts]...)
					buf = append(buf, `","timestamp":`...)
					buf = strconv.AppendInt(buf, now-int64(i%(60*86400)), 10)
					buf = append(buf, `,"event":"`...)
					buf = append(buf, types[i%len(types)]...)
					buf = append(buf, `","sg_event_id":"`...)
					buf = append(buf, runID...)
					buf = strconv.AppendInt(buf, int64(i), 10)
					buf = append(buf, `","sg_message_id":"m.filter0001.1","category":["bench"],"singlesend_id":"ss-1"}`...)
				}
				buf = append(buf, ']')
				t := time.Now()
				if err := c.do("POST", "/webhooks/sendgrid/events", buf, 200, nil); err != nil {
					errc <- err
					return
				}
				d := time.Since(t)
				latMu.Lock()
				lat = append(lat, d)
				latMu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(begin)
	cpu1, err := procCPU(child.pid())
	if err != nil {
		return err
	}
	self1, err := procCPU(os.Getpid())
	if err != nil {
		return err
	}
	select {
	case err := <-errc:
		return err
	default:
	}
	slices.Sort(lat)
	rss, err := peakRSS(child.pid())
	if err != nil {
		return err
	}
	dbBytes, dbWhat, err := loc.size(ctx, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "events: %d\nelapsed: %s\nthroughput: %.0f events/s (durable)\nrequest latency: median %s, p99 %s\n"+
		"server CPU: %.1f ms per 1,000 events (client: %.1f ms)\nserver peak RSS: %.0f MiB\ndatabase size: %.1f MiB (%s)\n",
		*total, elapsed.Round(time.Millisecond), float64(*total)/elapsed.Seconds(),
		lat[len(lat)/2].Round(10*time.Microsecond), lat[len(lat)*99/100].Round(10*time.Microsecond),
		float64(cpu1-cpu0)/float64(time.Millisecond)/float64(*total)*1000, float64(self1-self0)/float64(time.Millisecond)/float64(*total)*1000,
		float64(rss)/(1<<20), float64(dbBytes)/(1<<20), dbWhat)
	return nil
}

// benchContacts upserts n generated contacts (benchBody) and waits for them.
func benchContacts(ctx context.Context, c *benchClient, n int) error {
	text, err := c.createField("plan", "Text")
	if err != nil {
		return err
	}
	number, err := c.createField("score", "Number")
	if err != nil {
		return err
	}
	list, err := c.createList("bench")
	if err != nil {
		return err
	}
	for start := 0; start < n; start += segmentd.MaxUpsertContacts {
		job, err := c.upsert(benchBody(start, min(segmentd.MaxUpsertContacts, n-start), text, number, list))
		if err == nil {
			err = c.waitJob(ctx, job)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// procCPU reads a process's user and system CPU time from /proc (in the
// kernel's clock ticks, 100 a second on Linux).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("bench: short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}
