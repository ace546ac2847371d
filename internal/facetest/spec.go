package facetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// Spec is a vendor's OpenAPI documents, read from the shared specs folder
// (../shared/specs from the module root; they are reference data, never
// copied into the project), loaded once per test binary.
//
// The folder is absent on some machines. Under CI=true that fails every
// test that validates against it; elsewhere each such test says in its log
// that it validated nothing, and Docs skips.
type Spec struct {
	sub    string // the folder, under ../shared/specs
	server string // the documents' server URL, on which requests are matched
	load   func(dir string) (SpecDocs, error)

	once   sync.Once
	dir    string
	absent bool
	docs   SpecDocs
	err    error
	warned sync.Map // names of the tests told that nothing was validated
}

// SpecDocs is what a Spec's loader returns.
type SpecDocs struct {
	// Docs are matched against a request in order: the first one with a
	// route for it validates the response.
	Docs []*openapi3.T
	// Fallback holds, by status, the schema a response with a status its
	// operation does not document must match (nil: such a status is an
	// error).
	Fallback map[int]*openapi3.Schema
	routers  []routers.Router
}

// route builds a router for each document.
func (d *SpecDocs) route() error {
	d.routers = nil
	for _, doc := range d.Docs {
		r, err := gorillamux.NewRouter(doc)
		if err != nil {
			return err
		}
		d.routers = append(d.routers, r)
	}
	return nil
}

// NewSpec describes the documents in folder sub of the shared specs, whose
// server is server; load reads them from that folder, on first use.
func NewSpec(sub, server string, load func(dir string) (SpecDocs, error)) *Spec {
	return &Spec{sub: sub, server: server, load: load}
}

func (s *Spec) get(t testing.TB) (docs *SpecDocs, ok bool) {
	t.Helper()
	s.once.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			s.err = err
			return
		}
		s.dir = filepath.Join(root, "..", "shared", "specs", s.sub)
		if _, err := os.Stat(s.dir); errors.Is(err, fs.ErrNotExist) {
			s.absent = true
			return
		}
		if s.docs, s.err = s.load(s.dir); s.err == nil {
			s.err = s.docs.route()
		}
	})
	switch {
	case s.err != nil:
		t.Fatalf("loading the OpenAPI documents of %s: %v", s.sub, s.err)
	case s.absent && os.Getenv("CI") == "true":
		t.Fatalf("%s is absent: under CI=true responses must be validated against the vendor's OpenAPI documents", s.dir)
	case s.absent:
		return nil, false
	}
	return &s.docs, true
}

// Docs returns the loaded documents, and skips t when the folder is absent
// (outside CI).
func (s *Spec) Docs(t testing.TB) SpecDocs {
	t.Helper()
	docs, ok := s.get(t)
	if !ok {
		t.Skipf("%s absent: responses are not validated against the vendor's OpenAPI documents", s.dir)
	}
	return *docs
}

// Check reports an error on t unless r, the response to method path?query,
// matches its operation in the documents. When the folder is absent
// (outside CI) it validates nothing and says so, once per test, in t's log.
func (s *Spec) Check(t testing.TB, method, path, rawQuery string, r Response) {
	t.Helper()
	docs, ok := s.get(t)
	if !ok {
		if _, told := s.warned.LoadOrStore(t.Name(), true); !told {
			t.Logf("NOT VALIDATED: %s absent, so no response of this test is checked against the vendor's OpenAPI documents", s.dir)
		}
		return
	}
	if err := s.validate(docs, method, path, rawQuery, r); err != nil {
		t.Error(err)
	}
}

// Validate returns why r, the response to method path?query, does not
// match the documents, or nil; it fails t when they cannot be read and
// skips it when they are absent (outside CI).
func (s *Spec) Validate(t testing.TB, method, path, rawQuery string, r Response) error {
	t.Helper()
	docs := s.Docs(t)
	return s.validate(&docs, method, path, rawQuery, r)
}

func (s *Spec) validate(docs *SpecDocs, method, path, rawQuery string, r Response) error {
	u := s.server + path
	if rawQuery != "" {
		u += "?" + rawQuery
	}
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		return fmt.Errorf("%s %s: building the spec request: %v", method, path, err)
	}
	var route *routers.Route
	var params map[string]string
	for _, router := range docs.routers {
		if route, params, err = router.FindRoute(req); err == nil {
			break
		}
	}
	if route == nil {
		return fmt.Errorf("%s %s: no operation in the %s documents: %v", method, path, s.sub, err)
	}
	if route.Operation.Responses.Status(r.Status) == nil && docs.Fallback != nil {
		schema := docs.Fallback[r.Status]
		if schema == nil {
			return fmt.Errorf("%s %s (%s): status %d is documented neither for the operation nor as a common envelope", method, path, route.Operation.OperationID, r.Status)
		}
		var v any
		if err := json.Unmarshal(r.Body, &v); err != nil {
			return fmt.Errorf("%s %s: %d body is not JSON: %s", method, path, r.Status, r.Body)
		}
		if err := schema.VisitJSON(v, openapi3.EnableJSONSchema2020()); err != nil {
			return fmt.Errorf("%s %s (%s): undocumented status %d does not match the common envelope: %v\nbody: %s", method, path, route.Operation.OperationID, r.Status, err, r.Body)
		}
		return nil
	}
	opts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	if r.Status == http.StatusNoContent {
		// 204 has no body, whatever schema a document gives it.
		opts.ExcludeResponseBody = true
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 r.Status,
		Header:                 r.Header,
		Body:                   io.NopCloser(bytes.NewReader(r.Body)),
		Options:                opts,
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s (%s): response %d does not match the spec: %v\nbody: %.2000s", method, path, route.Operation.OperationID, r.Status, err, r.Body)
	}
	return nil
}

// moduleRoot is the nearest folder above the working directory (a test's
// package folder) holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
