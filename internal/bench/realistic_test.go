package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

func testGen(seed uint64) *realisticGen {
	g := &realisticGen{realistic: realistic{contacts: 2000, fields: 5, lists: 7, perContact: 3, batch: 150, seed: seed},
		fieldIDs: []string{"w1", "n2", "d3", "w4", "n5"}}
	for l := range g.lists {
		g.listIDs = append(g.listIDs, fmt.Sprint("L", l))
	}
	return g
}

// TestRealisticBodies checks the requests a SendGrid client must send:
// each contact once in full with its first list, then once per other list
// with its email only, grouped by list, within the count and byte limits.
func TestRealisticBodies(t *testing.T) {
	g := testGen(9)
	// Full records (about 250 bytes) fill 20,000 bytes before 150 contacts;
	// emails only (about 30) reach 150 contacts first.
	const maxBytes = 20_000
	bodies := g.bodies(maxBytes)
	full := map[string]int{}    // email: the list it came in full with
	lists := map[string][]int{} // email: every list it came with
	var byBytes, byCount, partial bool
	seenMembership := false
	for n, b := range bodies {
		var v struct {
			ListIDs  []string                     `json:"list_ids"`
			Contacts []map[string]json.RawMessage `json:"contacts"`
		}
		if err := json.Unmarshal(b.body, &v); err != nil {
			t.Fatalf("body %d is not JSON: %v", n, err)
		}
		if len(b.body) > maxBytes || len(v.Contacts) > g.batch || len(v.Contacts) != b.contacts || len(v.Contacts) == 0 || len(v.ListIDs) != 1 {
			t.Fatalf("body %d: %d bytes, %d contacts (says %d), lists %v; want at most %d bytes and %d contacts, one list",
				n, len(b.body), len(v.Contacts), b.contacts, v.ListIDs, maxBytes, g.batch)
		}
		l := slices.Index(g.listIDs, v.ListIDs[0])
		if b.full && seenMembership {
			t.Fatalf("body %d: full records after membership-only ones", n)
		}
		seenMembership = seenMembership || !b.full
		for _, c := range v.Contacts {
			var email string
			if err := json.Unmarshal(c["email"], &email); err != nil {
				t.Fatal(err)
			}
			if b.full {
				var custom map[string]json.RawMessage
				if err := json.Unmarshal(c["custom_fields"], &custom); err != nil || len(custom) != g.fields || c["first_name"] == nil {
					t.Fatalf("body %d: full record %s lacks its fields", n, c)
				}
				if _, dup := full[email]; dup {
					t.Fatalf("%s sent in full twice", email)
				}
				full[email] = l
			} else if len(c) != 1 {
				t.Fatalf("body %d: membership-only record %s holds more than the email", n, c)
			}
			lists[email] = append(lists[email], l)
		}
		switch {
		case b.full && len(b.body) > maxBytes-400:
			byBytes = true
		case !b.full && b.contacts == g.batch:
			byCount = true
		case !b.full:
			partial = true
		}
	}
	if !byBytes || !byCount || !partial {
		t.Errorf("limits reached: by bytes %v, by count %v, a list's last request %v; want all", byBytes, byCount, partial)
	}
	if len(full) != g.contacts {
		t.Fatalf("%d contacts sent in full, want %d", len(full), g.contacts)
	}
	for i := range g.contacts {
		email := genEmail(i)
		want := g.memberships(i, nil)
		if full[email] != want[0] {
			t.Errorf("%s came in full with list %d, want its first, %d", email, full[email], want[0])
		}
		got := lists[email]
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) || len(slices.Compact(slices.Clone(want))) != g.perContact {
			t.Errorf("%s came with lists %v, want %v (%d distinct)", email, got, want, g.perContact)
		}
	}

	same, other := testGen(9).bodies(maxBytes), testGen(10).bodies(maxBytes)
	if !slices.EqualFunc(bodies, same, func(a, b upsertBody) bool { return bytes.Equal(a.body, b.body) }) {
		t.Error("the same seed gave other bodies")
	}
	if bytes.Equal(bodies[0].body, other[0].body) {
		t.Error("another seed gave the same first body")
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Unix(1000, 0)
	for _, tt := range []struct {
		h    http.Header
		want time.Duration
	}{
		{http.Header{"Retry-After": {"2"}}, 2 * time.Second},
		{http.Header{"X-Ratelimit-Reset": {"1003"}}, 3 * time.Second},
		{http.Header{"X-Ratelimit-Reset": {"999"}}, 10 * time.Millisecond},
		{http.Header{"Retry-After": {"3600"}}, time.Minute},
		{http.Header{}, 100 * time.Millisecond},
	} {
		if got := retryAfter(tt.h, now); got != tt.want {
			t.Errorf("retryAfter(%v) = %s, want %s", tt.h, got, tt.want)
		}
	}
}

// TestIngestFlags checks the flags' errors, which come before any server
// starts.
func TestIngestFlags(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"ingest", "--lists", "3", "--events", "5"}, "--events, --lists only with --realistic"},
		{[]string{"ingest", "--realistic", "--lists", "3", "--lists-per-contact", "4"}, "--lists-per-contact must be 1..--lists"},
		{[]string{"ingest", "--realistic", "--lists-per-contact", "0"}, "--lists-per-contact must be 1..--lists"},
		{[]string{"ingest", "--realistic", "--fields", "501"}, "--fields must be 0..500"},
		{[]string{"ingest", "--realistic", "--event-batch", "10001"}, "--event-batch must be 1..10000"},
		{[]string{"ingest", "--realistic", "--batch", "30001"}, "--batch (1..30000)"},
		{[]string{"ingest", "--realistic", "--requests", "0"}, "--requests must be positive"},
	} {
		err := Run(t.Context(), tt.args, nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("bench %s: %v, want an error with %q", strings.Join(tt.args, " "), err, tt.want)
		}
	}
}

func TestThousands(t *testing.T) {
	for x, want := range map[float64]string{0: "0", 999.4: "999", 1000: "1,000", 7986.2: "7,986", 1234567: "1,234,567", -47419: "-47,419"} {
		if got := thousands(x); got != want {
			t.Errorf("thousands(%v) = %q, want %q", x, got, want)
		}
	}
}
