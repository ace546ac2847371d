package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd/internal/facetest"
	"github.com/segmentd/segmentd/query"
)

// httpDo sends a request with the given headers (and no others but a
// JSON Content-Type with a body) and returns status and body.
func httpDo(t *testing.T, method, url, body string, hdr map[string]string) (int, string) {
	t.Helper()
	rq := facetest.Request{Method: method, Header: hdr}
	if body != "" {
		rq.Body = body
	}
	r, err := facetest.Send(url, "", rq)
	if err != nil {
		t.Fatal(err)
	}
	return r.Status, string(r.Body)
}

type hookResponse struct {
	Received, Stored, Duplicates, Unmatched, Rejected int
	Errors                                            []struct {
		Index   int
		Message string
	}
}

// engagement drives the real binary: what it needs to post events and read
// segments.
type engagement struct {
	t    *testing.T
	s    liveServer
	priv *ecdsa.PrivateKey // signs when set
	now  time.Time         // the server's (dev) clock, for signatures
}

func (g *engagement) signed(body string, ts time.Time) map[string]string {
	h := map[string]string{"Authorization": "Bearer " + g.s.key, "Content-Type": "application/json"}
	if g.priv != nil {
		tss := strconv.FormatInt(ts.Unix(), 10)
		sum := sha256.Sum256([]byte(tss + body))
		sig, err := ecdsa.SignASN1(rand.Reader, g.priv, sum[:])
		if err != nil {
			g.t.Fatal(err)
		}
		h["X-Twilio-Email-Event-Webhook-Signature"] = base64.StdEncoding.EncodeToString(sig)
		h["X-Twilio-Email-Event-Webhook-Timestamp"] = tss
	}
	return h
}

func (g *engagement) post(body string) hookResponse {
	g.t.Helper()
	code, out := httpDo(g.t, "POST", g.s.url+"/webhooks/sendgrid/events", body, g.signed(body, g.now))
	if code != 200 {
		g.t.Fatalf("webhook: %d %s", code, out)
	}
	var r hookResponse
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		g.t.Fatal(err)
	}
	return r
}

func (g *engagement) must(method, path, body string, want int) map[string]any {
	g.t.Helper()
	return mustCall(g.t, g.s, g.s.key, method, path, body, want)
}

func (g *engagement) upsert(emails []string) {
	g.t.Helper()
	var cs []string
	for _, e := range emails {
		cs = append(cs, fmt.Sprintf(`{"email":%q}`, e))
	}
	runJob(g.t, g.s, g.s.key, "PUT", "/v3/marketing/contacts", `{"contacts":[`+strings.Join(cs, ",")+`]}`)
}

func (g *engagement) setClock(t time.Time) {
	g.t.Helper()
	code, out := httpDo(g.t, "POST", g.s.url+"/admin/clock", fmt.Sprintf(`{"now":%q}`, t.Format(time.RFC3339Nano)), nil)
	if code != 200 {
		g.t.Fatalf("POST /admin/clock: %d %s", code, out)
	}
	g.now = t
}

// wireEv is an event as the test generates it and as the evaluator sees it.
type wireEv struct {
	email, typ, id, url, ss string
	ts                      int64 // unix seconds
}

func (e wireEv) json() string {
	return fmt.Sprintf(`{"email":%q,"timestamp":%d,"event":%q,"sg_event_id":%q,"sg_message_id":"msg.%s","url":%q,"singlesend_id":%q,"category":["a","b"],"ip":"10.0.0.1","useragent":"UA","tls":1,"asm_group_id":3,"mc_stats":"singlesend","unique_arg":"x"}`,
		e.email, e.ts, e.typ, e.id, e.id, e.url, e.ss)
}

func batchOf(evs []wireEv) string {
	parts := make([]string, len(evs))
	for i, e := range evs {
		parts[i] = e.json()
	}
	return "[" + strings.Join(parts, ",") + "]"
}

var eventTypes = []string{"processed", "delivered", "deferred", "dropped", "bounce", "open", "click", "spamreport", "unsubscribe", "group_unsubscribe", "group_resubscribe"}

// TestEngagementThroughTheBinary posts signed Event Webhook batches of every
// type (out of order, redelivered, with malformed events and unknown
// emails) to the real binary, and checks engagement segments of both
// dialects against the Go evaluator over all contacts and events.
func TestEngagementThroughTheBinary(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		dir := st.dir
		// The clock starts at the test's date (--dev-clock): set after the
		// start, a time read before the set could reach the engine after
		// it (a shared store's follower), moving its segments forward.
		now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		s, _ := st.start(t, bin, "SG.engagement-test-key", "--dev", "--dev-clock", now.Format(time.RFC3339), "--legacy-v1-writes")
		g := &engagement{t: t, s: s, now: now}

		// A verification key, set with the CLI while the server runs.
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, _ := x509.MarshalPKIXPublicKey(&priv.PublicKey)
		var out strings.Builder
		if err := run(context.Background(), append([]string{"accounts", "set-webhook-key", "default", "--key", base64.StdEncoding.EncodeToString(der), "--data", dir}, st.args()...), nil, nil, &out, io.Discard); err != nil {
			t.Fatalf("set-webhook-key: %v", err)
		}
		g.priv = priv

		// Signature checks.
		probe := batchOf([]wireEv{{email: "probe@example.com", typ: "open", id: "probe", ts: now.Unix()}})
		hookURL := s.url + "/webhooks/sendgrid/events"
		bearer := map[string]string{"Authorization": "Bearer " + s.key}
		if code, body := httpDo(t, "POST", hookURL, probe, bearer); code != 403 {
			t.Fatalf("unsigned with a key configured: %d %s", code, body)
		}
		stale := g.signed(probe, now.Add(-11*time.Minute))
		if code, body := httpDo(t, "POST", hookURL, probe, stale); code != 403 {
			t.Fatalf("stale signature: %d %s", code, body)
		}
		bad := g.signed(probe, now)
		if code, body := httpDo(t, "POST", hookURL, strings.Replace(probe, "open", "click", 1), bad); code != 403 {
			t.Fatalf("tampered body: %d %s", code, body)
		}
		basic := g.signed(probe, now)
		delete(basic, "Authorization")
		req, _ := http.NewRequest("POST", hookURL, strings.NewReader(probe))
		for k, v := range basic {
			req.Header.Set(k, v)
		}
		req.SetBasicAuth("sendgrid", s.key)
		if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
			t.Fatalf("signed, Basic auth: %v %v", resp, err)
		}

		// Contacts, and events for them and for emails with no contact yet.
		const nContacts, nUnknown, nEvents = 80, 10, 1200
		var contacts, unknown []string
		for i := 0; i < nContacts; i++ {
			contacts = append(contacts, fmt.Sprintf("c%03d@example.com", i))
		}
		for i := 0; i < nUnknown; i++ {
			unknown = append(unknown, fmt.Sprintf("later%02d@example.com", i))
		}
		g.upsert(contacts)
		rng := mrand.New(mrand.NewPCG(5, 5))
		var evs []wireEv
		for i := 0; i < nEvents; i++ {
			email := contacts[rng.IntN(nContacts)]
			if rng.IntN(10) == 0 {
				email = unknown[rng.IntN(nUnknown)]
			}
			e := wireEv{email: email, typ: eventTypes[rng.IntN(len(eventTypes))], id: fmt.Sprintf("ev-%05d", i),
				ts: now.Add(-time.Duration(rng.Int64N(int64(40 * 24 * time.Hour)))).Unix()}
			if e.typ == "click" {
				e.url = fmt.Sprintf("https://example.com/p%d", rng.IntN(3))
			}
			if rng.IntN(2) == 0 {
				e.ss = fmt.Sprintf("ss-%d", rng.IntN(3))
			}
			evs = append(evs, e)
		}
		// Batches in shuffled order (events arrive out of order), one batch
		// redelivered, one with malformed events in it.
		var stored, dup, rejected int
		batches := [][]wireEv{}
		for i := 0; i < len(evs); i += 100 {
			batches = append(batches, evs[i:i+100])
		}
		rng.Shuffle(len(batches), func(i, j int) { batches[i], batches[j] = batches[j], batches[i] })
		for i, b := range batches {
			body := batchOf(b)
			if i == 3 {
				body = "[" + `{"email":"c001@example.com","event":"open"},` + body[1:len(body)-1] + `,{"email":"c002@example.com","timestamp":"x","event":"open"}]`
			}
			r := g.post(body)
			stored, dup, rejected = stored+r.Stored, dup+r.Duplicates, rejected+r.Rejected
		}
		r := g.post(batchOf(batches[0]))
		if r.Stored != 0 || r.Duplicates != len(batches[0]) {
			t.Fatalf("redelivered batch: %+v", r)
		}
		if stored != nEvents || dup != 0 || rejected != 2 {
			t.Fatalf("stored %d, duplicates %d, rejected %d; want %d, 0, 2", stored, dup, rejected, nEvents)
		}
		// Half the unknown emails become contacts: their events count.
		g.upsert(unknown[:nUnknown/2])
		known := append(append([]string{}, contacts...), unknown[:nUnknown/2]...)

		sqlSegs := map[string]string{
			"opened 7d":          "SELECT c.contact_id, c.updated_at FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' AND e.event_timestamp > timestampadd(day, -7, current_timestamp)",
			"never clicked":      "SELECT contact_id, updated_at FROM contact_data WHERE contact_id NOT IN (SELECT contact_id FROM event_data WHERE event_type = 'click')",
			"last open old":      "SELECT c.contact_id, c.updated_at, MAX(e.event_timestamp) AS last_open FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.event_type = 'opened' GROUP BY c.contact_id HAVING MAX(e.event_timestamp) < timestampadd(day, -20, current_timestamp)",
			"clicked p1 in ss0":  "SELECT c.contact_id, c.updated_at FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.event_type = 'click' AND e.url = 'https://example.com/p1' AND e.singlesend_id = 'ss-0'",
			"sent, never opened": "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'delivered') AND contact_id NOT IN (SELECT contact_id FROM event_data WHERE event_type = 'open')",
		}
		for _, typ := range eventTypes {
			sqlSegs["type "+typ] = "SELECT c.contact_id, c.updated_at FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.event_type = '" + typ + "' AND e.event_timestamp >= timestampadd(day, -30, current_timestamp)"
		}
		v1Segs := map[string]string{
			"v1 opened 7d":  "(event_source = 'mail' AND event_type = 'open' AND event_timestamp >= NOW() - INTERVAL 7 DAY)",
			"v1 clicked 3d": "(event_source = 'mail' AND event_type = 'click' AND event_timestamp >= NOW() - INTERVAL 3 DAY) OR (event_type = 'bounce')",
		}
		// The Go evaluator over every contact and its (deduplicated, valid)
		// events.
		byEmail := map[string][]query.Event{}
		for _, e := range evs {
			byEmail[e.email] = append(byEmail[e.email], query.Event{Source: "mail", Type: e.typ, Timestamp: e.ts * 1000, URL: e.url, SinglesendID: e.ss})
		}
		cat, err := query.NewCatalog(nil)
		if err != nil {
			t.Fatal(err)
		}
		evaluate := func(lang query.Lang, src string) int {
			q, err := query.Parse(lang, src)
			if err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			ch, err := query.Check(q, cat)
			if err != nil {
				t.Fatalf("%s: %v", src, err)
			}
			p := query.Compile(ch)
			n := 0
			for _, email := range known {
				if p.Match(&query.Record{ID: email, Events: byEmail[email]}, now) {
					n++
				}
			}
			return n
		}
		check := func(name string, got any, want int) {
			t.Helper()
			if got != float64(want) {
				t.Errorf("segment %q: contacts_count %v, the evaluator says %d", name, got, want)
			}
		}
		nonzero := 0
		for name, src := range sqlSegs {
			b, _ := json.Marshal(map[string]string{"name": name, "query_dsl": src})
			seg := g.must("POST", "/v3/marketing/segments/2.0", string(b), 201)
			want := evaluate(query.SQL, src)
			check(name, seg["contacts_count"], want)
			got := g.must("GET", "/v3/marketing/segments/2.0/"+seg["id"].(string), "", 200)
			check(name, got["contacts_count"], want)
			if want > 0 {
				nonzero++
			}
		}
		for name, src := range v1Segs {
			b, _ := json.Marshal(map[string]string{"name": name, "query_dsl": src})
			seg := g.must("POST", "/v3/marketing/segments", string(b), 201)
			got := g.must("GET", "/v3/marketing/segments/"+seg["id"].(string), "", 200)
			check(name, got["contacts_count"], evaluate(query.SGQL, src))
		}
		// Contacts search takes the same SGQL engagement conditions.
		searches := []string{"event_source = 'mail' AND event_type = 'open' AND event_timestamp >= (NOW() - interval 30 day)"}
		for _, src := range v1Segs {
			searches = append(searches, src)
		}
		for _, src := range searches {
			b, _ := json.Marshal(map[string]string{"query": src})
			got := g.must("POST", "/v3/marketing/contacts/search", string(b), 200)
			if want := evaluate(query.SGQL, src); got["contact_count"] != float64(want) || want == 0 {
				t.Errorf("search %q: contact_count %v, the evaluator says %d", src, got["contact_count"], want)
			}
		}
		if nonzero < len(sqlSegs)-1 {
			t.Fatalf("only %d of %d segments have members: the data does not exercise them", nonzero, len(sqlSegs))
		}
	})
}

// TestDevClockMovesWindows: with --dev, a contact leaves "opened in the
// last 7 days" exactly when its last open becomes 7 days old, and moving
// the clock back brings it back. Without --dev there is no /admin.
func TestDevClockMovesWindows(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		start := time.Date(2025, 1, 10, 8, 30, 0, 0, time.UTC)
		s, _ := st.start(t, bin, "SG.clock-test-key", "--dev", "--dev-clock", start.Format(time.RFC3339))
		g := &engagement{t: t, s: s, now: start}
		code, body := httpDo(t, "GET", s.url+"/admin/clock", "", nil)
		if code != 200 || !strings.Contains(body, `"now":"2025-01-10T08:30:00.000Z"`) || !strings.Contains(body, `"frozen":true`) {
			t.Fatalf("GET /admin/clock: %d %s", code, body)
		}
		g.upsert([]string{"a@example.com", "b@example.com"})
		lastOpen := start.Add(-26 * time.Hour)
		g.post(batchOf([]wireEv{
			{email: "a@example.com", typ: "open", id: "a1", ts: lastOpen.Add(-48 * time.Hour).Unix()},
			{email: "a@example.com", typ: "open", id: "a2", ts: lastOpen.Unix()},
			{email: "b@example.com", typ: "open", id: "b1", ts: start.Add(-time.Hour).Unix()},
		}))
		seg := g.must("POST", "/v3/marketing/segments/2.0", `{"name":"opened 7d","query_dsl":"SELECT c.contact_id, c.updated_at FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' AND e.event_timestamp > timestampadd(day, -7, current_timestamp)"}`, 201)
		id := seg["id"].(string)
		count := func() float64 {
			return g.must("GET", "/v3/marketing/segments/2.0/"+id, "", 200)["contacts_count"].(float64)
		}
		inSegment := func(email string) bool {
			res := g.must("POST", "/v3/marketing/contacts/search/emails", `{"emails":["`+email+`"]}`, 200)
			ids := res["result"].(map[string]any)[email].(map[string]any)["contact"].(map[string]any)["segment_ids"].([]any)
			return len(ids) == 1
		}
		boundary := lastOpen.Add(7 * 24 * time.Hour)
		steps := []struct {
			at    time.Time
			want  float64
			aIn   bool
			label string
		}{
			{start, 2, true, "start"},
			{boundary.Add(-time.Millisecond), 2, true, "1 ms before a's last open turns 7 days old"},
			{boundary, 1, false, "a's last open is 7 days old"},
			{boundary.Add(-time.Millisecond), 2, true, "clock moved back"},
			{start.Add(30 * 24 * time.Hour), 0, false, "a month later"},
		}
		for _, st := range steps {
			g.setClock(st.at)
			if got := count(); got != st.want {
				t.Fatalf("%s (%s): contacts_count %v, want %v", st.label, st.at.Format(time.RFC3339Nano), got, st.want)
			}
			if got := inSegment("a@example.com"); got != st.aIn {
				t.Fatalf("%s: a@example.com in segment_ids = %v, want %v", st.label, got, st.aIn)
			}
		}

		// Without --dev the admin endpoints do not exist.
		plain, _ := startInProcess(t, []string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--api-key", "SG.x"}, nil)
		if code, body := httpDo(t, "POST", plain.url+"/admin/clock", `{"now":"2025-01-01T00:00:00Z"}`, nil); code != 404 {
			t.Fatalf("POST /admin/clock without --dev: %d %s", code, body)
		}
	})
}

// TestEventsLoad loads NDJSON with `segmentd events load` and checks what a
// server then started on the store counts: the SQLite file in the data
// directory, or the PostgreSQL database, which leaves --data empty and
// takes a load beside a running server, whose segments then count it.
func TestEventsLoad(t *testing.T) {
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		dir := st.dir
		now := time.Now().UTC()
		// opens is NDJSON: opens id<from> to id<to-1>, of u<first> to
		// u<first+users-1> in turn.
		opens := func(from, to, first, users int) string {
			var b strings.Builder
			for i := from; i < to; i++ {
				fmt.Fprintln(&b, wireEv{email: fmt.Sprintf("u%d@example.com", first+i%users), typ: "open", id: fmt.Sprintf("id%d", i), ts: now.Add(-time.Duration(i-from) * time.Hour).Unix()}.json())
			}
			return b.String()
		}
		ndjson := opens(0, 250, 0, 50) + "\n{\"email\":\"x@example.com\"}\n"
		file := filepath.Join(t.TempDir(), "events.ndjson")
		if err := os.WriteFile(file, []byte(ndjson), 0o600); err != nil {
			t.Fatal(err)
		}
		load := func(stdin io.Reader, args ...string) (stdout, stderr string) {
			t.Helper()
			var out, errb strings.Builder
			args = append(append([]string{"events", "load"}, args...), append([]string{"--data", dir}, st.args()...)...)
			if err := run(context.Background(), args, nil, stdin, &out, &errb); err != nil {
				t.Fatalf("segmentd %s: %v\n%s", strings.Join(args, " "), err, &errb)
			}
			return out.String(), errb.String()
		}
		out, errOut := load(nil, file, "--batch", "100")
		if !strings.Contains(out, "stored 250, duplicates 0, unmatched 250, rejected 1") || !strings.Contains(out, "events/s") {
			t.Fatalf("events load printed %q", out)
		}
		if !strings.Contains(errOut, "line 252: event is required") {
			t.Fatalf("events load stderr %q", errOut)
		}
		// From stdin, a second time: all duplicates.
		if out, _ := load(strings.NewReader(ndjson)); !strings.Contains(out, "stored 0, duplicates 250") {
			t.Fatalf("second load printed %q", out)
		}
		// The events went to the store --database-url names, not to --data.
		_, err := os.Stat(filepath.Join(dir, "segmentd.db"))
		if st.url == "" && err != nil {
			t.Fatalf("no SQLite file in the data directory after the load: %v", err)
		}
		if st.url != "" && !os.IsNotExist(err) {
			t.Fatalf("a load into PostgreSQL left a SQLite file in --data (stat: %v)", err)
		}

		s, _ := startInProcess(t, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", dir, "--api-key", "SG.load-key"}, st.args()...), nil)
		s.key = "SG.load-key"
		g := &engagement{t: t, s: s}
		var emails []string
		for i := 0; i < 60; i++ {
			emails = append(emails, fmt.Sprintf("u%d@example.com", i))
		}
		g.upsert(emails)
		seg := g.must("POST", "/v3/marketing/segments/2.0", `{"name":"opened","query_dsl":"SELECT c.contact_id, c.updated_at FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.event_type = 'open'"}`, 201)
		if seg["contacts_count"] != float64(50) {
			t.Fatalf("opened after load: %v, want 50", seg["contacts_count"])
		}
		if st.url == "" {
			return // SQLite: a load beside the server is refused (TestDataDirectoryHeld*)
		}
		// PostgreSQL: a load beside the running server, which follows the
		// database's history and counts the new opens of u50 to u59.
		if out, _ := load(strings.NewReader(opens(250, 260, 50, 10))); !strings.Contains(out, "stored 10, duplicates 0, unmatched 0, rejected 0") {
			t.Fatalf("load beside the server printed %q", out)
		}
		id := seg["id"].(string)
		facetest.Poll(t, "the server counting the events loaded beside it", func() bool {
			return g.must("GET", "/v3/marketing/segments/2.0/"+id, "", 200)["contacts_count"] == float64(60)
		})
	})
}

// TestEventsBenchSmall runs `segmentd events bench` at a small size on each
// store (a fresh schema for a database) and checks it reports its figures.
func TestEventsBenchSmall(t *testing.T) {
	t.Setenv(asBinaryEnv, "1")
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		var out, errb strings.Builder
		args := append([]string{"events", "bench", "--events", "3000", "--contacts", "300", "--segments", "3", "--batch", "500", "--parallel", "2", "--data", st.dir}, st.args()...)
		if err := run(t.Context(), args, nil, nil, &out, &errb); err != nil {
			t.Fatalf("events bench: %v\n%s\n%s", err, &out, &errb)
		}
		for _, want := range []string{"events: 3000", "events/s (durable)", "request latency: median", "server CPU: ", "server peak RSS"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, &out)
			}
		}
	})
}
