package main

import (
	"bytes"
	"context"
	"os"
	"os/signal"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// asBinaryEnv makes this test binary behave as segmentd itself: the
// benchmarks start os.Executable() as their child server, which under
// "go test" is this binary.
const asBinaryEnv = "SEGMENTD_TEST_AS_BINARY"

func TestMain(m *testing.M) {
	if os.Getenv(asBinaryEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		err := run(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr)
		stop()
		if err != nil {
			os.Stderr.WriteString("segmentd: " + err.Error() + "\n")
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	removeBuiltBinary()
	os.Exit(code)
}

// TestBenchSegmentsSmall runs "segmentd bench segments" at a small size (500
// contacts, 5,000 events: seconds under -race) and checks that it reports
// every figure and that the counts are plausible, on each store (a fresh
// schema for a database); a second run reuses what the first loaded.
func TestBenchSegmentsSmall(t *testing.T) {
	t.Setenv(asBinaryEnv, "1")
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		var out, errb bytes.Buffer
		args := append([]string{"bench", "segments", "--contacts", "500", "--events", "5000", "--requests", "3", "--data", st.dir}, st.args()...)
		if err := run(t.Context(), args, nil, nil, &out, &errb); err != nil {
			t.Fatalf("bench segments: %v\nstdout:\n%s\nstderr:\n%s", err, &out, &errb)
		}
		t.Logf("\n%s", &out)
		text := out.String()
		for _, want := range []string{"load: 500 contacts", "load: 5000 events", "engine rebuild at start: ", "server peak RSS: ", "bytes per contact"} {
			if !strings.Contains(text, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		// The SQLite files' size, or the PostgreSQL tables': more than
		// nothing either way.
		wantSize := `database size: (\d+\.\d) MiB \(segmentd\.db with its WAL\)`
		if st.url != "" {
			wantSize = `database size: (\d+\.\d) MiB \(PostgreSQL tables and indexes\)`
		}
		if m := regexp.MustCompile(wantSize).FindStringSubmatch(text); m == nil || m[1] == "0.0" {
			t.Errorf("output lacks %s with more than nothing (found %q)", wantSize, m)
		}
		if strings.Contains(text, "engine rebuild at start: ?") {
			t.Errorf("the server's rebuild time was not read from its log")
		}
		counts := map[string]int{}
		for _, m := range regexp.MustCompile(`(?m)^(\w+)\s+(\d+)\s`).FindAllStringSubmatch(text, -1) {
			counts[m[1]], _ = strconv.Atoi(m[2])
		}
		for _, name := range []string{"gmail_and_US", "in_list", "number_range_or_name", "opened_last_30_days", "never_clicked"} {
			if n, ok := counts[name]; !ok || n <= 0 || n >= 500 {
				t.Errorf("segment %s: count %d (found %v), want between 0 and 500 exclusive", name, n, ok)
			}
		}

		// A second run reuses what the first loaded: the data directory's
		// SQLite file, or the database.
		reused := "load: reusing the PostgreSQL database as it is"
		if st.url == "" {
			reused = "load: reusing " + filepath.Join(st.dir, "segmentd.db") + " as it is"
		}
		out.Reset()
		if err := run(t.Context(), append(args, "--stats=false"), nil, nil, &out, &errb); err != nil {
			t.Fatalf("bench segments again: %v\n%s", err, &errb)
		}
		if !strings.Contains(out.String(), reused) || !strings.Contains(out.String(), "never_clicked") {
			t.Errorf("second run:\n%s", &out)
		}
	})
}
