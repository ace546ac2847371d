package sendgrid_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/facetest"
	sg "github.com/segmentd/segmentd/sendgrid"
)

// unreachableSegments fails every read as a store whose database went
// away does.
type unreachableSegments struct{ segmentd.SegmentStore }

var errUnreachable = segmentd.Errorf(segmentd.KindUnavailable, "", "the database at 127.0.0.1:5432 cannot be reached: connection refused")

func (unreachableSegments) Segments(context.Context, int64) ([]segmentd.Segment, error) {
	return nil, errUnreachable
}

// A store that cannot be reached is a 503 in SendGrid's envelope, with
// Retry-After; what failed is logged, never sent.
func TestUnavailableIs503(t *testing.T) {
	e := newEnvWith(t, facetest.Config{Service: audience.Config{Segments: unreachableSegments{}}}, sg.Options{})
	for _, path := range []string{seg1Path, seg2Path} {
		r := e.do(t, call{method: "GET", path: path, noSpec: "the spec documents no 503"})
		facetest.WantError(t, r, http.StatusServiceUnavailable, `{"errors":[{"field":null,"message":"service unavailable; try again shortly"}]}`)
		if got := r.Header.Get("Retry-After"); got != "1" {
			t.Errorf("%s: Retry-After %q, want 1", path, got)
		}
	}
	if logs := e.Logs.String(); !strings.Contains(logs, "store unavailable") || !strings.Contains(logs, "connection refused") {
		t.Errorf("the cause was not logged:\n%s", logs)
	}
}
