package main

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sendgrid/rest"
	"github.com/sendgrid/sendgrid-go"

	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/facetest"
)

// server is a segmentd started by a test, in-process through run or as a
// real child process.
type liveServer struct {
	url   string
	key   string // the generated key, when the banner printed one; startBinary's given key
	hint  string // the banner's hint of how to get a key, when it printed none
	data  string // the banner's data line: where the store is
	pprof string // the profiler's URL, when the banner named one (--pprof)
	log   string // the file the server logs to (startBinaryEnv)
}

// readBanner reads the startup lines: the listen line, the key line (first
// start only) and, last, the data line.
func readBanner(t testing.TB, r *bufio.Reader) liveServer {
	t.Helper()
	var s liveServer
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("reading banner: %v (got %+v)", err, s)
		}
		line = strings.TrimSpace(line)
		if u, ok := strings.CutPrefix(line, "segmentd listening on "); ok {
			s.url = u
		}
		if k, ok := strings.CutPrefix(line, "API key (shown once; it is stored hashed): "); ok {
			s.key = k
		}
		if u, ok := strings.CutPrefix(line, "profiler on "); ok {
			s.pprof = u
		}
		if strings.HasPrefix(line, "API keys are stored hashed") {
			s.hint = line
		}
		if d, ok := strings.CutPrefix(line, "data: "); ok {
			s.data = d
			if s.url == "" {
				t.Fatalf("banner has no listen line before %q", line)
			}
			return s
		}
	}
}

// startInProcess runs the serve command through run on a loopback port and
// returns once it listens; the server stops when the test ends.
func startInProcess(t testing.TB, args []string, env []string) (liveServer, func() error) {
	t.Helper()
	return startInProcessLogging(t, args, env, io.Discard)
}

// startInProcessLogging is startInProcess with the server's log written to
// stderr, which must be safe for concurrent use.
func startInProcessLogging(t testing.TB, args []string, env []string, stderr io.Writer) (liveServer, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := run(ctx, args, env, strings.NewReader(""), pw, stderr)
		pw.CloseWithError(fmt.Errorf("run returned: %v", err))
		errc <- err
	}()
	br := bufio.NewReader(pr)
	s := readBanner(t, br)
	go io.Copy(io.Discard, br)
	var once sync.Once
	var stopErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-errc:
			case <-time.After(30 * time.Second):
				stopErr = fmt.Errorf("server did not stop within 30s")
			}
		})
		return stopErr
	}
	t.Cleanup(func() { _ = stop() })
	return s, stop
}

// call calls the SendGrid face of s through sendgrid-go.
func call(t testing.TB, s liveServer, key, method, path, body string) (int, string) {
	t.Helper()
	req := sendgrid.GetRequest(key, path, s.url)
	req.Method = rest.Method(method)
	req.Body = []byte(body)
	resp, err := sendgrid.MakeRequest(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp.StatusCode, resp.Body
}

// mustCall calls the SendGrid face of s, fails the test unless the status
// is want, and decodes a JSON body.
func mustCall(t testing.TB, s liveServer, key, method, path, body string, want int) map[string]any {
	t.Helper()
	code, out := call(t, s, key, method, path, body)
	if code != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, code, out, want)
	}
	var m map[string]any
	if out != "" {
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("%s %s: %v: %s", method, path, err, out)
		}
	}
	return m
}

// TestServeFirstStartPrintsKeyOnce: the first start generates a key and
// prints it once; the banner names the store (the SQLite file, or the
// database URL without its password, with only the snapshot and the lock in
// --data); a restart prints no key but says how to make one, and accepts
// the first one.
func TestServeFirstStartPrintsKeyOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		dir := st.dir
		args := []string{"serve", "--addr", "127.0.0.1:0", "--data", dir}
		var db *url.URL
		if st.url != "" {
			// A password for the banner to remove: the test servers trust
			// local connections (.ci/services), so one the URL lacks is
			// never asked for.
			var err error
			if db, err = url.Parse(st.url); err != nil {
				t.Fatal(err)
			}
			if _, has := db.User.Password(); !has {
				db.User = url.UserPassword(db.User.Username(), "s3cret-first-start")
			}
			args = append(args, "--database-url", db.String())
		}
		s, stop := startInProcess(t, args, nil)
		if !strings.HasPrefix(s.key, "SG.") || s.hint != "" {
			t.Fatalf("first start printed no generated key (got %q), or a hint (%q)", s.key, s.hint)
		}
		resp, err := http.Get(s.url + "/healthz")
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET /healthz = %v, %v", resp, err)
		}
		if code, body := call(t, s, s.key, "GET", "/v3/marketing/contacts/count", ""); code != 200 {
			t.Fatalf("generated key rejected: %d %s", code, body)
		}
		if code, _ := call(t, s, "SG.wrong", "GET", "/v3/marketing/contacts/count", ""); code != 401 {
			t.Fatalf("unknown key: status %d, want 401", code)
		}
		if err := stop(); err != nil {
			t.Fatalf("graceful stop: %v", err)
		}
		// Where the store is, as the banner and the hint name it.
		storeFlag := "--data " + dir
		if db == nil {
			file, err := filepath.Abs(filepath.Join(dir, "segmentd.db"))
			if err != nil {
				t.Fatal(err)
			}
			if s.data != file {
				t.Fatalf("data line %q, want the SQLite file %q", s.data, file)
			}
			if _, err := os.Stat(file); err != nil {
				t.Fatalf("no database file in the data directory: %v", err)
			}
		} else {
			pass, _ := db.User.Password()
			want := *db
			want.User = url.UserPassword(db.User.Username(), "xxxxx")
			if s.data != want.String() || (pass != "" && strings.Contains(s.data, pass)) {
				t.Fatalf("data line %q, want the database URL without its password, %q", s.data, want.String())
			}
			storeFlag = "--database-url '" + s.data + "'"
			entries, err := os.ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if strings.Join(names, " ") != "clock engine.snap jobs-owner segmentd.lock" {
				t.Fatalf("--data holds %v after a graceful stop; want only the clock's note, the engine snapshot, the name of this run for its jobs' leases and the lock", names)
			}
		}

		s2, _ := startInProcess(t, args, nil)
		if s2.key != "" {
			t.Fatalf("second start printed a key again: %q", s2.key)
		}
		// Nor does it leave the user without one: it says how to make one.
		if want := "create one with: segmentd keys create " + storeFlag; !strings.HasSuffix(s2.hint, want) {
			t.Fatalf("second start's hint = %q, want it to say %q", s2.hint, want)
		}
		if code, body := call(t, s2, s.key, "GET", "/v3/marketing/contacts/count", ""); code != 200 {
			t.Fatalf("key from the first start rejected after restart: %d %s", code, body)
		}
	})
}

func TestConfigFlagsAndEnvironment(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		env      []string
		wantAddr string
		wantData string
		// wantBacklog is --job-backlog (0: its default).
		wantBacklog int
		// wantLease is --job-lease (0: its default).
		wantLease time.Duration
		wantErr   string
	}{
		{name: "defaults", wantAddr: "127.0.0.1:8080", wantData: "./segmentd-data"},
		{name: "env", env: []string{"SEGMENTD_ADDR=127.0.0.1:9", "SEGMENTD_DATA=/tmp/x"}, wantAddr: "127.0.0.1:9", wantData: "/tmp/x"},
		{name: "flag wins over env", args: []string{"--addr", "127.0.0.1:7"}, env: []string{"SEGMENTD_ADDR=127.0.0.1:9"}, wantAddr: "127.0.0.1:7", wantData: "./segmentd-data"},
		{name: "bad refresh", args: []string{"--refresh", "hourly"}, wantErr: "--refresh must be realtime or scheduled"},
		{name: "bad retention", args: []string{"--event-retention-days", "0"}, wantErr: "--event-retention-days must be a whole number of days"},
		{name: "bad retention env", env: []string{"SEGMENTD_EVENT_RETENTION_DAYS=soon"}, wantErr: `not "soon"`},
		{name: "stray argument", args: []string{"extra"}, wantErr: `unexpected argument "extra"`},
		{name: "job backlog", args: []string{"--job-backlog", "5000"}, wantAddr: "127.0.0.1:8080", wantData: "./segmentd-data", wantBacklog: 5000},
		{name: "job backlog env", env: []string{"SEGMENTD_JOB_BACKLOG=70"}, wantAddr: "127.0.0.1:8080", wantData: "./segmentd-data", wantBacklog: 70},
		{name: "bad job backlog", args: []string{"--job-backlog", "0"}, wantErr: `--job-backlog must be a whole number, at least 1, not "0"`},
		{name: "bad job backlog env", env: []string{"SEGMENTD_JOB_BACKLOG=lots"}, wantErr: `--job-backlog must be a whole number, at least 1, not "lots"`},
		{name: "job lease", args: []string{"--job-lease", "5s"}, wantAddr: "127.0.0.1:8080", wantData: "./segmentd-data", wantLease: 5 * time.Second},
		{name: "job lease env", env: []string{"SEGMENTD_JOB_LEASE=2m"}, wantAddr: "127.0.0.1:8080", wantData: "./segmentd-data", wantLease: 2 * time.Minute},
		{name: "job lease too short", args: []string{"--job-lease", "500ms"}, wantErr: `--job-lease must be a Go duration between 1s and 10m, not "500ms"`},
		{name: "job lease too long", args: []string{"--job-lease", "11m"}, wantErr: `--job-lease must be a Go duration between 1s and 10m, not "11m"`},
		{name: "bad job lease env", env: []string{"SEGMENTD_JOB_LEASE=soon"}, wantErr: `--job-lease must be a Go duration between 1s and 10m, not "soon"`},
		{name: "dev clock", args: []string{"--dev", "--dev-clock", "2025-06-01T12:00:00Z"}, wantAddr: "127.0.0.1:8080", wantData: "./segmentd-data"},
		{name: "dev clock env", env: []string{"SEGMENTD_DEV=1", "SEGMENTD_DEV_CLOCK=2025-06-01T12:00:00.5+02:00"}, wantAddr: "127.0.0.1:8080", wantData: "./segmentd-data"},
		{name: "dev clock without dev", args: []string{"--dev-clock", "2025-06-01T12:00:00Z"}, wantErr: "--dev-clock needs --dev"},
		{name: "bad dev clock", args: []string{"--dev", "--dev-clock", "yesterday"}, wantErr: `--dev-clock must be an RFC 3339 time such as 2025-06-01T12:00:00Z, not "yesterday"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := parseConfig("serve", tt.args, tt.env, io.Discard, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.addr != tt.wantAddr || cfg.data != tt.wantData {
				t.Errorf("addr, data = %q, %q; want %q, %q", cfg.addr, cfg.data, tt.wantAddr, tt.wantData)
			}
			if want := cmp.Or(tt.wantBacklog, audience.DefaultMaxBacklog); cfg.jobBacklog != want {
				t.Errorf("job backlog = %d, want %d", cfg.jobBacklog, want)
			}
			if want := cmp.Or(tt.wantLease, audience.DefaultJobLease); cfg.jobLease != want {
				t.Errorf("job lease = %v, want %v", cfg.jobLease, want)
			}
		})
	}
}

// TestDatabaseUnreachableAtStart: a PostgreSQL server that cannot be
// reached is tried again for --database-wait, then the start fails naming
// the URL without its password; a URL of another scheme is refused at once.
func TestDatabaseUnreachableAtStart(t *testing.T) {
	var stderr bytes.Buffer
	start := time.Now()
	err := run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(),
		"--database-url", "postgres://ada:s3cret@127.0.0.1:1/segmentd?sslmode=disable", "--database-wait", "400ms"}, nil, nil, io.Discard, &stderr)
	if err == nil || !strings.Contains(err.Error(), "postgres://ada:xxxxx@127.0.0.1:1/segmentd") || strings.Contains(err.Error()+stderr.String(), "s3cret") {
		t.Fatalf("err = %v\nstderr:\n%s", err, &stderr)
	}
	if took := time.Since(start); took < 400*time.Millisecond || !strings.Contains(stderr.String(), "trying again") {
		t.Fatalf("gave up after %v without trying again:\n%s", took, &stderr)
	}
	err = run(context.Background(), []string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--database-url", "mysql://x"}, nil, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "must be a postgres:// or postgresql:// URL") {
		t.Fatalf("a mysql URL: err = %v", err)
	}
}

// TestAccountsAndKeysCommands creates a subuser and keys with the CLI and
// uses them against a running server: a read-only key cannot write, and
// on-behalf-of reaches the subuser's (separate) data.
func TestAccountsAndKeysCommands(t *testing.T) {
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		dir := st.dir
		cli := func(args ...string) string {
			t.Helper()
			var out strings.Builder
			if err := run(context.Background(), append(append(args, "--data", dir), st.args()...), nil, nil, &out, io.Discard); err != nil {
				t.Fatalf("segmentd %s: %v", strings.Join(args, " "), err)
			}
			return out.String()
		}
		lastLine := func(s string) string {
			lines := strings.Split(strings.TrimSpace(s), "\n")
			return lines[len(lines)-1]
		}
		if out := cli("accounts", "create", "acme-eu", "--parent", "default"); !strings.Contains(out, `subuser of default "acme-eu"`) {
			t.Fatalf("accounts create: %q", out)
		}
		parentKey := lastLine(cli("keys", "create", "--account", "default"))
		readKey := lastLine(cli("keys", "create", "--account", "default", "--scopes", "sendgrid.read"))
		if err := run(context.Background(), append([]string{"keys", "create", "--scopes", "nope", "--data", dir}, st.args()...), nil, nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), `unknown scope "nope"`) {
			t.Fatalf("bad scope: err = %v", err)
		}

		s, _ := startInProcess(t, append([]string{"--addr", "127.0.0.1:0", "--data", dir}, st.args()...), nil)
		if s.key != "" {
			t.Fatalf("a key was generated although keys exist")
		}
		if code, body := call(t, s, readKey, "POST", "/v3/marketing/lists", `{"name":"x"}`); code != 403 {
			t.Fatalf("read-only key writing: %d %s, want 403", code, body)
		}
		if code, body := call(t, s, readKey, "GET", "/v3/marketing/lists", ""); code != 200 {
			t.Fatalf("read-only key reading: %d %s", code, body)
		}
		if code, body := call(t, s, parentKey, "POST", "/v3/marketing/lists", `{"name":"parent list"}`); code != 201 {
			t.Fatalf("create list: %d %s", code, body)
		}
		sub := sendgrid.GetRequestSubuser(parentKey, "/v3/marketing/lists", s.url, "acme-eu")
		resp, err := sendgrid.MakeRequest(sub)
		if err != nil || resp.StatusCode != 200 || strings.Contains(resp.Body, "parent list") {
			t.Fatalf("subuser lists: %v %+v", err, resp)
		}
		other := sendgrid.GetRequestSubuser(parentKey, "/v3/marketing/lists", s.url, "not-a-subuser")
		resp, err = sendgrid.MakeRequest(other)
		if err != nil || resp.StatusCode != 403 {
			t.Fatalf("on-behalf-of a stranger: %v %+v, want 403", err, resp)
		}
	})
}

// buildBinary compiles segmentd once per test binary run.
// realBinary returns the path of segmentd built once for the test run; a
// test that drives the real binary is skipped with -short.
func realBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	bin, err := buildOnce()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// builtDir is the directory of the binary buildOnce built, removed when
// the tests end (TestMain).
var builtDir string

func removeBuiltBinary() {
	if builtDir != "" {
		os.RemoveAll(builtDir)
	}
}

var buildOnce = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "segmentd-bin-")
	if err != nil {
		return "", err
	}
	builtDir = dir
	bin := filepath.Join(dir, "segmentd")
	// Built as the container's image builds it (the Containerfile's
	// flags), so that the binary the tests drive is the one it packs.
	env, args, err := containerBuild()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", append([]string{"build"}, withOutput(args, bin)...)...)
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// startBinary starts the real binary serving dir with key (and any extra
// serve flags), the key of the server it returns; it is killed when the
// test ends.
func startBinary(t *testing.T, bin, dir, key string, extra ...string) (liveServer, *exec.Cmd) {
	t.Helper()
	return startBinaryEnv(t, bin, dir, key, nil, extra...)
}

// startBinaryEnv is startBinary with env ("NAME=value") added to the
// test's environment.
func startBinaryEnv(t *testing.T, bin, dir, key string, env []string, extra ...string) (liveServer, *exec.Cmd) {
	t.Helper()
	args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dir, "--api-key", key}, extra...)
	cmd := exec.Command(bin, args...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	// The server's log goes to a file of the test's, whose tail a failed
	// test prints.
	logf, err := os.CreateTemp(t.TempDir(), "server-*.log")
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		logf.Close()
		if t.Failed() {
			printLogTail(t, logf.Name())
		}
	})
	br := bufio.NewReader(out)
	s := readBanner(t, br)
	s.key, s.log = key, logf.Name()
	go io.Copy(io.Discard, br)
	return s, cmd
}

// printLogTail logs the last lines of a server's log.
func printLogTail(t *testing.T, name string) {
	b, err := os.ReadFile(name)
	if err != nil || len(b) == 0 {
		return
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	lines = lines[max(0, len(lines)-40):]
	t.Logf("the last lines of the server's log %s:\n%s", filepath.Base(name), strings.Join(lines, "\n"))
}

// TestKill9KeepsAcknowledgedWrites starts the real binary, upserts contacts,
// waits for the job to read completed, kills the process with SIGKILL,
// restarts it and reads every contact back.
func TestKill9KeepsAcknowledgedWrites(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		key := "SG.kill9-test-key"
		s, cmd := st.start(t, bin, key)

		code, body := call(t, s, key, "POST", "/v3/marketing/field_definitions", `{"name":"plan","field_type":"Text"}`)
		if code != 200 {
			t.Fatalf("create field: %d %s", code, body)
		}
		var field struct{ ID string }
		_ = json.Unmarshal([]byte(body), &field)
		code, body = call(t, s, key, "POST", "/v3/marketing/lists", `{"name":"durable"}`)
		if code != 201 {
			t.Fatalf("create list: %d %s", code, body)
		}
		var list struct{ ID string }
		_ = json.Unmarshal([]byte(body), &list)

		const n = 2000
		var b strings.Builder
		fmt.Fprintf(&b, `{"list_ids":[%q],"contacts":[`, list.ID)
		for i := 0; i < n; i++ {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"email":"Person%04d@Example.com","first_name":"P%d","custom_fields":{%q:"gold"}}`, i, i, field.ID)
		}
		b.WriteString("]}")
		runJob(t, s, key, "PUT", "/v3/marketing/contacts", b.String())

		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()

		s2, _ := st.start(t, bin, key)
		code, body = call(t, s2, key, "GET", "/v3/marketing/contacts/count", "")
		if code != 200 || !strings.Contains(body, fmt.Sprintf(`"contact_count":%d`, n)) {
			t.Fatalf("count after kill -9: %d %s, want %d contacts", code, body, n)
		}
		for start := 0; start < n; start += 100 {
			var emails []string
			for i := start; i < start+100; i++ {
				emails = append(emails, fmt.Sprintf("person%04d@example.com", i))
			}
			q, _ := json.Marshal(map[string]any{"emails": emails})
			code, body = call(t, s2, key, "POST", "/v3/marketing/contacts/search/emails", string(q))
			if code != 200 {
				t.Fatalf("search emails after kill -9: %d %s", code, body)
			}
			var res struct {
				Result map[string]struct {
					Contact *struct {
						Email        string         `json:"email"`
						FirstName    string         `json:"first_name"`
						ListIDs      []string       `json:"list_ids"`
						CustomFields map[string]any `json:"custom_fields"`
					} `json:"contact"`
				} `json:"result"`
			}
			if err := json.Unmarshal([]byte(body), &res); err != nil {
				t.Fatal(err)
			}
			for i, e := range emails {
				c := res.Result[e].Contact
				if c == nil {
					t.Fatalf("contact %s lost after kill -9", e)
				}
				if c.FirstName != fmt.Sprintf("P%d", start+i) || len(c.ListIDs) != 1 || c.ListIDs[0] != list.ID || c.CustomFields["plan"] != "gold" {
					t.Fatalf("contact %s changed after kill -9: %+v", e, c)
				}
			}
		}
	})
}

// runJob sends a request that SendGrid answers 202 with a job (an upsert,
// a delete) and waits for the job to read completed.
func runJob(t testing.TB, s liveServer, key, method, path, body string) {
	t.Helper()
	waitCompleted(t, s, mustCall(t, s, key, method, path, body, 202)["job_id"].(string))
}

// waitCompleted waits for an upsert job to read completed.
func waitCompleted(t testing.TB, s liveServer, jobID string) {
	t.Helper()
	facetest.Poll(t, "job "+jobID, func() bool {
		j := mustCall(t, s, s.key, "GET", "/v3/marketing/contacts/imports/"+jobID, "", 200)
		switch j["status"] {
		case "completed":
			return true
		case "errored", "failed":
			t.Fatalf("job %s: %v", jobID, j)
		}
		return false
	})
}

// TestSegmentsFreshAndSurviveRestart drives the real binary: once an upsert
// job reads completed, a segment's count and sample, contacts search and
// segment_ids reflect it; after a restart (the engine rebuilt from the
// store) every segment and count is identical.
func TestSegmentsFreshAndSurviveRestart(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		key := "SG.segments-test-key"
		s, cmd := st.start(t, bin, key)
		runJob(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"a@gmail.com","country":"US"},{"email":"b@yahoo.com","country":"US"},{"email":"c@gmail.com","country":"PT"}]}`)
		us := mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0", `{"name":"US","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"}`, 201)
		gmail := mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0", `{"name":"Gmail","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%@gmail.com'"}`, 201)
		if us["contacts_count"] != float64(2) || gmail["contacts_count"] != float64(2) {
			t.Fatalf("counts at create: US %v, Gmail %v", us["contacts_count"], gmail["contacts_count"])
		}

		// A write is visible everywhere once its job reads completed.
		runJob(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"d@gmail.com","country":"US"},{"email":"b@yahoo.com","country":"FR"}]}`)
		got := mustCall(t, s, key, "GET", "/v3/marketing/segments/2.0/"+us["id"].(string), "", 200)
		if got["contacts_count"] != float64(2) || len(got["contacts_sample"].([]any)) != 2 {
			t.Fatalf("US after the write: %v", got)
		}
		search := mustCall(t, s, key, "POST", "/v3/marketing/contacts/search", `{"query":"country = 'US' AND email LIKE '%gmail.com'"}`, 200)
		if search["contact_count"] != float64(2) {
			t.Fatalf("search after the write: %v", search)
		}
		found := mustCall(t, s, key, "POST", "/v3/marketing/contacts/search/emails", `{"emails":["d@gmail.com"]}`, 200)
		segIDs := found["result"].(map[string]any)["d@gmail.com"].(map[string]any)["contact"].(map[string]any)["segment_ids"].([]any)
		if len(segIDs) != 2 {
			t.Fatalf("segment_ids of d@gmail.com = %v, want both segments", segIDs)
		}

		before := mustCall(t, s, key, "GET", "/v3/marketing/segments/2.0", "", 200)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		s2, _ := st.start(t, bin, key)
		after := mustCall(t, s2, key, "GET", "/v3/marketing/segments/2.0", "", 200)
		strip := func(m map[string]any) string {
			var out []string
			for _, r := range m["results"].([]any) {
				seg := r.(map[string]any)
				out = append(out, fmt.Sprintf("%s %s %v %v", seg["id"], seg["name"], seg["contacts_count"], seg["status"]))
			}
			return strings.Join(out, "\n")
		}
		if strip(before) != strip(after) {
			t.Fatalf("segments changed across a restart:\nbefore:\n%s\nafter:\n%s", strip(before), strip(after))
		}
		if !strings.Contains(strip(after), "US 2") || !strings.Contains(strip(after), "Gmail 3") {
			t.Fatalf("unexpected counts after restart:\n%s", strip(after))
		}
	})
}

// TestSnapshotSurvivesKill9 drives the real binary: a graceful stop writes
// the engine snapshot; the next run loads it, takes more writes of every
// kind and is killed with SIGKILL; the run after that loads the same
// snapshot, replays the store's later changes, and serves the same counts
// as a run that rebuilds the engine from a copy of the store.
func TestSnapshotSurvivesKill9(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		dir := st.dir
		snap := filepath.Join(dir, "engine.snap")
		key := "SG.snapshot-test-key"
		flags := []string{"--snapshot-interval", "0"}
		s, cmd := st.start(t, bin, key, flags...)
		contacts := func(from, to int, country string) string {
			var b strings.Builder
			b.WriteString(`{"contacts":[`)
			for i := from; i < to; i++ {
				if i > from {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"email":"p%03d@%s","country":%q}`, i, []string{"gmail.com", "yahoo.com"}[i%2], country)
			}
			b.WriteString("]}")
			return b.String()
		}
		events := func(s liveServer, from, to int, typ string) {
			t.Helper()
			var evs []map[string]any
			for i := from; i < to; i++ {
				evs = append(evs, map[string]any{"email": fmt.Sprintf("p%03d@%s", i, []string{"gmail.com", "yahoo.com"}[i%2]),
					"event": typ, "timestamp": time.Now().Add(-time.Hour).Unix(), "sg_event_id": fmt.Sprintf("%s-%d-%d", typ, i, time.Now().UnixNano())})
			}
			b, _ := json.Marshal(evs)
			if code, out := call(t, s, key, "POST", "/webhooks/sendgrid/events", string(b)); code != 200 {
				t.Fatalf("webhook: %d %s", code, out)
			}
		}

		list := mustCall(t, s, key, "POST", "/v3/marketing/lists", `{"name":"l1"}`, 201)["id"].(string)
		runJob(t, s, key, "PUT", "/v3/marketing/contacts", strings.Replace(contacts(0, 200, "US"), "{", fmt.Sprintf(`{"list_ids":[%q],`, list), 1))
		events(s, 0, 120, "open")
		events(s, 300, 320, "open") // no such contacts yet: attached later
		for _, q := range []string{
			"SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'",
			"SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%@gmail.com'",
			fmt.Sprintf("SELECT contact_id, updated_at FROM contact_data WHERE array_contains(list_ids, ['%s'])", list),
			"SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' AND e.event_timestamp > timestampadd(day, -30, current_timestamp)",
			"SELECT contact_id, updated_at FROM contact_data WHERE contact_id NOT IN (SELECT contact_id FROM event_data WHERE event_type = 'click')",
		} {
			body, _ := json.Marshal(map[string]string{"name": fmt.Sprint("s ", len(q)), "query_dsl": q})
			mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0", string(body), 201)
		}
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		written, err := os.ReadFile(snap)
		if err != nil {
			t.Fatalf("no snapshot after a graceful stop: %v", err)
		}

		// Writes of every kind after the snapshot, then kill -9.
		s2, cmd2 := st.start(t, bin, key, flags...)
		runJob(t, s2, key, "PUT", "/v3/marketing/contacts", contacts(150, 330, "PT"))
		events(s2, 100, 180, "click")
		found := mustCall(t, s2, key, "POST", "/v3/marketing/contacts/search/emails", `{"emails":["p001@yahoo.com","p003@yahoo.com"]}`, 200)
		var ids []string
		for _, r := range found["result"].(map[string]any) {
			ids = append(ids, r.(map[string]any)["contact"].(map[string]any)["id"].(string))
		}
		runJob(t, s2, key, "DELETE", "/v3/marketing/contacts?ids="+strings.Join(ids, ","), "")
		mustCall(t, s2, key, "POST", "/v3/marketing/field_definitions", `{"name":"plan","field_type":"Text"}`, 200)
		list2 := mustCall(t, s2, key, "POST", "/v3/marketing/lists", `{"name":"l2"}`, 201)["id"].(string)
		runJob(t, s2, key, "PUT", "/v3/marketing/contacts", strings.Replace(contacts(10, 20, "US"), "{", fmt.Sprintf(`{"list_ids":[%q],`, list2), 1))
		mustCall(t, s2, key, "DELETE", "/v3/marketing/lists/"+list, "", 204)
		before := mustCall(t, s2, key, "GET", "/v3/marketing/segments/2.0", "", 200)
		if err := cmd2.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd2.Wait()

		// A copy of the store without the snapshot, for a full rebuild.
		rebuildDir := t.TempDir()
		for _, name := range []string{"segmentd.db", "segmentd.db-wal"} {
			if b, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
				if err := os.WriteFile(filepath.Join(rebuildDir, name), b, 0o600); err != nil {
					t.Fatal(err)
				}
			}
		}
		s3, _ := st.start(t, bin, key, flags...)
		if now, err := os.ReadFile(snap); err != nil || !bytes.Equal(now, written) {
			t.Fatalf("the snapshot was not used as it was (read back: %v)", err)
		}
		s4, _ := startBinary(t, bin, rebuildDir, key, append(st.args(), flags...)...)
		strip := func(m map[string]any) string {
			var out []string
			for _, r := range m["results"].([]any) {
				seg := r.(map[string]any)
				out = append(out, fmt.Sprintf("%s %v", seg["name"], seg["contacts_count"]))
			}
			return strings.Join(out, "\n")
		}
		want := strip(before)
		if got := strip(mustCall(t, s3, key, "GET", "/v3/marketing/segments/2.0", "", 200)); got != want {
			t.Fatalf("counts from the snapshot after kill -9:\n%s\nbefore the kill:\n%s", got, want)
		}
		if got := strip(mustCall(t, s4, key, "GET", "/v3/marketing/segments/2.0", "", 200)); got != want {
			t.Fatalf("counts of a full rebuild:\n%s\nbefore the kill:\n%s", got, want)
		}
	})
}
