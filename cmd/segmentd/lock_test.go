package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// runBinary runs the real binary with args and stdin to its end and
// returns its stdout, stderr and exit code, run in a directory of its own. A command that starts serving
// instead (its banner's listen line) is killed and fails the test: it was
// meant to refuse.
func runBinary(t *testing.T, bin, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir() // the default --data, ./segmentd-data, lands there
	cmd.Stdin = strings.NewReader(stdin)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var outb strings.Builder
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		outb.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "segmentd listening on ") {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("segmentd %s started serving:\n%s", strings.Join(args, " "), outb.String())
		}
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		return outb.String(), errb.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return outb.String(), errb.String(), 0
}

// TestDataDirectoryHeldByOneServer drives the real binary: while a server
// holds its data directory, a second server and `events load` on it refuse
// and name the holder (its pid and address), the account and key commands
// run beside it, and once the holder is killed with SIGKILL a new server
// starts there at once (the lock dies with its process).
func TestDataDirectoryHeldByOneServer(t *testing.T) {
	bin := realBinary(t)
	dir := t.TempDir()
	const key = "SG.lock-test-key"
	s, cmd := startBinary(t, bin, dir, key)
	holder := fmt.Sprintf("pid %d (segmentd serve on %s, since ", cmd.Process.Pid, s.url)

	_, errOut, code := runBinary(t, bin, "", "serve", "--addr", "127.0.0.1:0", "--data", dir, "--api-key", key)
	if code != 1 || !strings.Contains(errOut, "data directory "+dir+" is in use by "+holder) || !strings.Contains(errOut, "give this server another --data") {
		t.Fatalf("second serve on the same --data: exit %d, stderr %q; want 1 and a message naming %q", code, errOut, holder)
	}

	event := `{"email":"a@example.com","event":"open","timestamp":1700000000,"sg_event_id":"e1"}` + "\n"
	out, errOut, code := runBinary(t, bin, event, "events", "load", "--data", dir)
	if code != 1 || !strings.Contains(errOut, "is in use by "+holder) || !strings.Contains(errOut, "POST /webhooks/sendgrid/events") {
		t.Fatalf("events load beside the server: exit %d, stdout %q, stderr %q; want 1 and a message naming %q", code, out, errOut, holder)
	}

	// Accounts and keys are read by the server from the store on each
	// request: their commands run beside it, and their key works at once.
	if out, errOut, code := runBinary(t, bin, "", "accounts", "create", "acme", "--data", dir); code != 0 || !strings.Contains(out, `created account "acme"`) {
		t.Fatalf("accounts create beside the server: exit %d, %q %q", code, out, errOut)
	}
	out, errOut, code = runBinary(t, bin, "", "keys", "create", "--account", "acme", "--data", dir)
	if code != 0 {
		t.Fatalf("keys create beside the server: exit %d, %q %q", code, out, errOut)
	}
	acmeKey := finalLine(out)
	if code, body := call(t, s, acmeKey, "GET", "/v3/marketing/lists", ""); code != 200 {
		t.Fatalf("the new key on the running server: %d %s", code, body)
	}

	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	// startBinary fails the test unless the new server prints its banner.
	s2, cmd2 := startBinary(t, bin, dir, key)
	if code, body := call(t, s2, acmeKey, "GET", "/v3/marketing/lists", ""); code != 200 {
		t.Fatalf("after kill -9 and restart: %d %s", code, body)
	}
	_, errOut, _ = runBinary(t, bin, "", "serve", "--addr", "127.0.0.1:0", "--data", dir)
	if want := fmt.Sprintf("pid %d (segmentd serve on %s, since ", cmd2.Process.Pid, s2.url); !strings.Contains(errOut, want) {
		t.Fatalf("the new holder is not named: stderr %q, want %q", errOut, want)
	}
}

// finalLine is the last line of s, where the key commands print the key.
func finalLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// startedWriter is the stdout of a server that should not start: its first
// write (the banner, printed once it listens) records the start and stops
// the server.
type startedWriter struct {
	stop    context.CancelFunc
	started bool
}

func (w *startedWriter) Write(b []byte) (int, error) {
	w.started = true
	w.stop()
	return len(b), nil
}

// A second server or `events load` in the same process is refused as well:
// the lock belongs to the open lock file, not to the process.
func TestDataDirectoryHeldInProcess(t *testing.T) {
	dir := t.TempDir()
	startInProcess(t, []string{"serve", "--addr", "127.0.0.1:0", "--data", dir, "--api-key", "SG.x"}, nil)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	second := &startedWriter{stop: cancel}
	err := run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--data", dir}, nil, nil, second, io.Discard)
	if second.started || err == nil || !strings.Contains(err.Error(), "is in use by pid ") {
		t.Fatalf("second server in one process: started %v, err %v", second.started, err)
	}
	err = run(t.Context(), []string{"events", "load", "--data", dir}, nil, strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "is in use by pid ") {
		t.Fatalf("events load beside an in-process server: %v", err)
	}
}
