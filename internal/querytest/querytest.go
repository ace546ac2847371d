// Package querytest holds the reference the membership tests compare
// against: a contact turned into the query evaluator's record straight from
// the domain values, with no engine or store code involved. It is imported
// only by tests (engine's and audience's).
package querytest

import (
	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/query"
)

// Record returns c as the evaluator's record, with evs as its events; cat
// maps c's custom field ids to their slots (a field cat does not know is
// left out).
func Record(c *segmentd.Contact, evs []query.Event, cat *query.Catalog) *query.Record {
	r := &query.Record{
		ID:              c.ID,
		CreatedAt:       c.CreatedAt.UnixMilli(),
		UpdatedAt:       c.UpdatedAt.UnixMilli(),
		ListIDs:         c.ListIDs,
		TagIDs:          c.TagIDs,
		AlternateEmails: c.AlternateEmails,
		EmailDomains:    query.EmailDomains(c.Email, c.AlternateEmails),
		Events:          evs,
	}
	text := map[string]string{"email": c.Email, "phone_number_id": c.PhoneNumberID, "external_id": c.ExternalID,
		"anonymous_id": c.AnonymousID, "first_name": c.FirstName, "last_name": c.LastName, "address_line_1": c.AddressLine1,
		"address_line_2": c.AddressLine2, "city": c.City, "state_province_region": c.StateProvinceRegion,
		"postal_code": c.PostalCode, "country": c.Country, "phone_number": c.PhoneNumber, "whatsapp": c.WhatsApp,
		"line": c.Line, "facebook": c.Facebook, "unique_name": c.UniqueName}
	for f := query.TextField(0); f < query.NumTextFields; f++ {
		r.Text[f] = text[f.Name()]
	}
	r.Custom = make([]query.Value, len(cat.CustomFields()))
	for id, v := range c.CustomFields {
		slot, ok := cat.SlotByID(id)
		if !ok {
			continue
		}
		switch v.Type {
		case segmentd.FieldText:
			r.Custom[slot] = query.TextValue(v.Text)
		case segmentd.FieldNumber:
			r.Custom[slot] = query.NumberValue(v.Number)
		case segmentd.FieldDate:
			r.Custom[slot] = query.DateValue(v.Time.UnixMilli())
		}
	}
	return r
}
