package constantcontact

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
)

// contactInput is the body of POST /v3/contacts (ContactPostRequest) and
// PUT /v3/contacts/{contact_id} (ContactPutRequest). Pointers and nil
// slices tell a missing key.
type contactInput struct {
	EmailAddress    *emailInput      `json:"email_address"`
	FirstName       *string          `json:"first_name"`
	LastName        *string          `json:"last_name"`
	JobTitle        *string          `json:"job_title"`
	CompanyName     *string          `json:"company_name"`
	BirthdayMonth   *int             `json:"birthday_month"`
	BirthdayDay     *int             `json:"birthday_day"`
	Anniversary     *string          `json:"anniversary"`
	CreateSource    *string          `json:"create_source"`
	UpdateSource    *string          `json:"update_source"`
	CustomFields    *[]customField   `json:"custom_fields"`
	PhoneNumbers    *[]phoneNumber   `json:"phone_numbers"`
	StreetAddresses *[]streetAddress `json:"street_addresses"`
	ListMemberships *[]string        `json:"list_memberships"`
	Taggings        *[]string        `json:"taggings"`
	Notes           *[]note          `json:"notes"`
	SMSChannel      json.RawMessage  `json:"sms_channel"`
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
	maxPhoneNumberLength  = 24 // the first phone number, shared with SendGrid: its limit, under Constant Contact's 25
	msgNotKeptYet         = "segmentd does not keep %s yet; leave it out"
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
func (in *contactInput) write(fields []segmentd.FieldDefinition, create bool, now time.Time) (audience.CCContactWrite, error) {
	var w audience.CCContactWrite
	p := &w.Patch
	// A Constant Contact-only field segmentd does not keep yet: refused
	// rather than dropped.
	if len(in.SMSChannel) > 0 && string(in.SMSChannel) != "null" {
		return w, invalid("sms_channel", msgNotKeptYet, "sms_channel")
	}
	if create {
		if err := checkSource("create_source", in.CreateSource, false); err != nil {
			return w, err
		}
		if in.CreateSource != nil {
			w.Source = *in.CreateSource
		}
	} else {
		if err := checkSource("update_source", in.UpdateSource, true); err != nil {
			return w, err
		}
		w.Source = *in.UpdateSource
	}
	if err := in.details(&w, now); err != nil {
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
	if pts := in.EmailAddress.PermissionToSend; pts != nil {
		w.CC.Permission = *pts
	} else {
		w.KeepPermission = true
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
	if err := in.phone(&w); err != nil {
		return w, err
	}
	if err := in.address(&w); err != nil {
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

// phone maps phone_numbers, when given: the first number is segmentd's
// phone number, which SendGrid's face shares, its kind and the others
// (up to 3 in all) Constant Contact-only attributes.
func (in *contactInput) phone(w *audience.CCContactWrite) error {
	if in.PhoneNumbers == nil {
		w.KeepPhones = true
		return nil
	}
	ps := *in.PhoneNumbers
	if len(ps) > segmentd.MaxCCPhones {
		return invalid("phone_numbers", "phone_numbers may hold at most %d entries, not %d", segmentd.MaxCCPhones, len(ps))
	}
	v := ""
	for i, ph := range ps {
		path := fmt.Sprintf("phone_numbers[%d]", i)
		if ph.Kind != "" && !slices.Contains(phoneKinds, ph.Kind) {
			return invalid(path+".kind", "%s.kind must be one of %s, not %s", path, strings.Join(phoneKinds, ", "), segmentd.Quote(ph.Kind))
		}
		limit := segmentd.MaxCCPhoneLength
		if i == 0 {
			limit = maxPhoneNumberLength
		}
		if n := len([]rune(ph.PhoneNumber)); n > limit {
			return invalid(path+".phone_number", "%s.phone_number must be at most %d characters, not %d", path, limit, n)
		}
		if strings.TrimSpace(ph.PhoneNumber) == "" {
			return invalid(path+".phone_number", "%s.phone_number is required", path)
		}
		if err := segmentd.CheckText(path+".phone_number", ph.PhoneNumber); err != nil {
			return err
		}
		if i == 0 {
			v, w.CC.PhoneKind = ph.PhoneNumber, ph.Kind
			continue
		}
		w.CC.Phones = append(w.CC.Phones, segmentd.CCPhone{Number: ph.PhoneNumber, Kind: ph.Kind})
	}
	w.Patch.PhoneNumber = &v
	return nil
}

// address maps street_addresses, when given: the first is segmentd's
// postal address, which SendGrid's face shares (street is address lines 1
// and 2, split at its first newline), its kind and the others (up to 3 in
// all) Constant Contact-only attributes.
func (in *contactInput) address(w *audience.CCContactWrite) error {
	p := &w.Patch
	if in.StreetAddresses == nil {
		w.KeepAddresses = true
		return nil
	}
	as := *in.StreetAddresses
	if len(as) > segmentd.MaxCCAddresses {
		return invalid("street_addresses", "street_addresses may hold at most %d entries, not %d", segmentd.MaxCCAddresses, len(as))
	}
	var first streetAddress
	for i, a := range as {
		path := fmt.Sprintf("street_addresses[%d]", i)
		if !slices.Contains(addressKinds, a.Kind) {
			return invalid(path+".kind", "%s.kind must be one of %s, not %s", path, strings.Join(addressKinds, ", "), segmentd.Quote(a.Kind))
		}
		for _, f := range []struct {
			name string
			v    string
			max  int
		}{{"street", a.Street, segmentd.MaxCCStreetLength}, {"city", a.City, segmentd.MaxCCAddressPartChar}, {"state", a.State, segmentd.MaxCCAddressPartChar},
			{"postal_code", a.PostalCode, segmentd.MaxCCAddressPartChar}, {"country", a.Country, segmentd.MaxCCAddressPartChar}} {
			if n := len([]rune(f.v)); n > f.max {
				return invalid(path+"."+f.name, "%s.%s must be at most %d characters, not %d", path, f.name, f.max, n)
			}
			if err := segmentd.CheckText(path+"."+f.name, f.v); err != nil {
				return err
			}
		}
		if i == 0 {
			first, w.CC.AddressKind = a, a.Kind
			continue
		}
		w.CC.Addresses = append(w.CC.Addresses, segmentd.CCAddress{Kind: a.Kind, Street: a.Street, City: a.City, State: a.State, PostalCode: a.PostalCode, Country: a.Country})
	}
	line1, line2, _ := strings.Cut(first.Street, "\n")
	p.AddressLine1, p.AddressLine2 = &line1, &line2
	p.City, p.StateProvinceRegion, p.PostalCode, p.Country = &first.City, &first.State, &first.PostalCode, &first.Country
	return nil
}

// note is a Note of a write: note_id and created_at, when given, are kept
// (a note read back and sent again keeps its id).
type note struct {
	NoteID    string `json:"note_id"`
	CreatedAt string `json:"created_at"`
	Content   string `json:"content"`
}

// anniversaryLayouts are the date forms Constant Contact documents for
// anniversary (Go's 1 and 2 take one or two digits).
var anniversaryLayouts = []string{"1/2/2006", "2006/1/2", "2006-1-2", "1-2-2006"}

// details reads the Constant Contact-only top-level fields and notes,
// within the spec's limits. Top-level fields left out are cleared; notes
// left out are kept.
func (in *contactInput) details(w *audience.CCContactWrite, now time.Time) error {
	d := &w.CC
	for _, f := range []struct {
		name string
		v    *string
		dst  *string
	}{{"job_title", in.JobTitle, &d.JobTitle}, {"company_name", in.CompanyName, &d.CompanyName}} {
		if f.v == nil {
			continue
		}
		if err := checkTitle(f.name, *f.v); err != nil {
			return err
		}
		*f.dst = *f.v
	}
	if given, err := checkBirthday(in.BirthdayMonth, in.BirthdayDay); err != nil {
		return err
	} else if given {
		d.BirthdayMonth, d.BirthdayDay = *in.BirthdayMonth, *in.BirthdayDay
	}
	if a := in.Anniversary; a != nil && *a != "" {
		if err := checkAnniversary("anniversary", *a); err != nil {
			return err
		}
		d.Anniversary = *a
	}
	if in.Notes == nil {
		w.KeepNotes = true
		return nil
	}
	ns := *in.Notes
	if len(ns) > segmentd.MaxCCNotes {
		return invalid("notes", "notes may hold at most %d notes, not %d", segmentd.MaxCCNotes, len(ns))
	}
	for i, n := range ns {
		path := fmt.Sprintf("notes[%d]", i)
		if l := len([]rune(n.Content)); l > segmentd.MaxCCNoteLength {
			return invalid(path+".content", "%s.content must be at most %d characters, not %d", path, segmentd.MaxCCNoteLength, l)
		}
		if err := segmentd.CheckText(path+".content", n.Content); err != nil {
			return err
		}
		cn := segmentd.CCNote{ID: strings.ToLower(n.NoteID), CreatedAt: now, Content: n.Content}
		if cn.ID == "" {
			cn.ID = segmentd.NewID()
		} else if !segmentd.IsUUID(cn.ID) {
			return invalid(path+".note_id", "%s.note_id %s is not a UUID", path, segmentd.Quote(n.NoteID))
		}
		if n.CreatedAt != "" {
			t, err := time.Parse(time.RFC3339Nano, n.CreatedAt)
			if err != nil {
				return invalid(path+".created_at", "%s.created_at must be an ISO-8601 date and time, not %s", path, segmentd.Quote(n.CreatedAt))
			}
			cn.CreatedAt = t.UTC()
		}
		d.Notes = append(d.Notes, cn)
	}
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
	cw, err := in.write(fields, true, h.svc.Clock().Now())
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
	if _, err := h.svc.Contact(r.Context(), acct.ID, id); segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
		// A contact this face deleted is revived by the PUT.
		if _, derr := h.svc.DeletedCCContact(r.Context(), acct.ID, id); derr != nil {
			return err
		}
	} else if err != nil {
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
	cw, err := in.write(fields, false, h.svc.Clock().Now())
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

// checkTitle checks a job title or company name, which share one limit.
func checkTitle(name, v string) error {
	if n := len([]rune(v)); n > segmentd.MaxCCTitleLength {
		return invalid(name, "%s must be at most %d characters, not %d", name, segmentd.MaxCCTitleLength, n)
	}
	return segmentd.CheckText(name, v)
}

// checkBirthday checks a birthday's month and day, given both or neither;
// given says whether there is one.
func checkBirthday(m, day *int) (given bool, err error) {
	switch {
	case m == nil && day == nil:
		return false, nil
	case m == nil || day == nil:
		return false, invalid("birthday_month", "birthday_month and birthday_day must be given together")
	case *m < 1 || *m > 12:
		return false, invalid("birthday_month", "birthday_month must be from 1 to 12, not %d", *m)
	case *day < 1 || *day > 31:
		return false, invalid("birthday_day", "birthday_day must be from 1 to 31, not %d", *day)
	}
	return true, nil
}
