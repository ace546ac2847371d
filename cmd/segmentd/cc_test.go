package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// ccClient calls the Constant Contact face of a running server.
type ccClient struct {
	t   *testing.T
	url string
	key string
}

func (c ccClient) do(method, path, body, key string) (int, string) {
	c.t.Helper()
	h := map[string]string{}
	if key != "" {
		h["Authorization"] = "Bearer " + key
	}
	if body != "" {
		h["Content-Type"] = "application/json"
	}
	return httpDo(c.t, method, c.url+path, body, h)
}

func (c ccClient) must(method, path, body string, want int) map[string]any {
	c.t.Helper()
	code, out := c.do(method, path, body, c.key)
	if code != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, code, out, want)
	}
	var m map[string]any
	if out != "" {
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, out)
		}
	}
	return m
}

func segmentBody(name, criteria string) string {
	b, _ := json.Marshal(map[string]string{"name": name, "segment_criteria": criteria})
	return string(b)
}

const sentCriteria = `{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"tracking","field":"sent","op":"contains-any","const_value":"campaigns","const_date_value":"last-n-days","date_param":"180"}]}}`

// TestConstantContactThroughTheBinary drives the Constant Contact face of
// the real binary: a read-only key made with the CLI, every operation,
// the statuses a client meets, SendGrid's segment_ids left alone, a
// kill -9 and restart (segments and membership rebuilt from the store),
// and the rate limits of --cc-rate-limits on the --dev clock.
func TestConstantContactThroughTheBinary(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		dir := st.dir
		var out strings.Builder
		if err := run(context.Background(), append([]string{"keys", "create", "--scopes", "constantcontact.read", "--data", dir}, st.args()...), nil, nil, &out, io.Discard); err != nil {
			t.Fatalf("keys create: %v", err)
		}
		if !strings.Contains(out.String(), "with scopes constantcontact.read\n") {
			t.Fatalf("keys create: %q", out.String())
		}
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		readKey := lines[len(lines)-1]

		const key = "SG.cc-test-key"
		s, cmd := st.start(t, bin, key)
		c := ccClient{t: t, url: s.url, key: key}
		runJob(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"a@example.com"},{"email":"b@example.com"},{"email":"c@example.com"}]}`)

		seg := c.must("POST", "/v3/segments", segmentBody("Sent lately", sentCriteria), 201)
		if seg["segment_id"] != float64(1) || seg["segment_criteria"] != sentCriteria {
			t.Fatalf("create: %v", seg)
		}
		c.must("POST", "/v3/segments", segmentBody("Doomed", sentCriteria), 201)
		if code, body := c.do("POST", "/v3/segments", segmentBody("sent LATELY", sentCriteria), key); code != 409 || !strings.Contains(body, `"error_key":"segments.api.conflict"`) {
			t.Fatalf("duplicate name: %d %s", code, body)
		}
		c.must("PUT", "/v3/segments/1", segmentBody("Sent in 180 days", sentCriteria), 200)
		c.must("PATCH", "/v3/segments/2/name", `{"name":"Doomed soon"}`, 200)
		if code, body := c.do("DELETE", "/v3/segments/2", "", key); code != 204 || body != "" {
			t.Fatalf("delete: %d %q", code, body)
		}
		if got := c.must("GET", "/v3/segments/2", "", 200); got["name"] != "Doomed soon" {
			t.Fatalf("deleted segment by id: %v", got)
		}

		// Keys, media types.
		if code, body := c.do("GET", "/v3/segments", "", ""); code != 401 || strings.TrimSpace(body) != `{"error_key":"unauthorized","error_message":"Unauthorized"}` {
			t.Fatalf("no key: %d %q", code, body)
		}
		if code, _ := c.do("GET", "/v3/segments", "", readKey); code != 200 {
			t.Fatalf("read-only key reading: %d", code)
		}
		for _, w := range [][3]string{{"POST", "/v3/segments", segmentBody("x", sentCriteria)}, {"PUT", "/v3/segments/1", segmentBody("x", sentCriteria)}, {"PATCH", "/v3/segments/1/name", `{"name":"x"}`}, {"DELETE", "/v3/segments/1", ""}} {
			if code, body := c.do(w[0], w[1], w[2], readKey); code != 403 || !strings.Contains(body, `"error_key":"access_denied"`) {
				t.Fatalf("read-only key %s %s: %d %s", w[0], w[1], code, body)
			}
		}
		if code, body := httpDo(t, "POST", s.url+"/v3/segments", segmentBody("x", sentCriteria), map[string]string{"Authorization": "Bearer " + key, "Content-Type": "text/plain"}); code != 415 {
			t.Fatalf("text/plain body: %d %s", code, body)
		}

		// Members, live; SendGrid's segment_ids never name a CC segment.
		members := c.must("GET", "/v3/contacts?segment_id=1&include_count=true", "", 200)
		count := members["contacts_count"]
		if n := len(members["contacts"].([]any)); float64(n) != count {
			t.Fatalf("members: %d listed, contacts_count %v", n, count)
		}
		found := mustCall(t, s, key, "POST", "/v3/marketing/contacts/search/emails", `{"emails":["a@example.com"]}`, 200)
		if ids := fmt.Sprint(found["result"].(map[string]any)["a@example.com"].(map[string]any)["contact"].(map[string]any)["segment_ids"]); strings.Contains(ids, "cc:") {
			t.Fatalf("segment_ids list a Constant Contact segment: %s", ids)
		}

		// kill -9 and restart: the same segments, the same members.
		before := c.must("GET", "/v3/segments", "", 200)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		s2, _ := st.start(t, bin, key, "--dev", "--cc-rate-limits")
		c2 := ccClient{t: t, url: s2.url, key: key}
		if code, body := httpDo(t, "POST", s2.url+"/admin/clock", `{"now":"2026-03-01T08:00:00Z"}`, nil); code != 200 {
			t.Fatalf("set clock: %d %s", code, body)
		}
		after := c2.must("GET", "/v3/segments", "", 200)
		if fmt.Sprint(before) != fmt.Sprint(after) || len(after["segments"].([]any)) != 1 {
			t.Fatalf("segments changed across a restart:\n%v\n%v", before, after)
		}
		again := c2.must("GET", "/v3/contacts?segment_id=1&include_count=true", "", 200)
		if again["contacts_count"] != count {
			t.Fatalf("members after restart: %v, before %v", again["contacts_count"], count)
		}
		// Two requests so far in this (frozen) second; two more pass, the next is throttled.
		c2.must("GET", "/v3/segments/1", "", 200)
		c2.must("GET", "/v3/segments/2", "", 200)
		if code, body := c2.do("GET", "/v3/segments", "", key); code != 429 || strings.TrimSpace(body) != `{"error_key":"throttled","error_message":"Too Many Requests"}` {
			t.Fatalf("fifth request in a second: %d %q", code, body)
		}
		if code, body := httpDo(t, "POST", s2.url+"/admin/clock", `{"now":"2026-03-01T08:00:01Z"}`, nil); code != 200 {
			t.Fatalf("set clock: %d %s", code, body)
		}
		c2.must("GET", "/v3/segments", "", 200)
	})
}

func TestCCRateLimitsFlagAndEnvironment(t *testing.T) {
	for _, tt := range []struct {
		args []string
		env  []string
		want bool
	}{
		{nil, nil, false},
		{[]string{"--cc-rate-limits"}, nil, true},
		{nil, []string{"SEGMENTD_CC_RATE_LIMITS=1"}, true},
		{[]string{"--cc-rate-limits=false"}, []string{"SEGMENTD_CC_RATE_LIMITS=true"}, false},
	} {
		cfg, err := parseConfig("serve", tt.args, tt.env, io.Discard, io.Discard)
		if err != nil || cfg.ccRateLimits != tt.want {
			t.Errorf("args %v env %v: ccRateLimits = %v (%v), want %v", tt.args, tt.env, cfg.ccRateLimits, err, tt.want)
		}
	}
}

// TestCCTrackingSegmentsThroughTheBinary feeds engagement events through
// the Event Webhook of the real binary and checks that
// GET /v3/contacts?segment_id= lists exactly the contacts each tracking
// criteria names, as the clock moves, as a new campaign arrives, and after
// a kill -9 and restart.
func TestCCTrackingSegmentsThroughTheBinary(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.cc-tracking-key"
		now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		s, cmd := st.start(t, bin, key, "--dev", "--dev-clock", now.Format(time.RFC3339))
		g := &engagement{t: t, s: s, now: now}
		g.upsert([]string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com"})

		seq := 0
		ev := func(email, typ, campaign string, at time.Time) wireEv {
			seq++
			return wireEv{email: email, typ: typ, id: fmt.Sprint("ev", seq), ss: campaign, ts: at.Unix()}
		}
		// Campaigns c1 (40 days ago), c2 (20), c3 (5): newest first c3, c2, c1.
		d40, d20, d5 := now.AddDate(0, 0, -40), now.AddDate(0, 0, -20), now.AddDate(0, 0, -5)
		g.post(batchOf([]wireEv{
			ev("a@example.com", "processed", "c1", d40), ev("a@example.com", "open", "c1", d40.Add(time.Hour)),
			ev("b@example.com", "processed", "c2", d20), ev("b@example.com", "delivered", "c2", d20), ev("b@example.com", "open", "c2", d20.Add(time.Hour)),
			ev("c@example.com", "processed", "c3", d5), ev("c@example.com", "open", "c3", d5.Add(time.Hour)), ev("c@example.com", "click", "c3", d5.Add(2*time.Hour)),
			ev("d@example.com", "processed", "c3", d5), ev("d@example.com", "delivered", "c3", d5),
		}))

		c := ccClient{t: t, url: s.url, key: key}
		tracking := func(field, op, scope string, extra string) string {
			return fmt.Sprintf(`{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"tracking","field":%q,"op":%q,"const_value":%q%s}]}}`, field, op, scope, extra)
		}
		segs := []string{
			tracking("opened", "contains-any", "last-n-campaigns", `,"param":"2"`),                               // 1
			tracking("not_opened", "contains-any", "last-n-campaigns", `,"param":"2"`),                           // 2
			tracking("sent", "contains-any", "campaigns", `,"const_date_value":"last-n-days","date_param":"30"`), // 3
			tracking("clicked", "contains-none", "campaigns", ""),                                                // 4
		}
		for i, crit := range segs {
			c.must("POST", "/v3/segments", segmentBody(fmt.Sprint("segment ", i+1), crit), 201)
		}
		members := func(c ccClient, id int) string {
			t.Helper()
			var emails []string
			path := fmt.Sprintf("/v3/contacts?segment_id=%d&limit=2&include_count=true", id)
			var count any
			for path != "" {
				m := c.must("GET", path, "", 200)
				if count == nil {
					count = m["contacts_count"]
				}
				for _, x := range m["contacts"].([]any) {
					emails = append(emails, strings.TrimSuffix(x.(map[string]any)["email_address"].(map[string]any)["address"].(string), "@example.com"))
				}
				path = ""
				if l, ok := m["_links"].(map[string]any); ok {
					path = l["next"].(map[string]any)["href"].(string)
				}
			}
			sort.Strings(emails)
			if count != float64(len(emails)) {
				t.Errorf("segment %d: contacts_count %v, %d listed", id, count, len(emails))
			}
			return strings.Join(emails, ",")
		}
		check := func(c ccClient, when string, want ...string) {
			t.Helper()
			for i, w := range want {
				if got := members(c, i+1); got != w {
					t.Errorf("%s: segment %d (%s) holds %q, want %q", when, i+1, segs[i], got, w)
				}
			}
		}
		check(c, "at first", "b,c", "d", "b,c,d", "a,b,d,e")

		// 20 days on, b's events are 40 days old: out of the 30-day window.
		now = now.AddDate(0, 0, 20)
		g.setClock(now)
		check(c, "20 days on", "b,c", "d", "c,d", "a,b,d,e")

		// A new campaign c4 (e opens it) makes the last two campaigns c4, c3.
		g.post(batchOf([]wireEv{ev("e@example.com", "processed", "c4", now), ev("e@example.com", "open", "c4", now)}))
		check(c, "after c4", "c,e", "d", "c,d,e", "a,b,d,e")

		// The engine rebuilt from the store agrees.
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		// Started at the test's time: set after the start, the clock would
		// move back, and a time the follower read before could reach the
		// engine after it.
		s2, _ := st.start(t, bin, key, "--dev", "--dev-clock", now.Format(time.RFC3339))
		check(ccClient{t: t, url: s2.url, key: key}, "after a restart", "c,e", "d", "c,d,e", "a,b,d,e")
	})
}

// TestOnBehalfOfOnEveryFaceThroughTheBinary: a parent's key acts as its
// subuser with On-Behalf-Of on the Constant Contact face and the Event
// Webhook as on the SendGrid face, and a name that is not a subuser of the
// key's account is 403 on every face, in that face's envelope.
func TestOnBehalfOfOnEveryFaceThroughTheBinary(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		dir := st.dir
		cli := func(args ...string) string {
			t.Helper()
			var out strings.Builder
			if err := run(context.Background(), append(append(args, "--data", dir), st.args()...), nil, nil, &out, io.Discard); err != nil {
				t.Fatalf("%v: %v", args, err)
			}
			return out.String()
		}
		cli("accounts", "create", "asub", "--parent", "default")
		cli("accounts", "create", "bravo")
		lines := strings.Split(strings.TrimSpace(cli("keys", "create", "--account", "asub")), "\n")
		subKey := lines[len(lines)-1]

		const key = "SG.obo-test-key"
		s, _ := st.start(t, bin, key)
		as := func(method, path, body, onBehalfOf string) (int, string) {
			t.Helper()
			h := map[string]string{"Authorization": "Bearer " + key, "On-Behalf-Of": onBehalfOf}
			if body != "" {
				h["Content-Type"] = "application/json"
			}
			return httpDo(t, method, s.url+path, body, h)
		}
		parent := ccClient{t: t, url: s.url, key: key}
		sub := ccClient{t: t, url: s.url, key: subKey}

		// Constant Contact: the segment is created in the subuser's account.
		if code, body := as("POST", "/v3/segments", segmentBody("For asub", sentCriteria), "asub"); code != 201 {
			t.Fatalf("create on behalf of asub: %d %s", code, body)
		}
		if got := sub.must("GET", "/v3/segments", "", 200)["segments"].([]any); len(got) != 1 {
			t.Fatalf("asub's segments: %v", got)
		}
		if got := parent.must("GET", "/v3/segments", "", 200)["segments"].([]any); len(got) != 0 {
			t.Fatalf("the parent's segments: %v", got)
		}

		// The Event Webhook: the event is the subuser's.
		runJob(t, liveServer{url: s.url, key: subKey}, subKey, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"a@example.com"}]}`)
		opened := mustCall(t, s, subKey, "POST", "/v3/marketing/segments/2.0", `{"name":"opened","query_dsl":"SELECT c.contact_id, c.updated_at FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.event_type = 'open'"}`, 201)["id"].(string)
		events := `[{"email":"a@example.com","timestamp":1700000000,"event":"open","sg_event_id":"obo-1"}]`
		if code, body := as("POST", "/webhooks/sendgrid/events", events, "asub"); code != 200 || !strings.Contains(body, `"stored":1`) || !strings.Contains(body, `"unmatched":0`) {
			t.Fatalf("events on behalf of asub: %d %s", code, body)
		}
		if n := mustCall(t, s, subKey, "GET", "/v3/marketing/segments/2.0/"+opened, "", 200)["contacts_count"]; n != float64(1) {
			t.Fatalf("asub's opened segment counts %v, want 1", n)
		}

		// Not a subuser: 403 on every face, each in its own envelope.
		for _, tc := range []struct{ face, method, path, body, want string }{
			{"SendGrid", "GET", "/v3/marketing/lists", "", `"field":"on-behalf-of"`},
			{"Constant Contact", "POST", "/v3/segments", segmentBody("Refused", sentCriteria), `"error_key":"access_denied"`},
			{"Constant Contact", "GET", "/v3/segments", "", `"error_key":"access_denied"`},
			{"Event Webhook", "POST", "/webhooks/sendgrid/events", strings.ReplaceAll(events, "obo-1", "obo-2"), `"field":"on-behalf-of"`},
		} {
			code, body := as(tc.method, tc.path, tc.body, "bravo")
			if code != 403 || !strings.Contains(body, tc.want) || !strings.Contains(body, "not a subuser of this account") {
				t.Errorf("%s %s %s on behalf of bravo: %d %s, want 403 with %s", tc.face, tc.method, tc.path, code, body, tc.want)
			}
		}
		if got := parent.must("GET", "/v3/segments", "", 200)["segments"].([]any); len(got) != 0 {
			t.Errorf("a refused create made a segment for the parent: %v", got)
		}
	})
}
