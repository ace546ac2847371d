package sendgrid_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/engine"
)

// newMembership is the membership engine every test env gets.
func newMembership() segmentd.Membership { return engine.NewMembership() }

// testClock is a settable segmentd.Clock.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock(t time.Time) *testClock { return &testClock{now: t} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// relaxContactResponse applies segmentd's documented choices to the
// segments documents' ContactResponse (the item of segment samples):
//   - postal_code is a string, as in every other SendGrid schema and the
//     v2 SQL column (docs/sendgrid.md "Spec contradictions" 4);
//   - unset reserved text fields are "" (docs/decisions.md §7), which the
//     schema's minLength 1 on first_name/last_name and its city pattern
//     (one or more characters) refuse although SendGrid's own contacts
//     often have no name or city.
func relaxContactResponse(doc *openapi3.T) {
	for _, name := range []string{"ContactResponse", "contact_response"} {
		ref := doc.Components.Schemas[name]
		if ref == nil || ref.Value == nil {
			continue
		}
		p := ref.Value.Properties
		if pc := p["postal_code"]; pc != nil && pc.Value != nil {
			pc.Value.Type = &openapi3.Types{"string"}
		}
		for _, f := range []string{"first_name", "last_name"} {
			if s := p[f]; s != nil && s.Value != nil {
				s.Value.MinLength = 0
			}
		}
		if s := p["city"]; s != nil && s.Value != nil {
			s.Value.Pattern = `^[a-zA-Z\x{0080}-\x{024F}\s\/\-\)\(\x60\.\"\']*$`
		}
	}
}

// --- the legacy spec (removed v1 writes)

var legacySpecPath = filepath.Join(specDir, "legacy-sendgrid-oai", "oai_v3_stoplight.json")

var (
	legacyOnce   sync.Once
	legacyRouter routers.Router
	legacyErr    error
)

// loadLegacy loads the legacy document, which kin-openapi can read but
// not fully validate (its 2019-era examples and schemas break 3.1 rules),
// so it is used unvalidated, only to check responses.
func loadLegacy() (routers.Router, error) {
	legacyOnce.Do(func() {
		if _, err := os.Stat(legacySpecPath); err != nil {
			legacyErr = err
			return
		}
		loader := openapi3.NewLoader()
		doc, err := loader.LoadFromFile(legacySpecPath)
		if err != nil {
			legacyErr = err
			return
		}
		honourNullable(doc)
		relaxContactResponse(doc)
		legacyRouter, legacyErr = gorillamux.NewRouter(doc)
	})
	return legacyRouter, legacyErr
}

// validateLegacy checks a response of a removed v1 write against the
// legacy spec, whose server is http://api.sendgrid.com/v3.
func validateLegacy(t *testing.T, method, path string, r response) {
	t.Helper()
	router, err := loadLegacy()
	if err != nil {
		t.Logf("legacy spec not usable, %s %s not validated: %v", method, path, err)
		return
	}
	req, _ := http.NewRequest(method, "http://api.sendgrid.com"+path, nil)
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Errorf("%s %s: no operation in the legacy spec: %v", method, path, err)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 r.status,
		Header:                 r.header,
		Body:                   io.NopCloser(bytes.NewReader(r.body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s (%s): response %d does not match the legacy spec: %v\nbody: %.2000s", method, path, route.Operation.OperationID, r.status, err, r.body)
	}
}

// --- helpers

const (
	seg2Path = "/v3/marketing/segments/2.0"
	seg1Path = "/v3/marketing/segments"
)

// mkContacts upserts n contacts named <prefix><i>@example.com with the
// given country (and lists), and waits for the job.
func (e *env) mkContacts(t *testing.T, prefix string, n int, country string, lists ...string) {
	t.Helper()
	cs := make([]any, 0, n)
	for i := range n {
		cs = append(cs, map[string]any{"email": fmt.Sprintf("%s%d@example.com", prefix, i),
			"first_name": "F" + prefix, "last_name": "L", "country": country, "city": "Springfield"})
	}
	body := map[string]any{"contacts": cs}
	if len(lists) > 0 {
		body["list_ids"] = lists
	}
	if job := e.upsert(t, body); job["status"] != "completed" {
		t.Fatalf("upsert: %v", job)
	}
}

// seg2 is the parts of Segment2xx the tests read.
type seg2 struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	QueryDSL         string   `json:"query_dsl"`
	ContactsCount    int      `json:"contacts_count"`
	ContactsSample   []sample `json:"contacts_sample"`
	SampleUpdatedAt  string   `json:"sample_updated_at"`
	NextSampleUpdate string   `json:"next_sample_update"`
	ParentListIDs    []string `json:"parent_list_ids"`
	QueryVersion     *string  `json:"query_version"`
	Status           struct {
		QueryValidation string `json:"query_validation"`
		ErrorMessage    string `json:"error_message"`
	} `json:"status"`
	RefreshesUsed   *int   `json:"refreshes_used"`
	MaxRefreshes    *int   `json:"max_refreshes"`
	LastRefreshedAt string `json:"last_refreshed_at"`
}

type sample struct {
	ID         string   `json:"id"`
	Email      string   `json:"email"`
	Country    string   `json:"country"`
	ListIDs    []string `json:"list_ids"`
	SegmentIDs []string `json:"segment_ids"`
}

func decodeSeg(t *testing.T, r response) seg2 {
	t.Helper()
	var s seg2
	if err := json.Unmarshal(r.body, &s); err != nil {
		t.Fatalf("decoding segment: %v\n%s", err, r.body)
	}
	return s
}

// createSeg2 creates a Segments 2.0 segment and expects 201.
func (e *env) createSeg2(t *testing.T, name, sql string, parents ...string) seg2 {
	t.Helper()
	body := map[string]any{"name": name, "query_dsl": sql}
	if len(parents) > 0 {
		body["parent_list_ids"] = parents
	}
	r := e.do(t, call{method: "POST", path: seg2Path, body: body})
	mustStatus(t, r, http.StatusCreated)
	return decodeSeg(t, r)
}

// createSeg1 creates a v1 (SGQL) segment through the service, as the
// legacy writes or a migrated SendGrid account would have.
func (e *env) createSeg1(t *testing.T, name, sgql string, parents ...string) string {
	t.Helper()
	acct, err := e.store.AccountByName(context.Background(), segmentd.DefaultAccountName)
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.svc.CreateSegment(context.Background(), acct.ID, name, sgql, "", parents)
	if err != nil {
		t.Fatalf("CreateSegment: %v", err)
	}
	return v.ID
}
