// Package server assembles segmentd's HTTP surface: the API faces under
// /v3, segmentd's own endpoints outside it (/healthz, a JSON 404 for any
// other path), the Router each face routes with, one structured log
// line per request, and a last resort for panics. It knows nothing of any
// vendor's shapes: each face renders its own envelopes and answers its own
// panics (Recover) as its vendor's 500. A panic that reaches the server, on
// its own paths or from a face that does not recover, is answered with a
// plain-text 500 of no vendor's shape.
package server

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// Face is an API face mounted on the server: every request whose path
// starts with one of Prefixes goes to Handler.
type Face struct {
	Prefixes []string
	Handler  http.Handler
}

// New returns the root handler. ready, when not nil, tells whether the
// server can serve (its store can be reached): /healthz answers 503 while
// it cannot. A path no face's prefix covers is
// segmentd's own: /healthz, or a 404 in segmentd's neutral error shape
// (docs/decisions.md §14).
func New(log *slog.Logger, ready func(context.Context) error, faces ...Face) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, msgMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		if ready != nil {
			if err := ready(r.Context()); err != nil {
				// Not ready: the store cannot be reached. A load balancer
				// sends the requests elsewhere until it can.
				log.Warn("not ready", "err", err)
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprintln(w, `{"status":"unavailable"}`)
				return
			}
		}
		fmt.Fprintln(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, msgNotFound)
	})
	for _, f := range faces {
		for _, p := range f.Prefixes {
			mux.Handle(p, f.Handler)
		}
	}
	// ServeMux answers a path with an empty, "." or ".." segment with a
	// redirect to its cleaned form, which a client would follow with a GET
	// whatever its method. segmentd answers 404 instead: the face whose
	// prefix the cleaned path has answers it in its own envelope (its
	// Router leaves such paths unrouted), and segmentd's own shape covers
	// the rest.
	root := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.EscapedPath(); !cleanPath(p) {
			// The longest prefix, as ServeMux picks.
			clean, best, longest := path.Clean(p)+"/", http.Handler(nil), 0
			for _, f := range faces {
				for _, prefix := range f.Prefixes {
					if strings.HasPrefix(clean, strings.TrimSuffix(prefix, "/")+"/") && len(prefix) > longest {
						best, longest = f.Handler, len(prefix)
					}
				}
			}
			if best == nil {
				writeError(w, http.StatusNotFound, msgNotFound)
				return
			}
			best.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
	return logRequests(log, recoverPanics(log, root))
}

// segmentd's own answers on the paths no face serves.
const (
	msgNotFound         = "segmentd serves nothing at this path"
	msgMethodNotAllowed = "method not allowed"
)

// writeError answers status with segmentd's own error shape,
// {"errors":[{"message":…}]}, which its webhook and admin endpoints share.
func writeError(w http.ResponseWriter, status int, msg string) {
	b, _ := json.Marshal(map[string][]map[string]string{"errors": {{"message": msg}}})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// statusWriter records what a handler wrote, for the request log.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func logRequests(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		log.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.Int("bytes", sw.bytes),
			// In milliseconds, and named so: slog's JSON handler would
			// write a time.Duration as a bare count of nanoseconds.
			slog.Float64("duration_ms", float64(time.Since(start))/float64(time.Millisecond)),
			slog.String("remote", r.RemoteAddr),
		)
	})
}

// recoverPanics is the last resort for panics: it logs one and answers a
// generic 500 in text, since no vendor's envelope is right on segmentd's
// own paths.
func recoverPanics(log *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := serveRecovering(next, w, r); err != nil {
			log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "err", err)
			http.Error(w, "internal server error", http.StatusInternalServerError)
		}
	})
}

// serveRecovering serves r and returns a panic as an error.
func serveRecovering(next http.Handler, w http.ResponseWriter, r *http.Request) (err error) {
	defer Recover(&err)
	next.ServeHTTP(w, r)
	return nil
}

// Recover, deferred by a function with a named error result, turns a panic
// into that error (whose text is "panic: " and the panic value), so that
// the caller answers and logs it like any internal error; a client never
// sees a stack trace. http.ErrAbortHandler, the panic with which a handler
// aborts a response on purpose, goes on up to net/http.
func Recover(err *error) {
	if v := recover(); v != nil {
		if v == http.ErrAbortHandler {
			panic(v)
		}
		*err = panicError{v}
	}
}

// panicError is a recovered panic.
type panicError struct{ value any }

func (e panicError) Error() string { return fmt.Sprintf("panic: %v", e.value) }

// Unavailable prepares a face's 503 (the store cannot be reached): it asks
// the client to retry after a second and logs the cause, which the client
// never sees.
func Unavailable(w http.ResponseWriter, log *slog.Logger, r *http.Request, err error) {
	w.Header().Set("Retry-After", "1")
	log.Warn("store unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
}
