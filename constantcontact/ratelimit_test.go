package constantcontact_test

import (
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	cc "github.com/segmentd/segmentd/constantcontact"
	"github.com/segmentd/segmentd/internal/facetest"
)

const (
	throttled = `{"error_key":"throttled","error_message":"Too Many Requests"}`
	quota     = `{"error_key":"quota_exceeded","error_message":"Limit Exceeded"}`
)

// TestRateLimits drives the per-key limits on the injected clock: 4
// requests in a second, then throttled until the next second; the daily
// quota (6 here) until 00:00 UTC; other keys unaffected.
func TestRateLimits(t *testing.T) {
	e := newEnvWith(t, facetest.Config{}, cc.Options{RateLimits: true, PerDay: 6})
	day := time.Date(2026, 7, 1, 23, 59, 58, 0, time.UTC)
	e.Clock.Set(day)
	list := facetest.Request{Method: "GET", Path: "/v3/segments"}
	for range 4 {
		e.must(t, list, 200)
	}
	facetest.WantError(t, e.do(t, list), 429, throttled)
	facetest.WantError(t, e.do(t, list), 429, throttled) // refused requests do not count…
	other := e.NewKey(segmentd.DefaultAccountName, "")
	e.must(t, facetest.Request{Method: "GET", Path: "/v3/segments", Key: &other}, 200) // …and each key has its own budget

	e.Clock.Set(day.Add(time.Second))
	e.must(t, list, 200)
	e.must(t, list, 200) // 6 today
	facetest.WantError(t, e.do(t, list), 429, quota)
	e.Clock.Set(day.Add(1900 * time.Millisecond))
	facetest.WantError(t, e.do(t, list), 429, quota) // a new second does not reset the day

	e.Clock.Set(day.Add(2 * time.Second)) // 00:00:00 UTC
	e.must(t, list, 200)
	// A request without a valid key is answered 401, never limited.
	for range 6 {
		facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: "/v3/segments", Key: facetest.Ptr("")}), 401, `{"error_key":"unauthorized","error_message":"Unauthorized"}`)
	}
}

// TestRateLimitsOffByDefault: without the option, no limit applies.
func TestRateLimitsOffByDefault(t *testing.T) {
	e := newEnv(t)
	e.Clock.Set(time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC))
	for range 10 {
		e.must(t, facetest.Request{Method: "GET", Path: "/v3/segments"}, 200)
	}
}

// TestRateLimitsCoverEveryRoute: the limits count every route of the
// face, custom fields, lists, tags, activities and the contact
// reads and writes included.
func TestRateLimitsCoverEveryRoute(t *testing.T) {
	e := newEnvWith(t, facetest.Config{}, cc.Options{RateLimits: true, PerSecond: 1})
	sec := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	for i, rq := range []facetest.Request{
		{Method: "GET", Path: "/v3/contact_custom_fields"},
		{Method: "POST", Path: "/v3/contact_custom_fields", Body: map[string]string{"label": "x", "type": "string"}},
		{Method: "GET", Path: "/v3/contact_lists"},
		{Method: "POST", Path: "/v3/contact_lists", Body: map[string]string{"name": "x"}},
		{Method: "DELETE", Path: "/v3/contact_lists/06526938-56dd-11e9-932a-fa163ea075fa"},
		{Method: "GET", Path: "/v3/contact_tags"},
		{Method: "POST", Path: "/v3/contact_tags", Body: map[string]string{"name": "x"}},
		{Method: "GET", Path: "/v3/contact_tags/3fa85f64-5717-4562-b3fc-2c963f66afa6"},
		{Method: "GET", Path: "/v3/activities/3fa85f64-5717-4562-b3fc-2c963f66afa6"},
		{Method: "GET", Path: "/v3/contacts/3fa85f64-5717-4562-b3fc-2c963f66afa6"},
		{Method: "POST", Path: "/v3/contacts", Body: map[string]any{"email_address": map[string]string{"address": "a@example.com"}}},
		{Method: "PUT", Path: "/v3/contacts/3fa85f64-5717-4562-b3fc-2c963f66afa6", Body: map[string]any{"update_source": "Account"}},
		{Method: "DELETE", Path: "/v3/contacts/3fa85f64-5717-4562-b3fc-2c963f66afa6"},
		{Method: "GET", Path: "/v3/contacts?email=a@example.com"},
		{Method: "GET", Path: "/v3/contacts/counts"},
		{Method: "POST", Path: "/v3/contacts/sign_up_form", Body: map[string]any{"email_address": "a@example.com"}},
		{Method: "GET", Path: "/v3/activities"},
		{Method: "POST", Path: "/v3/activities/contacts_json_import", Body: map[string]any{}},
		{Method: "POST", Path: "/v3/activities/contacts_file_import", Body: "x", Header: map[string]string{"Content-Type": "multipart/form-data; boundary=x"}},
		{Method: "POST", Path: "/v3/activities/add_list_memberships", Body: map[string]any{}},
		{Method: "POST", Path: "/v3/activities/remove_list_memberships", Body: map[string]any{}},
		{Method: "POST", Path: "/v3/activities/contact_delete", Body: map[string]any{}},
		{Method: "POST", Path: "/v3/activities/list_delete", Body: map[string]any{}},
		{Method: "POST", Path: "/v3/activities/custom_fields_delete", Body: map[string]any{}},
		{Method: "POST", Path: "/v3/activities/contact_exports", Body: map[string]any{"fields": []string{"x"}}},
		{Method: "GET", Path: "/v3/contact_exports/3fa85f64-5717-4562-b3fc-2c963f66afa6"},
	} {
		e.Clock.Set(sec.Add(time.Duration(i) * time.Second))
		if r := e.send(t, rq); r.Status == 429 {
			t.Fatalf("%s: the second's first request was refused: %s", r.Request, r.Body)
		}
		facetest.WantError(t, e.send(t, rq), 429, throttled)
	}
}
