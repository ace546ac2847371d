package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
)

// TestConstantContactIntegrationThroughTheBinary drives what a Constant
// Contact integration does, without the SendGrid face, on the real binary
// and each store: a custom field, a list and a tag; contacts written
// through POST, PUT and DELETE /v3/contacts; segments by list, by custom
// field and by tag whose members (and the tag's contacts_count) follow
// each write, tagging and untagging; SendGrid's face reading the same
// contacts; the whole surviving a kill -9; and a tag's delete emptying
// its segment.
func TestConstantContactIntegrationThroughTheBinary(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.cc-integration-key"
		s, cmd := st.start(t, bin, key)
		c := ccClient{t: t, url: s.url, key: key}
		field := c.must("POST", "/v3/contact_custom_fields", `{"label":"Plan","type":"string"}`, 201)["custom_field_id"].(string)
		list := c.must("POST", "/v3/contact_lists", `{"name":"Customers"}`, 201)["list_id"].(string)
		tag := c.must("POST", "/v3/contact_tags", `{"name":"Gold","tag_source":"ESTY"}`, 201)["tag_id"].(string)

		contact := func(email, plan string, tags []string, lists ...string) string {
			b, _ := json.Marshal(map[string]any{
				"email_address": map[string]string{"address": email, "permission_to_send": "implicit"}, "create_source": "Account",
				"custom_fields":    []map[string]string{{"custom_field_id": field, "value": plan}},
				"list_memberships": append([]string{}, lists...),
				"taggings":         tags,
			})
			return c.must("POST", "/v3/contacts", string(b), 201)["contact_id"].(string)
		}
		ada := contact("ada@example.com", "pro", nil, list)
		bob := contact("bob@example.com", "free", nil, list)
		cy := contact("cy@example.com", "pro", []string{tag})

		byList := fmt.Sprintf(`{"version":"1.0.0","criteria":{"type":"or","group":[{"source":"list_membership","field":"list_id","op":"contains-any","const_value":%q}]}}`, list)
		byPlan := `{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"contact","field":"custom_fields.Plan","op":"eq","const_value":"pro"}]}}`
		c.must("POST", "/v3/segments", segmentBody("Customers", byList), 201)
		c.must("POST", "/v3/segments", segmentBody("Pro", byPlan), 201)
		byTag := fmt.Sprintf(`{"version":"1.0.0","criteria":{"type":"or","group":[{"source":"tags","field":"tag_id","op":"contains-any","const_value":%q}]}}`, tag)
		c.must("POST", "/v3/segments", segmentBody("Gold", byTag), 201)
		counts := func(c ccClient) string {
			var out []string
			for id := 1; id <= 3; id++ {
				m := c.must("GET", fmt.Sprintf("/v3/contacts?segment_id=%d&include_count=true", id), "", 200)
				out = append(out, fmt.Sprint(m["contacts_count"]))
			}
			l := c.must("GET", "/v3/contact_lists/"+list+"?include_membership_count=all", "", 200)
			tg := c.must("GET", "/v3/contact_tags/"+tag+"?include_count=true", "", 200)
			return strings.Join(out, ",") + " list " + fmt.Sprint(l["membership_count"]) + " tag " + fmt.Sprint(tg["contacts_count"])
		}
		if got := counts(c); got != "2,2,1 list 2 tag 1" {
			t.Fatalf("after the creates: %s, want 2,2,1 list 2 tag 1", got)
		}
		// Bob leaves the list, becomes pro and is tagged; Ada is deleted.
		c.must("PUT", "/v3/contacts/"+bob, `{"email_address":{"address":"bob@example.com"},"update_source":"Account","list_memberships":[],"taggings":["`+tag+`"],"custom_fields":[{"custom_field_id":"`+field+`","value":"pro"}]}`, 200)
		if code, body := c.do("DELETE", "/v3/contacts/"+ada, "", key); code != 204 || body != "" {
			t.Fatalf("DELETE: %d %q", code, body)
		}
		if got := counts(c); got != "0,2,2 list 0 tag 2" {
			t.Fatalf("after the PUTs and DELETE: %s, want 0,2,2 list 0 tag 2", got)
		}
		// Cy is untagged.
		c.must("PUT", "/v3/contacts/"+cy, `{"email_address":{"address":"cy@example.com"},"update_source":"Contact","taggings":[]}`, 200)
		if got := counts(c); got != "0,2,1 list 0 tag 1" {
			t.Fatalf("after untagging: %s, want 0,2,1 list 0 tag 1", got)
		}
		// SendGrid's face reads the same contacts.
		found := mustCall(t, s, key, "POST", "/v3/marketing/contacts/search/emails", `{"emails":["bob@example.com"]}`, 200)
		if got := found["result"].(map[string]any)["bob@example.com"].(map[string]any)["contact"].(map[string]any); got["id"] != bob {
			t.Fatalf("SendGrid's face reads %v", got)
		}

		// kill -9 and restart: everything acknowledged is there.
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		s2, _ := st.start(t, bin, key)
		c2 := ccClient{t: t, url: s2.url, key: key}
		if got := counts(c2); got != "0,2,1 list 0 tag 1" {
			t.Fatalf("after a restart: %s, want 0,2,1 list 0 tag 1", got)
		}
		if got := c2.must("GET", "/v3/contact_tags/"+tag, "", 200); got["name"] != "Gold" || got["tag_source"] != "ESTY" {
			t.Fatalf("tag after a restart: %v", got)
		}
		if got := c2.must("GET", "/v3/contacts/"+bob+"?include=custom_fields", "", 200); got["custom_fields"].([]any)[0].(map[string]any)["value"] != "pro" {
			t.Fatalf("contact after a restart: %v", got)
		}
		// Constant Contact keeps a deleted contact, read as deleted.
		if got := c2.must("GET", "/v3/contacts/"+ada, "", 200); got["deleted_at"] == nil || got["contact_id"] != ada {
			t.Fatalf("deleted contact after a restart: %v", got)
		}
		if got := c2.must("GET", "/v3/contacts?status=deleted&include_count=true", "", 200); got["contacts_count"] != float64(1) {
			t.Fatalf("status=deleted after a restart: %v", got)
		}
		if got := c2.must("GET", "/v3/contacts/"+bob+"?include=taggings", "", 200); fmt.Sprint(got["taggings"]) != fmt.Sprint([]any{tag}) {
			t.Fatalf("bob's taggings after a restart: %v", got["taggings"])
		}
		// The tag's delete untags bob and empties its segment.
		c2.must("DELETE", "/v3/contact_tags/"+tag, "", 202)
		m := c2.must("GET", "/v3/contacts?segment_id=3&include_count=true", "", 200)
		if m["contacts_count"] != float64(0) {
			t.Fatalf("segment by a deleted tag: %v", m)
		}
	})
}
