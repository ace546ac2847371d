package constantcontact_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
)

// TestGetContact: GET /v3/contacts/{contact_id} reads one contact, as
// SendGrid's face wrote it, in the shape of GET /v3/contacts' items.
func TestGetContact(t *testing.T) {
	e := newEnv(t)
	acct := e.DefaultAccount()
	e.Clock.Set(t0)
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("Ada@Example.com"), FirstName: facetest.Ptr("Ada"), City: facetest.Ptr("London"),
		PhoneNumber: facetest.Ptr("+44 20 7946 0000"), ExternalID: facetest.Ptr("x-1")}})
	const include = "custom_fields,list_memberships,phone_numbers,street_addresses,taggings,notes"
	page := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts?include=" + include}, 200)
	item := page["contacts"].([]any)[0].(map[string]any)
	id := item["contact_id"].(string)
	got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts/" + strings.ToUpper(id) + "?include=" + include}, 200)
	if a, b := mustJSON(t, got), mustJSON(t, item); !facetest.JSONEqual(a, b) {
		t.Fatalf("GET /v3/contacts/{id} = %s\nthe list's item     %s", a, b)
	}
	if got["email_address"].(map[string]any)["address"] != "ada@example.com" || got["first_name"] != "Ada" || got["created_at"] != "2026-05-04T10:20:30.456Z" {
		t.Fatalf("contact = %v", got)
	}
	// Without include, no sub-resources.
	bare := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts/" + id}, 200)
	for _, k := range strings.Split(include, ",") {
		if _, ok := bare[k]; ok {
			t.Fatalf("contact without include carries %s: %v", k, bare)
		}
	}

	const unknown = "8a9b5c2e-0000-7000-8000-000000000000"
	facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: "/v3/contacts/" + unknown}), 404, ccErr("contacts.api.not_found", fmt.Sprintf("contact %q does not exist", unknown)))
	facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: "/v3/contacts/ada"}), 404, ccErr("contacts.api.not_found", "/v3/contacts/ada is not a Constant Contact V3 resource that segmentd serves"))
	facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: "/v3/contacts/" + id + "?include=sms_channel"}), 400,
		ccErr("contacts.api.validation.error", `include may name custom_fields, list_memberships, phone_numbers, street_addresses, taggings, notes, not "sms_channel"`))
	// Another account's key does not see it.
	other := e.NewKey("other", "", segmentd.AllScopes...)
	facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: "/v3/contacts/" + id, Key: &other}), 404, ccErr("contacts.api.not_found", fmt.Sprintf("contact %q does not exist", id)))
	checkAuth(t, e, nil, []facetest.Request{{Method: "GET", Path: "/v3/contacts/" + id}})
}
