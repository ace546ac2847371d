package sendgrid

import (
	"net/http"
	"slices"
	"strings"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
)

// Segments 2.0: tsg_mc_segments_2.0_v3, docs/sendgrid.md "Segments";
// envelopes in docs/sendgrid-errors.md.
//
// Errors: 400 and 404 answer E4, {"errors":[{"field","message"}]}, whose
// field is a required string; 500 answers E4 too (this spec's 500 is E4,
// not the E3 of the other SendGrid APIs). The refresh endpoint answers E5,
// {"error":"…"}, on 404 and 500. An unknown segment (or a malformed id) is
// 404 with field "segment_id" on every operation, although GET documents
// no 404 (docs/sendgrid.md "Spec contradictions" 9). The routing table declares these
// envelopes (envSegments2, envRefresh), and adapt renders them.

// maxParentListFilter bounds ?parent_list_ids on the list endpoints ("no
// more than 50 is allowed").
const maxParentListFilter = 50

// segmentStatus is SegmentStatusResponse. Queries are checked before a
// segment is saved, so a saved segment reads VALID, until a custom field its
// query uses is deleted: then it matches nobody and reads INVALID with the
// checker's message, as SendGrid reports queries it stopped processing.
type segmentStatus struct {
	QueryValidation string `json:"query_validation"`
	ErrorMessage    string `json:"error_message,omitempty"`
}

// sampleContact is ContactResponse, the item of segment samples (v1 and
// 2.0). postal_code is a string, as everywhere else in segmentd, although
// this one schema types it as an integer (docs/sendgrid.md
// "Spec contradictions" 4).
type sampleContact struct {
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
}

func (cr *contactRenderer) renderSample(cs []segmentd.Contact) []sampleContact {
	out := make([]sampleContact, 0, len(cs))
	for _, c := range cs {
		f := cr.render(c)
		out = append(out, sampleContact{
			ID: f.ID, Email: f.Email, PhoneNumberID: f.PhoneNumberID, ExternalID: f.ExternalID, AnonymousID: f.AnonymousID,
			AlternateEmails: f.AlternateEmails, FirstName: f.FirstName, LastName: f.LastName,
			AddressLine1: f.AddressLine1, AddressLine2: f.AddressLine2, City: f.City,
			StateProvinceRegion: f.StateProvinceRegion, PostalCode: f.PostalCode, Country: f.Country,
			ListIDs: f.ListIDs, SegmentIDs: f.SegmentIDs, CustomFields: f.CustomFields,
		})
	}
	return out
}

// segment2Item is AllSegments200, one item of the 2.0 list.
type segment2Item struct {
	ID               string        `json:"id"`
	Name             string        `json:"name"`
	ContactsCount    int           `json:"contacts_count"`
	CreatedAt        string        `json:"created_at"`
	UpdatedAt        string        `json:"updated_at"`
	SampleUpdatedAt  string        `json:"sample_updated_at"`
	NextSampleUpdate string        `json:"next_sample_update"`
	ParentListIDs    []string      `json:"parent_list_ids"`
	QueryVersion     string        `json:"query_version"`
	Status           segmentStatus `json:"status"`
}

// segment2Response is Segment2xx.
type segment2Response struct {
	ID               string          `json:"id"`
	Name             string          `json:"name"`
	QueryDSL         string          `json:"query_dsl"`
	ContactsCount    int             `json:"contacts_count"`
	ContactsSample   []sampleContact `json:"contacts_sample"`
	CreatedAt        string          `json:"created_at"`
	UpdatedAt        string          `json:"updated_at"`
	SampleUpdatedAt  string          `json:"sample_updated_at"`
	NextSampleUpdate string          `json:"next_sample_update"`
	ParentListIDs    []string        `json:"parent_list_ids"`
	QueryVersion     string          `json:"query_version"`
	Status           segmentStatus   `json:"status"`
	RefreshesUsed    int             `json:"refreshes_used"`
	MaxRefreshes     int             `json:"max_refreshes"`
	LastRefreshedAt  string          `json:"last_refreshed_at,omitempty"`
	// IdentifierCounts is segmentd's addition (docs/sendgrid.md
	// "Segments"): not in SendGrid's spec, but seen on its real GET
	// responses; the members having each identifier.
	IdentifierCounts identifierCounts `json:"identifier_counts"`
}

// identifierCounts uses SendGrid's observed keys.
type identifierCounts struct {
	AnonymousID   int `json:"AID"`
	Email         int `json:"EID"`
	ExternalID    int `json:"EXTID"`
	PhoneNumberID int `json:"PHNID"`
}

func queryStatus(v audience.SegmentView) segmentStatus {
	if v.QueryError != "" {
		return segmentStatus{QueryValidation: "INVALID", ErrorMessage: v.QueryError}
	}
	return segmentStatus{QueryValidation: "VALID"}
}

func segment2ItemJSON(v audience.SegmentView) segment2Item {
	return segment2Item{
		ID: v.ID, Name: v.Name, ContactsCount: v.ContactsCount,
		CreatedAt: timestamp(v.CreatedAt), UpdatedAt: timestamp(v.UpdatedAt),
		SampleUpdatedAt: timestamp(v.SampleUpdatedAt), NextSampleUpdate: timestamp(v.NextSampleUpdate),
		ParentListIDs: nonNil(v.ParentListIDs), QueryVersion: v.QueryVersion, Status: queryStatus(v),
	}
}

// segment2JSON renders a segment; cr is nil when no sample was asked for.
// contacts_sample=false then sends an empty sample rather than none:
// Segment2xx requires the property, and clients that validate responses
// against SendGrid's document would refuse its absence.
func segment2JSON(v audience.SegmentView, cr *contactRenderer) segment2Response {
	out := segment2Response{
		ID: v.ID, Name: v.Name, QueryDSL: v.QueryDSL, ContactsCount: v.ContactsCount,
		CreatedAt: timestamp(v.CreatedAt), UpdatedAt: timestamp(v.UpdatedAt),
		SampleUpdatedAt: timestamp(v.SampleUpdatedAt), NextSampleUpdate: timestamp(v.NextSampleUpdate),
		ParentListIDs: nonNil(v.ParentListIDs), QueryVersion: v.QueryVersion, Status: queryStatus(v),
		RefreshesUsed: v.RefreshesUsed, MaxRefreshes: segmentd.MaxRefreshesPerSegmentDay,
		IdentifierCounts: identifierCounts{AnonymousID: v.Identifiers.AnonymousID, Email: v.Identifiers.Email,
			ExternalID: v.Identifiers.ExternalID, PhoneNumberID: v.Identifiers.PhoneNumberID},
	}
	if !v.LastRefreshedAt.IsZero() {
		out.LastRefreshedAt = timestamp(v.LastRefreshedAt)
	}
	out.ContactsSample = []sampleContact{}
	if cr != nil {
		out.ContactsSample = cr.renderSample(v.Sample)
	}
	return out
}

// segmentFilter reads the list endpoints' ids, parent_list_ids and
// no_parent_list_id.
func segmentFilter(r *http.Request) (audience.SegmentFilter, error) {
	var f audience.SegmentFilter
	f.IDs = queryList(r, "ids")
	f.ParentListIDs = queryList(r, "parent_list_ids")
	if len(f.ParentListIDs) > maxParentListFilter {
		return f, invalid("parent_list_ids", "parent_list_ids may hold at most %d list ids", maxParentListFilter)
	}
	var err error
	f.NoParentListID, err = queryBool(r, "no_parent_list_id", false)
	return f, err
}

type segment2Write struct {
	Name          *string   `json:"name"`
	QueryDSL      *string   `json:"query_dsl"`
	ParentListIDs *[]string `json:"parent_list_ids"`
}

func lowerAll(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, strings.ToLower(strings.TrimSpace(id)))
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func (h *handler) createSegment2(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var req segment2Write
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	var parents []string
	if req.ParentListIDs != nil {
		parents = lowerAll(*req.ParentListIDs)
	}
	v, err := h.svc.CreateSegment(r.Context(), acct.ID, deref(req.Name), deref(req.QueryDSL), "2", parents)
	if err != nil {
		return err
	}
	return h.writeSegment2(w, r, acct.ID, http.StatusCreated, v)
}

func (h *handler) writeSegment2(w http.ResponseWriter, r *http.Request, acct int64, status int, v audience.SegmentView) error {
	cr, err := h.renderer(r.Context(), r, acct)
	if err != nil {
		return err
	}
	return writeSegment2JSON(w, status, v, cr)
}

// writeSegment2JSON writes segment2JSON(v, cr) as writeJSON would, through
// appendSegment2.
func writeSegment2JSON(w http.ResponseWriter, status int, v audience.SegmentView, cr *contactRenderer) error {
	size := 1024
	if cr != nil { // the sample is written
		size += 700 * len(v.Sample)
	}
	b, err := appendSegment2(make([]byte, 0, size), v, cr)
	if err != nil {
		return internal("encoding response: %w", err)
	}
	writeBody(w, status, b)
	return nil
}

func (h *handler) listSegments2(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	// The 2.0 list holds v1 segments too (query_version ""), as SendGrid's
	// spec says of query_version.
	return listSegments(h, w, r, acct, nil, segment2ItemJSON)
}

// listSegments answers a segment list endpoint: the filter of the query
// parameters (and, when version is set, only segments of that
// query_version), each item rendered by item, in {"results":[…]}.
func listSegments[T any](h *handler, w http.ResponseWriter, r *http.Request, acct segmentd.Account, version *string, item func(audience.SegmentView) T) error {
	f, err := segmentFilter(r)
	if err != nil {
		return err
	}
	if version != nil {
		f.Version, f.VersionSet = *version, true
	}
	vs, err := h.svc.Segments(r.Context(), acct.ID, f)
	if err != nil {
		return err
	}
	out := struct {
		Results []T `json:"results"`
	}{make([]T, 0, len(vs))}
	for _, v := range vs {
		out.Results = append(out.Results, item(v))
	}
	return writeJSON(w, http.StatusOK, out)
}

func (h *handler) getSegment2(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := pathUUID(r, "segment_id", "segment")
	if err != nil {
		return err
	}
	sample, err := queryBool(r, "contacts_sample", true)
	if err != nil {
		return err
	}
	v, err := h.svc.Segment(r.Context(), acct.ID, id, sample)
	if err != nil {
		return err
	}
	if !sample {
		return writeSegment2JSON(w, http.StatusOK, v, nil)
	}
	return h.writeSegment2(w, r, acct.ID, http.StatusOK, v)
}

func (h *handler) updateSegment2(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := pathUUID(r, "segment_id", "segment")
	if err != nil {
		return err
	}
	var req segment2Write
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.ParentListIDs != nil {
		// parent_list_ids cannot change; sending the current value back
		// (as clients that PATCH a whole object do) is accepted.
		cur, err := h.svc.Segment(r.Context(), acct.ID, id, false)
		if err != nil {
			return err
		}
		if !slices.Equal(lowerAll(*req.ParentListIDs), lowerAll(cur.ParentListIDs)) {
			return invalid("parent_list_ids", "parent_list_ids cannot be changed")
		}
	}
	v, err := h.svc.UpdateSegment(r.Context(), acct.ID, id, req.Name, req.QueryDSL)
	if err != nil {
		return err
	}
	return h.writeSegment2(w, r, acct.ID, http.StatusOK, v)
}

// deleteSegment2 answers 202 with no body, as the spec documents.
func (h *handler) deleteSegment2(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := pathUUID(r, "segment_id", "segment")
	if err != nil {
		return err
	}
	if err := h.svc.DeleteSegment(r.Context(), acct.ID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusAccepted)
	return nil
}

type refreshRequest struct {
	UserTimeZone *string `json:"user_time_zone"`
}

func (h *handler) refreshSegment2(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := pathUUID(r, "segment_id", "segment")
	if err != nil {
		return err
	}
	var req refreshRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	job, err := h.svc.RefreshSegment(r.Context(), acct.ID, id, deref(req.UserTimeZone))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, jobIDResponse{JobID: job})
}
