package console

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
)

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"when": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02 15:04:05Z")
	},
	"ms": func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) + " ms" },
	// show writes a value an explanation looked at: NULL for none.
	"show": func(v any) string {
		switch v := v.(type) {
		case nil:
			return "NULL"
		case string:
			return strconv.Quote(v)
		case []string:
			return "[" + strings.Join(v, ", ") + "]"
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Sprint(v)
		}
		return string(b)
	},
}

// segmentRow is one segment of the segments view, of either vendor.
type segmentRow struct {
	Vendor  string // "SendGrid" or "Constant Contact"
	Kind    string // "2.0 SQL", "SGQL (v1)", "criteria"
	Href    string // its console page
	Name    string
	Query   string
	Count   int
	Problem string // why its query matches nobody, when it no longer checks
	Updated time.Time
}

type segmentsData struct {
	Rows  []segmentRow
	CCErr string // why Constant Contact's segments are not shown
}

func (h *handler) segments(r *http.Request, p audience.Principal) (string, any, error) {
	ctx, acct := r.Context(), p.Account.ID
	segs, err := h.Service.Segments(ctx, acct, audience.SegmentFilter{})
	if err != nil {
		return "", nil, err
	}
	var d segmentsData
	for _, s := range segs {
		d.Rows = append(d.Rows, segmentRow{Vendor: "SendGrid", Kind: sendGridKind(s.QueryVersion), Href: "/console/segments/sg/" + s.ID,
			Name: s.Name, Query: s.QueryDSL, Count: s.ContactsCount, Problem: s.QueryError, Updated: s.UpdatedAt})
	}
	if !p.Key.Has(segmentd.ScopeConstantContactRead) {
		d.CCErr = "This API key lacks the constantcontact.read scope, so Constant Contact's segments are not shown."
	} else {
		ccs, err := h.Service.CCSegments(ctx, acct, segmentd.CCSegmentPage{Order: segmentd.CCByName})
		if err != nil {
			return "", nil, err
		}
		for _, s := range ccs {
			n, err := h.Service.CCSegmentCount(ctx, acct, s.ID)
			if err != nil {
				return "", nil, err
			}
			d.Rows = append(d.Rows, segmentRow{Vendor: "Constant Contact", Kind: "criteria", Href: "/console/segments/cc/" + strconv.FormatInt(s.ID, 10),
				Name: s.Name, Query: s.Criteria, Count: n, Updated: s.EditedAt})
		}
	}
	slices.SortStableFunc(d.Rows, func(a, b segmentRow) int { return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return "segments", d, nil
}

func sendGridKind(version string) string {
	if version == "2" {
		return "2.0 SQL"
	}
	return "SGQL (v1)"
}

// contactRow is a contact in a table.
type contactRow struct {
	ID, Email, Name string
	Lists           int
	Segments        int
}

func rows(cs []segmentd.Contact) []contactRow {
	out := make([]contactRow, 0, len(cs))
	for _, c := range cs {
		out = append(out, contactRow{ID: c.ID, Email: c.Email, Name: strings.TrimSpace(c.FirstName + " " + c.LastName),
			Lists: len(c.ListIDs), Segments: len(c.SegmentIDs)})
	}
	return out
}

type segmentData struct {
	Vendor, Kind, ID, Name, Query, Problem, EditHref string
	Count                                            int
	Lists                                            []named // parent lists
	Sample                                           []contactRow
	Created, Updated                                 time.Time
	History                                          historyData
	Explain                                          explainData
}

// more reads what the segment page shows besides the segment: its
// history and, when asked, a contact's explanation.
func (h *handler) more(r *http.Request, p audience.Principal, seg segmentd.HookSegment, href string, d *segmentData) error {
	var err error
	if d.History, err = h.history(r.Context(), p, seg); err != nil {
		return err
	}
	d.Explain, err = h.explain(r, p.Account.ID, seg, href)
	return err
}

type named struct{ ID, Name, Href string }

func (h *handler) sendGridSegment(r *http.Request, p audience.Principal) (string, any, error) {
	ctx, acct := r.Context(), p.Account.ID
	s, err := h.Service.Segment(ctx, acct, r.PathValue("id"), true)
	if err != nil {
		return "", nil, err
	}
	lists, err := h.listNames(ctx, acct)
	if err != nil {
		return "", nil, err
	}
	d := segmentData{Vendor: "SendGrid", Kind: sendGridKind(s.QueryVersion), ID: s.ID, Name: s.Name, Query: s.QueryDSL, Problem: s.QueryError,
		Count: s.ContactsCount, Sample: rows(s.Sample), Created: s.CreatedAt, Updated: s.UpdatedAt, EditHref: "/console/segments/edit?sg=" + s.ID}
	for _, id := range s.ParentListIDs {
		d.Lists = append(d.Lists, named{ID: id, Name: lists[id]})
	}
	if err := h.more(r, p, segmentd.HookSegment{Vendor: segmentd.VendorSendGrid, ID: s.ID}, "/console/segments/sg/"+s.ID, &d); err != nil {
		return "", nil, err
	}
	return "segment", d, nil
}

// ccSampleSize is how many members a Constant Contact segment's page
// shows.
const ccSampleSize = 50

func (h *handler) ccSegment(r *http.Request, p audience.Principal) (string, any, error) {
	ctx, acct := r.Context(), p.Account.ID
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		return "", nil, segmentd.Errorf(segmentd.KindNotFound, "id", "segment %s does not exist", segmentd.Quote(r.PathValue("id")))
	}
	s, err := h.Service.CCSegment(ctx, acct, id)
	if err != nil {
		return "", nil, err
	}
	if !s.DeletedAt.IsZero() {
		return "", nil, segmentd.Errorf(segmentd.KindNotFound, "id", "segment %d was deleted", id)
	}
	n, err := h.Service.CCSegmentCount(ctx, acct, id)
	if err != nil {
		return "", nil, err
	}
	page, err := h.Service.CCSegmentContacts(ctx, acct, id, 0, ccSampleSize)
	if err != nil {
		return "", nil, err
	}
	sid := strconv.FormatInt(id, 10)
	d := segmentData{Vendor: "Constant Contact", Kind: "criteria", ID: sid, Name: s.Name, Query: s.Criteria,
		Count: n, Sample: rows(page.Contacts), Created: s.CreatedAt, Updated: s.EditedAt, EditHref: "/console/segments/edit?cc=" + sid}
	if err := h.more(r, p, segmentd.HookSegment{Vendor: segmentd.VendorConstantContact, ID: sid}, "/console/segments/cc/"+sid, &d); err != nil {
		return "", nil, err
	}
	return "segment", d, nil
}

// editorData fills the segment editor: empty for a new segment, or the
// segment being edited.
type editorData struct {
	Vendor   string // "sg" or "cc"; "" for a new segment
	ID       string
	Name     string
	Language string // "sql", "sgql" or "cc"
	Query    string
}

func (h *handler) editor(r *http.Request, p audience.Principal) (string, any, error) {
	ctx, acct := r.Context(), p.Account.ID
	q := r.URL.Query()
	switch {
	case q.Get("sg") != "":
		s, err := h.Service.Segment(ctx, acct, q.Get("sg"), false)
		if err != nil {
			return "", nil, err
		}
		lang := "sql"
		if s.QueryVersion != "2" {
			lang = "sgql"
		}
		return "editor", editorData{Vendor: "sg", ID: s.ID, Name: s.Name, Language: lang, Query: s.QueryDSL}, nil
	case q.Get("cc") != "":
		if !p.Key.Has(segmentd.ScopeConstantContactRead) {
			return "", nil, segmentd.Errorf(segmentd.KindForbidden, "", "access forbidden: this API key lacks the %s scope", segmentd.ScopeConstantContactRead)
		}
		id, err := strconv.ParseInt(q.Get("cc"), 10, 64)
		if err != nil {
			return "", nil, segmentd.Errorf(segmentd.KindNotFound, "id", "segment %s does not exist", segmentd.Quote(q.Get("cc")))
		}
		s, err := h.Service.CCSegment(ctx, acct, id)
		if err != nil {
			return "", nil, err
		}
		return "editor", editorData{Vendor: "cc", ID: strconv.FormatInt(s.ID, 10), Name: s.Name, Language: "cc", Query: s.Criteria}, nil
	}
	lang := q.Get("language")
	if lang != "sgql" && lang != "cc" {
		lang = "sql"
	}
	return "editor", editorData{Language: lang}, nil
}

// searchLimit is how many contacts a contacts view lists.
const searchLimit = 100

type contactsData struct {
	Mode, Query string
	Rows        []contactRow
	Total       int
	Shown       string // what the rows are
}

func (h *handler) contacts(r *http.Request, p audience.Principal) (string, any, error) {
	ctx, acct := r.Context(), p.Account.ID
	q := r.URL.Query()
	d := contactsData{Mode: q.Get("mode"), Query: strings.TrimSpace(q.Get("q"))}
	if d.Mode != "sgql" {
		d.Mode = "email"
	}
	switch {
	case d.Query == "":
		cs, n, err := h.Service.SampleContacts(ctx, acct)
		if err != nil {
			return "", nil, err
		}
		d.Rows, d.Total, d.Shown = rows(cs), n, "A sample of the account's contacts."
	case d.Mode == "email":
		keys, found, err := h.Service.ContactsByEmails(ctx, acct, []string{d.Query})
		if err != nil {
			return "", nil, err
		}
		for _, k := range keys {
			if c, ok := found[k]; ok {
				d.Rows = append(d.Rows, rows([]segmentd.Contact{c})...)
			}
		}
		d.Total, d.Shown = len(d.Rows), "Contacts whose email or alternate email is "+d.Query+"."
	default:
		cs, n, err := h.Service.SearchContacts(ctx, acct, d.Query)
		if err != nil {
			return "", nil, err
		}
		if len(cs) > searchLimit {
			cs = cs[:searchLimit]
		}
		d.Rows, d.Total, d.Shown = rows(cs), n, "Contacts the SGQL query matches."
	}
	return "contacts", d, nil
}

// contactEventsShown is how many of a contact's latest events its page
// shows.
const contactEventsShown = 20

type contactData struct {
	ID       string
	Events   []segmentd.Event
	Fields   []fieldValue
	Lists    []named
	Segments []named
	Created  time.Time
	Updated  time.Time
	CCErr    string
}

type fieldValue struct {
	Name, Value string
	Custom      bool
}

func (h *handler) contact(r *http.Request, p audience.Principal) (string, any, error) {
	ctx, acct := r.Context(), p.Account.ID
	c, err := h.Service.Contact(ctx, acct, r.PathValue("id"))
	if err != nil {
		return "", nil, err
	}
	defs, err := h.Service.FieldsByID(ctx, acct)
	if err != nil {
		return "", nil, err
	}
	lists, err := h.listNames(ctx, acct)
	if err != nil {
		return "", nil, err
	}
	d := contactData{ID: c.ID, Created: c.CreatedAt, Updated: c.UpdatedAt, Fields: reservedValues(c)}
	var custom []fieldValue
	for id, v := range c.CustomFields {
		name := id
		if def, ok := defs[id]; ok {
			name = def.Name
		}
		custom = append(custom, fieldValue{Name: name, Value: valueText(v), Custom: true})
	}
	slices.SortFunc(custom, func(a, b fieldValue) int { return cmp.Compare(a.Name, b.Name) })
	d.Fields = append(d.Fields, custom...)
	for _, id := range c.ListIDs {
		d.Lists = append(d.Lists, named{ID: id, Name: lists[id]})
	}
	if d.Events, err = h.Service.ContactEvents(ctx, acct, c.ID, contactEventsShown); err != nil {
		return "", nil, err
	}
	sg, cc, err := h.Service.ContactSegments(ctx, acct, c.ID)
	if err != nil {
		return "", nil, err
	}
	if len(sg) > 0 {
		views, err := h.Service.Segments(ctx, acct, audience.SegmentFilter{IDs: sg})
		if err != nil {
			return "", nil, err
		}
		for _, s := range views {
			d.Segments = append(d.Segments, named{ID: s.ID, Name: s.Name + " (SendGrid)", Href: "/console/segments/sg/" + s.ID})
		}
	}
	if len(cc) > 0 {
		if !p.Key.Has(segmentd.ScopeConstantContactRead) {
			d.CCErr = "This API key lacks the constantcontact.read scope, so the contact's Constant Contact segments are not shown."
		} else {
			for _, id := range cc {
				s, err := h.Service.CCSegment(ctx, acct, id)
				if err != nil {
					return "", nil, err
				}
				sid := strconv.FormatInt(id, 10)
				d.Segments = append(d.Segments, named{ID: sid, Name: s.Name + " (Constant Contact)", Href: "/console/segments/cc/" + sid})
			}
		}
	}
	slices.SortStableFunc(d.Segments, func(a, b named) int { return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return "contact", d, nil
}

// reservedValues are a contact's set reserved fields, in SendGrid's
// order.
func reservedValues(c segmentd.Contact) []fieldValue {
	var out []fieldValue
	add := func(name, v string) {
		if v != "" {
			out = append(out, fieldValue{Name: name, Value: v})
		}
	}
	add("email", c.Email)
	add("alternate_emails", strings.Join(c.AlternateEmails, ", "))
	add("phone_number_id", c.PhoneNumberID)
	add("external_id", c.ExternalID)
	add("anonymous_id", c.AnonymousID)
	add("first_name", c.FirstName)
	add("last_name", c.LastName)
	add("address_line_1", c.AddressLine1)
	add("address_line_2", c.AddressLine2)
	add("city", c.City)
	add("state_province_region", c.StateProvinceRegion)
	add("postal_code", c.PostalCode)
	add("country", c.Country)
	add("phone_number", c.PhoneNumber)
	add("whatsapp", c.WhatsApp)
	add("line", c.Line)
	add("facebook", c.Facebook)
	add("unique_name", c.UniqueName)
	return out
}

func valueText(v segmentd.Value) string {
	switch v.Type {
	case segmentd.FieldNumber:
		return strconv.FormatFloat(v.Number, 'f', -1, 64)
	case segmentd.FieldDate:
		return v.Time.UTC().Format(time.RFC3339)
	}
	return v.Text
}

// listNames maps the account's list ids to their names.
func (h *handler) listNames(ctx context.Context, acct int64) (map[string]string, error) {
	ls, err := h.allLists(ctx, acct)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(ls))
	for _, l := range ls {
		out[l.ID] = l.Name
	}
	return out, nil
}

// allLists reads every list of the account, with its count, page by page.
func (h *handler) allLists(ctx context.Context, acct int64) ([]segmentd.List, error) {
	var out []segmentd.List
	token := ""
	for {
		page, err := h.Service.Lists(ctx, acct, token, segmentd.MaxListPageSize)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Lists...)
		if page.Next == "" {
			return out, nil
		}
		token = page.Next
	}
}

type listsData struct {
	Lists    []segmentd.List
	Contacts int
}

func (h *handler) lists(r *http.Request, p audience.Principal) (string, any, error) {
	ctx, acct := r.Context(), p.Account.ID
	ls, err := h.allLists(ctx, acct)
	if err != nil {
		return "", nil, err
	}
	n, err := h.Service.CountContacts(ctx, acct)
	if err != nil {
		return "", nil, err
	}
	slices.SortStableFunc(ls, func(a, b segmentd.List) int { return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	return "lists", listsData{Lists: ls, Contacts: n}, nil
}

// deliveriesShown is how many of a subscription's latest delivery
// attempts the server view reads.
const deliveriesShown = 20

type serverData struct {
	Jobs    []segmentd.Job
	Exports []segmentd.Export
	Hooks   []hookHealth
	HookErr string
	// Metrics are the counters of GET /metrics; MetricsOff when the
	// server keeps none.
	Metrics    []metricRow
	MetricsOff bool
}

// metricRow is one series of a metric, as the server page lists it.
type metricRow struct {
	Name, Labels, Type, Help string
	Value                    string
}

// hookHealth is a webhook subscription with its latest attempts.
type hookHealth struct {
	segmentd.Subscription
	Attempts, Failed int
	Last             *segmentd.Delivery
}

func (h *handler) server(r *http.Request, p audience.Principal) (string, any, error) {
	ctx, acct := r.Context(), p.Account.ID
	var d serverData
	var err error
	if d.Jobs, err = h.Service.RecentJobs(ctx, acct); err != nil {
		return "", nil, err
	}
	if d.Exports, err = h.Service.Exports(ctx, acct); err != nil {
		return "", nil, err
	}
	if d.Metrics, d.MetricsOff, err = h.metricRows(strconv.FormatInt(acct, 10)); err != nil {
		return "", nil, err
	}
	if !p.Key.Has(segmentd.ScopeWebhooks) {
		d.HookErr = "This API key lacks the " + string(segmentd.ScopeWebhooks) + " scope, so webhook subscriptions are not shown."
		return "server", d, nil
	}
	subs, err := h.Service.Subscriptions(ctx, acct)
	if err != nil {
		return "", nil, err
	}
	for _, s := range subs {
		ds, err := h.Service.HookDeliveries(ctx, acct, s.ID, 0, deliveriesShown)
		if err != nil {
			return "", nil, err
		}
		hh := hookHealth{Subscription: s, Attempts: len(ds)}
		for i := range ds {
			if ds[i].Error != "" || ds[i].StatusCode < 200 || ds[i].StatusCode > 299 {
				hh.Failed++
			}
		}
		if len(ds) > 0 {
			hh.Last = &ds[0]
		}
		d.Hooks = append(d.Hooks, hh)
	}
	return "server", d, nil
}

// metricRows reads the counters GET /metrics exports, as a scrape would,
// leaving out the series of other accounts than acct (the engine's
// per-account ones) and the Go runtime's and the process's own.
func (h *handler) metricRows(acct string) (rows []metricRow, off bool, err error) {
	if h.Metrics == nil {
		return nil, true, nil
	}
	fams, err := h.Metrics()
	if err != nil {
		return nil, false, err
	}
	for _, f := range fams {
		if !strings.HasPrefix(f.Name, "segmentd_") {
			continue
		}
		for _, smp := range f.Samples {
			if a, ok := smp.Labels["account"]; ok && a != acct {
				continue
			}
			keys := slices.Sorted(maps.Keys(smp.Labels))
			var labels []string
			for _, k := range keys {
				labels = append(labels, k+"="+smp.Labels[k])
			}
			v := strconv.FormatFloat(smp.Value, 'f', -1, 64)
			if f.Type == "histogram" || f.Type == "summary" {
				v = strconv.FormatFloat(smp.Value, 'f', -1, 64) + " observations"
				if smp.Value > 0 {
					v += ", mean " + strconv.FormatFloat(smp.Sum/smp.Value, 'g', 4, 64)
				}
			}
			rows = append(rows, metricRow{Name: f.Name, Labels: strings.Join(labels, ", "), Type: f.Type, Help: f.Help, Value: v})
		}
	}
	return rows, false, nil
}
