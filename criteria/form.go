package criteria

import (
	"strings"

	"github.com/segmentd/segmentd/query"
)

// The vocabulary a form that builds criteria offers (the console's), in
// the order it offers it. Every name here is one Parse accepts, which
// form_test.go checks against the maps Parse reads.

// ContactField is a contact field a contact condition may name directly.
type ContactField struct {
	Name string // as the condition's "field" writes it
	Type query.FieldType
}

// ContactFields are the contact fields a condition may name: Constant
// Contact's names for the fields segmentd keeps first, then segmentd's
// other queryable single-valued reserved fields. Custom fields are named
// by their UUID (FieldUUID) instead.
func ContactFields() []ContactField {
	out := []ContactField{{"email_address", query.Text}}
	mapped := map[string]bool{"email": true}
	for _, cc := range []string{"first_name", "last_name", "street", "city", "state", "postal_code", "country", "phone_number", "created_at", "updated_at"} {
		f, _ := reserved(cc)
		out = append(out, ContactField{cc, f.typ})
		mapped[f.name] = true
	}
	for _, f := range query.ReservedFields() {
		if f.Queryable && !f.Array && !mapped[f.Name] {
			out = append(out, ContactField{f.Name, f.Type})
		}
	}
	return out
}

// contactOpOrder is the order a form lists the contact operators in.
var contactOpOrder = []string{"eq", "ne", "contains", "not-contains", "starts-with", "ends-with",
	"gt", "gte", "lt", "lte", "before", "after", "on", "in-last-n-days", "is-empty", "is-not-empty"}

// ContactOps are the operators that apply to a field of type t.
func ContactOps(t query.FieldType) []string {
	var out []string
	for _, op := range contactOpOrder {
		for _, ot := range contactOps[op] {
			if ot == t {
				out = append(out, op)
			}
		}
	}
	return out
}

// TrackingFields are the campaign-activity fields, in the order a form
// lists them.
func TrackingFields() []string {
	return strings.Split(strings.NewReplacer(" or ", ", ").Replace(trackingFieldNames), ", ")
}
