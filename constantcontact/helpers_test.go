package constantcontact_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/oasdiff/yaml"

	"github.com/segmentd/segmentd"
	cc "github.com/segmentd/segmentd/constantcontact"
	"github.com/segmentd/segmentd/internal/facetest"
)

// env is the Constant Contact face under test (facetest.Env).
type env struct{ *facetest.Env }

// newEnv starts the face with the defaults.
func newEnv(t testing.TB) *env { return newEnvWith(t, facetest.Config{}, cc.Options{}) }

// newEnvWith starts the face configured by cfg and opts (rate limits).
func newEnvWith(t testing.TB, cfg facetest.Config, opts cc.Options) *env {
	t.Helper()
	return &env{facetest.Start(t, func(e *facetest.Env) http.Handler { return cc.NewHandler(e.Svc, e.Log, opts) }, cfg)}
}

// do sends rq and validates the response against the operation in
// Constant Contact's Swagger document.
func (e *env) do(t *testing.T, rq facetest.Request) facetest.Response {
	t.Helper()
	r := e.send(t, rq)
	ccSpec.Check(t, rq.Method, rq.Path, "", r)
	return r
}

// send sends rq without validating the response against the document; a
// body must still be JSON.
func (e *env) send(t *testing.T, rq facetest.Request) facetest.Response {
	t.Helper()
	r := e.Call(t, rq)
	if len(r.Body) > 0 && r.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s: Content-Type %q, want application/json", r.Request, r.Header.Get("Content-Type"))
	}
	return r
}

// must sends rq, asserts the status and decodes a JSON body into a map.
func (e *env) must(t *testing.T, rq facetest.Request, status int) map[string]any {
	t.Helper()
	return facetest.WantStatus(t, e.do(t, rq), status)
}

// ccErr is Constant Contact's error array with one entry.
func ccErr(key, message string) string {
	b, _ := json.Marshal([]map[string]string{{"error_key": key, "error_message": message}})
	return string(b)
}

// upsert writes contacts through the service and waits for the job to
// complete.
func (e *env) upsert(t *testing.T, acct int64, patches []segmentd.ContactPatch, listIDs ...string) {
	t.Helper()
	id, err := e.Svc.UpsertContacts(context.Background(), acct, patches, listIDs)
	if err != nil {
		t.Fatalf("UpsertContacts: %v", err)
	}
	if j := facetest.WaitJob(t, e.Svc, acct, id); j.Status != segmentd.JobCompleted {
		t.Fatalf("job %s: %+v", id, j)
	}
}

// --- validation against the Swagger document

// ccSpec is Constant Contact's contract, converted to OpenAPI 3. Requests
// are matched on its own server, https://api.cc.email/v3: a response's
// status must be one the operation lists, and a documented body must match
// its schema.
var ccSpec = facetest.NewSpec("constantcontact", "https://api.cc.email", func(dir string) (facetest.SpecDocs, error) {
	y, err := os.ReadFile(filepath.Join(dir, "swagger.yaml"))
	if err != nil {
		return facetest.SpecDocs{}, err
	}
	// openapi2 reads JSON; Constant Contact publishes YAML.
	j, err := yaml.YAMLToJSON(y)
	if err != nil {
		return facetest.SpecDocs{}, err
	}
	var doc2 openapi2.T
	if err := json.Unmarshal(j, &doc2); err != nil {
		return facetest.SpecDocs{}, err
	}
	// Ids are UUIDs (contacts v7, lists v4, custom fields v8): check the
	// format, which kin-openapi leaves unchecked by default.
	openapi3.DefineStringFormatValidator("uuid", openapi3.NewRegexpFormatValidator(openapi3.FormatOfStringForUUIDOfRFC9562))
	doc, err := openapi2conv.ToV3(&doc2)
	if err != nil {
		return facetest.SpecDocs{}, err
	}
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		return facetest.SpecDocs{}, err
	}
	return facetest.SpecDocs{Docs: []*openapi3.T{doc}}, nil
})

func TestSpec(t *testing.T) {
	// The validator must be able to fail: a SegmentDetail with a string id.
	err := ccSpec.Validate(t, "GET", "/v3/segments/1", "", facetest.Response{
		Status: 200,
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   []byte(`{"segment_id":"1"}`),
	})
	if err == nil {
		t.Fatal("a SegmentDetail with a string segment_id passed validation")
	}
}

// criteria returns segment_criteria of the documented tracking shape.
func criteria(field string, n int) string {
	return fmt.Sprintf(`{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"tracking","field":%q,"op":"contains-any","const_value":"last-n-campaigns","param":"%d"}]}}`, field, n)
}

// checkAuth sends each request without a key, with an unknown key and with
// a key lacking the face's scopes (401, 401, 403), and each write with a
// read-only key (403): every answer Constant Contact's single object.
func checkAuth(t *testing.T, e *env, writes, reads []facetest.Request) {
	t.Helper()
	readOnly := e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeConstantContactRead)
	sendGridOnly := e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeSendGridRead, segmentd.ScopeSendGridWrite)
	const unauthorized = `{"error_key":"unauthorized","error_message":"Unauthorized"}`
	const denied = `{"error_key":"access_denied","error_message":"Request forbidden due to insufficient user privileges."}`
	for _, rq := range append(append([]facetest.Request{}, writes...), reads...) {
		rq.Key = facetest.Ptr("")
		facetest.WantError(t, e.do(t, rq), 401, unauthorized)
		rq.Key = facetest.Ptr("SG.not-a-key")
		facetest.WantError(t, e.do(t, rq), 401, unauthorized)
		rq.Key = &sendGridOnly
		facetest.WantError(t, e.do(t, rq), 403, denied)
	}
	for _, rq := range writes {
		rq.Key = &readOnly
		facetest.WantError(t, e.do(t, rq), 403, denied)
	}
}
