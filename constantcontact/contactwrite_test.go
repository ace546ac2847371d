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
	// PUT changes the email: the same contact, found by its new address
	// through both faces, its old address free; another contact's
	// address is 409 and changes nothing.
	put = e.must(t, facetest.Request{Method: "PUT", Path: "/v3/contacts/" + id, Body: ccContact{
		"email_address": map[string]string{"address": "Lovelace@example.com"}, "update_source": "Account",
		"custom_fields": []map[string]string{{"custom_field_id": fruit, "value": "Pear"}}}}, 200)
	if put["contact_id"] != id || put["email_address"].(map[string]any)["address"] != "lovelace@example.com" {
		t.Fatalf("PUT with a new email = %v", put)
	}
	if _, found, err := e.Svc.ContactsByEmails(ctx, acct, []string{"lovelace@example.com", "ada@example.com"}); err != nil || found["lovelace@example.com"].ID != id || found["ada@example.com"].ID != "" {
		t.Fatalf("by email after the change: %v, %v", found, err)
	}
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/contacts", Body: ccContact{"email_address": map[string]string{"address": "ada@example.com"}}}, 201)
	facetest.WantError(t, e.do(t, facetest.Request{Method: "PUT", Path: "/v3/contacts/" + id, Body: ccContact{
		"email_address": map[string]string{"address": "ADA@example.com"}, "update_source": "Account"}}), 409,
		ccErr("contacts.api.conflict", `a contact with email_address "ada@example.com" already exists`))
	if c, err := e.Svc.Contact(ctx, acct, id); err != nil || c.Email != "lovelace@example.com" {
		t.Fatalf("after a refused change: %+v, %v", c, err)
	}

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

	// DELETE: 204; gone from SendGrid's face and from the segment, read
	// as deleted here (deleted_test.go has the rest).
	r := e.do(t, facetest.Request{Method: "DELETE", Path: "/v3/contacts/" + bobID})
	if r.Status != 204 || len(r.Body) != 0 {
		t.Fatalf("DELETE = %d %s", r.Status, r.Body)
	}
	notFound := ccErr("contacts.api.not_found", fmt.Sprintf("contact %q does not exist", bobID))
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts/" + bobID}, 200); got["deleted_at"] != "2026-05-04" {
		t.Fatalf("GET of the deleted contact = %v", got)
	}
	facetest.WantError(t, e.do(t, facetest.Request{Method: "DELETE", Path: "/v3/contacts/" + bobID}), 404, notFound)
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
	var notes []map[string]string
	for range 151 {
		notes = append(notes, map[string]string{"content": "x"})
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
		{"long job_title", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("job_title", strings.Repeat("j", 51))}, 400, bad("job_title must be at most 50 characters, not 51"), false},
		{"long company_name", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("company_name", strings.Repeat("c", 51))}, 400, bad("company_name must be at most 50 characters, not 51"), false},
		{"birthday alone", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("birthday_month", 4)}, 400, bad("birthday_month and birthday_day must be given together"), false},
		{"birthday month", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: ccContact{"email_address": email, "birthday_month": 13, "birthday_day": 1}}, 400, bad("birthday_month must be from 1 to 12, not 13"), false},
		{"birthday day", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: ccContact{"email_address": email, "birthday_month": 2, "birthday_day": 32}}, 400, bad("birthday_day must be from 1 to 31, not 32"), false},
		{"anniversary form", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("anniversary", "June 1")}, 400,
			bad(`anniversary must be a date as MM/DD/YYYY, YYYY/MM/DD, YYYY-MM-DD or MM-DD-YYYY, not "June 1"`), false},
		{"long anniversary", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("anniversary", "2020-06-011")}, 400, bad("anniversary must be at most 10 characters, not 11"), false},
		{"151 notes", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("notes", notes)}, 400, bad("notes may hold at most 150 notes, not 151"), false},
		{"long note", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("notes", []map[string]string{{"content": strings.Repeat("n", 2001)}})}, 400,
			bad("notes[0].content must be at most 2000 characters, not 2001"), false},
		{"note id", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("notes", []map[string]string{{"note_id": "n1", "content": "x"}})}, 400, bad(`notes[0].note_id "n1" is not a UUID`), false},
		{"sms_channel", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("sms_channel", map[string]string{"full_sms_address": "+15550100"})}, 400, bad("segmentd does not keep sms_channel yet; leave it out"), false},
		{"51 taggings", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("taggings", lists)}, 400, bad("taggings may hold at most 50 tag ids, not 51"), false},
		{"tag not a uuid", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("taggings", []string{"vip"})}, 400, bad(`taggings[0] "vip" is not a tag id (a UUID)`), false},
		{"unknown tag", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("taggings", []string{"3fa85f64-5717-4562-b3fc-2c963f66afa6"})}, 400, bad(`tag "3fa85f64-5717-4562-b3fc-2c963f66afa6" does not exist`), false},
		{"put unknown tag", facetest.Request{Method: "PUT", Path: path, Body: ccContact{"email_address": map[string]string{"address": "ada@example.com"}, "update_source": "Account", "taggings": []string{"3fa85f64-5717-4562-b3fc-2c963f66afa6"}}}, 400,
			bad(`tag "3fa85f64-5717-4562-b3fc-2c963f66afa6" does not exist`), false},
		{"four phones", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("phone_numbers", []map[string]string{{"phone_number": "1"}, {"phone_number": "2"}, {"phone_number": "3"}, {"phone_number": "4"}})}, 400,
			bad("phone_numbers may hold at most 3 entries, not 4"), false},
		{"long second phone", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("phone_numbers", []map[string]string{{"phone_number": "1"}, {"phone_number": strings.Repeat("2", 26)}})}, 400,
			bad("phone_numbers[1].phone_number must be at most 25 characters, not 26"), false},
		{"empty phone", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("phone_numbers", []map[string]string{{"phone_number": " ", "kind": "home"}})}, 400,
			bad("phone_numbers[0].phone_number is required"), false},
		{"four addresses", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("street_addresses", []map[string]string{{"kind": "home"}, {"kind": "work"}, {"kind": "other"}, {"kind": "home"}})}, 400,
			bad("street_addresses may hold at most 3 entries, not 4"), false},
		{"second address kind", facetest.Request{Method: "POST", Path: "/v3/contacts", Body: with("street_addresses", []map[string]string{{"kind": "home"}, {"kind": "office"}})}, 400,
			bad(`street_addresses[1].kind must be one of home, work, other, not "office"`), false},
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

// TestContactCCAttributes: the attributes only Constant Contact has are
// written by POST and PUT and read back (validated against the Swagger
// document): job title, company, birthday, anniversary, permission with
// its opt-in and opt-out, sources, up to three phones and addresses with
// their kinds, notes. A PUT clears the top-level ones it leaves out and
// keeps the sub-resources it leaves out; a change of them alone moves
// updated_at; SendGrid's upserts keep them.
func TestContactCCAttributes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	e.Clock.Set(t0)
	created := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contacts", Body: ccContact{
		"email_address": map[string]string{"address": "ada@example.com", "permission_to_send": "explicit"},
		"first_name":    "Ada", "job_title": "Analyst", "company_name": "Engines Ltd", "birthday_month": 12, "birthday_day": 10,
		"anniversary": "2020-06-01", "create_source": "Contact",
		"phone_numbers": []map[string]string{{"phone_number": "+1 555 0100", "kind": "mobile"}, {"phone_number": "+1 555 0101", "kind": "work"}},
		"street_addresses": []map[string]string{{"kind": "work", "street": "1 Main St", "city": "Baltimore"},
			{"kind": "home", "street": "2 Side Rd", "city": "London", "country": "GB"}},
		"notes": []map[string]string{{"content": "met at the fair"}},
	}}, 201)
	id := created["contact_id"].(string)
	check := func(what string, got map[string]any, want map[string]string) {
		t.Helper()
		for k, v := range want {
			if fmt.Sprint(got[k]) != v {
				t.Errorf("%s: %s = %v, want %s", what, k, got[k], v)
			}
		}
	}
	const at = "2026-05-04T10:20:30.456Z"
	email := func(m map[string]any) map[string]any { return m["email_address"].(map[string]any) }
	check("POST", created, map[string]string{"job_title": "Analyst", "company_name": "Engines Ltd", "birthday_month": "12", "birthday_day": "10",
		"anniversary": "2020-06-01", "create_source": "Contact", "update_source": "Contact",
		"phone_numbers":    "[map[kind:mobile phone_number:+1 555 0100] map[kind:work phone_number:+1 555 0101]]",
		"street_addresses": "[map[city:Baltimore kind:work street:1 Main St] map[city:London country:GB kind:home street:2 Side Rd]]"})
	check("POST email_address", email(created), map[string]string{"permission_to_send": "explicit", "opt_in_source": "Contact", "opt_in_date": at})
	ns := created["notes"].([]any)
	if len(ns) != 1 || ns[0].(map[string]any)["content"] != "met at the fair" || !segmentd.IsUUID(ns[0].(map[string]any)["note_id"].(string)) || ns[0].(map[string]any)["created_at"] != at {
		t.Fatalf("POST notes = %v", ns)
	}
	// The shared fields SendGrid's face reads: the first phone and address.
	if c, err := e.Svc.Contact(ctx, acct, id); err != nil || c.PhoneNumber != "+1 555 0100" || c.City != "Baltimore" || c.AddressLine1 != "1 Main St" {
		t.Fatalf("shared fields = %+v, %v", c, err)
	}
	got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts/" + id + "?include=phone_numbers,street_addresses,notes"}, 200)
	check("GET", got, map[string]string{"job_title": "Analyst", "phone_numbers": fmt.Sprint(created["phone_numbers"]), "notes": fmt.Sprint(created["notes"])})

	// A SendGrid upsert keeps them.
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("ada@example.com"), LastName: facetest.Ptr("Lovelace")}})
	got = e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts/" + id + "?include=notes"}, 200)
	check("after a SendGrid upsert", got, map[string]string{"job_title": "Analyst", "last_name": "Lovelace", "notes": fmt.Sprint(created["notes"])})

	// PUT: job_title and the birthday left out are cleared; phones,
	// addresses and notes left out are kept; unsubscribing records the
	// opt-out; only Constant Contact's attributes changed, and updated_at
	// moves.
	e.Clock.Set(t0.Add(time.Minute))
	put := e.must(t, facetest.Request{Method: "PUT", Path: "/v3/contacts/" + id, Body: ccContact{
		"email_address": map[string]string{"address": "ada@example.com", "permission_to_send": "unsubscribed"},
		"first_name":    "Ada", "last_name": "Lovelace", "company_name": "Engines Ltd", "anniversary": "2020-06-01", "update_source": "Account"}}, 200)
	const later = "2026-05-04T10:21:30.456Z"
	check("PUT", put, map[string]string{"job_title": "<nil>", "birthday_month": "<nil>", "company_name": "Engines Ltd", "create_source": "Contact",
		"update_source": "Account", "updated_at": later, "phone_numbers": fmt.Sprint(created["phone_numbers"]),
		"street_addresses": fmt.Sprint(created["street_addresses"]), "notes": fmt.Sprint(created["notes"])})
	check("PUT email_address", email(put), map[string]string{"permission_to_send": "unsubscribed", "opt_in_source": "Contact", "opt_in_date": at,
		"opt_out_source": "Account", "opt_out_date": later})
	// Sub-resources given replace: one phone, no address, no note.
	put = e.must(t, facetest.Request{Method: "PUT", Path: "/v3/contacts/" + id, Body: ccContact{
		"email_address": map[string]string{"address": "ada@example.com"}, "update_source": "Account",
		"phone_numbers": []map[string]string{{"phone_number": "+1 555 0199", "kind": "home"}}, "street_addresses": []any{}, "notes": []any{}}}, 200)
	check("PUT sub-resources", put, map[string]string{"phone_numbers": "[map[kind:home phone_number:+1 555 0199]]", "street_addresses": "[]", "notes": "[]",
		"company_name": "<nil>", "first_name": "<nil>"})
	check("PUT without a permission keeps it", email(put), map[string]string{"permission_to_send": "unsubscribed"})
	if c, err := e.Svc.Contact(ctx, acct, id); err != nil || c.PhoneNumber != "+1 555 0199" || c.City != "" || len(c.CC.Phones) != 0 {
		t.Fatalf("after replacing the sub-resources: %+v, %v", c, err)
	}
}
