package constantcontact

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/segmentd/segmentd"
)

// customFieldDef is the spec's CustomField: one of the account's custom
// field definitions, the same ones SendGrid's face manages
// (docs/constantcontact.md "One contact, two faces").
type customFieldDef struct {
	CustomFieldID string `json:"custom_field_id"`
	Label         string `json:"label"`
	Name          string `json:"name"`
	Type          string `json:"type"`
	CreatedAt     string `json:"created_at"`
}

// customFieldsPage is the spec's CustomFields.
type customFieldsPage struct {
	CustomFields []customFieldDef `json:"custom_fields"`
	Links        *nextLinks       `json:"_links,omitempty"`
}

// customFieldInput is the body of POST (CustomFieldRequest) and PUT
// (CustomFieldPutRequest). Pointers tell a missing key.
type customFieldInput struct {
	Label *string `json:"label"`
	Type  *string `json:"type"`
}

// Limits of the custom field operations (the spec's).
const (
	maxLabelLength           = 50 // CustomField.label maxLength
	defaultCustomFieldsLimit = 50
	maxCustomFieldsLimit     = 100
)

// The types Constant Contact documents for custom field values.
const (
	ccTypeString = "string"
	ccTypeDate   = "date"
)

// msgCustomFieldNotFound answers an id of no custom field; it takes the id.
const msgCustomFieldNotFound = "custom field %s does not exist"

// msgBadCursor answers a cursor this face did not write.
const msgBadCursor = "cursor is not valid; follow _links.next.href as given"

// ccType is the Constant Contact type a segmentd field shows: Text is
// string, Date is date, and Number, which Constant Contact does not
// document, is string too (its values read as decimal numbers).
func ccType(t segmentd.FieldType) string {
	if t == segmentd.FieldDate {
		return ccTypeDate
	}
	return ccTypeString
}

// renderField is a definition as Constant Contact shows it: its UUID, the
// name, and the label, which is the name with underscores shown as blanks
// (Constant Contact derives the name from the label by replacing blanks
// with underscores).
func renderField(f segmentd.FieldDefinition) customFieldDef {
	return customFieldDef{
		CustomFieldID: customFieldUUID(f.ID),
		Label:         strings.ReplaceAll(f.Name, "_", " "),
		Name:          f.Name,
		Type:          ccType(f.Type),
		CreatedAt:     timestamp(f.CreatedAt),
	}
}

// fieldName turns a label into segmentd's field name: its blanks become
// underscores, and the result must be a field name SendGrid accepts.
func fieldName(in customFieldInput) (string, error) {
	if in.Label == nil || strings.TrimSpace(*in.Label) == "" {
		return "", invalid("label", "label is required")
	}
	label := *in.Label
	if n := len([]rune(label)); n > maxLabelLength {
		return "", invalid("label", "label must be at most %d characters, not %d", maxLabelLength, n)
	}
	name := strings.ReplaceAll(label, " ", "_")
	if err := segmentd.ValidateFieldName(name); err != nil {
		var e *segmentd.Error
		if errors.As(err, &e) {
			return "", invalid("label", "label %s gives the field name %s: %s", segmentd.Quote(label), segmentd.Quote(name), e.Message)
		}
		return "", err
	}
	return name, nil
}

// fieldByUUID finds the account's custom field whose Constant Contact id
// is id, by deriving the id of each (customFieldUUID needs no storage).
func (h *handler) fieldByUUID(r *http.Request, acct int64) (segmentd.FieldDefinition, error) {
	id := r.PathValue("custom_field_id") // a UUID: the route's kind
	defs, err := h.svc.FieldDefinitions(r.Context(), acct)
	if err != nil {
		return segmentd.FieldDefinition{}, err
	}
	for _, f := range defs {
		if customFieldUUID(f.ID) == strings.ToLower(id) {
			return f, nil
		}
	}
	return segmentd.FieldDefinition{}, segmentd.Errorf(segmentd.KindNotFound, "custom_field_id", msgCustomFieldNotFound, segmentd.Quote(id))
}

func (h *handler) createCustomField(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var in customFieldInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	name, err := fieldName(in)
	if err != nil {
		return err
	}
	var t segmentd.FieldType
	switch {
	case in.Type == nil:
		return invalid("type", "type is required")
	case *in.Type == ccTypeString:
		t = segmentd.FieldText
	case *in.Type == ccTypeDate:
		t = segmentd.FieldDate
	default:
		return invalid("type", "type must be %s or %s, not %s", ccTypeString, ccTypeDate, segmentd.Quote(*in.Type))
	}
	f, err := h.svc.CreateCCField(r.Context(), acct.ID, name, t)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, renderField(f))
}

// listCustomFields is GET /v3/contact_custom_fields: the account's custom
// fields in creation order, limit to a page. The spec declares no cursor;
// segmentd pages with one in _links.next.href, as Constant Contact's other
// collections do, since an account may hold more fields (created through
// SendGrid's face) than one page.
func (h *handler) listCustomFields(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	limit := defaultCustomFieldsLimit
	after := ""
	if c := r.URL.Query().Get("cursor"); c != "" {
		var err error
		if after, limit, err = decodeFieldsCursor(c); err != nil {
			return err
		}
	}
	limit, err := queryInt(r, "limit", limit, 1, maxCustomFieldsLimit)
	if err != nil {
		return err
	}
	defs, err := h.svc.FieldDefinitions(r.Context(), acct.ID)
	if err != nil {
		return err
	}
	start := 0
	if after != "" {
		// Definitions are in creation order and ids are never reused:
		// the page starts past the last one shown, even if it was deleted.
		start = len(defs)
		for i, f := range defs {
			if fieldSeq(f.ID) > fieldSeq(after) {
				start = i
				break
			}
		}
	}
	defs = defs[start:]
	out := customFieldsPage{CustomFields: make([]customFieldDef, 0, min(len(defs), limit))}
	if len(defs) > limit {
		defs = defs[:limit]
		out.Links = &nextLinks{Next: link{Href: "/v3/contact_custom_fields?cursor=" + encodeFieldsCursor(defs[limit-1].ID, limit)}}
	}
	for _, f := range defs {
		out.CustomFields = append(out.CustomFields, renderField(f))
	}
	return writeJSON(w, http.StatusOK, out)
}

// fieldSeq is the creation number in a field id ("w12" → 12).
func fieldSeq(id string) int64 {
	n, _ := strconv.ParseInt(id[min(1, len(id)):], 10, 64)
	return n
}

// The custom fields cursor is base64url of "after=<field id>&limit=<n>".
func encodeFieldsCursor(after string, limit int) string {
	v := url.Values{"after": {after}, "limit": {strconv.Itoa(limit)}}
	return base64.RawURLEncoding.EncodeToString([]byte(v.Encode()))
}

func decodeFieldsCursor(c string) (string, int, error) {
	bad := invalid("cursor", msgBadCursor)
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return "", 0, bad
	}
	v, err := url.ParseQuery(string(raw))
	if err != nil {
		return "", 0, bad
	}
	limit, err := strconv.Atoi(v.Get("limit"))
	after := v.Get("after")
	if err != nil || limit < 1 || limit > maxCustomFieldsLimit || fieldSeq(after) < 1 {
		return "", 0, bad
	}
	return after, limit, nil
}

func (h *handler) getCustomField(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	f, err := h.fieldByUUID(r, acct.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, renderField(f))
}

// updateCustomField is PUT: a new label, and so a new name. The type never
// changes; a type in the body is refused unless it is the field's own.
func (h *handler) updateCustomField(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	f, err := h.fieldByUUID(r, acct.ID)
	if err != nil {
		return err
	}
	var in customFieldInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	name, err := fieldName(in)
	if err != nil {
		return err
	}
	if in.Type != nil && *in.Type != ccType(f.Type) {
		return invalid("type", "the type of a custom field cannot change (it is %s)", ccType(f.Type))
	}
	if name != f.Name {
		if f, err = h.svc.RenameField(r.Context(), acct.ID, f.ID, name); err != nil {
			return err
		}
	}
	return writeJSON(w, http.StatusOK, renderField(f))
}

func (h *handler) deleteCustomField(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	f, err := h.fieldByUUID(r, acct.ID)
	if err != nil {
		return err
	}
	if err := h.svc.DeleteField(r.Context(), acct.ID, f.ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
