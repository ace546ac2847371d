package constantcontact_test

import (
	"context"
	"strings"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	cc "github.com/segmentd/segmentd/constantcontact"
	"github.com/segmentd/segmentd/internal/facetest"
)

// panickingCCSegments panics on every segment read, as a bug would.
type panickingCCSegments struct{ segmentd.CCSegmentStore }

var panicking panickingCCSegments

func (panickingCCSegments) CCSegments(context.Context, int64, segmentd.CCSegmentPage) ([]segmentd.CCSegment, error) {
	panic("segment store: nil map")
}
func (panickingCCSegments) CCSegment(context.Context, int64, int64) (segmentd.CCSegment, error) {
	panic("segment store: nil map")
}

// A panic is answered as Constant Contact's 500, in the route's area, and
// logged with the request it broke.
func TestPanicIsConstantContacts500(t *testing.T) {
	e := newEnvWith(t, facetest.Config{Service: audience.Config{CCSegments: panicking}}, cc.Options{})
	for _, tc := range []struct{ path, area string }{
		{"/v3/segments", "segments"},
		{"/v3/contacts?segment_id=1", "contacts"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r := e.send(t, facetest.Request{Method: "GET", Path: tc.path})
			facetest.WantError(t, r, 500, ccErr(tc.area+".api.internal_error", "There was a problem with our internal service."))
			path, _, _ := strings.Cut(tc.path, "?")
			logged := `msg="constantcontact: internal error" method=GET path=` + path + ` account=1 err="panic: segment store: nil map"`
			if !strings.Contains(e.Logs.String(), logged) {
				t.Errorf("the panic was not logged as\n%s\nlog:\n%s", logged, e.Logs.String())
			}
		})
	}
	if strings.Contains(e.Logs.String(), "goroutine") {
		t.Errorf("the log holds a stack trace:\n%s", e.Logs.String())
	}
}
