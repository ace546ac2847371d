package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"strings"
	"sync"
	"testing"
)

// TestHelpThroughTheBinary asks every command of the real binary for help:
// each prints its usage on stdout, nothing on stderr, and exits 0.
func TestHelpThroughTheBinary(t *testing.T) {
	bin := realBinary(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-h"}, "usage: segmentd [command] [flags]"},
		{[]string{"--help"}, "usage: segmentd [command] [flags]"},
		{[]string{"help"}, "usage: segmentd [command] [flags]"},
		{[]string{"serve", "-h"}, "-snapshot-interval"},
		{[]string{"serve", "--help"}, "-addr"},
		{[]string{"--addr", "127.0.0.1:0", "-h"}, "-addr"},
		{[]string{"accounts", "-h"}, "usage: segmentd accounts create NAME"},
		{[]string{"accounts", "create", "-h"}, "-parent"},
		{[]string{"accounts", "set-webhook-key", "--help"}, "-key"},
		{[]string{"keys", "-h"}, "usage: segmentd keys create [--account NAME]"},
		{[]string{"keys", "create", "-h"}, `-account string`},
		{[]string{"events", "-h"}, "segmentd events bench"},
		{[]string{"events", "load", "-h"}, "-batch"},
		{[]string{"events", "bench", "-h"}, "-segments"},
		{[]string{"events", "pack", "-h"}, "-database-url"},
		{[]string{"migrate-v1", "-h"}, "usage: segmentd migrate-v1"},
		{[]string{"bench", "-h"}, "usage: segmentd bench ingest"},
		{[]string{"bench", "ingest", "-h"}, "-parallel"},
		{[]string{"bench", "segments", "--help"}, "-live-segments"},
		{[]string{"backup", "-h"}, "-out"},
		{[]string{"healthcheck", "--help"}, "-timeout"},
	} {
		stdout, stderr, code := runBinary(t, bin, "", tt.args...)
		if code != 0 || stderr != "" || !strings.Contains(stdout, tt.want) {
			t.Errorf("segmentd %s: exit %d, stderr %q, stdout %q; want exit 0, no stderr, stdout with %q",
				strings.Join(tt.args, " "), code, stderr, stdout, tt.want)
		}
	}
}

// TestUsageText checks what the usage texts promise: every command is
// listed, and `keys create` does not claim a flag it defaults is required.
func TestUsageText(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"help"}, nil, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"serve", "accounts create", "accounts set-webhook-key", "keys create", "events load", "events bench", "events pack", "migrate-v1", "backup", "healthcheck", "bench ingest", "bench segments"} {
		if !strings.Contains(out.String(), "\n  "+cmd+" ") {
			t.Errorf("segmentd help does not list %q:\n%s", cmd, &out)
		}
	}
	if !strings.Contains(out.String(), `"default"`) {
		t.Errorf("segmentd help does not name the default account:\n%s", &out)
	}

	err := run(context.Background(), []string{"keys"}, nil, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "keys create [--account NAME]") || !strings.Contains(err.Error(), `"default"`) {
		t.Errorf("segmentd keys: %v; want a usage with --account optional and its default", err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"keys", "create", "-h"}, nil, nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `(default "default")`) {
		t.Errorf("keys create -h does not give --account's default:\n%s", &out)
	}
}

// lockedBuffer is a server's log, written by its goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLogDurationsInMilliseconds reads the log of a server's start, a
// request, its stop (the snapshot written) and a second start (the
// snapshot loaded): every duration is in milliseconds, in an attribute
// named *_ms, none a bare count of nanoseconds.
func TestLogDurationsInMilliseconds(t *testing.T) {
	dir := t.TempDir()
	args := []string{"serve", "--addr", "127.0.0.1:0", "--data", dir, "--api-key", "SG.log-key"}
	var logs lockedBuffer
	for range 2 {
		s, stop := startInProcessLogging(t, args, nil, &logs)
		if code, body := call(t, s, "SG.log-key", "GET", "/v3/marketing/lists", ""); code != 200 {
			t.Fatalf("GET lists: %d %s", code, body)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]bool{}
	for line := range strings.Lines(logs.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		msg, _ := rec["msg"].(string)
		for k, v := range rec {
			if k == "duration" || k == "engine_blocked" {
				t.Errorf("%q logs %s = %v, a duration without its unit", msg, k, v)
			}
			if strings.HasSuffix(k, "_ms") {
				if ms, ok := v.(float64); !ok || ms < 0 || ms > 60_000 {
					t.Errorf("%q logs %s = %v, want milliseconds", msg, k, v)
				}
				seen[msg] = true
			}
		}
	}
	for _, msg := range []string{"request", "membership engine loaded", "engine snapshot written", "engine snapshot loaded"} {
		if !seen[msg] {
			t.Errorf("no %q line with a duration in milliseconds:\n%s", msg, logs.String())
		}
	}
}
