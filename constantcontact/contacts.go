package constantcontact

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/criteria"
)

// contactResource is the spec's ContactResource, filled from segmentd's
// contact fields (docs/constantcontact.md "The contact shape"). The
// sub-resources are present only when include names them, as at Constant
// Contact; a pointer tells "not asked for" from "empty".
type contactResource struct {
	ContactID       string           `json:"contact_id"`
	EmailAddress    *emailAddress    `json:"email_address,omitempty"`
	FirstName       string           `json:"first_name,omitempty"`
	LastName        string           `json:"last_name,omitempty"`
	JobTitle        string           `json:"job_title,omitempty"`
	CompanyName     string           `json:"company_name,omitempty"`
	BirthdayMonth   int              `json:"birthday_month,omitempty"`
	BirthdayDay     int              `json:"birthday_day,omitempty"`
	Anniversary     string           `json:"anniversary,omitempty"`
	CreateSource    string           `json:"create_source"`
	UpdateSource    string           `json:"update_source"`
	CreatedAt       string           `json:"created_at"`
	UpdatedAt       string           `json:"updated_at"`
	DeletedAt       string           `json:"deleted_at,omitempty"`
	CustomFields    *[]customField   `json:"custom_fields,omitempty"`
	PhoneNumbers    *[]phoneNumber   `json:"phone_numbers,omitempty"`
	StreetAddresses *[]streetAddress `json:"street_addresses,omitempty"`
	ListMemberships *[]string        `json:"list_memberships,omitempty"`
	Taggings        *[]string        `json:"taggings,omitempty"`
	Notes           *[]note          `json:"notes,omitempty"`
}

// emailAddress is EmailAddress: the permission a Constant Contact write
// gave (implicit when none did), the opt-in and opt-out it recorded.
type emailAddress struct {
	Address          string `json:"address"`
	PermissionToSend string `json:"permission_to_send"`
	CreatedAt        string `json:"created_at"`
	UpdatedAt        string `json:"updated_at"`
	OptInSource      string `json:"opt_in_source"`
	OptInDate        string `json:"opt_in_date,omitempty"`
	OptOutSource     string `json:"opt_out_source,omitempty"`
	OptOutDate       string `json:"opt_out_date,omitempty"`
	ConfirmStatus    string `json:"confirm_status"`
}

type customField struct {
	CustomFieldID string `json:"custom_field_id"`
	Value         string `json:"value"`
}

type phoneNumber struct {
	PhoneNumber string `json:"phone_number"`
	Kind        string `json:"kind"`
}

type streetAddress struct {
	Kind       string `json:"kind"`
	Street     string `json:"street,omitempty"`
	City       string `json:"city,omitempty"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Country    string `json:"country,omitempty"`
}

// contactsPage is the spec's Contacts.
type contactsPage struct {
	Contacts      []contactResource `json:"contacts"`
	ContactsCount *int              `json:"contacts_count,omitempty"`
	Links         *nextLinks        `json:"_links,omitempty"`
}

// Page sizes of GET /v3/contacts (the spec: 1–500, default 50), and the
// tags one request filters by (the spec: "up to 50 specified tags").
const (
	defaultContactsLimit = 50
	maxContactsLimit     = 500
	maxTagsFilter        = 50
)

// includes are the sub-resources GET /v3/contacts can include.
var includes = []string{"custom_fields", "list_memberships", "phone_numbers", "street_addresses", "taggings", "notes"}

// contactsQuery is what a GET /v3/contacts page reads; the cursor carries
// it to the next page.
type contactsQuery struct {
	segmentID int64    // 0: all contacts
	tags      []string // the tags filter: contacts with any of them
	offset    int      // segment and tag pages: contacts before this page
	after     string   // all-contacts pages: the last contact id shown
	limit     int
	include   []string
	count     bool
	filter    audience.ContactFilter
	// params are the filter's parameters as given (checked), which the
	// cursor carries.
	params url.Values
}

// unsupportedContactsParams are GET /v3/contacts filters segmentd does not
// serve: it answers 400 rather than ignore a filter and return contacts
// the caller did not ask for.
var unsupportedContactsParams = []string{"optout_after", "optout_before", "sms_status"}

// filterParams are the filters of GET /v3/contacts that segmentd serves
// besides segment_id and tags.
var filterParams = []string{"email", "status", "lists", "updated_after", "updated_before", "created_after", "created_before"}

// statuses are the values of the status filter (the spec's). Every live
// contact of segmentd's is active (segmentd keeps no consent state);
// deleted are the contacts this face deleted (all: live and deleted).
var statuses = []string{"all", "active", "deleted", "not_set", "pending_confirmation", "temp_hold", "unsubscribed"}

// maxListsFilter bounds the lists filter (the spec: up to 25 list ids).
const maxListsFilter = 25

// listContacts is GET /v3/contacts: with segment_id, the segment's members
// as of now; with tags, the contacts that have any of the tags, as of now,
// in the engine's order; without either, every contact of the account in
// id order. All page through _links.next.href.
func (h *handler) listContacts(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	q, err := readContactsQuery(r)
	if err != nil {
		return err
	}
	ctx := r.Context()
	var page audience.ContactPage
	var next contactsQuery
	out := contactsPage{}
	tagged := 0
	var deletedAt map[string]time.Time
	switch {
	case q.segmentID != 0:
		page, err = h.svc.CCSegmentContacts(ctx, acct.ID, q.segmentID, q.offset, q.limit)
		next = q
		next.offset += len(page.Contacts)
	case q.tags != nil:
		page, tagged, err = h.svc.TaggedContacts(ctx, acct.ID, q.tags, q.offset, q.limit)
		next = q
		next.offset += len(page.Contacts)
	default:
		page, deletedAt, err = h.svc.CCContacts(ctx, acct.ID, q.filter, q.after, q.limit)
		next = q
		if n := len(page.Contacts); n > 0 {
			next.after = page.Contacts[n-1].ID
		}
	}
	if err != nil {
		return err
	}
	if q.count {
		n := tagged
		switch {
		case q.segmentID != 0:
			n, err = h.svc.CCSegmentCount(ctx, acct.ID, q.segmentID)
		case q.tags == nil:
			n, err = h.svc.CountFiltered(ctx, acct.ID, q.filter)
		}
		if err != nil {
			return err
		}
		out.ContactsCount = &n
	}
	out.Contacts = make([]contactResource, 0, len(page.Contacts))
	for _, c := range page.Contacts {
		if at, ok := deletedAt[c.ID]; ok {
			out.Contacts = append(out.Contacts, renderDeleted(c, at, q.include))
			continue
		}
		out.Contacts = append(out.Contacts, renderContact(c, q.include))
	}
	if page.More {
		out.Links = &nextLinks{Next: link{Href: "/v3/contacts?cursor=" + next.encode()}}
	}
	return writeJSON(w, http.StatusOK, out)
}

// readContactsQuery reads the parameters, or the cursor of a previous
// page. With a cursor, an explicit limit still sets the page size;
// segment_id, when given, must be the cursor's.
func readContactsQuery(r *http.Request) (contactsQuery, error) {
	v := r.URL.Query()
	for _, p := range unsupportedContactsParams {
		if v.Has(p) {
			return contactsQuery{}, invalid(p, "segmentd does not support the %s parameter of GET /v3/contacts (it serves segment_id, tags, %s, limit, include, include_count and cursor)", p, strings.Join(filterParams, ", "))
		}
	}
	q := contactsQuery{limit: defaultContactsLimit}
	if c := v.Get("cursor"); c != "" {
		var err error
		if q, err = decodeContactsCursor(c); err != nil {
			return q, err
		}
	} else {
		var err error
		if q.include, err = readIncludes(v.Get("include")); err != nil {
			return q, err
		}
		if s := v.Get("include_count"); s != "" {
			if q.count, err = strconv.ParseBool(s); err != nil {
				return q, invalid("include_count", "include_count must be true or false, not %s", segmentd.Quote(s))
			}
		}
		if q.filter, q.params, err = readFilter(v); err != nil {
			return q, err
		}
	}
	if s := v.Get("segment_id"); s != "" {
		// The spec: segment_id combines with limit only (segmentd also
		// takes include and include_count with it).
		if len(q.params) > 0 {
			return q, invalid("segment_id", "segment_id cannot be combined with the %s filter", firstParam(q.params))
		}
		id, ok := parseSegmentID(s)
		if !ok {
			return q, invalid("segment_id", msgBadSegmentID, segmentd.Quote(s))
		}
		if id == 0 {
			return q, segmentd.Errorf(segmentd.KindNotFound, "segment_id", "segment %s does not exist", segmentd.Clip(s))
		}
		if v.Has("cursor") && id != q.segmentID {
			return q, invalid("cursor", "the cursor belongs to another segment_id; follow _links.next.href as given")
		}
		q.segmentID = id
	}
	if s := v.Get("tags"); s != "" && !v.Has("cursor") {
		if q.segmentID != 0 {
			// The spec: segment_id "can only be combined with the limit
			// query parameter".
			return q, invalid("tags", "tags cannot be combined with segment_id")
		}
		if len(q.params) > 0 {
			// segmentd answers tags as a filter of its own (the
			// engine's tag bitmaps), not with the others.
			return q, invalid("tags", "segmentd does not combine tags with the %s filter", firstParam(q.params))
		}
		tags, err := readTagsFilter(s)
		if err != nil {
			return q, err
		}
		q.tags = tags
	}
	limit, err := queryInt(r, "limit", q.limit, 1, maxContactsLimit)
	q.limit = limit
	return q, err
}

// readTagsFilter reads the tags parameter: 1–50 comma-separated tag ids.
func readTagsFilter(s string) ([]string, error) {
	parts := strings.Split(s, ",")
	if len(parts) > maxTagsFilter {
		return nil, invalid("tags", "tags may name at most %d tag ids, not %d", maxTagsFilter, len(parts))
	}
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		p = strings.TrimSpace(p)
		if !segmentd.IsUUID(p) {
			return nil, invalid("tags", "tags: %s is not a tag id (a UUID)", segmentd.Quote(p))
		}
		out = append(out, strings.ToLower(p))
	}
	return out, nil
}

func readIncludes(s string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		if !slices.Contains(includes, f) {
			return nil, invalid("include", "include may name %s, not %s", strings.Join(includes, ", "), segmentd.Quote(f))
		}
		out = append(out, f)
	}
	return out, nil
}

// The /v3/contacts cursor, like Constant Contact's own, is base64url of a
// query string: the whole query and where the next page starts (an
// offset into a segment's members, or the last contact id shown).
func (q contactsQuery) encode() string {
	v := url.Values{}
	v.Set("limit", strconv.Itoa(q.limit))
	switch {
	case q.segmentID != 0:
		v.Set("segment_id", strconv.FormatInt(q.segmentID, 10))
		v.Set("offset", strconv.Itoa(q.offset))
	case q.tags != nil:
		v.Set("tags", strings.Join(q.tags, ","))
		v.Set("offset", strconv.Itoa(q.offset))
	default:
		v.Set("after", q.after)
		for k, vs := range q.params {
			v[k] = vs
		}
	}
	if len(q.include) > 0 {
		v.Set("include", strings.Join(q.include, ","))
	}
	if q.count {
		v.Set("include_count", "true")
	}
	return base64.RawURLEncoding.EncodeToString([]byte(v.Encode()))
}

func decodeContactsCursor(c string) (contactsQuery, error) {
	bad := invalid("cursor", "cursor is not valid; follow _links.next.href as given")
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return contactsQuery{}, bad
	}
	v, err := url.ParseQuery(string(raw))
	if err != nil {
		return contactsQuery{}, bad
	}
	var q contactsQuery
	if q.limit, err = strconv.Atoi(v.Get("limit")); err != nil || q.limit < 1 || q.limit > maxContactsLimit {
		return q, bad
	}
	switch {
	case v.Get("segment_id") != "":
		if q.segmentID, err = strconv.ParseInt(v.Get("segment_id"), 10, 64); err != nil || q.segmentID < 1 {
			return q, bad
		}
		if q.offset, err = strconv.Atoi(v.Get("offset")); err != nil || q.offset < 0 {
			return q, bad
		}
	case v.Get("tags") != "":
		if q.tags, err = readTagsFilter(v.Get("tags")); err != nil {
			return q, bad
		}
		if q.offset, err = strconv.Atoi(v.Get("offset")); err != nil || q.offset < 0 {
			return q, bad
		}
	default:
		q.after = v.Get("after")
		if q.filter, q.params, err = readFilter(v); err != nil {
			return q, bad
		}
	}
	if q.include, err = readIncludes(v.Get("include")); err != nil {
		return q, bad
	}
	q.count = v.Get("include_count") == "true"
	return q, nil
}

// renderContact maps a segmentd contact to ContactResource: the address
// fields become one "home" street address (street is address lines 1 and
// 2 joined by a newline), the phone number one "other" phone, list ids the
// list memberships, tag ids the taggings, and custom field values strings keyed by a UUID
// derived from the field id (customFieldUUID).
func renderContact(c segmentd.Contact, include []string) contactResource {
	d := &c.CC
	out := contactResource{
		ContactID:     c.ID,
		FirstName:     c.FirstName,
		LastName:      c.LastName,
		JobTitle:      d.JobTitle,
		CompanyName:   d.CompanyName,
		BirthdayMonth: d.BirthdayMonth,
		BirthdayDay:   d.BirthdayDay,
		Anniversary:   d.Anniversary,
		CreateSource:  orDefault(d.CreateSource, "Account"),
		UpdateSource:  orDefault(d.UpdateSource, "Account"),
		CreatedAt:     timestamp(c.CreatedAt),
		UpdatedAt:     timestamp(c.UpdatedAt),
	}
	if c.Email != "" {
		e := &emailAddress{Address: c.Email, PermissionToSend: orDefault(d.Permission, "implicit"), CreatedAt: out.CreatedAt, UpdatedAt: out.UpdatedAt,
			OptInSource: orDefault(d.OptInSource, "Account"), OptOutSource: d.OptOutSource, ConfirmStatus: "off"}
		if !d.OptInDate.IsZero() {
			e.OptInDate = timestamp(d.OptInDate)
		}
		if !d.OptOutDate.IsZero() {
			e.OptOutDate = timestamp(d.OptOutDate)
		}
		out.EmailAddress = e
	}
	for _, inc := range include {
		switch inc {
		case "custom_fields":
			fs := make([]customField, 0, len(c.CustomFields))
			for id, v := range c.CustomFields {
				fs = append(fs, customField{CustomFieldID: customFieldUUID(id), Value: fieldText(v)})
			}
			slices.SortFunc(fs, func(a, b customField) int { return strings.Compare(a.CustomFieldID, b.CustomFieldID) })
			out.CustomFields = &fs
		case "list_memberships":
			ls := append([]string{}, c.ListIDs...)
			out.ListMemberships = &ls
		case "phone_numbers":
			ps := []phoneNumber{}
			if c.PhoneNumber != "" {
				ps = append(ps, phoneNumber{PhoneNumber: c.PhoneNumber, Kind: orDefault(d.PhoneKind, "other")})
			}
			for _, p := range d.Phones {
				ps = append(ps, phoneNumber{PhoneNumber: p.Number, Kind: orDefault(p.Kind, "other")})
			}
			out.PhoneNumbers = &ps
		case "street_addresses":
			as := []streetAddress{}
			street := strings.TrimSpace(c.AddressLine1 + "\n" + c.AddressLine2)
			if street != "" || c.City != "" || c.StateProvinceRegion != "" || c.PostalCode != "" || c.Country != "" {
				as = append(as, streetAddress{Kind: orDefault(d.AddressKind, "home"), Street: street, City: c.City, State: c.StateProvinceRegion, PostalCode: c.PostalCode, Country: c.Country})
			}
			for _, a := range d.Addresses {
				as = append(as, streetAddress{Kind: a.Kind, Street: a.Street, City: a.City, State: a.State, PostalCode: a.PostalCode, Country: a.Country})
			}
			out.StreetAddresses = &as
		case "taggings":
			ts := append([]string{}, c.TagIDs...)
			out.Taggings = &ts
		case "notes":
			ns := make([]note, 0, len(d.Notes))
			for _, n := range d.Notes {
				ns = append(ns, note{NoteID: n.ID, CreatedAt: timestamp(n.CreatedAt), Content: n.Content})
			}
			out.Notes = &ns
		}
	}
	return out
}

// orDefault is s, or def when s is empty.
func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// customFieldUUID is the UUID Constant Contact's face gives a segmentd
// field id, the one criteria name it by too (criteria.FieldUUID).
func customFieldUUID(id string) string { return criteria.FieldUUID(id) }

// fieldText renders a custom value as Constant Contact's string value.
func fieldText(v segmentd.Value) string {
	switch v.Type {
	case segmentd.FieldNumber:
		return strconv.FormatFloat(v.Number, 'f', -1, 64)
	case segmentd.FieldDate:
		return timestamp(v.Time)
	}
	return v.Text
}

// getContact is GET /v3/contacts/{contact_id}: one contact, whichever face
// wrote it, with the sub-resources include names.
func (h *handler) getContact(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := contactID(r)
	if err != nil {
		return err
	}
	include, err := readIncludes(r.URL.Query().Get("include"))
	if err != nil {
		return err
	}
	c, err := h.svc.Contact(r.Context(), acct.ID, id)
	if segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
		// A contact this face deleted reads as deleted.
		if d, derr := h.svc.DeletedCCContact(r.Context(), acct.ID, id); derr == nil {
			return writeJSON(w, http.StatusOK, renderDeleted(audience.DeletedAsContact(d), d.DeletedAt, include))
		}
	}
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, renderContact(c, include))
}

// renderDeleted is ContactResource for a contact this face deleted at
// deletedAt (docs/constantcontact.md "Deleted contacts"): what is kept of
// it, deleted_at (a date, as the spec types it), and its email address
// opted out by the account at that time, as the spec describes a deleted
// contact's; its sub-resources are empty.
func renderDeleted(c segmentd.Contact, deletedAt time.Time, include []string) contactResource {
	out := renderContact(c, include)
	out.DeletedAt = deletedAt.UTC().Format("2006-01-02")
	if out.EmailAddress != nil {
		out.EmailAddress.OptOutSource = "Account"
		out.EmailAddress.OptOutDate = timestamp(deletedAt)
	}
	return out
}

// readFilter reads GET /v3/contacts's filters: email, status, lists and
// the created and updated bounds. params are the ones given.
func readFilter(v url.Values) (audience.ContactFilter, url.Values, error) {
	var f audience.ContactFilter
	params := url.Values{}
	for _, p := range filterParams {
		if v.Has(p) {
			params.Set(p, v.Get(p))
		}
	}
	if params.Has("email") {
		s := params.Get("email")
		f.Email = segmentd.NormalizeEmail(s)
		if !segmentd.ValidEmail(f.Email) {
			return f, nil, invalid("email", "email %s is not a valid email address", segmentd.Quote(s))
		}
	}
	if params.Has("status") {
		f.Nobody = true
		for _, st := range strings.Split(params.Get("status"), ",") {
			st = strings.TrimSpace(st)
			if !slices.Contains(statuses, st) {
				return f, nil, invalid("status", "status may name %s, not %s", strings.Join(statuses, ", "), segmentd.Quote(st))
			}
			if st == "all" || st == "active" {
				f.Nobody = false
			}
			if st == "all" || st == "deleted" {
				f.Deleted = true
			}
		}
	}
	if params.Has("lists") {
		ls := strings.Split(params.Get("lists"), ",")
		if len(ls) > maxListsFilter {
			return f, nil, invalid("lists", "lists may name at most %d list ids, not %d", maxListsFilter, len(ls))
		}
		for _, l := range ls {
			l = strings.ToLower(strings.TrimSpace(l))
			if !segmentd.IsUUID(l) {
				return f, nil, invalid("lists", "lists: %s is not a list id (a UUID)", segmentd.Quote(l))
			}
			f.Lists = append(f.Lists, l)
		}
	}
	for _, b := range []struct {
		name string
		dst  *time.Time
	}{{"updated_after", &f.UpdatedAfter}, {"updated_before", &f.UpdatedBefore}, {"created_after", &f.CreatedAfter}, {"created_before", &f.CreatedBefore}} {
		if !params.Has(b.name) {
			continue
		}
		t, ok := parseISODate(params.Get(b.name))
		if !ok {
			return f, nil, invalid(b.name, "%s must be an ISO-8601 date or date-time (2022-07-16 or 2022-07-16T16:37:59.091Z), not %s", b.name, segmentd.Quote(params.Get(b.name)))
		}
		*b.dst = t
	}
	return f, params, nil
}

// parseISODate reads an ISO-8601 date-time (RFC 3339) or date (midnight
// UTC).
func parseISODate(s string) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), true
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, true
	}
	return time.Time{}, false
}

// firstParam names one of params, the first in filterParams' order.
func firstParam(params url.Values) string {
	for _, p := range filterParams {
		if params.Has(p) {
			return p
		}
	}
	return ""
}
