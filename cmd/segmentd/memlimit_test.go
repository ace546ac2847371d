package main

import (
	"io"
	"runtime/debug"
	"strings"
	"testing"
)

func TestParseMemoryLimit(t *testing.T) {
	inContainer := func() int64 { return 2 << 30 }
	outside := func() int64 { return 0 }
	tests := []struct {
		v       string
		cgroup  func() int64
		want    int64
		wantErr string
	}{
		{v: "off", cgroup: inContainer, want: 0},
		{v: "0", cgroup: inContainer, want: 0},
		{v: "auto", cgroup: inContainer, want: (2 << 30) / 10 * 9},
		{v: "auto", cgroup: outside, want: 0},
		{v: "1GiB", want: 1 << 30},
		{v: "900MiB", want: 900 << 20},
		{v: "65536KiB", want: 64 << 20},
		{v: "1TiB", want: 1 << 40},
		{v: "134217728", want: 128 << 20},
		{v: "134217728B", want: 128 << 20},
		{v: "1GB", wantErr: `--memory-limit must be off, auto, or a size such as 1GiB or 900MiB, not "1GB"`},
		{v: "-1GiB", wantErr: "--memory-limit must be off, auto, or a size"},
		{v: "9999999999TiB", wantErr: "--memory-limit must be off, auto, or a size"},
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
			t.Errorf("parseMemoryLimit(%q) = %d, %v; want %d", tt.v, got, err, tt.want)
		}
	}
}

// TestMemoryLimitConfig: the flag wins over SEGMENTD_MEMORY_LIMIT, and
// GOMEMLIMIT alone is left to the runtime (no limit set by segmentd).
func TestMemoryLimitConfig(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  []string
		want int64
	}{
		{name: "flag", args: []string{"--memory-limit", "1GiB"}, want: 1 << 30},
		{name: "env", env: []string{"SEGMENTD_MEMORY_LIMIT=512MiB"}, want: 512 << 20},
		{name: "flag over env", args: []string{"--memory-limit", "off"}, env: []string{"SEGMENTD_MEMORY_LIMIT=512MiB"}, want: 0},
		{name: "GOMEMLIMIT alone", env: []string{"GOMEMLIMIT=300MiB"}, want: 0},
		{name: "flag over GOMEMLIMIT", args: []string{"--memory-limit", "700MiB"}, env: []string{"GOMEMLIMIT=300MiB"}, want: 700 << 20},
	}
	for _, tt := range tests {
		cfg, err := parseConfig("serve", tt.args, tt.env, io.Discard, io.Discard)
		if err != nil || cfg.memoryLimit != tt.want {
			t.Errorf("%s: memory limit %d, %v; want %d", tt.name, cfg.memoryLimit, err, tt.want)
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
