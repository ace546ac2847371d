package hooks_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/hooks"
	"github.com/segmentd/segmentd/internal/facetest"
)

// env is the webhooks face and a dispatcher over a real Service on
// SQLite, with every answer checked against the face's OpenAPI document.
type env struct {
	*facetest.Env
	d    *hooks.Dispatcher
	spec *facetest.OwnSpec
	acct int64
}

func start(t testing.TB, o hooks.Options) *env {
	var d *hooks.Dispatcher
	e := facetest.Start(t, func(e *facetest.Env) http.Handler {
		return hooks.NewHandler(hooks.HandlerOptions{Service: e.Svc, Dispatcher: d, Log: e.Log})
	}, facetest.Config{Service: audience.Config{HistoryRetention: o.Retention}, Outbox: func(e *facetest.Env) segmentd.Outbox {
		o.Store, o.Clock, o.Log = e.Store, e.Clock, e.Log
		if o.Retention > 0 {
			o.History = e.Store
		}
		if o.Poll == 0 {
			o.Poll = 10 * time.Millisecond
		}
		d = hooks.New(o)
		if err := d.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		return d
	}})
	t.Cleanup(d.Close)
	return &env{Env: e, d: d, spec: facetest.LoadOwnSpec(t, hooks.OpenAPI(), "#/components/schemas/Error"), acct: e.DefaultAccount()}
}

// call sends a request with key (nil: the default key) and checks the
// answer against the document.
func (e *env) call(t *testing.T, method, path string, body any, key ...string) facetest.Response {
	t.Helper()
	rq := facetest.Request{Method: method, Path: path, Body: body}
	if len(key) > 0 {
		rq.Key = &key[0]
	}
	r := e.Call(t, rq)
	if ct := r.Header.Get("Content-Type"); r.Status != http.StatusNoContent && ct != "application/json" {
		t.Errorf("%s: Content-Type %q", r.Request, ct)
	}
	p, _, _ := strings.Cut(path, "?")
	e.spec.Check(t, method, p, r)
	return r
}

func want(t *testing.T, r facetest.Response, status int, parts ...string) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: %d %s, want %d", r.Request, r.Status, r.Body, status)
	}
	for _, p := range parts {
		if !strings.Contains(string(r.Body), p) {
			t.Fatalf("%s: body %s, want it to hold %s", r.Request, r.Body, p)
		}
	}
	if status == http.StatusNoContent {
		return nil
	}
	return r.JSON(t)
}

// receiver is a webhook receiver on loopback that verifies every message.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	secret string
	// answers are the statuses to answer in turn (then 204).
	answers []int
	got     []received
}

type received struct {
	id, ts string
	msg    hooks.Message
	status int
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{t: t}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer rc.mu.Unlock()
		if err := hooks.Verify(rc.secret, r.Header, body, time.Now(), 10*365*24*time.Hour); err != nil {
			t.Errorf("message %s does not verify: %v", r.Header.Get("webhook-id"), err)
		}
		var m hooks.Message
		if err := json.Unmarshal(body, &m); err != nil {
			t.Errorf("body %s: %v", body, err)
		}
		status := http.StatusNoContent
		if len(rc.answers) > 0 {
			status, rc.answers = rc.answers[0], rc.answers[1:]
		}
		rc.got = append(rc.got, received{r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp"), m, status, r.Header.Clone(), body})
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) messages() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// delivered returns the transitions of the messages answered 2xx, in order.
func (rc *receiver) delivered() []hooks.TransitionJSON {
	var out []hooks.TransitionJSON
	for _, m := range rc.messages() {
		if m.status < 300 {
			out = append(out, m.msg.Data...)
		}
	}
	return out
}

func (e *env) subscribe(t *testing.T, rc *receiver, body map[string]any) string {
	t.Helper()
	body["url"] = rc.srv.URL + "/hook"
	m := want(t, e.call(t, "POST", "/segmentd/v1/webhooks", body), 201)
	rc.mu.Lock()
	rc.secret = m["secret"].(string)
	rc.mu.Unlock()
	return m["id"].(string)
}

func (e *env) upsert(t *testing.T, emails ...string) {
	t.Helper()
	var ps []segmentd.ContactPatch
	for _, em := range emails {
		ps = append(ps, segmentd.ContactPatch{Email: facetest.Ptr(em), FirstName: facetest.Ptr("Ada")})
	}
	id, err := e.Svc.UpsertContacts(t.Context(), e.acct, ps, nil)
	if err != nil {
		t.Fatal(err)
	}
	facetest.WaitJob(t, e.Svc, e.acct, id)
}

func (e *env) segment(t testing.TB, name, q string) string {
	t.Helper()
	v, err := e.Svc.CreateSegment(t.Context(), e.acct, name, q, "2", nil)
	if err != nil {
		t.Fatal(err)
	}
	return v.ID
}

func TestOpenAPIDocument(t *testing.T) {
	e := start(t, hooks.Options{})
	r := e.call(t, "GET", "/segmentd/v1/openapi.json", nil, "")
	if r.Status != 200 || !facetest.JSONEqual(r.Body, hooks.OpenAPI()) {
		t.Fatalf("%d %.200s", r.Status, r.Body)
	}
	if !strings.Contains(string(r.Body), `"openapi": "3.1.0"`) {
		t.Fatal("not an OpenAPI 3.1 document")
	}
}

func TestSubscriptionsAPI(t *testing.T) {
	e := start(t, hooks.Options{})
	seg := e.segment(t, "adas", "SELECT contact_id, updated_at FROM contact_data WHERE first_name = 'Ada'")
	cc, err := e.Svc.CreateCCSegment(t.Context(), e.acct, "cc", `{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"contact","field":"first_name","op":"eq","const_value":"Ada"}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	m := want(t, e.call(t, "POST", "/segmentd/v1/webhooks", map[string]any{
		"url": "https://example.com/in", "description": "onboarding",
		"segments":    []map[string]any{{"vendor": "sendgrid", "id": seg}, {"vendor": "constantcontact", "id": fmt.Sprint(cc.ID)}},
		"event_types": []string{"segment.entered"},
	}), 201, `"secret":"whsec_`, `"status":"active"`, `"failing_reason":""`)
	id := m["id"].(string)
	got := want(t, e.call(t, "GET", "/segmentd/v1/webhooks/"+id, nil), 200, `"url":"https://example.com/in"`, `"vendor":"constantcontact"`)
	if _, ok := got["secret"]; ok {
		t.Fatal("GET shows the secret")
	}
	want(t, e.call(t, "GET", "/segmentd/v1/webhooks", nil), 200, `"webhooks":[{"id":"`+id)
	up := want(t, e.call(t, "PATCH", "/segmentd/v1/webhooks/"+id, map[string]any{"segments": []any{}, "event_types": []string{"segment.exited", "segment.entered"}}), 200,
		`"segments":[]`, `"event_types":["segment.exited","segment.entered"]`, `"url":"https://example.com/in"`)
	if up["updated_at"] == nil {
		t.Fatal("no updated_at")
	}
	rot := want(t, e.call(t, "POST", "/segmentd/v1/webhooks/"+id+"/rotate-secret", nil), 200, `"secret":"whsec_`)
	if rot["secret"] == m["secret"] {
		t.Fatal("rotation kept the secret")
	}
	want(t, e.call(t, "GET", "/segmentd/v1/webhooks/"+id+"/deliveries", nil), 200, `"deliveries":[]`)

	// Errors, each documented.
	for _, tc := range []struct {
		method, path string
		body         any
		status       int
		msg          string
	}{
		{"POST", "/segmentd/v1/webhooks", map[string]any{}, 400, "url is required"},
		{"POST", "/segmentd/v1/webhooks", map[string]any{"url": "ftp://x"}, 400, "not an absolute http or https URL"},
		{"POST", "/segmentd/v1/webhooks", map[string]any{"url": "/relative"}, 400, "not an absolute"},
		{"POST", "/segmentd/v1/webhooks", map[string]any{"url": "https://x/" + strings.Repeat("a", 2048)}, 400, "at most 2048 bytes"},
		{"POST", "/segmentd/v1/webhooks", map[string]any{"url": "https://x", "description": strings.Repeat("é", 201)}, 400, "at most 200 characters"},
		{"POST", "/segmentd/v1/webhooks", map[string]any{"url": "https://x", "event_types": []string{}}, 400, "at least one"},
		{"POST", "/segmentd/v1/webhooks", map[string]any{"url": "https://x", "event_types": []string{"segment.left"}}, 400, `event_types[0] \"segment.left\"`},
		{"POST", "/segmentd/v1/webhooks", map[string]any{"url": "https://x", "event_types": []string{"segment.exited", "segment.exited"}}, 400, "repeats"},
		{"POST", "/segmentd/v1/webhooks", map[string]any{"url": "https://x", "segments": []map[string]any{{"vendor": "mailchimp", "id": "1"}}}, 400, "vendor"},
		{"POST", "/segmentd/v1/webhooks", map[string]any{"url": "https://x", "segments": []map[string]any{{"vendor": "sendgrid", "id": "nope"}}}, 400, "has no sendgrid segment"},
		{"POST", "/segmentd/v1/webhooks", map[string]any{"url": "https://x", "segments": []map[string]any{{"vendor": "constantcontact", "id": "01"}}}, 400, "has no constantcontact segment"},
		{"POST", "/segmentd/v1/webhooks", map[string]any{"url": "https://x", "segments": []map[string]any{{"vendor": "sendgrid", "id": seg}, {"vendor": "sendgrid", "id": seg}}}, 400, "repeats"},
		{"POST", "/segmentd/v1/webhooks", map[string]any{"url": "https://x", "segments": make([]map[string]any, 101)}, 400, "at most 100 segments"},
		{"POST", "/segmentd/v1/webhooks", map[string]any{"url": "https://x", "status": "active"}, 400, "status"},
		{"POST", "/segmentd/v1/webhooks", map[string]any{"url": "https://x", "urls": "y"}, 400, `unknown key \"urls\"`},
		{"POST", "/segmentd/v1/webhooks", map[string]any{"url": 5}, 400, "url has the wrong JSON type"},
		{"POST", "/segmentd/v1/webhooks", `{"url":"https://x","url":"https://y"}`, 400, "url"},
		{"POST", "/segmentd/v1/webhooks", "", 400, "JSON object"},
		{"POST", "/segmentd/v1/webhooks", `{"description":"` + strings.Repeat("a", hooks.MaxBody) + `"}`, 413, "larger than 65536 bytes"},
		{"PATCH", "/segmentd/v1/webhooks/" + id, map[string]any{"status": "failing"}, 400, `only be set to \"active\"`},
		{"GET", "/segmentd/v1/webhooks/unknown", nil, 404, `webhook subscription \"unknown\" does not exist`},
		{"PATCH", "/segmentd/v1/webhooks/unknown", map[string]any{}, 404, "does not exist"},
		{"DELETE", "/segmentd/v1/webhooks/unknown", nil, 404, "does not exist"},
		{"POST", "/segmentd/v1/webhooks/unknown/test", nil, 404, "does not exist"},
		{"POST", "/segmentd/v1/webhooks/unknown/rotate-secret", nil, 404, "does not exist"},
		{"GET", "/segmentd/v1/webhooks/unknown/deliveries", nil, 404, "does not exist"},
		{"GET", "/segmentd/v1/webhooks/" + id + "/deliveries?limit=0", nil, 400, "limit"},
		{"GET", "/segmentd/v1/webhooks/" + id + "/deliveries?limit=101", nil, 400, "from 1 to 100"},
		{"GET", "/segmentd/v1/webhooks/" + id + "/deliveries?before=x", nil, 400, "before"},
		{"PUT", "/segmentd/v1/webhooks/" + id, nil, 405, "use DELETE, GET, HEAD, PATCH"},
		{"GET", "/segmentd/v1/nothing", nil, 404, "no segmentd endpoint"},
	} {
		r := e.call(t, tc.method, tc.path, tc.body)
		want(t, r, tc.status, tc.msg)
	}
	// Keys: none, unknown, without the scope; another account's.
	want(t, e.call(t, "GET", "/segmentd/v1/webhooks", nil, ""), 401, "authorization required")
	want(t, e.call(t, "GET", "/segmentd/v1/webhooks", nil, "SG.nope"), 401)
	noScope := e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeSendGridRead)
	want(t, e.call(t, "GET", "/segmentd/v1/webhooks", nil, noScope), 403, "segmentd.webhooks")
	other := e.NewKey("other", "", segmentd.ScopeWebhooks)
	want(t, e.call(t, "GET", "/segmentd/v1/webhooks", nil, other), 200, `"webhooks":[]`)
	want(t, e.call(t, "GET", "/segmentd/v1/webhooks/"+id, nil, other), 404)
	want(t, e.call(t, "DELETE", "/segmentd/v1/webhooks/"+id, nil, other), 404)
	want(t, e.call(t, "POST", "/segmentd/v1/webhooks/"+id+"/test", nil, other), 404)
	// The other account cannot name this one's segments.
	want(t, e.call(t, "POST", "/segmentd/v1/webhooks", map[string]any{"url": "https://x", "segments": []map[string]any{{"vendor": "sendgrid", "id": seg}}}, other), 400, "has no sendgrid segment")

	// At most 20 per account.
	for range segmentd.MaxSubscriptions - 1 {
		want(t, e.call(t, "POST", "/segmentd/v1/webhooks", map[string]any{"url": "https://example.com/x"}), 201)
	}
	want(t, e.call(t, "POST", "/segmentd/v1/webhooks", map[string]any{"url": "https://example.com/x"}), 400, "at most 20 webhook subscriptions")
	want(t, e.call(t, "DELETE", "/segmentd/v1/webhooks/"+id, nil), 204)
	want(t, e.call(t, "GET", "/segmentd/v1/webhooks/"+id, nil), 404)
	want(t, e.call(t, "POST", "/segmentd/v1/webhooks", map[string]any{"url": "https://example.com/x"}), 201)

	// A reset of the account removes them.
	if _, err := e.Svc.ResetAccount(t.Context(), segmentd.DefaultAccountName); err != nil {
		t.Fatal(err)
	}
	want(t, e.call(t, "GET", "/segmentd/v1/webhooks", nil), 200, `"webhooks":[]`)
}

// A rotation's old secret signs every message beside the new one, after
// it, for the grace the rotation gave; then only the new one signs.
func TestSecretRotation(t *testing.T) {
	e := start(t, hooks.Options{})
	e.Clock.Set(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	rc := newReceiver(t)
	e.segment(t, "adas", "SELECT contact_id, updated_at FROM contact_data WHERE first_name = 'Ada'")
	sub := e.subscribe(t, rc, map[string]any{})
	first := rc.secret
	rotate := func(body any, parts ...string) (secret string, m map[string]any) {
		t.Helper()
		m = want(t, e.call(t, "POST", "/segmentd/v1/webhooks/"+sub+"/rotate-secret", body), 200, parts...)
		rc.mu.Lock()
		rc.secret = m["secret"].(string)
		rc.mu.Unlock()
		return rc.secret, m
	}
	// signedBy checks the last message's signatures: those of secrets, in
	// that order, and no other.
	signedBy := func(what string, secrets ...string) {
		t.Helper()
		ms := rc.messages()
		m := ms[len(ms)-1]
		sigs := strings.Fields(m.header.Get("webhook-signature"))
		if len(sigs) != len(secrets) {
			t.Fatalf("%s: signatures %q, want %d", what, sigs, len(secrets))
		}
		sec, _ := strconv.ParseInt(m.ts, 10, 64)
		for i, s := range secrets {
			if w, _ := hooks.Sign(s, m.id, sec, m.body); sigs[i] != w {
				t.Fatalf("%s: signature %d is not secret %d's", what, i, i)
			}
			if err := hooks.Verify(s, m.header, m.body, e.Clock.Now(), time.Minute); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
	}
	sendTest := func() {
		t.Helper()
		want(t, e.call(t, "POST", "/segmentd/v1/webhooks/"+sub+"/test", nil), 200, `"status_code":204`)
	}

	// No body: the default grace, a day.
	second, _ := rotate(nil, `"previous_secret_expires_at":"2026-03-02T12:00:00.000Z"`)
	if second == first {
		t.Fatal("the rotation kept the secret")
	}
	want(t, e.call(t, "GET", "/segmentd/v1/webhooks/"+sub, nil), 200, `"previous_secret_expires_at":"2026-03-02T12:00:00.000Z"`)
	sendTest()
	signedBy("a test message in the grace", second, first)
	e.upsert(t, "ada@example.com")
	facetest.Poll(t, "the entry delivered", func() bool { return len(rc.delivered()) == 1 })
	signedBy("a message of transitions in the grace", second, first)
	e.Clock.Advance(24*time.Hour - time.Millisecond)
	sendTest()
	signedBy("the grace's last millisecond", second, first)
	e.Clock.Advance(time.Millisecond)
	sendTest()
	signedBy("after the grace", second)
	if err := hooks.Verify(first, rc.messages()[len(rc.messages())-1].header, rc.messages()[len(rc.messages())-1].body, e.Clock.Now(), time.Minute); err == nil {
		t.Fatal("the old secret still verifies after the grace")
	}
	if g := want(t, e.call(t, "GET", "/segmentd/v1/webhooks/"+sub, nil), 200); g["previous_secret_expires_at"] != nil {
		t.Fatalf("after the grace: %v", g)
	}

	// A grace of its own; a rotation within it drops the secret before.
	third, _ := rotate(map[string]any{"grace_seconds": 3600}, `"previous_secret_expires_at":"2026-03-02T13:00:00.000Z"`)
	fourth, _ := rotate(map[string]any{"grace_seconds": 60}, `"previous_secret_expires_at":"2026-03-02T12:01:00.000Z"`)
	sendTest()
	signedBy("a rotation within a grace", fourth, third)
	// 0: at once.
	fifth, z := rotate(map[string]any{"grace_seconds": 0})
	if z["previous_secret_expires_at"] != nil {
		t.Fatalf("grace 0: %v", z)
	}
	sendTest()
	signedBy("grace 0", fifth)
	// The most, a week.
	rotate(map[string]any{"grace_seconds": 604800}, `"previous_secret_expires_at":"2026-03-09T12:00:00.000Z"`)

	// Errors, each documented, none of which rotates.
	e.Clock.Advance(time.Second)
	before := want(t, e.call(t, "GET", "/segmentd/v1/webhooks/"+sub, nil), 200)
	for _, tc := range []struct {
		body   any
		status int
		msg    string
	}{
		{map[string]any{"grace_seconds": -1}, 400, "grace_seconds must be from 0 to 604800 (7 days)"},
		{map[string]any{"grace_seconds": 604801}, 400, "grace_seconds must be from 0 to 604800"},
		{map[string]any{"grace_seconds": 1e300}, 400, "grace_seconds has the wrong JSON type"},
		{map[string]any{"grace_seconds": "60"}, 400, "grace_seconds has the wrong JSON type"},
		{map[string]any{"grace": 60}, 400, `unknown key \"grace\"`},
		{"[1]", 400, "JSON object"},
		{`{"grace_seconds":` + strings.Repeat("1", hooks.MaxBody) + `}`, 413, "larger than 65536 bytes"},
	} {
		want(t, e.call(t, "POST", "/segmentd/v1/webhooks/"+sub+"/rotate-secret", tc.body), tc.status, tc.msg)
	}
	if after := want(t, e.call(t, "GET", "/segmentd/v1/webhooks/"+sub, nil), 200); after["updated_at"] != before["updated_at"] {
		t.Fatal("a refused rotation rotated")
	}
}

// Transitions reach the receiver signed, in order, with stable ids, in
// messages of at most 100; a test message goes at once; the log pages.
func TestDelivery(t *testing.T) {
	e := start(t, hooks.Options{})
	rc := newReceiver(t)
	seg := e.segment(t, "adas", "SELECT contact_id, updated_at FROM contact_data WHERE first_name = 'Ada'")
	sub := e.subscribe(t, rc, map[string]any{})

	want(t, e.call(t, "POST", "/segmentd/v1/webhooks/"+sub+"/test", nil), 200, `"status_code":204`, `"error":""`, `"transitions":0`)
	if ms := rc.messages(); len(ms) != 1 || ms[0].msg.Type != hooks.TestType || len(ms[0].msg.Data) != 0 {
		t.Fatalf("test message: %+v", ms)
	}

	var emails []string
	for i := range 150 {
		emails = append(emails, fmt.Sprintf("c%03d@example.com", i))
	}
	e.upsert(t, emails...)
	facetest.Poll(t, "150 entries delivered", func() bool { return len(rc.delivered()) == 150 })
	ms := rc.messages()[1:]
	if len(ms) != 2 || len(ms[0].msg.Data) != 100 || len(ms[1].msg.Data) != 50 {
		t.Fatalf("messages of %d transitions, want 100 and 50", len(ms))
	}
	seen := map[string]bool{}
	for i, tr := range rc.delivered() {
		if tr.Type != segmentd.HookEntered || tr.Segment != (hooks.SegmentJSON{Vendor: "sendgrid", ID: seg}) || tr.Cause != "contact" ||
			tr.AccountID != e.acct || tr.Contact.Email != emails[i] || tr.Contact.ID == "" || seen[tr.ID] {
			t.Fatalf("transition %d: %+v", i, tr)
		}
		seen[tr.ID] = true
	}
	if ms[0].id != hooks.MessageID(sub, 1) || ms[0].msg.Type != hooks.MessageType {
		t.Fatalf("first message id %s type %s", ms[0].id, ms[0].msg.Type)
	}

	// Leaving: the exits follow the entries of the same contacts.
	c := rc.delivered()[0].Contact
	id, err := e.Svc.DeleteContacts(t.Context(), e.acct, []string{c.ID}, false)
	if err != nil {
		t.Fatal(err)
	}
	facetest.WaitJob(t, e.Svc, e.acct, id)
	facetest.Poll(t, "the exit delivered", func() bool { return len(rc.delivered()) == 151 })
	last := rc.delivered()[150]
	if last.Type != segmentd.HookExited || last.Contact != c {
		t.Fatalf("exit: %+v", last)
	}

	// The log: newest first, paged. An attempt is logged once its answer
	// is in, so the receiver may have the exit before the log does.
	var page map[string]any
	facetest.Poll(t, "the exit's attempt logged", func() bool {
		page = want(t, e.call(t, "GET", "/segmentd/v1/webhooks/"+sub+"/deliveries?limit=2", nil), 200, `"next":"`)
		ds := page["deliveries"].([]any)
		return len(ds) == 2 && ds[0].(map[string]any)["transitions"].(float64) == 1
	})
	rest := want(t, e.call(t, "GET", "/segmentd/v1/webhooks/"+sub+"/deliveries?limit=2&before="+page["next"].(string), nil), 200, `"message_id":"msg_`)
	if n := len(rest["deliveries"].([]any)); n != 2 {
		t.Fatalf("second page: %d", n)
	}
}

// A receiver that answers 500 gets the same message again, with the same
// id, until it recovers; one that never does is marked failing after the
// retry horizon (the dev clock moves past it), and made active again.
func TestRetriesAndFailing(t *testing.T) {
	e := start(t, hooks.Options{MinDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond, Horizon: 24 * time.Hour})
	rc := newReceiver(t)
	e.segment(t, "adas", "SELECT contact_id, updated_at FROM contact_data WHERE first_name = 'Ada'")
	sub := e.subscribe(t, rc, map[string]any{"event_types": []string{"segment.entered"}})
	rc.mu.Lock()
	rc.answers = []int{500, 500, 503}
	rc.mu.Unlock()
	e.upsert(t, "a@example.com")
	facetest.Poll(t, "delivered after three failures", func() bool { return len(rc.delivered()) == 1 })
	ms := rc.messages()
	if len(ms) != 4 {
		t.Fatalf("%d attempts, want 4", len(ms))
	}
	for _, m := range ms {
		if m.id != ms[0].id || len(m.msg.Data) != 1 || m.msg.Data[0].ID != ms[0].msg.Data[0].ID {
			t.Fatalf("retry changed the message: %+v vs %+v", m, ms[0])
		}
	}
	// An attempt is logged once its answer is in, so the receiver may have
	// the message before the log has its attempt.
	var codes []float64
	facetest.Poll(t, "the four attempts logged", func() bool {
		page := want(t, e.call(t, "GET", "/segmentd/v1/webhooks/"+sub+"/deliveries", nil), 200)
		codes = codes[:0]
		for _, d := range page["deliveries"].([]any) {
			codes = append(codes, d.(map[string]any)["status_code"].(float64))
		}
		return len(codes) == 4
	})
	if fmt.Sprint(codes) != "[204 503 500 500]" {
		t.Fatalf("logged status codes %v", codes)
	}

	// Now the receiver is down for good. The clock stops; the horizon is
	// measured on it.
	t0 := time.Now().UTC().Truncate(time.Second)
	e.Clock.Set(t0)
	rc.mu.Lock()
	rc.answers = []int{500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500, 500}
	rc.mu.Unlock()
	e.upsert(t, "b@example.com")
	facetest.Poll(t, "a failed attempt", func() bool { return len(rc.messages()) > 4 })
	if got := want(t, e.call(t, "GET", "/segmentd/v1/webhooks/"+sub, nil), 200); got["status"] != "active" {
		t.Fatalf("failing before the horizon: %v", got)
	}
	e.Clock.Set(t0.Add(24*time.Hour + time.Second))
	facetest.Poll(t, "the subscription marked failing", func() bool {
		sub, err := e.Store.Subscription(t.Context(), e.acct, sub)
		return err == nil && sub.Status == segmentd.HookFailing
	})
	got := want(t, e.call(t, "GET", "/segmentd/v1/webhooks/"+sub, nil), 200, `"status":"failing"`, "HTTP 500")
	if !strings.Contains(got["failing_reason"].(string), "no success for 24h0m0s") {
		t.Fatalf("reason %q", got["failing_reason"])
	}
	n := len(rc.messages())
	e.upsert(t, "c@example.com") // missed: the subscription is failing
	// Active again: from then on, not the transitions missed meanwhile.
	rc.mu.Lock()
	rc.answers = nil
	rc.mu.Unlock()
	want(t, e.call(t, "PATCH", "/segmentd/v1/webhooks/"+sub, map[string]any{"status": "active"}), 200, `"status":"active"`, `"failing_reason":""`)
	e.upsert(t, "d@example.com")
	facetest.Poll(t, "delivery again", func() bool { return len(rc.delivered()) == 2 })
	if got := rc.delivered()[1].Contact.Email; got != "d@example.com" || len(rc.messages()) != n+1 {
		t.Fatalf("after re-activation got %s in %d more messages, want d@example.com alone", got, len(rc.messages())-n)
	}
}

// A slow receiver holds up only its own subscription: while its first
// attempt is still held (an attempt may last a minute here, and the
// receiver answers nothing until the test ends), the writes have been
// acknowledged and the other subscription has been served.
func TestIsolation(t *testing.T) {
	e := start(t, hooks.Options{Timeout: time.Minute})
	release := make(chan struct{})
	var held, ended atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		held.Add(1)
		defer ended.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); slow.Close() })
	rc := newReceiver(t)
	e.segment(t, "adas", "SELECT contact_id, updated_at FROM contact_data WHERE first_name = 'Ada'")
	want(t, e.call(t, "POST", "/segmentd/v1/webhooks", map[string]any{"url": slow.URL}), 201)
	e.subscribe(t, rc, map[string]any{})
	e.upsert(t, "a@example.com")
	e.upsert(t, "b@example.com")
	facetest.Poll(t, "the fast receiver served", func() bool { return len(rc.delivered()) == 2 })
	facetest.Poll(t, "the slow receiver reached", func() bool { return held.Load() > 0 })
	if n := ended.Load(); n != 0 {
		t.Fatalf("%d attempts to the slow receiver ended before the writes and the other deliveries were done", n)
	}
}

// An attempt under way while the clock moves fails after the move, and
// its retry is due a backoff past the moved clock, not past the clock it
// started at: on a frozen dev clock it waits for the clock's next move.
// (The randomized real-binary test once moved the clock past the longest
// backoff while an attempt was held by a receiver's timeout, and then
// waited for a retry that the frozen clock never reached.)
func TestRetryOfAnAttemptAcrossAClockMove(t *testing.T) {
	e := start(t, hooks.Options{MinDelay: time.Minute, MaxDelay: time.Hour})
	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	e.Clock.Set(t0)
	held, release := make(chan struct{}), make(chan struct{})
	var mu sync.Mutex
	var ids []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ids = append(ids, r.Header.Get("webhook-id"))
		first := len(ids) == 1
		mu.Unlock()
		if first {
			close(held)
			<-release
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	e.segment(t, "adas", "SELECT contact_id, updated_at FROM contact_data WHERE first_name = 'Ada'")
	sub := want(t, e.call(t, "POST", "/segmentd/v1/webhooks", map[string]any{"url": srv.URL}), 201)["id"].(string)
	e.upsert(t, "a@example.com")
	<-held
	moved := t0.Add(61 * time.Minute) // past the longest backoff from t0
	e.Clock.Set(moved)
	close(release)
	var st segmentd.HookState
	facetest.Poll(t, "the failed attempt settled", func() bool {
		s, err := e.Store.Subscription(t.Context(), e.acct, sub)
		st = s.HookState
		return err == nil && st.Attempts == 1
	})
	if !st.FirstFailure.Equal(t0) {
		t.Errorf("first failure at %v, want the attempt's start %v", st.FirstFailure, t0)
	}
	if lo, hi := moved.Add(30*time.Second), moved.Add(time.Minute); st.NextAttempt.Before(lo) || st.NextAttempt.After(hi) {
		t.Fatalf("retry due at %v, want between %v and %v: a backoff from the moved clock", st.NextAttempt, lo, hi)
	}
	e.Clock.Set(st.NextAttempt)
	facetest.Poll(t, "the retry delivered", func() bool {
		s, err := e.Store.Subscription(t.Context(), e.acct, sub)
		return err == nil && s.Attempts == 0 && s.Cursor > 0
	})
	mu.Lock()
	defer mu.Unlock()
	if len(ids) != 2 || ids[0] != ids[1] {
		t.Fatalf("attempts %v, want the same message twice", ids)
	}
}
