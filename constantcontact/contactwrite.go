package constantcontact

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
)

// contactInput is the body of POST /v3/contacts (ContactPostRequest) and
// PUT /v3/contacts/{contact_id} (ContactPutRequest). Pointers and nil
// slices tell a missing key.
type contactInput struct {
	EmailAddress    *emailInput        `json:"email_address"`
	FirstName       *string            `json:"first_name"`
	LastName        *string            `json:"last_name"`
	JobTitle        *string            `json:"job_title"`
	CompanyName     *string            `json:"company_name"`
	BirthdayMonth   *int               `json:"birthday_month"`
	BirthdayDay     *int               `json:"birthday_day"`
	Anniversary     *string            `json:"anniversary"`
	CreateSource    *string            `json:"create_source"`
	UpdateSource    *string            `json:"update_source"`
	CustomFields    *[]customField     `json:"custom_fields"`
	PhoneNumbers    *[]phoneNumber     `json:"phone_numbers"`
	StreetAddresses *[]streetAddress   `json:"street_addresses"`
	ListMemberships *[]string          `json:"list_memberships"`
	Taggings        *[]string          `json:"taggings"`
	Notes           *[]json.RawMessage `json:"notes"`
	SMSChannel      json.RawMessage    `json:"sms_channel"`
}

type emailInput struct {
	Address          *string `json:"address"`
	PermissionToSend *string `json:"permission_to_send"`
}

// Constant Contact's limits on a written contact (the spec's).
const (
	maxEmailLength        = 80
	maxNameLength         = 50
	maxContactFields      = 25
	maxContactLists       = 50
	maxCustomValueLength  = 255
	maxStreetLength       = 255
	maxAddressPartLength  = 50
	maxPhoneNumberLength  = 24 // segmentd's one phone number: SendGrid's limit, under Constant Contact's 25
	maxPhoneNumbers       = 1  // segmentd keeps one (the spec allows 3)
	maxStreetAddresses    = 1  // segmentd keeps one (the spec allows 3)
	msgNotKeptYet         = "segmentd does not keep %s yet; leave it out"
	msgOneKept            = "segmentd keeps at most %d entry in %s (Constant Contact allows 3)"
	msgSourceContactOrAcc = "%s must be Contact or Account, not %s"
)

// The values the spec documents for the enumerations a contact carries.
var (
	permissions   = []string{"explicit", "implicit", "not_set", "pending_confirmation", "temp_hold", "unsubscribed"}
	phoneKinds    = []string{"home", "work", "mobile", "other"}
	addressKinds  = []string{"home", "work", "other"}
	sourceOptions = []string{"Contact", "Account"}
)

// write turns the body into the shared fields' write (docs/constantcontact.md
// "One contact, two faces"). create tells POST (create_source) from PUT
// (update_source, required). Top-level fields left out are cleared (the
// spec: "overwritten with null"); sub-resources left out are kept.
func (in *contactInput) write(fields []segmentd.FieldDefinition, create bool) (audience.CCContactWrite, error) {
	var w audience.CCContactWrite
	p := &w.Patch
	// Constant Contact-only fields segmentd does not keep yet: refused
	// rather than dropped.
	switch {
	case in.JobTitle != nil && *in.JobTitle != "":
		return w, invalid("job_title", msgNotKeptYet, "job_title")
	case in.CompanyName != nil && *in.CompanyName != "":
		return w, invalid("company_name", msgNotKeptYet, "company_name")
	case in.BirthdayMonth != nil || in.BirthdayDay != nil:
		return w, invalid("birthday_month", msgNotKeptYet, "birthdays")
	case in.Anniversary != nil && *in.Anniversary != "":
		return w, invalid("anniversary", msgNotKeptYet, "anniversary")
	case in.Notes != nil && len(*in.Notes) > 0:
		return w, invalid("notes", msgNotKeptYet, "notes")
	case len(in.SMSChannel) > 0 && string(in.SMSChannel) != "null":
		return w, invalid("sms_channel", msgNotKeptYet, "sms_channel")
	}
	if create {
		if err := checkSource("create_source", in.CreateSource, false); err != nil {
			return w, err
		}
	} else if err := checkSource("update_source", in.UpdateSource, true); err != nil {
		return w, err
	}
	if in.EmailAddress == nil || in.EmailAddress.Address == nil || strings.TrimSpace(*in.EmailAddress.Address) == "" {
		return w, invalid("email_address.address", "email_address.address is required")
	}
	email := *in.EmailAddress.Address
	if n := len([]rune(email)); n > maxEmailLength {
		return w, invalid("email_address.address", "email_address.address must be at most %d characters, not %d", maxEmailLength, n)
	}
	if pts := in.EmailAddress.PermissionToSend; pts != nil && !slices.Contains(permissions, *pts) {
		return w, invalid("email_address.permission_to_send", "email_address.permission_to_send must be one of %s, not %s", strings.Join(permissions, ", "), segmentd.Quote(*pts))
	}
	p.Email = &email
	for _, f := range []struct {
		name string
		v    *string
		dst  **string
	}{{"first_name", in.FirstName, &p.FirstName}, {"last_name", in.LastName, &p.LastName}} {
		v := ""
		if f.v != nil {
			v = *f.v
		}
		if n := len([]rune(v)); n > maxNameLength {
			return w, invalid(f.name, "%s must be at most %d characters, not %d", f.name, maxNameLength, n)
		}
		*f.dst = &v
	}
	if err := in.phone(p); err != nil {
		return w, err
	}
	if err := in.address(p); err != nil {
		return w, err
	}
	if err := in.customFields(p, fields); err != nil {
		return w, err
	}
	if in.ListMemberships != nil {
		ls := *in.ListMemberships
		if len(ls) > maxContactLists {
			return w, invalid("list_memberships", "list_memberships may hold at most %d list ids, not %d", maxContactLists, len(ls))
		}
		w.Lists = []string{}
		for i, id := range ls {
			if !segmentd.IsUUID(id) {
				return w, invalid("list_memberships", "list_memberships[%d] %s is not a list id (a UUID)", i, segmentd.Quote(id))
			}
			w.Lists = append(w.Lists, strings.ToLower(id))
		}
	}
	if in.Taggings != nil {
		ts := *in.Taggings
		if len(ts) > segmentd.MaxContactTags {
			return w, invalid("taggings", "taggings may hold at most %d tag ids, not %d", segmentd.MaxContactTags, len(ts))
		}
		w.Tags = []string{}
		for i, id := range ts {
			if !segmentd.IsUUID(id) {
				return w, invalid("taggings", "taggings[%d] %s is not a tag id (a UUID)", i, segmentd.Quote(id))
			}
			w.Tags = append(w.Tags, strings.ToLower(id))
		}
	}
	return w, nil
}

func checkSource(name string, v *string, required bool) error {
	if v == nil {
		if required {
			return invalid(name, "%s is required", name)
		}
		return nil
	}
	if !slices.Contains(sourceOptions, *v) {
		return invalid(name, msgSourceContactOrAcc, name, segmentd.Quote(*v))
	}
	return nil
}

// phone maps phone_numbers, when given, to segmentd's one phone number.
func (in *contactInput) phone(p *segmentd.ContactPatch) error {
	if in.PhoneNumbers == nil {
		return nil
	}
	ps := *in.PhoneNumbers
	if len(ps) > maxPhoneNumbers {
		return invalid("phone_numbers", msgOneKept, maxPhoneNumbers, "phone_numbers")
	}
	v := ""
	if len(ps) == 1 {
		if ps[0].Kind != "" && !slices.Contains(phoneKinds, ps[0].Kind) {
			return invalid("phone_numbers[0].kind", "phone_numbers[0].kind must be one of %s, not %s", strings.Join(phoneKinds, ", "), segmentd.Quote(ps[0].Kind))
		}
		v = ps[0].PhoneNumber
		if n := len([]rune(v)); n > maxPhoneNumberLength {
			return invalid("phone_numbers[0].phone_number", "phone_numbers[0].phone_number must be at most %d characters, not %d", maxPhoneNumberLength, n)
		}
	}
	p.PhoneNumber = &v
	return nil
}

// address maps street_addresses, when given, to segmentd's one postal
// address: street is address lines 1 and 2, split at its first newline.
func (in *contactInput) address(p *segmentd.ContactPatch) error {
	if in.StreetAddresses == nil {
		return nil
	}
	as := *in.StreetAddresses
	if len(as) > maxStreetAddresses {
		return invalid("street_addresses", msgOneKept, maxStreetAddresses, "street_addresses")
	}
	var a streetAddress
	if len(as) == 1 {
		a = as[0]
		if !slices.Contains(addressKinds, a.Kind) {
			return invalid("street_addresses[0].kind", "street_addresses[0].kind must be one of %s, not %s", strings.Join(addressKinds, ", "), segmentd.Quote(a.Kind))
		}
		for _, f := range []struct {
			name string
			v    string
			max  int
		}{{"street", a.Street, maxStreetLength}, {"city", a.City, maxAddressPartLength}, {"state", a.State, maxAddressPartLength},
			{"postal_code", a.PostalCode, maxAddressPartLength}, {"country", a.Country, maxAddressPartLength}} {
			if n := len([]rune(f.v)); n > f.max {
				return invalid("street_addresses[0]."+f.name, "street_addresses[0].%s must be at most %d characters, not %d", f.name, f.max, n)
			}
		}
	}
	line1, line2, _ := strings.Cut(a.Street, "\n")
	p.AddressLine1, p.AddressLine2 = &line1, &line2
	p.City, p.StateProvinceRegion, p.PostalCode, p.Country = &a.City, &a.State, &a.PostalCode, &a.Country
	return nil
}

// customFields maps custom_fields, when given, to values by segmentd's
// field ids: every field of the account is set to its value there, or
// cleared.
func (in *contactInput) customFields(p *segmentd.ContactPatch, fields []segmentd.FieldDefinition) error {
	if in.CustomFields == nil {
		return nil
	}
	cfs := *in.CustomFields
	if len(cfs) > maxContactFields {
		return invalid("custom_fields", "custom_fields may hold at most %d values, not %d", maxContactFields, len(cfs))
	}
	byUUID := make(map[string]segmentd.FieldDefinition, len(fields))
	p.CustomFields = make(map[string]*segmentd.Value, len(fields))
	for _, f := range fields {
		byUUID[customFieldUUID(f.ID)] = f
		p.CustomFields[f.ID] = nil
	}
	for i, cf := range cfs {
		path := fmt.Sprintf("custom_fields[%d]", i)
		f, ok := byUUID[strings.ToLower(cf.CustomFieldID)]
		if !ok {
			return invalid(path+".custom_field_id", "%s.custom_field_id: custom field %s does not exist", path, segmentd.Quote(cf.CustomFieldID))
		}
		if n := len([]rune(cf.Value)); n > maxCustomValueLength {
			return invalid(path+".value", "%s.value must be at most %d characters, not %d", path, maxCustomValueLength, n)
		}
		v, err := fieldValue(f, cf.Value, path)
		if err != nil {
			return err
		}
		p.CustomFields[f.ID] = v
	}
	return nil
}

// fieldValue reads a Constant Contact value, always a string, as the
// field's type: Text as is, Number as a decimal number, Date as a date
// (YYYY-MM-DD, MM/DD/YYYY or RFC 3339). An empty value clears the field.
func fieldValue(f segmentd.FieldDefinition, s, path string) (*segmentd.Value, error) {
	if s == "" {
		return nil, nil
	}
	switch f.Type {
	case segmentd.FieldNumber:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil || strings.ContainsAny(s, "eEnNiIxX_") {
			return nil, invalid(path+".value", "%s.value: custom field %s takes a decimal number, not %s", path, segmentd.Quote(f.Name), segmentd.Quote(s))
		}
		return &segmentd.Value{Type: segmentd.FieldNumber, Number: n}, nil
	case segmentd.FieldDate:
		t, ok := segmentd.ParseDate(s)
		if !ok {
			return nil, invalid(path+".value", "%s.value: custom field %s takes a date (YYYY-MM-DD, MM/DD/YYYY or RFC 3339), not %s", path, segmentd.Quote(f.Name), segmentd.Quote(s))
		}
		return &segmentd.Value{Type: segmentd.FieldDate, Time: t}, nil
	}
	return &segmentd.Value{Type: segmentd.FieldText, Text: s}, nil
}

func (h *handler) createContact(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var in contactInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	fields, err := h.svc.FieldDefinitions(r.Context(), acct.ID)
	if err != nil {
		return err
	}
	cw, err := in.write(fields, true)
	if err != nil {
		return err
	}
	c, err := h.svc.CreateCCContact(r.Context(), acct.ID, cw)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, renderContact(c, includes))
}

// contactID reads the path's contact_id, a UUID (the route's kind), in
// lower case.
func contactID(r *http.Request) (string, error) {
	return strings.ToLower(r.PathValue("contact_id")), nil
}

func (h *handler) updateContact(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := contactID(r)
	if err != nil {
		return err
	}
	if _, err := h.svc.Contact(r.Context(), acct.ID, id); err != nil {
		return err
	}
	var in contactInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	fields, err := h.svc.FieldDefinitions(r.Context(), acct.ID)
	if err != nil {
		return err
	}
	cw, err := in.write(fields, false)
	if err != nil {
		return err
	}
	c, err := h.svc.UpdateCCContact(r.Context(), acct.ID, id, cw)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, renderContact(c, includes))
}

func (h *handler) deleteContact(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := contactID(r)
	if err != nil {
		return err
	}
	if err := h.svc.DeleteCCContact(r.Context(), acct.ID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
