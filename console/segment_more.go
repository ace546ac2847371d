package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
)

// The segment page's explanation of a contact (docs/console.md).

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
