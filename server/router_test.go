package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
)

// TestRouter: a wildcard takes only values of its kind, so a path that
// only fits a route through a refused value is unrouted, and Allow lists
// only the methods of routes that really serve the path.
func TestRouter(t *testing.T) {
	isNumber := func(s string) bool { _, err := strconv.Atoi(s); return err == nil }
	var got Unrouted
	rt := NewRouter(Kinds{"n": isNumber}, func(w http.ResponseWriter, r *http.Request, u Unrouted) {
		got = u
		w.WriteHeader(http.StatusTeapot)
	})
	for _, p := range []string{
		"GET /v3/things/{id:n}",
		"DELETE /v3/things/{id:n}",
		"POST /v3/things/search",
		"GET /v3/things/{id:n}/parts/{part}",
		"PUT /v3/things",
	} {
		rt.Handle(p, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%s id=%s part=%s", p, r.PathValue("id"), r.PathValue("part"))
		}))
	}
	for _, tc := range []struct {
		method, path string
		served       string // the body of the route that serves it; "" when unrouted
		want         Unrouted
	}{
		{"GET", "/v3/things/12", "GET /v3/things/{id:n} id=12 part=", Unrouted{}},
		{"HEAD", "/v3/things/12", "GET /v3/things/{id:n} id=12 part=", Unrouted{}},
		{"GET", "/v3/things/12/parts/a%2Fb", "GET /v3/things/{id:n}/parts/{part} id=12 part=a/b", Unrouted{}},
		{"POST", "/v3/things/search", "POST /v3/things/search id= part=", Unrouted{}},

		{"POST", "/v3/things/12", "", Unrouted{Allow: "DELETE, GET, HEAD"}},
		// ServeMux alone would route GET here and list GET, DELETE in Allow.
		{"GET", "/v3/things/search", "", Unrouted{Allow: "POST", Near: "GET /v3/things/{id:n}"}},
		{"PUT", "/v3/things/search", "", Unrouted{Allow: "POST"}},
		{"GET", "/v3/things/imports", "", Unrouted{Near: "GET /v3/things/{id:n}"}},
		{"PUT", "/v3/things/imports", "", Unrouted{}},
		{"HEAD", "/v3/things/x/parts/y", "", Unrouted{Near: "GET /v3/things/{id:n}/parts/{part}"}},
		{"GET", "/v3/things/", "", Unrouted{}},
		{"GET", "/v3/things/12/", "", Unrouted{}},
		{"GET", "/v3/other", "", Unrouted{}},
		{"POST", "/v3/things", "", Unrouted{Allow: "PUT"}},
	} {
		got = Unrouted{}
		rec := httptest.NewRecorder()
		rt.ServeHTTP(rec, httptest.NewRequest(tc.method, tc.path, nil))
		if tc.served != "" || rec.Code == http.StatusOK {
			if rec.Code != http.StatusOK || rec.Body.String() != tc.served {
				t.Errorf("%s %s: %d %q, want 200 %q", tc.method, tc.path, rec.Code, rec.Body, tc.served)
			}
			continue
		}
		if rec.Code != http.StatusTeapot || got != tc.want {
			t.Errorf("%s %s: %d %+v, want unrouted %+v", tc.method, tc.path, rec.Code, got, tc.want)
		}
	}
}

// A pattern the Router cannot check is refused when the table is built.
func TestRouterRefusesUnsupportedPatterns(t *testing.T) {
	for _, p := range []string{"/v3/things", "GET /v3/things/", "GET /v3/{rest...}", "GET /v3/{$}", "GET /v3/{id:unknown}", "GET v3/things", "GET /v3//x"} {
		func() {
			defer func() {
				if v := recover(); v == nil || !strings.Contains(fmt.Sprint(v), p) {
					t.Errorf("Handle(%q): panic %v, want one naming the pattern", p, v)
				}
			}()
			NewRouter(nil, nil).Handle(p, http.NotFoundHandler())
		}()
	}
}
