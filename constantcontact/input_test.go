package constantcontact_test

import (
	"testing"

	"github.com/segmentd/segmentd/internal/facetest"
)

// TestSegmentIDsAreCanonical: a segment id is the decimal digits of a
// positive integer and nothing else. "+1", "01" and "+0001" used to name
// segment 1 (DELETE /v3/segments/+1 deleted it); they, and every other
// spelling, are 400 in the path and in segment_id=.
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
