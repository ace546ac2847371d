package webhook_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/facetest"
	"github.com/segmentd/segmentd/server"
	"github.com/segmentd/segmentd/webhook"
)

// panickingKeys panics when a webhook verification key is read, as a bug
// would.
type panickingKeys struct{ segmentd.WebhookKeyStore }

func (panickingKeys) WebhookKey(context.Context, int64) (string, error) {
	panic("key store: nil map")
}

// A panic while serving a webhook request is answered as the webhook's own
// 500 (its JSON envelope, no stack trace) and logged with the request.
func TestPanicIsTheWebhooks500(t *testing.T) {
	e := facetest.Start(t, func(e *facetest.Env) http.Handler {
		return server.New(e.Log, nil, server.Face{Prefixes: []string{"/webhooks/"}, Handler: webhook.NewHandler(e.Svc, e.Log, webhook.Options{})})
	}, facetest.Config{Service: audience.Config{WebhookKeys: panickingKeys{}}})
	r := e.Call(t, facetest.Request{Method: "POST", Path: "/webhooks/sendgrid/events", Body: `[]`})
	facetest.WantError(t, r, 500, `{"errors":[{"message":"internal server error"}]}`)
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	logged := `msg="webhook: internal error" method=POST path=/webhooks/sendgrid/events err="panic: key store: nil map"`
	if !strings.Contains(e.Logs.String(), logged) {
		t.Errorf("the panic was not logged as\n%s\nlog:\n%s", logged, e.Logs.String())
	}
	if strings.Contains(e.Logs.String(), "goroutine") {
		t.Errorf("the log holds a stack trace:\n%s", e.Logs.String())
	}
}
