package constantcontact_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
)

// ccContact is a ContactPostRequest/ContactPutRequest body.
type ccContact = map[string]any

func TestContactWriteLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	e.Clock.Set(t0)
	fruit := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_custom_fields", Body: map[string]string{"label": "Favorite Fruit", "type": "string"}}, 201)["custom_field_id"].(string)
	renewal := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_custom_fields", Body: map[string]string{"label": "renewal", "type": "date"}}, 201)["custom_field_id"].(string)
	score, err := e.Svc.CreateField(ctx, acct, "score", segmentd.FieldNumber) // SendGrid's
	if err != nil {
		t.Fatal(err)
	}
	var scoreID string
	for _, f := range e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_custom_fields"}, 200)["custom_fields"].([]any) {
		if f.(map[string]any)["name"] == "score" {
			scoreID = f.(map[string]any)["custom_field_id"].(string)
		}
	}
	l1 := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_lists", Body: map[string]string{"name": "Customers"}}, 201)["list_id"].(string)
	l2 := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_lists", Body: map[string]string{"name": "Leads"}}, 201)["list_id"].(string)
	// A segment of the first list's members: the engine follows writes.
	crit := fmt.Sprintf(`{"version":"1.0.0","criteria":{"type":"or","group":[{"source":"list_membership","field":"list_id","op":"contains-any","const_value":%q}]}}`, l1)
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "Customers", "segment_criteria": crit}}, 201)
	members := func() float64 {
		return e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts?segment_id=1&include_count=true"}, 200)["contacts_count"].(float64)
	}

	created := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contacts", Body: ccContact{
		"email_address": map[string]string{"address": "Ada@Example.com", "permission_to_send": "explicit"},
		"first_name":    "Ada", "last_name": "Lovelace", "create_source": "Account",
		"phone_numbers":    []map[string]string{{"phone_number": "+1 555 0100", "kind": "mobile"}},
		"street_addresses": []map[string]string{{"kind": "home", "street": "1 Main St\nApt 2", "city": "Baltimore", "state": "MD", "postal_code": "21201", "country": "US"}},
		"custom_fields":    []map[string]string{{"custom_field_id": fruit, "value": "Apple"}, {"custom_field_id": renewal, "value": "2026-09-01"}, {"custom_field_id": scoreID, "value": "42.5"}},
		"list_memberships": []string{l1},
	}}, 201)
	id, _ := created["contact_id"].(string)
	if !segmentd.IsUUID(id) || created["email_address"].(map[string]any)["address"] != "ada@example.com" || created["first_name"] != "Ada" ||
		fmt.Sprint(created["list_memberships"]) != fmt.Sprint([]any{l1}) || created["created_at"] != "2026-05-04T10:20:30.456Z" {
		t.Fatalf("created = %v", created)
	}
	// The one record SendGrid's face reads.
	c, err := e.Svc.Contact(ctx, acct, id)
	if err != nil {
		t.Fatal(err)
	}
	want := segmentd.Contact{Email: "ada@example.com", FirstName: "Ada", LastName: "Lovelace", PhoneNumber: "+1 555 0100", AddressLine1: "1 Main St", AddressLine2: "Apt 2",
		City: "Baltimore", StateProvinceRegion: "MD", PostalCode: "21201", Country: "US"}
	if c.Email != want.Email || c.FirstName != want.FirstName || c.LastName != want.LastName || c.PhoneNumber != want.PhoneNumber || c.AddressLine1 != want.AddressLine1 ||
		c.AddressLine2 != want.AddressLine2 || c.City != want.City || c.StateProvinceRegion != want.StateProvinceRegion || c.PostalCode != want.PostalCode || c.Country != want.Country {
		t.Fatalf("stored contact = %+v", c)
	}
	if v := c.CustomFields[score.ID]; v.Type != segmentd.FieldNumber || v.Number != 42.5 {
		t.Fatalf("score = %+v", v)
	}
	if v := c.CustomFields["d2"]; v.Type != segmentd.FieldDate || !v.Time.Equal(time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("renewal = %+v (fields %+v)", v, c.CustomFields)
	}
	if n := members(); n != 1 {
		t.Fatalf("segment members after the create = %v, want 1", n)
	}
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_lists/" + l1 + "?include_membership_count=all"}, 200); got["membership_count"] != float64(1) {
		t.Fatalf("list after the create = %v", got)
	}
	// The same address again, in any case, is a conflict.
	facetest.WantError(t, e.do(t, facetest.Request{Method: "POST", Path: "/v3/contacts", Body: ccContact{"email_address": map[string]string{"address": "ADA@example.com"}}}), 409,
		ccErr("contacts.api.conflict", `a contact with email_address "ada@example.com" already exists`))

	// PUT: top-level fields left out are cleared; sub-resources left out
	// are kept; list_memberships replaces the lists.
	e.Clock.Set(t0.Add(time.Minute))
	put := e.must(t, facetest.Request{Method: "PUT", Path: "/v3/contacts/" + id, Body: ccContact{
		"email_address": map[string]string{"address": "ada@example.com"}, "first_name": "Augusta", "update_source": "Contact",
		"list_memberships": []string{l2},
	}}, 200)
	if put["first_name"] != "Augusta" || put["last_name"] != nil || fmt.Sprint(put["list_memberships"]) != fmt.Sprint([]any{l2}) ||
		len(put["phone_numbers"].([]any)) != 1 || len(put["custom_fields"].([]any)) != 3 || put["updated_at"] != "2026-05-04T10:21:30.456Z" {
		t.Fatalf("PUT = %v", put)
	}
	if n := members(); n != 0 {
		t.Fatalf("segment members after leaving the list = %v, want 0", n)
	}
	got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts/" + id + "?include=list_memberships"}, 200)
	if got["first_name"] != "Augusta" || fmt.Sprint(got["list_memberships"]) != fmt.Sprint([]any{l2}) {
		t.Fatalf("GET after PUT = %v", got)
	}
	// custom_fields replaces the values: the ones left out are cleared.
	put = e.must(t, facetest.Request{Method: "PUT", Path: "/v3/contacts/" + id, Body: ccContact{
		"email_address": map[string]string{"address": "ada@example.com"}, "update_source": "Account",
		"custom_fields": []map[string]string{{"custom_field_id": fruit, "value": "Pear"}},
	}}, 200)
	if cfs := put["custom_fields"].([]any); len(cfs) != 1 || cfs[0].(map[string]any)["value"] != "Pear" {
		t.Fatalf("PUT custom_fields = %v", put)
	}
	facetest.WantError(t, e.do(t, facetest.Request{Method: "PUT", Path: "/v3/contacts/" + id, Body: ccContact{
		"email_address": map[string]string{"address": "lovelace@example.com"}, "update_source": "Account"}}), 400,
		ccErr("contacts.api.validation.error", `segmentd cannot change the email address of a contact (it is "ada@example.com")`))

	// A contact SendGrid's face wrote, with an identifier Constant Contact
	// does not know: a PUT keeps it.
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("bob@example.com"), ExternalID: facetest.Ptr("crm-7"), FirstName: facetest.Ptr("Bob")}})
	bob, _, err := e.Svc.ContactsByEmails(ctx, acct, []string{"bob@example.com"})
	if err != nil || len(bob) != 1 {
		t.Fatalf("bob: %v %v", bob, err)
	}
	_, byEmail, _ := e.Svc.ContactsByEmails(ctx, acct, []string{"bob@example.com"})
	bobID := byEmail["bob@example.com"].ID
	e.must(t, facetest.Request{Method: "PUT", Path: "/v3/contacts/" + bobID, Body: ccContact{
		"email_address": map[string]string{"address": "bob@example.com"}, "first_name": "Robert", "update_source": "Account", "list_memberships": []string{l1}}}, 200)
	if c, err := e.Svc.Contact(ctx, acct, bobID); err != nil || c.FirstName != "Robert" || c.ExternalID != "crm-7" {
		t.Fatalf("bob after PUT: %+v, %v", c, err)
	}
	if n := members(); n != 1 {
		t.Fatalf("segment members after bob joined = %v, want 1", n)
	}

	// DELETE: 204; gone from both faces and from the segment.
	r := e.do(t, facetest.Request{Method: "DELETE", Path: "/v3/contacts/" + bobID})
	if r.Status != 204 || len(r.Body) != 0 {
		t.Fatalf("DELETE = %d %s", r.Status, r.Body)
	}
	notFound := ccErr("contacts.api.not_found", fmt.Sprintf("contact %q does not exist", bobID))
	facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: "/v3/contacts/" + bobID}), 404, notFound)
	facetest.WantError(t, e.do(t, facetest.Request{Method: "DELETE", Path: "/v3/contacts/" + bobID}), 404, notFound)
	facetest.WantError(t, e.do(t, facetest.Request{Method: "PUT", Path: "/v3/contacts/" + bobID, Body: ccContact{
		"email_address": map[string]string{"address": "bob@example.com"}, "update_source": "Account"}}), 404, notFound)
	if n := members(); n != 0 {
		t.Fatalf("segment members after the delete = %v, want 0", n)
	}
	if _, err := e.Svc.Contact(ctx, acct, bobID); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("SendGrid's face still reads the deleted contact: %v", err)
	}
}

func TestContactWriteErrors(t *testing.T) {
	e := newEnv(t)
	acct := e.DefaultAccount()
	ctx := context.Background()
	if _, err := e.Svc.CreateField(ctx, acct, "score", segmentd.FieldNumber); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Svc.CreateField(ctx, acct, "renewal", segmentd.FieldDate); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, f := range e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_custom_fields"}, 200)["custom_fields"].([]any) {
		ids[f.(map[string]any)["name"].(string)] = f.(map[string]any)["custom_field_id"].(string)
	}
	existing := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contacts", Body: ccContact{"email_address": map[string]string{"address": "ada@example.com"}}}, 201)
	path := "/v3/contacts/" + existing["contact_id"].(string)
	email := map[string]string{"address": "new@example.com"}
	with := func(k string, v any) ccContact { return ccContact{"email_address": email, k: v} }
	key := func(kind string) string { return "contacts.api." + kind }
	bad := func(msg string) string { return ccErr(key("validation.error"), msg) }
	var lists []string
	for range 51 {
		lists = append(lists, "06526938-56dd-11e9-932a-fa163ea075fa")
	}
	var fields []map[string]string
	for range 26 {
		fields = append(fields, map[string]string{"custom_field_id": ids["score"], "value": "1"})
	}
	for _, c := range []struct {
		name     string
		rq       facetest.Request
		status   int
		body     string
		unlisted bool
	}{
		{"no email", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: ccContact{"first_name": "Ada"}}, 400, bad("email_address.address is required"), false},
		{"long email", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: ccContact{"email_address": map[string]string{"address": strings.Repeat("a", 69) + "@example.com"}}}, 400,
			bad("email_address.address must be at most 80 characters, not 81"), false},
		{"invalid email", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: ccContact{"email_address": map[string]string{"address": "not an address"}}}, 400,
			bad(`email "not an address" is not a valid email address`), false},
		{"permission", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: ccContact{"email_address": map[string]string{"address": "a@example.com", "permission_to_send": "yes"}}}, 400,
			bad(`email_address.permission_to_send must be one of explicit, implicit, not_set, pending_confirmation, temp_hold, unsubscribed, not "yes"`), false},
		{"create_source", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("create_source", "Me")}, 400, bad(`create_source must be Contact or Account, not "Me"`), false},
		{"long first_name", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("first_name", strings.Repeat("é", 51))}, 400, bad("first_name must be at most 50 characters, not 51"), false},
		{"job_title", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("job_title", "Engineer")}, 400, bad("segmentd does not keep job_title yet; leave it out"), false},
		{"birthday", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("birthday_month", 4)}, 400, bad("segmentd does not keep birthdays yet; leave it out"), false},
		{"51 taggings", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("taggings", lists)}, 400, bad("taggings may hold at most 50 tag ids, not 51"), false},
		{"tag not a uuid", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("taggings", []string{"vip"})}, 400, bad(`taggings[0] "vip" is not a tag id (a UUID)`), false},
		{"unknown tag", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("taggings", []string{"3fa85f64-5717-4562-b3fc-2c963f66afa6"})}, 400, bad(`tag "3fa85f64-5717-4562-b3fc-2c963f66afa6" does not exist`), false},
		{"put unknown tag", facetest.Request{Method: "PUT", Path: path, Body: ccContact{"email_address": map[string]string{"address": "ada@example.com"}, "update_source": "Account", "taggings": []string{"3fa85f64-5717-4562-b3fc-2c963f66afa6"}}}, 400,
			bad(`tag "3fa85f64-5717-4562-b3fc-2c963f66afa6" does not exist`), false},
		{"two phones", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("phone_numbers", []map[string]string{{"phone_number": "1"}, {"phone_number": "2"}})}, 400,
			bad("segmentd keeps at most 1 entry in phone_numbers (Constant Contact allows 3)"), false},
		{"phone kind", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("phone_numbers", []map[string]string{{"phone_number": "1", "kind": "fax"}})}, 400,
			bad(`phone_numbers[0].kind must be one of home, work, mobile, other, not "fax"`), false},
		{"long phone", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("phone_numbers", []map[string]string{{"phone_number": strings.Repeat("1", 25)}})}, 400,
			bad("phone_numbers[0].phone_number must be at most 24 characters, not 25"), false},
		{"address kind", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("street_addresses", []map[string]string{{"city": "x"}})}, 400,
			bad(`street_addresses[0].kind must be one of home, work, other, not ""`), false},
		{"long city", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("street_addresses", []map[string]string{{"kind": "home", "city": strings.Repeat("c", 51)}})}, 400,
			bad("street_addresses[0].city must be at most 50 characters, not 51"), false},
		{"unknown field", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("custom_fields", []map[string]string{{"custom_field_id": "1618ae62-4752-11e9-9c8a-fa163e6b01c1", "value": "x"}})}, 400,
			bad(`custom_fields[0].custom_field_id: custom field "1618ae62-4752-11e9-9c8a-fa163e6b01c1" does not exist`), false},
		{"number value", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("custom_fields", []map[string]string{{"custom_field_id": ids["score"], "value": "lots"}})}, 400,
			bad(`custom_fields[0].value: custom field "score" takes a decimal number, not "lots"`), false},
		{"date value", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("custom_fields", []map[string]string{{"custom_field_id": ids["renewal"], "value": "tomorrow"}})}, 400,
			bad(`custom_fields[0].value: custom field "renewal" takes a date (YYYY-MM-DD, MM/DD/YYYY or RFC 3339), not "tomorrow"`), false},
		{"26 fields", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("custom_fields", fields)}, 400, bad("custom_fields may hold at most 25 values, not 26"), false},
		{"51 lists", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("list_memberships", lists)}, 400, bad("list_memberships may hold at most 50 list ids, not 51"), false},
		{"list not a uuid", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("list_memberships", []string{"gold"})}, 400, bad(`list_memberships[0] "gold" is not a list id (a UUID)`), false},
		{"unknown list", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("list_memberships", lists[:1])}, 400, bad(`list "06526938-56dd-11e9-932a-fa163ea075fa" does not exist`), false},
		{"post as text", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: `{}`, Header: map[string]string{"Content-Type": "text/plain"}}, 415,
			ccErr(key("unsupported_media_type"), "Content-Type must be application/json, not text/plain"), false},
		{"put no update_source", facetest.Request{Method: "PUT", Path: path, Body: ccContact{"email_address": map[string]string{"address": "ada@example.com"}}}, 400, bad("update_source is required"), false},
		{"put bad update_source", facetest.Request{Method: "PUT", Path: path, Body: ccContact{"email_address": map[string]string{"address": "ada@example.com"}, "update_source": "x"}}, 400,
			bad(`update_source must be Contact or Account, not "x"`), false},
		{"put unknown", facetest.Request{Method: "PUT", Path: "/v3/contacts/8a9b5c2e-0000-7000-8000-000000000000", Body: ccContact{"email_address": email, "update_source": "Account"}}, 404,
			ccErr(key("not_found"), `contact "8a9b5c2e-0000-7000-8000-000000000000" does not exist`), false},
		{"put as text", facetest.Request{Method: "PUT", Path: path, Body: `{}`, Header: map[string]string{"Content-Type": "text/plain"}}, 415,
			ccErr(key("unsupported_media_type"), "Content-Type must be application/json, not text/plain"), true},
		{"delete as text", facetest.Request{Method: "DELETE", Path: path, Header: map[string]string{"Content-Type": "text/plain"}}, 415,
			ccErr(key("unsupported_media_type"), "Content-Type must be application/json, not text/plain"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.send(t, c.rq)
			if !c.unlisted {
				ccSpec.Check(t, c.rq.Method, c.rq.Path, "", r)
			}
			facetest.WantError(t, r, c.status, c.body)
		})
	}
	// A contact without an email (SendGrid's face wrote it by external_id)
	// may be given one, but not another contact's.
	e.upsert(t, acct, []segmentd.ContactPatch{{ExternalID: facetest.Ptr("crm-1")}})
	noEmail, err := e.Svc.ContactsByIdentifier(ctx, acct, segmentd.IdentifierExternalID, []string{"crm-1"})
	if err != nil {
		t.Fatal(err)
	}
	noEmailPath := "/v3/contacts/" + noEmail["crm-1"].ID
	facetest.WantError(t, e.do(t, facetest.Request{Method: "PUT", Path: noEmailPath, Body: ccContact{"email_address": map[string]string{"address": "Ada@example.com"}, "update_source": "Account"}}), 409,
		ccErr(key("conflict"), `a contact with email_address "ada@example.com" already exists`))
	if got := e.must(t, facetest.Request{Method: "PUT", Path: noEmailPath, Body: ccContact{"email_address": map[string]string{"address": "crm1@example.com"}, "update_source": "Account"}}, 200); got["email_address"].(map[string]any)["address"] != "crm1@example.com" {
		t.Fatalf("PUT giving an email = %v", got)
	}
	if n, err := e.Svc.CountContacts(ctx, acct); err != nil || n != 2 {
		t.Fatalf("contacts after refused writes: %d, %v", n, err)
	}
	checkAuth(t, e, []facetest.Request{
		{Method: "POST", Path: "/v3/contacts", Body: ccContact{"email_address": email}},
		{Method: "PUT", Path: path, Body: ccContact{"email_address": map[string]string{"address": "ada@example.com"}, "update_source": "Account"}},
		{Method: "DELETE", Path: path},
	}, nil)
	if n, err := e.Svc.CountContacts(ctx, acct); err != nil || n != 2 {
		t.Fatalf("contacts after unauthorized writes: %d, %v", n, err)
	}
}
