package hooks_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/hooks"
	"github.com/segmentd/segmentd/internal/facetest"
)

// Preview counts and samples what a query would select, saving nothing,
// in each dialect; errors say where they are.
func TestPreview(t *testing.T) {
	e := start(t, hooks.Options{})
	e.upsert(t, "a@example.com", "b@example.com", "c@example.org")
	list, err := e.Svc.CreateList(t.Context(), e.acct, "l")
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.Svc.UpsertContacts(t.Context(), e.acct, []segmentd.ContactPatch{{Email: facetest.Ptr("d@example.com"), FirstName: facetest.Ptr("Bo")}}, []string{list.ID})
	if err != nil {
		t.Fatal(err)
	}
	facetest.WaitJob(t, e.Svc, e.acct, id)
	const path = "/segmentd/v1/preview"

	for _, tc := range []struct {
		name  string
		body  map[string]any
		count float64
	}{
		{"2.0 SQL", map[string]any{"query_dsl": "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%@example.com'"}, 3},
		{"2.0 SQL, explicit", map[string]any{"query_dsl": "SELECT contact_id, updated_at FROM contact_data WHERE first_name = 'Ada'", "query_version": "2"}, 3},
		{"SGQL", map[string]any{"query_dsl": "first_name = 'Bo'", "query_version": "1"}, 1},
		{"criteria object", map[string]any{"segment_criteria": map[string]any{"version": "1.0.0", "criteria": map[string]any{"type": "and", "group": []any{
			map[string]any{"source": "contact", "field": "first_name", "op": "eq", "const_value": "Ada"}}}}}, 3},
		{"criteria string", map[string]any{"segment_criteria": `{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"contact","field":"first_name","op":"eq","const_value":"Bo"}]}}`}, 1},
		{"parent list", map[string]any{"query_dsl": "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%@example.com'", "parent_list_id": list.ID}, 1},
		{"no sample", map[string]any{"query_dsl": "first_name = 'Ada'", "query_version": "1", "sample": 0}, 3},
	} {
		m := want(t, e.call(t, "POST", path, tc.body), 200)
		if m["contacts_count"] != tc.count {
			t.Errorf("%s: count %v, want %v", tc.name, m["contacts_count"], tc.count)
		}
		sample := m["contacts_sample"].([]any)
		wantSample := int(tc.count)
		if tc.body["sample"] == 0 {
			wantSample = 0
		}
		if len(sample) != wantSample {
			t.Errorf("%s: sample of %d, want %d", tc.name, len(sample), wantSample)
		}
	}
	m := want(t, e.call(t, "POST", path, map[string]any{"query_dsl": "first_name = 'Ada'", "query_version": "1", "sample": 2}), 200)
	if s := m["contacts_sample"].([]any); len(s) != 2 || s[0].(map[string]any)["first_name"] != "Ada" {
		t.Fatalf("sample: %v", s)
	}
	// Nothing was saved.
	if segs, err := e.Svc.Segments(t.Context(), e.acct, audience.SegmentFilter{}); err != nil || len(segs) != 0 {
		t.Fatalf("segments after previews: %v %v", segs, err)
	}

	// Errors: positioned in the query, by JSON path in criteria.
	for _, tc := range []struct {
		body   any
		status int
		parts  []string
	}{
		{map[string]any{"query_dsl": "SELECT contact_id, updated_at FROM contact_data WHERE\n  first_name = "}, 400, []string{`"field":"query"`, `"line":2`, `"column":16`, `"message":"2:16: expected expression`}},
		{map[string]any{"query_dsl": "nope = 1", "query_version": "1"}, 400, []string{`"line":1`, `"column":1`, `nope`}},
		{map[string]any{"segment_criteria": map[string]any{"version": "1.0.0", "criteria": map[string]any{"type": "and", "group": []any{
			map[string]any{"source": "contact", "field": "first_name", "op": "nope", "const_value": "Ada"}}}}}, 400, []string{`"field":"criteria"`, `"path":"criteria.group[0].op"`}},
		{map[string]any{"segment_criteria": 7}, 400, []string{"segment_criteria must be a JSON object"}},
		{map[string]any{"query_dsl": strings.Repeat("x", 16<<10+1), "query_version": "1"}, 400, []string{"16384"}},
		{map[string]any{"query_dsl": strings.Repeat("(", 100) + "x = 1" + strings.Repeat(")", 100), "query_version": "1"}, 400, []string{"deep"}},
		{map[string]any{}, 400, []string{"query_dsl or segment_criteria is required"}},
		{map[string]any{"query_dsl": " "}, 400, []string{"query is required"}},
		{map[string]any{"query_dsl": "x", "segment_criteria": "{}"}, 400, []string{"not both"}},
		{map[string]any{"query_dsl": "x", "query_version": "3"}, 400, []string{`"field":"query_version"`}},
		{map[string]any{"segment_criteria": "{}", "query_version": "2"}, 400, []string{`"field":"query_version"`}},
		{map[string]any{"query_dsl": "first_name = 'Ada'", "query_version": "1", "sample": 101}, 400, []string{"from 0 to 100"}},
		{map[string]any{"query_dsl": "first_name = 'Ada'", "query_version": "1", "parent_list_id": "nope"}, 400, []string{"not a valid UUID"}},
		{map[string]any{"query_dsl": "first_name = 'Ada'", "query_version": "1", "parent_list_id": "00000000-0000-4000-8000-000000000000"}, 404, nil},
		{map[string]any{"query_dsl": "x", "surprise": 1}, 400, []string{"unknown key"}},
		{strings.Repeat(" ", hooks.MaxBody+1), 413, nil},
	} {
		want(t, e.call(t, "POST", path, tc.body), tc.status, tc.parts...)
	}
	want(t, e.call(t, "GET", path, nil), 405)

	// Keys: none, unknown, without a read scope; either read scope does;
	// another account sees its own contacts.
	body := map[string]any{"query_dsl": "first_name = 'Ada'", "query_version": "1"}
	want(t, e.call(t, "POST", path, body, ""), 401, "authorization required")
	want(t, e.call(t, "POST", path, body, "SG.nope"), 401)
	want(t, e.call(t, "POST", path, body, e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeWebhooks, segmentd.ScopeSendGridWrite)), 403, "sendgrid.read or constantcontact.read")
	want(t, e.call(t, "POST", path, body, e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeConstantContactRead)), 200, `"contacts_count":3`)
	want(t, e.call(t, "POST", path, body, e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeSendGridRead)), 200, `"contacts_count":3`)
	want(t, e.call(t, "POST", path, body, e.NewKey("other", "", segmentd.ScopeSendGridRead)), 200, `"contacts_count":0`)
}

// Explain shows a segment's query clause by clause for one contact, for
// SendGrid 2.0 and v1 segments and Constant Contact segments, agreeing
// with membership.
func TestExplain(t *testing.T) {
	e := start(t, hooks.Options{})
	ctx := t.Context()
	score, err := e.Svc.CreateField(ctx, e.acct, "score", segmentd.FieldNumber)
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.Svc.UpsertContacts(ctx, e.acct, []segmentd.ContactPatch{
		{Email: facetest.Ptr("ann@example.com"), FirstName: facetest.Ptr("Ann"), CustomFields: map[string]*segmentd.Value{score.ID: {Type: segmentd.FieldNumber, Number: 7}}},
		{Email: facetest.Ptr("bob@example.com"), FirstName: facetest.Ptr("Bob")},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	facetest.WaitJob(t, e.Svc, e.acct, id)
	ann := contactID(t, e, "ann@example.com")
	sql := e.segment(t, "sql", "SELECT contact_id, updated_at FROM contact_data\nWHERE first_name = 'Ann' AND (score > 5 OR country = 'FR')")
	v1, err := e.Svc.CreateSegment(ctx, e.acct, "v1", "first_name = 'Bob' OR score > 100", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := e.Svc.CreateCCSegment(ctx, e.acct, "cc", `{"version":"1.0.0","criteria":{"type":"or","group":[`+
		`{"source":"contact","field":"first_name","op":"eq","const_value":"Ann"},`+
		`{"source":"contact","field":"email_address","op":"contains","const_value":"nobody"}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	ccPath := "/segmentd/v1/segments/constantcontact/" + strconv.FormatInt(cc.ID, 10) + "/explain"

	// A 2.0 segment, by contact id: a member; the tree with positions.
	m := want(t, e.call(t, "GET", "/segmentd/v1/segments/sendgrid/"+sql+"/explain?contact_id="+ann, nil), 200,
		`"member":true`, `"verdict":"true"`, `"segment":{"vendor":"sendgrid","id":"`+sql+`"}`,
		`{"kind":"condition","text":"first_name = 'Ann'","line":2,"column":7,"verdict":"true","values":[{"name":"first_name","value":"Ann"}]}`,
		`{"kind":"condition","text":"score \u003e 5","line":2,"column":31,"verdict":"true","values":[{"name":"score","value":7}]}`,
		`{"kind":"condition","text":"country = 'FR'","line":2,"column":44,"verdict":"unknown","values":[{"name":"country","value":null}]}`)
	if q := m["query"].(map[string]any); q["kind"] != "and" || len(q["clauses"].([]any)) != 2 {
		t.Fatalf("query: %v", q)
	}
	// By email, not a member: false, with the NULL that made a clause unknown.
	want(t, e.call(t, "GET", "/segmentd/v1/segments/sendgrid/"+sql+"/explain?email=BOB@example.com", nil), 200,
		`"member":false`, `"verdict":"false"`, `"contact":{"id":"`, `"email":"bob@example.com"`,
		`"text":"score \u003e 5","line":2,"column":31,"verdict":"unknown","values":[{"name":"score","value":null}]`)
	// A v1 segment.
	want(t, e.call(t, "GET", "/segmentd/v1/segments/sendgrid/"+v1.ID+"/explain?email=bob@example.com", nil), 200,
		`"member":true`, `"kind":"or"`, `"query_dsl":"first_name = 'Bob' OR score \u003e 100"`)
	// A Constant Contact segment: its clauses by JSON path.
	want(t, e.call(t, "GET", ccPath+"?contact_id="+ann, nil), 200,
		`"member":true`, `"segment":{"vendor":"constantcontact","id":"`+strconv.FormatInt(cc.ID, 10)+`"}`,
		`"path":"criteria"`, `"path":"criteria.group[0]"`, `"path":"criteria.group[1]"`, `"segment_criteria":"{`)

	// Errors.
	for _, tc := range []struct {
		path   string
		status int
		msg    string
	}{
		{"/segmentd/v1/segments/sendgrid/" + sql + "/explain", 400, "contact_id or email is required"},
		{"/segmentd/v1/segments/sendgrid/" + sql + "/explain?contact_id=" + ann + "&email=ann@example.com", 400, "not both"},
		{"/segmentd/v1/segments/sendgrid/" + sql + "/explain?email=nope", 400, "not a valid email address"},
		{"/segmentd/v1/segments/sendgrid/" + sql + "/explain?contact=" + ann, 400, "unknown query parameter"},
		{"/segmentd/v1/segments/sendgrid/" + sql + "/explain?email=carol@example.com", 404, "no contact has the email"},
		{"/segmentd/v1/segments/sendgrid/" + sql + "/explain?contact_id=00000000-0000-4000-8000-000000000000", 404, ""},
		{"/segmentd/v1/segments/sendgrid/00000000-0000-4000-8000-000000000000/explain?contact_id=" + ann, 404, ""},
		{"/segmentd/v1/segments/constantcontact/999/explain?contact_id=" + ann, 404, ""},
		{"/segmentd/v1/segments/constantcontact/x/explain?contact_id=" + ann, 404, ""},
		{"/segmentd/v1/segments/mailchimp/1/explain?contact_id=" + ann, 404, "unknown vendor"},
	} {
		want(t, e.call(t, "GET", tc.path, nil), tc.status, tc.msg)
	}
	want(t, e.call(t, "POST", "/segmentd/v1/segments/sendgrid/"+sql+"/explain", nil), 405)
	// Keys.
	p := "/segmentd/v1/segments/sendgrid/" + sql + "/explain?contact_id=" + ann
	want(t, e.call(t, "GET", p, nil, ""), 401)
	want(t, e.call(t, "GET", p, nil, e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeWebhooks)), 403, "sendgrid.read or constantcontact.read")
	want(t, e.call(t, "GET", p, nil, e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeConstantContactRead)), 200)
	want(t, e.call(t, "GET", p, nil, e.NewKey("other", "", segmentd.ScopeSendGridRead)), 404)

	// A segment whose field was deleted matches nobody: 409.
	if err := e.Svc.DeleteField(ctx, e.acct, score.ID); err != nil {
		t.Fatal(err)
	}
	want(t, e.call(t, "GET", p, nil), 409, "no longer checks")
}

func contactID(t *testing.T, e *env, email string) string {
	t.Helper()
	_, found, err := e.Svc.ContactsByEmails(t.Context(), e.acct, []string{email})
	if err != nil || found[email].ID == "" {
		t.Fatalf("%s: %v %v", email, found, err)
	}
	return found[email].ID
}

// Completions name what a query of the account may use.
func TestCompletions(t *testing.T) {
	e := start(t, hooks.Options{})
	if _, err := e.Svc.CreateField(t.Context(), e.acct, "plan", segmentd.FieldText); err != nil {
		t.Fatal(err)
	}
	l, err := e.Svc.CreateList(t.Context(), e.acct, "Trial users")
	if err != nil {
		t.Fatal(err)
	}
	want(t, e.call(t, "GET", "/segmentd/v1/completions", nil), 200,
		`"custom_fields":[{"name":"plan","type":"text"}]`, `{"name":"first_name","type":"text"}`, `{"name":"created_at","type":"date"}`,
		`{"name":"list_ids","type":"array"}`, `"event_fields":["contact_id","event_source","event_type","event_timestamp"`,
		`"event_types":["processed"`, `"lists":[{"id":"`+l.ID+`","name":"Trial users"}]`)
	m := want(t, e.call(t, "GET", "/segmentd/v1/completions", nil), 200)
	for _, f := range m["reserved_fields"].([]any) {
		if n := f.(map[string]any)["name"]; n == "last_opened" {
			t.Errorf("reserved field %v is not queryable", n)
		}
	}
	want(t, e.call(t, "GET", "/segmentd/v1/completions", nil, ""), 401)
	want(t, e.call(t, "GET", "/segmentd/v1/completions", nil, e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeEventsWrite)), 403)
	want(t, e.call(t, "GET", "/segmentd/v1/completions", nil, e.NewKey("other", "", segmentd.ScopeSendGridRead)), 200, `"lists":[]`, `"custom_fields":[]`)
}
