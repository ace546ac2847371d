package hooks

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/ownapi"
	"github.com/segmentd/segmentd/server"
)

// The membership history's endpoints (docs/history.md), with the scope
// segmentd.history: a segment's size over time, its transitions in a
// range, whether a contact was in it at a time, and its members then.

func (h *handler) routeHistory(rt *server.Router) {
	handle := func(pattern string, fn func(w http.ResponseWriter, r *http.Request, p audience.Principal) error) {
		rt.Handle(pattern, h.serve(segmentd.ScopeHistory, fn))
	}
	const seg = "/segmentd/v1/segments/{vendor}/{segment_id}/history/"
	handle("GET "+seg+"sizes", h.historySizes)
	handle("GET "+seg+"transitions", h.historyTransitions)
	handle("GET "+seg+"membership", h.historyMembership)
	handle("GET "+seg+"members", h.historyMembers)
}

// historySegment reads the path's segment: an unknown vendor is 404, as
// an unknown segment is.
func historySegment(r *http.Request) (segmentd.HookSegment, error) {
	seg := segmentd.HookSegment{Vendor: r.PathValue("vendor"), ID: r.PathValue("segment_id")}
	if seg.Vendor != segmentd.VendorSendGrid && seg.Vendor != segmentd.VendorConstantContact {
		return seg, segmentd.Errorf(segmentd.KindNotFound, "vendor", "vendor %s is not %q or %q", segmentd.Quote(seg.Vendor), segmentd.VendorSendGrid, segmentd.VendorConstantContact)
	}
	return seg, nil
}

// queryTime reads an RFC 3339 time parameter (def when absent).
func queryTime(r *http.Request, name string, def time.Time) (time.Time, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		if def.IsZero() {
			return def, segmentd.Errorf(segmentd.KindInvalid, name, "%s is required (an RFC 3339 time)", name)
		}
		return def, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return t, segmentd.Errorf(segmentd.KindInvalid, name, "%s %s is not an RFC 3339 time", name, segmentd.Quote(v))
	}
	return t, nil
}

// queryLimit reads the page size.
func queryLimit(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return segmentd.DefaultHistoryPage, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > segmentd.MaxHistoryPage {
		return 0, segmentd.Errorf(segmentd.KindInvalid, "limit", "limit %s must be a number from 1 to %d", segmentd.Quote(v), segmentd.MaxHistoryPage)
	}
	return n, nil
}

type historyPointJSON struct {
	Time    string `json:"time"`
	Size    int    `json:"size"`
	Entered int    `json:"entered"`
	Exited  int    `json:"exited"`
}

func (h *handler) historySizes(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	seg, err := historySegment(r)
	if err != nil {
		return err
	}
	now := h.Service.Clock().Now()
	interval := r.URL.Query().Get("interval")
	if interval == "" {
		interval = segmentd.HistoryIntervalHour
	}
	step, ok := audience.HistoryStep(interval)
	if !ok {
		return segmentd.Errorf(segmentd.KindInvalid, "interval", "interval %s must be %q or %q", segmentd.Quote(interval), segmentd.HistoryIntervalHour, segmentd.HistoryIntervalDay)
	}
	to, err := queryTime(r, "to", now)
	if err != nil {
		return err
	}
	from, err := queryTime(r, "from", to.Add(-24*step))
	if err != nil {
		return err
	}
	points, err := h.Service.SegmentSizes(r.Context(), p.Account.ID, seg, from, to, interval)
	if err != nil {
		return err
	}
	out := make([]historyPointJSON, len(points))
	for i, pt := range points {
		out[i] = historyPointJSON{Time: jsonTime(pt.At), Size: pt.Size, Entered: pt.Entered, Exited: pt.Exited}
	}
	ownapi.WriteJSON(w, http.StatusOK, map[string]any{"segment": SegmentJSON(seg), "interval": interval, "points": out})
	return nil
}

// historyCursor is a page's cursor as the API shows it: the last
// transition's unix milliseconds and number.
func historyCursor(c segmentd.HistoryCursor) string {
	return strconv.FormatInt(c.At.UnixMilli(), 10) + "_" + strconv.FormatInt(c.Seq, 10)
}

func parseHistoryCursor(v string) (segmentd.HistoryCursor, error) {
	ms, seq, ok := strings.Cut(v, "_")
	a, err1 := strconv.ParseInt(ms, 10, 64)
	b, err2 := strconv.ParseInt(seq, 10, 64)
	if !ok || err1 != nil || err2 != nil || a < 0 || b < 1 {
		return segmentd.HistoryCursor{}, segmentd.Errorf(segmentd.KindInvalid, "cursor", "cursor %s must be the next of a previous page", segmentd.Quote(v))
	}
	return segmentd.HistoryCursor{At: time.UnixMilli(a).UTC(), Seq: b}, nil
}

func (h *handler) historyTransitions(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	seg, err := historySegment(r)
	if err != nil {
		return err
	}
	limit, err := queryLimit(r)
	if err != nil {
		return err
	}
	now := h.Service.Clock().Now()
	to, err := queryTime(r, "to", now.Add(time.Millisecond))
	if err != nil {
		return err
	}
	from, err := queryTime(r, "from", to.Add(-24*time.Hour))
	if err != nil {
		return err
	}
	var after segmentd.HistoryCursor
	if v := r.URL.Query().Get("cursor"); v != "" {
		if after, err = parseHistoryCursor(v); err != nil {
			return err
		}
	}
	ts, next, err := h.Service.SegmentTransitions(r.Context(), p.Account.ID, seg, from, to, after, limit)
	if err != nil {
		return err
	}
	list := make([]TransitionJSON, len(ts))
	for i := range ts {
		list[i] = transitionJSON(&ts[i])
	}
	out := map[string]any{"segment": SegmentJSON(seg), "transitions": list}
	if next != nil {
		out["next"] = historyCursor(*next)
	}
	ownapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

func (h *handler) historyMembership(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	seg, err := historySegment(r)
	if err != nil {
		return err
	}
	at, err := queryTime(r, "at", time.Time{})
	if err != nil {
		return err
	}
	q := r.URL.Query()
	m, err := h.Service.MemberAt(r.Context(), p.Account.ID, seg, q.Get("contact_id"), q.Get("email"), at)
	if err != nil {
		return err
	}
	ownapi.WriteJSON(w, http.StatusOK, map[string]any{"segment": SegmentJSON(seg), "at": jsonTime(at),
		"contact": ContactJSON{ID: m.ContactID, Email: m.Email}, "member": m.Member})
	return nil
}

func (h *handler) historyMembers(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	seg, err := historySegment(r)
	if err != nil {
		return err
	}
	at, err := queryTime(r, "at", time.Time{})
	if err != nil {
		return err
	}
	limit, err := queryLimit(r)
	if err != nil {
		return err
	}
	ms, next, err := h.Service.MembersAt(r.Context(), p.Account.ID, seg, at, r.URL.Query().Get("cursor"), limit)
	if err != nil {
		return err
	}
	list := make([]ContactJSON, len(ms))
	for i, m := range ms {
		list[i] = ContactJSON{ID: m.ContactID, Email: m.Email}
	}
	out := map[string]any{"segment": SegmentJSON(seg), "at": jsonTime(at), "members": list}
	if next != "" {
		out["next"] = next
	}
	ownapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// replayBody is a replay's request.
type replayBody struct {
	From *string `json:"from"`
	To   *string `json:"to"`
}

func (h *handler) replay(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	var b replayBody
	if err := readBody(w, r, &b); err != nil {
		return err
	}
	var from, to time.Time
	for _, f := range []struct {
		name string
		v    *string
		t    *time.Time
	}{{"from", b.From, &from}, {"to", b.To, &to}} {
		if f.v == nil {
			return segmentd.Errorf(segmentd.KindInvalid, f.name, "%s is required (an RFC 3339 time)", f.name)
		}
		t, err := time.Parse(time.RFC3339Nano, *f.v)
		if err != nil {
			return segmentd.Errorf(segmentd.KindInvalid, f.name, "%s %s is not an RFC 3339 time", f.name, segmentd.Quote(*f.v))
		}
		*f.t = t
	}
	rp, err := h.Service.ReplaySubscription(r.Context(), p.Account.ID, r.PathValue("id"), from, to)
	if err != nil {
		return err
	}
	segs := make([]SegmentJSON, len(rp.Segments))
	for i, id := range rp.Segments {
		segs[i] = SegmentJSON(segmentd.HookSegmentOf(id))
	}
	ownapi.WriteJSON(w, http.StatusAccepted, map[string]any{"replay": map[string]any{"from": jsonTime(from), "to": jsonTime(to), "segments": segs}})
	return nil
}
