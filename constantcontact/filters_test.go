package constantcontact_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
)

// TestContactFilters: GET /v3/contacts's filters select from every
// contact, exact as of the request, with include_count and paging.
func TestContactFilters(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	e.Clock.Set(t0)
	a, _ := e.Svc.CreateList(ctx, acct, "A")
	b, _ := e.Svc.CreateList(ctx, acct, "B")
	c, _ := e.Svc.CreateList(ctx, acct, "C")
	var ps []segmentd.ContactPatch
	for i := range 5 {
		ps = append(ps, segmentd.ContactPatch{Email: facetest.Ptr(fmt.Sprintf("p%d@example.com", i))})
	}
	e.upsert(t, acct, ps[:3], a.ID) // p0–p2 on A, created at t0
	e.Clock.Set(t0.Add(time.Hour))
	e.upsert(t, acct, ps[3:], b.ID) // p3–p4 on B, an hour later
	e.Clock.Set(t0.Add(2 * time.Hour))
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: ps[0].Email, FirstName: facetest.Ptr("Pat")}}, b.ID) // p0 on B too, updated later still

	hour := func(h int) string {
		return url.QueryEscape(t0.Add(time.Duration(h) * time.Hour).Format(time.RFC3339Nano))
	}
	for _, tt := range []struct {
		query string
		want  string
	}{
		{"email=P1@Example.com", "[p1@example.com]"},
		{"email=nobody@example.com", "[]"},
		{"lists=" + a.ID, "[p0@example.com p1@example.com p2@example.com]"},
		{"lists=" + strings.ToUpper(b.ID) + "," + c.ID, "[p0@example.com p3@example.com p4@example.com]"},
		{"lists=" + c.ID, "[]"},
		{"status=all", "[p0@example.com p1@example.com p2@example.com p3@example.com p4@example.com]"},
		{"status=active,deleted", "[p0@example.com p1@example.com p2@example.com p3@example.com p4@example.com]"},
		{"status=unsubscribed", "[]"},
		{"created_after=" + hour(0), "[p3@example.com p4@example.com]"},
		{"created_before=" + hour(1), "[p0@example.com p1@example.com p2@example.com]"},
		{"updated_after=" + hour(1), "[p0@example.com]"},
		{"updated_before=" + hour(1) + "&lists=" + a.ID, "[p1@example.com p2@example.com]"},
		{"updated_after=2026-05-04&updated_before=2026-05-05", "[p0@example.com p1@example.com p2@example.com p3@example.com p4@example.com]"},
	} {
		pages, first := e.contactPages(t, "/v3/contacts?limit=2&include_count=true&"+tt.query)
		got := flat(pages)
		if got == nil {
			got = []string{}
		}
		if fmt.Sprint(got) != tt.want || first["contacts_count"] != float64(len(got)) {
			t.Errorf("%s: %v (contacts_count %v), want %s", tt.query, got, first["contacts_count"], tt.want)
		}
	}

	// The filter is as of the request: a contact joining a list shows.
	e.upsert(t, acct, ps[4:], c.ID)
	if pages, _ := e.contactPages(t, "/v3/contacts?lists="+c.ID); fmt.Sprint(pages) != "[[p4@example.com]]" {
		t.Fatalf("after p4 joined C: %v", pages)
	}

	validation := func(msg string) string { return ccErr("contacts.api.validation.error", msg) }
	tooMany := strings.TrimSuffix(strings.Repeat(a.ID+",", 26), ",")
	for _, tt := range []struct {
		path string
		body string
	}{
		{"/v3/contacts?email=not-an-address", validation(`email "not-an-address" is not a valid email address`)},
		{"/v3/contacts?status=gone", validation(`status may name all, active, deleted, not_set, pending_confirmation, temp_hold, unsubscribed, not "gone"`)},
		{"/v3/contacts?lists=x", validation(`lists: "x" is not a list id (a UUID)`)},
		{"/v3/contacts?lists=" + tooMany, validation("lists may name at most 25 list ids, not 26")},
		{"/v3/contacts?updated_after=yesterday", validation(`updated_after must be an ISO-8601 date or date-time (2022-07-16 or 2022-07-16T16:37:59.091Z), not "yesterday"`)},
		{"/v3/contacts?created_before=2024-13-01", validation(`created_before must be an ISO-8601 date or date-time (2022-07-16 or 2022-07-16T16:37:59.091Z), not "2024-13-01"`)},
		{"/v3/contacts?segment_id=1&lists=" + a.ID, validation("segment_id cannot be combined with the lists filter")},
		{"/v3/contacts?sms_status=all", validation("segmentd does not support the sms_status parameter of GET /v3/contacts (it serves segment_id, tags, email, status, lists, updated_after, updated_before, created_after, created_before, limit, include, include_count and cursor)")},
		{"/v3/contacts?lists=" + a.ID + "&tags=" + a.ID, validation("segmentd does not combine tags with the lists filter")},
	} {
		facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: tt.path}), 400, tt.body)
	}
}

func TestSignUpForm(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	a, _ := e.Svc.CreateList(ctx, acct, "A")
	b, _ := e.Svc.CreateList(ctx, acct, "B")
	plan, _ := e.Svc.CreateField(ctx, acct, "plan", segmentd.FieldText)
	score, _ := e.Svc.CreateField(ctx, acct, "score", segmentd.FieldNumber)
	uuidOf := func(name string) string {
		for _, f := range e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_custom_fields"}, 200)["custom_fields"].([]any) {
			if f := f.(map[string]any); f["label"] == name || f["name"] == name {
				return f["custom_field_id"].(string)
			}
		}
		t.Fatalf("no custom field %s", name)
		return ""
	}
	scoreID := uuidOf("score")

	// A new address: 201, created, on the list, with the fields given.
	created := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contacts/sign_up_form", Body: map[string]any{
		"email_address": "Jake@Example.com", "first_name": "Jake", "last_name": "Dodge", "phone_number": "555-0100",
		"list_memberships": []string{a.ID}, "custom_fields": []map[string]string{{"custom_field_id": scoreID, "value": "7"}},
		"street_address": map[string]string{"kind": "work", "street": "1 Main St", "city": "Waltham"},
		"job_title":      "Musician", "company_name": "Acme Corp.", "birthday_month": 11, "birthday_day": 24, "anniversary": "11-15-2006",
	}}, 201)
	id, _ := created["contact_id"].(string)
	if created["action"] != "created" || !segmentd.IsUUID(id) {
		t.Fatalf("created = %v", created)
	}
	c, err := e.Svc.Contact(ctx, acct, id)
	if err != nil || c.Email != "jake@example.com" || c.FirstName != "Jake" || c.City != "Waltham" || c.PhoneNumber != "555-0100" ||
		fmt.Sprint(c.ListIDs) != fmt.Sprint([]string{a.ID}) || c.CustomFields[score.ID].Number != 7 {
		t.Fatalf("contact = %+v, %v", c, err)
	}

	// The same address again: 200, updated; lists and custom fields are
	// added to the contact's, fields left out stay.
	updated := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contacts/sign_up_form", Body: map[string]any{
		"email_address": "jake@example.com", "last_name": "Dodger", "list_memberships": []string{b.ID},
		"custom_fields": []map[string]string{{"custom_field_id": uuidOf("plan"), "value": "gold"}},
	}}, 200)
	if updated["action"] != "updated" || updated["contact_id"] != id {
		t.Fatalf("updated = %v", updated)
	}
	c, _ = e.Svc.Contact(ctx, acct, id)
	if c.FirstName != "Jake" || c.LastName != "Dodger" || len(c.ListIDs) != 2 || c.CustomFields[score.ID].Number != 7 || c.CustomFields[plan.ID].Text != "gold" {
		t.Fatalf("after the update: %+v", c)
	}
	// The Constant Contact-only attributes read back through GET; those
	// the second form left out stay, the job title it gave changes.
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/contacts/sign_up_form", Body: map[string]any{
		"email_address": "jake@example.com", "job_title": "Drummer", "list_memberships": []string{b.ID}}}, 200)
	got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts/" + id + "?include=street_addresses,phone_numbers"}, 200)
	addr := got["street_addresses"].([]any)[0].(map[string]any)
	if got["job_title"] != "Drummer" || got["company_name"] != "Acme Corp." || got["birthday_month"] != float64(11) || got["birthday_day"] != float64(24) ||
		got["anniversary"] != "11-15-2006" || addr["kind"] != "work" || addr["city"] != "Waltham" || got["create_source"] != "Account" {
		t.Fatalf("read back: %v", got)
	}
	if n, _ := e.Svc.ListContactCount(ctx, acct, b.ID); n != 1 {
		t.Fatalf("list B counts %d", n)
	}

	validation := func(msg string) string { return ccErr("contacts.api.validation.error", msg) }
	unknown := segmentd.NewID()
	for _, tt := range []struct {
		body   map[string]any
		status int
		want   string
	}{
		{map[string]any{"email_address": "x@example.com"}, 400, validation("list_memberships is required: at least one list id")},
		{map[string]any{"email_address": "x@example.com", "list_memberships": []string{}}, 400, validation("list_memberships is required: at least one list id")},
		{map[string]any{"list_memberships": []string{a.ID}}, 400, validation("email_address is required (segmentd matches contacts by email)")},
		{map[string]any{"email_address": strings.Repeat("a", 40) + "@example.com", "list_memberships": []string{a.ID}}, 400, validation("email_address must be at most 50 characters, not 52")},
		{map[string]any{"email_address": "x@example.com", "list_memberships": []string{"nope"}}, 400, validation(`list_memberships[0] "nope" is not a list id (a UUID)`)},
		{map[string]any{"email_address": "x@example.com", "list_memberships": []string{unknown}}, 400, validation(fmt.Sprintf("list %q does not exist", unknown))},
		{map[string]any{"email_address": "x@example.com", "list_memberships": []string{a.ID}, "phone_number": strings.Repeat("5", 26)}, 400, validation("phone_number must be at most 25 characters, not 26")},
		{map[string]any{"email_address": "x@example.com", "list_memberships": []string{a.ID}, "job_title": strings.Repeat("x", 51)}, 400, validation("job_title must be at most 50 characters, not 51")},
		{map[string]any{"email_address": "x@example.com", "list_memberships": []string{a.ID}, "company_name": strings.Repeat("x", 51)}, 400, validation("company_name must be at most 50 characters, not 51")},
		{map[string]any{"email_address": "x@example.com", "list_memberships": []string{a.ID}, "birthday_day": 3}, 400, validation("birthday_month and birthday_day must be given together")},
		{map[string]any{"email_address": "x@example.com", "list_memberships": []string{a.ID}, "birthday_month": 0, "birthday_day": 3}, 400, validation("birthday_month must be from 1 to 12, not 0")},
		{map[string]any{"email_address": "x@example.com", "list_memberships": []string{a.ID}, "birthday_month": 1, "birthday_day": 32}, 400, validation("birthday_day must be from 1 to 31, not 32")},
		{map[string]any{"email_address": "x@example.com", "list_memberships": []string{a.ID}, "anniversary": "2006-13-45"}, 400, validation(`anniversary must be a date as MM/DD/YYYY, YYYY/MM/DD, YYYY-MM-DD or MM-DD-YYYY, not "2006-13-45"`)},
		{map[string]any{"email_address": "x@example.com", "list_memberships": []string{a.ID}, "anniversary": "2006-11-15Z"}, 400, validation("anniversary must be at most 10 characters, not 11")},
		{map[string]any{"email_address": "x@example.com", "list_memberships": []string{a.ID}, "street_address": map[string]string{"kind": "moon"}}, 400, validation(`street_address.kind must be one of home, work, other, not "moon"`)},
		{map[string]any{"email_address": "x@example.com", "list_memberships": []string{a.ID}, "custom_fields": []map[string]string{{"custom_field_id": scoreID, "value": "lots"}}}, 400, validation(`custom_fields[0].value: custom field "score" takes a decimal number, not "lots"`)},
	} {
		facetest.WantError(t, e.do(t, facetest.Request{Method: "POST", Path: "/v3/contacts/sign_up_form", Body: tt.body}), tt.status, tt.want)
	}
	// An address that is another contact's alternate email: 409.
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("main@example.com"), AlternateEmails: &[]string{"alt@example.com"}}})
	facetest.WantError(t, e.do(t, facetest.Request{Method: "POST", Path: "/v3/contacts/sign_up_form", Body: map[string]any{"email_address": "alt@example.com", "list_memberships": []string{a.ID}}}),
		409, ccErr("contacts.api.conflict", `a contact with email_address "alt@example.com" already exists`))
	if n, _ := e.Svc.CountContacts(ctx, acct); n != 2 {
		t.Fatalf("%d contacts after the refused sign-ups, want 2", n)
	}
	// The spec lists no 415 here; segmentd answers it on every body it reads.
	facetest.WantError(t, e.send(t, facetest.Request{Method: "POST", Path: "/v3/contacts/sign_up_form", Body: "x", Header: map[string]string{"Content-Type": "text/plain"}}),
		415, ccErr("contacts.api.unsupported_media_type", "Content-Type must be application/json, not text/plain"))
	checkAuth(t, e, []facetest.Request{{Method: "POST", Path: "/v3/contacts/sign_up_form", Body: map[string]any{"email_address": "y@example.com", "list_memberships": []string{a.ID}}}},
		[]facetest.Request{{Method: "GET", Path: "/v3/contacts/counts"}, {Method: "GET", Path: "/v3/contacts?email=y@example.com"}})
}

func TestContactCounts(t *testing.T) {
	e := newEnv(t)
	acct := e.DefaultAccount()
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts/counts"}, 200); fmt.Sprint(got) != "map[explicit:0 implicit:0 pending:0 total:0 unsubscribed:0]" {
		t.Fatalf("empty account: %v", got)
	}
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("a@example.com")}, {Email: facetest.Ptr("b@example.com")}})
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts/counts?include=new_subscriber"}, 200); fmt.Sprint(got) != "map[explicit:0 implicit:2 new_subscriber:0 pending:0 total:2 unsubscribed:0]" {
		t.Fatalf("two contacts: %v", got)
	}
	facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: "/v3/contacts/counts?include=all"}), 400,
		ccErr("contacts.api.validation.error", `include may be new_subscriber, not "all"`))
}
