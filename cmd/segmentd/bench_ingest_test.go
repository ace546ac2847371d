package main

import (
	"bytes"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestBenchIngestRealisticSmall runs "segmentd bench ingest --realistic" at
// a small size (2,000 contacts on 3 of 10 lists, 20,000 events: seconds)
// on each store and checks that every row of the summary table holds a
// plausible figure. The bench itself checks what the server holds: every
// contact, each list's members, the jobs' record counts, the segment's
// 50-contact sample.
func TestBenchIngestRealisticSmall(t *testing.T) {
	t.Setenv(asBinaryEnv, "1")
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		args := []string{"bench", "ingest", "--realistic", "--contacts", "2000", "--lists", "10", "--events", "20000",
			"--requests", "20", "--batch", "500", "--data", st.dir}
		var out, errb bytes.Buffer
		if err := run(t.Context(), append(args, st.args()...), nil, nil, &out, &errb); err != nil {
			t.Fatalf("bench ingest --realistic: %v\nstdout:\n%s\nstderr:\n%s", err, &out, &errb)
		}
		t.Logf("\n%s", &out)
		text := out.String()
		for _, want := range []string{"contacts: 6000 records (2000 contacts) completed in ", "upserts: 6000 records in ", "events: 20000 in requests of 1000",
			"store: ", "    contacts ", "    event" /* events, or event_rows on SQLite */, "      (table) "} {
			if !strings.Contains(text, want) {
				t.Errorf("output lacks %q", want)
			}
		}
		if runtime.GOOS == "linux" && !strings.Contains(text, "server CPU over the contacts: ") {
			t.Errorf("output lacks the server's CPU time over the contacts")
		}
		if st.url == "" && !strings.Contains(text, "  file segmentd.db ") {
			t.Errorf("output lacks the SQLite file's size")
		}
		// Each row of the summary: the figure's numbers, and the range
		// they must fall in.
		number := `([\d,]+(?:\.\d+)?)`
		for _, row := range []struct {
			measure, figure string
			lo, hi          float64
		}{
			{"contact records through the API until completed", number + `/s \(` + number + ` s\)`, 0.01, 1e7},
			{"202 latency under that load, p99", number + ` ms`, 0.01, 60_000},
			{"events through the Event Webhook, \\d in flight", number + `/s`, 1, 1e7},
			{"segment GET with 50-contact sample, p50", number + ` ms`, 0.01, 10_000},
			{"contacts/count, list count, p50", number + ` ms, ` + number + ` ms`, 0.01, 10_000},
			{"data directory after shutdown", number + ` MiB`, 1, 1000},
			{"server peak RSS", number + ` MiB`, 5, 4000},
			{"engine rebuild without snapshot", number + ` s`, 0.001, 60},
		} {
			m := regexp.MustCompile(`\| ` + row.measure + `\s+\| ` + row.figure + `\s+\| `).FindStringSubmatch(text)
			if m == nil {
				t.Errorf("summary lacks the row %q with a figure", row.measure)
				continue
			}
			for _, s := range m[1:] {
				v, err := strconv.ParseFloat(strings.ReplaceAll(s, ",", ""), 64)
				if err != nil || v < row.lo || v > row.hi {
					t.Errorf("%s: %s, want between %g and %g", row.measure, s, row.lo, row.hi)
				}
			}
		}
	})
}
