package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentd/segmentd/hooks"
	"github.com/segmentd/segmentd/internal/facetest"
)

// TestWebhooksRandomized drives the real binary, on every store, through
// a random sequence of contact writes, engagement events, moves of the dev
// clock, edits of a segment's query, receiver outages (500s, then
// timeouts, then back) and kill -9 between operations, with a receiver on
// loopback that checks every message's signature. At the end, once the
// receiver is back, what it was delivered (de-duplicated by transition
// id) must be complete and in order: per segment and contact, entries and
// exits alternate, and the state they end in is the engine's membership
// now.
//
// Every run takes a random seed, logged (SEGMENTD_TEST_SEED=<seed> replays
// it) and makes a number of operations: a short round of 12 in every test
// run and in CI, 30 with SEGMENTD_TEST_RANDOMIZED=1 (a seed makes the same
// first operations whatever the number), or SEGMENTD_TEST_STEPS=<n>.
func TestWebhooksRandomized(t *testing.T) {
	steps := 12
	if os.Getenv("SEGMENTD_TEST_RANDOMIZED") == "1" {
		steps = 30
	}
	if n, err := strconv.Atoi(os.Getenv("SEGMENTD_TEST_STEPS")); err == nil && n > 0 {
		steps = n
	}
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		seed := uint64(time.Now().UnixNano())
		if v, err := strconv.ParseUint(os.Getenv("SEGMENTD_TEST_SEED"), 10, 64); err == nil {
			seed = v
		}
		t.Logf("seed %d (SEGMENTD_TEST_SEED), %d steps (SEGMENTD_TEST_STEPS)", seed, steps)
		rng := rand.New(rand.NewPCG(seed, 1))
		const key = "SG.randomized-key"
		clock := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		began := clock
		start := func() (liveServer, interface{ Signal(os.Signal) error }, func()) {
			s, cmd := st.start(t, bin, key, "--dev", "--dev-clock", clock.Format(time.RFC3339), "--webhook-timeout", "1s")
			return s, cmd.Process, func() { _ = cmd.Wait() }
		}
		s, proc, wait := start()
		rc := newRandomReceiver(t)
		segs := map[string]string{}
		segs["country"] = mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0", `{"name":"country","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"}`, 201)["id"].(string)
		segs["opened"] = mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0", `{"name":"opened","query_dsl":"SELECT c.contact_id, c.updated_at FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' AND e.event_timestamp > timestampadd(day, -2, current_timestamp)"}`, 201)["id"].(string)
		sub := rc.subscribe(t, s, key)

		setClock := func(at time.Time) {
			clock = at
			if code, out := httpDo(t, "POST", s.url+"/admin/clock", fmt.Sprintf(`{"now":%q}`, at.Format(time.RFC3339Nano)), nil); code != 200 {
				t.Fatalf("POST /admin/clock: %d %s", code, out)
			}
			// The server notes its clock every second; a kill before the
			// note would make the clock's transitions again at the start.
			want := at.UTC().Format(time.RFC3339Nano)
			facetest.Poll(t, "the clock noted", func() bool {
				b, _ := os.ReadFile(filepath.Join(st.dir, "clock"))
				return strings.TrimSpace(string(b)) == want
			})
		}
		// passBackoff moves the clock past the longest backoff until the
		// receiver has every transition the history holds. An attempt
		// under way while the clock moves (one the receiver's timeout mode
		// holds for a second) fails after the move, and its retry is due a
		// backoff past the moved clock, which is frozen: the clock moves
		// again a few seconds on. (The last logged attempt is no sign: an
		// attempt under way is logged when it ends.)
		passBackoff := func(s liveServer) {
			moved := time.Time{}
			facetest.Poll(t, "every transition of the history delivered", func() bool {
				if time.Since(moved) > 3*time.Second {
					setClock(clock.Add(61 * time.Minute))
					moved = time.Now()
				}
				return rc.has(historyIDs(t, s, key, segs, began, clock))
			})
		}
		countries := []string{"US", "DE", "FR"}
		events := 0
		var ops []string
		for range steps {
			switch op := rng.IntN(8); {
			case op <= 2:
				c := rng.IntN(8)
				country := countries[rng.IntN(len(countries))]
				ops = append(ops, fmt.Sprintf("upsert c%d %s", c, country))
				runJob(t, s, key, "PUT", "/v3/marketing/contacts", fmt.Sprintf(`{"contacts":[{"email":"c%d@example.com","country":%q}]}`, c, country))
			case op == 3:
				c := rng.IntN(8)
				events++
				ops = append(ops, fmt.Sprintf("open c%d", c))
				body := fmt.Sprintf(`[{"email":"c%d@example.com","event":"open","timestamp":%d,"sg_event_id":"ev%d"}]`, c, clock.Unix(), events)
				if code, out := httpDo(t, "POST", s.url+"/webhooks/sendgrid/events", body, map[string]string{"Authorization": "Bearer " + key, "Content-Type": "application/json"}); code != 200 {
					t.Fatalf("events: %d %s", code, out)
				}
			case op == 4 && rc.mode() == "up":
				// While the receiver is down the clock stands still, so
				// that its failures never reach the 24 h retry horizon.
				// Before the clock moves further, it passes the longest
				// backoff and the retry that follows succeeds: a move of
				// a day past a failure the worker has not yet retried
				// would mark the subscription failing, rightly (the
				// horizon counts from the first failure), and the test
				// would only see deliveries stop.
				d := time.Duration(rng.IntN(36)) * time.Hour
				ops = append(ops, fmt.Sprintf("clock +%v", d))
				passBackoff(s)
				setClock(clock.Add(d))
			case op == 5:
				country := countries[rng.IntN(len(countries))]
				ops = append(ops, "segment country = "+country)
				mustCall(t, s, key, "PATCH", "/v3/marketing/segments/2.0/"+segs["country"], `{"query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = '`+country+`'"}`, 200)
			case op == 6:
				next := map[string]string{"up": "500", "500": "timeout", "timeout": "up"}[rc.mode()]
				ops = append(ops, "receiver "+next)
				rc.setMode(next)
			default:
				ops = append(ops, "kill -9")
				if err := proc.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				wait()
				s, proc, wait = start()
			}
		}
		t.Logf("operations: %s", strings.Join(ops, "; "))

		// The receiver comes back; the clock passes the longest backoff.
		rc.setMode("up")
		passBackoff(s)
		truth := func() map[string]map[string]bool {
			out := map[string]map[string]bool{}
			for name, id := range segs {
				out[name] = map[string]bool{}
				m := mustCall(t, s, key, "GET", "/segmentd/v1/segments/sendgrid/"+id+"/history/members?limit=1000&at="+url.QueryEscape(clock.Format(time.RFC3339Nano)), "", 200)
				for _, c := range m["members"].([]any) {
					out[name][c.(map[string]any)["email"].(string)] = true
				}
			}
			return out
		}
		var derived map[string]map[string]bool
		var want map[string]map[string]bool
		names := map[string]string{segs["country"]: "country", segs["opened"]: "opened"}
		ok := false
		deadline := time.Now().Add(2 * time.Minute)
		for !ok && time.Now().Before(deadline) {
			want = truth()
			var err error
			derived, err = rc.derive(names)
			if err != nil {
				t.Fatalf("%v\noperations: %s", err, strings.Join(ops, "; "))
			}
			ok = fmt.Sprint(derived) == fmt.Sprint(want)
			if !ok {
				time.Sleep(50 * time.Millisecond)
			}
		}
		if !ok {
			subID := sub["id"].(string)
			t.Logf("subscription %v", mustCall(t, s, key, "GET", "/segmentd/v1/webhooks/"+subID, "", 200))
			t.Logf("deliveries %v", mustCall(t, s, key, "GET", "/segmentd/v1/webhooks/"+subID+"/deliveries?limit=5", "", 200))
			t.Fatalf("delivered transitions end in\n%v\nthe engine's members are\n%v\noperations: %s", derived, want, strings.Join(ops, "; "))
		}
	})
}

// randomReceiver verifies every message, answers by its mode (up: 204;
// 500; timeout: past the server's 1 s timeout) and keeps the transitions
// of the messages it answered 204, by id.
type randomReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	state  string
	ids    []string
	byID   map[string]hooks.TransitionJSON
}

// subscribe creates a subscription of every segment's transitions to the
// receiver on the server at s, gives the receiver its secret, and returns
// the subscription.
func (rc *randomReceiver) subscribe(t *testing.T, s liveServer, key string) map[string]any {
	t.Helper()
	sub := mustCall(t, s, key, "POST", "/segmentd/v1/webhooks", `{"url":"`+rc.srv.URL+`/in"}`, 201)
	rc.setSecret(sub["secret"].(string))
	return sub
}

func newRandomReceiver(t *testing.T) *randomReceiver {
	rc := &randomReceiver{t: t, state: "up", byID: map[string]hooks.TransitionJSON{}}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		secret, mode := rc.secret, rc.state
		rc.mu.Unlock()
		if err := hooks.Verify(secret, r.Header, body, time.Now(), 10*365*24*time.Hour); err != nil {
			t.Errorf("message %s: %v", r.Header.Get("webhook-id"), err)
		}
		switch mode {
		case "500":
			w.WriteHeader(http.StatusInternalServerError)
			return
		case "timeout":
			time.Sleep(1500 * time.Millisecond)
			w.WriteHeader(http.StatusNoContent)
			return
		}
		var m hooks.Message
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("body %s: %v", body, err)
		}
		rc.mu.Lock()
		for _, tr := range m.Data {
			if prev, ok := rc.byID[tr.ID]; ok {
				if prev != tr {
					t.Errorf("transition %s came as %+v and as %+v", tr.ID, prev, tr)
				}
				continue
			}
			rc.byID[tr.ID] = tr
			rc.ids = append(rc.ids, tr.ID)
		}
		rc.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// has reports whether the receiver has every transition of ids.
func (rc *randomReceiver) has(ids []string) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, id := range ids {
		if _, ok := rc.byID[id]; !ok {
			return false
		}
	}
	return true
}

// historyIDs returns the ids of the transitions the history holds for
// segs between from and to.
func historyIDs(t *testing.T, s liveServer, key string, segs map[string]string, from, to time.Time) []string {
	t.Helper()
	var ids []string
	span := "&from=" + url.QueryEscape(from.Add(-time.Hour).Format(time.RFC3339)) + "&to=" + url.QueryEscape(to.Add(time.Hour).Format(time.RFC3339))
	for _, seg := range segs {
		for cursor := ""; ; {
			m := mustCall(t, s, key, "GET", "/segmentd/v1/segments/sendgrid/"+seg+"/history/transitions?limit=1000"+span+cursor, "", 200)
			for _, tr := range m["transitions"].([]any) {
				ids = append(ids, tr.(map[string]any)["id"].(string))
			}
			next, _ := m["next"].(string)
			if next == "" {
				break
			}
			cursor = "&cursor=" + url.QueryEscape(next)
		}
	}
	return ids
}

func (rc *randomReceiver) setSecret(s string) { rc.mu.Lock(); rc.secret = s; rc.mu.Unlock() }
func (rc *randomReceiver) setMode(m string)   { rc.mu.Lock(); rc.state = m; rc.mu.Unlock() }
func (rc *randomReceiver) mode() string       { rc.mu.Lock(); defer rc.mu.Unlock(); return rc.state }

// derive replays the transitions in the order of their numbers: per
// segment and contact, each must change the state (an entry after an
// entry is an order or completeness error). It returns the members each
// segment ends with, by email.
func (rc *randomReceiver) derive(names map[string]string) (map[string]map[string]bool, error) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ids := slices.Clone(rc.ids)
	num := func(id string) int64 {
		n, _ := strconv.ParseInt(id[strings.LastIndex(id, "_")+1:], 10, 64)
		return n
	}
	slices.SortFunc(ids, func(a, b string) int { return int(num(a) - num(b)) })
	out := map[string]map[string]bool{}
	for _, n := range names {
		out[n] = map[string]bool{}
	}
	for _, id := range ids {
		tr := rc.byID[id]
		name := names[tr.Segment.ID]
		in := tr.Type == "segment.entered"
		if out[name][tr.Contact.Email] == in {
			return nil, fmt.Errorf("transition %s (%s %s %s at %s) does not change %s's state", id, tr.Type, name, tr.Contact.Email, tr.Timestamp, tr.Contact.Email)
		}
		if in {
			out[name][tr.Contact.Email] = true
		} else {
			delete(out[name], tr.Contact.Email)
		}
	}
	return out, nil
}
