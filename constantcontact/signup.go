package constantcontact

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
)

// signUpInput is the spec's ContactCreateOrUpdateInput, the body of
// POST /v3/contacts/sign_up_form.
type signUpInput struct {
	EmailAddress    *string         `json:"email_address"`
	FirstName       *string         `json:"first_name"`
	LastName        *string         `json:"last_name"`
	JobTitle        *string         `json:"job_title"`
	CompanyName     *string         `json:"company_name"`
	PhoneNumber     *string         `json:"phone_number"`
	ListMemberships *[]string       `json:"list_memberships"`
	CustomFields    *[]customField  `json:"custom_fields"`
	Anniversary     *string         `json:"anniversary"`
	BirthdayMonth   *int            `json:"birthday_month"`
	BirthdayDay     *int            `json:"birthday_day"`
	StreetAddress   *streetAddress  `json:"street_address"`
	SMSChannel      json.RawMessage `json:"sms_channel"`
}

// The sign-up form's limits (the spec's ContactCreateOrUpdateInput).
const (
	maxSignUpEmailLength = 50
	maxSignUpFields      = 50
	maxSignUpPhoneLength = 25
)

// signUpResponse is ContactCreateOrUpdateResponse.
type signUpResponse struct {
	ContactID string `json:"contact_id"`
	Action    string `json:"action"`
}

// write turns the form into a partial write: only the fields given are
// set, custom fields given are set and the others kept, and the lists are
// added to the contact's.
func (in *signUpInput) write(fields []segmentd.FieldDefinition) (audience.CCContactWrite, error) {
	var w audience.CCContactWrite
	p := &w.Patch
	if len(in.SMSChannel) > 0 && string(in.SMSChannel) != "null" {
		return w, invalid("sms_channel", msgNotKeptYet, "sms_channel")
	}
	if err := in.details(&w.Merge); err != nil {
		return w, err
	}
	if in.EmailAddress == nil || strings.TrimSpace(*in.EmailAddress) == "" {
		return w, invalid("email_address", "email_address is required (segmentd matches contacts by email)")
	}
	if n := len([]rune(*in.EmailAddress)); n > maxSignUpEmailLength {
		return w, invalid("email_address", "email_address must be at most %d characters, not %d", maxSignUpEmailLength, n)
	}
	p.Email = in.EmailAddress
	for _, f := range []struct {
		name string
		v    *string
		dst  **string
		max  int
	}{{"first_name", in.FirstName, &p.FirstName, maxNameLength}, {"last_name", in.LastName, &p.LastName, maxNameLength},
		{"phone_number", in.PhoneNumber, &p.PhoneNumber, maxSignUpPhoneLength}} {
		if f.v == nil {
			continue
		}
		if n := len([]rune(*f.v)); n > f.max {
			return w, invalid(f.name, "%s must be at most %d characters, not %d", f.name, f.max, n)
		}
		*f.dst = f.v
	}
	if in.StreetAddress != nil {
		as := []streetAddress{*in.StreetAddress}
		ci := contactInput{StreetAddresses: &as}
		if err := ci.address(&w); err != nil {
			return w, fieldRenamed(err, "street_addresses[0]", "street_address")
		}
		w.Merge.AddressKind = &in.StreetAddress.Kind
	}
	if in.CustomFields != nil {
		cfs := *in.CustomFields
		if len(cfs) > maxSignUpFields {
			return w, invalid("custom_fields", "custom_fields may hold at most %d values, not %d", maxSignUpFields, len(cfs))
		}
		byUUID := make(map[string]segmentd.FieldDefinition, len(fields))
		for _, f := range fields {
			byUUID[customFieldUUID(f.ID)] = f
		}
		p.CustomFields = map[string]*segmentd.Value{}
		for i, cf := range cfs {
			path := fmt.Sprintf("custom_fields[%d]", i)
			f, ok := byUUID[strings.ToLower(cf.CustomFieldID)]
			if !ok {
				return w, invalid(path+".custom_field_id", "%s.custom_field_id: custom field %s does not exist", path, segmentd.Quote(cf.CustomFieldID))
			}
			if n := len([]rune(cf.Value)); n > maxCustomValueLength {
				return w, invalid(path+".value", "%s.value must be at most %d characters, not %d", path, maxCustomValueLength, n)
			}
			v, err := fieldValue(f, cf.Value, path)
			if err != nil {
				return w, err
			}
			p.CustomFields[f.ID] = v
		}
	}
	if in.ListMemberships == nil || len(*in.ListMemberships) == 0 {
		return w, invalid("list_memberships", "list_memberships is required: at least one list id")
	}
	ls := *in.ListMemberships
	if len(ls) > maxContactLists {
		return w, invalid("list_memberships", "list_memberships may hold at most %d list ids, not %d", maxContactLists, len(ls))
	}
	for i, id := range ls {
		if !segmentd.IsUUID(id) {
			return w, invalid("list_memberships", "list_memberships[%d] %s is not a list id (a UUID)", i, segmentd.Quote(id))
		}
		w.Lists = append(w.Lists, strings.ToLower(id))
	}
	return w, nil
}

// details reads the form's Constant Contact-only attributes, which are
// set on the contact when given and kept otherwise.
func (in *signUpInput) details(d *audience.CCDetailsPatch) error {
	for _, f := range []struct {
		name string
		v    *string
		dst  **string
	}{{"job_title", in.JobTitle, &d.JobTitle}, {"company_name", in.CompanyName, &d.CompanyName}} {
		if f.v == nil || *f.v == "" {
			continue
		}
		if err := checkTitle(f.name, *f.v); err != nil {
			return err
		}
		*f.dst = f.v
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
		d.Anniversary = a
	}
	return nil
}

// fieldRenamed rewrites the field an error names (the sign-up form's
// street_address is the contact body's street_addresses[0]).
func fieldRenamed(err error, from, to string) error {
	e, ok := err.(*segmentd.Error)
	if !ok {
		return err
	}
	return invalid(strings.Replace(e.Field, from, to, 1), "%s", strings.ReplaceAll(e.Message, from, to))
}

// signUp is POST /v3/contacts/sign_up_form: 201 when it created the
// contact, 200 when it updated one.
func (h *handler) signUp(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var in signUpInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	fields, err := h.svc.FieldDefinitions(r.Context(), acct.ID)
	if err != nil {
		return err
	}
	cw, err := in.write(fields)
	if err != nil {
		return err
	}
	c, created, err := h.svc.SignUpCCContact(r.Context(), acct.ID, cw)
	if err != nil {
		return err
	}
	if created {
		return writeJSON(w, http.StatusCreated, signUpResponse{ContactID: c.ID, Action: "created"})
	}
	return writeJSON(w, http.StatusOK, signUpResponse{ContactID: c.ID, Action: "updated"})
}

// contactsCounts is the spec's ContactsCounts. segmentd keeps no consent
// state: every contact reads implicit, as its permission_to_send does.
type contactsCounts struct {
	Total         int  `json:"total"`
	Explicit      int  `json:"explicit"`
	Implicit      int  `json:"implicit"`
	Pending       int  `json:"pending"`
	Unsubscribed  int  `json:"unsubscribed"`
	NewSubscriber *int `json:"new_subscriber,omitempty"`
}

// countContacts is GET /v3/contacts/counts: the account's contacts by
// consent state, from the engine. new_subscriber (include=new_subscriber)
// counts contacts who subscribed in the last 30 days: none, since no
// contact of segmentd's gave explicit permission.
func (h *handler) countContacts(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var out contactsCounts
	switch inc := r.URL.Query().Get("include"); inc {
	case "":
	case "new_subscriber":
		out.NewSubscriber = new(int)
	default:
		return invalid("include", "include may be new_subscriber, not %s", segmentd.Quote(inc))
	}
	n, err := h.svc.CountContacts(r.Context(), acct.ID)
	if err != nil {
		return err
	}
	out.Total, out.Implicit = n, n
	return writeJSON(w, http.StatusOK, out)
}
