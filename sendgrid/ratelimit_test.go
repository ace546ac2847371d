package sendgrid_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sendgrid/rest"
	sendgrid "github.com/sendgrid/sendgrid-go"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
	sg "github.com/segmentd/segmentd/sendgrid"
)

// TestRateLimits: with RateLimits, each key may make RateLimit requests to
// each endpoint in a window of the service's clock; past that it is
// answered SendGrid's 429 (validated against the specs), with headers
// saying the limit, nothing left and the window's end, until the clock
// reaches that end. Other keys and other endpoints keep their own budgets;
// a forbidden request counts and is refused like any other; requests
// without a valid key are answered 401 and never limited.
func TestRateLimits(t *testing.T) {
	start := time.Date(2030, 3, 12, 12, 0, 20, 0, time.UTC)
	reset := time.Date(2030, 3, 12, 12, 1, 0, 0, time.UTC)
	e := newEnvWith(t, facetest.Config{Now: start}, sg.Options{RateLimits: true, RateLimit: 3})
	other := e.NewKey(segmentd.DefaultAccountName, "")
	readOnly := e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeSendGridRead)
	tooMany := authErr("too many requests")

	get := call{method: "GET", path: fieldsPath}
	for i := range 3 {
		r := e.do(t, get)
		facetest.WantStatus(t, r, http.StatusOK)
		wantRateHeaders(t, r, 3, 2-i, reset)
	}
	r := e.do(t, get)
	facetest.WantError(t, r, http.StatusTooManyRequests, tooMany)
	wantRateHeaders(t, r, 3, 0, reset)
	// The operation lists no 429: e.do checked the body against SendGrid's
	// common envelope (the check is not vacuous: it fails a body whose
	// errors is not an array).
	bad := facetest.Response{Request: r.Request, Status: http.StatusTooManyRequests, Header: r.Header, Body: []byte(`{"errors":"too many requests"}`)}
	if err := sendgridSpec.Validate(t, "GET", fieldsPath, "", bad); err == nil {
		t.Errorf("a 429 outside SendGrid's envelope passes the spec check")
	}

	// Another key, another endpoint (the same path with another method
	// included): budgets of their own.
	r = e.do(t, call{method: "GET", path: fieldsPath, key: &other})
	facetest.WantStatus(t, r, http.StatusOK)
	wantRateHeaders(t, r, 3, 2, reset)
	r = e.do(t, call{method: "GET", path: listsPath})
	facetest.WantStatus(t, r, http.StatusOK)
	wantRateHeaders(t, r, 3, 2, reset)
	r = e.do(t, call{method: "POST", path: fieldsPath, body: `{"name":"plan","field_type":"Text"}`})
	facetest.WantStatus(t, r, http.StatusOK)
	wantRateHeaders(t, r, 3, 2, reset)

	// A key's forbidden requests count; past the limit the 429 comes
	// before the 403.
	write := call{method: "POST", path: listsPath, key: &readOnly, body: `{"name":"L"}`}
	for i := range 3 {
		r := e.do(t, write)
		facetest.WantError(t, r, http.StatusForbidden, authErr("access forbidden: this API key lacks the sendgrid.write scope"))
		wantRateHeaders(t, r, 3, 2-i, reset)
	}
	facetest.WantError(t, e.do(t, write), http.StatusTooManyRequests, tooMany)

	// Without a valid key: 401, nothing counted, the whole budget shown.
	for _, key := range []string{"", "SG.unknown.key"} {
		for range 5 {
			r := e.do(t, call{method: "GET", path: fieldsPath, key: &key})
			facetest.WantError(t, r, http.StatusUnauthorized, authErr("authorization required"))
			wantRateHeaders(t, r, 3, 3, reset)
		}
	}

	// Paths no route serves share one budget per key.
	unrouted := []call{
		{method: "GET", path: "/v3/marketing/nothing-here", noSpec: "not an operation of the specs"},
		{method: "GET", path: "/v3/marketing/elsewhere", noSpec: "not an operation of the specs"},
		{method: "PUT", path: listsPath, noSpec: "not an operation of the specs"},
	}
	for i, c := range unrouted {
		r := e.do(t, c)
		if r.Status != http.StatusNotFound && r.Status != http.StatusMethodNotAllowed {
			t.Fatalf("%s: %d %s, want 404 or 405", r.Request, r.Status, r.Body)
		}
		wantRateHeaders(t, r, 3, 2-i, reset)
	}
	r = e.do(t, call{method: "GET", path: "/v3/mail/send", noSpec: "not an operation of the specs"})
	facetest.WantError(t, r, http.StatusTooManyRequests, tooMany)
	wantRateHeaders(t, r, 3, 0, reset)

	// The limit lifts at the reset, not a moment before.
	e.Clock.Set(reset.Add(-time.Millisecond))
	facetest.WantError(t, e.do(t, get), http.StatusTooManyRequests, tooMany)
	e.Clock.Set(reset)
	r = e.do(t, get)
	facetest.WantStatus(t, r, http.StatusOK)
	wantRateHeaders(t, r, 3, 2, reset.Add(time.Minute))
	facetest.WantError(t, e.do(t, write), http.StatusForbidden, authErr("access forbidden: this API key lacks the sendgrid.write scope"))
}

// TestRateLimitsAndRefreshLimits: with RateLimits on, the segment
// refresh's own limits refuse as before, and their headers win over the
// per-minute budget's.
func TestRateLimitsAndRefreshLimits(t *testing.T) {
	start := time.Date(2030, 3, 12, 12, 0, 0, 0, time.UTC)
	e := newEnvWith(t, facetest.Config{Now: start}, sg.Options{RateLimits: true})
	id := e.createSeg2(t, "s", usSQL).ID
	refresh := call{method: "POST", path: seg2Path + "/refresh/" + id, body: map[string]string{"user_time_zone": "UTC"}}
	r := e.do(t, refresh)
	facetest.WantStatus(t, r, http.StatusAccepted)
	wantRateHeaders(t, r, 600, 599, start.Add(time.Minute))
	r = e.do(t, refresh)
	facetest.WantError(t, r, http.StatusTooManyRequests, authErr("too many requests"))
	wantRateHeaders(t, r, 1, 0, start.Add(time.Hour))
}

// TestRateLimitsOff: without RateLimits nothing is refused, and the
// headers still count each key's requests to each endpoint.
func TestRateLimitsOff(t *testing.T) {
	start := time.Date(2030, 3, 12, 12, 0, 0, 0, time.UTC)
	reset := start.Add(time.Minute)
	e := newEnvWith(t, facetest.Config{Now: start}, sg.Options{RateLimit: 3})
	other := e.NewKey(segmentd.DefaultAccountName, "")
	for i := range 6 {
		r := e.do(t, call{method: "GET", path: fieldsPath})
		facetest.WantStatus(t, r, http.StatusOK)
		wantRateHeaders(t, r, 3, max(2-i, 0), reset)
	}
	r := e.do(t, call{method: "GET", path: fieldsPath, key: &other})
	facetest.WantStatus(t, r, http.StatusOK)
	wantRateHeaders(t, r, 3, 2, reset)
}

// TestRateLimitRetryWithSendGridGo: sendgrid-go's MakeRequestRetry, told
// 429, sleeps until X-RateLimit-Reset and tries again, which passes. The
// service's clock follows the system clock here (the client sleeps by
// it), with two-second windows so that the test waits at most that.
func TestRateLimitRetryWithSendGridGo(t *testing.T) {
	e := newEnvWith(t, facetest.Config{}, sg.Options{RateLimits: true, RateLimit: 2, RateWindow: 2 * time.Second})
	req := sendgrid.GetRequest(e.Key, fieldsPath, e.URL)
	req.Method = rest.Get
	// Requests until one is refused: at most the limit pass in a window,
	// so one of the first few is, unless a window ends between them.
	var reset int64
	for i := 0; reset == 0; i++ {
		if i == 20 {
			t.Fatal("20 requests in a row, none refused, with a limit of 2 per 2 seconds")
		}
		resp, err := sendgrid.MakeRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == http.StatusTooManyRequests {
			h := http.Header(resp.Headers)
			if h.Get("X-RateLimit-Remaining") != "0" || h.Get("X-RateLimit-Limit") != "2" {
				t.Fatalf("429 headers: %v", h)
			}
			if reset, err = strconv.ParseInt(h.Get("X-RateLimit-Reset"), 10, 64); err != nil || reset <= time.Now().Unix()-1 || reset > time.Now().Unix()+2 {
				t.Fatalf("429 X-RateLimit-Reset %q, now %d", h.Get("X-RateLimit-Reset"), time.Now().Unix())
			}
		}
	}
	resp, err := sendgrid.MakeRequestRetry(req)
	if err != nil {
		t.Fatalf("MakeRequestRetry: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("MakeRequestRetry: %d %s", resp.StatusCode, resp.Body)
	}
	if now := time.Now().Unix(); now < reset {
		t.Fatalf("MakeRequestRetry passed at %d, before the reset %d", now, reset)
	}
}
