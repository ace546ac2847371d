package server

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestUnrouted(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v3/things/{id}", func(http.ResponseWriter, *http.Request) {})
	mux.HandleFunc("DELETE /v3/things/{id}", func(http.ResponseWriter, *http.Request) {})
	for _, tc := range []struct {
		method, path string
		notAllowed   bool
		allow        string
	}{
		{"POST", "/v3/things/1", true, "DELETE, GET, HEAD"},
		{"GET", "/v3/other", false, ""},
	} {
		notAllowed, allow := Unrouted(mux, httptest.NewRequest(tc.method, tc.path, nil))
		if notAllowed != tc.notAllowed || allow != tc.allow {
			t.Errorf("%s %s: (%v, %q), want (%v, %q)", tc.method, tc.path, notAllowed, allow, tc.notAllowed, tc.allow)
		}
	}
}
