package sendgrid_test

import (
	"context"
	"strings"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/facetest"
	sg "github.com/segmentd/segmentd/sendgrid"
)

// panickingSegments panics on every segment read, as a bug would.
type panickingSegments struct{ segmentd.SegmentStore }

func (panickingSegments) Segments(context.Context, int64) ([]segmentd.Segment, error) {
	panic("segment store: nil map")
}
func (panickingSegments) Segment(context.Context, int64, string) (segmentd.Segment, error) {
	panic("segment store: nil map")
}

// A panic is answered as the route's own 500, in SendGrid's envelope for
// it (E3, or E4 and E5 on the Segments 2.0 endpoints), and logged with the
// request it broke.
func TestPanicIsTheRoutes500(t *testing.T) {
	e := newEnvWith(t, facetest.Config{Service: audience.Config{Segments: panickingSegments{}}}, sg.Options{})
	const id = "00000000-0000-4000-8000-000000000001"
	for _, c := range []struct {
		call
		want string
	}{
		{call{method: "GET", path: seg1Path}, `{"errors":[{"message":"internal server error"}]}`},
		{call{method: "GET", path: seg2Path + "/" + id}, `{"errors":[{"field":"","message":"internal server error"}]}`},
		{call{method: "POST", path: seg2Path + "/refresh/" + id, body: `{"user_time_zone":"UTC"}`}, `{"error":"internal server error"}`},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			facetest.WantError(t, e.do(t, c.call), 500, c.want)
			logged := `msg="sendgrid: internal error" method=` + c.method + " path=" + c.path + " account=1 " + `err="panic: segment store: nil map"`
			if !strings.Contains(e.Logs.String(), logged) {
				t.Errorf("the panic was not logged as\n%s\nlog:\n%s", logged, e.Logs.String())
			}
		})
	}
	if strings.Contains(e.Logs.String(), "goroutine") {
		t.Errorf("the log holds a stack trace:\n%s", e.Logs.String())
	}
}
