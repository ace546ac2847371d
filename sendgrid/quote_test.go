package sendgrid_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/segmentd/segmentd/internal/facetest"
)

// TestErrorsQuoteAShortPrefix feeds every endpoint whose error quotes a
// client's value a value of about a megabyte (as much as the route's body
// or the URL holds; 16 KB in query text, the query limit): the error body
// stays under 1 KB, names the field, and quotes the first 40 characters
// of the value followed by "…" (segmentd.Quote).
func TestErrorsQuoteAShortPrefix(t *testing.T) {
	e := newEnv(t)
	big := strings.Repeat("a", 1<<20-4096) // fits a 1 MB body, and a URL
	huge := strings.Repeat("a", 1<<20)     // for the upsert's 6 MB body
	ident := strings.Repeat("a", 16000)    // under the 16 KB query limit
	clip := strings.Repeat("a", 40) + "…"
	q := `"` + clip + `"`

	list := facetest.WantStatus(t, e.do(t, call{method: "POST", path: listsPath, body: map[string]any{"name": "l"}}), http.StatusCreated)["id"].(string)
	seg := facetest.WantStatus(t, e.do(t, call{method: "POST", path: "/v3/marketing/segments/2.0",
		body: map[string]any{"name": "s", "query_dsl": "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%@example.com'"}}), http.StatusCreated)["id"].(string)
	field := func(name, typ string) string {
		r := e.do(t, call{method: "POST", path: "/v3/marketing/field_definitions", body: map[string]any{"name": name, "field_type": typ}})
		return facetest.WantStatus(t, r, http.StatusOK)["id"].(string)
	}
	num, date := field("n", "Number"), field("d", "Date")
	e.upsert(t, map[string]any{"contacts": []any{map[string]any{"email": "a@example.com"}}})
	contact := e.contactByEmail(t, "a@example.com")["id"].(string)
	upsert := func(c map[string]any) map[string]any {
		c["email"] = "b@example.com"
		return map[string]any{"contacts": []any{c}}
	}

	cases := []errCase{
		{"search by emails", call{method: "POST", path: contactsPath + "/search/emails", body: map[string]any{"emails": []string{big}}},
			400, errBody("emails[0]", "email "+q+" is longer than 100 characters")},
		{"search by identifiers", call{method: "POST", path: contactsPath + "/search/identifiers/email", body: map[string]any{"identifiers": []string{big}}},
			400, bareErr("identifiers[0]", "email "+q+" is not a valid email address")},
		{"refresh time zone", call{method: "POST", path: "/v3/marketing/segments/2.0/refresh/" + seg, body: map[string]any{"user_time_zone": big}},
			400, errBody("user_time_zone", "user_time_zone "+q+" is not an IANA time zone name")},
		{"upsert alternate email", call{method: "PUT", path: contactsPath, body: upsert(map[string]any{"alternate_emails": []string{huge}})},
			400, errBody("contacts[0].alternate_emails", "alternate_emails[0] "+q+" is not a valid email address")},
		{"upsert unknown top-level key", call{method: "PUT", path: contactsPath, body: map[string]any{huge: 1, "contacts": []any{}}},
			400, errBody(clip, "unknown field "+q+": the request body takes list_ids and contacts")},
		{"upsert unknown contact key", call{method: "PUT", path: contactsPath, body: upsert(map[string]any{huge: 1})},
			400, errBody("contacts[0]."+clip, "unknown field "+q)},
		{"upsert unknown custom field", call{method: "PUT", path: contactsPath, body: upsert(map[string]any{"custom_fields": map[string]any{huge: "x"}})},
			400, errBody("contacts[0].custom_fields."+clip, "custom field "+q+" does not exist")},
		{"upsert Number value", call{method: "PUT", path: contactsPath, body: upsert(map[string]any{"custom_fields": map[string]any{num: huge}})},
			400, errBody("contacts[0].custom_fields."+num, `custom field "`+num+`" (n) must be a number, got `+q)},
		{"upsert Date value", call{method: "PUT", path: contactsPath, body: upsert(map[string]any{"custom_fields": map[string]any{date: huge}})},
			400, errBody("contacts[0].custom_fields."+date, `custom field "`+date+`" (d) must be a date (RFC 3339, YYYY-MM-DD or MM/DD/YYYY), got `+q)},
		{"upsert list id", call{method: "PUT", path: contactsPath, body: map[string]any{"list_ids": []string{huge}, "contacts": []any{map[string]any{"email": "b@example.com"}}}},
			400, errBody("list_ids", "list id "+q+" is not a valid UUID")},
		{"contact id in the path", call{method: "GET", path: contactsPath + "/" + big},
			404, errBody("", "resource not found")}, // not a UUID: no route (docs/decisions.md §14)
		{"job id in the path", call{method: "GET", path: contactsPath + "/imports/" + big,
			noSpec: "the spec's 400 types errors as one object (docs/sendgrid.md \"Spec contradictions\" 8); segmentd sends the array"},
			400, errBody("id", "job id "+q+" is not a valid UUID")},
		{"delete contacts ids", call{method: "DELETE", path: contactsPath, rawQuery: "ids=" + big},
			400, errBody("ids", "contact id "+q+" is not a valid UUID")},
		{"remove list contacts ids", call{method: "DELETE", path: listsPath + "/" + list + "/contacts", rawQuery: "contact_ids=" + big},
			400, bareErr("contact_ids", "contact id "+q+" is not a valid UUID")},
		{"custom field id in the path", call{method: "DELETE", path: "/v3/marketing/field_definitions/" + big},
			404, errBody("field_id", "custom field "+q+" does not exist")},
		{"v1 segment id in the path", call{method: "GET", path: "/v3/marketing/segments/" + big},
			404, errBody("", "resource not found")},
		{"search query identifier", call{method: "POST", path: contactsPath + "/search", body: map[string]any{"query": ident + " = 'x'"}},
			400, errBody("query", "1:1: unknown column '"+clip+"'")},
		{"2.0 segment query identifier", call{method: "POST", path: "/v3/marketing/segments/2.0",
			body: map[string]any{"name": "t", "query_dsl": "SELECT contact_id, updated_at FROM contact_data WHERE " + ident + " = 'x'"}},
			400, errBody("query_dsl", "1:55: illegal column name: '"+clip+"' referenced for table: 'contact_data'")},
		{"2.0 segment parent list id", call{method: "POST", path: "/v3/marketing/segments/2.0",
			body: map[string]any{"name": "t", "parent_list_ids": []string{big}, "query_dsl": "SELECT contact_id, updated_at FROM contact_data WHERE email = 'x'"}},
			400, errBody("parent_list_ids", "list id "+q+" is not a valid UUID")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, tc.c)
			if len(r.Body) >= 1024 {
				t.Errorf("%s: a %d-byte error body: %.300s…", r.Request[:min(len(r.Request), 80)], len(r.Body), r.Body)
				return
			}
			facetest.WantError(t, r, tc.status, tc.body)
		})
	}

	// A job's errors quote alike: removing an identifier the contact does
	// not have fails the job, whose report names the value.
	r := e.do(t, call{method: "DELETE", path: contactsPath + "/" + contact + "/identifiers", body: map[string]any{"identifier_type": "EMAIL", "identifier_value": big},
		noSpec: "DELETE /contacts/{id}/identifiers 202 job_id is typed object in the spec (docs/sendgrid.md \"Spec contradictions\" 1)"})
	id := facetest.WantStatus(t, r, http.StatusAccepted)["job_id"].(string)
	e.waitJob(t, id)
	r = e.do(t, call{method: "GET", path: contactsPath + "/imports/" + id})
	var job struct {
		Results struct{ Errors []struct{ Message string } }
	}
	r.Decode(t, &job)
	want := "contact " + contact + " has no email " + q
	if len(r.Body) >= 1024 || len(job.Results.Errors) != 1 || job.Results.Errors[0].Message != want {
		t.Errorf("identifier delete job: a %d-byte report %.300s…, want its error %s", len(r.Body), r.Body, want)
	}
}
