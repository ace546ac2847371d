package sendgrid

import (
	"context"
	"net/http"

	"github.com/segmentd/segmentd"
)

// contactResponse is SendGrid's ContactDetails3. Unset reserved text fields
// are "" and empty arrays [] (never null or absent), as SendGrid's examples
// show and docs/decisions.md §7 fixes.
type contactResponse struct {
	ID                  string         `json:"id"`
	FirstName           string         `json:"first_name"`
	LastName            string         `json:"last_name"`
	UniqueName          string         `json:"unique_name"`
	Email               string         `json:"email"`
	PhoneNumberID       string         `json:"phone_number_id"`
	ExternalID          string         `json:"external_id"`
	AnonymousID         string         `json:"anonymous_id"`
	AlternateEmails     []string       `json:"alternate_emails"`
	AddressLine1        string         `json:"address_line_1"`
	AddressLine2        string         `json:"address_line_2"`
	City                string         `json:"city"`
	StateProvinceRegion string         `json:"state_province_region"`
	Country             string         `json:"country"`
	PostalCode          string         `json:"postal_code"`
	PhoneNumber         string         `json:"phone_number"`
	WhatsApp            string         `json:"whatsapp"`
	Line                string         `json:"line"`
	Facebook            string         `json:"facebook"`
	ListIDs             []string       `json:"list_ids"`
	SegmentIDs          []string       `json:"segment_ids"`
	CustomFields        map[string]any `json:"custom_fields"`
	CreatedAt           string         `json:"created_at"`
	UpdatedAt           string         `json:"updated_at"`
	Metadata            selfMetadata   `json:"_metadata"`
}

// contactRenderer turns stored contacts into ContactDetails3. Contacts store
// custom values by field id; SendGrid's responses key them by field name.
type contactRenderer struct {
	base   string
	fields map[string]segmentd.FieldDefinition
}

func (h *handler) renderer(ctx context.Context, r *http.Request, acct int64) (*contactRenderer, error) {
	fields, err := h.svc.FieldsByID(ctx, acct)
	if err != nil {
		return nil, err
	}
	return &contactRenderer{base: h.baseURL(r), fields: fields}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (cr *contactRenderer) render(c segmentd.Contact) contactResponse {
	custom := make(map[string]any, len(c.CustomFields))
	for id, v := range c.CustomFields {
		def, ok := cr.fields[id]
		if !ok {
			continue // deleted since the contact was read
		}
		switch v.Type {
		case segmentd.FieldNumber:
			custom[def.Name] = v.Number
		case segmentd.FieldDate:
			custom[def.Name] = timestamp(v.Time)
		default:
			custom[def.Name] = v.Text
		}
	}
	return contactResponse{
		ID:                  c.ID,
		FirstName:           c.FirstName,
		LastName:            c.LastName,
		UniqueName:          c.UniqueName,
		Email:               c.Email,
		PhoneNumberID:       c.PhoneNumberID,
		ExternalID:          c.ExternalID,
		AnonymousID:         c.AnonymousID,
		AlternateEmails:     nonNil(c.AlternateEmails),
		AddressLine1:        c.AddressLine1,
		AddressLine2:        c.AddressLine2,
		City:                c.City,
		StateProvinceRegion: c.StateProvinceRegion,
		Country:             c.Country,
		PostalCode:          c.PostalCode,
		PhoneNumber:         c.PhoneNumber,
		WhatsApp:            c.WhatsApp,
		Line:                c.Line,
		Facebook:            c.Facebook,
		ListIDs:             nonNil(c.ListIDs),
		SegmentIDs:          nonNil(c.SegmentIDs),
		CustomFields:        custom,
		CreatedAt:           timestamp(c.CreatedAt),
		UpdatedAt:           timestamp(c.UpdatedAt),
		Metadata:            selfMetadata{Self: cr.base + "/v3/marketing/contacts/" + c.ID},
	}
}

func (cr *contactRenderer) renderAll(cs []segmentd.Contact) []contactResponse {
	out := make([]contactResponse, 0, len(cs))
	for _, c := range cs {
		out = append(out, cr.render(c))
	}
	return out
}
