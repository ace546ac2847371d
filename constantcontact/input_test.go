package constantcontact_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
)

// TestSegmentIDsAreCanonical: a segment id is the decimal digits of a
// positive integer and nothing else. "+1", "01" and "+0001" used to name
// segment 1 (DELETE /v3/segments/+1 deleted it); they, and every other
// spelling of an integer, are 400 in the path and in segment_id=. A path
// id not written as an integer at all ("1.0", " 1") names no route: 404
// (docs/decisions.md §14).
func TestSegmentIDsAreCanonical(t *testing.T) {
	e := newEnv(t)
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "One", "segment_criteria": criteria("sent", 1)}}, 201)
	bad := func(v string) string {
		return `segment_id must be a positive whole number in decimal digits, without sign or leading zeros, not "` + v + `"`
	}
	for _, id := range []struct{ path, value string }{
		{"+1", "+1"}, {"01", "01"}, {"+0001", "+0001"}, {"0", "0"}, {"-1", "-1"}, {"%201", " 1"}, {"1%20", "1 "},
		{"1.0", "1.0"}, {"1e0", "1e0"}, {"0x1", "0x1"}, {"%EF%BC%91", "１"},
	} {
		for _, rq := range []facetest.Request{
			{Method: "GET", Path: "/v3/segments/" + id.path},
			{Method: "PUT", Path: "/v3/segments/" + id.path, Body: map[string]string{"name": "Renamed", "segment_criteria": criteria("sent", 2)}},
			{Method: "PATCH", Path: "/v3/segments/" + id.path + "/name", Body: map[string]string{"name": "Renamed"}},
			{Method: "DELETE", Path: "/v3/segments/" + id.path},
		} {
			t.Run(rq.Method+" "+id.value, func(t *testing.T) {
				if !writtenAsInteger(id.value) {
					facetest.WantError(t, e.do(t, rq), 404, ccErr("segments.api.not_found", segmentd.Clip(unescape(rq.Path))+" is not a Constant Contact V3 resource that segmentd serves"))
					return
				}
				facetest.WantError(t, e.do(t, rq), 400, ccErr("segments.api.validation.error", bad(id.value)))
			})
		}
		t.Run("GET /v3/contacts?segment_id="+id.value, func(t *testing.T) {
			rq := facetest.Request{Method: "GET", Path: "/v3/contacts?segment_id=" + id.path}
			if id.path == "+1" || id.path == "+0001" {
				rq.Path = "/v3/contacts?segment_id=%2B" + id.path[1:] // '+' in a query is a space
			}
			facetest.WantError(t, e.do(t, rq), 400, ccErr("contacts.api.validation.error", bad(id.value)))
		})
	}
	// Segment 1 is untouched, and well-formed ids no segment can have are
	// not found.
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/segments/1"}, 200); got["name"] != "One" || got["segment_criteria"] != criteria("sent", 1) {
		t.Errorf("segment 1 changed: %v", got)
	}
	e.must(t, facetest.Request{Method: "GET", Path: "/v3/segments?limit=1"}, 200)
	facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: "/v3/contacts?segment_id=99999999999999999999"}), 404,
		ccErr("contacts.api.not_found", "segment 99999999999999999999 does not exist"))
	facetest.WantError(t, e.do(t, facetest.Request{Method: "DELETE", Path: "/v3/segments/99999999999999999999"}), 404,
		ccErr("segments.api.not_found", "segment 99999999999999999999 does not exist"))
	e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts?segment_id=1"}, 200)
}

// TestBodyRules: the rules of every JSON body (docs/decisions.md §18), in
// Constant Contact's envelope with the JSON path in the message, for the
// body and for the segment_criteria document inside it; and names keep
// to the character rule.
func TestBodyRules(t *testing.T) {
	e := newEnv(t)
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "One", "segment_criteria": criteria("sent", 1)}}, 201)
	good, _ := json.Marshal(criteria("sent", 3))
	validation := func(msg string) string { return ccErr("segments.api.validation.error", msg) }
	body := func(name, crit string) map[string]string {
		return map[string]string{"name": name, "segment_criteria": crit}
	}
	leaf := func(v string) string {
		return `{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"tracking","field":"sent","op":"contains-any","const_value":` + v + `}]}}`
	}
	tests := []struct {
		name string
		req  facetest.Request
		msg  string
	}{
		// Bodies that are not one object (PUT and PATCH with null used to
		// get "name is required", as if the keys were missing).
		{"POST null", facetest.Request{Method: "POST", Path: "/v3/segments", Body: `null`}, "the request body must be a JSON object, found null"},
		{"PUT array", facetest.Request{Method: "PUT", Path: "/v3/segments/1", Body: `[]`}, "the request body must be a JSON object, found an array"},
		{"PATCH string", facetest.Request{Method: "PATCH", Path: "/v3/segments/1/name", Body: `"Two"`}, "the request body must be a JSON object, found a string"},
		{"PATCH number", facetest.Request{Method: "PATCH", Path: "/v3/segments/1/name", Body: `2`}, "the request body must be a JSON object, found a number"},
		{"PATCH null", facetest.Request{Method: "PATCH", Path: "/v3/segments/1/name", Body: `null`}, "the request body must be a JSON object, found null"},

		// Repeated keys, in the body and in the criteria.
		{"repeated name", facetest.Request{Method: "POST", Path: "/v3/segments", Body: `{"name":"a","name":"b","segment_criteria":` + string(good) + `}`}, "name: repeated key"},
		{"repeated in another case", facetest.Request{Method: "POST", Path: "/v3/segments", Body: `{"name":"a","Name":"b","segment_criteria":` + string(good) + `}`},
			"Name: repeated key (it differs from an earlier key only in case)"},
		{"repeated in a rename", facetest.Request{Method: "PATCH", Path: "/v3/segments/1/name", Body: `{"name":"a","name":"b"}`}, "name: repeated key"},
		{"repeated in the criteria", facetest.Request{Method: "PUT", Path: "/v3/segments/1", Body: body("One", `{"version":"1.0.0","criteria":{"type":"and","type":"or","group":[]}}`)},
			"segment_criteria: criteria.type: repeated key"},

		// Characters.
		{"invalid UTF-8", facetest.Request{Method: "POST", Path: "/v3/segments", Body: "{\"name\":\"\xc3\",\"segment_criteria\":" + string(good) + "}"}, "name: invalid UTF-8 at byte 9"},
		{"lone surrogate", facetest.Request{Method: "PATCH", Path: "/v3/segments/1/name", Body: `{"name":"x\udbff"}`}, `name: lone UTF-16 surrogate \udbff at byte 10`},
		{"lone surrogate in the criteria", facetest.Request{Method: "POST", Path: "/v3/segments", Body: body("n", leaf(`"\ud800"`))},
			`segment_criteria: criteria.group[0].const_value: lone UTF-16 surrogate \ud800 at byte 124`},
		{"NUL in a name", facetest.Request{Method: "POST", Path: "/v3/segments", Body: body("a\x00b", criteria("sent", 1))}, "name must not contain control characters (found U+0000)"},
		{"newline in a rename", facetest.Request{Method: "PATCH", Path: "/v3/segments/1/name", Body: body("a\nb", "")}, "name must not contain control characters (found U+000A)"},

		// The criteria's syntax errors in segmentd's words, with the path
		// (they quoted encoding/json: "invalid character 'N' looking for
		// beginning of value").
		{"criteria NaN", facetest.Request{Method: "POST", Path: "/v3/segments", Body: body("n", leaf("NaN"))},
			"segment_criteria: criteria.group[0].const_value: invalid JSON at byte 123: expected a value, found 'N'"},
		{"criteria missing comma", facetest.Request{Method: "POST", Path: "/v3/segments", Body: body("n", `{"version":"1.0.0" "criteria":{}}`)},
			"segment_criteria: invalid JSON at byte 19: expected ',' or '}', found '\"'"},
		{"criteria cut short", facetest.Request{Method: "POST", Path: "/v3/segments", Body: body("n", `{"version":"1.0.0","criteria":{"type":"and","group":[`)},
			"segment_criteria: criteria.group[0]: invalid JSON at byte 53: expected a value or ']', found the end of the document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			facetest.WantError(t, e.do(t, tt.req), 400, validation(tt.msg))
		})
	}
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/segments/1"}, 200); got["name"] != "One" || got["segment_criteria"] != criteria("sent", 1) {
		t.Errorf("segment 1 changed: %v", got)
	}
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/segments"}, 200); len(got["segments"].([]any)) != 1 {
		t.Errorf("segments were created: %v", got)
	}
}

// writtenAsInteger: an optional sign and ASCII digits.
func writtenAsInteger(s string) bool {
	s = strings.TrimLeft(s, "+-")
	return s != "" && strings.Trim(s, "0123456789") == ""
}

func unescape(p string) string {
	u, err := url.PathUnescape(p)
	if err != nil {
		return p
	}
	return u
}
