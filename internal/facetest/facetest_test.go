package facetest

import (
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

func TestJSONEqual(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{`{"a":1,"b":[true,null]}`, ` { "b" : [true, null], "a" : 1.0 } `, true},
		{`{"a":1}`, `{"a":"1"}`, false},
		{`[1,2]`, `[2,1]`, false},
		{`{"a":1}`, `{"a":1,"b":null}`, false},
		{`not json`, `not json`, false},
	} {
		if got := JSONEqual([]byte(tt.a), []byte(tt.b)); got != tt.want {
			t.Errorf("JSONEqual(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestPoll(t *testing.T) {
	n := 0
	Poll(t, "counting", func() bool { n++; return n == 5 })
	if n != 5 {
		t.Fatalf("Poll stopped after %d calls, want 5", n)
	}
}

// TestStartAndCall: a face built by Start is served, Call sends the key
// and the body, Key "" sends none, and the Env's key is the given one.
func TestStartAndCall(t *testing.T) {
	e := Start(t, func(e *Env) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"auth":"` + r.Header.Get("Authorization") + `","type":"` + r.Header.Get("Content-Type") + `","query":"` + r.URL.RawQuery + `"}`))
		})
	}, Config{Key: "SG.given"})
	if e.Key != "SG.given" {
		t.Fatalf("Key = %q, want the one given", e.Key)
	}
	got := WantStatus(t, e.Call(t, Request{Method: "POST", Path: "/x?a=1", Query: map[string][]string{"b": {"2"}}, Body: map[string]int{"n": 1}}), 200)
	if got["auth"] != "Bearer SG.given" || got["type"] != "application/json" || got["query"] != "a=1&b=2" {
		t.Errorf("request seen as %v", got)
	}
	got = WantStatus(t, e.Call(t, Request{Method: "GET", Path: "/x", Key: Ptr("")}), 200)
	if got["auth"] != "" {
		t.Errorf("Key \"\" sent Authorization %v", got["auth"])
	}
}

// An absent specs folder fails a validating test under CI=true and is said
// in the log (Check) or skipped (Docs) elsewhere; it never passes silently.
// The cases run in a child process, whose failure is the point.
func TestSpecAbsent(t *testing.T) {
	if os.Getenv("FACETEST_SPEC_CHILD") != "" {
		s := NewSpec("no-such-vendor", "https://example.com", func(string) (SpecDocs, error) {
			t.Fatal("load called for an absent folder")
			return SpecDocs{}, nil
		})
		if os.Getenv("FACETEST_SPEC_CHILD") == "docs" {
			s.Docs(t)
			t.Fatal("Docs returned for an absent folder")
		}
		s.Check(t, "GET", "/x", "", Response{Status: 200})
		s.Check(t, "GET", "/y", "", Response{Status: 200})
		return
	}
	for _, tt := range []struct {
		mode, ci string
		fail     bool
		want     string
		count    int // times want must appear
	}{
		{"check", "true", true, "under CI=true responses must be validated", 1},
		{"check", "", false, "NOT VALIDATED: ", 1},
		{"docs", "true", true, "under CI=true responses must be validated", 1},
		{"docs", "", false, "--- SKIP: TestSpecAbsent", 1},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSpecAbsent$", "-test.v")
		cmd.Env = append(os.Environ(), "FACETEST_SPEC_CHILD="+tt.mode, "CI="+tt.ci)
		out, err := cmd.CombinedOutput()
		if failed := err != nil; failed != tt.fail {
			t.Errorf("%s, CI=%q: failed %v, want %v\n%s", tt.mode, tt.ci, failed, tt.fail, out)
		}
		if n := strings.Count(string(out), tt.want); n != tt.count {
			t.Errorf("%s, CI=%q: %q appears %d times, want %d\n%s", tt.mode, tt.ci, tt.want, n, tt.count, out)
		}
	}
}

// TestSpecValidates: a response is checked against its operation, a status
// the operation does not list fails unless a fallback schema takes it, and
// a path with no operation fails.
func TestSpecValidates(t *testing.T) {
	doc, err := openapi3.NewLoader().LoadFromData([]byte(`{
		"openapi": "3.0.3", "info": {"title": "t", "version": "1"},
		"servers": [{"url": "https://api.example.com"}],
		"paths": {"/things/{id}": {"get": {"operationId": "GetThing",
			"parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}}],
			"responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {
				"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}}}}}}}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	s := NewSpec("test", "https://api.example.com", nil)
	docs := &SpecDocs{Docs: []*openapi3.T{doc}}
	if err := docs.route(); err != nil {
		t.Fatal(err)
	}
	json := http.Header{"Content-Type": {"application/json"}}
	if err := s.validate(docs, "GET", "/things/1", "", Response{Status: 200, Header: json, Body: []byte(`{"id":1}`)}); err != nil {
		t.Errorf("a valid response: %v", err)
	}
	for name, r := range map[string]Response{
		"wrong type":       {Status: 200, Header: json, Body: []byte(`{"id":"1"}`)},
		"undocumented 404": {Status: 404, Header: json, Body: []byte(`{}`)},
		"missing field":    {Status: 200, Header: json, Body: []byte(`{}`)},
	} {
		if err := s.validate(docs, "GET", "/things/1", "", r); err == nil {
			t.Errorf("%s passed validation", name)
		}
	}
	if err := s.validate(docs, "GET", "/nothing", "", Response{Status: 200}); err == nil {
		t.Error("a path with no operation passed validation")
	}
	docs.Fallback = map[int]*openapi3.Schema{404: openapi3.NewObjectSchema().WithProperty("error", openapi3.NewStringSchema()).WithRequired([]string{"error"})}
	if err := s.validate(docs, "GET", "/things/1", "", Response{Status: 404, Header: json, Body: []byte(`{"error":"gone"}`)}); err != nil {
		t.Errorf("an undocumented status matching the fallback: %v", err)
	}
	if err := s.validate(docs, "GET", "/things/1", "", Response{Status: 404, Header: json, Body: []byte(`{}`)}); err == nil {
		t.Error("an undocumented status not matching the fallback passed")
	}
}
