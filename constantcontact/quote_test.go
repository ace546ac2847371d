package constantcontact_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
)

// TestErrorsQuoteAShortPrefix feeds every input whose error quotes a
// client's value a long one (about a megabyte in the URL, the most
// segment_criteria and a name may hold in the body): the error body stays
// under 1 KB, names the field, and quotes the first 40 characters of the
// value followed by "…" (segmentd.Quote).
func TestErrorsQuoteAShortPrefix(t *testing.T) {
	e := newEnv(t)
	big := strings.Repeat("a", 1<<20-4096)
	clip := strings.Repeat("a", 40) + "…"
	q := `"` + clip + `"`
	segs := func(msg string) string { return ccErr("segments.api.validation.error", msg) }
	contacts := func(msg string) string { return ccErr("contacts.api.validation.error", msg) }
	name := strings.Repeat("a", 255)
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": name, "segment_criteria": criteria("sent", 1)}}, 201)
	longSource := `{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"` + strings.Repeat("a", 19000) + `","field":"sent","op":"contains-any"}]}}`

	for _, tt := range []struct {
		name   string
		rq     facetest.Request
		status int
		body   string
	}{
		// A path id that is no whole number matches no route (docs/decisions.md §14).
		{"segment id in the path", facetest.Request{Method: "GET", Path: "/v3/segments/" + big}, 404,
			ccErr("segments.api.not_found", segmentd.Clip("/v3/segments/"+big)+" is not a Constant Contact V3 resource that segmentd serves")},
		{"segments limit", facetest.Request{Method: "GET", Path: "/v3/segments", Query: url.Values{"limit": {big}}}, 400, segs("limit must be a whole number from 1 to 1000, not " + q)},
		{"segments sort_by", facetest.Request{Method: "GET", Path: "/v3/segments", Query: url.Values{"sort_by": {big}}}, 400, segs("sort_by must be date or name, not " + q)},
		{"criteria value", facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "n", "segment_criteria": longSource}}, 400,
			segs("segment_criteria: criteria.group[0].source: unknown source " + q + " (want tracking, contact, list_membership or tags)")},
		{"duplicate name", facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": name, "segment_criteria": criteria("sent", 1)}}, 409,
			ccErr("segments.api.conflict", "a segment named "+q+" already exists")},
		{"contacts segment_id", facetest.Request{Method: "GET", Path: "/v3/contacts", Query: url.Values{"segment_id": {big}}}, 400, contacts("segment_id must be a positive whole number in decimal digits, without sign or leading zeros, not " + q)},
		{"contacts limit", facetest.Request{Method: "GET", Path: "/v3/contacts", Query: url.Values{"limit": {big}}}, 400, contacts("limit must be a whole number from 1 to 500, not " + q)},
		{"contacts include", facetest.Request{Method: "GET", Path: "/v3/contacts", Query: url.Values{"include": {big}}}, 400,
			contacts("include may name custom_fields, list_memberships, phone_numbers, street_addresses, taggings, notes, not " + q)},
		{"contacts include_count", facetest.Request{Method: "GET", Path: "/v3/contacts", Query: url.Values{"include_count": {big}}}, 400, contacts("include_count must be true or false, not " + q)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.rq)
			if len(r.Body) >= 1024 {
				t.Fatalf("a %d-byte error body: %.300s…", len(r.Body), r.Body)
			}
			facetest.WantError(t, r, tt.status, tt.body)
		})
	}
}
