package main

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestPprofThroughTheBinary: --pprof serves Go's profiler on a loopback
// listener of its own, and nothing of it on the API's address, from
// before the engine loads; an address that is not loopback stops the
// start with status 1, naming the flag.
func TestPprofThroughTheBinary(t *testing.T) {
	bin := realBinary(t)
	s, _ := startBinary(t, bin, t.TempDir(), "SG.pprof-test-key", "--pprof", "127.0.0.1:0")
	if !strings.HasPrefix(s.pprof, "http://127.0.0.1:") || !strings.HasSuffix(s.pprof, "/debug/pprof/") || strings.HasPrefix(s.pprof, s.url+"/") {
		t.Fatalf("banner's profiler %q (the API on %s)", s.pprof, s.url)
	}
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get(s.pprof); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("GET %s: %d %.200s", s.pprof, code, body)
	}
	if code, body := get(s.pprof + "goroutine?debug=1"); code != 200 || !strings.Contains(body, "main.main") {
		t.Fatalf("goroutine profile: %d %.200s", code, body)
	}
	if code, body := get(s.pprof + "heap"); code != 200 || len(body) == 0 {
		t.Fatalf("heap profile: %d, %d bytes", code, len(body))
	}
	if code, _ := get(s.url + "/debug/pprof/"); code != 404 {
		t.Fatalf("the profiler on the API's address: %d, want 404", code)
	}
	// The profiler serves from the start, before the store opens and the
	// engine loads, so that a slow start can be profiled: its log line
	// comes before theirs.
	logged, err := os.ReadFile(s.log)
	if err != nil {
		t.Fatal(err)
	}
	profiling := bytes.Index(logged, []byte(`"msg":"serving the profiler"`))
	loaded := bytes.Index(logged, []byte(`"msg":"membership engine loaded"`))
	if profiling < 0 || loaded < 0 || profiling > loaded || !bytes.Contains(logged, []byte(strings.TrimSuffix(strings.TrimPrefix(s.pprof, "http://"), "/debug/pprof/"))) {
		t.Fatalf("the profiler's log line at %d, the engine's load at %d (want the profiler's first, naming its address %s):\n%s", profiling, loaded, s.pprof, logged)
	}

	for _, addr := range []string{":6060", "0.0.0.0:6060", "[::]:6060", "192.0.2.1:6060", "example.com:6060", "127.0.0.1"} {
		var stderr bytes.Buffer
		cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--pprof", addr)
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(stderr.String(), "--pprof must be a loopback address") {
			t.Errorf("--pprof %s: %v, stderr %q; want status 1 naming --pprof", addr, err, stderr.String())
		}
	}
}
