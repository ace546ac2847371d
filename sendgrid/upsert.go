package sendgrid

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/segmentd/segmentd"
)

// upsertContacts is PUT /v3/marketing/contacts: validate the whole request,
// queue it as a job and answer 202 {job_id}. Any 4xx means nothing was
// queued, so nothing stored changes. The body is bounded at 6 MB by the
// route and the contacts at 30,000 by the service (docs/sendgrid.md
// "Contacts").
//
// The body is decoded by hand rather than into a struct so that every
// error names its JSON path (contacts[3].custom_fields.n2), JSON null can
// mean "clear", and unknown keys are refused: SendGrid rejects fields a
// contact does not have with 400.
//
// From its first byte read to its answer the request counts as being
// accepted (Service.Accepting), so the job worker yields the CPU to it
// (docs/jobs.md, "The apply yields").
func (h *handler) upsertContacts(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	defer h.svc.Accepting()()
	body, err := readBody(r)
	if err != nil {
		return err
	}
	fields, err := h.svc.FieldsByID(r.Context(), acct.ID)
	if err != nil {
		return err
	}
	listIDs, patches, ok := decodeUpsertFast(body, fields)
	if !ok {
		if listIDs, patches, err = decodeUpsert(body, fields); err != nil {
			return err
		}
	}
	jobID, err := h.svc.UpsertContacts(r.Context(), acct.ID, patches, listIDs)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, jobIDResponse{jobID})
}

// decodeUpsertFast decodes a well-formed upsert body in one streaming pass,
// with the same value decoders as decodeUpsert but without building error
// paths or sorting keys. It reports false at the first thing it does not
// accept, and the caller runs decodeUpsert for the exact error: a bad
// request costs two decodes, a good one a third of one. The body is
// checked first (checkBody: repeated keys, UTF-8, surrogates), a pass
// that costs about a twentieth of the decode (BenchmarkDecodeUpsert).
func decodeUpsertFast(body []byte, fields map[string]segmentd.FieldDefinition) ([]string, []segmentd.ContactPatch, bool) {
	if checkBody(body, false) != nil {
		return nil, nil, false
	}
	var listIDs []string
	// Room for the contacts at once (a contact takes 60 bytes of JSON or
	// more): growing the slice copied the patches over and over.
	patches := make([]segmentd.ContactPatch, 0, min(segmentd.MaxUpsertContacts, len(body)/60+1))
	sawContacts := false
	var strs []string // the contacts' strings, which the patches point into
	ok := eachMember(body, func(key, val []byte) bool {
		switch string(key) {
		case "list_ids":
			listIDs = nil
			if isNull(val) {
				return true
			}
			var err error
			if listIDs, err = stringArray(val, ""); err != nil {
				return false
			}
			for i, id := range listIDs {
				listIDs[i] = strings.ToLower(id)
			}
			return true
		case "contacts":
			sawContacts = true
			return eachElement(val, func(c []byte) bool {
				if len(patches) == segmentd.MaxUpsertContacts {
					return false // the slow path names the limit
				}
				patches = append(patches, segmentd.ContactPatch{})
				p := &patches[len(patches)-1]
				return eachMember(c, func(key, val []byte) bool {
					if bind, ok := contactStringFields[string(key)]; ok {
						// As decodeContactKey, with the strings from one
						// slice (a pointer to its own string each, before).
						s, err := contactString(key, val, "")
						if err != nil {
							return false
						}
						if len(strs) == cap(strs) {
							strs = make([]string, 0, 1024)
						}
						strs = append(strs, s)
						*bind(p) = &strs[len(strs)-1]
						return true
					}
					return decodeContactKey(contactKey(key), val, "", fields, p) == nil
				})
			})
		}
		return false
	})
	if !ok || !sawContacts || len(patches) == 0 {
		return nil, nil, false
	}
	return listIDs, patches, true
}

// decodeUpsert decodes an upsert body, naming the JSON path of the first
// problem (in key order, so the same body always gets the same error).
func decodeUpsert(body []byte, fields map[string]segmentd.FieldDefinition) ([]string, []segmentd.ContactPatch, error) {
	var err error
	var top map[string]json.RawMessage
	// Keys are matched as written (contact fields, custom field ids), so
	// only exact repeats are repeated keys.
	if err := checkBody(body, false); err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, nil, internal("decoding a checked upsert body: %w", err)
	}
	for _, k := range sortedKeys(top) {
		if k != "list_ids" && k != "contacts" {
			return nil, nil, invalid(segmentd.Clip(k), "unknown field %s: the request body takes list_ids and contacts", segmentd.Quote(k))
		}
	}
	var listIDs []string
	if raw, ok := top["list_ids"]; ok && !isNull(raw) {
		if listIDs, err = stringArray(raw, "list_ids"); err != nil {
			return nil, nil, err
		}
		for i, id := range listIDs {
			listIDs[i] = strings.ToLower(id) // UUIDs are case-insensitive
		}
	}
	raw, ok := top["contacts"]
	if !ok || isNull(raw) {
		return nil, nil, invalid("contacts", "contacts is required")
	}
	var contacts []json.RawMessage
	if err := json.Unmarshal(raw, &contacts); err != nil {
		return nil, nil, invalid("contacts", "contacts must be an array of contact objects")
	}
	// Refuse an over-long request before decoding every contact of it.
	if len(contacts) > segmentd.MaxUpsertContacts {
		return nil, nil, segmentd.Errorf(segmentd.KindTooLarge, "contacts", "contacts may hold at most %d contacts per request, got %d", segmentd.MaxUpsertContacts, len(contacts))
	}
	patches := make([]segmentd.ContactPatch, len(contacts))
	for i, c := range contacts {
		if err := decodeContact(c, "contacts["+strconv.Itoa(i)+"]", fields, &patches[i]); err != nil {
			return nil, nil, err
		}
	}
	return listIDs, patches, nil
}

// contactStringFields are the string keys of SendGrid's ContactRequest
// (identifiers included), each bound to its patch field. Length limits and
// email syntax are checked by segmentd.ValidatePatch.
var contactStringFields = map[string]func(*segmentd.ContactPatch) **string{
	"email":                 func(p *segmentd.ContactPatch) **string { return &p.Email },
	"phone_number_id":       func(p *segmentd.ContactPatch) **string { return &p.PhoneNumberID },
	"external_id":           func(p *segmentd.ContactPatch) **string { return &p.ExternalID },
	"anonymous_id":          func(p *segmentd.ContactPatch) **string { return &p.AnonymousID },
	"first_name":            func(p *segmentd.ContactPatch) **string { return &p.FirstName },
	"last_name":             func(p *segmentd.ContactPatch) **string { return &p.LastName },
	"address_line_1":        func(p *segmentd.ContactPatch) **string { return &p.AddressLine1 },
	"address_line_2":        func(p *segmentd.ContactPatch) **string { return &p.AddressLine2 },
	"city":                  func(p *segmentd.ContactPatch) **string { return &p.City },
	"state_province_region": func(p *segmentd.ContactPatch) **string { return &p.StateProvinceRegion },
	"postal_code":           func(p *segmentd.ContactPatch) **string { return &p.PostalCode },
	"country":               func(p *segmentd.ContactPatch) **string { return &p.Country },
	"phone_number":          func(p *segmentd.ContactPatch) **string { return &p.PhoneNumber },
	"whatsapp":              func(p *segmentd.ContactPatch) **string { return &p.WhatsApp },
	"line":                  func(p *segmentd.ContactPatch) **string { return &p.Line },
	"facebook":              func(p *segmentd.ContactPatch) **string { return &p.Facebook },
	"unique_name":           func(p *segmentd.ContactPatch) **string { return &p.UniqueName },
}

// decodeContact decodes one ContactRequest into p. prefix is its JSON path.
func decodeContact(raw json.RawMessage, prefix string, fields map[string]segmentd.FieldDefinition, p *segmentd.ContactPatch) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil || m == nil {
		return invalid(prefix, "%s must be a contact object", prefix)
	}
	for _, key := range sortedKeys(m) {
		if err := decodeContactKey(key, m[key], prefix+"."+segmentd.Clip(key), fields, p); err != nil {
			return err
		}
	}
	return nil
}

// decodeContactKey decodes one key of a ContactRequest into p; path is its
// JSON path ("" on the fast path, which only asks whether it failed).
func decodeContactKey(key string, val json.RawMessage, path string, fields map[string]segmentd.FieldDefinition, p *segmentd.ContactPatch) error {
	if bind, ok := contactStringFields[key]; ok {
		s, err := contactString([]byte(key), val, path)
		if err != nil {
			return err
		}
		*bind(p) = &s // JSON null arrives as "": it clears the field
		return nil
	}
	switch key {
	case "alternate_emails":
		emails := []string{}
		if !isNull(val) {
			var err error
			if emails, err = stringArray(val, path); err != nil {
				return err
			}
		}
		p.AlternateEmails = &emails
	case "custom_fields":
		return decodeCustomFields(val, path, fields, p)
	case "id":
		return invalid(path, "a contact's id cannot be used to update it; contacts are matched by email, phone_number_id, external_id or anonymous_id")
	default:
		return invalid(path, "unknown field %s", segmentd.Quote(key))
	}
	return nil
}

// contactString decodes the value of the contact's string field key.
func contactString(key []byte, val json.RawMessage, path string) (string, error) {
	s, err := jsonString(val, path)
	if err != nil && string(key) == "postal_code" && isNumber(val) {
		// Segment samples type postal_code as an integer
		// (docs/sendgrid.md "Spec contradictions" 4), so
		// clients send numbers; keep the digits as written.
		s, err = string(val), nil
	}
	return s, err
}

// contactKeys are the keys of SendGrid's ContactRequest, each keyed by
// itself, so that decoding a key the request spells as one costs no
// allocation (contactKey).
var contactKeys = func() map[string]string {
	keys := map[string]string{"alternate_emails": "alternate_emails", "custom_fields": "custom_fields", "id": "id"}
	for k := range contactStringFields {
		keys[k] = k
	}
	return keys
}()

// contactKey returns key as a string, without a copy when it is one of
// contactKeys.
func contactKey(key []byte) string {
	if k, ok := contactKeys[string(key)]; ok {
		return k
	}
	return string(key)
}

// decodeCustomFields reads custom field values keyed by field id. A value
// is parsed by its field's type: Number takes a JSON number or a numeric
// string, Date takes RFC 3339, YYYY-MM-DD or MM/DD/YYYY, Text a string. JSON
// null or "" clears the field. Unknown ids are left to
// segmentd.ValidatePatch, which says the field does not exist.
func decodeCustomFields(raw json.RawMessage, path string, fields map[string]segmentd.FieldDefinition, p *segmentd.ContactPatch) error {
	if isNull(raw) {
		return nil
	}
	type member struct {
		id  []byte
		val []byte
	}
	var room [8]member // most contacts have few custom fields
	ms := room[:0]
	if !eachMember(raw, func(id, val []byte) bool { ms = append(ms, member{id, val}); return true }) {
		return invalid(path, "%s must be an object keyed by custom field id", path)
	}
	// In id order, so that the same body always gets the same error.
	slices.SortFunc(ms, func(a, b member) int { return bytes.Compare(a.id, b.id) })
	if p.CustomFields == nil {
		p.CustomFields = make(map[string]*segmentd.Value, len(ms))
	}
	var vals []segmentd.Value
	for _, m := range ms {
		def, ok := fields[string(m.id)]
		if !ok {
			p.CustomFields[string(m.id)] = &segmentd.Value{} // reported by ValidatePatch
			continue
		}
		// The field's own id keys the value (the same text, without a
		// copy); the path is only for an error, and decodeUpsertFast
		// (path "") reports none.
		fieldPath := ""
		if path != "" {
			fieldPath = path + "." + def.ID
		}
		v, ok, err := customValue(m.val, fieldPath, def)
		switch {
		case err != nil:
			return err
		case !ok:
			p.CustomFields[def.ID] = nil // cleared
		default:
			if vals == nil {
				vals = make([]segmentd.Value, 0, len(ms)) // one allocation for the contact's values
			}
			vals = append(vals, v)
			p.CustomFields[def.ID] = &vals[len(vals)-1]
		}
	}
	return nil
}

// customValue reads a custom field's JSON value; ok false (and no error)
// clears the field.
func customValue(raw json.RawMessage, path string, def segmentd.FieldDefinition) (v segmentd.Value, ok bool, err error) {
	if isNull(raw) {
		return v, false, nil
	}
	if def.Type == segmentd.FieldNumber && isNumber(raw) {
		return parseCustomText(string(raw), path, def)
	}
	s, err := jsonString(raw, path)
	if err != nil {
		switch def.Type {
		case segmentd.FieldNumber:
			return v, false, invalid(path, "custom field %q (%s) must be a number", def.ID, def.Name)
		case segmentd.FieldDate:
			return v, false, invalid(path, "custom field %q (%s) must be a date string (RFC 3339, YYYY-MM-DD or MM/DD/YYYY)", def.ID, def.Name)
		}
		return v, false, invalid(path, "custom field %q (%s) must be a string", def.ID, def.Name)
	}
	return parseCustomText(s, path, def)
}

// customText reads a custom field value written as text, as a JSON
// string (or a JSON number's digits) in an upsert or a cell of an import
// file, by its field's type: a Number's or a Date's text is trimmed and
// parsed; "" (after trimming, for those) clears the field.
func customText(s, path string, def segmentd.FieldDefinition) (*segmentd.Value, error) {
	v, ok, err := parseCustomText(s, path, def)
	if !ok || err != nil {
		return nil, err
	}
	return &v, nil
}

// parseCustomText is customText giving the value itself; ok false (and no
// error) clears the field.
func parseCustomText(s, path string, def segmentd.FieldDefinition) (v segmentd.Value, ok bool, err error) {
	switch def.Type {
	case segmentd.FieldNumber:
		text := strings.TrimSpace(s)
		if text == "" {
			return v, false, nil
		}
		n, err := strconv.ParseFloat(text, 64)
		if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
			return v, false, invalid(path, "custom field %q (%s) must be a number, got %s", def.ID, def.Name, segmentd.Quote(text))
		}
		return segmentd.Value{Type: segmentd.FieldNumber, Number: n}, true, nil
	case segmentd.FieldDate:
		if s = strings.TrimSpace(s); s == "" {
			return v, false, nil
		}
		t, ok := segmentd.ParseDate(s)
		if !ok {
			return v, false, invalid(path, "custom field %q (%s) must be a date (RFC 3339, YYYY-MM-DD or MM/DD/YYYY), got %s", def.ID, def.Name, segmentd.Quote(s))
		}
		return segmentd.Value{Type: segmentd.FieldDate, Time: t}, true, nil
	default:
		if s == "" {
			return v, false, nil
		}
		return segmentd.Value{Type: segmentd.FieldText, Text: s}, true, nil
	}
}

// --- small JSON helpers

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

func isNumber(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && (raw[0] == '-' || '0' <= raw[0] && raw[0] <= '9')
}

// jsonString decodes a JSON string (null gives ""). It takes a fast path
// for strings without escapes, which most are.
func jsonString(raw json.RawMessage, path string) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), nil
	}
	if isNull(raw) {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", invalid(path, "%s must be a string", path)
	}
	return s, nil
}

func stringArray(raw json.RawMessage, path string) ([]string, error) {
	out := []string{}
	var err error
	ok := eachElement(raw, func(it []byte) bool {
		if isNull(it) {
			err = invalid(path+"["+strconv.Itoa(len(out))+"]", "%s[%d] must be a string", path, len(out))
			return false
		}
		var s string
		if s, err = jsonString(it, path+"["+strconv.Itoa(len(out))+"]"); err != nil {
			return false
		}
		out = append(out, s)
		return true
	})
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, invalid(path, "%s must be an array of strings", path)
	}
	return out, nil
}

func sortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
