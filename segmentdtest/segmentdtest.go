// Package segmentdtest runs segmentd inside a Go test: Start serves the
// whole server (SendGrid's face, Constant Contact's, the Event Webhook and
// the control plane under /admin/) on a loopback port, over a SQLite store
// in the test's temporary directory, and stops it and removes everything
// when the test ends. A suite written against SendGrid then runs against
// it with two lines of setup:
//
//	srv := segmentdtest.Start(t)
//	req := sendgrid.GetRequest(srv.Key, "/v3/marketing/contacts", srv.URL)
//
// Tests that run in parallel on one server each take an account of their
// own (Server.NewAccount), so that they never see each other's contacts.
//
// The server runs in development mode: its clock can be set (SetClock, or
// POST /admin/clock) and its admin endpoints need no token, as it listens
// on loopback only.
//
// It imports the segmentd packages the server is made of, and outside the
// standard library only what they need (the SQLite driver and the
// membership engine's bitmaps): no PostgreSQL driver, no test framework.
package segmentdtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/admin"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/constantcontact"
	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/hooks"
	"github.com/segmentd/segmentd/sendgrid"
	"github.com/segmentd/segmentd/server"
	"github.com/segmentd/segmentd/sqlite"
	"github.com/segmentd/segmentd/webhook"
)

// Options configures a server; the zero value is `segmentd serve --dev`
// with its defaults.
type Options struct {
	// Key is the default account's full-access API key; "" generates one.
	Key string
	// LegacyV1Writes serves SendGrid's removed v1 segment writes
	// (--legacy-v1-writes).
	LegacyV1Writes bool
	// CCRateLimits enforces Constant Contact's per-key limits
	// (--cc-rate-limits).
	CCRateLimits bool
	// SendGridRateLimits enforces the SendGrid face's per-key limit
	// (--sendgrid-rate-limits).
	SendGridRateLimits bool
	// ScheduledRefresh serves segment counts and samples on SendGrid's
	// schedule (--refresh=scheduled) instead of exact as of each request.
	ScheduledRefresh bool
	// Log receives the server's log (one JSON line per request); nil
	// discards it.
	Log io.Writer
}

// Server is a segmentd serving a test.
type Server struct {
	// URL is the base URL, such as http://127.0.0.1:41234: what SendGrid's
	// and Constant Contact's clients take in place of theirs.
	URL string
	// Key is a full-access API key of the account "default".
	Key string

	clock   *segmentd.DevClock
	members engine.Membership
	svc     *audience.Service
}

// Start starts a server for t and stops it when t ends; it fails t when
// the server cannot start.
func Start(t testing.TB) *Server { return StartWith(t, Options{}) }

// StartWith is Start with options.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	s, stop, err := start(t.TempDir(), o)
	if err != nil {
		t.Fatalf("segmentdtest: starting segmentd: %v", err)
	}
	t.Cleanup(func() {
		if err := stop(); err != nil {
			t.Errorf("segmentdtest: stopping segmentd: %v", err)
		}
	})
	return s
}

// start wires a server as cmd/segmentd's serve does, in dir.
func start(dir string, o Options) (_ *Server, stop func() error, err error) {
	ctx := context.Background()
	out := o.Log
	if out == nil {
		out = io.Discard
	}
	log := slog.New(slog.NewJSONHandler(out, nil))
	store, err := sqlite.Open(ctx, filepath.Join(dir, "segmentd.db"))
	if err != nil {
		return nil, nil, err
	}
	var closers []func() error
	closeAll := func() error {
		var first error
		for i := len(closers) - 1; i >= 0; i-- {
			if err := closers[i](); err != nil && first == nil {
				first = err
			}
		}
		return first
	}
	closers = append(closers, store.Close)
	defer func() {
		if err != nil {
			_ = closeAll()
		}
	}()
	s := &Server{clock: segmentd.NewDevClock(), members: engine.NewMembership()}
	refresh := audience.RefreshRealtime
	if o.ScheduledRefresh {
		refresh = audience.RefreshScheduled
	}
	// Segment webhooks and the membership history, as the binary has them.
	dispatcher := hooks.New(hooks.Options{Store: store, Clock: s.clock, Log: log, History: store, Retention: segmentd.DefaultHistoryRetention})
	if err := dispatcher.Start(ctx); err != nil {
		return nil, nil, err
	}
	closers = append(closers, func() error { dispatcher.Close(); return nil })
	s.svc = audience.New(store, s.clock, log, audience.Config{
		Membership: s.members, Refresh: refresh,
		Segments: store, CCSegments: store, Events: store, WebhookKeys: store, Exports: store, Imports: store,
		Hooks: store, Outbox: dispatcher, History: store, HistoryRetention: segmentd.DefaultHistoryRetention,
	})
	closers = append(closers, func() error { s.svc.Close(); return nil })
	if err := s.svc.LoadMembership(ctx); err != nil {
		return nil, nil, err
	}
	generated, err := s.svc.Bootstrap(ctx, o.Key)
	if err != nil {
		return nil, nil, err
	}
	s.Key = o.Key
	if s.Key == "" {
		s.Key = generated
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	faces := []server.Face{
		{Prefixes: sendgrid.Prefixes(), Handler: sendgrid.NewHandler(s.svc, log, sendgrid.Options{LegacyV1Writes: o.LegacyV1Writes, RateLimits: o.SendGridRateLimits})},
		{Prefixes: []string{sendgrid.ExportFilesPrefix}, Handler: sendgrid.NewExportFiles(s.svc, log)},
		{Prefixes: []string{sendgrid.ImportFilesPrefix}, Handler: sendgrid.NewImportFiles(s.svc, log)},
		{Prefixes: constantcontact.Prefixes(), Handler: constantcontact.NewHandler(s.svc, log, constantcontact.Options{RateLimits: o.CCRateLimits})},
		{Prefixes: []string{"/webhooks/"}, Handler: webhook.NewHandler(s.svc, log, webhook.Options{Clock: s.clock})},
		{Prefixes: []string{hooks.Prefix}, Handler: hooks.NewHandler(hooks.HandlerOptions{Service: s.svc, Dispatcher: dispatcher, Log: log})},
		{Prefixes: []string{"/admin/"}, Handler: admin.NewHandler(admin.Options{Clock: s.clock, Advance: s.members.Advance, Control: s.svc, Log: log})},
	}
	srv := &http.Server{Handler: server.New(log, store.Ping, faces...), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	closers = append(closers, func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if serr := <-served; serr != http.ErrServerClosed && err == nil {
			err = serr
		}
		return err
	})
	s.URL = "http://" + ln.Addr().String()
	return s, closeAll, nil
}

// SetClock stops the server's clock at now (as POST /admin/clock does):
// every component reads it, so segments that read the clock ("opened in
// the last 7 days") follow at once, forwards or backwards.
func (s *Server) SetClock(now time.Time) {
	s.clock.Set(now)
	s.members.Advance(s.clock.Now())
}

// ResetClock makes the server's clock follow the system clock again.
func (s *Server) ResetClock() {
	s.clock.Reset()
	s.members.Advance(s.clock.Now())
}

// Account is an account of the server's, made for one test.
type Account struct {
	Name string
	Key  string // full access to the account
}

// NewAccount creates an account of its own for t through the control plane
// (POST /admin/accounts), named after t, and deletes it when t ends: tests
// running in parallel on one server each use their own, and never see each
// other's data.
func (s *Server) NewAccount(t testing.TB) Account {
	t.Helper()
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := accountName(t.Name(), hex.EncodeToString(b[:]))
	body, _ := json.Marshal(map[string]string{"name": name})
	var created struct {
		APIKey struct {
			Key string `json:"key"`
		} `json:"api_key"`
	}
	if err := s.admin(http.MethodPost, "/admin/accounts", body, http.StatusCreated, &created); err != nil {
		t.Fatalf("segmentdtest: creating an account: %v", err)
	}
	t.Cleanup(func() {
		if err := s.admin(http.MethodDelete, "/admin/accounts/"+url.PathEscape(name), nil, http.StatusOK, nil); err != nil {
			t.Errorf("segmentdtest: deleting account %q: %v", name, err)
		}
	})
	return Account{Name: name, Key: created.APIKey.Key}
}

// ResetAccount empties an account (POST /admin/accounts/{name}/reset): its
// contacts, lists, fields, segments, events and jobs go; its key stays.
func (s *Server) ResetAccount(t testing.TB, name string) {
	t.Helper()
	if err := s.admin(http.MethodPost, "/admin/accounts/"+url.PathEscape(name)+"/reset", nil, http.StatusOK, nil); err != nil {
		t.Fatalf("segmentdtest: resetting account %q: %v", name, err)
	}
}

// accountName is an account name made of a test's name (the characters
// an account name takes, at most the length one may have) and a suffix
// that makes it unique.
func accountName(test, suffix string) string {
	keep := audience.MaxAccountName - len(suffix) - 1
	var b strings.Builder
	for _, r := range test {
		if b.Len() >= keep {
			break
		}
		if r < 0x21 || r == 0x7f || r >= 0x80 {
			r = '_'
		}
		b.WriteRune(r)
	}
	return b.String() + "-" + suffix
}

// admin calls the control plane and decodes its answer into out.
func (s *Server) admin(method, path string, body []byte, want int, out any) error {
	req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
