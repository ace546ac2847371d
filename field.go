package segmentd

import (
	"strings"
	"time"
)

// FieldType is the type of a custom (or reserved) field.
type FieldType string

const (
	FieldText   FieldType = "Text"
	FieldNumber FieldType = "Number"
	FieldDate   FieldType = "Date"
)

// FieldDefinition is a custom or reserved field of an account.
type FieldDefinition struct {
	ID       string // custom: "w1" (Text), "n2" (Number), "d3" (Date); reserved: "_rf0_T"
	Name     string
	Type     FieldType
	ReadOnly bool // reserved fields only
	Reserved bool
	// CreatedAt is zero for reserved fields.
	CreatedAt time.Time
}

// MaxCustomFields is SendGrid's current per-account limit (the current spec
// says 500; older documents said 120, see docs/sendgrid.md
// "Spec contradictions" 5).
const MaxCustomFields = 500

// MaxCCCustomFields is Constant Contact's per-account limit ("a user can
// configure up to 100 custom_fields"), applied to creates through its
// face (docs/constantcontact.md "Custom fields").
const MaxCCCustomFields = 100

// MaxFieldNameLength is the spec's limit on a custom field name.
const MaxFieldNameLength = 100

// ReservedFields are SendGrid's reserved fields with its ids, in the order
// GET /v3/marketing/field_definitions lists them.
var ReservedFields = []FieldDefinition{
	{ID: "_rf0_T", Name: "first_name", Type: FieldText, Reserved: true},
	{ID: "_rf1_T", Name: "last_name", Type: FieldText, Reserved: true},
	{ID: "_rf2_T", Name: "email", Type: FieldText, Reserved: true},
	{ID: "_rf3_T", Name: "alternate_emails", Type: FieldText, Reserved: true},
	{ID: "_rf4_T", Name: "address_line_1", Type: FieldText, Reserved: true},
	{ID: "_rf5_T", Name: "address_line_2", Type: FieldText, Reserved: true},
	{ID: "_rf6_T", Name: "city", Type: FieldText, Reserved: true},
	{ID: "_rf7_T", Name: "state_province_region", Type: FieldText, Reserved: true},
	{ID: "_rf8_T", Name: "postal_code", Type: FieldText, Reserved: true},
	{ID: "_rf9_T", Name: "country", Type: FieldText, Reserved: true},
	{ID: "_rf10_T", Name: "phone_number", Type: FieldText, Reserved: true},
	{ID: "_rf11_T", Name: "whatsapp", Type: FieldText, Reserved: true},
	{ID: "_rf12_T", Name: "line", Type: FieldText, Reserved: true},
	{ID: "_rf13_T", Name: "facebook", Type: FieldText, Reserved: true},
	{ID: "_rf14_T", Name: "unique_name", Type: FieldText, Reserved: true},
	{ID: "_rf15_T", Name: "email_domains", Type: FieldText, ReadOnly: true, Reserved: true},
	{ID: "_rf16_D", Name: "last_clicked", Type: FieldDate, ReadOnly: true, Reserved: true},
	{ID: "_rf17_D", Name: "last_opened", Type: FieldDate, ReadOnly: true, Reserved: true},
	{ID: "_rf18_D", Name: "last_emailed", Type: FieldDate, ReadOnly: true, Reserved: true},
	{ID: "_rf19_T", Name: "singlesend_id", Type: FieldText, ReadOnly: true, Reserved: true},
	{ID: "_rf20_T", Name: "automation_id", Type: FieldText, ReadOnly: true, Reserved: true},
	{ID: "_rf21_D", Name: "created_at", Type: FieldDate, ReadOnly: true, Reserved: true},
	{ID: "_rf22_D", Name: "updated_at", Type: FieldDate, ReadOnly: true, Reserved: true},
	{ID: "_rf23_T", Name: "contact_id", Type: FieldText, ReadOnly: true, Reserved: true},
}

// otherReservedNames are names a custom field may not take although they
// are not in the reserved field list: identifiers and query pseudo-fields.
var otherReservedNames = []string{"phone_number_id", "external_id", "anonymous_id", "list_ids", "segment_ids", "id",
	"event_source", "event_type", "event_timestamp", "event_data"}

// ValidateFieldName applies SendGrid's rules for custom field names: 1..100
// characters, letters, digits and underscore, starting with a letter or
// underscore, and not a reserved name (ignoring case).
func ValidateFieldName(name string) error {
	if name == "" {
		return Errorf(KindInvalid, "name", "name is required")
	}
	if len(name) > MaxFieldNameLength {
		return Errorf(KindInvalid, "name", "name must be at most %d characters", MaxFieldNameLength)
	}
	for i, r := range name {
		letter := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || r == '_'
		if !letter && !(i > 0 && '0' <= r && r <= '9') {
			return Errorf(KindInvalid, "name", "name may contain only letters, digits and underscores and must start with a letter or underscore")
		}
	}
	lower := strings.ToLower(name)
	for _, f := range ReservedFields {
		if f.Name == lower {
			return Errorf(KindInvalid, "name", "name %q is a reserved field name", name)
		}
	}
	for _, n := range otherReservedNames {
		if n == lower {
			return Errorf(KindInvalid, "name", "name %q is a reserved field name", name)
		}
	}
	return nil
}

// FieldIDPrefix is the first letter of a custom field id of type t.
func FieldIDPrefix(t FieldType) string {
	switch t {
	case FieldNumber:
		return "n"
	case FieldDate:
		return "d"
	}
	return "w"
}

// dateLayouts are the formats of a written Date value (docs/decisions.md
// §7).
var dateLayouts = []string{time.RFC3339Nano, "2006-01-02", "01/02/2006"}

// ParseDate reads a written Date custom field value: RFC 3339,
// YYYY-MM-DD or MM/DD/YYYY, in UTC.
//
// YYYY-MM-DD, what most clients send, is read by hand, as time.Parse
// reads it with its layout: a failed parse of the RFC 3339 layout first
// built an error for each value, about a tenth of the CPU a SendGrid
// upsert's request spends decoding its body (docs/decisions.md §11,
// "The contact write path, session 15"). A value of ten bytes with its
// dashes in place is no other layout's (RFC 3339 takes twenty bytes or
// more, MM/DD/YYYY a digit where the first dash is).
func ParseDate(s string) (time.Time, bool) {
	if len(s) == 10 && s[4] == '-' && s[7] == '-' {
		return parseISODate(s)
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// parseISODate reads YYYY-MM-DD (s is ten bytes, its dashes in place) as
// time.Parse("2006-01-02", s) does: four digits of year, two of month in
// 01–12, two of day within the month's days.
func parseISODate(s string) (time.Time, bool) {
	n := func(digits string) int {
		v := 0
		for i := 0; i < len(digits); i++ {
			c := digits[i]
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	y, m, d := n(s[:4]), n(s[5:7]), n(s[8:])
	if y < 0 || m < 1 || m > 12 || d < 1 {
		return time.Time{}, false
	}
	last := 31
	switch m {
	case 4, 6, 9, 11:
		last = 30
	case 2:
		last = 28
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			last = 29
		}
	}
	if d > last {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), true
}
