package main

import (
	"strings"
	"testing"
)

// TestBodyAndIDRulesThroughTheBinary drives the real binary with the bad
// input issue 12 found accepted (docs/decisions.md §18): repeated keys,
// bodies that are not objects, control characters and lone surrogates,
// Constant Contact ids such as "+1", and criteria syntax errors; each is
// refused in its face's envelope and nothing changes.
func TestBodyAndIDRulesThroughTheBinary(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.input-test-key"
		s, _ := st.start(t, bin, key)

		// SendGrid: {"name":"a","name":"b"} used to create list "b".
		if code, out := call(t, s, key, "POST", "/v3/marketing/lists", `{"name":"a","name":"b"}`); code != 400 || out != `{"errors":[{"field":"name","message":"name: repeated key"}]}` {
			t.Errorf("repeated key: %d %s", code, out)
		}
		if code, out := call(t, s, key, "POST", "/v3/marketing/lists", `{"name":"a\u0000"}`); code != 400 || !strings.Contains(out, "name must not contain control characters (found U+0000)") {
			t.Errorf("NUL in a name: %d %s", code, out)
		}
		if code, out := call(t, s, key, "POST", "/v3/marketing/lists", `{"name":"\ud800"}`); code != 400 || !strings.Contains(out, `name: lone UTF-16 surrogate \\ud800`) {
			t.Errorf("lone surrogate: %d %s", code, out)
		}
		if m := mustCall(t, s, key, "GET", "/v3/marketing/lists", "", 200); len(m["result"].([]any)) != 0 {
			t.Errorf("a list was created: %v", m)
		}
		// PATCH .../segments/2.0/{id} with null used to answer 200.
		seg := mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0", `{"name":"Americans","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"}`, 201)
		segPath := "/v3/marketing/segments/2.0/" + seg["id"].(string)
		if code, out := call(t, s, key, "PATCH", segPath, `null`); code != 400 || out != `{"errors":[{"field":"","message":"the request body must be a JSON object, found null"}]}` {
			t.Errorf("PATCH null: %d %s", code, out)
		}

		// Constant Contact: DELETE /v3/segments/+1 used to delete segment 1.
		cc := ccClient{t: t, url: s.url, key: key}
		cc.must("POST", "/v3/segments", segmentBody("One", sentCriteria), 201)
		for _, id := range []string{"+1", "01", "+0001"} {
			code, out := cc.do("DELETE", "/v3/segments/"+id, "", key)
			if code != 400 || !strings.Contains(out, `segments.api.validation.error`) || !strings.Contains(out, `not \"`+id+`\"`) {
				t.Errorf("DELETE /v3/segments/%s: %d %s", id, code, out)
			}
		}
		if code, out := cc.do("GET", "/v3/contacts?segment_id=%2B1", "", key); code != 400 || !strings.Contains(out, "contacts.api.validation.error") {
			t.Errorf("segment_id=+1: %d %s", code, out)
		}
		if m := cc.must("GET", "/v3/segments", "", 200); len(m["segments"].([]any)) != 1 {
			t.Errorf("segment 1 is gone: %v", m)
		}
		// Criteria errors in segmentd's words, with the JSON path.
		nan := `{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"tracking","field":"sent","op":"contains-any","const_value":NaN}]}}`
		code, out := cc.do("POST", "/v3/segments", segmentBody("Bad", nan), key)
		if want := `[{"error_key":"segments.api.validation.error","error_message":"segment_criteria: criteria.group[0].const_value: invalid JSON at byte 123: expected a value, found 'N'"}]`; code != 400 || out != want {
			t.Errorf("criteria NaN: %d %s\nwant 400 %s", code, out, want)
		}

		// The Event Webhook: a repeated key refuses the batch.
		code, out = httpDo(t, "POST", s.url+"/webhooks/sendgrid/events", `[{"email":"a@example.com","timestamp":1700000000,"event":"open","event":"click"}]`,
			map[string]string{"Authorization": "Bearer " + key})
		if code != 400 || out != `{"errors":[{"field":"[0].event","message":"[0].event: repeated key"}]}` {
			t.Errorf("webhook repeated key: %d %s", code, out)
		}
	})
}
