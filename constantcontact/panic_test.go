package constantcontact_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	cc "github.com/segmentd/segmentd/constantcontact"
)

// panickingCCSegments panics on every segment read, as a bug would.
type panickingCCSegments struct{ segmentd.CCSegmentStore }

func (panickingCCSegments) CCSegments(context.Context, int64, segmentd.CCSegmentPage) ([]segmentd.CCSegment, error) {
	panic("segment store: nil map")
}
func (panickingCCSegments) CCSegment(context.Context, int64, int64) (segmentd.CCSegment, error) {
	panic("segment store: nil map")
}

// A panic is answered as Constant Contact's 500, in the route's area, and
// logged with the request it broke.
func TestPanicIsConstantContacts500(t *testing.T) {
	e := newEnv(t, cc.Options{}, func(c *audience.Config) { c.CCSegments = panickingCCSegments{c.CCSegments} })
	// A second face over the same service, whose log the test reads.
	var logs bytes.Buffer
	face := cc.NewHandler(e.svc, slog.New(slog.NewTextHandler(&logs, nil)), cc.Options{})
	for _, tc := range []struct{ path, area string }{
		{"/v3/segments", "segments"},
		{"/v3/contacts?segment_id=1", "contacts"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			logs.Reset()
			req := httptest.NewRequest("GET", tc.path, nil)
			req.Header.Set("Authorization", "Bearer "+e.key)
			rec := httptest.NewRecorder()
			face.ServeHTTP(rec, req)
			r := response{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}
			wantError(t, r, 500, ccErr(tc.area+".api.internal_error", "There was a problem with our internal service."))
			if ct := r.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			path, _, _ := strings.Cut(tc.path, "?")
			logged := `msg="constantcontact: internal error" method=GET path=` + path + ` account=1 err="panic: segment store: nil map"`
			if !strings.Contains(logs.String(), logged) {
				t.Errorf("the panic was not logged as\n%s\nlog:\n%s", logged, logs.String())
			}
			if strings.Contains(logs.String(), "goroutine") {
				t.Errorf("the log holds a stack trace:\n%s", logs.String())
			}
		})
	}
}
