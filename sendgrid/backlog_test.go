package sendgrid_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/facetest"
	sg "github.com/segmentd/segmentd/sendgrid"
)

// heldEvents holds the first event batch until released, and with it the
// job worker: jobs accepted meanwhile stay queued.
type heldEvents struct {
	segmentd.EventStore
	entered, release chan struct{}
}

func (h *heldEvents) AddEventBatches(ctx context.Context, acct int64, batches [][]segmentd.Event) ([]segmentd.EventsResult, error) {
	close(h.entered)
	<-h.release
	return h.EventStore.AddEventBatches(ctx, acct, batches)
}

// TestUpsertPastTheBacklogIs429: with the account's queued jobs at the
// bound (--job-backlog), an upsert is answered at once with SendGrid's 429
// and rate-limit headers saying the bound, nothing left, and when to
// retry; the jobs accepted before it complete.
func TestUpsertPastTheBacklogIs429(t *testing.T) {
	now := time.Date(2030, 5, 6, 7, 8, 9, 0, time.UTC)
	held := &heldEvents{entered: make(chan struct{}), release: make(chan struct{})}
	e := newEnvWith(t, facetest.Config{Now: now, Service: audience.Config{Events: held, MaxBacklog: 3}}, sg.Options{})
	held.EventStore = e.Store
	released := false
	release := func() {
		if !released {
			released = true
			close(held.release)
		}
	}
	t.Cleanup(release)
	go e.Svc.AddEvents(context.Background(), e.DefaultAccount(), []segmentd.Event{{Email: "x@example.com", Type: "open", Timestamp: now}})
	<-held.entered

	// The upsert's operation lists no 429: its body is checked against
	// the common envelope SendGrid's Rate Limits page shows.
	upsert := func(emails ...string) facetest.Response {
		var cs []map[string]string
		for _, m := range emails {
			cs = append(cs, map[string]string{"email": m})
		}
		return e.do(t, call{method: "PUT", path: "/v3/marketing/contacts", body: map[string]any{"contacts": cs}})
	}
	job := facetest.WantStatus(t, upsert("a@example.com", "b@example.com", "c@example.com"), http.StatusAccepted)["job_id"].(string)
	r := upsert("d@example.com")
	facetest.WantError(t, r, http.StatusTooManyRequests, authErr("too many requests"))
	wantRateHeaders(t, r, 3, 0, now.Add(time.Second))

	release()
	if j := facetest.WaitJob(t, e.Svc, e.DefaultAccount(), job); j.Status != segmentd.JobCompleted || j.Created != 3 {
		t.Fatalf("the accepted job: %+v", j)
	}
	facetest.WantStatus(t, upsert("d@example.com"), http.StatusAccepted)
}
