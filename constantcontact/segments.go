package constantcontact

import (
	"encoding/base64"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/segmentd/segmentd"
)

// segmentDetail is the spec's SegmentDetail (create, get, update, rename).
type segmentDetail struct {
	Name            string `json:"name"`
	SegmentCriteria string `json:"segment_criteria"`
	SegmentID       int64  `json:"segment_id"`
	CreatedAt       string `json:"created_at"`
	EditedAt        string `json:"edited_at"`
}

// segmentMaster is a list item (SegmentMaster): never the criteria.
type segmentMaster struct {
	Name      string `json:"name"`
	SegmentID int64  `json:"segment_id"`
	CreatedAt string `json:"created_at"`
	EditedAt  string `json:"edited_at"`
}

type link struct {
	Href string `json:"href"`
}

type nextLinks struct {
	Next link `json:"next"`
}

// segmentsPage is SegmentsDTO. _links is left out on the last page: the
// spec requires next.href whenever _links is present.
type segmentsPage struct {
	Segments []segmentMaster `json:"segments"`
	Links    *nextLinks      `json:"_links,omitempty"`
}

func detail(s segmentd.CCSegment) segmentDetail {
	return segmentDetail{Name: s.Name, SegmentCriteria: s.Criteria, SegmentID: s.ID, CreatedAt: timestamp(s.CreatedAt), EditedAt: timestamp(s.EditedAt)}
}

// segmentData is the body of POST and PUT (SegmentData) and, with only a
// name, of PATCH …/name (SegmentName). Pointers tell a missing key.
type segmentData struct {
	Name            *string `json:"name"`
	SegmentCriteria *string `json:"segment_criteria"`
}

func (d *segmentData) requireName() error {
	if d.Name == nil {
		return invalid("name", "name is required")
	}
	return nil
}

func (d *segmentData) requireBoth() error {
	if err := d.requireName(); err != nil {
		return err
	}
	if d.SegmentCriteria == nil {
		return invalid("segment_criteria", "segment_criteria is required")
	}
	return nil
}

// Page sizes of GET /v3/segments. The spec's default is "1000" and it
// names no maximum; segmentd caps a page at the default.
const (
	defaultSegmentsLimit = 1000
	maxSegmentsLimit     = 1000
)

func (h *handler) listSegments(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	q := r.URL.Query()
	var p segmentd.CCSegmentPage
	limit := defaultSegmentsLimit
	if c := q.Get("cursor"); c != "" {
		var err error
		if p, err = decodeSegmentsCursor(c); err != nil {
			return err
		}
		limit = p.Limit
	}
	if sort := q.Get("sort_by"); sort != "" {
		order, ok := map[string]segmentd.CCSegmentOrder{"date": segmentd.CCByDate, "name": segmentd.CCByName}[sort]
		if !ok {
			return invalid("sort_by", "sort_by must be date or name, not %s", segmentd.Quote(sort))
		}
		if p.After != nil && order != p.Order {
			return invalid("cursor", "the cursor belongs to another sort_by; follow _links.next.href as given")
		}
		p.Order = order
	}
	limit, err := queryInt(r, "limit", limit, 1, maxSegmentsLimit)
	if err != nil {
		return err
	}
	// One segment past the page tells whether another page follows.
	p.Limit = limit + 1
	segs, err := h.svc.CCSegments(r.Context(), acct.ID, p)
	if err != nil {
		return err
	}
	out := segmentsPage{Segments: make([]segmentMaster, 0, min(len(segs), limit))}
	if len(segs) > limit {
		segs = segs[:limit]
		next := segmentd.CCSegmentPage{Order: p.Order, After: &segs[limit-1], Limit: limit}
		out.Links = &nextLinks{Next: link{Href: "/v3/segments?cursor=" + encodeSegmentsCursor(next)}}
	}
	for _, s := range segs {
		out.Segments = append(out.Segments, segmentMaster{Name: s.Name, SegmentID: s.ID, CreatedAt: timestamp(s.CreatedAt), EditedAt: timestamp(s.EditedAt)})
	}
	return writeJSON(w, http.StatusOK, out)
}

// The /v3/segments cursor is opaque to clients: base64url of a query
// string holding the order, the page size and the key of the last segment
// shown (its edited_at or name, and its id), so that paging is stable
// while segments are created or deleted.
func encodeSegmentsCursor(p segmentd.CCSegmentPage) string {
	v := url.Values{}
	v.Set("limit", strconv.Itoa(p.Limit))
	v.Set("id", strconv.FormatInt(p.After.ID, 10))
	if p.Order == segmentd.CCByName {
		v.Set("sort", "name")
		v.Set("name", p.After.Name)
	} else {
		v.Set("sort", "date")
		v.Set("edited", strconv.FormatInt(p.After.EditedAt.UnixMilli(), 10))
	}
	return base64.RawURLEncoding.EncodeToString([]byte(v.Encode()))
}

func decodeSegmentsCursor(c string) (segmentd.CCSegmentPage, error) {
	bad := invalid("cursor", "cursor is not valid; follow _links.next.href as given")
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return segmentd.CCSegmentPage{}, bad
	}
	v, err := url.ParseQuery(string(raw))
	if err != nil {
		return segmentd.CCSegmentPage{}, bad
	}
	limit, err1 := strconv.Atoi(v.Get("limit"))
	id, err2 := strconv.ParseInt(v.Get("id"), 10, 64)
	if err1 != nil || err2 != nil || limit < 1 || limit > maxSegmentsLimit {
		return segmentd.CCSegmentPage{}, bad
	}
	after := &segmentd.CCSegment{ID: id}
	p := segmentd.CCSegmentPage{After: after, Limit: limit}
	switch v.Get("sort") {
	case "name":
		p.Order, after.Name = segmentd.CCByName, v.Get("name")
	case "date":
		ms, err := strconv.ParseInt(v.Get("edited"), 10, 64)
		if err != nil {
			return segmentd.CCSegmentPage{}, bad
		}
		after.EditedAt = time.UnixMilli(ms).UTC()
	default:
		return segmentd.CCSegmentPage{}, bad
	}
	return p, nil
}

func (h *handler) createSegment(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var in segmentData
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := in.requireBoth(); err != nil {
		return err
	}
	seg, err := h.svc.CreateCCSegment(r.Context(), acct.ID, *in.Name, *in.SegmentCriteria)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, detail(seg))
}

// segmentID reads the path's segment_id, an int32 in the spec. Text that
// is not a segment id (parseSegmentID) is a bad request; an id that no
// segment can have is not found.
func segmentID(r *http.Request) (int64, error) {
	v := r.PathValue("segment_id")
	id, ok := parseSegmentID(v)
	if !ok {
		return 0, invalid("segment_id", msgBadSegmentID, segmentd.Quote(v))
	}
	if id == 0 {
		return 0, segmentd.Errorf(segmentd.KindNotFound, "segment_id", "segment %s does not exist", segmentd.Clip(v))
	}
	return id, nil
}

// msgBadSegmentID answers a segment_id, in the path or the query, that is
// not one; it takes the value.
const msgBadSegmentID = "segment_id must be a positive whole number in decimal digits, without sign or leading zeros, not %s"

// parseSegmentID reads a segment id as Constant Contact writes one: the
// decimal digits of a positive integer, without sign, leading zeros or
// spaces. Anything else is not an id (ok false): strconv.ParseInt alone
// reads "+1" and "01" as 1, so that DELETE /v3/segments/+1 deleted
// segment 1. A well-formed id beyond the spec's int32 reads as 0, which no
// segment has.
func parseSegmentID(s string) (id int64, ok bool) {
	if s == "" || s[0] < '1' || s[0] > '9' {
		return 0, false
	}
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id > math.MaxInt32 {
		return 0, true
	}
	return id, true
}

func (h *handler) getSegment(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := segmentID(r)
	if err != nil {
		return err
	}
	seg, err := h.svc.CCSegment(r.Context(), acct.ID, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, detail(seg))
}

func (h *handler) updateSegment(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	return h.changeSegment(w, r, (*segmentData).requireBoth, func(id int64, in segmentData) (segmentd.CCSegment, error) {
		return h.svc.UpdateCCSegment(r.Context(), acct.ID, id, *in.Name, *in.SegmentCriteria)
	})
}

func (h *handler) renameSegment(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	return h.changeSegment(w, r, (*segmentData).requireName, func(id int64, in segmentData) (segmentd.CCSegment, error) {
		return h.svc.RenameCCSegment(r.Context(), acct.ID, id, *in.Name)
	})
}

// changeSegment is PUT and PATCH .../name: the path's segment, a body with
// what require checks for, and save's result answered as the segment.
func (h *handler) changeSegment(w http.ResponseWriter, r *http.Request, require func(*segmentData) error, save func(int64, segmentData) (segmentd.CCSegment, error)) error {
	id, err := segmentID(r)
	if err != nil {
		return err
	}
	var in segmentData
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := require(&in); err != nil {
		return err
	}
	seg, err := save(id, in)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, detail(seg))
}

func (h *handler) deleteSegment(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := segmentID(r)
	if err != nil {
		return err
	}
	if err := h.svc.DeleteCCSegment(r.Context(), acct.ID, id); err != nil {
		return err
	}
	// 204 has no body and so no Content-Type.
	w.WriteHeader(http.StatusNoContent)
	return nil
}
