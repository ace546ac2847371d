package sendgrid_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/sendgrid/rest"
	sendgrid "github.com/sendgrid/sendgrid-go"

	"github.com/segmentd/segmentd/internal/facetest"
	sg "github.com/segmentd/segmentd/sendgrid"
)

// env is the SendGrid face under test (facetest.Env); its calls go
// through the official sendgrid-go client.
type env struct{ *facetest.Env }

// newEnv starts the face with the defaults.
func newEnv(t testing.TB) *env { return newEnvWith(t, facetest.Config{}, sg.Options{}) }

// newEnvWith starts the face configured by cfg and opts.
func newEnvWith(t testing.TB, cfg facetest.Config, opts sg.Options) *env {
	t.Helper()
	return &env{facetest.Start(t, func(e *facetest.Env) http.Handler { return sg.NewHandler(e.Svc, e.Log, opts) }, cfg)}
}

// call is one request made through the official client.
type call struct {
	method string
	path   string
	query  map[string]string
	// rawQuery is appended to the path by hand, for repeated keys, which
	// rest.Request.QueryParams (a map) cannot send.
	rawQuery string
	body     any // marshalled unless []byte or string
	key      *string
	obo      string
	// noSpec, when set, says why this response is not validated against
	// the OpenAPI document.
	noSpec string
}

// do sends c through sendgrid-go against the test server, checks the
// headers every SendGrid response carries, and validates the response
// against the operation's schema in the vendor's OpenAPI document.
func (e *env) do(t *testing.T, c call) facetest.Response {
	t.Helper()
	r, err := e.try(c)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.path, err)
	}
	checkCommonHeaders(t, c, r, e.Clock.Now())
	if c.noSpec == "" {
		rawQuery := c.rawQuery
		if len(c.query) > 0 {
			q := url.Values{}
			for k, v := range c.query {
				q.Set(k, v)
			}
			rawQuery = q.Encode()
		}
		sendgridSpec.Check(t, c.method, c.path, rawQuery, r)
	}
	return r
}

// try sends c through sendgrid-go and returns the response; it is safe to
// call from any goroutine.
func (e *env) try(c call) (facetest.Response, error) {
	key := e.Key
	if c.key != nil {
		key = *c.key
	}
	path := c.path
	if c.rawQuery != "" {
		path += "?" + c.rawQuery
	}
	req := sendgrid.GetRequest(key, path, e.URL)
	if c.key != nil && *c.key == "" {
		delete(req.Headers, "Authorization")
	}
	if c.obo != "" {
		req.Headers["On-Behalf-Of"] = c.obo
	}
	req.Method = rest.Method(c.method)
	req.QueryParams = c.query
	switch b := c.body.(type) {
	case nil:
	case []byte:
		req.Body = b
	case string:
		req.Body = []byte(b)
	default:
		var err error
		if req.Body, err = json.Marshal(b); err != nil {
			return facetest.Response{}, err
		}
	}
	resp, err := sendgrid.MakeRequest(req)
	if err != nil {
		return facetest.Response{}, err
	}
	return facetest.Response{Request: c.method + " " + c.path, Status: resp.StatusCode, Header: http.Header(resp.Headers), Body: []byte(resp.Body)}, nil
}

// checkCommonHeaders checks the headers every answer carries: the
// rate-limit headers, plausible for a window of at most a minute on the
// service's clock, which read now after the answer came.
func checkCommonHeaders(t *testing.T, c call, r facetest.Response, at time.Time) {
	t.Helper()
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
		if r.Header.Get(h) == "" {
			t.Errorf("%s %s: no %s header", c.method, c.path, h)
		}
	}
	var limit, remaining, reset int64
	fmt.Sscan(r.Header.Get("X-RateLimit-Limit"), &limit)
	fmt.Sscan(r.Header.Get("X-RateLimit-Remaining"), &remaining)
	fmt.Sscan(r.Header.Get("X-RateLimit-Reset"), &reset)
	now := at.Unix()
	switch {
	case r.Status == http.StatusTooManyRequests:
		// A 429 describes the limit that refused it (an hour or a day on
		// the service's clock, which tests move); its tests check Reset.
		if limit <= 0 || remaining != 0 {
			t.Errorf("%s %s: a 429 with limit=%d remaining=%d", c.method, c.path, limit, remaining)
		}
	case limit <= 0 || remaining < 0 || remaining > limit || reset < now || reset > now+60:
		t.Errorf("%s %s: implausible rate-limit headers limit=%d remaining=%d reset=%d (now %d)", c.method, c.path, limit, remaining, reset, now)
	}
	if len(r.Body) > 0 && r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", c.method, c.path, r.Header.Get("Content-Type"))
	}
}

// errCase is a call and the exact error SendGrid answers it with.
type errCase struct {
	name   string
	c      call
	status int
	body   string
}

// wantErrors sends each case's call in a subtest of its name and asserts
// its status and body.
func (e *env) wantErrors(t *testing.T, cases []errCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			facetest.WantError(t, e.do(t, tc.c), tc.status, tc.body)
		})
	}
}

// wantRefusals asserts that c is refused without a key (401) and with a
// key lacking the scope its method needs (403): readOnly and writeOnly are
// keys with sendgrid.read and sendgrid.write alone.
func (e *env) wantRefusals(t *testing.T, c call, readOnly, writeOnly string) {
	t.Helper()
	c.key = facetest.Ptr("")
	facetest.WantError(t, e.do(t, c), 401, authErr("authorization required"))
	if c.method == "GET" {
		c.key = &writeOnly
		facetest.WantError(t, e.do(t, c), 403, authErr("access forbidden: this API key lacks the sendgrid.read scope"))
	} else {
		c.key = &readOnly
		facetest.WantError(t, e.do(t, c), 403, authErr("access forbidden: this API key lacks the sendgrid.write scope"))
	}
}

// errBody builds the E2 envelope {"errors":[{"field":…,"message":…}]}.
func errBody(field, message string) string {
	f, _ := marshalString(field)
	m, _ := marshalString(message)
	return `{"errors":[{"field":` + f + `,"message":` + m + `}]}`
}

// authErr builds E1 as SendGrid sends it for 401 and 403: "field":null.
func authErr(message string) string {
	m, _ := marshalString(message)
	return `{"errors":[{"field":null,"message":` + m + `}]}`
}

// errBodyNull is errBody with a null field unless one is named.
func errBodyNull(field, message string) string {
	f := "null"
	if field != "" {
		f, _ = marshalString(field)
	}
	m, _ := marshalString(message)
	return `{"errors":[{"field":` + f + `,"message":` + m + `}]}`
}

// bareErr builds E2-bare: one unwrapped error item.
func bareErr(field, message string) string {
	f, _ := marshalString(field)
	m, _ := marshalString(message)
	return `{"field":` + f + `,"message":` + m + `}`
}

func marshalString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

// waitJob polls GET /contacts/imports/{id} until the job leaves pending.
// key, when given, is the API key to poll with.
func (e *env) waitJob(t *testing.T, id string, key ...string) map[string]any {
	t.Helper()
	c := call{method: "GET", path: "/v3/marketing/contacts/imports/" + id}
	if len(key) > 0 {
		c.key = &key[0]
	}
	var m map[string]any
	facetest.Poll(t, "job "+id, func() bool {
		m = facetest.WantStatus(t, e.do(t, c), http.StatusOK)
		return m["status"] != "pending"
	})
	return m
}

// upsert sends an upsert, expects 202 and waits for the job.
func (e *env) upsert(t *testing.T, body any) map[string]any {
	t.Helper()
	r := e.do(t, call{method: "PUT", path: "/v3/marketing/contacts", body: body})
	if r.Status != http.StatusAccepted {
		t.Fatalf("upsert: status %d %s", r.Status, r.Body)
	}
	return e.waitJob(t, r.JSON(t)["job_id"].(string))
}

// --- OpenAPI validation

// sendgridSpec is SendGrid's OpenAPI documents. The 2.0 segments document
// comes before v1's, whose /v3/marketing/segments/{segment_id} would
// otherwise take ".../2.0". Responses are matched on the documents' own
// server, so they need no rewriting for each test server.
var sendgridSpec = facetest.NewSpec("sendgrid", "https://api.sendgrid.com", func(dir string) (facetest.SpecDocs, error) {
	var s facetest.SpecDocs
	ctx := context.Background()
	for _, f := range specFiles {
		doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join(dir, f))
		if err != nil {
			return s, fmt.Errorf("%s: %w", f, err)
		}
		if err := doc.Validate(ctx, openapi3.DisableExamplesValidation()); err != nil {
			return s, fmt.Errorf("%s: %w", f, err)
		}
		honourNullable(doc)
		relaxContactResponse(doc)
		s.Docs = append(s.Docs, doc)
	}
	// Fallback schemas for statuses an operation does not document (the
	// lists and custom fields specs list no 401, 403 or 500 at all):
	// SendGrid's common envelopes, taken from the contacts spec. A 429 is
	// E1, the body the "Rate Limits" page shows for every v3 endpoint
	// (docs/sendgrid.md "Rate limits").
	contacts := s.Docs[0]
	e1 := contacts.Components.Responses["MarketingContacts401"].Value.Content.Get("application/json").Schema.Value
	e3 := contacts.Components.Responses["MarketingContacts500"].Value.Content.Get("application/json").Schema.Value
	e2 := contacts.Paths.Find("/v3/marketing/contacts").Put.Responses.Status(400).Value.Content.Get("application/json").Schema.Value
	s.Fallback = map[int]*openapi3.Schema{400: e2, 401: e1, 403: e1, 404: e1, 405: e1, 429: e1, 500: e3}
	return s, nil
})

var specFiles = []string{"tsg_mc_contacts_v3.json", "tsg_mc_lists_v3.json", "tsg_mc_custom_fields_v3.json",
	"tsg_mc_segments_2.0_v3.json", "tsg_mc_segments_v3.json"}

func TestSpecs(t *testing.T) {
	if got := len(sendgridSpec.Docs(t).Docs); got != len(specFiles) {
		t.Fatalf("loaded %d documents, want %d", got, len(specFiles))
	}
}

// ids joins ids for a query string.
func ids(v ...string) string { return strings.Join(v, ",") }

// contactByEmail reads a contact back through search by emails.
func (e *env) contactByEmail(t *testing.T, email string) map[string]any {
	t.Helper()
	r := e.do(t, call{method: "POST", path: "/v3/marketing/contacts/search/emails", body: map[string]any{"emails": []string{email}}})
	m := facetest.WantStatus(t, r, http.StatusOK)
	entry, _ := m["result"].(map[string]any)[strings.ToLower(email)].(map[string]any)
	c, ok := entry["contact"].(map[string]any)
	if !ok {
		t.Fatalf("no contact for %s: %s", email, r.Body)
	}
	return c
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// honourNullable rewrites 3.0's "nullable: true" as a "null" type. The
// SendGrid documents are OpenAPI 3.1 but still mark E1's field with
// nullable (SendGrid sends "field":null on 401 and 403), a keyword 3.1's
// JSON Schema validation ignores; this keeps the authors' intent.
func honourNullable(doc *openapi3.T) {
	seen := map[*openapi3.Schema]bool{}
	var walk func(*openapi3.SchemaRef)
	walk = func(ref *openapi3.SchemaRef) {
		if ref == nil || ref.Value == nil || seen[ref.Value] {
			return
		}
		s := ref.Value
		seen[s] = true
		if s.Nullable && s.Type != nil && !s.Type.Includes("null") {
			types := append(openapi3.Types{}, (*s.Type)...)
			types = append(types, "null")
			s.Type = &types
		}
		for _, p := range s.Properties {
			walk(p)
		}
		walk(s.Items)
		if s.AdditionalProperties.Schema != nil {
			walk(s.AdditionalProperties.Schema)
		}
		for _, sub := range append(append(append([]*openapi3.SchemaRef{}, s.AllOf...), s.AnyOf...), s.OneOf...) {
			walk(sub)
		}
	}
	for _, ref := range doc.Components.Schemas {
		walk(ref)
	}
	for _, r := range doc.Components.Responses {
		if r.Value != nil {
			for _, mt := range r.Value.Content {
				walk(mt.Schema)
			}
		}
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			for _, r := range op.Responses.Map() {
				if r.Value != nil {
					for _, mt := range r.Value.Content {
						walk(mt.Schema)
					}
				}
			}
		}
	}
}
