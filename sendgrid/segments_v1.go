package sendgrid

import (
	"net/http"
	"strings"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/query"
)

// Segments v1: tsg_mc_segments_v3, docs/sendgrid.md "Segments".
//
// The v1 endpoints see only v1 segments (SGQL, query_version ""): a 2.0
// segment's SQL has no query_json and no meaning to a v1 client, so GET
// and DELETE of a 2.0 segment's id answer 404 and the list leaves 2.0
// segments out. (The 2.0 endpoints list both.)
//
// SendGrid removed the v1 writes (POST /segments, PATCH /segments/{id},
// POST /segments/delete) in 2023. Without Options.LegacyV1Writes they are
// not routed, so they get the face's answer for a method a path does not
// take: 405 in E1 with an Allow header (every one of those paths still
// takes GET or DELETE). With it, they are served as the legacy spec
// (legacy-sendgrid-oai) describes.

// segmentV1Summary is SegmentSummary.
type segmentV1Summary struct {
	ID               string `json:"id"`
	Name             string `json:"name"`
	ContactsCount    int    `json:"contacts_count"`
	CreatedAt        string `json:"created_at"`
	UpdatedAt        string `json:"updated_at"`
	SampleUpdatedAt  string `json:"sample_updated_at"`
	NextSampleUpdate string `json:"next_sample_update"`
	ParentListID     string `json:"parent_list_id,omitempty"`
}

// segmentV1Full is FullSegment.
type segmentV1Full struct {
	segmentV1Summary
	QueryDSL       string          `json:"query_dsl"`
	ContactsSample []sampleContact `json:"contacts_sample"`
	ParentListIDs  []string        `json:"parent_list_ids"`
	QueryJSON      map[string]any  `json:"query_json,omitempty"`
}

func segmentV1SummaryJSON(v audience.SegmentView) segmentV1Summary {
	s := segmentV1Summary{
		ID: v.ID, Name: v.Name, ContactsCount: v.ContactsCount,
		CreatedAt: timestamp(v.CreatedAt), UpdatedAt: timestamp(v.UpdatedAt),
		SampleUpdatedAt: timestamp(v.SampleUpdatedAt), NextSampleUpdate: timestamp(v.NextSampleUpdate),
	}
	if len(v.ParentListIDs) > 0 {
		s.ParentListID = v.ParentListIDs[0]
	}
	return s
}

// writeSegmentV1 renders a FullSegment; withJSON adds query_json.
func (h *handler) writeSegmentV1(w http.ResponseWriter, r *http.Request, acct int64, status int, v audience.SegmentView, withJSON bool) error {
	cr, err := h.renderer(r.Context(), r, acct)
	if err != nil {
		return err
	}
	out := segmentV1Full{segmentV1Summary: segmentV1SummaryJSON(v), QueryDSL: v.QueryDSL,
		ContactsSample: cr.renderSample(v.Sample), ParentListIDs: nonNil(v.ParentListIDs)}
	if withJSON {
		q, err := query.ParseSGQL(v.QueryDSL)
		if err != nil {
			// A stored v1 query was checked when it was saved.
			return internal("segment %s: stored query does not parse: %w", v.ID, err)
		}
		out.QueryJSON = query.QueryJSON(q)
	}
	return writeJSON(w, status, out)
}

// segV1NotFound is the v1 404: {"errors":[{"field","message"}]}, both
// required.
func segV1NotFound(id string) error {
	return notFound("segment_id", "segment %s does not exist", segmentd.Quote(id))
}

// v1Segment reads a live v1 segment; a 2.0 segment is not found.
func (h *handler) v1Segment(r *http.Request, acct int64, sample bool) (audience.SegmentView, error) {
	id := r.PathValue("segment_id")
	if !segmentd.IsUUID(id) {
		return audience.SegmentView{}, segV1NotFound(id)
	}
	id = strings.ToLower(id)
	v, err := h.svc.Segment(r.Context(), acct, id, sample)
	if segmentd.ErrorKindOf(err) == segmentd.KindNotFound || (err == nil && v.QueryVersion != "") {
		return v, segV1NotFound(id)
	}
	return v, err
}

func (h *handler) listSegmentsV1(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	v1 := "" // the v1 API lists v1 segments only (docs/sendgrid.md)
	return listSegments(h, w, r, acct, &v1, segmentV1SummaryJSON)
}

func (h *handler) getSegmentV1(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	withJSON, err := queryBool(r, "query_json", false)
	if err != nil {
		return err
	}
	v, err := h.v1Segment(r, acct.ID, true)
	if err != nil {
		return err
	}
	return h.writeSegmentV1(w, r, acct.ID, http.StatusOK, v, withJSON)
}

// deleteSegmentV1 answers 202 {}; the segment's contacts stay.
func (h *handler) deleteSegmentV1(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	v, err := h.v1Segment(r, acct.ID, false)
	if err != nil {
		return err
	}
	if err := h.svc.DeleteSegment(r.Context(), acct.ID, v.ID); err != nil {
		if segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
			return segV1NotFound(v.ID)
		}
		return err
	}
	return writeJSON(w, http.StatusAccepted, struct{}{})
}

// --- legacy writes (Options.LegacyV1Writes)

type segmentV1Write struct {
	Name          *string   `json:"name"`
	QueryDSL      *string   `json:"query_dsl"`
	ParentListIDs *[]string `json:"parent_list_ids"`
	ParentListID  *string   `json:"parent_list_id"`
}

// parents merges parent_list_ids and the older parent_list_id.
func (req segmentV1Write) parents() []string {
	var out []string
	if req.ParentListIDs != nil {
		out = lowerAll(*req.ParentListIDs)
	}
	if req.ParentListID != nil && *req.ParentListID != "" {
		id := strings.ToLower(strings.TrimSpace(*req.ParentListID))
		found := false
		for _, have := range out {
			found = found || have == id
		}
		if !found {
			out = append(out, id)
		}
	}
	return out
}

// createSegmentV1 is the removed POST /v3/marketing/segments: 201 FullSegment.
func (h *handler) createSegmentV1(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var req segmentV1Write
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return invalid("name", "name is required")
	}
	if req.QueryDSL == nil {
		return invalid("query_dsl", "query_dsl is required")
	}
	v, err := h.svc.CreateSegment(r.Context(), acct.ID, *req.Name, *req.QueryDSL, "", req.parents())
	if err != nil {
		return err
	}
	return h.writeSegmentV1(w, r, acct.ID, http.StatusCreated, v, false)
}

// updateSegmentV1 is the removed PATCH /v3/marketing/segments/{id}: name
// and query_dsl are required (the legacy body is segment_write_v2), and
// parent_list_ids, when sent, must be the segment's own.
func (h *handler) updateSegmentV1(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	cur, err := h.v1Segment(r, acct.ID, false)
	if err != nil {
		return err
	}
	var req segmentV1Write
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return invalid("name", "name is required")
	}
	if req.QueryDSL == nil {
		return invalid("query_dsl", "query_dsl is required")
	}
	if req.ParentListIDs != nil || req.ParentListID != nil {
		got, want := req.parents(), lowerAll(cur.ParentListIDs)
		if strings.Join(got, ",") != strings.Join(want, ",") {
			return invalid("parent_list_ids", "parent_list_ids cannot be changed")
		}
	}
	v, err := h.svc.UpdateSegment(r.Context(), acct.ID, cur.ID, req.Name, req.QueryDSL)
	if err != nil {
		if segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
			return segV1NotFound(cur.ID)
		}
		return err
	}
	return h.writeSegmentV1(w, r, acct.ID, http.StatusOK, v, false)
}

type bulkDeleteRequest struct {
	IDs []string `json:"ids"`
}

// bulkDeleteError is one item of E6.
type bulkDeleteError struct {
	ID    string `json:"id"`
	Error string `json:"error"`
}

// bulkDeleteSegmentsV1 is the removed POST /v3/marketing/segments/delete:
// 202 {} when every segment was deleted, otherwise 200 with E6 listing the
// ids that were not ("invalid uuid", "segment not found"; segmentd has no
// automations, so never "in-use"). The others are deleted either way.
func (h *handler) bulkDeleteSegmentsV1(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var req bulkDeleteRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if len(req.IDs) == 0 {
		return invalid("ids", "ids is required")
	}
	var failed []bulkDeleteError
	for _, id := range req.IDs {
		if !segmentd.IsUUID(id) {
			failed = append(failed, bulkDeleteError{ID: id, Error: msgBulkInvalidUUID})
			continue
		}
		lid := strings.ToLower(id)
		v, err := h.svc.Segment(r.Context(), acct.ID, lid, false)
		if err == nil && v.QueryVersion == "" {
			err = h.svc.DeleteSegment(r.Context(), acct.ID, lid)
		} else if err == nil {
			err = segV1NotFound(lid)
		}
		switch {
		case err == nil:
		case segmentd.ErrorKindOf(err) == segmentd.KindNotFound:
			failed = append(failed, bulkDeleteError{ID: id, Error: msgBulkSegmentNotFound})
		default:
			return err
		}
	}
	if len(failed) > 0 {
		return writeJSON(w, http.StatusOK, struct {
			Errors []bulkDeleteError `json:"errors"`
		}{failed})
	}
	return writeJSON(w, http.StatusAccepted, struct{}{})
}
