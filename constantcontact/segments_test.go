package constantcontact_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	cc "github.com/segmentd/segmentd/constantcontact"
	"github.com/segmentd/segmentd/internal/facetest"
)

var isoMillis = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

var t0 = time.Date(2026, 5, 4, 10, 20, 30, 456_000_000, time.UTC)

func TestSegmentLifecycle(t *testing.T) {
	e := newEnv(t)
	e.Clock.Set(t0)
	// Odd spacing and key order: the criteria come back byte for byte.
	crit := `{ "criteria":{"group":[{"source":"tracking","field":"opened","op":"contains-any","const_value":"last-n-campaigns","param":"5"}],"type":"and"},  "version":"1.0.0"}`
	created := e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "Openers", "segment_criteria": crit}}, 201)
	want := map[string]any{"name": "Openers", "segment_criteria": crit, "segment_id": float64(1), "created_at": "2026-05-04T10:20:30.456Z", "edited_at": "2026-05-04T10:20:30.456Z"}
	if fmt.Sprint(created) != fmt.Sprint(want) {
		t.Fatalf("created = %v\nwant      %v", created, want)
	}
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/segments/1"}, 200); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("GET = %v, want %v", got, want)
	}

	// PUT needs both fields; edited_at moves, created_at stays.
	e.Clock.Set(t0.Add(time.Minute))
	crit2 := criteria("clicked", 3)
	put := e.must(t, facetest.Request{Method: "PUT", Path: "/v3/segments/1", Body: map[string]string{"name": "Clickers", "segment_criteria": crit2}}, 200)
	if put["name"] != "Clickers" || put["segment_criteria"] != crit2 || put["created_at"] != "2026-05-04T10:20:30.456Z" || put["edited_at"] != "2026-05-04T10:21:30.456Z" {
		t.Fatalf("PUT = %v", put)
	}
	// A PUT that changes nothing is not an edit.
	e.Clock.Set(t0.Add(2 * time.Minute))
	if same := e.must(t, facetest.Request{Method: "PUT", Path: "/v3/segments/1", Body: map[string]string{"name": "Clickers", "segment_criteria": crit2}}, 200); same["edited_at"] != "2026-05-04T10:21:30.456Z" {
		t.Fatalf("unchanged PUT moved edited_at: %v", same)
	}
	// PATCH …/name answers the full detail, criteria included.
	e.Clock.Set(t0.Add(3 * time.Minute))
	renamed := e.must(t, facetest.Request{Method: "PATCH", Path: "/v3/segments/1/name", Body: map[string]string{"name": "Recent clickers"}}, 200)
	if renamed["name"] != "Recent clickers" || renamed["segment_criteria"] != crit2 || renamed["edited_at"] != "2026-05-04T10:23:30.456Z" || renamed["segment_id"] != float64(1) {
		t.Fatalf("PATCH = %v", renamed)
	}
	list := e.must(t, facetest.Request{Method: "GET", Path: "/v3/segments"}, 200)
	items := list["segments"].([]any)
	if len(items) != 1 || list["_links"] != nil {
		t.Fatalf("list = %v", list)
	}
	item := items[0].(map[string]any)
	if _, ok := item["segment_criteria"]; ok || item["name"] != "Recent clickers" || len(item) != 4 {
		t.Fatalf("list item = %v, want name, segment_id, created_at, edited_at only", item)
	}

	// DELETE: 204 without a body; gone from the list, still readable by id.
	r := e.do(t, facetest.Request{Method: "DELETE", Path: "/v3/segments/1"})
	if r.Status != 204 || len(r.Body) != 0 || r.Header.Get("Content-Type") != "" {
		t.Fatalf("DELETE = %d %q (Content-Type %q)", r.Status, r.Body, r.Header.Get("Content-Type"))
	}
	if list := e.must(t, facetest.Request{Method: "GET", Path: "/v3/segments"}, 200); len(list["segments"].([]any)) != 0 {
		t.Fatalf("deleted segment listed: %v", list)
	}
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/segments/1"}, 200); got["name"] != "Recent clickers" || got["segment_criteria"] != crit2 {
		t.Fatalf("GET deleted = %v", got)
	}
	// Writes to a deleted segment are not found; its name is free again.
	gone := ccErr("segments.api.not_found", "segment 1 was deleted")
	facetest.WantError(t, e.do(t, facetest.Request{Method: "PUT", Path: "/v3/segments/1", Body: map[string]string{"name": "x", "segment_criteria": crit2}}), 404, gone)
	facetest.WantError(t, e.do(t, facetest.Request{Method: "PATCH", Path: "/v3/segments/1/name", Body: map[string]string{"name": "x"}}), 404, gone)
	facetest.WantError(t, e.do(t, facetest.Request{Method: "DELETE", Path: "/v3/segments/1"}), 404, gone)
	again := e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "recent CLICKERS", "segment_criteria": crit2}}, 201)
	if again["segment_id"] != float64(2) {
		t.Fatalf("new segment after a delete got id %v, want 2 (ids are never reused)", again["segment_id"])
	}
	for _, ts := range []any{again["created_at"], again["edited_at"]} {
		if !isoMillis.MatchString(ts.(string)) {
			t.Errorf("timestamp %q is not ISO-8601 UTC with milliseconds", ts)
		}
	}
}

func TestSegmentErrors(t *testing.T) {
	e := newEnv(t)
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "Taken", "segment_criteria": criteria("sent", 1)}}, 201)
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "Other", "segment_criteria": criteria("sent", 2)}}, 201)
	good := criteria("opened", 5)
	long := strings.Repeat("n", segmentd.MaxCCSegmentNameLength+1)
	hugeCriteria := `{"version":"1.0.0","pad":"` + strings.Repeat("x", segmentd.MaxCCSegmentCriteriaLength) + `"}`
	validation := func(msg string) string { return ccErr("segments.api.validation.error", msg) }
	tests := []struct {
		name   string
		req    facetest.Request
		status int
		body   string // exact; "" checks only the key of status
	}{
		{"create without name", facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"segment_criteria": good}}, 400, validation("name is required")},
		{"create blank name", facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "  ", "segment_criteria": good}}, 400, validation("name is required")},
		{"create long name", facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": long, "segment_criteria": good}}, 400, validation("name must be at most 255 characters")},
		{"create without criteria", facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "n"}}, 400, validation("segment_criteria is required")},
		{"criteria not a string", facetest.Request{Method: "POST", Path: "/v3/segments", Body: `{"name":"n","segment_criteria":{"version":"1.0.0"}}`}, 400, validation("segment_criteria must be a string")},
		{"criteria too long", facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "n", "segment_criteria": hugeCriteria}}, 400,
			validation(fmt.Sprintf("segment_criteria must be at most 20000 characters (it has %d)", len(hugeCriteria)))},
		{"criteria not JSON", facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "n", "segment_criteria": "opened last 5"}}, 400,
			validation("segment_criteria: invalid JSON at byte 0: expected a value, found 'o'")},
		{"criteria unknown operator", facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "n",
			"segment_criteria": `{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"tracking","field":"sent","op":"contains-all","const_value":"campaigns"}]}}`}}, 400,
			validation(`segment_criteria: criteria.group[0].op: unknown operator "contains-all" for source "tracking" (want "contains-any" or "contains-none")`)},
		{"criteria unknown source", facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "n",
			"segment_criteria": `{"version":"1.0.0","criteria":{"type":"and","group":[{"type":"or","group":[{"source":"ecommerce","field":"sent","op":"contains-any","const_value":"campaigns"}]}]}}`}}, 400,
			validation(`segment_criteria: criteria.group[0].group[0].source: unknown source "ecommerce" (want tracking, contact, list_membership or tags)`)},
		{"criteria over 500 campaigns", facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "n", "segment_criteria": criteria("opened", 501)}}, 400,
			validation("segment_criteria: criteria.group[0].param: the criteria would evaluate more than 500 email campaigns (501)")},
		{"criteria over 1825 days", facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "n",
			"segment_criteria": `{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"tracking","field":"sent","op":"contains-any","const_value":"campaigns","const_date_value":"last-n-days","date_param":"1826"}]}}`}}, 400,
			validation("segment_criteria: criteria.group[0].date_param: the date range is longer than 1825 days (1826 days)")},
		{"criteria unknown custom field", facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "n",
			"segment_criteria": `{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"contact","field":"shoe_size","op":"eq","const_value":"9"}]}}`}}, 400, ""},
		{"body not JSON", facetest.Request{Method: "POST", Path: "/v3/segments", Body: `{"name":`}, 400, validation("name: invalid JSON at byte 8: expected a value, found the end of the document")},
		{"body not an object", facetest.Request{Method: "POST", Path: "/v3/segments", Body: `[1]`}, 400, validation("the request body must be a JSON object, found an array")},
		{"empty body", facetest.Request{Method: "POST", Path: "/v3/segments", Body: ``}, 400, validation("the request body must be a JSON object")},
		{"body too large", facetest.Request{Method: "POST", Path: "/v3/segments", Body: `{"name":"` + strings.Repeat("x", 300<<10) + `"}`}, 400, validation("the request body must not exceed 256 KB")},
		{"create duplicate name", facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "TAKEN", "segment_criteria": good}}, 409,
			ccErr("segments.api.conflict", `a segment named "TAKEN" already exists`)},
		{"put duplicate name", facetest.Request{Method: "PUT", Path: "/v3/segments/2", Body: map[string]string{"name": "taken", "segment_criteria": good}}, 409,
			ccErr("segments.api.conflict", `a segment named "taken" already exists`)},
		{"patch duplicate name", facetest.Request{Method: "PATCH", Path: "/v3/segments/2/name", Body: map[string]string{"name": "Taken"}}, 409,
			ccErr("segments.api.conflict", `a segment named "Taken" already exists`)},
		{"put without criteria", facetest.Request{Method: "PUT", Path: "/v3/segments/2", Body: map[string]string{"name": "Other"}}, 400, validation("segment_criteria is required")},
		{"put without name", facetest.Request{Method: "PUT", Path: "/v3/segments/2", Body: map[string]string{"segment_criteria": good}}, 400, validation("name is required")},
		{"put bad criteria", facetest.Request{Method: "PUT", Path: "/v3/segments/2", Body: map[string]string{"name": "Other", "segment_criteria": "{"}}, 400,
			validation("segment_criteria: invalid JSON at byte 1: expected a key string or '}', found the end of the document")},
		{"patch without name", facetest.Request{Method: "PATCH", Path: "/v3/segments/2/name", Body: map[string]string{}}, 400, validation("name is required")},
		{"put unknown", facetest.Request{Method: "PUT", Path: "/v3/segments/9", Body: map[string]string{"name": "n", "segment_criteria": good}}, 404, ccErr("segments.api.not_found", "segment 9 does not exist")},
		{"patch unknown", facetest.Request{Method: "PATCH", Path: "/v3/segments/9/name", Body: map[string]string{"name": "n"}}, 404, ccErr("segments.api.not_found", "segment 9 does not exist")},
		{"get unknown", facetest.Request{Method: "GET", Path: "/v3/segments/9"}, 404, ccErr("segments.api.not_found", "segment 9 does not exist")},
		{"get id beyond int32", facetest.Request{Method: "GET", Path: "/v3/segments/2147483648"}, 404, ccErr("segments.api.not_found", "segment 2147483648 does not exist")},
		{"get id not a number", facetest.Request{Method: "GET", Path: "/v3/segments/abc"}, 404, ccErr("segments.api.not_found", "/v3/segments/abc is not a Constant Contact V3 resource that segmentd serves")},
		{"delete unknown", facetest.Request{Method: "DELETE", Path: "/v3/segments/9"}, 404, ccErr("segments.api.not_found", "segment 9 does not exist")},
		{"list limit zero", facetest.Request{Method: "GET", Path: "/v3/segments?limit=0"}, 400, validation(`limit must be a whole number from 1 to 1000, not "0"`)},
		{"list limit too large", facetest.Request{Method: "GET", Path: "/v3/segments?limit=1001"}, 400, validation(`limit must be a whole number from 1 to 1000, not "1001"`)},
		{"list limit not a number", facetest.Request{Method: "GET", Path: "/v3/segments?limit=ten"}, 400, validation(`limit must be a whole number from 1 to 1000, not "ten"`)},
		{"list bad sort", facetest.Request{Method: "GET", Path: "/v3/segments?sort_by=size"}, 400, validation(`sort_by must be date or name, not "size"`)},
		{"list bad cursor", facetest.Request{Method: "GET", Path: "/v3/segments?cursor=bm9wZQ"}, 400, validation("cursor is not valid; follow _links.next.href as given")},
		{"post as text", facetest.Request{Method: "POST", Path: "/v3/segments", Body: `{"name":"n","segment_criteria":"{}"}`, Header: map[string]string{"Content-Type": "text/plain"}}, 415,
			ccErr("segments.api.unsupported_media_type", "Content-Type must be application/json, not text/plain")},
		{"put as form", facetest.Request{Method: "PUT", Path: "/v3/segments/2", Body: `name=n`, Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415,
			ccErr("segments.api.unsupported_media_type", "Content-Type must be application/json, not application/x-www-form-urlencoded")},
		{"patch as text", facetest.Request{Method: "PATCH", Path: "/v3/segments/2/name", Body: `n`, Header: map[string]string{"Content-Type": "text/plain"}}, 415,
			ccErr("segments.api.unsupported_media_type", "Content-Type must be application/json, not text/plain")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.req)
			if tt.body != "" {
				facetest.WantError(t, r, tt.status, tt.body)
				return
			}
			var errs []map[string]string
			r.Decode(t, &errs)
			if r.Status != tt.status || len(errs) != 1 || errs[0]["error_key"] != "segments.api.validation.error" || !strings.HasPrefix(errs[0]["error_message"], "segment_criteria: criteria.group[0]") {
				t.Errorf("status %d body %s, want %d with one segments.api.validation.error", r.Status, r.Body, tt.status)
			}
		})
	}
	// JSON with parameters in the media type is JSON.
	e.must(t, facetest.Request{Method: "PATCH", Path: "/v3/segments/2/name", Body: map[string]string{"name": "Other 2"}, Header: map[string]string{"Content-Type": "application/json; charset=utf-8"}}, 200)
	// Nothing failed above changed what is stored.
	list := e.must(t, facetest.Request{Method: "GET", Path: "/v3/segments?sort_by=name"}, 200)
	if got := fmt.Sprint(list["segments"]); !strings.Contains(got, "name:Other 2") || !strings.Contains(got, "name:Taken") || len(list["segments"].([]any)) != 2 {
		t.Fatalf("segments after the failed calls: %s", got)
	}
}

// TestUnroutedRequests: paths and methods no route takes are answered in
// Constant Contact's envelope (outside the spec, so not validated).
func TestUnroutedRequests(t *testing.T) {
	e := newEnv(t)
	r := e.send(t, facetest.Request{Method: "POST", Path: "/v3/segments/1", Body: `{}`})
	facetest.WantError(t, r, 405, ccErr("segments.api.method_not_allowed", "method not allowed"))
	if allow := r.Header.Get("Allow"); !strings.Contains(allow, "PUT") || !strings.Contains(allow, "DELETE") {
		t.Errorf("Allow = %q", allow)
	}
	facetest.WantError(t, e.send(t, facetest.Request{Method: "GET", Path: "/v3/segments/1/members"}), 404,
		ccErr("segments.api.not_found", "/v3/segments/1/members is not a Constant Contact V3 resource that segmentd serves"))
	facetest.WantError(t, e.send(t, facetest.Request{Method: "GET", Path: "/v3/segments/1/members", Key: facetest.Ptr("")}), 401, `{"error_key":"unauthorized","error_message":"Unauthorized"}`)
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "S", "segment_criteria": criteria("sent", 1)}}, 201)
	readOnly := e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeConstantContactRead)
	sendGridOnly := e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeSendGridRead, segmentd.ScopeSendGridWrite)
	const unauthorized = `{"error_key":"unauthorized","error_message":"Unauthorized"}`
	const denied = `{"error_key":"access_denied","error_message":"Request forbidden due to insufficient user privileges."}`
	writes := []facetest.Request{
		{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "n", "segment_criteria": criteria("sent", 1)}},
		{Method: "PUT", Path: "/v3/segments/1", Body: map[string]string{"name": "n", "segment_criteria": criteria("sent", 1)}},
		{Method: "PATCH", Path: "/v3/segments/1/name", Body: map[string]string{"name": "n"}},
		{Method: "DELETE", Path: "/v3/segments/1"},
	}
	reads := []facetest.Request{{Method: "GET", Path: "/v3/segments"}, {Method: "GET", Path: "/v3/segments/1"}, {Method: "GET", Path: "/v3/contacts?segment_id=1"}}
	for _, rq := range append(append([]facetest.Request{}, writes...), reads...) {
		name := rq.Method + " " + rq.Path
		rq.Key = facetest.Ptr("")
		facetest.WantError(t, e.do(t, rq), 401, unauthorized)
		rq.Key = facetest.Ptr("SG.not-a-key")
		facetest.WantError(t, e.do(t, rq), 401, unauthorized)
		rq.Key = &sendGridOnly
		// GET /segments/{id} lists no 403 in the spec, though the
		// privilege applies to it as to every operation.
		if name == "GET /v3/segments/1" {
			facetest.WantError(t, e.send(t, rq), 403, denied)
		} else {
			facetest.WantError(t, e.do(t, rq), 403, denied)
		}
	}
	for _, rq := range writes {
		rq.Key = &readOnly
		facetest.WantError(t, e.do(t, rq), 403, denied)
	}
	for _, rq := range reads {
		rq.Key = &readOnly
		e.must(t, rq, 200)
	}
	// Nothing the refused writes asked for happened.
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/segments/1"}, 200); got["name"] != "S" {
		t.Fatalf("segment after refused writes: %v", got)
	}
}

func TestAccountsAreIsolated(t *testing.T) {
	e := newEnv(t)
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "Mine", "segment_criteria": criteria("sent", 1)}}, 201)
	other := e.NewKey("other", "")
	facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: "/v3/segments/1", Key: &other}), 404, ccErr("segments.api.not_found", "segment 1 does not exist"))
	if list := e.must(t, facetest.Request{Method: "GET", Path: "/v3/segments", Key: &other}, 200); len(list["segments"].([]any)) != 0 {
		t.Fatalf("other account lists: %v", list)
	}
	// Names and ids are per account.
	if s := e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Key: &other, Body: map[string]string{"name": "Mine", "segment_criteria": criteria("sent", 1)}}, 201); s["segment_id"] != float64(1) {
		t.Fatalf("other account's first segment: %v", s)
	}
}

// TestOnBehalfOf: a parent's key acts as its subuser with On-Behalf-Of,
// under the SendGrid face's rule: a name (or "account-id <id>") that is
// not a subuser of the key's account is 403 in Constant Contact's
// single-object envelope, and nothing is done.
func TestOnBehalfOf(t *testing.T) {
	e := newEnv(t)
	subKey := e.NewKey("asub", segmentd.DefaultAccountName)
	e.NewKey("bravo", "")
	create := facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "For asub", "segment_criteria": criteria("sent", 1)},
		Header: map[string]string{"On-Behalf-Of": "asub"}}
	if s := e.must(t, create, 201); s["segment_id"] != float64(1) {
		t.Fatalf("create on behalf of asub: %v", s)
	}
	// The segment is the subuser's, not the parent's.
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/segments/1", Key: &subKey}, 200); got["name"] != "For asub" {
		t.Fatalf("asub reads: %v", got)
	}
	if list := e.must(t, facetest.Request{Method: "GET", Path: "/v3/segments"}, 200); len(list["segments"].([]any)) != 0 {
		t.Fatalf("the parent lists the subuser's segment: %v", list)
	}
	if list := e.must(t, facetest.Request{Method: "GET", Path: "/v3/segments", Header: map[string]string{"on-behalf-of": "asub"}}, 200); len(list["segments"].([]any)) != 1 {
		t.Fatalf("the parent on behalf of asub lists: %v", list)
	}

	for _, name := range []string{"bravo", "nobody", "account-id 999", "default"} {
		for _, rq := range []facetest.Request{
			{Method: "GET", Path: "/v3/segments"},
			{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "Refused", "segment_criteria": criteria("sent", 1)}},
			{Method: "GET", Path: "/v3/contacts", Query: url.Values{"segment_id": {"1"}}},
		} {
			rq.Header = map[string]string{"On-Behalf-Of": name}
			r := e.send(t, rq)
			var body map[string]string
			if r.Status != http.StatusForbidden || json.Unmarshal(r.Body, &body) != nil || body["error_key"] != "access_denied" || !strings.Contains(body["error_message"], "not a subuser of this account") {
				t.Errorf("%s on behalf of %q: %d %s, want 403 access_denied naming the subuser rule", r.Request, name, r.Status, r.Body)
			}
		}
	}
	// The subuser's own key cannot act for its parent either.
	r := e.send(t, facetest.Request{Method: "GET", Path: "/v3/segments", Key: &subKey, Header: map[string]string{"On-Behalf-Of": segmentd.DefaultAccountName}})
	if r.Status != http.StatusForbidden {
		t.Errorf("asub on behalf of its parent: %d %s", r.Status, r.Body)
	}
	// Nothing was created for anyone by the refused requests.
	for _, k := range []*string{nil, &subKey} {
		if list := e.must(t, facetest.Request{Method: "GET", Path: "/v3/segments", Key: k}, 200); len(list["segments"].([]any)) > 1 {
			t.Errorf("segments after refused creates: %v", list)
		}
	}
}

func TestSegmentCountLimit(t *testing.T) {
	e := newEnvWith(t, facetest.Config{Service: audience.Config{MaxLiveCCSegments: 2}}, cc.Options{})
	for i := range 2 {
		e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": fmt.Sprint("s", i), "segment_criteria": criteria("sent", 1)}}, 201)
	}
	facetest.WantError(t, e.do(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "third", "segment_criteria": criteria("sent", 1)}}), 400,
		ccErr("segments.api.validation.error", "an account may have at most 2 segments"))
	e.do(t, facetest.Request{Method: "DELETE", Path: "/v3/segments/1"})
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "third", "segment_criteria": criteria("sent", 1)}}, 201)
}

// TestSegmentPaging follows _links.next.href through both orders.
func TestSegmentPaging(t *testing.T) {
	e := newEnv(t)
	names := []string{"delta", "Bravo", "echo", "alpha", "Charlie"}
	for i, n := range names {
		e.Clock.Set(t0.Add(time.Duration(i) * time.Minute))
		e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": n, "segment_criteria": criteria("sent", 1)}}, 201)
	}
	// Editing "delta" makes it the most recent; deleting "echo" hides it.
	e.Clock.Set(t0.Add(time.Hour))
	e.must(t, facetest.Request{Method: "PATCH", Path: "/v3/segments/1/name", Body: map[string]string{"name": "Delta"}}, 200)
	e.do(t, facetest.Request{Method: "DELETE", Path: "/v3/segments/3"})

	follow := func(first string) [][]string {
		var pages [][]string
		path := first
		for range 10 {
			m := e.must(t, facetest.Request{Method: "GET", Path: path}, 200)
			var page []string
			for _, s := range m["segments"].([]any) {
				page = append(page, s.(map[string]any)["name"].(string))
			}
			pages = append(pages, page)
			links, ok := m["_links"].(map[string]any)
			if !ok {
				return pages
			}
			path = links["next"].(map[string]any)["href"].(string)
			if !strings.HasPrefix(path, "/v3/segments?cursor=") {
				t.Fatalf("next href %q", path)
			}
		}
		t.Fatal("paging does not end")
		return nil
	}
	for _, tt := range []struct{ path, want string }{
		{"/v3/segments", "[[Delta Charlie alpha Bravo]]"},
		{"/v3/segments?limit=2", "[[Delta Charlie] [alpha Bravo]]"},
		{"/v3/segments?limit=3&sort_by=date", "[[Delta Charlie alpha] [Bravo]]"},
		{"/v3/segments?sort_by=name", "[[alpha Bravo Charlie Delta]]"},
		{"/v3/segments?sort_by=name&limit=1", "[[alpha] [Bravo] [Charlie] [Delta]]"},
		{"/v3/segments?limit=4", "[[Delta Charlie alpha Bravo]]"},
	} {
		if got := fmt.Sprint(follow(tt.path)); got != tt.want {
			t.Errorf("%s: pages %s, want %s", tt.path, got, tt.want)
		}
	}
	// A cursor keeps its order; an explicit limit beside it sets the page size.
	m := e.must(t, facetest.Request{Method: "GET", Path: "/v3/segments?sort_by=name&limit=1"}, 200)
	next := m["_links"].(map[string]any)["next"].(map[string]any)["href"].(string)
	facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: next + "&sort_by=date"}), 400,
		ccErr("segments.api.validation.error", "the cursor belongs to another sort_by; follow _links.next.href as given"))
	if m := e.must(t, facetest.Request{Method: "GET", Path: next + "&limit=2"}, 200); fmt.Sprint(m["segments"]) == "" || len(m["segments"].([]any)) != 2 {
		t.Fatalf("cursor with limit=2: %v", m)
	}
}
