package constantcontact_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
)

func TestCustomFieldLifecycle(t *testing.T) {
	e := newEnv(t)
	e.Clock.Set(t0)
	created := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_custom_fields", Body: map[string]string{"label": "Favorite Fruit", "type": "string"}}, 201)
	id, _ := created["custom_field_id"].(string)
	want := map[string]any{"custom_field_id": id, "label": "Favorite Fruit", "name": "Favorite_Fruit", "type": "string", "created_at": "2026-05-04T10:20:30.456Z"}
	if !segmentd.IsUUID(id) || fmt.Sprint(created) != fmt.Sprint(want) {
		t.Fatalf("created = %v\nwant      %v", created, want)
	}
	// The same definition SendGrid's face sees, under its segmentd id.
	defs, err := e.Svc.FieldDefinitions(context.Background(), e.DefaultAccount())
	if err != nil || len(defs) != 1 || defs[0].Name != "Favorite_Fruit" || defs[0].Type != segmentd.FieldText || defs[0].ID != "w1" {
		t.Fatalf("definitions = %+v, %v", defs, err)
	}
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_custom_fields/" + id}, 200); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("GET = %v, want %v", got, want)
	}
	// An id in upper case is the same UUID.
	e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_custom_fields/" + strings.ToUpper(id)}, 200)

	renamed := e.must(t, facetest.Request{Method: "PUT", Path: "/v3/contact_custom_fields/" + id, Body: map[string]string{"label": "Favourite fruit"}}, 200)
	if renamed["name"] != "Favourite_fruit" || renamed["label"] != "Favourite fruit" || renamed["custom_field_id"] != id {
		t.Fatalf("PUT = %v", renamed)
	}
	date := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_custom_fields", Body: map[string]string{"label": "renewal", "type": "date"}}, 201)
	if date["type"] != "date" || date["name"] != "renewal" {
		t.Fatalf("date field = %v", date)
	}
	list := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_custom_fields"}, 200)
	if items := list["custom_fields"].([]any); len(items) != 2 || items[0].(map[string]any)["custom_field_id"] != id || list["_links"] != nil {
		t.Fatalf("list = %v", list)
	}

	// DELETE: 204, no body; the field is gone from both faces.
	r := e.do(t, facetest.Request{Method: "DELETE", Path: "/v3/contact_custom_fields/" + id})
	if r.Status != 204 || len(r.Body) != 0 {
		t.Fatalf("DELETE = %d %s", r.Status, r.Body)
	}
	notFound := ccErr("contact_custom_fields.api.not_found", fmt.Sprintf("custom field %q does not exist", id))
	facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: "/v3/contact_custom_fields/" + id}), 404, notFound)
	facetest.WantError(t, e.do(t, facetest.Request{Method: "PUT", Path: "/v3/contact_custom_fields/" + id, Body: map[string]string{"label": "x"}}), 404, notFound)
	facetest.WantError(t, e.do(t, facetest.Request{Method: "DELETE", Path: "/v3/contact_custom_fields/" + id}), 404, notFound)
	if defs, _ := e.Svc.FieldDefinitions(context.Background(), e.DefaultAccount()); len(defs) != 1 || defs[0].Name != "renewal" {
		t.Fatalf("definitions after delete = %+v", defs)
	}
}

// TestCustomFieldsFromSendGrid: a field created through SendGrid's face
// appears here with its derived UUID; a Number field as a string.
func TestCustomFieldsFromSendGrid(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	n, err := e.Svc.CreateField(ctx, acct, "score", segmentd.FieldNumber)
	if err != nil {
		t.Fatal(err)
	}
	list := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_custom_fields"}, 200)
	items := list["custom_fields"].([]any)
	if len(items) != 1 {
		t.Fatalf("list = %v", list)
	}
	got := items[0].(map[string]any)
	if got["name"] != "score" || got["type"] != "string" || got["label"] != "score" {
		t.Fatalf("Number field = %v", got)
	}
	// The UUID is the one contacts carry for the field's values.
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("a@example.com"), CustomFields: map[string]*segmentd.Value{n.ID: {Type: segmentd.FieldNumber, Number: 65.5}}}})
	page := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts?include=custom_fields"}, 200)
	cf := page["contacts"].([]any)[0].(map[string]any)["custom_fields"].([]any)[0].(map[string]any)
	if cf["custom_field_id"] != got["custom_field_id"] || cf["value"] != "65.5" {
		t.Fatalf("contact's custom field = %v, field = %v", cf, got)
	}
	// Renamed through Constant Contact, SendGrid's face sees the new name.
	e.must(t, facetest.Request{Method: "PUT", Path: "/v3/contact_custom_fields/" + got["custom_field_id"].(string), Body: map[string]string{"label": "lead score", "type": "string"}}, 200)
	if defs, _ := e.Svc.FieldDefinitions(ctx, acct); defs[0].Name != "lead_score" || defs[0].ID != n.ID {
		t.Fatalf("after rename: %+v", defs)
	}
}

func TestCustomFieldErrors(t *testing.T) {
	e := newEnv(t)
	f := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_custom_fields", Body: map[string]string{"label": "Color", "type": "string"}}, 201)
	path := "/v3/contact_custom_fields/" + f["custom_field_id"].(string)
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_custom_fields", Body: map[string]string{"label": "Size", "type": "string"}}, 201)
	key := func(kind string) string { return "contact_custom_fields.api." + kind }
	for _, c := range []struct {
		name   string
		rq     facetest.Request
		status int
		body   string
	}{
		{"no label", facetest.Request{Method: "POST", Path: "/v3/contact_custom_fields", Body: map[string]string{"type": "string"}}, 400, ccErr(key("validation.error"), "label is required")},
		{"blank label", facetest.Request{Method: "POST", Path: "/v3/contact_custom_fields", Body: map[string]string{"label": "  ", "type": "string"}}, 400, ccErr(key("validation.error"), "label is required")},
		{"long label", facetest.Request{Method: "POST", Path: "/v3/contact_custom_fields", Body: map[string]string{"label": strings.Repeat("a", 51), "type": "string"}}, 400, ccErr(key("validation.error"), "label must be at most 50 characters, not 51")},
		{"label not a name", facetest.Request{Method: "POST", Path: "/v3/contact_custom_fields", Body: map[string]string{"label": "Fav-fruit", "type": "string"}}, 400,
			ccErr(key("validation.error"), `label "Fav-fruit" gives the field name "Fav-fruit": name may contain only letters, digits and underscores and must start with a letter or underscore`)},
		{"reserved name", facetest.Request{Method: "POST", Path: "/v3/contact_custom_fields", Body: map[string]string{"label": "first name", "type": "string"}}, 400,
			ccErr(key("validation.error"), `label "first name" gives the field name "first_name": name "first_name" is a reserved field name`)},
		{"no type", facetest.Request{Method: "POST", Path: "/v3/contact_custom_fields", Body: map[string]string{"label": "x"}}, 400, ccErr(key("validation.error"), "type is required")},
		{"undocumented type", facetest.Request{Method: "POST", Path: "/v3/contact_custom_fields", Body: map[string]string{"label": "x", "type": "currency"}}, 400, ccErr(key("validation.error"), `type must be string or date, not "currency"`)},
		{"label not a string", facetest.Request{Method: "POST", Path: "/v3/contact_custom_fields", Body: `{"label":5,"type":"string"}`}, 400, ccErr(key("validation.error"), "label must be a string")},
		{"not an object", facetest.Request{Method: "POST", Path: "/v3/contact_custom_fields", Body: `[]`}, 400, ccErr(key("validation.error"), "the request body must be a JSON object, found an array")},
		{"duplicate", facetest.Request{Method: "POST", Path: "/v3/contact_custom_fields", Body: map[string]string{"label": "color", "type": "date"}}, 409, ccErr(key("conflict"), `a custom field named "color" already exists`)},
		{"post as text", facetest.Request{Method: "POST", Path: "/v3/contact_custom_fields", Body: `{}`, Header: map[string]string{"Content-Type": "text/plain"}}, 415, ccErr(key("unsupported_media_type"), "Content-Type must be application/json, not text/plain")},
		{"delete as text", facetest.Request{Method: "DELETE", Path: path, Header: map[string]string{"Content-Type": "text/plain"}}, 415, ccErr(key("unsupported_media_type"), "Content-Type must be application/json, not text/plain")},
		{"put no label", facetest.Request{Method: "PUT", Path: path, Body: map[string]string{}}, 400, ccErr(key("validation.error"), "label is required")},
		{"put other type", facetest.Request{Method: "PUT", Path: path, Body: map[string]string{"label": "Colour", "type": "date"}}, 400, ccErr(key("validation.error"), "the type of a custom field cannot change (it is string)")},
		{"unknown uuid", facetest.Request{Method: "GET", Path: "/v3/contact_custom_fields/04fe9a97-a579-43c5-bb1a-58ed29bf0a6a"}, 404, ccErr(key("not_found"), `custom field "04fe9a97-a579-43c5-bb1a-58ed29bf0a6a" does not exist`)},
		{"not a uuid", facetest.Request{Method: "GET", Path: "/v3/contact_custom_fields/w1"}, 404, ccErr(key("not_found"), "/v3/contact_custom_fields/w1 is not a Constant Contact V3 resource that segmentd serves")},
		{"limit 0", facetest.Request{Method: "GET", Path: "/v3/contact_custom_fields?limit=0"}, 400, ccErr(key("validation.error"), `limit must be a whole number from 1 to 100, not "0"`)},
		{"limit 101", facetest.Request{Method: "GET", Path: "/v3/contact_custom_fields?limit=101"}, 400, ccErr(key("validation.error"), `limit must be a whole number from 1 to 100, not "101"`)},
		{"bad cursor", facetest.Request{Method: "GET", Path: "/v3/contact_custom_fields?cursor=xyz"}, 400, ccErr(key("validation.error"), "cursor is not valid; follow _links.next.href as given")},
	} {
		t.Run(c.name, func(t *testing.T) {
			// The spec lists 409 on POST only, and 415 on POST and DELETE.
			r := e.send(t, c.rq)
			if !(c.status == 409 && c.rq.Method != "POST") {
				ccSpec.Check(t, c.rq.Method, c.rq.Path, "", r)
			}
			facetest.WantError(t, r, c.status, c.body)
		})
	}
	// A rename onto another field's name is a conflict too (409, which the
	// spec lists on POST only); nothing changed.
	facetest.WantError(t, e.send(t, facetest.Request{Method: "PUT", Path: path, Body: map[string]string{"label": "SIZE"}}), 409, ccErr(key("conflict"), `a custom field named "SIZE" already exists`))
	if got := e.must(t, facetest.Request{Method: "GET", Path: path}, 200); got["name"] != "Color" {
		t.Fatalf("after refused writes: %v", got)
	}
	checkAuth(t, e, []facetest.Request{
		{Method: "POST", Path: "/v3/contact_custom_fields", Body: map[string]string{"label": "n", "type": "string"}},
		{Method: "PUT", Path: path, Body: map[string]string{"label": "n"}},
		{Method: "DELETE", Path: path},
	}, []facetest.Request{{Method: "GET", Path: "/v3/contact_custom_fields"}, {Method: "GET", Path: path}})
	if got := e.must(t, facetest.Request{Method: "GET", Path: path}, 200); got["name"] != "Color" {
		t.Fatalf("after unauthorized writes: %v", got)
	}
}

// TestCustomFieldLimits: Constant Contact's 100 fields per account, counted
// with those SendGrid's face created, and paging past a page of them.
func TestCustomFieldLimits(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	for i := range segmentd.MaxCCCustomFields {
		if _, err := e.Svc.CreateField(ctx, acct, fmt.Sprintf("f%03d", i), segmentd.FieldText); err != nil {
			t.Fatal(err)
		}
	}
	facetest.WantError(t, e.do(t, facetest.Request{Method: "POST", Path: "/v3/contact_custom_fields", Body: map[string]string{"label": "one more", "type": "string"}}), 400,
		ccErr("contact_custom_fields.api.validation.error", "the account already has the maximum of 100 custom fields"))
	// SendGrid's own limit is higher: its face may still create one, and
	// the list pages past 100.
	if _, err := e.Svc.CreateField(ctx, acct, "f100", segmentd.FieldText); err != nil {
		t.Fatal(err)
	}
	var names []string
	next := "/v3/contact_custom_fields?limit=40"
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatalf("more than 4 pages of 40 for 101 fields")
		}
		u, _ := url.Parse(next)
		page := e.must(t, facetest.Request{Method: "GET", Path: u.Path + "?" + u.RawQuery}, 200)
		for _, f := range page["custom_fields"].([]any) {
			names = append(names, f.(map[string]any)["name"].(string))
		}
		next = ""
		if l, ok := page["_links"].(map[string]any); ok {
			next = l["next"].(map[string]any)["href"].(string)
		}
		// A field deleted between pages shifts nothing.
		if pages == 0 {
			if err := e.Svc.DeleteField(ctx, acct, "w40"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if len(names) != 101 || names[0] != "f000" || names[39] != "f039" || names[40] != "f040" || names[100] != "f100" {
		t.Fatalf("paged %d names: %v", len(names), names)
	}
}

// TestSegmentByCustomFieldID: a contact condition names a custom field by
// the custom_field_id this face gives it, whichever face created the
// field; its members follow writes; an id of no field is refused with the
// condition's path, and a segment whose field is deleted matches nobody.
func TestSegmentByCustomFieldID(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	plan := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_custom_fields", Body: map[string]string{"label": "Plan", "type": "string"}}, 201)["custom_field_id"].(string)
	if _, err := e.Svc.CreateField(ctx, acct, "score", segmentd.FieldNumber); err != nil { // SendGrid's
		t.Fatal(err)
	}
	var score string
	for _, f := range e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_custom_fields"}, 200)["custom_fields"].([]any) {
		if f.(map[string]any)["name"] == "score" {
			score = f.(map[string]any)["custom_field_id"].(string)
		}
	}
	crit := fmt.Sprintf(`{"version":"1.0.0","criteria":{"type":"and","group":[`+
		`{"source":"contact","field":"custom_field","param":%q,"op":"eq","const_value":"PRO"},`+
		`{"source":"contact","field":"custom_field","param":%q,"op":"gt","const_value":"10"}]}}`, strings.ToUpper(plan), score)
	seg := e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "Pro", "segment_criteria": crit}}, 201)
	path := fmt.Sprintf("/v3/contacts?segment_id=%v&include_count=true", seg["segment_id"])
	write := func(email, p, s string) {
		e.must(t, facetest.Request{Method: "POST", Path: "/v3/contacts", Body: map[string]any{
			"email_address": map[string]string{"address": email},
			"custom_fields": []map[string]string{{"custom_field_id": plan, "value": p}, {"custom_field_id": score, "value": s}}}}, 201)
	}
	write("ada@example.com", "pro", "42")
	write("bob@example.com", "pro", "3")
	write("cy@example.com", "free", "50")
	got := e.must(t, facetest.Request{Method: "GET", Path: path}, 200)
	if got["contacts_count"] != float64(1) || got["contacts"].([]any)[0].(map[string]any)["email_address"].(map[string]any)["address"] != "ada@example.com" {
		t.Fatalf("segment by custom field ids = %v", got)
	}

	unknown := `{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"contact","field":"custom_field","param":"3fa85f64-5717-4562-b3fc-2c963f66afa6","op":"eq","const_value":"x"}]}}`
	facetest.WantError(t, e.do(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "Nope", "segment_criteria": unknown}}), 400,
		ccErr("segments.api.validation.error", `segment_criteria: criteria.group[0].param: unknown custom field "3fa85f64-5717-4562-b3fc-2c963f66afa6" (no custom field of the account has this custom_field_id)`))

	// The field's delete: the segment matches nobody.
	e.do(t, facetest.Request{Method: "DELETE", Path: "/v3/contact_custom_fields/" + plan})
	if got := e.must(t, facetest.Request{Method: "GET", Path: path}, 200); got["contacts_count"] != float64(0) {
		t.Fatalf("segment by a deleted field = %v", got)
	}
}
