package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/segmentd/segmentd/hooks"
	"github.com/segmentd/segmentd/internal/facetest"
)

// hookReceiver is a webhook receiver on loopback: it verifies each
// message's signature and answers with the status down says.
type hookReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	down   bool
	got    []hookMessage
	// tolerance is how far a message's timestamp may be from the real
	// time (the dev clock's messages are dated by it).
	tolerance time.Duration
	stamps    bool // delivered notes each transition's time
}

type hookMessage struct {
	id     string
	msg    hooks.Message
	status int
}

func newHookReceiver(t *testing.T) *hookReceiver {
	rc := &hookReceiver{t: t, tolerance: 5 * time.Minute}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if err := hooks.Verify(rc.secret, r.Header, body, time.Now(), rc.tolerance); err != nil {
			t.Errorf("message %s: %v", r.Header.Get("webhook-id"), err)
		}
		var m hooks.Message
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("body %s: %v", body, err)
		}
		status := http.StatusOK
		if rc.down {
			status = http.StatusServiceUnavailable
		}
		rc.got = append(rc.got, hookMessage{r.Header.Get("webhook-id"), m, status})
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// delivered lists "type email cause" of the transitions answered 2xx, in
// order, and their ids.
func (rc *hookReceiver) delivered() (lines, ids []string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, m := range rc.got {
		if m.status != http.StatusOK {
			continue
		}
		for _, tr := range m.msg.Data {
			lines = append(lines, tr.Type+" "+tr.Contact.Email+" "+tr.Cause+rc.stamp(tr.Timestamp))
			ids = append(ids, tr.ID)
		}
	}
	return lines, ids
}

// stamp is " at <timestamp>" when the receiver notes times (stamps).
func (rc *hookReceiver) stamp(ts string) string {
	if !rc.stamps {
		return ""
	}
	return " at " + ts
}

func (rc *hookReceiver) attempts() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.got)
}

// TestWebhooksThroughTheBinary drives the real binary on every store: a
// subscription made through /segmentd/v1/ (every answer checked against
// the served OpenAPI document) receives signed entries and exits of
// contact writes and of a segment's own definition, in order; a
// transition of a completed job whose delivery had not succeeded survives
// kill -9 and is delivered, with the same id, after the restart.
func TestWebhooksThroughTheBinary(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		key := "SG.webhooks-test-key"
		s, cmd := st.start(t, bin, key, "--dev")
		served := mustCall(t, s, "", "GET", "/segmentd/v1/openapi.json", "", 200)
		doc, _ := json.Marshal(served)
		spec := facetest.LoadOwnSpec(t, doc, "#/components/schemas/Error")
		api := func(s liveServer, method, path, body string, want int) map[string]any {
			t.Helper()
			r, err := facetest.Send(s.url, key, facetest.Request{Method: method, Path: path, Body: body})
			if err != nil {
				t.Fatal(err)
			}
			spec.Check(t, method, path, r)
			if r.Status != want {
				t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Body, want)
			}
			return r.JSON(t)
		}
		rc := newHookReceiver(t)
		seg := mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0", `{"name":"US","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"}`, 201)["id"].(string)
		sub := api(s, "POST", "/segmentd/v1/webhooks", `{"url":"`+rc.srv.URL+`/in","segments":[{"vendor":"sendgrid","id":"`+seg+`"}]}`, 201)
		rc.mu.Lock()
		rc.secret = sub["secret"].(string)
		rc.mu.Unlock()
		subID := sub["id"].(string)

		runJob(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"ada@example.com","country":"US"},{"email":"bob@example.com","country":"FR"}]}`)
		runJob(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"ada@example.com","country":"DE"},{"email":"bob@example.com","country":"US"}]}`)
		mustCall(t, s, key, "PATCH", "/v3/marketing/segments/2.0/"+seg, `{"query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'DE'"}`, 200)
		want := []string{
			"segment.entered ada@example.com contact",
			"segment.exited ada@example.com contact",
			"segment.entered bob@example.com contact",
			"segment.exited bob@example.com definition",
			"segment.entered ada@example.com definition",
		}
		facetest.Poll(t, "five transitions delivered", func() bool { lines, _ := rc.delivered(); return len(lines) >= len(want) })
		lines, ids := rc.delivered()
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Fatalf("delivered\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
		test := api(s, "POST", "/segmentd/v1/webhooks/"+subID+"/test", "", 200)
		if d := test["delivery"].(map[string]any); d["status_code"] != float64(200) {
			t.Fatalf("test delivery %v", d)
		}

		// The receiver goes down; a write completes; its delivery fails;
		// the server is killed.
		rc.mu.Lock()
		rc.down = true
		rc.mu.Unlock()
		before := rc.attempts()
		runJob(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"cy@example.com","country":"DE"}]}`)
		facetest.Poll(t, "a failed attempt", func() bool { return rc.attempts() > before })
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		rc.mu.Lock()
		rc.down = false
		rc.mu.Unlock()
		s2, _ := st.start(t, bin, key, "--dev")
		facetest.Poll(t, "the transition delivered after the restart", func() bool { lines, _ := rc.delivered(); return len(lines) > len(want) })
		lines, ids2 := rc.delivered()
		if got := lines[len(want)]; got != "segment.entered cy@example.com contact" || len(lines) != len(want)+1 {
			t.Fatalf("after the restart: %q", lines[len(want):])
		}
		for _, id := range ids {
			if id == ids2[len(want)] {
				t.Fatalf("transition id %s given twice", id)
			}
		}
		// The retry after the restart is the same message: the same
		// webhook-id as the attempt that failed before the kill. (That
		// attempt's log row may be missing: the kill can fall between an
		// attempt and its row.)
		rc.mu.Lock()
		failed, retried := rc.got[before].id, rc.got[len(rc.got)-1].id
		rc.mu.Unlock()
		if failed != retried || !strings.HasPrefix(failed, "msg_"+subID+"_") {
			t.Fatalf("message %s before the kill, %s after", failed, retried)
		}
		facetest.Poll(t, "the delivery logged", func() bool {
			log := api(s2, "GET", "/segmentd/v1/webhooks/"+subID+"/deliveries?limit=1", "", 200)["deliveries"].([]any)
			d := log[0].(map[string]any)
			return d["status_code"] == float64(200) && d["message_id"] == retried
		})
	})
}

// TestClockTransitionsWhileDown: the clock passes the end of a contact's
// time window while segmentd is down (killed with -9); after the start,
// the exits are delivered with their true times, each once, and the
// membership history has them.
func TestClockTransitionsWhileDown(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.clock-down-key"
		now := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		s, cmd := st.start(t, bin, key, "--dev", "--dev-clock", now.Format(time.RFC3339))
		g := &engagement{t: t, s: s, now: now}
		g.upsert([]string{"a@example.com", "b@example.com"})
		seg := g.must("POST", "/v3/marketing/segments/2.0", `{"name":"opened 7d","query_dsl":"SELECT c.contact_id, c.updated_at FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' AND e.event_timestamp > timestampadd(day, -7, current_timestamp)"}`, 201)["id"].(string)
		rc := newHookReceiver(t)
		rc.tolerance, rc.stamps = 10*365*24*time.Hour, true
		sub := g.must("POST", "/segmentd/v1/webhooks", `{"url":"`+rc.srv.URL+`/in"}`, 201)
		rc.mu.Lock()
		rc.secret = sub["secret"].(string)
		rc.mu.Unlock()
		g.post(batchOf([]wireEv{
			{email: "a@example.com", typ: "open", id: "e1", ts: now.AddDate(0, 0, -5).Unix()},
			{email: "b@example.com", typ: "open", id: "e2", ts: now.AddDate(0, 0, -6).Unix()},
		}))
		facetest.Poll(t, "two entries delivered", func() bool { lines, _ := rc.delivered(); return len(lines) == 2 })
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()

		// Three days later: b's open became 7 days old a day after the
		// kill, a's two days after it.
		later := now.AddDate(0, 0, 3)
		s2, _ := st.start(t, bin, key, "--dev", "--dev-clock", later.Format(time.RFC3339))
		// At least once: a message whose answer came just before the kill
		// may come again, with the same transition ids.
		unique := func() []string {
			lines, ids := rc.delivered()
			seen := map[string]bool{}
			var out []string
			for i, id := range ids {
				if !seen[id] {
					seen[id] = true
					out = append(out, lines[i])
				}
			}
			return out
		}
		facetest.Poll(t, "the two exits delivered", func() bool { return len(unique()) >= 4 })
		lines := unique()
		want := []string{
			"segment.entered a@example.com event at 2025-06-01T12:00:00.000Z",
			"segment.entered b@example.com event at 2025-06-01T12:00:00.000Z",
			"segment.exited b@example.com clock at 2025-06-02T12:00:00.000Z",
			"segment.exited a@example.com clock at 2025-06-03T12:00:00.000Z",
		}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Fatalf("delivered\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
		}
		// The history has them: b was a member on the 2nd at 11:00, not at 13:00.
		for at, member := range map[string]bool{"2025-06-02T11:00:00Z": true, "2025-06-02T13:00:00Z": false} {
			got := mustCall(t, s2, key, "GET", "/segmentd/v1/segments/sendgrid/"+seg+"/history/membership?email=b@example.com&at="+at, "", 200)
			if got["member"] != member {
				t.Fatalf("b at %s: member %v, want %v", at, got["member"], member)
			}
		}
	})
}

// TestAcceptedJobTransitionsAfterKill: a job accepted (202) and still
// queued when segmentd is killed with -9 runs after the start, from the
// journal, and its transitions are recorded and delivered. A large job
// ahead of it keeps it queued at the kill (that one may be anywhere in
// its run: the test asks only that it completes). SQLite only: on a
// shared database a job whose server died before running it is failed
// instead (docs/postgres.md), so it has no transitions to deliver.
func TestAcceptedJobTransitionsAfterKill(t *testing.T) {
	bin := realBinary(t)
	func(t *testing.T, st storeUnderTest) {
		const key = "SG.accepted-kill-key"
		s, cmd := st.start(t, bin, key, "--dev")
		seg := mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0", `{"name":"US","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"}`, 201)["id"].(string)
		rc := newHookReceiver(t)
		sub := mustCall(t, s, key, "POST", "/segmentd/v1/webhooks", `{"url":"`+rc.srv.URL+`/in"}`, 201)
		rc.mu.Lock()
		rc.secret = sub["secret"].(string)
		rc.mu.Unlock()

		var big strings.Builder
		big.WriteString(`{"contacts":[`)
		for i := range 30000 {
			if i > 0 {
				big.WriteString(",")
			}
			fmt.Fprintf(&big, `{"email":"big%d@example.com","country":"US"}`, i)
		}
		big.WriteString(`]}`)
		jobA := mustCall(t, s, key, "PUT", "/v3/marketing/contacts", big.String(), 202)["job_id"].(string)
		jobB := mustCall(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"b1@example.com","country":"US"},{"email":"b2@example.com","country":"US"}]}`, 202)["job_id"].(string)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if lines, _ := rc.delivered(); slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, "b1@") }) {
			t.Skip("the second job ran before the kill: nothing to test on this machine")
		}

		s2, _ := st.start(t, bin, key, "--dev")
		waitCompleted(t, s2, jobA)
		waitCompleted(t, s2, jobB)
		has := func(email string) bool {
			lines, _ := rc.delivered()
			return slices.Contains(lines, "segment.entered "+email+" contact")
		}
		facetest.Poll(t, "the queued job's entries delivered", func() bool { return has("b1@example.com") && has("b2@example.com") })
		// Every transition id names one transition.
		lines, ids := rc.delivered()
		byID := map[string]string{}
		for i, id := range ids {
			if prev, ok := byID[id]; ok && prev != lines[i] {
				t.Fatalf("transition %s is %q and %q", id, prev, lines[i])
			}
			byID[id] = lines[i]
		}
		got := mustCall(t, s2, key, "GET", "/segmentd/v1/segments/sendgrid/"+seg+"/history/membership?email=b2@example.com&at="+time.Now().UTC().Format(time.RFC3339Nano), "", 200)
		if got["member"] != true {
			t.Fatalf("the history does not have b2's entry: %v", got)
		}
	}(t, storeUnderTest{dir: t.TempDir()})
}
