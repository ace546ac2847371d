package sendgrid_test

import (
	"net/http"
	"testing"

	"github.com/segmentd/segmentd/internal/facetest"
	sg "github.com/segmentd/segmentd/sendgrid"
)

// bodyEndpoints is every operation of the face that reads a body, with a
// body that it would accept, and whether its 400 is E2-bare.
func bodyEndpoints(list, segment, v1Segment, contact string) []struct {
	c    call
	bare bool
} {
	legacy := "legacy endpoint: validated against the legacy spec"
	return []struct {
		c    call
		bare bool
	}{
		{c: call{method: "POST", path: fieldsPath, body: `{"name":"f","field_type":"Text"}`}},
		{c: call{method: "PATCH", path: fieldsPath + "/w1", body: `{"name":"g"}`}},
		{c: call{method: "POST", path: listsPath, body: `{"name":"l"}`}},
		{c: call{method: "PATCH", path: listsPath + "/" + list, body: `{"name":"m"}`}},
		{c: call{method: "PUT", path: contactsPath, body: `{"contacts":[{"email":"a@example.com"}]}`}},
		{c: call{method: "POST", path: contactsPath + "/batch", body: `{"ids":["` + contact + `"]}`}},
		{c: call{method: "POST", path: contactsPath + "/search/emails", body: `{"emails":["a@example.com"]}`}},
		{c: call{method: "POST", path: contactsPath + "/search/identifiers/email", body: `{"identifiers":["a@example.com"]}`}, bare: true},
		{c: call{method: "DELETE", path: contactsPath + "/" + contact + "/identifiers", body: `{"identifier_type":"EMAIL","identifier_value":"a@example.com"}`}},
		{c: call{method: "POST", path: contactsPath + "/search", body: `{"query":"email LIKE 'a%'"}`}},
		{c: call{method: "POST", path: seg2Path, body: `{"name":"s","query_dsl":"` + usSQL + `"}`}},
		{c: call{method: "PATCH", path: seg2Path + "/" + segment, body: `{"name":"t"}`}},
		{c: call{method: "POST", path: seg2Path + "/refresh/" + segment, body: `{"user_time_zone":"UTC"}`}},
		{c: call{method: "POST", path: seg1Path, body: `{"name":"v","query_dsl":"country = 'US'"}`, noSpec: legacy}},
		{c: call{method: "PATCH", path: seg1Path + "/" + v1Segment, body: `{"name":"w","query_dsl":"country = 'US'"}`, noSpec: legacy}},
		{c: call{method: "POST", path: seg1Path + "/delete", body: `{"ids":["` + segment + `"]}`, noSpec: legacy}},
	}
}

// TestBodiesMustBeObjects: every body SendGrid's endpoints take is a JSON
// object; null, an array, a string or a number is refused with 400 and
// changes nothing (PATCH .../segments/2.0/{id} with null used to answer 200,
// and the refresh endpoint to refresh).
func TestBodiesMustBeObjects(t *testing.T) {
	e := newEnvWith(t, facetest.Config{}, sg.Options{LegacyV1Writes: true})
	list := e.createList(t, "Kept")
	e.mkContacts(t, "us", 1, "US")
	contact := e.contactByEmail(t, "us0@example.com")["id"].(string)
	seg := e.createSeg2(t, "Americans", usSQL)
	v1 := e.createSeg1(t, "Americans v1", "country = 'US'")
	for _, ep := range bodyEndpoints(list, seg.ID, v1, contact) {
		for _, body := range []struct{ text, found string }{{`null`, "null"}, {`[]`, "an array"}, {`"x"`, "a string"}, {` 1 `, "a number"}} {
			t.Run(ep.c.method+" "+ep.c.path+" "+body.text, func(t *testing.T) {
				c := ep.c
				c.body = body.text
				want := errBody("", "the request body must be a JSON object, found "+body.found)
				if ep.bare {
					want = bareErr("", "the request body must be a JSON object, found "+body.found)
				}
				facetest.WantError(t, e.do(t, c), http.StatusBadRequest, want)
			})
		}
	}
	r := e.do(t, call{method: "GET", path: seg2Path + "/" + seg.ID})
	if got := decodeSeg(t, mustResponse(t, r, 200)); got.Name != "Americans" || got.LastRefreshedAt != "" {
		t.Errorf("the segment changed: %s", r.Body)
	}
	r = e.do(t, call{method: "GET", path: listsPath + "/" + list})
	if m := facetest.WantStatus(t, r, 200); m["name"] != "Kept" {
		t.Errorf("the list changed: %s", r.Body)
	}
}

// TestRepeatedKeys: a key repeated in any object of any body is refused
// with 400 naming its JSON path, where encoding/json would keep the last;
// in a body decoded into a struct, so is a key differing only in case,
// which encoding/json matches to the same field. The upsert matches keys
// as written, so "EMAIL" there is an unknown field.
func TestRepeatedKeys(t *testing.T) {
	e := newEnv(t)
	seg := e.createSeg2(t, "Americans", usSQL)
	e.wantErrors(t, []errCase{
		{"list name", call{method: "POST", path: listsPath, body: `{"name":"a","name":"b"}`},
			400, errBody("name", "name: repeated key")},
		{"differing only in case", call{method: "POST", path: listsPath, body: `{"name":"a","NAME":"b"}`},
			400, errBody("NAME", "NAME: repeated key (it differs from an earlier key only in case)")},
		{"field type", call{method: "POST", path: fieldsPath, body: `{"name":"f","field_type":"Text","field_type":"Number"}`},
			400, errBody("field_type", "field_type: repeated key")},
		{"upsert contact key", call{method: "PUT", path: contactsPath, body: `{"contacts":[{"email":"a@example.com"},{"email":"b@example.com","email":"c@example.com"}]}`},
			400, errBody("contacts[1].email", "contacts[1].email: repeated key")},
		{"upsert key in another case", call{method: "PUT", path: contactsPath, body: `{"contacts":[{"email":"a@example.com","EMAIL":"b@example.com"}]}`},
			400, errBody("contacts[0].EMAIL", `unknown field "EMAIL"`)},
		{"upsert list_ids", call{method: "PUT", path: contactsPath, body: `{"list_ids":[],"contacts":[{"email":"a@example.com"}],"list_ids":[]}`},
			400, errBody("list_ids", "list_ids: repeated key")},
		{"upsert custom field", call{method: "PUT", path: contactsPath, body: `{"contacts":[{"email":"a@example.com","custom_fields":{"w1":"x","w1":"y"}}]}`},
			400, errBody("contacts[0].custom_fields.w1", "contacts[0].custom_fields.w1: repeated key")},
		{"written another way", call{method: "PATCH", path: seg2Path + "/" + seg.ID, body: `{"name":"x","n\u0061me":"y"}`},
			400, errBody("name", "name: repeated key")},
		{"search by identifiers", call{method: "POST", path: contactsPath + "/search/identifiers/email", body: `{"identifiers":["a@example.com"],"identifiers":[]}`},
			400, bareErr("identifiers", "identifiers: repeated key")},
	})
	r := e.do(t, call{method: "GET", path: listsPath})
	if m := facetest.WantStatus(t, r, 200); len(m["result"].([]any)) != 0 {
		t.Errorf("a list was created: %s", r.Body)
	}
	r = e.do(t, call{method: "GET", path: contactsPath + "/count"})
	if m := facetest.WantStatus(t, r, 200); m["contact_count"] != float64(0) {
		t.Errorf("contacts were stored: %s", r.Body)
	}
	if got := decodeSeg(t, mustResponse(t, e.do(t, call{method: "GET", path: seg2Path + "/" + seg.ID}), 200)); got.Name != "Americans" {
		t.Errorf("the segment was renamed to %q", got.Name)
	}
}

// TestTextRules: invalid UTF-8 and lone surrogate escapes are refused in
// every string of a body (encoding/json would store U+FFFD), and control
// characters as docs/decisions.md §18 says: names and identifiers take
// none, free text takes tab, line feed and carriage return.
func TestTextRules(t *testing.T) {
	e := newEnv(t)
	text, _, _ := e.createFields(t)
	list := e.createList(t, "Kept")
	seg := e.createSeg2(t, "Americans", usSQL)
	e.wantErrors(t, []errCase{
		{"invalid UTF-8", call{method: "POST", path: listsPath, body: "{\"name\":\"a\xffb\"}"},
			400, errBody("name", "name: invalid UTF-8 at byte 10")},
		{"UTF-8 of a surrogate", call{method: "POST", path: listsPath, body: "{\"name\":\"\xed\xa0\x80\"}"},
			400, errBody("name", "name: invalid UTF-8 at byte 9")},
		{"lone surrogate", call{method: "POST", path: seg2Path, body: `{"name":"\ud800","query_dsl":"` + usSQL + `"}`},
			400, errBody("name", `name: lone UTF-16 surrogate \ud800 at byte 9`)},
		{"lone low surrogate in a contact", call{method: "PUT", path: contactsPath, body: `{"contacts":[{"email":"a@example.com","city":"x\udc00"}]}`},
			400, errBody("contacts[0].city", `contacts[0].city: lone UTF-16 surrogate \udc00 at byte 47`)},
		{"NUL in a list name", call{method: "POST", path: listsPath, body: `{"name":"a\u0000b"}`},
			400, errBody("name", "name must not contain control characters (found U+0000)")},
		{"DEL in a list rename", call{method: "PATCH", path: listsPath + "/" + list, body: `{"name":"a\u007f"}`},
			400, errBody("name", "name must not contain control characters (found U+007F)")},
		{"tab in a segment name", call{method: "POST", path: seg2Path, body: `{"name":"a\tb","query_dsl":"` + usSQL + `"}`},
			400, errBody("name", "name must not contain control characters (found U+0009)")},
		{"newline in a segment rename", call{method: "PATCH", path: seg2Path + "/" + seg.ID, body: `{"name":"a\nb"}`},
			400, errBody("name", "name must not contain control characters (found U+000A)")},
		{"NUL in a field name", call{method: "POST", path: fieldsPath, body: `{"name":"a\u0000","field_type":"Text"}`},
			400, errBody("name", "name may contain only letters, digits and underscores and must start with a letter or underscore")},
		{"NUL in free text", call{method: "PUT", path: contactsPath, body: `{"contacts":[{"email":"a@example.com","first_name":"Ann\u0000"}]}`},
			400, errBody("contacts[0].first_name", "contacts[0].first_name must not contain control characters (found U+0000)")},
		{"escape in a custom Text value", call{method: "PUT", path: contactsPath, body: `{"contacts":[{"email":"a@example.com","custom_fields":{"` + text + `":"\u001b[31m"}}]}`},
			400, errBody("contacts[0].custom_fields."+text, "contacts[0].custom_fields."+text+" must not contain control characters (found U+001B)")},
		{"tab in an identifier", call{method: "PUT", path: contactsPath, body: `{"contacts":[{"external_id":"a\tb"}]}`},
			400, errBody("contacts[0].external_id", "contacts[0].external_id must not contain control characters (found U+0009)")},
		{"NUL in an email", call{method: "PUT", path: contactsPath, body: `{"contacts":[{"email":"a\u0000@example.com"}]}`},
			400, errBody("contacts[0].email", "contacts[0].email must not contain control characters (found U+0000)")},
		{"NUL in an alternate email", call{method: "PUT", path: contactsPath, body: `{"contacts":[{"email":"a@example.com","alternate_emails":["b\u0000@example.com"]}]}`},
			400, errBody("contacts[0].alternate_emails[0]", "contacts[0].alternate_emails[0] must not contain control characters (found U+0000)")},
	})

	// Free text keeps tab, line feed and carriage return.
	job := e.upsert(t, `{"contacts":[{"email":"a@example.com","address_line_1":"1 Main St\r\nApt 2","custom_fields":{"`+text+`":"a\tb"}}]}`)
	if job["status"] != "completed" {
		t.Fatalf("upsert: %v", job)
	}
	c := e.contactByEmail(t, "a@example.com")
	if c["address_line_1"] != "1 Main St\r\nApt 2" || c["custom_fields"].(map[string]any)["color"] != "a\tb" {
		t.Errorf("free text changed: %v", c)
	}
	r := e.do(t, call{method: "GET", path: listsPath})
	if m := facetest.WantStatus(t, r, 200); len(m["result"].([]any)) != 1 {
		t.Errorf("lists: %s", r.Body)
	}
}
