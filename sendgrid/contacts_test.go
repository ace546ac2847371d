package sendgrid_test

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/segmentd/segmentd/internal/facetest"
)

const contactsPath = "/v3/marketing/contacts"

// createFields creates a Text, a Number and a Date field and returns their ids.
func (e *env) createFields(t *testing.T) (text, number, date string) {
	t.Helper()
	mk := func(name, typ string) string {
		r := e.do(t, call{method: "POST", path: fieldsPath, body: map[string]string{"name": name, "field_type": typ}})
		return facetest.WantStatus(t, r, 200)["id"].(string)
	}
	return mk("color", "Text"), mk("orders", "Number"), mk("joined", "Date")
}

var rfc3339ms = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`)

func TestUpsertAndReadBack(t *testing.T) {
	e := newEnv(t)
	text, number, date := e.createFields(t)
	list := e.createList(t, "Newsletter")

	job := e.upsert(t, map[string]any{
		"list_ids": []string{list},
		"contacts": []any{
			map[string]any{
				"email": "Ann@Example.COM", "first_name": "Ann", "last_name": "Lee",
				"alternate_emails": []string{"ANN.LEE@example.org"},
				"address_line_1":   "1 Main St", "city": "Springfield", "state_province_region": "IL",
				"postal_code": 62701, "country": "US", "phone_number": "+15551234567",
				"external_id": "crm-1", "unique_name": "ann",
				"custom_fields": map[string]any{text: "blue", number: "42.5", date: "2024-03-01"},
			},
			map[string]any{"email": "bob@example.com", "custom_fields": map[string]any{number: 7, date: "03/02/2024"}},
			map[string]any{"anonymous_id": "anon-9", "custom_fields": map[string]any{date: "2024-03-03T10:20:30.5+02:00"}},
		},
	})
	wantJob := map[string]any{"status": "completed", "job_type": "upsert"}
	for k, v := range wantJob {
		if job[k] != v {
			t.Errorf("job %s = %v, want %v", k, job[k], v)
		}
	}
	if res := job["results"].(map[string]any); res["requested_count"] != float64(3) || res["created_count"] != float64(3) ||
		res["updated_count"] != float64(0) || res["errored_count"] != float64(0) {
		t.Errorf("job results = %v", res)
	}
	if !rfc3339ms.MatchString(job["started_at"].(string)) || !rfc3339ms.MatchString(job["finished_at"].(string)) {
		t.Errorf("job times = %v %v", job["started_at"], job["finished_at"])
	}

	ann := e.contactByEmail(t, "ANN@example.com")
	id := ann["id"].(string)
	want := map[string]any{
		"email": "ann@example.com", "first_name": "Ann", "last_name": "Lee", "unique_name": "ann",
		"alternate_emails": []any{"ann.lee@example.org"}, "address_line_1": "1 Main St", "address_line_2": "",
		"city": "Springfield", "state_province_region": "IL", "postal_code": "62701", "country": "US",
		"phone_number": "+15551234567", "whatsapp": "", "line": "", "facebook": "",
		"phone_number_id": "", "external_id": "crm-1", "anonymous_id": "",
		"list_ids": []any{list}, "segment_ids": []any{},
		"custom_fields": map[string]any{"color": "blue", "orders": 42.5, "joined": "2024-03-01T00:00:00.000Z"},
		"_metadata":     map[string]any{"self": e.URL + contactsPath + "/" + id},
	}
	for k, v := range want {
		if !facetest.JSONEqual(mustJSON(ann[k]), mustJSON(v)) {
			t.Errorf("%s = %s, want %s", k, mustJSON(ann[k]), mustJSON(v))
		}
	}
	for _, k := range []string{"created_at", "updated_at"} {
		if s, _ := ann[k].(string); !rfc3339ms.MatchString(s) {
			t.Errorf("%s = %v, want RFC 3339 with milliseconds, UTC", k, ann[k])
		}
	}

	// GET /contacts/{id} returns the same document.
	r := e.do(t, call{method: "GET", path: contactsPath + "/" + id})
	if facetest.WantStatus(t, r, 200); !facetest.JSONEqual(r.Body, mustJSON(ann)) {
		t.Errorf("get = %s\nsearch gave %s", r.Body, mustJSON(ann))
	}
	bob := e.contactByEmail(t, "bob@example.com")
	if got := mustJSON(bob["custom_fields"]); !facetest.JSONEqual(got, []byte(`{"orders":7,"joined":"2024-03-02T00:00:00.000Z"}`)) {
		t.Errorf("bob custom_fields = %s", got)
	}
	r = e.do(t, call{method: "POST", path: contactsPath + "/search/identifiers/anonymous_id", body: map[string]any{"identifiers": []string{"anon-9"}}})
	anon := facetest.WantStatus(t, r, 200)["result"].(map[string]any)["anon-9"].(map[string]any)["contact"].(map[string]any)
	if got := mustJSON(anon["custom_fields"]); !facetest.JSONEqual(got, []byte(`{"joined":"2024-03-03T08:20:30.500Z"}`)) {
		t.Errorf("anon custom_fields = %s", got)
	}
	if anon["email"] != "" || !facetest.JSONEqual(mustJSON(anon["alternate_emails"]), []byte(`[]`)) {
		t.Errorf("unset fields: email %q alternate_emails %v", anon["email"], anon["alternate_emails"])
	}

	// Update by email in another case: omitted fields stay, null and "" clear.
	job = e.upsert(t, map[string]any{"contacts": []any{map[string]any{
		"email": "ANN@EXAMPLE.COM", "external_id": "crm-1", "first_name": "Annie", "last_name": nil,
		"custom_fields": map[string]any{text: "", number: nil},
	}}})
	if res := job["results"].(map[string]any); job["status"] != "completed" || res["updated_count"] != float64(1) || res["created_count"] != float64(0) {
		t.Errorf("update job = %v", job)
	}
	ann = e.contactByEmail(t, "ann@example.com")
	if ann["id"] != id || ann["first_name"] != "Annie" || ann["last_name"] != "" || ann["city"] != "Springfield" {
		t.Errorf("after update: %v", ann)
	}
	if got := mustJSON(ann["custom_fields"]); !facetest.JSONEqual(got, []byte(`{"joined":"2024-03-01T00:00:00.000Z"}`)) {
		t.Errorf("custom_fields after clearing = %s", got)
	}

	// Sample, count, batch.
	r = e.do(t, call{method: "GET", path: contactsPath})
	var sample struct {
		Result []struct {
			Email string `json:"email"`
		} `json:"result"`
		Metadata     map[string]string `json:"_metadata"`
		ContactCount int               `json:"contact_count"`
	}
	facetest.WantStatus(t, r, 200)
	r.Decode(t, &sample)
	if sample.ContactCount != 3 || len(sample.Result) != 3 || sample.Metadata["self"] != e.URL+contactsPath {
		t.Errorf("sample = %s", r.Body)
	}
	// Sorted by email; the contact without one comes last.
	if sample.Result[0].Email != "ann@example.com" || sample.Result[1].Email != "bob@example.com" || sample.Result[2].Email != "" {
		t.Errorf("sample not sorted by email: %s", r.Body)
	}
	r = e.do(t, call{method: "GET", path: contactsPath + "/count"})
	if facetest.WantStatus(t, r, 200); !facetest.JSONEqual(r.Body, []byte(`{"contact_count":3,"billable_count":3}`)) {
		t.Errorf("count = %s", r.Body)
	}
	missing := "00000000-0000-4000-8000-000000000000"
	r = e.do(t, call{method: "POST", path: contactsPath + "/batch", body: map[string]any{"ids": []string{bob["id"].(string), missing, "1234", id}}})
	var batch struct {
		Result []struct {
			ID string `json:"id"`
		} `json:"result"`
	}
	facetest.WantStatus(t, r, 200)
	r.Decode(t, &batch)
	if len(batch.Result) != 2 || batch.Result[0].ID != bob["id"] || batch.Result[1].ID != id {
		t.Errorf("batch = %s", r.Body)
	}

	// Search by emails: alternate emails match, misses are error entries,
	// keys are lower-cased, empty strings ignored.
	r = e.do(t, call{method: "POST", path: contactsPath + "/search/emails", body: map[string]any{"emails": []string{"Ann.Lee@Example.org", "nobody@example.com", ""}}})
	res := facetest.WantStatus(t, r, 200)["result"].(map[string]any)
	if len(res) != 2 || res["ann.lee@example.org"].(map[string]any)["contact"].(map[string]any)["id"] != id ||
		!facetest.JSONEqual(mustJSON(res["nobody@example.com"]), []byte(`{"error":"contact not found"}`)) {
		t.Errorf("search emails = %s", r.Body)
	}
	// Search by identifiers.
	r = e.do(t, call{method: "POST", path: contactsPath + "/search/identifiers/external_id", body: map[string]any{"identifiers": []string{"crm-1", "crm-2"}}})
	res = facetest.WantStatus(t, r, 200)["result"].(map[string]any)
	if res["crm-1"].(map[string]any)["contact"].(map[string]any)["id"] != id || !facetest.JSONEqual(mustJSON(res["crm-2"]), []byte(`{"error":"contact not found"}`)) {
		t.Errorf("search identifiers = %s", r.Body)
	}
	r = e.do(t, call{method: "POST", path: contactsPath + "/search/identifiers/email", body: map[string]any{"identifiers": []string{"BOB@example.com"}}})
	if res = facetest.WantStatus(t, r, 200)["result"].(map[string]any); res["bob@example.com"] == nil {
		t.Errorf("search identifiers by email = %s", r.Body)
	}

	errCases := []errCase{
		{"get unknown", call{method: "GET", path: contactsPath + "/" + missing}, 404, errBody("id", `contact "`+missing+`" does not exist`)},
		{"get malformed id", call{method: "GET", path: contactsPath + "/xyz"}, 404, errBody("", "resource not found")},
		{"batch none found", call{method: "POST", path: contactsPath + "/batch", body: `{"ids":["` + missing + `"]}`}, 404, errBody("ids", "no contacts found for the given ids")},
		{"batch empty", call{method: "POST", path: contactsPath + "/batch", body: `{"ids":[]}`}, 400, errBody("ids", "ids is required")},
		{"batch ids not an array", call{method: "POST", path: contactsPath + "/batch", body: `{"ids":"a"}`}, 400, errBody("ids", "ids has a string where an array is expected")},
		{"batch id a number", call{method: "POST", path: contactsPath + "/batch", body: `{"ids":["a",1]}`}, 400, errBody("ids", "ids has a number where a string is expected")},
		{"search emails no hit", call{method: "POST", path: contactsPath + "/search/emails", body: `{"emails":["x@example.com"]}`}, 404, errBody("", "no contacts found")},
		{"search emails invalid", call{method: "POST", path: contactsPath + "/search/emails", body: `{"emails":["ann@example.com","not-an-email"]}`},
			400, errBody("emails[1]", `email "not-an-email" is not a valid email address`)},
		{"search emails missing", call{method: "POST", path: contactsPath + "/search/emails", body: `{}`}, 400, errBody("emails", "emails is required")},
		{"search emails only empty", call{method: "POST", path: contactsPath + "/search/emails", body: `{"emails":[""]}`}, 400, errBody("emails", "emails must hold at least one address")},
		{"search identifiers no hit", call{method: "POST", path: contactsPath + "/search/identifiers/phone_number_id", body: `{"identifiers":["+15550000000"]}`},
			404, bareErr("", "no contacts found")},
		{"search identifiers bad type", call{method: "POST", path: contactsPath + "/search/identifiers/id", body: `{"identifiers":["x"]}`,
			noSpec: "the path's enum already excludes this type, so kin-openapi finds no route"},
			400, bareErr("identifier_type", "identifier_type must be one of email, phone_number_id, external_id, anonymous_id")},
		{"search identifiers invalid email", call{method: "POST", path: contactsPath + "/search/identifiers/email", body: `{"identifiers":["nope"]}`},
			400, bareErr("identifiers[0]", `email "nope" is not a valid email address`)},
		{"search identifiers missing", call{method: "POST", path: contactsPath + "/search/identifiers/email", body: `{}`},
			400, bareErr("identifiers", "identifiers is required")},
		{"search identifiers empty value", call{method: "POST", path: contactsPath + "/search/identifiers/external_id", body: `{"identifiers":[" "]}`},
			400, bareErr("identifiers[0]", "identifier must not be empty")},
	}
	e.wantErrors(t, errCases)
}

// An upsert that validates but cannot be applied to some contacts reports
// them in the job: errored when some failed, failed when all did.
func TestUpsertJobErrors(t *testing.T) {
	e := newEnv(t)
	e.upsert(t, map[string]any{"contacts": []any{map[string]any{"email": "c@example.com", "external_id": "ext-c"}}})

	// The second contact omits the existing external_id: SendGrid requires
	// every existing identifier to update a contact.
	job := e.upsert(t, map[string]any{"contacts": []any{
		map[string]any{"email": "d@example.com"},
		map[string]any{"email": "c@example.com", "first_name": "C"},
	}})
	res := job["results"].(map[string]any)
	if job["status"] != "errored" || res["created_count"] != float64(1) || res["errored_count"] != float64(1) {
		t.Fatalf("job = %v", job)
	}
	errs, _ := res["errors"].([]any)
	if len(errs) != 1 || errs[0].(map[string]any)["index"] != float64(1) || !strings.Contains(errs[0].(map[string]any)["message"].(string), "every existing identifier") {
		t.Errorf("job errors = %v", res["errors"])
	}
	if c := e.contactByEmail(t, "c@example.com"); c["first_name"] != "" {
		t.Errorf("rejected update was applied: %v", c)
	}

	job = e.upsert(t, map[string]any{"contacts": []any{map[string]any{"email": "c@example.com", "external_id": "other"}}})
	if job["status"] != "failed" || job["results"].(map[string]any)["errored_count"] != float64(1) {
		t.Errorf("all-failed job = %v", job)
	}
}

func TestUpsertValidation(t *testing.T) {
	e := newEnv(t)
	text, number, date := e.createFields(t)
	list := e.createList(t, "L")
	e.upsert(t, map[string]any{"contacts": []any{map[string]any{"email": "keep@example.com", "first_name": "Keep"}}})
	missing := "00000000-0000-4000-8000-000000000000"

	cases := []struct {
		name   string
		body   string
		status int
		want   string
	}{
		{"malformed JSON", `{"contacts":[{"email":"x@example.com"}`, 400, errBody("contacts", "contacts: invalid JSON at byte 38: expected ',' or ']', found the end of the document")},
		{"not an object", `[1,2]`, 400, errBody("", "the request body must be a JSON object, found an array")},
		{"empty body", ``, 400, errBody("", "the request body must be a JSON object")},
		{"no contacts", `{"list_ids":[]}`, 400, errBody("contacts", "contacts is required")},
		{"empty contacts", `{"contacts":[]}`, 400, errBody("contacts", "contacts must hold at least one contact")},
		{"contacts not an array", `{"contacts":{"email":"x@example.com"}}`, 400, errBody("contacts", "contacts must be an array of contact objects")},
		{"unknown top-level key", `{"contacts":[{"email":"x@example.com"}],"lists":[]}`, 400, errBody("lists", `unknown field "lists": the request body takes list_ids and contacts`)},
		{"unknown contact key", `{"contacts":[{"email":"x@example.com"},{"email":"y@example.com","nickname":"Y"}]}`, 400, errBody("contacts[1].nickname", `unknown field "nickname"`)},
		{"contact id", `{"contacts":[{"id":"` + missing + `","email":"x@example.com"}]}`, 400,
			errBody("contacts[0].id", "a contact's id cannot be used to update it; contacts are matched by email, phone_number_id, external_id or anonymous_id")},
		{"contact not an object", `{"contacts":["x@example.com"]}`, 400, errBody("contacts[0]", "contacts[0] must be a contact object")},
		{"first_name a number", `{"contacts":[{"email":"x@example.com","first_name":7}]}`, 400, errBody("contacts[0].first_name", "contacts[0].first_name must be a string")},
		{"alternate_emails a string", `{"contacts":[{"email":"x@example.com","alternate_emails":"a@example.com"}]}`, 400,
			errBody("contacts[0].alternate_emails", "contacts[0].alternate_emails must be an array of strings")},
		{"list_ids not an array", `{"list_ids":"x","contacts":[{"email":"x@example.com"}]}`, 400, errBody("list_ids", "list_ids must be an array of strings")},
		{"list_ids item a number", `{"list_ids":[1],"contacts":[{"email":"x@example.com"}]}`, 400, errBody("list_ids[0]", "list_ids[0] must be a string")},
		{"list id malformed", `{"list_ids":["x"],"contacts":[{"email":"x@example.com"}]}`, 400, errBody("list_ids", `list id "x" is not a valid UUID`)},
		{"list unknown", `{"list_ids":["` + missing + `"],"contacts":[{"email":"x@example.com"}]}`, 404, errBody("list_ids", `list "`+missing+`" does not exist`)},
		{"custom_fields not an object", `{"contacts":[{"email":"x@example.com","custom_fields":[1]}]}`, 400,
			errBody("contacts[0].custom_fields", "contacts[0].custom_fields must be an object keyed by custom field id")},
		{"number not numeric", `{"contacts":[{"email":"x@example.com","custom_fields":{"` + number + `":"many"}}]}`, 400,
			errBody("contacts[0].custom_fields."+number, `custom field "`+number+`" (orders) must be a number, got "many"`)},
		{"number a bool", `{"contacts":[{"email":"x@example.com","custom_fields":{"` + number + `":true}}]}`, 400,
			errBody("contacts[0].custom_fields."+number, `custom field "`+number+`" (orders) must be a number`)},
		{"date malformed", `{"contacts":[{"email":"x@example.com","custom_fields":{"` + date + `":"2024-13-45"}}]}`, 400,
			errBody("contacts[0].custom_fields."+date, `custom field "`+date+`" (joined) must be a date (RFC 3339, YYYY-MM-DD or MM/DD/YYYY), got "2024-13-45"`)},
		{"date a number", `{"contacts":[{"email":"x@example.com","custom_fields":{"` + date + `":20240101}}]}`, 400,
			errBody("contacts[0].custom_fields."+date, `custom field "`+date+`" (joined) must be a date string (RFC 3339, YYYY-MM-DD or MM/DD/YYYY)`)},
		{"text a number", `{"contacts":[{"email":"x@example.com","custom_fields":{"` + text + `":5}}]}`, 400,
			errBody("contacts[0].custom_fields."+text, `custom field "`+text+`" (color) must be a string`)},
		{"unknown custom field", `{"contacts":[{"email":"x@example.com","custom_fields":{"w999":"x"}}]}`, 400,
			errBody("contacts[0].custom_fields.w999", `custom field "w999" does not exist`)},
		{"no identifier", `{"contacts":[{"first_name":"Nobody"}]}`, 400,
			errBody("contacts[0]", "contact must have at least one identifier: email, phone_number_id, external_id or anonymous_id")},
		{"invalid email", `{"contacts":[{"email":"not-an-email"}]}`, 400, errBody("contacts[0].email", `email "not-an-email" is not a valid email address`)},
		{"first_name too long", `{"contacts":[{"email":"x@example.com","first_name":"` + strings.Repeat("n", 51) + `"}]}`, 400,
			errBody("contacts[0].first_name", "first_name must be at most 50 characters")},
		{"too many alternate emails", `{"contacts":[{"email":"x@example.com","alternate_emails":["a@x.com","b@x.com","c@x.com","d@x.com","e@x.com","f@x.com"]}]}`, 400,
			errBody("contacts[0].alternate_emails", "alternate_emails may hold at most 5 addresses")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, call{method: "PUT", path: contactsPath, body: tc.body})
			facetest.WantError(t, r, tc.status, tc.want)
		})
	}
	_ = list

	// Nothing stored changed.
	r := e.do(t, call{method: "GET", path: contactsPath + "/count"})
	if m := facetest.WantStatus(t, r, 200); m["contact_count"] != float64(1) {
		t.Errorf("contact_count = %v after rejected upserts", m["contact_count"])
	}
	if c := e.contactByEmail(t, "keep@example.com"); c["first_name"] != "Keep" {
		t.Errorf("stored contact changed: %v", c)
	}
}

func TestDeleteContacts(t *testing.T) {
	e := newEnv(t)
	var contacts []any
	for i := range 8 {
		contacts = append(contacts, map[string]any{"email": fmt.Sprintf("u%d@example.com", i), "external_id": fmt.Sprintf("x%d", i)})
	}
	e.upsert(t, map[string]any{"contacts": contacts})
	id := func(i int) string { return e.contactByEmail(t, fmt.Sprintf("u%d@example.com", i))["id"].(string) }
	count := func() float64 {
		return facetest.WantStatus(t, e.do(t, call{method: "GET", path: contactsPath + "/count"}), 200)["contact_count"].(float64)
	}
	// job_id is a string although the spec types it as an object
	// (docs/sendgrid.md "Spec contradictions" 1), so 202s of this endpoint
	// are not validated.
	const jobIDObject = "DELETE /contacts 202 job_id is typed object in the spec (docs/sendgrid.md \"Spec contradictions\" 1)"
	deleteAndWait := func(c call) map[string]any {
		t.Helper()
		c.method, c.path, c.noSpec = "DELETE", contactsPath, jobIDObject
		r := e.do(t, c)
		return e.waitJob(t, facetest.WantStatus(t, r, http.StatusAccepted)["job_id"].(string))
	}

	// The four spellings of an array parameter.
	job := deleteAndWait(call{query: map[string]string{"ids": ids(id(0), id(1))}})
	if job["status"] != "completed" || job["job_type"] != "delete" || job["results"].(map[string]any)["deleted_count"] != float64(2) {
		t.Errorf("delete job = %v", job)
	}
	deleteAndWait(call{rawQuery: "ids=" + id(2) + "&ids=" + id(3)})
	deleteAndWait(call{rawQuery: "ids[]=" + id(4)})
	job = deleteAndWait(call{rawQuery: "ids[1]=" + id(6) + "&ids[0]=" + id(7)})
	if job["results"].(map[string]any)["deleted_count"] != float64(2) {
		t.Errorf("indexed ids: delete job = %v", job)
	}
	if n := count(); n != 1 {
		t.Fatalf("count after deletes = %v, want 1", n)
	}
	// The indexed form is read in the order of its indices: the first
	// malformed id reported is ids[0]'s.
	r := e.do(t, call{method: "DELETE", path: contactsPath, rawQuery: "ids[1]=second-bad&ids[0]=first-bad"})
	if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body), "first-bad") {
		t.Errorf("indexed malformed ids: %d %s, want 400 naming ids[0]'s value", r.Status, r.Body)
	}

	// Delete an identifier: the contact keeps its other one.
	last := id(5)
	const identJobID = "DELETE /contacts/{id}/identifiers 202 job_id is typed object in the spec (docs/sendgrid.md \"Spec contradictions\" 1)"
	r = e.do(t, call{method: "DELETE", path: contactsPath + "/" + last + "/identifiers", body: map[string]string{"identifier_type": "EMAIL", "identifier_value": "U5@example.com"}, noSpec: identJobID})
	job = e.waitJob(t, facetest.WantStatus(t, r, http.StatusAccepted)["job_id"].(string))
	if job["status"] != "completed" {
		t.Errorf("identifier delete job = %v", job)
	}
	r = e.do(t, call{method: "GET", path: contactsPath + "/" + last})
	if c := facetest.WantStatus(t, r, 200); c["email"] != "" || c["external_id"] != "x5" {
		t.Errorf("after identifier delete: %s", r.Body)
	}
	// Deleting the last identifier fails the job, not the request.
	r = e.do(t, call{method: "DELETE", path: contactsPath + "/" + last + "/identifiers", body: map[string]string{"identifier_type": "EXTERNALID", "identifier_value": "x5"}, noSpec: identJobID})
	job = e.waitJob(t, facetest.WantStatus(t, r, http.StatusAccepted)["job_id"].(string))
	// The error is about the request's one item, so it is at index 0, as
	// job errors index the request's items.
	wantJobErrors := func(what string, job map[string]any, field, message string) {
		t.Helper()
		res := job["results"].(map[string]any)
		errs, _ := res["errors"].([]any)
		if job["status"] != "failed" || res["errored_count"] != float64(1) || len(errs) != 1 {
			t.Fatalf("%s job = %v", what, job)
		}
		got := errs[0].(map[string]any)
		if got["index"] != float64(0) || got["field"] != field || !strings.Contains(got["message"].(string), message) {
			t.Errorf("%s job error = %v, want index 0, field %q, a message with %q", what, got, field, message)
		}
	}
	wantJobErrors("last-identifier", job, "identifier_type", "external_id is the contact's last identifier")
	// A value that is not the contact's fails the job too.
	r = e.do(t, call{method: "DELETE", path: contactsPath + "/" + last + "/identifiers", body: map[string]string{"identifier_type": "ANONYMOUSID", "identifier_value": "nope"}, noSpec: identJobID})
	job = e.waitJob(t, facetest.WantStatus(t, r, http.StatusAccepted)["job_id"].(string))
	wantJobErrors("wrong-value", job, "identifier_value", "has no anonymous_id")

	missing := "00000000-0000-4000-8000-000000000000"
	errCases := []errCase{
		{"neither ids nor all", call{method: "DELETE", path: contactsPath}, 400, errBody("ids", "one of ids or delete_all_contacts=true is required")},
		{"both", call{method: "DELETE", path: contactsPath, query: map[string]string{"ids": last, "delete_all_contacts": "true"}}, 400, errBody("ids", "give either ids or delete_all_contacts=true, not both")},
		{"all not true", call{method: "DELETE", path: contactsPath, query: map[string]string{"delete_all_contacts": "yes"}}, 400, errBody("delete_all_contacts", `delete_all_contacts must be "true" when given`)},
		{"malformed id", call{method: "DELETE", path: contactsPath, query: map[string]string{"ids": "abc"}}, 400, errBody("ids", `contact id "abc" is not a valid UUID`)},
		{"identifier of unknown contact", call{method: "DELETE", path: contactsPath + "/" + missing + "/identifiers", body: `{"identifier_type":"EMAIL","identifier_value":"a@example.com"}`},
			404, errBody("id", `contact "`+missing+`" does not exist`)},
		{"identifier of malformed contact id", call{method: "DELETE", path: contactsPath + "/zzz/identifiers", body: `{"identifier_type":"EMAIL","identifier_value":"a@example.com"}`},
			404, errBody("", "resource not found")},
		{"identifier type unknown", call{method: "DELETE", path: contactsPath + "/" + last + "/identifiers", body: `{"identifier_type":"email","identifier_value":"a@example.com"}`},
			400, errBody("identifier_type", `identifier_type must be one of "EMAIL", "PHONENUMBERID", "EXTERNALID", "ANONYMOUSID"`)},
		{"identifier type missing", call{method: "DELETE", path: contactsPath + "/" + last + "/identifiers", body: `{"identifier_value":"a@example.com"}`},
			400, errBody("identifier_type", "identifier_type is required")},
		{"identifier value missing", call{method: "DELETE", path: contactsPath + "/" + last + "/identifiers", body: `{"identifier_type":"EMAIL"}`},
			400, errBody("identifier_value", "identifier_value is required")},
		{"job malformed id", call{method: "GET", path: contactsPath + "/imports/nope",
			noSpec: "the spec's 400 types errors as one object (docs/sendgrid.md \"Spec contradictions\" 8); segmentd sends the array"},
			400, errBody("id", `job id "nope" is not a valid UUID`)},
		{"job unknown", call{method: "GET", path: contactsPath + "/imports/" + missing}, 404, errBody("id", `job "`+missing+`" does not exist`)},
	}
	e.wantErrors(t, errCases)

	// Delete all.
	job = deleteAndWait(call{query: map[string]string{"delete_all_contacts": "true"}})
	if job["status"] != "completed" || count() != 0 {
		t.Errorf("delete all: job %v, count %v", job, count())
	}
}
