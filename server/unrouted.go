package server

import "net/http"

// Unrouted tells how mux would refuse a request that none of its patterns
// takes: 405 with the methods it allows (allow) when some pattern matches
// the path with another method, and 404 otherwise. Faces use it to answer
// such requests in their own vendor's envelope instead of the mux's text.
func Unrouted(mux *http.ServeMux, r *http.Request) (methodNotAllowed bool, allow string) {
	rec := &recorder{header: http.Header{}}
	mux.ServeHTTP(rec, r)
	return rec.status == http.StatusMethodNotAllowed, rec.header.Get("Allow")
}

// recorder captures the status and headers of a response, dropping its body.
type recorder struct {
	header http.Header
	status int
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(b []byte) (int, error) { return len(b), nil }
func (r *recorder) WriteHeader(status int)      { r.status = status }
