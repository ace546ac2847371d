// Package facetest is the test kit of the API faces (SendGrid, Constant
// Contact, the Event Webhook) and of the tests that drive a whole server:
// it starts a face over a fresh SQLite store, the real membership engine
// and an audience.Service on a loopback port, makes accounts and keys,
// sends requests, waits for jobs with one poller and one deadline, compares
// JSON, and validates responses against the vendors' OpenAPI documents
// (spec.go).
//
// It is imported only by tests. What belongs to one vendor (SendGrid calls
// made through the official sendgrid-go client, error envelopes) stays in
// that face's tests.
package facetest

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/sqlite"
)

// Config configures Start. Its zero value is a server as cmd/segmentd wires
// one, on the system clock, with a generated key.
type Config struct {
	// Service configures the audience.Service. Its store seams left nil
	// (Segments, CCSegments, Events, WebhookKeys, Exports, Imports) are the SQLite store, and
	// Membership is engine.NewMembership().
	Service audience.Config
	// Now, when set, stops the clock at that instant before the service
	// starts (segmentd.DevClock.Set); otherwise the clock follows the
	// system clock until a test sets it.
	Now time.Time
	// Key is the default account's full-access key; "" generates one.
	Key string
	// Outbox, when set, returns the segment webhooks' outbox the
	// Service records transitions to (Service.Outbox), once the Env's
	// store, clock and log are set.
	Outbox func(e *Env) segmentd.Outbox
}

// Env is one server under test.
type Env struct {
	T      testing.TB
	Dir    string // the data directory
	DBPath string // the SQLite file, in Dir
	Store  *sqlite.Store
	Svc    *audience.Service
	Clock  *segmentd.DevClock // the service's clock
	Log    *slog.Logger       // the server's logger, writing to Logs
	Logs   *Logs
	URL    string // the server's base URL
	Key    string // full access to the default account
}

// Start serves the handler that face builds for a new Env on a loopback
// port, and stops everything when the test ends.
func Start(t testing.TB, face func(*Env) http.Handler, cfg Config) *Env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	e := &Env{T: t, Dir: dir, DBPath: filepath.Join(dir, "segmentd.db"), Logs: &Logs{}, Clock: segmentd.NewDevClock()}
	store, err := sqlite.Open(ctx, e.DBPath)
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	e.Store = store
	e.Log = slog.New(slog.NewTextHandler(e.Logs, nil))
	if !cfg.Now.IsZero() {
		e.Clock.Set(cfg.Now)
	}
	c := cfg.Service
	if c.Segments == nil {
		c.Segments = store
	}
	if c.CCSegments == nil {
		c.CCSegments = store
	}
	if c.Events == nil {
		c.Events = store
	}
	if c.WebhookKeys == nil {
		c.WebhookKeys = store
	}
	if c.Membership == nil {
		c.Membership = engine.NewMembership()
	}
	if c.Exports == nil {
		c.Exports = store
	}
	if c.Hooks == nil {
		c.Hooks = store
	}
	if cfg.Outbox != nil {
		c.Outbox = cfg.Outbox(e)
	}
	if c.HistoryRetention > 0 && c.History == nil {
		c.History = store
	}
	if c.Imports == nil {
		c.Imports = store
	}
	e.Svc = audience.New(store, e.Clock, e.Log, c)
	if err := e.Svc.LoadMembership(ctx); err != nil {
		t.Fatalf("LoadMembership: %v", err)
	}
	generated, err := e.Svc.Bootstrap(ctx, cfg.Key)
	if err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	e.Key = cmp.Or(cfg.Key, generated)
	srv := httptest.NewServer(face(e))
	e.URL = srv.URL
	t.Cleanup(func() {
		srv.Close()
		e.Svc.Close()
		store.Close()
	})
	return e
}

// NewKey creates account (unless it exists, as a subuser of parent when
// parent is not "") and returns a new key for it with scopes.
func (e *Env) NewKey(account, parent string, scopes ...segmentd.Scope) string {
	e.T.Helper()
	ctx := context.Background()
	if _, err := e.Store.AccountByName(ctx, account); segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
		if _, err := e.Svc.CreateAccount(ctx, account, parent); err != nil {
			e.T.Fatalf("CreateAccount: %v", err)
		}
	}
	secret, _, err := e.Svc.CreateAPIKey(ctx, account, "test", scopes)
	if err != nil {
		e.T.Fatalf("CreateAPIKey: %v", err)
	}
	return secret
}

// DefaultAccount returns the id of the account the default key belongs to.
func (e *Env) DefaultAccount() int64 {
	e.T.Helper()
	a, err := e.Svc.EnsureDefaultAccount(context.Background())
	if err != nil {
		e.T.Fatal(err)
	}
	return a.ID
}

// Request is one HTTP request to a server.
type Request struct {
	Method string
	Path   string     // may carry a query
	Query  url.Values // added to Path's query
	// Key is the API key sent as "Authorization: Bearer …": nil sends the
	// caller's (Env.Key for Call), "" none.
	Key *string
	// Header holds more headers; an empty value removes one. A request
	// with a body is application/json unless Header says otherwise.
	Header map[string]string
	Body   any // sent as is when []byte or string, else marshalled as JSON
}

// Response is what a server answered.
type Response struct {
	Request string // "METHOD path", for messages
	Status  int
	Header  http.Header
	Body    []byte
}

// JSON decodes the body as a JSON object, failing t if it is not one.
func (r Response) JSON(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("%s: response is not a JSON object: %v\n%s", r.Request, err, r.Body)
	}
	return m
}

// Decode decodes the JSON body into v, failing t if it cannot.
func (r Response) Decode(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("%s: decoding response: %v\n%s", r.Request, err, r.Body)
	}
}

// Call sends rq to the server with the Env's key, failing the test if the
// request cannot be made.
func (e *Env) Call(t testing.TB, rq Request) Response {
	t.Helper()
	r, err := Send(e.URL, e.Key, rq)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Send sends rq to the server at base, with key as the Bearer credential
// unless rq.Key says otherwise. Unlike Call it needs no test, so any
// goroutine may use it.
func Send(base, key string, rq Request) (Response, error) {
	name := rq.Method + " " + rq.Path
	var body io.Reader
	switch b := rq.Body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case string:
		body = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return Response{}, fmt.Errorf("%s: %w", name, err)
		}
		body = bytes.NewReader(j)
	}
	u := base + rq.Path
	if len(rq.Query) > 0 {
		sep := "?"
		if strings.Contains(rq.Path, "?") {
			sep = "&"
		}
		u += sep + rq.Query.Encode()
	}
	req, err := http.NewRequest(rq.Method, u, body)
	if err != nil {
		return Response{}, fmt.Errorf("%s: %w", name, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if rq.Key != nil {
		key = *rq.Key
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for k, v := range rq.Header {
		if v == "" {
			req.Header.Del(k)
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Response{}, fmt.Errorf("%s: %w", name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}, fmt.Errorf("%s: reading the response: %w", name, err)
	}
	return Response{Request: name, Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// WantStatus fails t unless r has status, and returns the decoded body
// (nil when it is empty).
func WantStatus(t testing.TB, r Response, status int) map[string]any {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: status %d, want %d; body %s", r.Request, r.Status, status, r.Body)
	}
	if len(r.Body) == 0 {
		return nil
	}
	return r.JSON(t)
}

// WantError reports an error unless r has status and a body equal, as
// JSON, to body.
func WantError(t testing.TB, r Response, status int, body string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("%s: status = %d, want %d; body %s", r.Request, r.Status, status, r.Body)
		return
	}
	if !JSONEqual(r.Body, []byte(body)) {
		t.Errorf("%s: body =\n%s\nwant\n%s", r.Request, bytes.TrimSpace(r.Body), body)
	}
}

// JSONEqual reports whether a and b are the same JSON value (object keys
// in any order, numbers compared as float64); text that is not JSON equals
// nothing.
func JSONEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

// Ptr returns a pointer to a copy of v.
func Ptr[T any](v T) *T { return &v }

// Deadline bounds every wait in the tests: a 30,000-contact job under
// -race on a busy 2-core machine takes most of it.
const Deadline = 2 * time.Minute

// Poll calls done until it reports true, and fails t when Deadline passes
// first; what names the wait in the failure. done may fail t itself. It
// checks often at first and then every 10 ms.
func Poll(t testing.TB, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(Deadline)
	for wait := time.Millisecond; !done(); wait = min(2*wait, 10*time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not done within %v", what, Deadline)
		}
		time.Sleep(wait)
	}
}

// WaitJob waits, through the service, for job id of acct to leave
// pending, and returns it.
func WaitJob(t testing.TB, svc *audience.Service, acct int64, id string) segmentd.Job {
	t.Helper()
	var j segmentd.Job
	Poll(t, "job "+id, func() bool {
		var err error
		if j, err = svc.Job(context.Background(), acct, id); err != nil {
			t.Fatalf("job %s: %v", id, err)
		}
		return j.Status != segmentd.JobPending
	})
	return j
}

// Logs collects a server's log lines; handlers log from their own
// goroutines.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
