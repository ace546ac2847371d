package webhook_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/facetest"
	"github.com/segmentd/segmentd/server"
	"github.com/segmentd/segmentd/webhook"
)

// unreachableKeys fails as a store whose database went away does.
type unreachableKeys struct{ segmentd.WebhookKeyStore }

func (unreachableKeys) WebhookKey(context.Context, int64) (string, error) {
	return "", segmentd.Errorf(segmentd.KindUnavailable, "", "connection refused")
}

// A store that cannot be reached is a 503 (SendGrid retries the batch);
// /healthz says not ready while the store cannot be reached.
func TestUnavailableIs503(t *testing.T) {
	var down atomic.Bool
	e := facetest.Start(t, func(e *facetest.Env) http.Handler {
		ready := func(context.Context) error {
			if down.Load() {
				return segmentd.Errorf(segmentd.KindUnavailable, "", "connection refused")
			}
			return nil
		}
		return server.New(e.Log, ready, server.Face{Prefixes: []string{"/webhooks/"}, Handler: webhook.NewHandler(e.Svc, e.Log, webhook.Options{})})
	}, facetest.Config{Service: audience.Config{WebhookKeys: unreachableKeys{}}})
	r := e.Call(t, facetest.Request{Method: "POST", Path: "/webhooks/sendgrid/events", Body: `[]`})
	facetest.WantError(t, r, http.StatusServiceUnavailable, `{"errors":[{"message":"service unavailable; try again shortly"}]}`)
	if got := r.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1", got)
	}
	if r := e.Call(t, facetest.Request{Method: "GET", Path: "/healthz"}); r.Status != 200 || string(r.Body) != "{\"status\":\"ok\"}\n" {
		t.Errorf("healthz while ready: %d %s", r.Status, r.Body)
	}
	down.Store(true)
	if r := e.Call(t, facetest.Request{Method: "GET", Path: "/healthz"}); r.Status != 503 || string(r.Body) != "{\"status\":\"unavailable\"}\n" {
		t.Errorf("healthz while the store is down: %d %s", r.Status, r.Body)
	}
}
