package webhook_test

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
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
	"github.com/segmentd/segmentd/sendgrid"
	"github.com/segmentd/segmentd/server"
	"github.com/segmentd/segmentd/webhook"
)

// env is a segmentd with the webhook and SendGrid faces (facetest.Env),
// its clock standing at t0.
type env struct {
	*facetest.Env
	t *testing.T
}

var t0 = time.Date(2025, 3, 10, 12, 0, 0, 0, time.UTC)

func newEnv(t *testing.T, opts ...webhook.Options) *env {
	t.Helper()
	var o webhook.Options
	if len(opts) > 0 {
		o = opts[0]
	}
	fe := facetest.Start(t, func(e *facetest.Env) http.Handler {
		o.Clock = e.Clock
		return server.New(e.Log, nil,
			server.Face{Prefixes: []string{"/v3/marketing/"}, Handler: sendgrid.NewHandler(e.Svc, e.Log)},
			server.Face{Prefixes: []string{"/webhooks/"}, Handler: webhook.NewHandler(e.Svc, e.Log, o)},
		)
	}, facetest.Config{Now: t0, Key: "SG.webhook-test-key"})
	return &env{Env: fe, t: t}
}

// post sends a batch; auth, when not "", is the request's Authorization
// header ("Bearer " and e.Key otherwise; "-" sends none).
func (e *env) post(body, auth string, hdr map[string]string) (int, string) {
	e.t.Helper()
	rq := facetest.Request{Method: "POST", Path: "/webhooks/sendgrid/events", Body: body, Header: map[string]string{}}
	switch auth {
	case "":
	case "-":
		rq.Key = facetest.Ptr("")
	default:
		rq.Header["Authorization"] = auth
	}
	maps.Copy(rq.Header, hdr)
	r := e.Call(e.t, rq)
	return r.Status, string(r.Body)
}

// ok posts a batch that must be answered 200 and returns the response.
func (e *env) ok(body string) webhook.Response {
	e.t.Helper()
	code, out := e.post(body, "", nil)
	if code != 200 {
		e.t.Fatalf("POST events: %d %s", code, out)
	}
	var r webhook.Response
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		e.t.Fatalf("response %s: %v", out, err)
	}
	return r
}

func (e *env) sg(method, path, body string, want int) map[string]any {
	e.t.Helper()
	return facetest.WantStatus(e.t, e.Call(e.t, facetest.Request{Method: method, Path: path, Body: body}), want)
}

// upsert writes contacts and waits for the job to complete.
func (e *env) upsert(emails ...string) {
	e.t.Helper()
	var cs []string
	for _, m := range emails {
		cs = append(cs, fmt.Sprintf(`{"email":%q}`, m))
	}
	id := e.sg("PUT", "/v3/marketing/contacts", `{"contacts":[`+strings.Join(cs, ",")+`]}`, 202)["job_id"].(string)
	if j := facetest.WaitJob(e.t, e.Svc, e.DefaultAccount(), id); j.Status != segmentd.JobCompleted {
		e.t.Fatalf("job %s: %+v", id, j)
	}
}

// segment creates a Segments 2.0 segment and returns its id.
func (e *env) segment(name, sql string) string {
	e.t.Helper()
	b, _ := json.Marshal(map[string]string{"name": name, "query_dsl": sql})
	return e.sg("POST", "/v3/marketing/segments/2.0", string(b), 201)["id"].(string)
}

func (e *env) count(id string) int {
	e.t.Helper()
	return int(e.sg("GET", "/v3/marketing/segments/2.0/"+id, "", 200)["contacts_count"].(float64))
}

func ev(email, typ string, ts time.Time, id string) string {
	return fmt.Sprintf(`{"email":%q,"timestamp":%d,"event":%q,"sg_event_id":%q,"sg_message_id":"m.%s","category":["cat"],"smtp-id":"<x@y>","my_unique_arg":"v"}`,
		email, ts.Unix(), typ, id, id)
}

func batch(evs ...string) string { return "[" + strings.Join(evs, ",") + "]" }

func typeSegment(typ string) string {
	return "SELECT c.contact_id, c.updated_at FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.event_type = '" + typ + "'"
}

// TestEveryEventType posts one batch with every event type SendGrid sends,
// with their type-specific fields, and checks each reaches its segment.
func TestEveryEventType(t *testing.T) {
	e := newEnv(t)
	e.upsert("a@example.com")
	ts := t0.Add(-time.Hour).Unix()
	body := fmt.Sprintf(`[
	{"email":"a@example.com","timestamp":%[1]d,"event":"processed","sg_event_id":"e1","sg_message_id":"m1","category":"welcome","marketing_campaign_id":12345,"marketing_campaign_name":"Spring","marketing_campaign_version":"A","marketing_campaign_split_id":7,"pool":{"name":"p","id":1}},
	{"email":"a@example.com","timestamp":%[1]d,"event":"delivered","sg_event_id":"e2","response":"250 OK","tls":1,"ip":"1.2.3.4","singlesend_id":"ss-1","singlesend_name":"News","template_id":"d-1","phase_id":"send"},
	{"email":"a@example.com","timestamp":%[1]d,"event":"deferred","sg_event_id":"e3","response":"400 try later","attempt":"5"},
	{"email":"a@example.com","timestamp":%[1]d,"event":"dropped","sg_event_id":"e4","reason":"Bounced Address","status":"5.0.0"},
	{"email":"a@example.com","timestamp":%[1]d,"event":"bounce","sg_event_id":"e5","reason":"500 unknown recipient","status":"5.0.0","type":"bounce","bounce_classification":"Invalid Address"},
	{"email":"a@example.com","timestamp":%[1]d,"event":"open","sg_event_id":"e6","useragent":"Mozilla","ip":"1.2.3.4","sg_machine_open":false,"mc_auto_id":"auto-1","mc_auto_name":"Welcome","mc_auto_step_id":"step-1","mc_stats":"singlesend"},
	{"email":"a@example.com","timestamp":%[1]d,"event":"click","sg_event_id":"e7","url":"https://example.com/x","url_offset":{"index":0,"type":"html"},"useragent":"Mozilla"},
	{"email":"a@example.com","timestamp":%[1]d,"event":"spamreport","sg_event_id":"e8"},
	{"email":"a@example.com","timestamp":%[1]d,"event":"unsubscribe","sg_event_id":"e9"},
	{"email":"a@example.com","timestamp":%[1]d,"event":"group_unsubscribe","sg_event_id":"e10","asm_group_id":42},
	{"email":"a@example.com","timestamp":%[1]d,"event":"group_resubscribe","sg_event_id":"e11","asm_group_id":42,"cert_err":false,"sg_content_type":"html"}
	]`, ts)
	r := e.ok(body)
	if r.Received != 11 || r.Stored != 11 || r.Rejected != 0 || r.Duplicates != 0 || r.Unmatched != 0 {
		t.Fatalf("response %+v", r)
	}
	for _, typ := range []string{"processed", "delivered", "deferred", "dropped", "bounce", "open", "click", "spamreport", "unsubscribe", "group_unsubscribe", "group_resubscribe"} {
		if n := e.count(e.segment("type "+typ, typeSegment(typ))); n != 1 {
			t.Errorf("segment on %s: %d contacts, want 1", typ, n)
		}
	}
	// The ids and the url are stored as event_data columns.
	for name, sql := range map[string]string{
		"campaign":   "SELECT c.contact_id, c.updated_at FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.marketing_campaign_id = '12345'",
		"singlesend": "SELECT c.contact_id, c.updated_at FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.singlesend_id = 'ss-1' AND e.event_type = 'delivered'",
		"automation": "SELECT c.contact_id, c.updated_at FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.automation_id = 'auto-1' AND e.event_type = 'opened'",
		"url":        "SELECT c.contact_id, c.updated_at FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.url = 'https://example.com/x' AND e.event_type = 'click'",
	} {
		if n := e.count(e.segment(name, sql)); n != 1 {
			t.Errorf("segment %s: %d contacts, want 1", name, n)
		}
	}
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	eventsKey, _, err := e.Svc.CreateAPIKey(ctx, "default", "events", []segmentd.Scope{segmentd.ScopeEventsWrite})
	if err != nil {
		t.Fatal(err)
	}
	readKey, _, err := e.Svc.CreateAPIKey(ctx, "default", "read", []segmentd.Scope{segmentd.ScopeSendGridRead})
	if err != nil {
		t.Fatal(err)
	}
	body := batch(ev("a@example.com", "open", t0, "x1"))
	tests := []struct {
		name string
		auth string // the Authorization header
		want int
	}{
		{"bearer", "Bearer " + eventsKey, 200},
		{"basic password", basic("sendgrid", eventsKey), 200},
		{"basic any user", basic("", eventsKey), 200},
		{"none", "-", 401},
		{"unknown bearer", "Bearer SG.nope", 401},
		{"unknown basic", basic("u", "SG.nope"), 401},
		{"key as basic user", basic(eventsKey, ""), 401},
		{"no events scope", "Bearer " + readKey, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := e.post(body, tt.auth, nil)
			if code != tt.want {
				t.Fatalf("status %d %s, want %d", code, out, tt.want)
			}
			if code == 401 && !strings.Contains(out, `"errors"`) {
				t.Fatalf("401 body %s", out)
			}
		})
	}
}

// TestOnBehalfOf: a parent's key posts a subuser's events with
// On-Behalf-Of, under the SendGrid face's rule: the events are the
// subuser's, verified with the subuser's key, and a name that is not a
// subuser of the key's account is 403, storing nothing.
func TestOnBehalfOf(t *testing.T) {
	e := newEnv(t)
	subKey := e.NewKey("asub", segmentd.DefaultAccountName)
	e.NewKey("bravo", "")
	sub := func(method, path, body string, want int) map[string]any {
		t.Helper()
		return facetest.WantStatus(t, e.Call(t, facetest.Request{Method: method, Path: path, Body: body, Key: &subKey}), want)
	}
	e.upsert("a@example.com")
	parentSeg := e.segment("opened", typeSegment("open"))
	job := sub("PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"a@example.com"}]}`, 202)["job_id"].(string)
	asub, err := e.Svc.AccountByName(context.Background(), "asub")
	if err != nil {
		t.Fatal(err)
	}
	facetest.WaitJob(t, e.Svc, asub.ID, job)
	subSeg := sub("POST", "/v3/marketing/segments/2.0", `{"name":"opened","query_dsl":"`+typeSegment("open")+`"}`, 201)["id"].(string)
	subCount := func() float64 {
		return sub("GET", "/v3/marketing/segments/2.0/"+subSeg, "", 200)["contacts_count"].(float64)
	}

	for _, name := range []string{"bravo", "nobody", "account-id 999", "default"} {
		code, out := e.post(batch(ev("a@example.com", "open", t0, "refused-"+name)), "", map[string]string{"On-Behalf-Of": name})
		if code != http.StatusForbidden || !strings.Contains(out, `"field":"on-behalf-of"`) || !strings.Contains(out, "not a subuser of this account") {
			t.Errorf("on behalf of %q: %d %s, want 403 on on-behalf-of", name, code, out)
		}
	}
	if e.count(parentSeg) != 0 || subCount() != 0 {
		t.Fatal("a refused batch was stored")
	}

	code, out := e.post(batch(ev("a@example.com", "open", t0, "o1")), "", map[string]string{"On-Behalf-Of": "asub"})
	if code != 200 || !strings.Contains(out, `"stored":1`) || !strings.Contains(out, `"unmatched":0`) {
		t.Fatalf("on behalf of asub: %d %s", code, out)
	}
	if n := subCount(); n != 1 {
		t.Errorf("asub's segment counts %v, want 1", n)
	}
	if n := e.count(parentSeg); n != 0 {
		t.Errorf("the parent's segment counts %v: the subuser's event went to the parent", n)
	}

	// The subuser's verification key applies to what is posted for it.
	sg := newSigner(t)
	if err := e.Svc.SetWebhookKey(context.Background(), "asub", sg.pub); err != nil {
		t.Fatal(err)
	}
	body := batch(ev("a@example.com", "open", t0, "o2"))
	if code, out := e.post(body, "", map[string]string{"On-Behalf-Of": "asub"}); code != http.StatusForbidden {
		t.Errorf("unsigned for a verifying subuser: %d %s", code, out)
	}
	hdr := sg.headers(t, t0, body)
	hdr["On-Behalf-Of"] = "asub"
	if code, out := e.post(body, "", hdr); code != 200 {
		t.Errorf("signed with the subuser's key: %d %s", code, out)
	}
}

// basic is the Authorization header of HTTP Basic authentication.
func basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// signer is a SendGrid signed-webhook key pair.
type signer struct {
	priv *ecdsa.PrivateKey
	pub  string // base64 DER, as SendGrid shows it
}

func newSigner(t *testing.T) signer {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return signer{priv: priv, pub: base64.StdEncoding.EncodeToString(der)}
}

func (s signer) headers(t *testing.T, ts time.Time, body string) map[string]string {
	tss := strconv.FormatInt(ts.Unix(), 10)
	sum := sha256.Sum256([]byte(tss + body))
	sig, err := ecdsa.SignASN1(rand.Reader, s.priv, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{webhook.HeaderSignature: base64.StdEncoding.EncodeToString(sig), webhook.HeaderTimestamp: tss}
}

func TestSignatureVerification(t *testing.T) {
	e := newEnv(t)
	s, other := newSigner(t), newSigner(t)
	body := batch(ev("a@example.com", "open", t0, "s1"))

	// Without a configured key, requests are not verified.
	if code, out := e.post(body, "", nil); code != 200 {
		t.Fatalf("unsigned without a key: %d %s", code, out)
	}
	if err := e.Svc.SetWebhookKey(context.Background(), "default", s.pub); err != nil {
		t.Fatal(err)
	}
	if err := e.Svc.SetWebhookKey(context.Background(), "default", "bm90IGEga2V5"); segmentd.ErrorKindOf(err) != segmentd.KindInvalid {
		t.Fatalf("setting a non-key: %v", err)
	}
	body = batch(ev("a@example.com", "open", t0, "s2"))
	tampered := strings.Replace(body, "open", "click", 1)
	tests := []struct {
		name string
		body string
		hdr  map[string]string
		want int
	}{
		{"good", body, s.headers(t, t0, body), 200},
		{"good at the window's edge", body, s.headers(t, t0.Add(-webhook.SignatureWindow), body), 200},
		{"good at the future edge", body, s.headers(t, t0.Add(webhook.SignatureWindow), body), 200},
		{"missing headers", body, nil, 403},
		{"missing timestamp", body, map[string]string{webhook.HeaderSignature: s.headers(t, t0, body)[webhook.HeaderSignature]}, 403},
		{"other key", body, other.headers(t, t0, body), 403},
		{"tampered body", tampered, s.headers(t, t0, body), 403},
		{"stale", body, s.headers(t, t0.Add(-webhook.SignatureWindow-time.Second), body), 403},
		{"future", body, s.headers(t, t0.Add(webhook.SignatureWindow+time.Second), body), 403},
		{"not base64", body, map[string]string{webhook.HeaderSignature: "%%%", webhook.HeaderTimestamp: strconv.FormatInt(t0.Unix(), 10)}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := e.post(tt.body, "", tt.hdr)
			if code != tt.want {
				t.Fatalf("status %d %s, want %d", code, out, tt.want)
			}
		})
	}
	// The timestamp is part of what is signed: a fresh timestamp on an old
	// signature fails.
	h := s.headers(t, t0.Add(-time.Hour), body)
	h[webhook.HeaderTimestamp] = strconv.FormatInt(t0.Unix(), 10)
	if code, out := e.post(body, "", h); code != 403 {
		t.Fatalf("replayed signature with a new timestamp: %d %s", code, out)
	}
	// PEM is accepted too, and removing the key turns verification off.
	if err := e.Svc.SetWebhookKey(context.Background(), "default", ""); err != nil {
		t.Fatal(err)
	}
	if code, out := e.post(body, "", nil); code != 200 {
		t.Fatalf("unsigned after removing the key: %d %s", code, out)
	}
}

func TestDuplicatesAndOutOfOrder(t *testing.T) {
	e := newEnv(t)
	e.upsert("a@example.com", "b@example.com")
	last := e.segment("last open recent", "SELECT c.contact_id, c.updated_at FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' GROUP BY c.contact_id HAVING MAX(e.event_timestamp) > timestampadd(day, -7, current_timestamp)")
	opened := e.segment("opened", typeSegment("open"))

	// b's newest open arrives first, its old open later: b stays in.
	b1 := batch(ev("b@example.com", "open", t0.Add(-time.Hour), "b-new"), ev("a@example.com", "open", t0.Add(-30*24*time.Hour), "a-old"))
	r := e.ok(b1)
	if r.Stored != 2 {
		t.Fatalf("first batch %+v", r)
	}
	r = e.ok(batch(ev("b@example.com", "open", t0.Add(-60*24*time.Hour), "b-old")))
	if r.Stored != 1 || e.count(last) != 1 || e.count(opened) != 2 {
		t.Fatalf("after the older event: %+v, last %d, opened %d", r, e.count(last), e.count(opened))
	}
	// Redelivery: counts in the response, nothing changes.
	r = e.ok(b1)
	if r.Received != 2 || r.Stored != 0 || r.Duplicates != 2 {
		t.Fatalf("redelivered batch %+v", r)
	}
	// A repeat inside one batch counts once.
	r = e.ok(batch(ev("a@example.com", "click", t0, "c1"), ev("a@example.com", "click", t0, "c1")))
	if r.Stored != 1 || r.Duplicates != 1 {
		t.Fatalf("repeat within a batch %+v", r)
	}
	if e.count(last) != 1 || e.count(opened) != 2 {
		t.Fatalf("counts changed by redelivery: last %d, opened %d", e.count(last), e.count(opened))
	}
}

func TestMalformedEventsReported(t *testing.T) {
	e := newEnv(t)
	e.upsert("a@example.com")
	opened := e.segment("opened", typeSegment("open"))
	ts := t0.Unix()
	body := fmt.Sprintf(`[
	{"email":"a@example.com","timestamp":%[1]d,"event":"open","sg_event_id":"ok1"},
	{"timestamp":%[1]d,"event":"open"},
	{"email":"a@example.com","event":"open"},
	{"email":"a@example.com","timestamp":%[1]d},
	{"email":42,"timestamp":%[1]d,"event":"open"},
	{"email":"a@example.com","timestamp":"yesterday","event":"open"},
	"not an object",
	null,
	{"email":"not-an-email","timestamp":%[1]d,"event":"open"},
	{"email":"a@example.com","timestamp":%[1]d,"event":"open","sg_event_id":{"x":1}},
	{"email":"A@Example.com","timestamp":%[1]d,"event":"Opened","sg_event_id":"ok2"}
	]`, ts)
	r := e.ok(body)
	if r.Received != 11 || r.Stored != 2 || r.Rejected != 9 || len(r.Errors) != 9 {
		t.Fatalf("response %+v", r)
	}
	wantIdx := []int{1, 2, 3, 4, 5, 6, 7, 8, 9}
	wantMsg := []string{"email is required", "timestamp is required", "event is required", "email must be a string", "timestamp must be a number", "must be a JSON object", "email is required", "not an email address", "must be a string or a number"}
	for i, er := range r.Errors {
		if er.Index != wantIdx[i] || !strings.Contains(er.Message, wantMsg[i]) {
			t.Errorf("errors[%d] = %+v, want index %d and %q", i, er, wantIdx[i], wantMsg[i])
		}
	}
	if n := e.count(opened); n != 1 {
		t.Fatalf("opened = %d, want 1 (the valid events are stored)", n)
	}
}

func TestLimitsAndBadBodies(t *testing.T) {
	e := newEnv(t, webhook.Options{MaxBodyBytes: 2000, MaxEvents: 3})
	one := ev("a@example.com", "open", t0, "")
	tests := []struct {
		name, body string
		want       int
		msg        string
	}{
		{"too many events", batch(one, one, one, one), 413, "at most 3 events"},
		{"body too large", batch(strings.Repeat(one+",", 20) + one), 413, "must not exceed 2000 bytes"},
		{"object, not array", one, 400, "JSON array"},
		{"not JSON", "[{", 400, `"field":"[0]","message":"[0]: invalid JSON at byte 2: expected a key string or '}', found the end of the document"`},
		{"trailing garbage", batch(one) + "]", 400, "expected the end of the document, found ']'"},
		{"empty", "", 400, "JSON array"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := e.post(tt.body, "", nil)
			if code != tt.want || !strings.Contains(out, tt.msg) {
				t.Fatalf("%d %s, want %d and %q", code, out, tt.want, tt.msg)
			}
		})
	}
	if code, out := e.post("[]", "", nil); code != 200 || !strings.Contains(out, `"received":0`) {
		t.Fatalf("empty batch: %d %s", code, out)
	}
	// A body of no declared length (chunked) is read to its end, and to
	// the limit.
	for _, tt := range []struct {
		body string
		want int
		msg  string
	}{
		{batch(one, one), 200, `"received":2`},
		{batch(strings.Repeat(one+",", 20) + one), 413, "must not exceed 2000 bytes"},
	} {
		rq, err := http.NewRequest("POST", e.URL+"/webhooks/sendgrid/events", io.MultiReader(strings.NewReader(tt.body)))
		if err != nil {
			t.Fatal(err)
		}
		rq.Header.Set("Authorization", "Bearer "+e.Key)
		if rq.ContentLength != 0 {
			t.Fatalf("the request declares %d bytes; the case needs none declared", rq.ContentLength)
		}
		resp, err := http.DefaultClient.Do(rq)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.want || !strings.Contains(string(out), tt.msg) {
			t.Fatalf("chunked body of %d bytes: %d %s, want %d and %q", len(tt.body), resp.StatusCode, out, tt.want, tt.msg)
		}
	}
}

// TestUnknownEmailsCountOnceTheContactAppears: events of an email with no
// contact are stored and join the contact when it is created.
func TestUnknownEmailsCountOnceTheContactAppears(t *testing.T) {
	e := newEnv(t)
	opened := e.segment("opened", typeSegment("open"))
	never := e.segment("never clicked", "SELECT contact_id, updated_at FROM contact_data WHERE contact_id NOT IN (SELECT contact_id FROM event_data WHERE event_type = 'click')")
	r := e.ok(batch(ev("new@example.com", "open", t0, "u1"), ev("new@example.com", "click", t0, "u2")))
	if r.Stored != 2 || r.Unmatched != 2 {
		t.Fatalf("response %+v", r)
	}
	if e.count(opened) != 0 {
		t.Fatal("an event without a contact counted")
	}
	e.upsert("New@Example.com", "other@example.com")
	if o, n := e.count(opened), e.count(never); o != 1 || n != 1 {
		t.Fatalf("after the upsert: opened %d (want 1), never clicked %d (want 1)", o, n)
	}
}

func TestParseEvent(t *testing.T) {
	got, err := webhook.Event([]byte(`{"email":" X@Y.com ","timestamp":1700000000.5,"event":"Clicked","url":"u","sg_event_id":"id","singlesend_id":"s","mc_auto_id":"a","marketing_campaign_id":77}`))
	if err != nil {
		t.Fatal(err)
	}
	want := segmentd.Event{Email: " X@Y.com ", Type: "click", Timestamp: time.UnixMilli(1700000000500).UTC(), URL: "u", SGEventID: "id", SinglesendID: "s", AutomationID: "a", MarketingCampaignID: "77"}
	if got != want {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
}
