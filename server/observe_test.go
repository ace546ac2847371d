package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// TestObserve: each request is reported with the pattern that served it,
// never its raw path.
func TestObserve(t *testing.T) {
	rt := NewRouter(Kinds{"n": func(s string) bool { return s != "" && s[0] >= '0' && s[0] <= '9' }},
		func(w http.ResponseWriter, r *http.Request, u Unrouted) { w.WriteHeader(http.StatusNotFound) })
	rt.Handle("GET /api/things/{id:n}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	rt.Handle("POST /api/boom", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { panic("boom") }))
	face := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if recover() != nil {
				w.WriteHeader(http.StatusInternalServerError)
			}
		}()
		// A face that wraps the request still reports its route.
		rt.ServeHTTP(w, r.WithContext(r.Context()))
	})
	files := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTeapot) })
	var got []Observed
	h := Observe(New(slog.New(slog.NewTextHandler(io.Discard, nil)), nil,
		Face{Prefixes: []string{"/api/"}, Handler: face},
		Face{Prefixes: []string{"/files/"}, Handler: files}),
		func(o Observed) { got = append(got, o) })
	for _, p := range []struct {
		method, path, route string
		status              int
	}{
		{"GET", "/api/things/42", "GET /api/things/{id}", 200},
		{"GET", "/api/things/abc", "unrouted", 404},
		{"POST", "/api/boom", "POST /api/boom", 500},
		{"GET", "/files/some/file.csv", "/files/", 418},
		{"GET", "/healthz", "/healthz", 200},
		{"GET", "/elsewhere", "/", 404},
		{"GET", "/a//b", "unmatched", 404},
	} {
		got = got[:0]
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(p.method, p.path, nil))
		want := []Observed{{Method: p.method, Route: p.route, Status: p.status}}
		for i := range got {
			got[i].Duration = 0
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s %s: observed %+v, want %+v", p.method, p.path, got, want)
		}
	}
}
