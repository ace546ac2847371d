package console_test

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/console"
	"github.com/segmentd/segmentd/criteria"
	"github.com/segmentd/segmentd/hooks"
	"github.com/segmentd/segmentd/internal/facetest"
	"github.com/segmentd/segmentd/internal/metrics"
)

// The console's pages and JSON endpoints over HTTP, without a browser
// (cmd/segmentd/console_test.go drives them in Chromium).

// fixture is a console over a fresh account holding a custom field, a
// list, three contacts (one named with markup), a 2.0 segment, an SGQL
// segment and a Constant Contact segment.
type fixture struct {
	*facetest.Env
	list, field, sg, cc, contact string
}

// opts choose what a fixture's server keeps besides the console.
type opts struct {
	metrics   bool          // the counters of /metrics
	history   bool          // the membership history (a webhook dispatcher keeps it)
	retention time.Duration // how long it keeps transitions (default 30 days)
}

func start(t *testing.T, with opts) *fixture {
	t.Helper()
	cfg := facetest.Config{}
	if with.history {
		cfg.Service.HistoryRetention = cmp.Or(with.retention, 30*24*time.Hour)
		cfg.Outbox = func(e *facetest.Env) segmentd.Outbox {
			d := hooks.New(hooks.Options{Store: e.Store, Clock: e.Clock, Log: e.Log, History: e.Store, Retention: cfg.Service.HistoryRetention, Poll: 10 * time.Millisecond})
			if err := d.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(d.Close)
			return d
		}
	}
	e := facetest.Start(t, func(e *facetest.Env) http.Handler {
		o := console.Options{Service: e.Svc, Log: e.Log}
		if with.metrics {
			// The engine's series of the signed-in account (1) and of
			// another.
			o.Metrics = metrics.New(metrics.Options{Accounts: func() []metrics.AccountStats {
				return []metrics.AccountStats{{ID: 1, Contacts: 3}, {ID: 999, Contacts: 77}}
			}}).Families
		}
		return console.NewHandler(o)
	}, cfg)
	ctx, acct, svc := context.Background(), e.DefaultAccount(), e.Svc
	f := &fixture{Env: e}
	field, err := svc.CreateField(ctx, acct, "plan", segmentd.FieldText)
	if err != nil {
		t.Fatal(err)
	}
	f.field = field.ID
	list, err := svc.CreateList(ctx, acct, "VIP <list>")
	if err != nil {
		t.Fatal(err)
	}
	f.list = list.ID
	str := func(s string) *string { return &s }
	pro := &segmentd.Value{Type: segmentd.FieldText, Text: "pro"}
	job, err := svc.UpsertContacts(ctx, acct, []segmentd.ContactPatch{
		{Email: str("a@example.com"), Country: str("US"), FirstName: str("<script>alert(1)</script>"), CustomFields: map[string]*segmentd.Value{f.field: pro}},
		{Email: str("b@example.com"), Country: str("US")},
		{Email: str("c@example.com"), Country: str("FR")},
	}, []string{f.list})
	if err != nil {
		t.Fatal(err)
	}
	facetest.WaitJob(t, svc, acct, job)
	opened := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if _, err := svc.AddEvents(ctx, acct, []segmentd.Event{
		{Email: "a@example.com", Type: "open", Timestamp: opened, SGEventID: "e1"},
		{Email: "a@example.com", Type: "click", Timestamp: opened.Add(time.Minute), URL: "https://example.com/<x>", SGEventID: "e2"},
	}); err != nil {
		t.Fatal(err)
	}
	sg, err := svc.CreateSegment(ctx, acct, "US <b>2.0</b>", "SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'", "2", nil)
	if err != nil {
		t.Fatal(err)
	}
	f.sg = sg.ID
	if _, err := svc.CreateSegment(ctx, acct, "pro (v1)", "plan = 'pro'", "", nil); err != nil {
		t.Fatal(err)
	}
	cc, err := svc.CreateCCSegment(ctx, acct, "France",
		`{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"contact","field":"country","op":"eq","const_value":"FR"}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	f.cc = strconv.FormatInt(cc.ID, 10)
	_, found, err := svc.ContactsByEmails(ctx, acct, []string{"a@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	f.contact = found["a@example.com"].ID
	return f
}

// get fetches a view with key (nil: the fixture's).
func (f *fixture) get(t *testing.T, path string, key *string) facetest.Response {
	t.Helper()
	return f.Call(t, facetest.Request{Method: "GET", Path: path, Key: key})
}

// want fails unless r has status and its body holds every one of parts.
func want(t *testing.T, r facetest.Response, status int, parts ...string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: %d, want %d\n%s", r.Request, r.Status, status, r.Body)
	}
	for _, p := range parts {
		if !strings.Contains(string(r.Body), p) {
			t.Errorf("%s: body lacks %q\n%s", r.Request, p, r.Body)
		}
	}
}

func TestShellAndStatic(t *testing.T) {
	f := start(t, opts{})
	none := ""
	for _, path := range []string{"/console/", "/console/segments", "/console/segments/new", "/console/segments/sg/x", "/console/segments/cc/1",
		"/console/contacts", "/console/contacts/x", "/console/lists", "/console/server", "/console/segments/edit"} {
		r := f.get(t, path, &none)
		want(t, r, 200, `<script src="/console/static/console.js" defer></script>`, `id="signin-form" method="post"`)
		if got := r.Header.Get("Content-Security-Policy"); !strings.Contains(got, "script-src 'self'") || !strings.Contains(got, "frame-ancestors 'none'") || strings.Contains(got, "unsafe") {
			t.Errorf("%s: CSP %q", path, got)
		}
		for h, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
			if got := r.Header.Get(h); got != v {
				t.Errorf("%s: %s = %q, want %q", path, h, got, v)
			}
		}
	}
	// Nothing inline: every script and style is a file of the console.
	shell := string(f.get(t, "/console/", &none).Body)
	if strings.Contains(shell, "<script>") || strings.Contains(shell, "<style") || strings.Contains(shell, " on") && strings.Contains(shell, "onclick") {
		t.Errorf("the shell holds inline script or style:\n%s", shell)
	}
	for path, ctype := range map[string]string{"/console/static/console.js": "text/javascript", "/console/static/console.css": "text/css"} {
		r := f.get(t, path, &none)
		want(t, r, 200)
		if got := r.Header.Get("Content-Type"); !strings.HasPrefix(got, ctype) {
			t.Errorf("%s: Content-Type %q", path, got)
		}
	}
	want(t, f.get(t, "/console/nowhere/at/all", &none), 404, "The console has no page at /console/nowhere/at/all")
	r := f.get(t, "/console/api/nothing", &none)
	want(t, r, 404, `{"errors":[{"message":"no console endpoint at GET /console/api/nothing"}]}`)
}

func TestViewsNeedAKey(t *testing.T) {
	f := start(t, opts{})
	none, wrong := "", "SG.not-a-key"
	eventsOnly := f.NewKey("default", "", segmentd.ScopeEventsWrite)
	for _, path := range []string{"/console/view/segments", "/console/view/segments/sg/" + f.sg, "/console/view/editor", "/console/view/contacts",
		"/console/view/contacts/" + f.contact, "/console/view/lists", "/console/view/server"} {
		want(t, f.get(t, path, &none), 401, `data-status="401"`, "authorization required")
		want(t, f.get(t, path, &wrong), 401, "authorization required")
		want(t, f.get(t, path, &eventsOnly), 403, "access forbidden: this API key lacks the sendgrid.read scope")
	}
	want(t, f.get(t, "/console/view/segments/cc/"+f.cc, &eventsOnly), 403, "lacks the constantcontact.read scope")
	r := f.Call(t, facetest.Request{Method: "POST", Path: "/console/api/preview", Key: &none, Body: `{"language":"sql","query":"x"}`})
	want(t, r, 401, "authorization required")
}

func TestSegmentsViews(t *testing.T) {
	f := start(t, opts{})
	// Both vendors' segments with their counts, names escaped.
	r := f.get(t, "/console/view/segments", nil)
	want(t, r, 200, "US &lt;b&gt;2.0&lt;/b&gt;", `<td class="num count">2</td>`, "France", "Constant Contact", `<td class="num count">1</td>`,
		"pro (v1)", "SGQL (v1)", "SELECT contact_id, updated_at FROM contact_data WHERE country = &#39;US&#39;", `href="/console/segments/cc/`+f.cc+`"`)
	if strings.Contains(string(r.Body), "<b>2.0</b>") {
		t.Errorf("a segment's name is not escaped:\n%s", r.Body)
	}
	sgOnly := f.NewKey("default", "", segmentd.ScopeSendGridRead)
	r = f.get(t, "/console/view/segments", &sgOnly)
	want(t, r, 200, "lacks the constantcontact.read scope, so Constant Contact&#39;s segments are not shown", "US &lt;b&gt;2.0&lt;/b&gt;")
	if strings.Contains(string(r.Body), "France") {
		t.Errorf("a key without constantcontact.read sees Constant Contact's segments")
	}

	want(t, f.get(t, "/console/view/segments/sg/"+f.sg, nil), 200, `<dd class="count" id="segment-count">2</dd>`, "a@example.com", "b@example.com",
		`href="/console/segments/edit?sg=`+f.sg+`"`)
	want(t, f.get(t, "/console/view/segments/sg/00000000-0000-4000-8000-000000000000", nil), 404, `data-status="404"`)
	want(t, f.get(t, "/console/view/segments/cc/"+f.cc, nil), 200, `id="segment-count">1</dd>`, "c@example.com", "criteria")
	want(t, f.get(t, "/console/view/segments/cc/abc", nil), 404, "segment &#34;abc&#34; does not exist")
	want(t, f.get(t, "/console/view/segments/cc/999", nil), 404)

	// The editor: empty, or filled with the segment being edited.
	want(t, f.get(t, "/console/view/editor", nil), 200, `data-page="editor" data-vendor="" data-id=""`, `<option value="sql" selected>`)
	want(t, f.get(t, "/console/view/editor?language=cc", nil), 200, `<option value="cc" selected>`, `<div id="cc-form" class="ccform">`)
	want(t, f.get(t, "/console/view/editor", nil), 200, `<div id="cc-form" class="ccform" hidden>`)
	want(t, f.get(t, "/console/view/editor?sg="+f.sg, nil), 200, `data-vendor="sg" data-id="`+f.sg+`"`, `value="US &lt;b&gt;2.0&lt;/b&gt;"`,
		"WHERE country = &#39;US&#39;</textarea>", `<select id="seg-lang" name="language" disabled>`)
	want(t, f.get(t, "/console/view/editor?cc="+f.cc, nil), 200, `data-vendor="cc"`, `<option value="cc" selected>`, "&#34;const_value&#34;:&#34;FR&#34;")
	want(t, f.get(t, "/console/view/editor?sg=nope", nil), 404)
	want(t, f.get(t, "/console/view/editor?cc=nope", nil), 404)
	want(t, f.get(t, "/console/view/editor?cc="+f.cc, &sgOnly), 403, "constantcontact.read")
}

func TestContactsViews(t *testing.T) {
	f := start(t, opts{})
	want(t, f.get(t, "/console/view/contacts", nil), 200, "A sample of the account&#39;s contacts.", `<strong id="contacts-total">3</strong>`,
		"&lt;script&gt;alert(1)&lt;/script&gt;")
	r := f.get(t, "/console/view/contacts?mode=email&q=A@Example.com", nil)
	want(t, r, 200, `<strong id="contacts-total">1</strong>`, `href="/console/contacts/`+f.contact+`"`)
	want(t, f.get(t, "/console/view/contacts?mode=email&q=not-an-email", nil), 400, "is not a valid email address")
	want(t, f.get(t, "/console/view/contacts?mode=sgql&q=country+%3D+%27US%27", nil), 200, `<strong id="contacts-total">2</strong>`, "b@example.com")
	want(t, f.get(t, "/console/view/contacts?mode=sgql&q=countryy+%3D+1", nil), 400, "1:1: unknown column &#39;countryy&#39;")
	if body := string(f.get(t, "/console/view/contacts", nil).Body); strings.Contains(body, "<script>alert") {
		t.Errorf("a contact's name is not escaped:\n%s", body)
	}

	r = f.get(t, "/console/view/contacts/"+f.contact, nil)
	want(t, r, 200, "<h1>a@example.com</h1>", "plan <span class=\"tag\">custom</span></th><td>pro</td>", "VIP &lt;list&gt;",
		`<a href="/console/segments/sg/`+f.sg+`">US &lt;b&gt;2.0&lt;/b&gt; (SendGrid)</a>`, "pro (v1) (SendGrid)")
	if strings.Contains(string(r.Body), "France") {
		t.Errorf("a US contact shows the France segment")
	}
	want(t, r, 200, `<th scope="row">2026-03-01 12:01:00Z</th><td>click</td><td>mail</td><td></td><td></td><td></td><td>https://example.com/&lt;x&gt;</td></tr>
<tr><th scope="row">2026-03-01 12:00:00Z</th><td>open</td>`)
	_, found, _ := f.Svc.ContactsByEmails(context.Background(), f.DefaultAccount(), []string{"c@example.com"})
	want(t, f.get(t, "/console/view/contacts/"+found["c@example.com"].ID, nil), 200, `<a href="/console/segments/cc/`+f.cc+`">France (Constant Contact)</a>`,
		"No engagement events.")
	sgOnly := f.NewKey("default", "", segmentd.ScopeSendGridRead)
	want(t, f.get(t, "/console/view/contacts/"+found["c@example.com"].ID, &sgOnly), 200, "the contact&#39;s Constant Contact segments are not shown")
	want(t, f.get(t, "/console/view/contacts/00000000-0000-4000-8000-000000000000", nil), 404)

	want(t, f.get(t, "/console/view/lists", nil), 200, "VIP &lt;list&gt;", `<td class="num count">3</td>`, "<strong>3</strong> contacts")
}

func TestServerView(t *testing.T) {
	f := start(t, opts{metrics: true})
	r := f.get(t, "/console/view/server", nil)
	want(t, r, 200, `<td>upsert</td><td class="state-completed">completed</td><td class="num">3</td><td class="num">3</td>`, "No exports.",
		"No webhook subscriptions.", "<h2>Metrics</h2>", "segmentd_webhook_delivery_duration_seconds",
		`segmentd_engine_contacts</code></th><td><code>account=1</code></td><td class="num">3</td>`)
	if f.DefaultAccount() != 1 || strings.Contains(string(r.Body), "account=999") || strings.Contains(string(r.Body), "go_goroutines") {
		t.Errorf("the server page shows another account's series, or the runtime's:\n%s", r.Body)
	}
	sgOnly := f.NewKey("default", "", segmentd.ScopeSendGridRead)
	want(t, f.get(t, "/console/view/server", &sgOnly), 200, "lacks the segmentd.webhooks scope")

	// Another account sees none of the first one's jobs.
	other := f.NewKey("other", "", segmentd.AllScopes...)
	r = f.get(t, "/console/view/server", &other)
	want(t, r, 200, "No jobs since the server started.")

	plain := start(t, opts{})
	want(t, plain.get(t, "/console/view/server", nil), 200, "This server keeps no metrics (--metrics=false).")
}

func TestPreview(t *testing.T) {
	f := start(t, opts{})
	post := func(body string, key *string) facetest.Response {
		return f.Call(t, facetest.Request{Method: "POST", Path: "/console/api/preview", Key: key, Body: body})
	}
	type result struct {
		Count  int `json:"count"`
		Sample []struct {
			ID, Email, Name string
		} `json:"sample"`
		Error *struct {
			Message      string
			Line, Column int
			Path         string
		} `json:"error"`
	}
	for _, tt := range []struct {
		body      string
		count     int
		err       string
		line, col int
		path      string
	}{
		{body: `{"language":"sql","query":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"}`, count: 2},
		{body: `{"language":"sgql","query":"plan = 'pro'"}`, count: 1},
		{body: `{"language":"cc","query":"{\"version\":\"1.0.0\",\"criteria\":{\"type\":\"and\",\"group\":[{\"source\":\"contact\",\"field\":\"country\",\"op\":\"eq\",\"const_value\":\"FR\"}]}}"}`, count: 1},
		{body: `{"language":"sql","query":"SELECT contact_id, updated_at FROM contact_data\nWHERE plann = 'pro'"}`, err: "2:7: illegal column name: 'plann'", line: 2, col: 7},
		{body: `{"language":"sgql","query":"country = "}`, err: "1:11: ", line: 1, col: 11},
		{body: `{"language":"cc","query":"{\"version\":\"1.0.0\",\"criteria\":{\"type\":\"and\",\"group\":[{\"source\":\"contact\",\"field\":\"nope\",\"op\":\"eq\",\"const_value\":\"FR\"}]}}"}`,
			err: "criteria.group[0].field", path: "criteria.group[0].field"},
	} {
		r := post(tt.body, nil)
		want(t, r, 200)
		var got result
		r.Decode(t, &got)
		switch {
		case tt.err == "":
			if got.Error != nil || got.Count != tt.count || len(got.Sample) != tt.count {
				t.Errorf("%s: %s, want count %d", tt.body, r.Body, tt.count)
			}
		case got.Error == nil || !strings.HasPrefix(got.Error.Message, tt.err) && !strings.Contains(got.Error.Message, tt.err) ||
			got.Error.Line != tt.line || got.Error.Column != tt.col || got.Error.Path != tt.path:
			t.Errorf("%s: %s, want error %q at %d:%d path %q", tt.body, r.Body, tt.err, tt.line, tt.col, tt.path)
		}
	}
	for _, tt := range []struct {
		body   string
		status int
		want   string
	}{
		{`{"language":"cobol","query":"x"}`, 400, `{"errors":[{"field":"language","message":"language must be sql, sgql or cc, not \"cobol\""}]}`},
		{`{"language":"sql","query":"  "}`, 400, `"message":"query is required"`},
		{`{"language":"sql","query":`, 400, `"message":`},
		{`["sql"]`, 400, `the request body must be a JSON object`},
		{`{"language":"sql","language":"sgql","query":"x"}`, 400, `language`},
		{`{"language":"sql","query":"` + strings.Repeat("x", console.MaxBody) + `"}`, 413, `the request body must be at most 65536 bytes`},
	} {
		want(t, post(tt.body, nil), tt.status, tt.want)
	}
}

// TestServiceReads covers the Service calls the console adds: a
// contact's events within their limit, a contact's segments of both
// vendors, the jobs accepted lately.
func TestServiceReads(t *testing.T) {
	f := start(t, opts{})
	ctx, acct := context.Background(), f.DefaultAccount()
	for _, limit := range []int{0, 101} {
		if _, err := f.Svc.ContactEvents(ctx, acct, f.contact, limit); segmentd.ErrorKindOf(err) != segmentd.KindInvalid ||
			!strings.Contains(err.Error(), "limit must be between 1 and 100") {
			t.Errorf("limit %d: %v", limit, err)
		}
	}
	if _, err := f.Svc.ContactEvents(ctx, acct, "00000000-0000-4000-8000-000000000000", 10); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Errorf("unknown contact: %v", err)
	}
	if evs, err := f.Svc.ContactEvents(ctx, acct, f.contact, 1); err != nil || len(evs) != 1 || evs[0].Type != "click" {
		t.Errorf("the latest event: %+v, %v", evs, err)
	}
	sg, cc, err := f.Svc.ContactSegments(ctx, acct, f.contact)
	if err != nil || len(sg) != 2 || len(cc) != 0 {
		t.Errorf("a's segments: %v %v %v", sg, cc, err)
	}
	jobs, err := f.Svc.RecentJobs(ctx, acct)
	if err != nil || len(jobs) != 1 || jobs[0].Status != segmentd.JobCompleted || jobs[0].Created != 3 {
		t.Errorf("recent jobs: %+v, %v", jobs, err)
	}
	// At most 50 are kept, newest first.
	var last string
	for i := range 55 {
		email := "n" + strconv.Itoa(i) + "@example.com"
		id, err := f.Svc.UpsertContacts(ctx, acct, []segmentd.ContactPatch{{Email: &email}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		last = id
	}
	facetest.WaitJob(t, f.Svc, acct, last)
	jobs, err = f.Svc.RecentJobs(ctx, acct)
	if err != nil || len(jobs) != 50 || jobs[0].ID != last {
		t.Errorf("after 56 jobs: %d jobs, first %v, %v", len(jobs), jobs[0].ID, err)
	}
}

func TestSegmentExplain(t *testing.T) {
	f := start(t, opts{})
	// Explain: by email or id, each clause with its verdict and values.
	want(t, f.get(t, "/console/view/segments/sg/"+f.sg, nil), 200, `<form id="explain-form" class="search" data-get="/console/segments/sg/`+f.sg+`">`)
	r := f.get(t, "/console/view/segments/sg/"+f.sg+"?explain=a@example.com", nil)
	want(t, r, 200, `<span class="verdict-true">is a member</span>`, `<code>country = &#39;US&#39;</code>`, `<code>country</code> = <code>&#34;US&#34;</code>`)
	_, found, _ := f.Svc.ContactsByEmails(context.Background(), f.DefaultAccount(), []string{"c@example.com"})
	r = f.get(t, "/console/view/segments/sg/"+f.sg+"?explain="+found["c@example.com"].ID, nil)
	want(t, r, 200, `<span class="verdict-false">is not a member</span>`, `<code>&#34;FR&#34;</code>`)
	want(t, f.get(t, "/console/view/segments/sg/"+f.sg+"?explain=nobody@example.com", nil), 200, `<p class="problem" role="alert">`, "nobody@example.com")
	want(t, f.get(t, "/console/view/segments/cc/"+f.cc+"?explain=c@example.com", nil), 200, `<span class="verdict-true">is a member</span>`)
}

func TestSegmentHistory(t *testing.T) {
	f := start(t, opts{history: true})
	// A chart over the last 7 days, and the 2 entries.
	r := f.get(t, "/console/view/segments/sg/"+f.sg, nil)
	want(t, r, 200, "Over the last 7 days, hour by hour", `<svg viewBox="0 0 720 220" role="img"`, `<polyline class="line" points="`,
		"the segment held between 0 and 2 contacts; 2 at the end.", `<td class="state-completed">entered</td><td>definition</td>`,
		">a@example.com</a>", ">b@example.com</a>")
	want(t, f.get(t, "/console/view/segments/cc/"+f.cc, nil), 200, "held between 0 and 1 contacts; 1 at the end.", ">c@example.com</a>")
	noHistory := f.NewKey("default", "", segmentd.ScopeSendGridRead)
	r = f.get(t, "/console/view/segments/sg/"+f.sg, &noHistory)
	want(t, r, 200, "This API key lacks the segmentd.history scope, so the segment&#39;s history is not shown.")
	if strings.Contains(string(r.Body), "<svg") {
		t.Errorf("a key without segmentd.history sees the history")
	}
	// Without a history kept, the page says so.
	plain := start(t, opts{})
	want(t, plain.get(t, "/console/view/segments/sg/"+plain.sg, nil), 200, "this server keeps no membership history")
	// A history of less than a day: the page says what is kept.
	short := start(t, opts{history: true, retention: 2 * time.Hour})
	r = short.get(t, "/console/view/segments/sg/"+short.sg, nil)
	want(t, r, 200, "The history of the last 24 hours is not shown: from ", "is before the oldest time the history keeps", "--history-retention=2h0m0s")
	if strings.Contains(string(r.Body), "<svg") {
		t.Errorf("a history of 2 hours drawn over a day")
	}
}

// TestCriteriaForm covers what the editor's criteria form offers: the
// account's custom fields by name with their custom_field_id, its lists
// and tags by name with their ids, and the criteria package's fields and
// operators, each of which a criteria document built from them passes.
func TestCriteriaForm(t *testing.T) {
	f := start(t, opts{})
	ctx, acct := context.Background(), f.DefaultAccount()
	if _, err := f.Svc.CreateField(ctx, acct, "age", segmentd.FieldNumber); err != nil {
		t.Fatal(err)
	}
	tag, err := f.Svc.CreateTag(ctx, acct, "Gold <tag>", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Svc.CreateTag(ctx, acct, "bronze", ""); err != nil {
		t.Fatal(err)
	}
	type field struct{ ID, Name, Type string }
	type choice struct{ ID, Name string }
	var got struct {
		ContactFields  []field             `json:"contact_fields"`
		CustomFields   []field             `json:"custom_fields"`
		Operators      map[string][]string `json:"operators"`
		TrackingFields []string            `json:"tracking_fields"`
		Lists          []choice            `json:"lists"`
		Tags           []choice            `json:"tags"`
	}
	r := f.get(t, "/console/api/criteria-form", nil)
	want(t, r, 200)
	r.Decode(t, &got)
	defs, err := f.Svc.FieldsByID(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	var ageID string
	for id, d := range defs {
		if d.Name == "age" {
			ageID = id
		}
	}
	wantCustom := []field{{criteria.FieldUUID(ageID), "age", "number"}, {criteria.FieldUUID(f.field), "plan", "text"}}
	if !slices.Equal(got.CustomFields, wantCustom) {
		t.Errorf("custom fields %v, want %v", got.CustomFields, wantCustom)
	}
	if want := []choice{{f.list, "VIP <list>"}}; !slices.Equal(got.Lists, want) {
		t.Errorf("lists %v, want %v", got.Lists, want)
	}
	if len(got.Tags) != 2 || got.Tags[0].Name != "bronze" || got.Tags[1] != (choice{tag.ID, "Gold <tag>"}) {
		t.Errorf("tags %v, want bronze then Gold <tag> (%s)", got.Tags, tag.ID)
	}
	if len(got.ContactFields) < 11 || got.ContactFields[0] != (field{"", "email_address", "text"}) ||
		!slices.Contains(got.ContactFields, field{"", "created_at", "date"}) {
		t.Errorf("contact fields %v", got.ContactFields)
	}
	if !slices.Equal(got.Operators["number"], []string{"eq", "ne", "gt", "gte", "lt", "lte", "is-empty", "is-not-empty"}) ||
		!slices.Contains(got.Operators["text"], "starts-with") || !slices.Contains(got.Operators["date"], "in-last-n-days") {
		t.Errorf("operators %v", got.Operators)
	}
	if !slices.Contains(got.TrackingFields, "not_opened") || len(got.TrackingFields) != 9 {
		t.Errorf("tracking fields %v", got.TrackingFields)
	}
	// The ids it gives are the ones a criteria document names: a
	// preview of one built from them counts the contact.
	doc := `{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"contact","field":"custom_field","param":"` + got.CustomFields[1].ID +
		`","op":"eq","const_value":"pro"},{"source":"list_membership","field":"list_id","op":"contains-any","const_value":"` + got.Lists[0].ID + `"}]}}`
	body, _ := json.Marshal(map[string]string{"language": "cc", "query": doc})
	want(t, f.Call(t, facetest.Request{Method: "POST", Path: "/console/api/preview", Body: string(body)}), 200, `"count":1,`, "a@example.com")

	// It needs constantcontact.read, as Constant Contact's segments do.
	none, sgOnly := "", f.NewKey("default", "", segmentd.ScopeSendGridRead)
	want(t, f.get(t, "/console/api/criteria-form", &none), 401, `{"errors":[{"message":"authorization required"}]}`)
	want(t, f.get(t, "/console/api/criteria-form", &sgOnly), 403, "lacks the constantcontact.read scope")
	want(t, f.Call(t, facetest.Request{Method: "POST", Path: "/console/api/criteria-form"}), 404, "no console endpoint at POST /console/api/criteria-form")
}
