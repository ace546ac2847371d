package server

import (
	"context"
	"net/http"
	"time"
)

// Observed is an answered request, as Observe reports it.
type Observed struct {
	Method string
	// Route is the pattern that served the request, never its raw path,
	// so that its values are bounded: a face Router's route
	// ("GET /v3/marketing/contacts/{id}"), "unrouted" for a request a face
	// answered 404 or 405 because no route takes it, or else the server's
	// own pattern that took it ("/healthz", a face's prefix such as
	// "/files/exports/", or "/" for segmentd's JSON 404); "unmatched" for a
	// path that no pattern took (an uncleaned path).
	Route    string
	Status   int
	Duration time.Duration
}

// routeKey is the context key of the route a Router records for Observe.
type routeKey struct{}

// Observe wraps the root handler (New's) and reports every request to
// observe once it is answered: metrics count requests by route pattern.
func Observe(next http.Handler, observe func(Observed)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		route := new(string)
		r = r.WithContext(context.WithValue(r.Context(), routeKey{}, route))
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		o := Observed{Method: r.Method, Route: *route, Status: sw.status, Duration: time.Since(start)}
		if o.Route == "" {
			// The root ServeMux set the pattern on r itself.
			o.Route = r.Pattern
		}
		if o.Route == "" {
			o.Route = "unmatched"
		}
		observe(o)
	})
}

// recordRoute tells Observe, when it wraps the request, which route took it.
func recordRoute(r *http.Request, route string) {
	if p, ok := r.Context().Value(routeKey{}).(*string); ok {
		*p = route
	}
}
