package main

import (
	"io"
	"math"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

func TestParseMemoryLimit(t *testing.T) {
	inContainer := func() int64 { return 2 << 30 }
	outside := func() int64 { return 0 }
	tests := []struct {
		v       string
		cgroup  func() int64
		want    memoryLimit
		wantErr string
	}{
		{v: "off", cgroup: inContainer, want: memoryLimit{}},
		{v: "0", cgroup: inContainer, want: memoryLimit{}},
		{v: "auto", cgroup: inContainer, want: memoryLimit{bytes: (2 << 30) / 10 * 9, follow: true}},
		{v: "auto", cgroup: outside, want: memoryLimit{follow: true}},
		{v: "start", cgroup: inContainer, want: memoryLimit{bytes: (2 << 30) / 10 * 9, follow: true, start: true}},
		{v: "start", cgroup: outside, want: memoryLimit{follow: true, start: true}},
		{v: "1GiB", want: memoryLimit{bytes: 1 << 30}},
		{v: "900MiB", want: memoryLimit{bytes: 900 << 20}},
		{v: "65536KiB", want: memoryLimit{bytes: 64 << 20}},
		{v: "1TiB", want: memoryLimit{bytes: 1 << 40}},
		{v: "134217728", want: memoryLimit{bytes: 128 << 20}},
		{v: "134217728B", want: memoryLimit{bytes: 128 << 20}},
		{v: "1GB", wantErr: `--memory-limit must be start, off, auto, or a size such as 1GiB or 900MiB, not "1GB"`},
		{v: "-1GiB", wantErr: "--memory-limit must be start, off, auto, or a size"},
		{v: "9999999999TiB", wantErr: "--memory-limit must be start, off, auto, or a size"},
		{v: "lots" + strings.Repeat("x", 500), wantErr: `not "lotsxxxx`},
		{v: "1MiB", wantErr: `--memory-limit must be at least 64MiB (or off), not "1MiB"`},
	}
	for _, tt := range tests {
		cg := tt.cgroup
		if cg == nil {
			cg = outside
		}
		got, err := parseMemoryLimit(tt.v, cg)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || len(err.Error()) > 200 {
				t.Errorf("parseMemoryLimit(%.20q) err = %v, want %q (short)", tt.v, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseMemoryLimit(%q) = %+v, %v; want %+v", tt.v, got, err, tt.want)
		}
	}
}

// TestMemoryLimitConfig: the flag wins over SEGMENTD_MEMORY_LIMIT, and
// GOMEMLIMIT alone is left to the runtime (no limit set by segmentd).
// Without any of them the limit follows the live heap while the engine
// loads (start).
func TestMemoryLimitConfig(t *testing.T) {
	ceiling := cgroupMemoryLimit() / 10 * 9 // this machine's container, if any
	tests := []struct {
		name string
		args []string
		env  []string
		want memoryLimit
	}{
		{name: "default", want: memoryLimit{bytes: ceiling, follow: true, start: true}}, // start: docs/decisions.md §20
		{name: "flag", args: []string{"--memory-limit", "1GiB"}, want: memoryLimit{bytes: 1 << 30}},
		{name: "env", env: []string{"SEGMENTD_MEMORY_LIMIT=512MiB"}, want: memoryLimit{bytes: 512 << 20}},
		{name: "flag over env", args: []string{"--memory-limit", "off"}, env: []string{"SEGMENTD_MEMORY_LIMIT=512MiB"}, want: memoryLimit{}},
		{name: "GOMEMLIMIT alone", env: []string{"GOMEMLIMIT=300MiB"}, want: memoryLimit{}},
		{name: "flag over GOMEMLIMIT", args: []string{"--memory-limit", "700MiB"}, env: []string{"GOMEMLIMIT=300MiB"}, want: memoryLimit{bytes: 700 << 20}},
		{name: "auto over GOMEMLIMIT", args: []string{"--memory-limit", "auto"}, env: []string{"GOMEMLIMIT=300MiB"}, want: memoryLimit{bytes: ceiling, follow: true}},
	}
	for _, tt := range tests {
		cfg, err := parseConfig("serve", tt.args, tt.env, io.Discard, io.Discard)
		if err != nil || cfg.memory != tt.want {
			t.Errorf("%s: memory limit %+v, %v; want %+v", tt.name, cfg.memory, err, tt.want)
		}
	}
	if _, err := parseConfig("serve", nil, []string{"SEGMENTD_MEMORY_LIMIT=huge"}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), `not "huge"`) {
		t.Errorf("a bad SEGMENTD_MEMORY_LIMIT: err = %v", err)
	}
}

// TestServeSetsMemoryLimit starts a server with --memory-limit: the
// runtime's limit is the one given, and the log says so.
func TestServeSetsMemoryLimit(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	var logs lockedBuffer
	s, stop := startInProcessLogging(t, []string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--api-key", "SG.mem-key", "--memory-limit", "3GiB"}, nil, &logs)
	if code, body := call(t, s, "SG.mem-key", "GET", "/v3/marketing/lists", ""); code != 200 {
		t.Fatalf("GET lists: %d %s", code, body)
	}
	if got := debug.SetMemoryLimit(-1); got != 3<<30 {
		t.Errorf("runtime memory limit %d while serving, want %d", got, int64(3<<30))
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), `"msg":"soft memory limit set","bytes":3221225472`) {
		t.Errorf("no log line for the limit:\n%s", logs.String())
	}
}

func TestFollowedLimit(t *testing.T) {
	tests := []struct {
		live, ceiling, headroom, want int64
	}{
		{live: 0, headroom: followHeadroom, want: followHeadroom},
		{live: 50 << 20, headroom: followHeadroom, want: 50<<20 + followHeadroom},        // a small heap: the headroom's floor
		{live: 400 << 20, headroom: followHeadroom, want: 600 << 20},                     // half the live heap again
		{live: 400 << 20, ceiling: 500 << 20, headroom: followHeadroom, want: 500 << 20}, // never above the container's ceiling
		{live: 400 << 20, ceiling: 2 << 30, headroom: followHeadroom, want: 600 << 20},   // a ceiling not reached
		{live: 1 << 40, headroom: followHeadroom, want: 1<<40 + 1<<39},                   // no overflow at any real size
		{live: 10 << 20, ceiling: 64 << 20, headroom: followHeadroom, want: 64 << 20},    // a ceiling below the floor wins
		// While the engine loads: the room is loadHeadroom until half the
		// live heap is more.
		{live: 200 << 20, headroom: loadHeadroom, want: 200<<20 + loadHeadroom},
		{live: 400 << 20, headroom: loadHeadroom, want: 400<<20 + loadHeadroom},
		{live: 800 << 20, headroom: loadHeadroom, want: 1200 << 20},
		{live: 400 << 20, ceiling: 500 << 20, headroom: loadHeadroom, want: 500 << 20},
	}
	for _, tt := range tests {
		if got := followedLimit(tt.live, tt.ceiling, tt.headroom); got != tt.want {
			t.Errorf("followedLimit(%d, %d, %d) = %d, want %d", tt.live, tt.ceiling, tt.headroom, got, tt.want)
		}
	}
}

// TestServeFollowsLiveHeap starts a server with --memory-limit auto:
// while it serves, the runtime's limit is set and rises after a
// collection that finds the live heap grown; when it stops, the limit
// found before is back.
func TestServeFollowsLiveHeap(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	var logs lockedBuffer
	s, stop := startInProcessLogging(t, []string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--api-key", "SG.mem-key", "--memory-limit", "auto"}, nil, &logs)
	if code, body := call(t, s, "SG.mem-key", "GET", "/v3/marketing/lists", ""); code != 200 {
		t.Fatalf("GET lists: %d %s", code, body)
	}
	if got := debug.SetMemoryLimit(-1); got == math.MaxInt64 || got < followHeadroom {
		t.Errorf("runtime memory limit %d while serving, want a followed one (at least %d)", got, followHeadroom)
	}
	// 256 MiB held live: after a collection the limit is above it and half
	// of it again.
	held := make([]byte, 256<<20)
	for i := range held {
		held[i] = 1 // resident, not only reserved
	}
	want := int64(len(held)) * 3 / 2
	if c := cgroupMemoryLimit() / 10 * 9; c > 0 {
		want = min(want, c)
	}
	for deadline := time.Now().Add(30 * time.Second); debug.SetMemoryLimit(-1) < want; {
		if time.Now().After(deadline) {
			t.Fatalf("runtime memory limit %d after collections with %d bytes live, want at least %d", debug.SetMemoryLimit(-1), len(held), want)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond) // the limit is set by a cleanup after the collection
	}
	runtime.KeepAlive(held)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("runtime memory limit %d after the server stopped, want the %d found before", got, before)
	}
	if !strings.Contains(logs.String(), `"msg":"soft memory limit follows the live heap"`) {
		t.Errorf("no log line for the limit:\n%s", logs.String())
	}
}

// TestServeFollowsWhileLoading starts a server with the default limit
// (start): it follows the live heap while the engine loads, and once the
// engine is loaded the limit found before is back, while it serves.
func TestServeFollowsWhileLoading(t *testing.T) {
	before := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(before) })
	var logs lockedBuffer
	s, stop := startInProcessLogging(t, []string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--api-key", "SG.mem-key"}, nil, &logs)
	if code, body := call(t, s, "SG.mem-key", "GET", "/v3/marketing/lists", ""); code != 200 {
		t.Fatalf("GET lists: %d %s", code, body)
	}
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("runtime memory limit %d while serving, want the %d found before", got, before)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	out := logs.String()
	follows := strings.Index(out, `"msg":"soft memory limit follows the live heap while the engine loads","ceiling_bytes":`)
	if !strings.Contains(out, `,"headroom_bytes":268435456}`) {
		t.Errorf("want the load's headroom of 256 MiB logged:\n%s", out)
	}
	loaded := strings.Index(out, `"msg":"membership engine loaded"`)
	lifted := strings.Index(out, `"msg":"soft memory limit lifted: the engine is loaded"`)
	if follows < 0 || loaded < follows || lifted < loaded {
		t.Errorf("want the limit followed, the engine loaded, then the limit lifted, in that order:\n%s", out)
	}
}
