package bench

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/cli"
)

// Run implements "segmentd bench ingest": it starts this binary as a
// child server on a loopback port with a fresh data directory, upserts
// generated contacts through the HTTP API in 30,000-contact requests, polls
// every job until it reads completed, and prints throughput, the server's
// peak RSS and the database size. The child is a separate process so that
// its memory is measured alone. With --realistic it loads an account as a
// SendGrid client has to send it instead (runRealistic).
func Run(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	const use = "usage: segmentd bench ingest [--contacts N] [--batch N] [--parallel N] [--data DIR] [--database-url URL]\n" +
		"       segmentd bench ingest --realistic [--contacts N] [--fields N] [--lists N] [--lists-per-contact N] [--events N]\n" +
		"                             [--event-batch N] [--requests N] [--seed N] [--batch N] [--parallel N] [--data DIR] [--database-url URL]\n" +
		"       segmentd bench segments [--contacts N] [--events N] [--requests N] [--seed N] [--data DIR] [--database-url URL]\n" +
		"       segmentd bench servers --database-url URL [--writes N]"
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--h", "--help":
			fmt.Fprintln(stdout, use)
			return nil
		}
	}
	if len(args) > 0 && args[0] == "segments" {
		return runSegments(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "servers" {
		return Servers(ctx, args[1:], stdout, stderr)
	}
	if len(args) == 0 || args[0] != "ingest" {
		return errors.New(use)
	}
	fs := flag.NewFlagSet("bench ingest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	total := fs.Int("contacts", 1_000_000, "contacts to upsert")
	batch := fs.Int("batch", segmentd.MaxUpsertContacts, "contacts per request (at most; --realistic also keeps each request within 6 MB)")
	parallel := fs.Int("parallel", 2, "requests in flight (--realistic: upserts, then events)")
	data := fs.String("data", "", "data directory for the child server (default: a new temporary directory, removed afterwards)")
	databaseURL := fs.String("database-url", "", "the child server's PostgreSQL database (postgres://…) instead of SQLite in the data directory")
	var r realistic
	isRealistic := fs.Bool("realistic", false, "load contacts with custom fields and lists as a SendGrid client must send them, then events; measure reads, disk and the engine rebuild (docs/decisions.md §11)")
	fs.IntVar(&r.fields, "fields", 5, "--realistic: custom fields per contact, Text, Number and Date in turn")
	fs.IntVar(&r.lists, "lists", 50, "--realistic: lists")
	fs.IntVar(&r.perContact, "lists-per-contact", 3, "--realistic: lists each contact is on")
	fs.IntVar(&r.events, "events", 10_000_000, "--realistic: Event Webhook events posted after the contacts")
	fs.IntVar(&r.eventBatch, "event-batch", 1000, "--realistic: events per webhook request")
	fs.IntVar(&r.requests, "requests", 300, "--realistic: GETs per read latency (segment, contacts count, list count)")
	fs.Uint64Var(&r.seed, "seed", 1, "--realistic: generator seed")
	if err := cli.ParseFlags(fs, args[1:], stdout); err != nil {
		return err
	}
	if !*isRealistic {
		var only []string
		fs.Visit(func(f *flag.Flag) {
			switch f.Name {
			case "fields", "lists", "lists-per-contact", "events", "event-batch", "requests", "seed":
				only = append(only, "--"+f.Name)
			}
		})
		if len(only) > 0 {
			return fmt.Errorf("bench ingest: %s only with --realistic", strings.Join(only, ", "))
		}
	}
	r.contacts, r.batch, r.parallel = *total, *batch, *parallel
	if *isRealistic {
		if err := r.check(); err != nil {
			return err
		}
	} else if *batch < 1 || *batch > segmentd.MaxUpsertContacts || *total < 1 || *parallel < 1 {
		return errors.New("bench: --contacts, --batch (1..30000) and --parallel must be positive")
	}
	dir, cleanup, err := benchDir(*data)
	if err != nil {
		return err
	}
	defer cleanup()
	if *isRealistic {
		return runRealistic(ctx, r, dir, storeLoc{url: *databaseURL}, stdout)
	}
	loc := storeLoc{url: *databaseURL}
	child, err := startBenchServer(ctx, dir, io.Discard, loc.args()...) // its request log would only slow it down here
	if err != nil {
		return err
	}
	defer child.stop()

	c := child.client()
	var ids struct{ text, number, list string }
	if ids.text, err = c.createField("plan", "Text"); err != nil {
		return err
	}
	if ids.number, err = c.createField("score", "Number"); err != nil {
		return err
	}
	if ids.list, err = c.createList("bench"); err != nil {
		return err
	}

	// Bodies are generated before the clock starts, so the figure measures
	// the server, not the generator.
	var bodies [][]byte
	for start := 0; start < *total; start += *batch {
		n := min(*batch, *total-start)
		bodies = append(bodies, benchBody(start, n, ids.text, ids.number, ids.list))
	}
	fmt.Fprintf(stdout, "segmentd bench ingest: %d contacts in %d requests of up to %d, %d in flight, server pid %d\n", *total, len(bodies), *batch, *parallel, child.pid())

	begin := time.Now()
	work := make(chan []byte)
	errc := make(chan error, *parallel)
	var wg sync.WaitGroup
	var accepted latencies // how long each upsert took to be answered 202
	for i := 0; i < *parallel; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range work {
				start := time.Now()
				job, err := c.upsert(body)
				accepted.add(time.Since(start))
				if err == nil {
					err = c.waitJob(ctx, job)
				}
				if err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	var sendErr error
send:
	for _, b := range bodies {
		select {
		case work <- b:
		case sendErr = <-errc:
			break send
		}
	}
	close(work)
	wg.Wait()
	if sendErr == nil {
		select {
		case sendErr = <-errc:
		default:
		}
	}
	if sendErr != nil {
		return sendErr
	}
	elapsed := time.Since(begin)

	count, err := c.count()
	if err != nil {
		return err
	}
	if count != *total {
		return fmt.Errorf("bench: server holds %d contacts, want %d", count, *total)
	}
	rss, err := peakRSS(child.pid())
	if err != nil {
		return err
	}
	dbBytes, dbWhat, err := loc.size(ctx, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "contacts: %d\nelapsed: %s\nthroughput: %.0f contacts/s\n202 latency: p50 %s, p99 %s\nserver peak RSS: %.0f MiB\ndatabase size: %.1f MiB (%s)\n",
		count, elapsed.Round(time.Millisecond), float64(count)/elapsed.Seconds(), accepted.quantile(0.5), accepted.quantile(0.99), float64(rss)/(1<<20), float64(dbBytes)/(1<<20), dbWhat)
	return nil
}

// benchDir returns the data directory for a bench's child server: dir when
// given, else a new temporary directory that cleanup removes.
func benchDir(dir string) (string, func(), error) {
	if dir != "" {
		return dir, func() {}, nil
	}
	d, err := os.MkdirTemp("", "segmentd-bench-")
	if err != nil {
		return "", nil, err
	}
	return d, func() { os.RemoveAll(d) }, nil
}

// benchServer is this binary started as a child "segmentd serve" on a
// loopback port with a fresh key, so that a bench measures the server's
// time and memory apart from its own.
type benchServer struct {
	cmd      *exec.Cmd
	base     string
	key      string
	listened time.Duration // from start to the "listening on" line
}

// startBenchServer starts the child on dir; its log goes to logs.
func startBenchServer(ctx context.Context, dir string, logs io.Writer, extra ...string) (*benchServer, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	s := &benchServer{key: segmentd.NewAPIKeySecret()}
	s.cmd = exec.CommandContext(ctx, exe, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dir, "--api-key", s.key}, extra...)...)
	s.cmd.Stderr = logs
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	started := time.Now()
	if err := s.cmd.Start(); err != nil {
		return nil, err
	}
	if s.base, err = readListenURL(out); err != nil {
		s.stop()
		return nil, err
	}
	s.listened = time.Since(started)
	go io.Copy(io.Discard, out)
	return s, nil
}

func (s *benchServer) pid() int { return s.cmd.Process.Pid }

func (s *benchServer) client() *benchClient {
	return &benchClient{base: s.base, key: s.key, http: &http.Client{Timeout: 10 * time.Minute}}
}

// stop kills the child and waits for it; calling it again does nothing.
func (s *benchServer) stop() {
	if s.cmd.ProcessState == nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	}
}

// shutdown stops the child as an operator does, with SIGINT: it finishes
// its jobs and writes its engine snapshot. A child still running after
// timeout is killed, and that is an error.
func (s *benchServer) shutdown(timeout time.Duration) error {
	if s.cmd.ProcessState != nil {
		return nil
	}
	if err := s.cmd.Process.Signal(os.Interrupt); err != nil {
		s.stop()
		return fmt.Errorf("bench: interrupting the server: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("bench: the server's shutdown: %w", err)
		}
		return nil
	case <-time.After(timeout):
		_ = s.cmd.Process.Kill()
		<-done
		return fmt.Errorf("bench: the server did not stop within %s of SIGINT; killed", timeout)
	}
}

// readListenURL reads the child's banner up to its "listening on" line.
func readListenURL(r io.Reader) (string, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if u, ok := strings.CutPrefix(sc.Text(), "segmentd listening on "); ok {
			return u, nil
		}
	}
	return "", errors.New("bench: the server exited before it listened")
}

// peakRSS reads a process's peak resident set size (VmHWM) from /proc.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("bench: no VmHWM in /proc status")
}

// processCPU is the user and system CPU time process pid has used so
// far, from /proc/pid/stat, whose times count clock ticks: 100 a second
// (USER_HZ) on every platform Linux runs segmentd on.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: the fields are
	// counted after its closing one. utime and stime are fields 14 and 15.
	rest := b[bytes.LastIndexByte(b, ')')+1:]
	f := strings.Fields(string(rest))
	if len(f) < 13 {
		return 0, errors.New("bench: a short /proc stat line")
	}
	var ticks int64
	for _, v := range f[11:13] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: /proc stat: %w", err)
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / 100), nil
}

var (
	benchFirst   = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Niklaus", "Margaret", "Dennis"}
	benchLast    = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Wirth", "Hamilton", "Ritchie"}
	benchCities  = []string{"Lisbon", "Denver", "Osaka", "Nairobi", "Leeds", "Austin", "Porto", "Lyon", "Quito", "Perth"}
	benchCountry = []string{"PT", "US", "JP", "KE", "GB", "US", "PT", "FR", "EC", "AU"}
	benchDomains = []string{"gmail.com", "yahoo.com", "example.org", "fastmail.com", "outlook.com"}
	benchPlans   = []string{"free", "pro", "team", "enterprise"}
)

// benchBody generates contacts start..start+n deterministically: the same
// arguments always give the same bytes.
func benchBody(start, n int, textField, numberField, list string) []byte {
	var b bytes.Buffer
	b.Grow(n * 260)
	fmt.Fprintf(&b, `{"list_ids":[%q],"contacts":[`, list)
	for i := start; i < start+n; i++ {
		if i > start {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"email":"user%07d@%s","first_name":%q,"last_name":%q,"city":%q,"country":%q,"postal_code":"%05d","custom_fields":{%q:%q,%q:%d}}`,
			i, benchDomains[i%len(benchDomains)], benchFirst[i%len(benchFirst)], benchLast[(i/7)%len(benchLast)],
			benchCities[(i/3)%len(benchCities)], benchCountry[(i/3)%len(benchCountry)], (i*7919)%100000,
			textField, benchPlans[(i/11)%len(benchPlans)], numberField, (i*31)%1000)
	}
	b.WriteString("]}")
	return b.Bytes()
}

type benchClient struct {
	base, key string
	http      *http.Client
}

// do sends a request and decodes the answer into out (when not nil); any
// status but want is an error.
func (c *benchClient) do(method, path string, body []byte, want int, out any) error {
	status, _, raw, err := c.send(method, path, body)
	if err != nil {
		return err
	}
	if status != want {
		return fmt.Errorf("bench: %s %s: status %d, want %d: %s", method, path, status, want, raw)
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

// send sends a request with the key and returns the answer read in full.
func (c *benchClient) send(method, path string, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, nil, fmt.Errorf("bench: %s %s: reading the answer: %w", method, path, err)
	}
	return resp.StatusCode, resp.Header, raw, nil
}

func (c *benchClient) createField(name, typ string) (string, error) {
	var f struct{ ID string }
	err := c.do("POST", "/v3/marketing/field_definitions", []byte(fmt.Sprintf(`{"name":%q,"field_type":%q}`, name, typ)), 200, &f)
	return f.ID, err
}

func (c *benchClient) createList(name string) (string, error) {
	var l struct{ ID string }
	err := c.do("POST", "/v3/marketing/lists", []byte(fmt.Sprintf(`{"name":%q}`, name)), 201, &l)
	return l.ID, err
}

func (c *benchClient) upsert(body []byte) (string, error) {
	var r struct {
		JobID string `json:"job_id"`
	}
	err := c.do("PUT", "/v3/marketing/contacts", body, 202, &r)
	return r.JobID, err
}

func (c *benchClient) waitJob(ctx context.Context, id string) error {
	for {
		var j struct {
			Status  string
			Results struct {
				ErroredCount int `json:"errored_count"`
			}
		}
		if err := c.do("GET", "/v3/marketing/contacts/imports/"+id, nil, 200, &j); err != nil {
			return err
		}
		switch j.Status {
		case "completed":
			return nil
		case "errored", "failed":
			return fmt.Errorf("bench: job %s %s with %d errors", id, j.Status, j.Results.ErroredCount)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func (c *benchClient) count() (int, error) {
	var r struct {
		ContactCount int `json:"contact_count"`
	}
	err := c.do("GET", "/v3/marketing/contacts/count", nil, 200, &r)
	return r.ContactCount, err
}

// latencies collects request durations from several goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// quantile returns the q-quantile (0 < q < 1) of what was added, to the
// tenth of a millisecond.
func (l *latencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	s := slices.Clone(l.d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))].Round(100 * time.Microsecond)
}
