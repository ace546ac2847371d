package segmentd

import (
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Contact is a stored marketing contact. Unset text fields are "" here and
// NULL in the stores (docs/decisions.md §7).
type Contact struct {
	ID string

	// Identifiers: a contact has at least one.
	Email         string // lower-cased
	PhoneNumberID string
	ExternalID    string
	AnonymousID   string

	AlternateEmails []string // lower-cased, at most MaxAlternateEmails

	FirstName           string
	LastName            string
	AddressLine1        string
	AddressLine2        string
	City                string
	StateProvinceRegion string
	PostalCode          string
	Country             string
	PhoneNumber         string
	WhatsApp            string
	Line                string
	Facebook            string
	UniqueName          string

	// CustomFields holds set custom field values by field id.
	CustomFields map[string]Value

	// ListIDs are the lists the contact is on, sorted.
	ListIDs []string

	// TagIDs are the Constant Contact tags the contact has (its
	// taggings), sorted. Only TagStore's tagging methods change them: an
	// upsert keeps them as they are.
	TagIDs []string

	// CC are the attributes only Constant Contact has; the stores fill
	// them on every read, the engine never does.
	CC CCDetails

	// SegmentIDs are the live segments the contact is in. The membership
	// engine fills them on read; stores never do.
	SegmentIDs []string

	CreatedAt time.Time
	UpdatedAt time.Time
}

// Value is a custom field value. Exactly the member matching Type is used.
type Value struct {
	Type   FieldType
	Text   string
	Number float64
	Time   time.Time
}

// IdentifierType names one of the four contact identifiers.
type IdentifierType string

const (
	IdentifierEmail         IdentifierType = "email"
	IdentifierPhoneNumberID IdentifierType = "phone_number_id"
	IdentifierExternalID    IdentifierType = "external_id"
	IdentifierAnonymousID   IdentifierType = "anonymous_id"
)

// Identifiers lists the identifier types in a fixed order.
var Identifiers = []IdentifierType{IdentifierEmail, IdentifierPhoneNumberID, IdentifierExternalID, IdentifierAnonymousID}

// Identifier returns the contact's value of identifier t ("" when unset).
func (c *Contact) Identifier(t IdentifierType) string {
	switch t {
	case IdentifierEmail:
		return c.Email
	case IdentifierPhoneNumberID:
		return c.PhoneNumberID
	case IdentifierExternalID:
		return c.ExternalID
	case IdentifierAnonymousID:
		return c.AnonymousID
	}
	return ""
}

// SetIdentifier sets identifier t to v ("" clears it).
func (c *Contact) SetIdentifier(t IdentifierType, v string) {
	switch t {
	case IdentifierEmail:
		c.Email = v
	case IdentifierPhoneNumberID:
		c.PhoneNumberID = v
	case IdentifierExternalID:
		c.ExternalID = v
	case IdentifierAnonymousID:
		c.AnonymousID = v
	}
}

// HasIdentifier reports whether the contact has any identifier left.
func (c *Contact) HasIdentifier() bool {
	return c.Email != "" || c.PhoneNumberID != "" || c.ExternalID != "" || c.AnonymousID != ""
}

// Limits of a contact upsert (docs/sendgrid.md "Contacts").
const (
	MaxUpsertContacts  = 30000
	MaxUpsertBytes     = 6 << 20
	MaxAlternateEmails = 5
	MaxTextFieldLength = 1000 // custom Text values (2021 UI docs)
)

// Limits of the contact reads and deletes.
const (
	// MaxBatchIDs bounds POST /contacts/batch and search by identifiers.
	MaxBatchIDs = 100
	// MaxSearchEmails bounds POST /contacts/search/emails (segmentd's
	// limit; SendGrid states none).
	MaxSearchEmails = 100
	// MaxDeleteIDs bounds DELETE /contacts?ids= (segmentd's limit;
	// SendGrid states none).
	MaxDeleteIDs = 30000
	// MaxSearchResults is how many matches contacts search returns
	// (SendGrid returns the first 50 plus the total count).
	MaxSearchResults = 50
)

// ContactPatch is one contact of an upsert. A nil pointer means "leave as
// it is"; a pointer to "" clears the field. It has been validated by
// ValidatePatch before a store sees it.
type ContactPatch struct {
	Email         *string
	PhoneNumberID *string
	ExternalID    *string
	AnonymousID   *string

	AlternateEmails *[]string

	FirstName           *string
	LastName            *string
	AddressLine1        *string
	AddressLine2        *string
	City                *string
	StateProvinceRegion *string
	PostalCode          *string
	Country             *string
	PhoneNumber         *string
	WhatsApp            *string
	Line                *string
	Facebook            *string
	UniqueName          *string

	// CustomFields sets (or, with a nil value, clears) custom fields by id.
	CustomFields map[string]*Value
}

// Identifier returns the patch's value of identifier t and whether it was given.
func (p *ContactPatch) Identifier(t IdentifierType) (string, bool) {
	var v *string
	switch t {
	case IdentifierEmail:
		v = p.Email
	case IdentifierPhoneNumberID:
		v = p.PhoneNumberID
	case IdentifierExternalID:
		v = p.ExternalID
	case IdentifierAnonymousID:
		v = p.AnonymousID
	}
	if v == nil || *v == "" {
		return "", false
	}
	return *v, true
}

// textField ties a patch field to a contact field with its length limit, so
// validation and merging walk one table.
type textField struct {
	name  string
	max   int // 0: no limit stated by SendGrid
	patch func(*ContactPatch) *string
	dst   func(*Contact) *string
}

var textFields = []textField{
	{"first_name", 50, func(p *ContactPatch) *string { return p.FirstName }, func(c *Contact) *string { return &c.FirstName }},
	{"last_name", 50, func(p *ContactPatch) *string { return p.LastName }, func(c *Contact) *string { return &c.LastName }},
	{"address_line_1", 100, func(p *ContactPatch) *string { return p.AddressLine1 }, func(c *Contact) *string { return &c.AddressLine1 }},
	{"address_line_2", 100, func(p *ContactPatch) *string { return p.AddressLine2 }, func(c *Contact) *string { return &c.AddressLine2 }},
	{"city", 60, func(p *ContactPatch) *string { return p.City }, func(c *Contact) *string { return &c.City }},
	{"state_province_region", 50, func(p *ContactPatch) *string { return p.StateProvinceRegion }, func(c *Contact) *string { return &c.StateProvinceRegion }},
	{"postal_code", 60, func(p *ContactPatch) *string { return p.PostalCode }, func(c *Contact) *string { return &c.PostalCode }},
	{"country", 50, func(p *ContactPatch) *string { return p.Country }, func(c *Contact) *string { return &c.Country }},
	{"phone_number", 24, func(p *ContactPatch) *string { return p.PhoneNumber }, func(c *Contact) *string { return &c.PhoneNumber }},
	{"whatsapp", 254, func(p *ContactPatch) *string { return p.WhatsApp }, func(c *Contact) *string { return &c.WhatsApp }},
	{"line", 254, func(p *ContactPatch) *string { return p.Line }, func(c *Contact) *string { return &c.Line }},
	{"facebook", 254, func(p *ContactPatch) *string { return p.Facebook }, func(c *Contact) *string { return &c.Facebook }},
	{"unique_name", 254, func(p *ContactPatch) *string { return p.UniqueName }, func(c *Contact) *string { return &c.UniqueName }},
	{"phone_number_id", 254, func(p *ContactPatch) *string { return p.PhoneNumberID }, func(c *Contact) *string { return &c.PhoneNumberID }},
	{"external_id", 254, func(p *ContactPatch) *string { return p.ExternalID }, func(c *Contact) *string { return &c.ExternalID }},
	{"anonymous_id", 254, func(p *ContactPatch) *string { return p.AnonymousID }, func(c *Contact) *string { return &c.AnonymousID }},
	{"email", 254, func(p *ContactPatch) *string { return p.Email }, func(c *Contact) *string { return &c.Email }},
}

// ValidEmail reports whether s is a plain address (no display name) that
// SendGrid would accept.
func ValidEmail(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, " <>\t\r\n") {
		return false
	}
	if !plainEmail(s) {
		a, err := mail.ParseAddress(s)
		if err != nil || a.Address != s {
			return false
		}
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".")
}

// plainEmail reports whether s is local@domain with each part dot-separated
// runs of lower-case letters, digits, '-', '_' (local part also '+'), which
// is how nearly every address is written: net/mail's ParseAddress accepts
// every such s and gives it back unchanged (TestPlainEmail), at a fraction
// of its cost (it was 40 % of validating an upsert's contact).
func plainEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	return at > 0 && dotRuns(s[:at], true) && dotRuns(s[at+1:], false)
}

// dotRuns reports whether s is one or more non-empty runs of plainEmail's
// characters joined by single dots.
func dotRuns(s string, local bool) bool {
	run := 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '-', c == '_', local && c == '+':
			run++
		case c == '.' && run > 0:
			run = 0
		default:
			return false
		}
	}
	return run > 0
}

// NormalizeEmail lower-cases an address and trims spaces, as SendGrid does
// on every write and lookup.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ValidatePatch checks one upsert contact against SendGrid's rules and
// normalises it in place (emails lower-cased). prefix is the JSON path of the
// contact ("contacts[3]") for error fields, or "" when the contact is not
// in a JSON document (a row of a CSV import): the fields are then named
// alone ("email", "custom_fields.w1"). fields are the account's custom
// field definitions by id.
func ValidatePatch(p *ContactPatch, prefix string, fields map[string]FieldDefinition) error {
	for _, f := range textFields {
		v := f.patch(p)
		if v == nil {
			continue
		}
		if f.max > 0 && len([]rune(*v)) > f.max {
			return Errorf(KindInvalid, fieldPath(prefix, f.name), "%s must be at most %d characters", f.name, f.max)
		}
		check := CheckText
		if slices.Contains(Identifiers, IdentifierType(f.name)) {
			check = CheckName
		}
		// The path only names the field in an error: built then, not for
		// every field of every contact.
		if check(f.name, *v) != nil {
			return check(fieldPath(prefix, f.name), *v)
		}
	}
	if p.Email != nil && *p.Email != "" {
		e := NormalizeEmail(*p.Email)
		if !ValidEmail(e) {
			return Errorf(KindInvalid, fieldPath(prefix, "email"), "email %s is not a valid email address", Quote(*p.Email))
		}
		p.Email = &e
	}
	if p.AlternateEmails != nil {
		if len(*p.AlternateEmails) > MaxAlternateEmails {
			return Errorf(KindInvalid, fieldPath(prefix, "alternate_emails"), "alternate_emails may hold at most %d addresses", MaxAlternateEmails)
		}
		out := make([]string, 0, len(*p.AlternateEmails))
		for i, a := range *p.AlternateEmails {
			if err := CheckName(fieldPath(prefix, "alternate_emails["+strconv.Itoa(i)+"]"), a); err != nil {
				return err
			}
			e := NormalizeEmail(a)
			if !ValidEmail(e) {
				return Errorf(KindInvalid, fieldPath(prefix, "alternate_emails"), "alternate_emails[%d] %s is not a valid email address", i, Quote(a))
			}
			out = append(out, e)
		}
		p.AlternateEmails = &out
	}
	if _, ok := p.Identifier(IdentifierEmail); !ok {
		any := false
		for _, t := range Identifiers[1:] {
			if _, ok := p.Identifier(t); ok {
				any = true
			}
		}
		if !any {
			return Errorf(KindInvalid, prefix, "contact must have at least one identifier: email, phone_number_id, external_id or anonymous_id")
		}
	}
	for id, v := range p.CustomFields {
		def, ok := fields[id]
		if !ok {
			return Errorf(KindInvalid, fieldPath(prefix, "custom_fields."+Clip(id)), "custom field %s does not exist", Quote(id))
		}
		if v == nil {
			continue
		}
		if v.Type != def.Type {
			return Errorf(KindInvalid, fieldPath(prefix, "custom_fields."+id), "custom field %q (%s) must be a %s value", id, def.Name, def.Type)
		}
		if def.Type == FieldText && len([]rune(v.Text)) > MaxTextFieldLength {
			return Errorf(KindInvalid, fieldPath(prefix, "custom_fields."+id), "custom field %q must be at most %d characters", id, MaxTextFieldLength)
		}
		if def.Type == FieldText && CheckText(id, v.Text) != nil {
			return CheckText(fieldPath(prefix, "custom_fields."+id), v.Text)
		}
	}
	return nil
}

// fieldPath is the path of a contact's field name under prefix.
func fieldPath(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// ApplyPatch merges a validated patch into c (a copy of the stored contact,
// or a zero Contact for a new one). It returns an error when the patch may
// not update this contact: SendGrid requires every identifier the contact
// already has to be present, with the same value, to update it. A new
// contact gets newID, which the store chooses (ignored for an existing one).
//
// changed reports whether c is new or a field of it changed; only then is
// UpdatedAt set to now. A patch that changes no field (a client re-sending
// a contact to add it to lists: an upsert's list_ids apply to every contact
// of the request) leaves UpdatedAt, so a store need only add the list
// memberships (docs/sendgrid.md, "Contacts").
func ApplyPatch(c *Contact, p *ContactPatch, listIDs []string, newID string, now time.Time) (changed bool, err error) {
	if c.ID != "" {
		for _, t := range Identifiers {
			have := c.Identifier(t)
			if have == "" {
				continue
			}
			got, ok := p.Identifier(t)
			if !ok {
				return false, Errorf(KindInvalid, string(t), "contact %s has %s %s: every existing identifier must be given to update a contact", c.ID, t, Quote(have))
			}
			if got != have {
				return false, Errorf(KindConflict, string(t), "%s %s does not match the contact's existing %s %s", t, Quote(got), t, Quote(have))
			}
		}
	}
	for _, f := range textFields {
		if v := f.patch(p); v != nil && *f.dst(c) != *v {
			*f.dst(c) = *v
			changed = true
		}
	}
	if p.AlternateEmails != nil && !slices.Equal(c.AlternateEmails, *p.AlternateEmails) {
		c.AlternateEmails = append([]string(nil), (*p.AlternateEmails)...)
		changed = true
	}
	for id, v := range p.CustomFields {
		have, ok := c.CustomFields[id]
		if v == nil || v.Type == FieldText && v.Text == "" {
			if ok {
				delete(c.CustomFields, id)
				changed = true
			}
			continue
		}
		if ok && have.equal(*v) {
			continue
		}
		if c.CustomFields == nil {
			c.CustomFields = make(map[string]Value, len(p.CustomFields))
		}
		c.CustomFields[id] = *v
		changed = true
	}
	for _, l := range listIDs {
		c.ListIDs = addSorted(c.ListIDs, l)
	}
	if c.ID == "" {
		c.ID = newID
		c.CreatedAt = now
		changed = true
	}
	if changed {
		c.UpdatedAt = now
	}
	return changed, nil
}

// equal reports whether v and w are the same value (times as instants).
func (v Value) equal(w Value) bool {
	return v.Type == w.Type && v.Text == w.Text && v.Number == w.Number && v.Time.Equal(w.Time)
}

func addSorted(s []string, v string) []string {
	i := 0
	for i < len(s) && s[i] < v {
		i++
	}
	if i < len(s) && s[i] == v {
		return s
	}
	s = append(s, "")
	copy(s[i+1:], s[i:])
	s[i] = v
	return s
}

// EmailDomains returns the distinct domains of the contact's email and
// alternate emails (the read-only email_domains field).
func (c *Contact) EmailDomains() []string {
	var out []string
	add := func(e string) {
		if at := strings.LastIndexByte(e, '@'); at >= 0 {
			d := e[at+1:]
			for _, have := range out {
				if have == d {
					return
				}
			}
			out = append(out, d)
		}
	}
	add(c.Email)
	for _, a := range c.AlternateEmails {
		add(a)
	}
	return out
}
