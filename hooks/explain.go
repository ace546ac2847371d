package hooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"sort"
	"strings"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/ownapi"
	"github.com/segmentd/segmentd/query"
	"github.com/segmentd/segmentd/server"
)

// Preview and explain (docs/explain.md): what a query would select, and
// why a contact is or is not in a segment. They read an account's
// segments and contacts, so they take a key that may read them through
// either vendor's face: sendgrid.read or constantcontact.read.

// explainRoutes adds the preview and explain endpoints to the face's
// routing table.
func (h *handler) explainRoutes(rt *server.Router) {
	rt.Handle("POST /segmentd/v1/preview", h.reading(h.preview))
	rt.Handle("GET /segmentd/v1/segments/{vendor}/{id}/explain", h.reading(h.explain))
	rt.Handle("GET /segmentd/v1/completions", h.reading(h.completions))
}

// readScopes are the scopes of which a key needs one to preview and
// explain.
var readScopes = []segmentd.Scope{segmentd.ScopeSendGridRead, segmentd.ScopeConstantContactRead}

// reading is serve for the endpoints that read segments and contacts: a
// key with any of readScopes, and query errors answered with where they
// are.
func (h *handler) reading(fn func(w http.ResponseWriter, r *http.Request, p audience.Principal) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := func() (err error) {
			defer server.Recover(&err)
			var p audience.Principal
			for _, scope := range readScopes {
				p, err = h.Service.Authenticate(r.Context(), bearer(r), r.Header.Get("On-Behalf-Of"), scope)
				if !isScopeError(err) {
					break
				}
			}
			if isScopeError(err) {
				return segmentd.Errorf(segmentd.KindForbidden, "", "access forbidden: this API key lacks the %s or %s scope", readScopes[0], readScopes[1])
			}
			if err != nil {
				return err
			}
			return fn(w, r, p)
		}()
		var qe *segmentd.QueryError
		switch {
		case err == nil:
		case errors.As(err, &qe):
			ownapi.WriteJSON(w, http.StatusBadRequest, queryErrorBody{Errors: []queryErrorItem{{
				Field: qe.Field, Message: qe.Message, Line: qe.Line, Column: qe.Column, Path: qe.Path}}})
		default:
			h.fail(w, r, err)
		}
	})
}

// isScopeError reports whether err is Authenticate's refusal for a
// missing scope (rather than for an on-behalf-of account), after which
// the next scope is worth trying.
func isScopeError(err error) bool {
	var e *segmentd.Error
	return errors.As(err, &e) && e.Kind == segmentd.KindForbidden && e.Field == ""
}

// queryErrorBody is the error envelope of an invalid query: the face's
// one, with where the error is.
type queryErrorBody struct {
	Errors []queryErrorItem `json:"errors"`
}

type queryErrorItem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Path    string `json:"path,omitempty"`
}

// previewBody is POST /segmentd/v1/preview's body: a query_dsl (2.0 SQL
// when query_version is "2" or absent, SGQL when "1"), or a Constant
// Contact segment_criteria document (an object, or a string holding one
// as Constant Contact's API takes it).
type previewBody struct {
	QueryDSL        *string         `json:"query_dsl"`
	QueryVersion    *string         `json:"query_version"`
	SegmentCriteria json.RawMessage `json:"segment_criteria"`
	ParentListID    string          `json:"parent_list_id"`
	Sample          *int            `json:"sample"`
}

func (b previewBody) input() (audience.PreviewInput, error) {
	in := audience.PreviewInput{ParentListID: b.ParentListID, Sample: segmentd.DefaultPreviewSample}
	if b.Sample != nil {
		in.Sample = *b.Sample
	}
	switch {
	case b.QueryDSL != nil && b.SegmentCriteria != nil:
		return in, segmentd.Errorf(segmentd.KindInvalid, "", "give query_dsl or segment_criteria, not both")
	case b.SegmentCriteria != nil:
		if b.QueryVersion != nil {
			return in, segmentd.Errorf(segmentd.KindInvalid, "query_version", "query_version goes with query_dsl, not segment_criteria")
		}
		in.Lang = segmentd.LangCC
		in.Query = string(b.SegmentCriteria)
		var s string
		if json.Unmarshal(b.SegmentCriteria, &s) == nil {
			in.Query = s
		} else if !bytes.HasPrefix(bytes.TrimSpace(b.SegmentCriteria), []byte("{")) {
			return in, segmentd.Errorf(segmentd.KindInvalid, "segment_criteria", "segment_criteria must be a JSON object or a string holding one")
		}
		return in, nil
	case b.QueryDSL == nil:
		return in, segmentd.Errorf(segmentd.KindInvalid, "query_dsl", "query_dsl or segment_criteria is required")
	}
	in.Query = *b.QueryDSL
	in.Lang = segmentd.LangSQL
	if b.QueryVersion != nil {
		switch *b.QueryVersion {
		case "2":
		case "1":
			in.Lang = segmentd.LangSGQL
		default:
			return in, segmentd.Errorf(segmentd.KindInvalid, "query_version", "query_version %s must be \"1\" (SGQL) or \"2\" (Segments 2.0 SQL)", segmentd.Quote(*b.QueryVersion))
		}
	}
	return in, nil
}

func (h *handler) preview(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	var b previewBody
	if err := readBody(w, r, &b); err != nil {
		return err
	}
	in, err := b.input()
	if err != nil {
		return err
	}
	v, err := h.Service.Preview(r.Context(), p.Account.ID, in)
	if err != nil {
		return err
	}
	fields, err := h.Service.FieldsByID(r.Context(), p.Account.ID)
	if err != nil {
		return err
	}
	sample := make([]contactJSON, len(v.Sample))
	for i, c := range v.Sample {
		sample[i] = renderContact(c, fields)
	}
	ownapi.WriteJSON(w, http.StatusOK, map[string]any{"contacts_count": v.Count, "contacts_sample": sample})
	return nil
}

// contactJSON is a contact as SendGrid's segment samples show it
// (ContactResponse), which Constant Contact segments share here.
type contactJSON struct {
	ID                  string         `json:"id"`
	Email               string         `json:"email,omitempty"`
	PhoneNumberID       string         `json:"phone_number_id,omitempty"`
	ExternalID          string         `json:"external_id,omitempty"`
	AnonymousID         string         `json:"anonymous_id,omitempty"`
	AlternateEmails     []string       `json:"alternate_emails"`
	FirstName           string         `json:"first_name"`
	LastName            string         `json:"last_name"`
	AddressLine1        string         `json:"address_line_1"`
	AddressLine2        string         `json:"address_line_2"`
	City                string         `json:"city"`
	StateProvinceRegion string         `json:"state_province_region"`
	PostalCode          string         `json:"postal_code"`
	Country             string         `json:"country"`
	ListIDs             []string       `json:"list_ids"`
	SegmentIDs          []string       `json:"segment_ids"`
	CustomFields        map[string]any `json:"custom_fields"`
	CreatedAt           string         `json:"created_at"`
	UpdatedAt           string         `json:"updated_at"`
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// renderContact renders c with its custom fields by name (values of
// fields deleted since are left out).
func renderContact(c segmentd.Contact, fields map[string]segmentd.FieldDefinition) contactJSON {
	custom := make(map[string]any, len(c.CustomFields))
	for id, v := range c.CustomFields {
		def, ok := fields[id]
		if !ok {
			continue
		}
		switch v.Type {
		case segmentd.FieldNumber:
			custom[def.Name] = v.Number
		case segmentd.FieldDate:
			custom[def.Name] = jsonTime(v.Time)
		default:
			custom[def.Name] = v.Text
		}
	}
	segs := nonNil(c.SegmentIDs)
	sort.Strings(segs)
	return contactJSON{
		ID: c.ID, Email: c.Email, PhoneNumberID: c.PhoneNumberID, ExternalID: c.ExternalID, AnonymousID: c.AnonymousID,
		AlternateEmails: nonNil(c.AlternateEmails), FirstName: c.FirstName, LastName: c.LastName,
		AddressLine1: c.AddressLine1, AddressLine2: c.AddressLine2, City: c.City,
		StateProvinceRegion: c.StateProvinceRegion, PostalCode: c.PostalCode, Country: c.Country,
		ListIDs: nonNil(c.ListIDs), SegmentIDs: segs, CustomFields: custom,
		CreatedAt: jsonTime(c.CreatedAt), UpdatedAt: jsonTime(c.UpdatedAt),
	}
}

// explainJSON is GET /segmentd/v1/segments/{vendor}/{id}/explain's answer.
type explainJSON struct {
	Segment         SegmentJSON `json:"segment"`
	Contact         ContactJSON `json:"contact"`
	At              string      `json:"at"`
	Member          bool        `json:"member"`
	Verdict         string      `json:"verdict"`
	ParentListID    string      `json:"parent_list_id,omitempty"`
	OnParentList    *bool       `json:"on_parent_list,omitempty"`
	QueryDSL        string      `json:"query_dsl,omitempty"`
	SegmentCriteria string      `json:"segment_criteria,omitempty"`
	Query           clauseJSON  `json:"query"`
}

// clauseJSON is one clause of an explanation.
type clauseJSON struct {
	// Kind is "and", "or", "not" or "condition".
	Kind    string         `json:"kind"`
	Text    string         `json:"text"`
	Line    int            `json:"line,omitempty"`
	Column  int            `json:"column,omitempty"`
	Path    string         `json:"path,omitempty"`
	Verdict string         `json:"verdict"`
	Values  []valueJSON    `json:"values,omitempty"`
	Event   map[string]any `json:"event,omitempty"`
	Clauses []clauseJSON   `json:"clauses,omitempty"`
}

type valueJSON struct {
	Name  string `json:"name"`
	Value any    `json:"value"`
}

func toClauseJSON(c segmentd.Clause) clauseJSON {
	out := clauseJSON{Kind: "condition", Text: c.Text, Line: c.Line, Column: c.Column, Path: c.Path, Verdict: string(c.Verdict), Event: c.Event}
	if c.Op != "" {
		out.Kind = strings.ToLower(c.Op)
	}
	for _, v := range c.Values {
		out.Values = append(out.Values, valueJSON(v))
	}
	for _, k := range c.Children {
		out.Clauses = append(out.Clauses, toClauseJSON(k))
	}
	return out
}

func (h *handler) explain(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	q := r.URL.Query()
	for key := range q {
		if key != "contact_id" && key != "email" {
			return segmentd.Errorf(segmentd.KindInvalid, key, "unknown query parameter %s (want contact_id or email)", segmentd.Quote(key))
		}
	}
	v, err := h.Service.Explain(r.Context(), p.Account.ID, audience.ExplainInput{
		Segment:   segmentd.HookSegment{Vendor: r.PathValue("vendor"), ID: r.PathValue("id")},
		ContactID: q.Get("contact_id"), Email: q.Get("email"),
	})
	if err != nil {
		return err
	}
	out := explainJSON{Segment: SegmentJSON(v.Segment), Contact: ContactJSON{ID: v.Contact.ID, Email: v.Contact.Email},
		At: jsonTime(v.At), Member: v.Member, Verdict: string(v.Verdict), ParentListID: v.ParentListID,
		QueryDSL: v.QueryDSL, SegmentCriteria: v.Criteria, Query: toClauseJSON(v.Tree)}
	if v.ParentListID != "" {
		out.OnParentList = &v.OnParentList
	}
	ownapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// nameJSON is a name a query may use, with its type.
type nameJSON struct {
	Name string `json:"name"`
	// Type is "text", "number", "date", or "array" (a set of strings,
	// tested with array_contains).
	Type string `json:"type"`
}

type listNameJSON struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// completions answers GET /segmentd/v1/completions: the names a query of
// the account may use, for a segment builder's completion.
func (h *handler) completions(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	v, err := h.Service.Completions(r.Context(), p.Account.ID)
	if err != nil {
		return err
	}
	reserved := []nameJSON{}
	for _, f := range query.ReservedFields() {
		if !f.Queryable {
			continue
		}
		typ := strings.ToLower(f.Type.String())
		if f.Array {
			typ = "array"
		}
		reserved = append(reserved, nameJSON{Name: f.Name, Type: typ})
	}
	custom := []nameJSON{}
	for _, f := range v.Fields {
		custom = append(custom, nameJSON{Name: f.Name, Type: strings.ToLower(string(f.Type))})
	}
	lists := []listNameJSON{}
	for _, l := range v.Lists {
		lists = append(lists, listNameJSON{ID: l.ID, Name: l.Name})
	}
	ownapi.WriteJSON(w, http.StatusOK, map[string]any{
		"reserved_fields": reserved, "custom_fields": custom,
		"event_fields": query.EventColumns(), "event_types": query.EventTypes(), "lists": lists,
	})
	return nil
}
