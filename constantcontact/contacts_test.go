package constantcontact_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
)

// seedContacts stores n contacts person00@example.com, … with a name, an
// address and a custom field; the first is on a list.
func seedContacts(t *testing.T, e *env, n int) (listID, fieldID string) {
	t.Helper()
	ctx := context.Background()
	acct := e.DefaultAccount()
	l, err := e.Svc.CreateList(ctx, acct, "Customers")
	if err != nil {
		t.Fatal(err)
	}
	f, err := e.Svc.CreateField(ctx, acct, "plan", segmentd.FieldText)
	if err != nil {
		t.Fatal(err)
	}
	var ps []segmentd.ContactPatch
	for i := range n {
		ps = append(ps, segmentd.ContactPatch{Email: facetest.Ptr(fmt.Sprintf("person%02d@example.com", i)), FirstName: facetest.Ptr(fmt.Sprint("P", i)), LastName: facetest.Ptr("Doe"),
			AddressLine1: facetest.Ptr("1 Main St"), AddressLine2: facetest.Ptr("Apt 2"), City: facetest.Ptr("Chicago"), StateProvinceRegion: facetest.Ptr("IL"), PostalCode: facetest.Ptr("60609"), Country: facetest.Ptr("US"),
			PhoneNumber: facetest.Ptr("+1-555-0100"), CustomFields: map[string]*segmentd.Value{f.ID: {Type: segmentd.FieldText, Text: "gold"}}})
	}
	e.upsert(t, acct, ps[:1], l.ID)
	e.upsert(t, acct, ps[1:])
	return l.ID, f.ID
}

// pages follows _links.next.href from first and returns the contacts'
// emails page by page, and the first page.
func (e *env) contactPages(t *testing.T, first string) ([][]string, map[string]any) {
	t.Helper()
	var pages [][]string
	var firstPage map[string]any
	path := first
	for range 50 {
		m := e.must(t, facetest.Request{Method: "GET", Path: path}, 200)
		if firstPage == nil {
			firstPage = m
		}
		var page []string
		for _, c := range m["contacts"].([]any) {
			page = append(page, c.(map[string]any)["email_address"].(map[string]any)["address"].(string))
		}
		pages = append(pages, page)
		links, ok := m["_links"].(map[string]any)
		if !ok {
			return pages, firstPage
		}
		path = links["next"].(map[string]any)["href"].(string)
		if !strings.HasPrefix(path, "/v3/contacts?cursor=") {
			t.Fatalf("next href %q", path)
		}
	}
	t.Fatal("paging does not end")
	return nil, nil
}

func flat(pages [][]string) []string {
	var out []string
	for _, p := range pages {
		out = append(out, p...)
	}
	sort.Strings(out)
	return out
}

func contactCriteria(field, op, value string) string {
	return fmt.Sprintf(`{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"contact","field":%q,"op":%q,"const_value":%q}]}}`, field, op, value)
}

func TestSegmentContacts(t *testing.T) {
	e := newEnv(t)
	listID, fieldID := seedContacts(t, e, 5)
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "Does", "segment_criteria": contactCriteria("last_name", "eq", "Doe")}}, 201)
	onList := fmt.Sprintf(`{"version":"1.0.0","criteria":{"type":"or","group":[{"source":"list_membership","field":"list_id","op":"contains-any","const_value":%q}]}}`, listID)
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "Customers", "segment_criteria": onList}}, 201)

	pages, first := e.contactPages(t, "/v3/contacts?segment_id=1&limit=2&include_count=true&include=custom_fields,list_memberships,street_addresses,phone_numbers,taggings,notes")
	if got := fmt.Sprint(flat(pages)); got != "[person00@example.com person01@example.com person02@example.com person03@example.com person04@example.com]" {
		t.Fatalf("members of Does: %s", got)
	}
	if fmt.Sprint(len(pages), len(pages[0]), len(pages[2])) != "3 2 1" || first["contacts_count"] != float64(5) {
		t.Fatalf("pages %v, contacts_count %v", pages, first["contacts_count"])
	}
	pages, first = e.contactPages(t, "/v3/contacts?segment_id=2&include_count=true")
	if got := fmt.Sprint(pages); got != "[[person00@example.com]]" || first["contacts_count"] != float64(1) {
		t.Fatalf("members of Customers: %s (count %v)", got, first["contacts_count"])
	}
	// Membership is live: a contact added to the list is in at once.
	e.upsert(t, e.DefaultAccount(), []segmentd.ContactPatch{{Email: facetest.Ptr("person03@example.com")}}, listID)
	if got := fmt.Sprint(e.contactPages(t, "/v3/contacts?segment_id=2")); !strings.HasPrefix(got, "[[person00@example.com person03@example.com]]") {
		t.Fatalf("members of Customers after the upsert: %s", got)
	}
	// A cursor belongs to its segment.
	m := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts?segment_id=1&limit=2"}, 200)
	next := m["_links"].(map[string]any)["next"].(map[string]any)["href"].(string)
	facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: next + "&segment_id=2"}), 400,
		ccErr("contacts.api.validation.error", "the cursor belongs to another segment_id; follow _links.next.href as given"))

	first = e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts?segment_id=1&include=custom_fields,list_memberships,street_addresses,phone_numbers,taggings,notes"}, 200)
	// The contact shape, with every sub-resource asked for.
	var got map[string]any
	for _, c := range first["contacts"].([]any) {
		if m := c.(map[string]any); m["email_address"].(map[string]any)["address"] == "person00@example.com" {
			got = m
		}
	}
	if got == nil {
		t.Fatalf("person00 not on the first page: %v", first["contacts"])
	}
	// A custom field's id is a UUID (the spec validates its form), the
	// same on every contact.
	fieldUUID := got["custom_fields"].([]any)[0].(map[string]any)["custom_field_id"]
	for _, c := range first["contacts"].([]any) {
		if id := c.(map[string]any)["custom_fields"].([]any)[0].(map[string]any)["custom_field_id"]; id != fieldUUID {
			t.Fatalf("field %s has custom_field_id %v and %v", fieldID, fieldUUID, id)
		}
	}
	want := fmt.Sprintf(`{"contact_id":%q,"create_source":"Account","created_at":%q,"custom_fields":[{"custom_field_id":%q,"value":"gold"}],`+
		`"email_address":{"address":"person00@example.com","confirm_status":"off","created_at":%q,"opt_in_source":"Account","permission_to_send":"implicit","updated_at":%q},`+
		`"first_name":"P0","last_name":"Doe","list_memberships":[%q],"notes":[],"phone_numbers":[{"kind":"other","phone_number":"+1-555-0100"}],`+
		`"street_addresses":[{"city":"Chicago","country":"US","kind":"home","postal_code":"60609","state":"IL","street":"1 Main St\nApt 2"}],"taggings":[],"update_source":"Account","updated_at":%q}`,
		got["contact_id"], got["created_at"], fieldUUID, got["created_at"], got["updated_at"], listID, got["updated_at"])
	if !facetest.JSONEqual(mustJSON(t, got), []byte(want)) {
		t.Errorf("contact =\n%s\nwant\n%s", mustJSON(t, got), want)
	}
	// Without include, no sub-resources.
	m = e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts?segment_id=1&limit=1"}, 200)
	c := m["contacts"].([]any)[0].(map[string]any)
	for _, k := range []string{"custom_fields", "list_memberships", "street_addresses", "phone_numbers", "taggings", "notes"} {
		if _, ok := c[k]; ok {
			t.Errorf("%s present without include: %v", k, c)
		}
	}
	if _, ok := m["contacts_count"]; ok {
		t.Errorf("contacts_count without include_count: %v", m)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAllContacts(t *testing.T) {
	e := newEnv(t)
	seedContacts(t, e, 7)
	pages, first := e.contactPages(t, "/v3/contacts?limit=3&include_count=true")
	if fmt.Sprint(len(pages[0]), len(pages[1]), len(pages[2]), len(pages)) != "3 3 1 3" {
		t.Fatalf("pages %v", pages)
	}
	if first["contacts_count"] != float64(7) {
		t.Fatalf("contacts_count = %v", first["contacts_count"])
	}
	all := flat(pages)
	for i, a := range all {
		if a != fmt.Sprintf("person%02d@example.com", i) {
			t.Fatalf("contacts %v", all)
		}
	}
	// The default page holds 50.
	if m := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts"}, 200); len(m["contacts"].([]any)) != 7 || m["_links"] != nil {
		t.Fatalf("default page: %v", m)
	}
}

func TestContactsErrors(t *testing.T) {
	e := newEnv(t)
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "S", "segment_criteria": criteria("sent", 1)}}, 201)
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "Gone", "segment_criteria": criteria("sent", 1)}}, 201)
	e.do(t, facetest.Request{Method: "DELETE", Path: "/v3/segments/2"})
	m := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts?segment_id=1&limit=1"}, 200)
	if len(m["contacts"].([]any)) != 0 || m["_links"] != nil {
		t.Fatalf("empty segment: %v", m)
	}
	validation := func(msg string) string { return ccErr("contacts.api.validation.error", msg) }
	for _, tt := range []struct {
		path   string
		status int
		body   string
	}{
		{"/v3/contacts?segment_id=9", 404, ccErr("contacts.api.not_found", "segment 9 does not exist")},
		{"/v3/contacts?segment_id=2", 404, ccErr("contacts.api.not_found", "segment 2 was deleted")},
		{"/v3/contacts?segment_id=x", 400, validation(`segment_id must be a positive whole number in decimal digits, without sign or leading zeros, not "x"`)},
		{"/v3/contacts?segment_id=1&limit=501", 400, validation(`limit must be a whole number from 1 to 500, not "501"`)},
		{"/v3/contacts?limit=0", 400, validation(`limit must be a whole number from 1 to 500, not "0"`)},
		{"/v3/contacts?include=friends", 400, validation(`include may name custom_fields, list_memberships, phone_numbers, street_addresses, taggings, notes, not "friends"`)},
		{"/v3/contacts?include_count=maybe", 400, validation(`include_count must be true or false, not "maybe"`)},
		{"/v3/contacts?sms_status=all", 400, validation("segmentd does not support the sms_status parameter of GET /v3/contacts (it serves segment_id, tags, email, status, lists, updated_after, updated_before, created_after, created_before, limit, include, include_count and cursor)")},
		{"/v3/contacts?optout_after=2024-01-01", 400, validation("segmentd does not support the optout_after parameter of GET /v3/contacts (it serves segment_id, tags, email, status, lists, updated_after, updated_before, created_after, created_before, limit, include, include_count and cursor)")},
		{"/v3/contacts?email=a@example.com&tags=3fa85f64-5717-4562-b3fc-2c963f66afa6", 400, validation("segmentd does not combine tags with the email filter")},
		{"/v3/contacts?cursor=Zm9v", 400, validation("cursor is not valid; follow _links.next.href as given")},
		{"/v3/contacts?tags=vip", 400, validation(`tags: "vip" is not a tag id (a UUID)`)},
		{"/v3/contacts?tags=" + strings.Repeat("3fa85f64-5717-4562-b3fc-2c963f66afa6,", 50) + "3fa85f64-5717-4562-b3fc-2c963f66afa6", 400, validation("tags may name at most 50 tag ids, not 51")},
		{"/v3/contacts?segment_id=1&tags=3fa85f64-5717-4562-b3fc-2c963f66afa6", 400, validation("tags cannot be combined with segment_id")},
	} {
		facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: tt.path}), tt.status, tt.body)
	}
}

// TestSegmentIDsLeaveOutCC: a contact in a Constant Contact segment shows
// no cc: id among SendGrid's segment_ids.
func TestSegmentIDsLeaveOutCC(t *testing.T) {
	e := newEnv(t)
	seedContacts(t, e, 2)
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "S", "segment_criteria": criteria("sent", 1)}}, 201)
	ctx := context.Background()
	acct := e.DefaultAccount()
	_, found, err := e.Svc.ContactsByEmails(ctx, acct, []string{"person00@example.com", "person01@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range found {
		for _, id := range c.SegmentIDs {
			if strings.HasPrefix(id, segmentd.CCEnginePrefix) {
				t.Fatalf("segment_ids of %s list a Constant Contact segment: %v", c.Email, c.SegmentIDs)
			}
		}
	}
}
