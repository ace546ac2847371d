package webhook_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/server"
	"github.com/segmentd/segmentd/sqlite"
	"github.com/segmentd/segmentd/webhook"
)

// panickingKeys panics when a webhook verification key is read, as a bug
// would.
type panickingKeys struct{ segmentd.WebhookKeyStore }

func (panickingKeys) WebhookKey(context.Context, int64) (string, error) {
	panic("key store: nil map")
}

// lockedBuffer is a log shared by the server's goroutines and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A panic while serving a webhook request is answered as the webhook's own
// 500 (its JSON envelope, no stack trace) and logged with the request.
func TestPanicIsTheWebhooks500(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	svc := audience.New(st, segmentd.SystemClock{}, log, audience.Config{
		Segments: st, Membership: engine.NewMembership(), Events: st, WebhookKeys: panickingKeys{st},
	})
	const key = "SG.webhook-panic-key"
	if _, err := svc.Bootstrap(ctx, key); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(log, server.Face{Prefixes: []string{"/webhooks/"}, Handler: webhook.NewHandler(svc, log, webhook.Options{})}))
	t.Cleanup(func() { srv.Close(); svc.Close(); st.Close() })

	req, _ := http.NewRequest("POST", srv.URL+"/webhooks/sendgrid/events", strings.NewReader(`[]`))
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || string(body) != `{"errors":[{"message":"internal server error"}]}` || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("panic answered %d %s %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	logged := `msg="webhook: internal error" method=POST path=/webhooks/sendgrid/events err="panic: key store: nil map"`
	if !strings.Contains(logs.String(), logged) {
		t.Errorf("the panic was not logged as\n%s\nlog:\n%s", logged, logs.String())
	}
	if strings.Contains(logs.String(), "goroutine") {
		t.Errorf("the log holds a stack trace:\n%s", logs.String())
	}
}
