package constantcontact_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	cc "github.com/segmentd/segmentd/constantcontact"
	"github.com/segmentd/segmentd/internal/facetest"
)

// unreachableCCSegments fails every read as a store whose database went
// away does.
type unreachableCCSegments struct{ segmentd.CCSegmentStore }

func (unreachableCCSegments) CCSegments(context.Context, int64, segmentd.CCSegmentPage) ([]segmentd.CCSegment, error) {
	return nil, segmentd.Errorf(segmentd.KindUnavailable, "", "connection refused")
}

// A store that cannot be reached is a 503 in Constant Contact's envelope,
// with Retry-After.
func TestUnavailableIs503(t *testing.T) {
	e := newEnvWith(t, facetest.Config{Service: audience.Config{CCSegments: unreachableCCSegments{}}}, cc.Options{})
	r := e.send(t, facetest.Request{Method: "GET", Path: "/v3/segments"})
	facetest.WantError(t, r, http.StatusServiceUnavailable, ccErr("segments.api.service_unavailable", "The service is unavailable; try again shortly."))
	if got := r.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1", got)
	}
}
