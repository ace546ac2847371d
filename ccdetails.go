package segmentd

import (
	"encoding/json"
	"time"
)

// CCDetails are the attributes of a contact that only Constant Contact
// has (docs/constantcontact.md "One contact, two faces"): written and read
// by the Constant Contact face alone, never shown by SendGrid's, whose
// writes keep them. The stores keep them beside the contact
// (Store.SetCCDetails); the membership engine does not hold them, since no
// segment reads them. The zero value is "none".
type CCDetails struct {
	JobTitle      string
	CompanyName   string
	BirthdayMonth int // 1–12, with BirthdayDay; 0 when unset
	BirthdayDay   int
	Anniversary   string // as written, in one of Constant Contact's date forms

	// The email address's consent, as Constant Contact keeps it.
	// Permission is permission_to_send ("" reads as implicit); the opt-in
	// and opt-out sources and times are set by the write that moved the
	// permission to explicit or to unsubscribed.
	Permission   string
	OptInSource  string
	OptInDate    time.Time
	OptOutSource string
	OptOutDate   time.Time

	CreateSource string // Contact or Account
	UpdateSource string

	// PhoneKind and AddressKind are the kinds of the contact's phone
	// number and postal address, the fields both vendors have; Phones and
	// Addresses are the entries Constant Contact holds after those.
	PhoneKind   string
	AddressKind string
	Phones      []CCPhone
	Addresses   []CCAddress
	Notes       []CCNote
}

// CCPhone is a phone number beyond the contact's first.
type CCPhone struct {
	Number string `json:"number"`
	Kind   string `json:"kind,omitempty"`
}

// CCAddress is a street address beyond the contact's first.
type CCAddress struct {
	Kind       string `json:"kind"`
	Street     string `json:"street,omitempty"`
	City       string `json:"city,omitempty"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Country    string `json:"country,omitempty"`
}

// CCNote is a note about the contact.
type CCNote struct {
	ID        string    `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	Content   string    `json:"content"`
}

// Constant Contact's limits on a contact's own attributes (the spec's
// ContactPostRequest, ContactPutRequest and Note).
const (
	MaxCCTitleLength     = 50 // job_title, company_name
	MaxCCAnniversary     = 10
	MaxCCPhones          = 3
	MaxCCPhoneLength     = 25
	MaxCCAddresses       = 3
	MaxCCNotes           = 150
	MaxCCNoteLength      = 2000
	MaxCCStreetLength    = 255
	MaxCCAddressPartChar = 50 // city, state, postal_code, country
)

// IsZero reports whether d holds nothing.
func (d *CCDetails) IsZero() bool {
	return d.JobTitle == "" && d.CompanyName == "" && d.BirthdayMonth == 0 && d.BirthdayDay == 0 && d.Anniversary == "" &&
		d.Permission == "" && d.OptInSource == "" && d.OptInDate.IsZero() && d.OptOutSource == "" && d.OptOutDate.IsZero() &&
		d.CreateSource == "" && d.UpdateSource == "" && d.PhoneKind == "" && d.AddressKind == "" &&
		len(d.Phones) == 0 && len(d.Addresses) == 0 && len(d.Notes) == 0
}

// ccRecord is the stored form of CCDetails: one JSON object, the same in
// both stores (times as unix milliseconds, empty members left out).
type ccRecord struct {
	JobTitle      string      `json:"job_title,omitempty"`
	CompanyName   string      `json:"company_name,omitempty"`
	BirthdayMonth int         `json:"birthday_month,omitempty"`
	BirthdayDay   int         `json:"birthday_day,omitempty"`
	Anniversary   string      `json:"anniversary,omitempty"`
	Permission    string      `json:"permission,omitempty"`
	OptInSource   string      `json:"opt_in_source,omitempty"`
	OptInDate     int64       `json:"opt_in_date,omitempty"`
	OptOutSource  string      `json:"opt_out_source,omitempty"`
	OptOutDate    int64       `json:"opt_out_date,omitempty"`
	CreateSource  string      `json:"create_source,omitempty"`
	UpdateSource  string      `json:"update_source,omitempty"`
	PhoneKind     string      `json:"phone_kind,omitempty"`
	AddressKind   string      `json:"address_kind,omitempty"`
	Phones        []CCPhone   `json:"phones,omitempty"`
	Addresses     []CCAddress `json:"addresses,omitempty"`
	Notes         []ccNoteRec `json:"notes,omitempty"`
}

type ccNoteRec struct {
	ID        string `json:"id"`
	CreatedAt int64  `json:"created_at"`
	Content   string `json:"content"`
}

func msOf(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func timeOf(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// EncodeCCDetails is the stored form of d (a JSON object).
func EncodeCCDetails(d CCDetails) (string, error) {
	r := ccRecord{JobTitle: d.JobTitle, CompanyName: d.CompanyName, BirthdayMonth: d.BirthdayMonth, BirthdayDay: d.BirthdayDay,
		Anniversary: d.Anniversary, Permission: d.Permission, OptInSource: d.OptInSource, OptInDate: msOf(d.OptInDate),
		OptOutSource: d.OptOutSource, OptOutDate: msOf(d.OptOutDate), CreateSource: d.CreateSource, UpdateSource: d.UpdateSource,
		PhoneKind: d.PhoneKind, AddressKind: d.AddressKind, Phones: d.Phones, Addresses: d.Addresses}
	for _, n := range d.Notes {
		r.Notes = append(r.Notes, ccNoteRec{ID: n.ID, CreatedAt: msOf(n.CreatedAt), Content: n.Content})
	}
	b, err := json.Marshal(r)
	return string(b), err
}

// DecodeCCDetails reads what EncodeCCDetails wrote ("" is none).
func DecodeCCDetails(s string) (CCDetails, error) {
	if s == "" {
		return CCDetails{}, nil
	}
	var r ccRecord
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return CCDetails{}, err
	}
	d := CCDetails{JobTitle: r.JobTitle, CompanyName: r.CompanyName, BirthdayMonth: r.BirthdayMonth, BirthdayDay: r.BirthdayDay,
		Anniversary: r.Anniversary, Permission: r.Permission, OptInSource: r.OptInSource, OptInDate: timeOf(r.OptInDate),
		OptOutSource: r.OptOutSource, OptOutDate: timeOf(r.OptOutDate), CreateSource: r.CreateSource, UpdateSource: r.UpdateSource,
		PhoneKind: r.PhoneKind, AddressKind: r.AddressKind, Phones: r.Phones, Addresses: r.Addresses}
	for _, n := range r.Notes {
		d.Notes = append(d.Notes, CCNote{ID: n.ID, CreatedAt: timeOf(n.CreatedAt), Content: n.Content})
	}
	return d, nil
}
