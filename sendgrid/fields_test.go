package sendgrid_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/segmentd/segmentd/internal/facetest"
	sg "github.com/segmentd/segmentd/sendgrid"

	"github.com/segmentd/segmentd/audience"
)

const fieldsPath = "/v3/marketing/field_definitions"

func TestFieldDefinitions(t *testing.T) {
	e := newEnv(t)

	// Create: 200 (not 201), ids by type.
	created := map[string]string{}
	for _, tc := range []struct{ name, typ, wantPrefix string }{
		{"favorite_color", "Text", "w"},
		{"num_orders", "Number", "n"},
		{"birthday", "Date", "d"},
	} {
		r := e.do(t, call{method: "POST", path: fieldsPath, body: map[string]string{"name": tc.name, "field_type": tc.typ}})
		m := facetest.WantStatus(t, r, http.StatusOK)
		id, _ := m["id"].(string)
		if !strings.HasPrefix(id, tc.wantPrefix) || m["name"] != tc.name || m["field_type"] != tc.typ {
			t.Errorf("create %s: got %v", tc.name, m)
		}
		if self := m["_metadata"].(map[string]any)["self"]; self != e.URL+fieldsPath+"/"+id {
			t.Errorf("create %s: _metadata.self = %v", tc.name, self)
		}
		created[tc.name] = id
	}

	// List: custom fields in creation order, all 24 reserved fields.
	r := e.do(t, call{method: "GET", path: fieldsPath})
	var list struct {
		CustomFields []struct {
			ID, Name  string
			FieldType string `json:"field_type"`
		} `json:"custom_fields"`
		ReservedFields []struct {
			ID, Name  string
			FieldType string `json:"field_type"`
			ReadOnly  *bool  `json:"read_only"`
		} `json:"reserved_fields"`
		Metadata struct{ Self string } `json:"_metadata"`
	}
	facetest.WantStatus(t, r, http.StatusOK)
	r.Decode(t, &list)
	if len(list.CustomFields) != 3 || list.CustomFields[0].Name != "favorite_color" || list.CustomFields[2].ID != created["birthday"] {
		t.Errorf("custom_fields = %+v", list.CustomFields)
	}
	if len(list.ReservedFields) != 24 {
		t.Fatalf("%d reserved fields, want 24", len(list.ReservedFields))
	}
	for i, want := range []struct {
		id, name string
		ro       bool
	}{{"_rf0_T", "first_name", false}, {"_rf2_T", "email", false}, {"_rf15_T", "email_domains", true}, {"_rf23_T", "contact_id", true}} {
		_ = i
		found := false
		for _, f := range list.ReservedFields {
			if f.ID == want.id {
				found = true
				if f.Name != want.name || f.ReadOnly == nil || *f.ReadOnly != want.ro {
					t.Errorf("reserved %s = %+v", want.id, f)
				}
			}
		}
		if !found {
			t.Errorf("reserved field %s missing", want.id)
		}
	}

	// Rename keeps the id and type.
	r = e.do(t, call{method: "PATCH", path: fieldsPath + "/" + created["num_orders"], body: map[string]string{"name": "order_count"}})
	if m := facetest.WantStatus(t, r, http.StatusOK); m["name"] != "order_count" || m["id"] != created["num_orders"] || m["field_type"] != "Number" {
		t.Errorf("rename: %v", m)
	}
	// Sending the unchanged type back is fine.
	r = e.do(t, call{method: "PATCH", path: fieldsPath + "/" + created["num_orders"], body: map[string]string{"name": "order_count", "field_type": "Number"}})
	facetest.WantStatus(t, r, http.StatusOK)

	errCases := []errCase{
		{"create without name", call{method: "POST", path: fieldsPath, body: map[string]string{"field_type": "Text"}},
			400, errBody("name", "name is required")},
		{"create without type", call{method: "POST", path: fieldsPath, body: map[string]string{"name": "x"}},
			400, errBody("field_type", "field_type is required")},
		{"create bad type", call{method: "POST", path: fieldsPath, body: map[string]string{"name": "x", "field_type": "Boolean"}},
			400, errBody("field_type", "field_type must be one of Text, Number, Date")},
		{"create name with a dash", call{method: "POST", path: fieldsPath, body: map[string]string{"name": "a-b", "field_type": "Text"}},
			400, errBody("name", "name may contain only letters, digits and underscores and must start with a letter or underscore")},
		{"create name starting with a digit", call{method: "POST", path: fieldsPath, body: map[string]string{"name": "1abc", "field_type": "Text"}},
			400, errBody("name", "name may contain only letters, digits and underscores and must start with a letter or underscore")},
		{"create reserved name", call{method: "POST", path: fieldsPath, body: map[string]string{"name": "First_Name", "field_type": "Text"}},
			400, errBody("name", `name "First_Name" is a reserved field name`)},
		{"create duplicate ignoring case", call{method: "POST", path: fieldsPath, body: map[string]string{"name": "FAVORITE_COLOR", "field_type": "Text"}},
			400, errBody("name", `a custom field named "FAVORITE_COLOR" already exists`)},
		{"create name too long", call{method: "POST", path: fieldsPath, body: map[string]string{"name": strings.Repeat("a", 101), "field_type": "Text"}},
			400, errBody("name", "name must be at most 100 characters")},
		{"create name of wrong type", call{method: "POST", path: fieldsPath, body: `{"name":5,"field_type":"Text"}`},
			400, errBody("name", "name has a number where a string is expected")},
		{"create malformed JSON", call{method: "POST", path: fieldsPath, body: `{"name":`},
			400, errBody("name", "name: invalid JSON at byte 8: expected a value, found the end of the document")},
		{"create empty body", call{method: "POST", path: fieldsPath},
			400, errBody("", "the request body must be a JSON object")},
		{"create body over 1 MB", call{method: "POST", path: fieldsPath, body: `{"name":"` + strings.Repeat("a", 1<<20) + `"}`},
			400, errBody("", "request body must not exceed 1 MB (1048576 bytes)")},
		{"rename unknown", call{method: "PATCH", path: fieldsPath + "/w99", body: map[string]string{"name": "x"}},
			404, errBody("field_id", `custom field "w99" does not exist`)},
		{"rename to a taken name", call{method: "PATCH", path: fieldsPath + "/" + created["birthday"], body: map[string]string{"name": "Favorite_Color"}},
			400, errBody("name", `a custom field named "Favorite_Color" already exists`)},
		{"rename reserved", call{method: "PATCH", path: fieldsPath + "/_rf0_T", body: map[string]string{"name": "given_name"}},
			400, errBody("custom_field_id", `reserved field "_rf0_T" cannot be updated`)},
		{"rename without name", call{method: "PATCH", path: fieldsPath + "/" + created["birthday"], body: map[string]string{}},
			400, errBody("name", "name is required")},
		{"rename changing the type", call{method: "PATCH", path: fieldsPath + "/" + created["birthday"], body: map[string]string{"name": "bday", "field_type": "Text"}},
			400, errBody("field_type", "field_type cannot be changed")},
		{"delete unknown", call{method: "DELETE", path: fieldsPath + "/w99"},
			404, errBody("field_id", `custom field "w99" does not exist`)},
		// The spec lists only 204 and 404 here; SendGrid refuses to delete
		// reserved fields, answered as 400 (validated against the common
		// E2 envelope).
		{"delete reserved", call{method: "DELETE", path: fieldsPath + "/_rf2_T"},
			400, errBody("custom_field_id", `reserved field "_rf2_T" cannot be deleted`)},
	}
	e.wantErrors(t, errCases)

	// Delete: 204, then gone.
	r = e.do(t, call{method: "DELETE", path: fieldsPath + "/" + created["favorite_color"]})
	if r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Errorf("delete: %d %q", r.Status, r.Body)
	}
	r = e.do(t, call{method: "GET", path: fieldsPath})
	r.Decode(t, &list)
	if len(list.CustomFields) != 2 {
		t.Errorf("after delete: %+v", list.CustomFields)
	}
	// The name is free again.
	r = e.do(t, call{method: "POST", path: fieldsPath, body: map[string]string{"name": "favorite_color", "field_type": "Text"}})
	if m := facetest.WantStatus(t, r, http.StatusOK); m["id"] == created["favorite_color"] {
		t.Errorf("a deleted field's id was reused: %v", m["id"])
	}
}

// Renaming a field keeps the contacts' values under the new name; deleting
// it removes the values.
func TestFieldRenameAndDeleteKeepContactsConsistent(t *testing.T) {
	e := newEnv(t)
	r := e.do(t, call{method: "POST", path: fieldsPath, body: map[string]string{"name": "tier", "field_type": "Text"}})
	id := facetest.WantStatus(t, r, http.StatusOK)["id"].(string)
	e.upsert(t, map[string]any{"contacts": []any{map[string]any{"email": "a@example.com", "custom_fields": map[string]any{id: "gold"}}}})
	contact := e.contactByEmail(t, "a@example.com")
	if got := contact["custom_fields"]; !facetest.JSONEqual(mustJSON(got), []byte(`{"tier":"gold"}`)) {
		t.Fatalf("custom_fields = %v", got)
	}

	facetest.WantStatus(t, e.do(t, call{method: "PATCH", path: fieldsPath + "/" + id, body: map[string]string{"name": "level"}}), 200)
	contact = e.contactByEmail(t, "a@example.com")
	if got := contact["custom_fields"]; !facetest.JSONEqual(mustJSON(got), []byte(`{"level":"gold"}`)) {
		t.Errorf("after rename custom_fields = %v", got)
	}

	facetest.WantStatus(t, e.do(t, call{method: "DELETE", path: fieldsPath + "/" + id}), 204)
	contact = e.contactByEmail(t, "a@example.com")
	if got := contact["custom_fields"]; !facetest.JSONEqual(mustJSON(got), []byte(`{}`)) {
		t.Errorf("after delete custom_fields = %v", got)
	}
}

func TestFieldLimit(t *testing.T) {
	e := newEnvWith(t, facetest.Config{Service: audience.Config{MaxCustomFields: 2}}, sg.Options{})
	for _, name := range []string{"a", "b"} {
		facetest.WantStatus(t, e.do(t, call{method: "POST", path: fieldsPath, body: `{"name":"` + name + `","field_type":"Text"}`}), 200)
	}
	facetest.WantError(t, e.do(t, call{method: "POST", path: fieldsPath, body: `{"name":"c","field_type":"Text"}`}),
		400, errBody("", "the account already has the maximum of 2 custom fields"))
}
