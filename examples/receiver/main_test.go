package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentd/segmentd/hooks"
	"github.com/segmentd/segmentd/segmentdtest"
)

// call sends a request to segmentd with the server's key and decodes the
// JSON answer, failing t on another status.
func call(t *testing.T, srv *segmentdtest.Server, method, path, body string, want int) map[string]any {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+srv.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %v, want %d", method, path, resp.StatusCode, m, want)
	}
	return m
}

// upsert writes contacts and waits for SendGrid's job to complete.
func upsert(t *testing.T, srv *segmentdtest.Server, contacts string) {
	t.Helper()
	job := call(t, srv, "PUT", "/v3/marketing/contacts", `{"contacts":`+contacts+`}`, 202)["job_id"].(string)
	deadline := time.Now().Add(time.Minute)
	for call(t, srv, "GET", "/v3/marketing/contacts/imports/"+job, "", 200)["status"] != "completed" {
		if time.Now().After(deadline) {
			t.Fatalf("job %s not completed within a minute", job)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestReceiverWithSegmentd points a subscription of a real segmentd at the
// example and checks that it takes segmentd's messages, before and during
// a secret rotation's grace, each transition once.
func TestReceiverWithSegmentd(t *testing.T) {
	srv := segmentdtest.Start(t)
	got := make(chan transition, 10)
	var mu sync.Mutex
	var current http.Handler // set once the secret is known; until then 503, which segmentd retries
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		h := current
		mu.Unlock()
		if h == nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	}))
	defer rc.Close()
	use := func(secrets ...string) {
		r, err := newReceiver(secrets, func(tr transition) { got <- tr })
		if err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		current = r
		mu.Unlock()
	}
	expect := func(typ, email string) {
		t.Helper()
		select {
		case tr := <-got:
			if tr.Type != typ || tr.Contact.Email != email || !strings.HasPrefix(tr.ID, "tr_") || tr.Segment.Vendor != "sendgrid" {
				t.Fatalf("received %+v, want %s of %s", tr, typ, email)
			}
		case <-time.After(time.Minute):
			t.Fatalf("no %s of %s within a minute", typ, email)
		}
	}

	call(t, srv, "POST", "/v3/marketing/segments/2.0", `{"name":"adas","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE first_name = 'Ada'"}`, 201)
	sub := call(t, srv, "POST", "/segmentd/v1/webhooks", `{"url":"`+rc.URL+`"}`, 201)
	use(sub["secret"].(string))
	upsert(t, srv, `[{"email":"ada@example.com","first_name":"Ada"}]`)
	expect("segment.entered", "ada@example.com")

	// During a rotation's grace each message carries both signatures: a
	// receiver that already knows only the new secret takes it.
	rot := call(t, srv, "POST", "/segmentd/v1/webhooks/"+sub["id"].(string)+"/rotate-secret", `{"grace_seconds":3600}`, 200)
	use(rot["secret"].(string))
	upsert(t, srv, `[{"email":"ada@example.com","first_name":"Augusta"}]`)
	expect("segment.exited", "ada@example.com")
	select {
	case tr := <-got:
		t.Fatalf("received %+v more", tr)
	default:
	}
}

// TestReceiverRefuses checks what the example refuses, with messages
// signed as segmentd signs them (hooks.Sign), and that a transition sent
// twice is handled once.
func TestReceiverRefuses(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	now := time.Unix(1_750_000_000, 0)
	var handled []string
	r, err := newReceiver([]string{secret}, func(tr transition) { handled = append(handled, tr.ID) })
	if err != nil {
		t.Fatal(err)
	}
	r.now = func() time.Time { return now }
	body := `{"type":"segment.transitions","data":[{"id":"tr_1_7","type":"segment.entered","contact":{"id":"c","email":"a@example.com"}}]}`
	send := func(id string, ts time.Time, body, sig string) int {
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts.Unix(), 10))
		req.Header.Set("webhook-signature", sig)
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		return w.Code
	}
	sign := func(id string, ts time.Time, body string) string {
		s, err := hooks.Sign(secret, id, ts.Unix(), []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := sign("msg_1", now, body)
	for _, c := range []struct {
		name string
		code int
		id   string
		ts   time.Time
		body string
		sig  string
	}{
		{"a signed message", 204, "msg_1", now, body, good},
		{"the same message again (a retry)", 204, "msg_1", now, body, good},
		{"two signatures, the right one second", 204, "msg_1", now, body, "v1,AAAA " + good},
		{"a body changed after signing", 401, "msg_1", now, strings.Replace(body, "a@", "b@", 1), good},
		{"another message's id", 401, "msg_2", now, body, good},
		{"another secret", 401, "msg_1", now, body, "v1,bm90IHRoZSBzaWduYXR1cmU="},
		{"a timestamp six minutes old", 401, "msg_1", now.Add(-6 * time.Minute), body, sign("msg_1", now.Add(-6*time.Minute), body)},
		{"no signature", 401, "msg_1", now, body, ""},
		{"not JSON", 400, "msg_3", now, "{", sign("msg_3", now, "{")},
	} {
		if code := send(c.id, c.ts, c.body, c.sig); code != c.code {
			t.Errorf("%s: %d, want %d", c.name, code, c.code)
		}
	}
	if len(handled) != 1 || handled[0] != "tr_1_7" {
		t.Fatalf("handled %v, want tr_1_7 once", handled)
	}
	if _, err := newReceiver([]string{"not-a-secret"}, nil); err == nil {
		t.Fatal("a secret without whsec_ was taken")
	}
}
