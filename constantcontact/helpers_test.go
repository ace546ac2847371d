package constantcontact_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/oasdiff/yaml"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	cc "github.com/segmentd/segmentd/constantcontact"
	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/sqlite"
)

// env is one Constant Contact face on a loopback port over a fresh
// SQLite store and membership engine.
type env struct {
	t     testing.TB
	svc   *audience.Service
	store *sqlite.Store
	srv   *httptest.Server
	key   string // full access to the default account
	clock *segmentd.DevClock
}

// newEnv starts the face; opts configure it (rate limits), and each cfg
// function may change the service's configuration.
func newEnv(t testing.TB, opts cc.Options, cfg ...func(*audience.Config)) *env {
	t.Helper()
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	clock := segmentd.NewDevClock()
	c := audience.Config{Segments: store, CCSegments: store, Membership: engine.NewMembership()}
	for _, f := range cfg {
		f(&c)
	}
	svc := audience.New(store, clock, log, c)
	key, err := svc.Bootstrap(ctx, "")
	if err != nil {
		t.Fatalf("Bootstrap: %v", err)
	}
	srv := httptest.NewServer(cc.NewHandler(svc, log, opts))
	t.Cleanup(func() {
		srv.Close()
		svc.Close()
		store.Close()
	})
	return &env{t: t, svc: svc, store: store, srv: srv, key: key, clock: clock}
}

// newKey creates an account (unless it exists) and a key for it.
func (e *env) newKey(account string, scopes ...segmentd.Scope) string {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.store.AccountByName(ctx, account); segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
		if _, err := e.svc.CreateAccount(ctx, account, ""); err != nil {
			e.t.Fatalf("CreateAccount: %v", err)
		}
	}
	secret, _, err := e.svc.CreateAPIKey(ctx, account, "test", scopes)
	if err != nil {
		e.t.Fatalf("CreateAPIKey: %v", err)
	}
	return secret
}

// req is one request to the face.
type req struct {
	method string
	path   string // with its query
	body   any    // marshalled unless a string
	key    *string
	// contentType replaces "application/json" on requests with a body.
	contentType string
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding response: %v\n%s", err, r.body)
	}
}

// do sends rq and validates the response against the operation in
// Constant Contact's Swagger document.
func (e *env) do(t *testing.T, rq req) response {
	t.Helper()
	r := e.send(t, rq)
	validateSpec(t, rq.method, rq.path, r)
	return r
}

// send sends rq without validating the response.
func (e *env) send(t *testing.T, rq req) response {
	t.Helper()
	var body io.Reader
	switch b := rq.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(j)
	}
	hr, err := http.NewRequest(rq.method, e.srv.URL+rq.path, body)
	if err != nil {
		t.Fatal(err)
	}
	key := e.key
	if rq.key != nil {
		key = *rq.key
	}
	if key != "" {
		hr.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		ct := rq.contentType
		if ct == "" {
			ct = "application/json"
		}
		hr.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		t.Fatalf("%s %s: %v", rq.method, rq.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, body: b}
	if len(b) > 0 && resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", rq.method, rq.path, resp.Header.Get("Content-Type"))
	}
	return r
}

// must sends rq, asserts the status and decodes a JSON body into a map.
func (e *env) must(t *testing.T, rq req, status int) map[string]any {
	t.Helper()
	r := e.do(t, rq)
	if r.status != status {
		t.Fatalf("%s %s: status %d, want %d; body %s", rq.method, rq.path, r.status, status, r.body)
	}
	var m map[string]any
	if len(r.body) > 0 {
		r.decode(t, &m)
	}
	return m
}

// wantError asserts a status and the exact JSON body.
func wantError(t *testing.T, r response, status int, body string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d; body %s", r.status, status, r.body)
		return
	}
	if !jsonEqual(r.body, []byte(body)) {
		t.Errorf("body =\n%s\nwant\n%s", bytes.TrimSpace(r.body), body)
	}
}

// ccErr is Constant Contact's error array with one entry.
func ccErr(key, message string) string {
	b, _ := json.Marshal([]map[string]string{{"error_key": key, "error_message": message}})
	return string(b)
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return bytes.Equal(xa, ya)
}

func ptr[T any](v T) *T { return &v }

// upsert writes contacts through the service and waits for the job.
func (e *env) upsert(t *testing.T, acct int64, patches []segmentd.ContactPatch, listIDs ...string) {
	t.Helper()
	ctx := context.Background()
	id, err := e.svc.UpsertContacts(ctx, acct, patches, listIDs)
	if err != nil {
		t.Fatalf("UpsertContacts: %v", err)
	}
	for deadline := time.Now().Add(time.Minute); ; {
		j, err := e.svc.Job(ctx, acct, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.Status == segmentd.JobCompleted {
			return
		}
		if j.Status != segmentd.JobPending || time.Now().After(deadline) {
			t.Fatalf("job %s: %+v", id, j)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (e *env) defaultAccount(t *testing.T) int64 {
	t.Helper()
	a, err := e.svc.EnsureDefaultAccount(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// --- validation against the Swagger document

// specFile is Constant Contact's contract beside the repository.
var specFile = filepath.Join("..", "..", "shared", "specs", "constantcontact", "swagger.yaml")

type spec struct {
	router routers.Router
	err    error
	absent bool
}

var loadSpec = sync.OnceValue(func() *spec {
	y, err := os.ReadFile(specFile)
	if errors.Is(err, fs.ErrNotExist) {
		return &spec{absent: true}
	}
	s := &spec{}
	s.err = func() error {
		if err != nil {
			return err
		}
		// openapi2 reads JSON; Constant Contact publishes YAML.
		j, err := yaml.YAMLToJSON(y)
		if err != nil {
			return err
		}
		var doc2 openapi2.T
		if err := json.Unmarshal(j, &doc2); err != nil {
			return err
		}
		// Ids are UUIDs (contacts v7, lists v4, custom fields v8): check
		// the format, which kin-openapi leaves unchecked by default.
		openapi3.DefineStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562))
		doc, err := openapi2conv.ToV3(&doc2)
		if err != nil {
			return err
		}
		if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
			return err
		}
		s.router, err = gorillamux.NewRouter(doc)
		return err
	}()
	return s
})

// validateSpec checks a response against its operation in the Swagger
// document (converted to OpenAPI 3): the status must be one the operation
// lists, and a documented body must match its schema. Without the spec it
// does nothing (TestSpec says so by skipping).
func validateSpec(t *testing.T, method, path string, r response) {
	t.Helper()
	s := loadSpec()
	if s.absent {
		return
	}
	if s.err != nil {
		t.Fatalf("loading %s: %v", specFile, s.err)
	}
	// Requests are matched on the spec's own server, https://api.cc.email/v3.
	hr, err := http.NewRequest(method, "https://api.cc.email"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	route, params, err := s.router.FindRoute(hr)
	if err != nil {
		t.Errorf("%s %s: no operation in the spec: %v", method, path, err)
		return
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	if r.status == http.StatusNoContent {
		opts.ExcludeResponseBody = true
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: hr, PathParams: params, Route: route},
		Status:                 r.status,
		Header:                 r.header,
		Body:                   io.NopCloser(bytes.NewReader(r.body)),
		Options:                opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s (%s): response %d does not match the spec: %v\nbody: %.2000s", method, path, route.Operation.OperationID, r.status, err, r.body)
	}
}

func TestSpec(t *testing.T) {
	s := loadSpec()
	if s.absent {
		t.Skipf("Constant Contact's swagger.yaml not found at %s: responses are not validated against the vendor's contract", specFile)
	}
	if s.err != nil {
		t.Fatal(s.err)
	}
	// The validator must be able to fail: a SegmentDetail with a string id.
	hr, _ := http.NewRequest("GET", "https://api.cc.email/v3/segments/1", nil)
	route, params, err := s.router.FindRoute(hr)
	if err != nil {
		t.Fatal(err)
	}
	err = openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: hr, PathParams: params, Route: route},
		Status:                 200,
		Header:                 http.Header{"Content-Type": {"application/json"}},
		Body:                   io.NopCloser(strings.NewReader(`{"segment_id":"1"}`)),
	})
	if err == nil {
		t.Fatal("a SegmentDetail with a string segment_id passed validation")
	}
}

// criteria returns segment_criteria of the documented tracking shape.
func criteria(field string, n int) string {
	return fmt.Sprintf(`{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"tracking","field":%q,"op":"contains-any","const_value":"last-n-campaigns","param":"%d"}]}}`, field, n)
}
