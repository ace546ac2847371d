package criteria

import (
	"strconv"
	"strings"
	"time"

	"github.com/segmentd/segmentd/query"
)

// contactField is the field of a contact condition, resolved.
type contactField struct {
	// name is what the statement calls it: a segmentd reserved field, or
	// the custom field's name as written.
	name string
	typ  query.FieldType // 0 while a custom field is not yet resolved
	// custom marks a custom field (resolved by Select against the account).
	custom bool
	// uuid, when set, names the custom field by the UUID Constant
	// Contact's face gives it (FieldUUID) rather than by name.
	uuid string
}

// byUUID is the contact field of a condition that names a custom field by
// its UUID in param: {"field":"custom_field","param":"<uuid>"}.
const byUUID = "custom_field"

// customPrefix names a custom field explicitly, for one whose name is also
// a Constant Contact contact field (a custom field called "state").
const customPrefix = "custom_fields."

// ccFields are Constant Contact's names for the contact fields segmentd
// keeps, mapped to segmentd's reserved fields. segmentd's own reserved
// names (state_province_region, address_line_2, …) are accepted too.
var ccFields = map[string]string{
	"email_address": "email",
	"street":        "address_line_1",
	"state":         "state_province_region",
	"state_code":    "state_province_region",
}

// reserved returns the reserved contact field a name denotes: a Constant
// Contact name or a segmentd reserved single-valued field that queries
// accept (arrays are reached through list_membership).
func reserved(name string) (contactField, bool) {
	lower := strings.ToLower(name)
	if n, ok := ccFields[lower]; ok {
		lower = n
	}
	for _, f := range query.ReservedFields() {
		if f.Name == lower && f.Queryable && !f.Array {
			return contactField{name: f.Name, typ: f.Type}, true
		}
	}
	return contactField{}, false
}

// The contact operators and the field types each applies to.
var contactOps = map[string][]query.FieldType{
	"eq":             {query.Text, query.Number},
	"ne":             {query.Text, query.Number},
	"contains":       {query.Text},
	"not-contains":   {query.Text},
	"starts-with":    {query.Text},
	"ends-with":      {query.Text},
	"gt":             {query.Number},
	"gte":            {query.Number},
	"lt":             {query.Number},
	"lte":            {query.Number},
	"before":         {query.Date},
	"after":          {query.Date},
	"on":             {query.Date},
	"in-last-n-days": {query.Date},
	"is-empty":       {query.Text, query.Number, query.Date},
	"is-not-empty":   {query.Text, query.Number, query.Date},
}

const contactOpNames = "eq, ne, contains, not-contains, starts-with, ends-with, gt, gte, lt, lte, before, after, on, in-last-n-days, is-empty or is-not-empty"

func typeName(t query.FieldType) string {
	switch t {
	case query.Number:
		return "number"
	case query.Date:
		return "date"
	}
	return "text"
}

func (c *cond) contact() error {
	l := c.l
	types, ok := contactOps[l.op]
	if !ok {
		return c.unknownOp(contactOpNames)
	}
	param, hasParam := "", false
	if l.field == byUUID {
		param, hasParam = c.optional("param")
	}
	switch name, custom := strings.CutPrefix(l.field, customPrefix); {
	case hasParam:
		id, ok := uuid(param)
		if !ok {
			return errorf(c.path("param"), "must be a custom_field_id (a UUID), found %q", query.Clip(param))
		}
		l.cf = contactField{name: id, custom: true, uuid: id}
	case name == "" || len(name) > 100:
		return errorf(c.path("field"), "must name a contact field or a custom field")
	case custom:
		l.cf = contactField{name: name, custom: true}
	default:
		if f, ok := reserved(name); ok {
			l.cf = f
		} else {
			l.cf = contactField{name: name, custom: true}
		}
	}
	// The operands the operator takes, read now; a custom field's type is
	// known only to Select, which checks the rest (typed).
	typ := l.cf.typ
	if typ == 0 && len(types) == 1 {
		typ = types[0]
	}
	switch {
	case l.op == "is-empty" || l.op == "is-not-empty":
	case typ == query.Date:
		if l.op == "in-last-n-days" {
			d, err := c.days("date_param")
			l.days = d
			return err
		}
		v, err := c.need("const_value")
		if err != nil {
			return err
		}
		if err := c.dateOperand(v); err != nil {
			return err
		}
	default: // text or number
		v, err := c.need("const_value")
		if err != nil {
			return err
		}
		if v == "" {
			return errorf(c.path("const_value"), "must not be empty (use is-empty)")
		}
		l.text = v
	}
	if typ != 0 {
		return l.typed(typ)
	}
	return nil
}

// dateOperand reads a date (a whole UTC day) or an RFC 3339 instant.
func (c *cond) dateOperand(v string) error {
	l := c.l
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		l.date, l.dated = t.UnixMilli(), true
		return nil
	}
	if l.op != "on" {
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil && t.Year() >= 1 && t.Year() <= 9999 {
			l.date = t.UnixMilli()
			return nil
		}
		return errorf(c.path("const_value"), "must be a date YYYY-MM-DD or an RFC 3339 time, found %q", query.Clip(v))
	}
	return errorf(c.path("const_value"), "must be a date YYYY-MM-DD, found %q", query.Clip(v))
}

// typed checks the operator and operand against the field's type.
func (l *leaf) typed(t query.FieldType) error {
	ok := false
	for _, u := range contactOps[l.op] {
		ok = ok || u == t
	}
	if !ok {
		return errorf(join(l.path, "op"), "operator %q does not apply to %s field %q", query.Clip(l.op), typeName(t), l.fieldName())
	}
	if t == query.Number && l.text != "" && !number(l.text) {
		return errorf(join(l.path, "const_value"), "must be a number for number field %q, found %q", l.fieldName(), query.Clip(l.text))
	}
	return nil
}

// fieldName names a contact condition's field in a message: as written, or
// the custom field's id when it is named by one.
func (l *leaf) fieldName() string {
	if l.cf.uuid != "" {
		return l.cf.uuid
	}
	return query.Clip(l.field)
}

// number reports whether s is a decimal number: an optional minus, digits,
// an optional fraction. Exponents are refused so that the statement can
// carry the number as written.
func number(s string) bool {
	d := strings.TrimPrefix(s, "-")
	whole, frac, hasFrac := strings.Cut(d, ".")
	digits := func(x string) bool {
		for i := 0; i < len(x); i++ {
			if x[i] < '0' || x[i] > '9' {
				return false
			}
		}
		return x != ""
	}
	if !digits(whole) || hasFrac && !digits(frac) || len(d) > 40 {
		return false
	}
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}
