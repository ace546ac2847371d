package sendgrid_test

import (
	"testing"
	"time"

	"github.com/segmentd/segmentd/internal/facetest"
	sg "github.com/segmentd/segmentd/sendgrid"

	"github.com/segmentd/segmentd/audience"
)

// A search that outruns the deadline answers 408, SendGrid's answer after
// 20 s; the test shrinks the deadline so that it has passed before the
// search can report.
func TestSearchTimeout(t *testing.T) {
	e := newEnvWith(t, facetest.Config{Service: audience.Config{SearchTimeout: time.Nanosecond}}, sg.Options{})
	e.mkContacts(t, "us", 3, "US")
	r := e.do(t, call{method: "POST", path: "/v3/marketing/contacts/search", body: `{"query":"country = 'US'"}`})
	facetest.WantError(t, r, 408, errBody("query", "request timed out")) // SendGrid's wording, kept by the face

	// A bad query is still a 400, found before the search runs.
	r = e.do(t, call{method: "POST", path: "/v3/marketing/contacts/search", body: `{"query":"country = "}`})
	facetest.WantStatus(t, r, 400)
}

// Deleting a custom field a segment's query uses leaves the segment matching
// nobody, with status INVALID and the checker's message.
func TestSegmentInvalidAfterFieldDelete(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, call{method: "POST", path: "/v3/marketing/field_definitions", body: `{"name":"plan","field_type":"Text"}`})
	field := facetest.WantStatus(t, r, 200)
	e.mkContacts(t, "us", 4, "US")
	s := e.createSeg2(t, "Planned", "SELECT contact_id, updated_at FROM contact_data WHERE plan IS NULL")
	if s.ContactsCount != 4 || s.Status.QueryValidation != "VALID" {
		t.Fatalf("before: %+v", s)
	}
	r = e.do(t, call{method: "DELETE", path: "/v3/marketing/field_definitions/" + field["id"].(string)})
	if r.Status != 204 {
		t.Fatalf("delete field: %d %s", r.Status, r.Body)
	}
	g := decodeSeg(t, e.do(t, call{method: "GET", path: seg2Path + "/" + s.ID}))
	if g.ContactsCount != 0 || len(g.ContactsSample) != 0 || g.Status.QueryValidation != "INVALID" || g.Status.ErrorMessage == "" {
		t.Fatalf("after the field was deleted: count %d, status %+v", g.ContactsCount, g.Status)
	}
}

// identifier_counts, segmentd's addition to the full 2.0 segment
// (docs/sendgrid.md "Segments"), counts the members having each
// identifier under the keys SendGrid's real responses use. It is on
// create, GET (with or without the sample) and PATCH, validated against
// Segment2xx (which allows properties it does not name), follows the count,
// and is not on list items.
func TestSegmentIdentifierCounts(t *testing.T) {
	e := newEnv(t)
	e.upsert(t, map[string]any{"contacts": []map[string]any{
		{"email": "a@example.com", "country": "NZ", "external_id": "x1"},
		{"email": "b@example.com", "country": "NZ"},
		{"external_id": "x3", "anonymous_id": "anon3", "country": "NZ", "alternate_emails": []string{"alt3@example.com"}},
		{"phone_number_id": "p4", "country": "NZ"},
		{"email": "c@example.com", "country": "AU"},
	}})
	counts := func(r facetest.Response, status int) string {
		t.Helper()
		return string(mustJSON(facetest.WantStatus(t, r, status)["identifier_counts"]))
	}
	// An alternate email is not an identifier: contact 3 counts under
	// EXTID and AID only.
	const want = `{"AID":1,"EID":2,"EXTID":2,"PHNID":1}`
	r := e.do(t, call{method: "POST", path: seg2Path, body: map[string]any{"name": "Kiwis",
		"query_dsl": "SELECT contact_id, updated_at FROM contact_data WHERE country = 'NZ'"}})
	if got := counts(r, 201); got != want {
		t.Fatalf("create: identifier_counts = %s, want %s", got, want)
	}
	id := r.JSON(t)["id"].(string)
	if got := counts(e.do(t, call{method: "GET", path: seg2Path + "/" + id}), 200); got != want {
		t.Errorf("get: identifier_counts = %s, want %s", got, want)
	}
	noSample := call{method: "GET", path: seg2Path + "/" + id, query: map[string]string{"contacts_sample": "false"}}
	if got := counts(e.do(t, noSample), 200); got != want {
		t.Errorf("get without the sample: identifier_counts = %s, want %s", got, want)
	}
	r = e.do(t, call{method: "PATCH", path: seg2Path + "/" + id, body: map[string]any{"name": "New Zealanders"}})
	if got := counts(r, 200); got != want {
		t.Errorf("patch: identifier_counts = %s, want %s", got, want)
	}
	// It follows membership like contacts_count.
	e.upsert(t, map[string]any{"contacts": []map[string]any{{"email": "d@example.com", "phone_number_id": "p5", "country": "NZ"}}})
	if got, want := counts(e.do(t, noSample), 200), `{"AID":1,"EID":3,"EXTID":2,"PHNID":2}`; got != want {
		t.Errorf("after an upsert: identifier_counts = %s, want %s", got, want)
	}
	r = e.do(t, call{method: "GET", path: seg2Path,
		noSpec: "the spec types the 200 as one segment; the body is {\"results\":[…]} (docs/sendgrid.md \"Spec contradictions\" 2)"})
	if item := facetest.WantStatus(t, r, 200)["results"].([]any)[0].(map[string]any); item["identifier_counts"] != nil {
		t.Errorf("a list item carries identifier_counts: %v", item)
	}
}
