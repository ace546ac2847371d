package facetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// OwnSpec is an OpenAPI document segmentd writes and serves itself (the
// admin face's), against which every response of its tests is checked.
// Unlike a vendor's Spec it is always there.
type OwnSpec struct {
	doc    *openapi3.T
	router routers.Router
	server string
	// fallback is the schema of an answer on a path or method the
	// document has no operation for (a 404 or 405).
	fallback *openapi3.Schema
}

// LoadOwnSpec reads and validates an OpenAPI 3.0 document; fallback names
// the component schema (as "#/components/schemas/Error") that answers to
// undocumented requests must match.
func LoadOwnSpec(t testing.TB, data []byte, fallback string) *OwnSpec {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(data)
	if err != nil {
		t.Fatalf("loading the OpenAPI document: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	if len(doc.Servers) == 0 {
		t.Fatal("the OpenAPI document names no server")
	}
	r, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	s := &OwnSpec{doc: doc, router: r, server: doc.Servers[0].URL}
	if fallback != "" {
		const prefix = "#/components/schemas/"
		ref := doc.Components.Schemas[fallback[len(prefix):]]
		if ref == nil || ref.Value == nil {
			t.Fatalf("the OpenAPI document has no schema %s", fallback)
		}
		s.fallback = ref.Value
	}
	return s
}

// Check reports an error on t unless r, the answer to method path, is
// one the document describes: its operation's, with a documented status,
// headers and body; or, for a request no operation takes, a body of the
// fallback schema.
func (s *OwnSpec) Check(t testing.TB, method, path string, r Response) {
	t.Helper()
	if err := s.validate(method, path, r); err != nil {
		t.Error(err)
	}
}

func (s *OwnSpec) validate(method, path string, r Response) error {
	req, err := http.NewRequest(method, s.server+path, nil)
	if err != nil {
		return err
	}
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		if s.fallback == nil {
			return fmt.Errorf("%s %s: no operation in the document: %v", method, path, err)
		}
		var v any
		if err := json.Unmarshal(r.Body, &v); err != nil {
			return fmt.Errorf("%s %s: %d body is not JSON: %s", method, path, r.Status, r.Body)
		}
		if err := s.fallback.VisitJSON(v); err != nil {
			return fmt.Errorf("%s %s: %d answer to an undocumented request does not match the fallback schema: %v\nbody: %s", method, path, r.Status, err, r.Body)
		}
		return nil
	}
	if route.Operation.Responses.Status(r.Status) == nil {
		return fmt.Errorf("%s %s (%s): status %d is not documented\nbody: %s", method, path, route.Operation.OperationID, r.Status, r.Body)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 r.Status,
		Header:                 r.Header,
		Body:                   io.NopCloser(bytes.NewReader(r.Body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return fmt.Errorf("%s %s (%s): response %d does not match the document: %v\nbody: %.2000s", method, path, route.Operation.OperationID, r.Status, err, r.Body)
	}
	return nil
}
