package main

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/segmentd/segmentd/internal/facetest"
)

// TestExplainThroughTheBinary previews queries and explains memberships
// through the real binary, on every store, with each answer checked
// against the OpenAPI document the binary serves.
func TestExplainThroughTheBinary(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		key := "SG.explain-test-key"
		s, _ := st.start(t, bin, key)
		served := mustCall(t, s, "", "GET", "/segmentd/v1/openapi.json", "", 200)
		doc, _ := json.Marshal(served)
		spec := facetest.LoadOwnSpec(t, doc, "#/components/schemas/Error")
		api := func(method, path string, body any, want int) map[string]any {
			t.Helper()
			r, err := facetest.Send(s.url, key, facetest.Request{Method: method, Path: path, Body: body})
			if err != nil {
				t.Fatal(err)
			}
			p, _, _ := strings.Cut(path, "?")
			spec.Check(t, method, p, r)
			if r.Status != want {
				t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Body, want)
			}
			return r.JSON(t)
		}
		runJob(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[`+
			`{"email":"ada@example.com","country":"US","first_name":"Ada"},`+
			`{"email":"bob@example.com","country":"FR"},`+
			`{"email":"cy@example.com","country":"US"}]}`)

		const us = "SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"
		p := api("POST", "/segmentd/v1/preview", map[string]any{"query_dsl": us, "sample": 1}, 200)
		if p["contacts_count"] != float64(2) || len(p["contacts_sample"].([]any)) != 1 {
			t.Fatalf("preview: %v", p)
		}
		crit := `{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"contact","field":"first_name","op":"eq","const_value":"Ada"}]}}`
		if p := api("POST", "/segmentd/v1/preview", map[string]any{"segment_criteria": crit}, 200); p["contacts_count"] != float64(1) {
			t.Fatalf("criteria preview: %v", p)
		}
		e := api("POST", "/segmentd/v1/preview", map[string]any{"query_dsl": "country = ", "query_version": "1"}, 400)
		if item := e["errors"].([]any)[0].(map[string]any); item["line"] != float64(1) || item["column"] != float64(11) {
			t.Fatalf("positioned error: %v", e)
		}
		api("GET", "/segmentd/v1/completions", nil, 200)

		seg := mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0", `{"name":"US","query_dsl":"`+us+`"}`, 201)["id"].(string)
		cc := mustCall(t, s, key, "POST", "/v3/segments", segmentBody("Ada", crit), 201)["segment_id"]
		for _, tc := range []struct {
			path   string
			member bool
		}{
			{"/segmentd/v1/segments/sendgrid/" + seg + "/explain?email=ada@example.com", true},
			{"/segmentd/v1/segments/sendgrid/" + seg + "/explain?email=bob@example.com", false},
			{fmt.Sprintf("/segmentd/v1/segments/constantcontact/%v/explain?email=%s", cc, url.QueryEscape("ada@example.com")), true},
			{fmt.Sprintf("/segmentd/v1/segments/constantcontact/%v/explain?email=cy@example.com", cc), false},
		} {
			ex := api("GET", tc.path, nil, 200)
			if ex["member"] != tc.member {
				t.Fatalf("%s: %v", tc.path, ex)
			}
		}
		api("GET", "/segmentd/v1/segments/sendgrid/"+seg+"/explain?email=nobody@example.com", nil, 404)
	})
}
