package console

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
)

// The segment page's history and explanation (docs/console.md).

// historyData is a segment's size over time and its latest entries and
// exits, or why the server has none.
type historyData struct {
	Chart  chart
	Range  string // what the chart spans, in words
	Recent []segmentd.Transition
	Off    string
}

// recentShown is how many of a segment's latest transitions its page
// lists.
const recentShown = 20

// history reads a segment's sizes hour by hour over the last 7 days (or
// the last day, when the server keeps less), and its transitions of the
// last day, the latest first. A key without the segmentd.history scope
// is told so, as the history API would answer it, and so is a page of a
// server that keeps no history or less than a day of it.
func (h *handler) history(ctx context.Context, p audience.Principal, seg segmentd.HookSegment) (historyData, error) {
	var d historyData
	if !p.Key.Has(segmentd.ScopeHistory) {
		d.Off = "This API key lacks the " + string(segmentd.ScopeHistory) + " scope, so the segment's history is not shown."
		return d, nil
	}
	acct, now := p.Account.ID, h.Service.Clock().Now()
	var pts []audience.HistoryPoint
	var err error
	for _, span := range []struct {
		back  time.Duration
		words string
	}{{7 * 24 * time.Hour, "the last 7 days, hour by hour"}, {24 * time.Hour, "the last 24 hours, hour by hour"}} {
		pts, err = h.Service.SegmentSizes(ctx, acct, seg, now.Add(-span.back), now, segmentd.HistoryIntervalHour)
		d.Range = span.words
		if segmentd.ErrorKindOf(err) != segmentd.KindInvalid {
			break
		}
	}
	if off, ok := unavailable(err); ok {
		d.Off = off
		return d, nil
	}
	var e *segmentd.Error
	if errors.As(err, &e) && e.Kind == segmentd.KindInvalid {
		// A retention shorter than a day: the Service's refusal says
		// what it keeps.
		d.Off = "The history of the last 24 hours is not shown: " + e.Message + "."
		return d, nil
	}
	if err != nil {
		return d, err
	}
	// Each point is the size at the start of its hour, with the hour's
	// entries and exits; the line ends at now, with the size now.
	points := make([]sizePoint, len(pts), len(pts)+1)
	for i, p := range pts {
		points[i] = sizePoint(p)
	}
	if n := len(points); n > 0 && now.After(points[n-1].At) {
		last := points[n-1]
		points = append(points, sizePoint{At: now, Size: last.Size + last.Entered - last.Exited})
	}
	d.Chart = newChart(points, "Jan 2 15:04")
	from := now.Add(-24 * time.Hour)
	var after segmentd.HistoryCursor
	for {
		ts, next, err := h.Service.SegmentTransitions(ctx, acct, seg, from, now.Add(time.Millisecond), after, segmentd.MaxHistoryPage)
		if off, ok := unavailable(err); ok {
			d.Off = off
			return d, nil
		}
		if err != nil {
			return d, err
		}
		d.Recent = append(d.Recent, ts...)
		if len(d.Recent) > recentShown {
			d.Recent = d.Recent[len(d.Recent)-recentShown:]
		}
		if next == nil {
			break
		}
		after = *next
	}
	slices.Reverse(d.Recent)
	return d, nil
}

// unavailable says why a server keeps no history, when err says so.
func unavailable(err error) (string, bool) {
	var e *segmentd.Error
	if errors.As(err, &e) && e.Kind == segmentd.KindUnavailable {
		return e.Message, true
	}
	return "", false
}

// explainData is the segment page's explanation form and, once a contact
// is asked about, the answer or why there is none.
type explainData struct {
	Href    string // the segment's page, where the form goes
	Asked   string
	Problem string
	View    *audience.ExplainView
}

// explain answers the page's ?explain= (an email or a contact id).
func (h *handler) explain(r *http.Request, acct int64, seg segmentd.HookSegment, href string) (explainData, error) {
	d := explainData{Href: href, Asked: strings.TrimSpace(r.URL.Query().Get("explain"))}
	if d.Asked == "" {
		return d, nil
	}
	in := audience.ExplainInput{Segment: seg}
	if strings.Contains(d.Asked, "@") {
		in.Email = d.Asked
	} else {
		in.ContactID = d.Asked
	}
	v, err := h.Service.Explain(r.Context(), acct, in)
	var e *segmentd.Error
	switch {
	case err == nil:
		d.View = &v
	case errors.As(err, &e) && (e.Kind == segmentd.KindNotFound || e.Kind == segmentd.KindInvalid):
		d.Problem = e.Message
	default:
		return d, err
	}
	return d, nil
}
