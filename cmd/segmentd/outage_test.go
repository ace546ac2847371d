package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd/internal/facetest"
)

// ownPostgres is a PostgreSQL server of a test's own, which the test stops
// and starts (the shared servers of .ci/services must stay up).
type ownPostgres struct {
	t    *testing.T
	bin  string // PostgreSQL's programs
	data string
	port int
	as   *user.User // the user that runs it when the test runs as root (initdb refuses root)
}

// newOwnPostgres initialises a server on a free loopback port; it is not
// started. It needs Debian's postgresql-15 (.ci/services installs it).
func newOwnPostgres(t *testing.T) *ownPostgres {
	t.Helper()
	bin := os.Getenv("SEGMENTD_TEST_PGBIN")
	if bin == "" {
		bin = "/usr/lib/postgresql/15/bin"
	}
	if _, err := os.Stat(filepath.Join(bin, "pg_ctl")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("no PostgreSQL programs at %s (SEGMENTD_TEST_PGBIN): %v", bin, err)
		}
		t.Skipf("no PostgreSQL programs at %s (set SEGMENTD_TEST_PGBIN, or install postgresql-15)", bin)
	}
	dir, err := os.MkdirTemp("", "segmentd-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	p := &ownPostgres{t: t, bin: bin, data: filepath.Join(dir, "data"), port: freePort(t)}
	if os.Geteuid() == 0 {
		if p.as, err = user.Lookup("postgres"); err != nil {
			t.Fatalf("running as root needs the postgres user: %v", err)
		}
		uid, _ := strconv.Atoi(p.as.Uid)
		gid, _ := strconv.Atoi(p.as.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	p.run("initdb", "-D", p.data, "-U", "postgres", "--auth=trust", "-E", "UTF8")
	t.Cleanup(func() { p.ctl("stop", "-m", "immediate") })
	return p
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// run runs one of PostgreSQL's programs, as the postgres user when root.
func (p *ownPostgres) run(prog string, args ...string) {
	p.t.Helper()
	path := filepath.Join(p.bin, prog)
	cmd := exec.Command(path, args...)
	if p.as != nil {
		cmd = exec.Command("runuser", append([]string{"-u", p.as.Username, "--", path}, args...)...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		p.t.Fatalf("%s %v: %v\n%s", prog, args, err, out)
	}
}

func (p *ownPostgres) ctl(action string, args ...string) {
	p.run("pg_ctl", append([]string{action, "-D", p.data, "-w"}, args...)...)
}

func (p *ownPostgres) start() {
	p.t.Helper()
	p.ctl("start", "-l", filepath.Join(filepath.Dir(p.data), "log"), "-o",
		fmt.Sprintf("-p %d -c listen_addresses=127.0.0.1 -c unix_socket_directories='' -c fsync=off", p.port))
}

func (p *ownPostgres) stop() { p.t.Helper(); p.ctl("stop", "-m", "fast") }

func (p *ownPostgres) url() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// startOnOwnPostgres starts the binary over pg's database (waiting up to
// two minutes for it), with env added to the test's environment; it
// returns the server's standard output and the lines of its log, which
// are dropped rather than block the server when the test does not read
// them.
func startOnOwnPostgres(t *testing.T, bin string, pg *ownPostgres, key string, env ...string) (*bufio.Reader, <-chan string) {
	t.Helper()
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--api-key", key,
		"--database-url", pg.url(), "--database-wait", "2m")
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	logged := make(chan string, 10000)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			select {
			case logged <- sc.Text():
			default:
			}
		}
		close(logged)
	}()
	return bufio.NewReader(out), logged
}

// readServer reads the server's banner from its standard output, then
// discards the rest.
func readServer(t *testing.T, out *bufio.Reader, key string) liveServer {
	t.Helper()
	s := readBanner(t, out)
	s.key = key
	go func() { _, _ = io.Copy(io.Discard, out) }()
	return s
}

// waitLog waits up to two minutes for a line of the server's log that
// holds what.
func waitLog(t *testing.T, logged <-chan string, what string) {
	t.Helper()
	deadline := time.After(2 * time.Minute)
	for {
		select {
		case line, ok := <-logged:
			if !ok {
				t.Fatalf("the server's log ended without %q", what)
			}
			if strings.Contains(line, what) {
				return
			}
		case <-deadline:
			t.Fatalf("the server did not log %q within 2m", what)
		}
	}
}

// TestDatabaseOutage: a server started before its database waits for it;
// while the database is down every face answers 503 in its envelope and
// /healthz says not ready; when it is back the server serves again by
// itself, and nothing acknowledged is lost.
func TestDatabaseOutage(t *testing.T) {
	bin := realBinary(t)
	pg := newOwnPostgres(t)
	const key = "SG.outage-key"

	// Started while the database is down: it waits, then comes up.
	out, logged := startOnOwnPostgres(t, bin, pg, key)
	waitLog(t, logged, "cannot be reached yet")
	pg.start()
	s := readServer(t, out, key)

	runJob(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"ada@example.com"},{"email":"bob@example.com"}]}`)
	pg.stop()
	for _, c := range []struct{ method, path, body, want string }{
		{"GET", "/v3/marketing/contacts/count", "", `{"errors":[{"field":null,"message":"service unavailable; try again shortly"}]}`},
		{"PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"cy@example.com"}]}`, `{"errors":[{"field":null,"message":"service unavailable; try again shortly"}]}`},
		{"GET", "/v3/segments", "", `[{"error_key":"segments.api.service_unavailable","error_message":"The service is unavailable; try again shortly."}]`},
		{"POST", "/webhooks/sendgrid/events", `[]`, `{"errors":[{"message":"service unavailable; try again shortly"}]}`},
	} {
		r, err := facetest.Send(s.url, key, facetest.Request{Method: c.method, Path: c.path, Body: c.body})
		if err != nil {
			t.Fatal(err)
		}
		facetest.WantError(t, r, 503, c.want)
		if r.Header.Get("Retry-After") != "1" {
			t.Errorf("%s %s: Retry-After %q", c.method, c.path, r.Header.Get("Retry-After"))
		}
	}
	if r, err := facetest.Send(s.url, "", facetest.Request{Method: "GET", Path: "/healthz"}); err != nil || r.Status != 503 {
		t.Fatalf("healthz with the database down: %v %+v", err, r)
	}

	pg.start()
	facetest.Poll(t, "the server serves again once its database is back", func() bool {
		r, err := facetest.Send(s.url, "", facetest.Request{Method: "GET", Path: "/healthz"})
		return err == nil && r.Status == 200
	})
	if got := mustCall(t, s, key, "GET", "/v3/marketing/contacts/count", "", 200); got["contact_count"] != float64(2) {
		t.Fatalf("contacts after the outage: %v", got)
	}
	runJob(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"cy@example.com"}]}`)
	if got := mustCall(t, s, key, "GET", "/v3/marketing/contacts/count", "", 200); got["contact_count"] != float64(3) {
		t.Fatalf("contacts after a write past the outage: %v", got)
	}
}

// TestJobResultAfterAnOutage: the database goes away after a job's
// transaction committed and before its result is stored; the server keeps
// trying, and once the database is back the job reads completed and the
// account's next job runs (before, the job stayed pending under the
// server's lease, and the account's later jobs behind it, until a restart).
func TestJobResultAfterAnOutage(t *testing.T) {
	bin := realBinary(t)
	pg := newOwnPostgres(t)
	pg.start()
	const key = "SG.outage-key"
	out, logged := startOnOwnPostgres(t, bin, pg, key, "SEGMENTD_TEST_ONLY_COMMIT_HOLD=2s")
	s := readServer(t, out, key)

	job := mustCall(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"ada@example.com"}]}`, 202)["job_id"].(string)
	waitLog(t, logged, "holding a committed job") // its transaction committed; its result comes after the hold
	pg.stop()
	waitLog(t, logged, "recording job result") // the first try failed: the old code logged it and left the job pending
	pg.start()
	facetest.Poll(t, "job "+job+" completed once the database is back", func() bool {
		code, j := call(t, s, key, "GET", "/v3/marketing/contacts/imports/"+job, "")
		return code == 200 && strings.Contains(j, `"status":"completed"`)
	})
	runJob(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"bob@example.com"}]}`)
	if got := mustCall(t, s, key, "GET", "/v3/marketing/contacts/count", "", 200); got["contact_count"] != float64(2) {
		t.Fatalf("contacts after the outage: %v", got)
	}
}
