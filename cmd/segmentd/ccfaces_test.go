package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
)

// TestOneContactTwoFacesThroughTheBinary writes contacts through one
// vendor's face and reads and segments them through the other, both ways,
// on the real binary and each store (docs/constantcontact.md, "One
// contact, two faces"): SendGrid's upserts, with custom fields of each
// type and lists, read through Constant Contact's contacts, lists, custom
// fields and segments; Constant Contact's POST and PUT, with custom
// fields, lists and tags, read through SendGrid's GET contact, search
// and segment counts; and deletes through either face leaving the
// other's segments.
func TestOneContactTwoFacesThroughTheBinary(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.two-faces-key"
		s, _ := st.start(t, bin, key)
		c := ccClient{t: t, url: s.url, key: key}
		sg := func(method, path, body string, want int) map[string]any {
			t.Helper()
			return mustCall(t, s, key, method, path, body, want)
		}

		// SendGrid writes.
		plan := sg("POST", "/v3/marketing/field_definitions", `{"name":"plan","field_type":"Text"}`, 200)["id"].(string)
		score := sg("POST", "/v3/marketing/field_definitions", `{"name":"score","field_type":"Number"}`, 200)["id"].(string)
		renews := sg("POST", "/v3/marketing/field_definitions", `{"name":"renews_on","field_type":"Date"}`, 200)["id"].(string)
		customers := sg("POST", "/v3/marketing/lists", `{"name":"Customers"}`, 201)["id"].(string)
		runJob(t, s, key, "PUT", "/v3/marketing/contacts", fmt.Sprintf(`{"list_ids":[%q],"contacts":[
			{"email":"ada@example.com","first_name":"Ada","last_name":"Lovelace","phone_number":"+44 20 7946 0000",
			 "address_line_1":"12 St James Sq","address_line_2":"Floor 2","city":"London","postal_code":"SW1Y 4JH","country":"GB",
			 "custom_fields":{%q:"pro",%q:42,%q:"2027-01-15T00:00:00Z"}},
			{"email":"bob@example.com","first_name":"Bob","custom_fields":{%q:"free",%q:7}}]}`, customers, plan, score, renews, plan, score))

		// Constant Contact reads them: the fields by their UUIDs, the
		// list, the contact's shared attributes.
		uuid := map[string]string{}
		for _, f := range c.must("GET", "/v3/contact_custom_fields", "", 200)["custom_fields"].([]any) {
			f := f.(map[string]any)
			uuid[f["name"].(string)] = f["custom_field_id"].(string)
			if want := map[string]string{"plan": "string", "score": "string", "renews_on": "date"}[f["name"].(string)]; f["type"] != want {
				t.Fatalf("field %v: type %v, want %s", f["name"], f["type"], want)
			}
		}
		if len(uuid) != 3 {
			t.Fatalf("Constant Contact lists the fields %v", uuid)
		}
		if l := c.must("GET", "/v3/contact_lists/"+customers+"?include_membership_count=all", "", 200); l["name"] != "Customers" || l["membership_count"] != float64(2) {
			t.Fatalf("SendGrid's list through Constant Contact: %v", l)
		}
		found := c.must("GET", "/v3/contacts?email=ada@example.com&include=custom_fields,list_memberships,phone_numbers,street_addresses", "", 200)["contacts"].([]any)
		if len(found) != 1 {
			t.Fatalf("ada through Constant Contact: %v", found)
		}
		ada := found[0].(map[string]any)
		values := map[string]string{}
		for _, v := range ada["custom_fields"].([]any) {
			v := v.(map[string]any)
			values[v["custom_field_id"].(string)] = v["value"].(string)
		}
		if got, want := values, map[string]string{uuid["plan"]: "pro", uuid["score"]: "42", uuid["renews_on"]: "2027-01-15T00:00:00.000Z"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("ada's custom fields through Constant Contact: %v, want %v", got, want)
		}
		addr := ada["street_addresses"].([]any)[0].(map[string]any)
		phone := ada["phone_numbers"].([]any)[0].(map[string]any)
		if got := fmt.Sprint(ada["first_name"], "|", ada["last_name"], "|", ada["list_memberships"], "|", phone["phone_number"], "|",
			addr["street"], "|", addr["city"], "|", addr["postal_code"], "|", addr["country"]); got != "Ada|Lovelace|["+customers+"]|+44 20 7946 0000|12 St James Sq\nFloor 2|London|SW1Y 4JH|GB" {
			t.Fatalf("ada through Constant Contact: %q", got)
		}

		// Constant Contact's segments over SendGrid's writes follow them.
		ccSegment := func(name string, group ...string) string {
			crit := `{"version":"1.0.0","criteria":{"type":"and","group":[` + strings.Join(group, ",") + `]}}`
			return fmt.Sprint(c.must("POST", "/v3/segments", segmentBody(name, crit), 201)["segment_id"])
		}
		ccMembers := func(seg string) string {
			m := c.must("GET", "/v3/contacts?segment_id="+seg+"&include_count=true", "", 200)
			var emails []string
			for _, x := range m["contacts"].([]any) {
				emails = append(emails, x.(map[string]any)["email_address"].(map[string]any)["address"].(string))
			}
			sort.Strings(emails)
			if float64(len(emails)) != m["contacts_count"] {
				t.Fatalf("segment %s lists %v, contacts_count %v", seg, emails, m["contacts_count"])
			}
			return strings.Join(emails, ",")
		}
		pro := ccSegment("Pro", fmt.Sprintf(`{"source":"contact","field":"custom_field","param":%q,"op":"eq","const_value":"pro"}`, uuid["plan"]))
		inList := ccSegment("Customers", fmt.Sprintf(`{"source":"list_membership","field":"list_id","op":"contains-any","const_value":%q}`, customers))
		if got := ccMembers(pro) + " " + ccMembers(inList); got != "ada@example.com ada@example.com,bob@example.com" {
			t.Fatalf("Constant Contact's segments over SendGrid's writes: %s", got)
		}
		runJob(t, s, key, "PUT", "/v3/marketing/contacts", fmt.Sprintf(`{"contacts":[{"email":"bob@example.com","custom_fields":{%q:"pro"}}]}`, plan))
		if got := ccMembers(pro); got != "ada@example.com,bob@example.com" {
			t.Fatalf("after SendGrid made bob pro: %s", got)
		}
		runJob(t, s, key, "DELETE", "/v3/marketing/contacts?ids="+ada["contact_id"].(string), "")
		if got := ccMembers(pro) + " " + ccMembers(inList); got != "bob@example.com bob@example.com" {
			t.Fatalf("after SendGrid deleted ada: %s", got)
		}

		// Constant Contact writes: a field, a list and a tag of its own;
		// a contact created with them and another updated by PUT.
		tier := c.must("POST", "/v3/contact_custom_fields", `{"label":"tier","type":"string"}`, 201)["custom_field_id"].(string)
		vip := c.must("POST", "/v3/contact_lists", `{"name":"VIP"}`, 201)["list_id"].(string)
		gold := c.must("POST", "/v3/contact_tags", `{"name":"Gold"}`, 201)["tag_id"].(string)
		body := func(email, first, tierValue string, lists ...string) string {
			b, _ := json.Marshal(map[string]any{
				"email_address": map[string]string{"address": email}, "first_name": first, "create_source": "Account", "update_source": "Account",
				"custom_fields":    []map[string]string{{"custom_field_id": tier, "value": tierValue}, {"custom_field_id": uuid["score"], "value": "65.5"}},
				"list_memberships": lists, "taggings": []string{gold},
				"phone_numbers":    []map[string]string{{"phone_number": "+1 555 0100", "kind": "mobile"}},
				"street_addresses": []map[string]string{{"kind": "work", "street": "1 Main St", "city": "Springfield", "state": "IL", "country": "US"}},
			})
			return string(b)
		}
		cy := c.must("POST", "/v3/contacts", body("cy@example.com", "Cy", "gold", vip, customers), 201)["contact_id"].(string)
		bob := c.must("GET", "/v3/contacts?email=bob@example.com", "", 200)["contacts"].([]any)[0].(map[string]any)["contact_id"].(string)
		c.must("PUT", "/v3/contacts/"+bob, body("bob@example.com", "Robert", "silver", vip), 200)

		// SendGrid reads them: GET contact, search by email, search by
		// query, and segment counts.
		got := sg("GET", "/v3/marketing/contacts/"+cy, "", 200)
		lists := fmt.Sprint(got["list_ids"])
		if fmt.Sprint(got["email"], "|", got["first_name"], "|", got["phone_number"], "|", got["address_line_1"], "|", got["city"], "|", got["state_province_region"], "|", got["country"]) !=
			"cy@example.com|Cy|+1 555 0100|1 Main St|Springfield|IL|US" || !strings.Contains(lists, vip) || !strings.Contains(lists, customers) {
			t.Fatalf("cy through SendGrid: %v", got)
		}
		if cf := got["custom_fields"].(map[string]any); cf["tier"] != "gold" || cf["score"] != 65.5 {
			t.Fatalf("cy's custom fields through SendGrid: %v", cf)
		}
		byEmail := sg("POST", "/v3/marketing/contacts/search/emails", `{"emails":["bob@example.com"]}`, 200)["result"].(map[string]any)["bob@example.com"].(map[string]any)["contact"].(map[string]any)
		if byEmail["id"] != bob || byEmail["first_name"] != "Robert" || byEmail["custom_fields"].(map[string]any)["tier"] != "silver" || fmt.Sprint(byEmail["list_ids"]) != fmt.Sprint([]any{vip}) {
			t.Fatalf("bob through SendGrid after Constant Contact's PUT: %v", byEmail)
		}
		search := func(q string) any {
			b, _ := json.Marshal(map[string]string{"query": q})
			return sg("POST", "/v3/marketing/contacts/search", string(b), 200)["contact_count"]
		}
		if n := search(fmt.Sprintf("tier = 'gold' AND CONTAINS(list_ids, '%s')", vip)); n != float64(1) {
			t.Fatalf("SendGrid's search for gold VIPs: %v", n)
		}
		sgSegment := func(q string) string {
			b, _ := json.Marshal(map[string]string{"name": q, "query_dsl": "SELECT contact_id, updated_at FROM contact_data WHERE " + q})
			return sg("POST", "/v3/marketing/segments/2.0", string(b), 201)["id"].(string)
		}
		sgCount := func(id string) any {
			return sg("GET", "/v3/marketing/segments/2.0/"+id, "", 200)["contacts_count"]
		}
		golds := sgSegment("tier = 'gold'")
		vips := sgSegment(fmt.Sprintf("array_contains(list_ids, ['%s'])", vip))
		scored := sgSegment("score > 60")
		if got := fmt.Sprint(sgCount(golds), sgCount(vips), sgCount(scored)); got != "1 2 2" {
			t.Fatalf("SendGrid's segments over Constant Contact's writes: %s, want 1 2 2", got)
		}
		// Constant Contact's segment by tag, and SendGrid's counts, follow
		// Constant Contact's PUT (whose empty sub-resources replace cy's
		// custom fields, lists and tags) and DELETE.
		byTag := ccSegment("Gold", fmt.Sprintf(`{"source":"tags","field":"tag_id","op":"contains-any","const_value":%q}`, gold))
		c.must("PUT", "/v3/contacts/"+cy, `{"email_address":{"address":"cy@example.com"},"update_source":"Contact","first_name":"Cy","custom_fields":[],"list_memberships":[],"taggings":[]}`, 200)
		if got := fmt.Sprint(sgCount(golds), sgCount(vips), sgCount(scored), " ", ccMembers(byTag)); got != "0 1 1 bob@example.com" {
			t.Fatalf("after Constant Contact's PUT of cy: %s, want 0 1 1 bob@example.com", got)
		}
		if code, _ := c.do("DELETE", "/v3/contacts/"+bob, "", key); code != 204 {
			t.Fatalf("DELETE bob: %d", code)
		}
		if got := fmt.Sprint(sgCount(vips), sgCount(scored), search("email = 'bob@example.com'"), " ", ccMembers(byTag), ccMembers(pro)); got != "0 0 0 " {
			t.Fatalf("after Constant Contact deleted bob: %q, want \"0 0 0 \"", got)
		}
	})
}
