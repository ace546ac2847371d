// Package admin is segmentd's development-mode face (`segmentd serve
// --dev`): endpoints under /admin/ that no production server has, such as
// setting the clock every component reads (docs/decisions.md §1: time is
// injected). Without --dev it is not mounted and /admin/ answers 404.
//
// It must never import a store, SQL or an API face.
package admin

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/jsoncheck"
)

// Clock is the settable clock the server runs on.
type Clock interface {
	segmentd.Clock
	Set(time.Time)
	Run(time.Time)
	Reset()
	Frozen() bool
}

// NewHandler returns the admin face. advance, when set, is called with the
// new time after every clock change, so that the membership engine honours
// a move backwards at once (engine.Advance).
func NewHandler(clock Clock, advance func(time.Time), log *slog.Logger) http.Handler {
	h := &handler{clock: clock, advance: advance, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /admin/clock", h.get)
	mux.HandleFunc("POST /admin/clock", h.set)
	mux.HandleFunc("DELETE /admin/clock", h.reset)
	// The catch-all answers in the admin's JSON; it takes the place of
	// ServeMux's own 405, so it gives one where the path is served.
	mux.HandleFunc("/admin/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/admin/clock" {
			w.Header().Set("Allow", "GET, POST, DELETE")
			writeError(w, http.StatusMethodNotAllowed, segmentd.Clip(r.Method)+" is not allowed on /admin/clock; use GET, POST or DELETE")
			return
		}
		writeError(w, http.StatusNotFound, "no admin endpoint at "+segmentd.Clip(r.Method)+" "+segmentd.Clip(r.URL.Path))
	})
	return mux
}

type handler struct {
	clock   Clock
	advance func(time.Time)
	log     *slog.Logger
}

// clockBody is the body of every /admin/clock answer.
type clockBody struct {
	Now    string `json:"now"`    // RFC 3339, milliseconds, UTC
	Frozen bool   `json:"frozen"` // true after a set without "run"
}

// setRequest sets the clock: to Now, standing still there unless Run is
// true (then it advances from Now with the system clock).
type setRequest struct {
	Now *string `json:"now"`
	Run bool    `json:"run"`
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) { h.answer(w) }

func (h *handler) set(w http.ResponseWriter, r *http.Request) {
	var req setRequest
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<10))
	if err == nil && len(b) > 0 {
		// segmentd's rules for every JSON body (docs/decisions.md §18),
		// for a struct: "now" and "Now" are one key.
		if _, err := jsoncheck.CheckFolded(b); err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	if err == nil {
		err = json.Unmarshal(b, &req)
	}
	if err != nil || req.Now == nil {
		writeError(w, http.StatusBadRequest, `the body must be {"now":"<RFC 3339 time>"} (optionally with "run":true)`)
		return
	}
	t, err := time.Parse(time.RFC3339Nano, *req.Now)
	if err != nil {
		writeError(w, http.StatusBadRequest, "now must be an RFC 3339 time such as 2025-01-31T12:00:00.000Z")
		return
	}
	if req.Run {
		h.clock.Run(t)
	} else {
		h.clock.Set(t)
	}
	h.moved()
	h.answer(w)
}

func (h *handler) reset(w http.ResponseWriter, r *http.Request) {
	h.clock.Reset()
	h.moved()
	h.answer(w)
}

func (h *handler) moved() {
	now := h.clock.Now()
	h.log.Info("dev clock set", "now", now.Format(time.RFC3339Nano), "frozen", h.clock.Frozen())
	if h.advance != nil {
		h.advance(now)
	}
}

func (h *handler) answer(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, clockBody{Now: h.clock.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"), Frozen: h.clock.Frozen()})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"errors": []map[string]string{{"message": msg}}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"errors":[{"message":"internal server error"}]}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
