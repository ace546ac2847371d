package admin

import (
	"net/http"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/ownapi"
)

// The settable clock (--dev).

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

func (h *handler) getClock(w http.ResponseWriter, r *http.Request) error {
	h.answerClock(w)
	return nil
}

func (h *handler) setClock(w http.ResponseWriter, r *http.Request) error {
	var req setRequest
	if err := readBody(w, r, &req, false); err != nil {
		return err
	}
	if req.Now == nil {
		return segmentd.Errorf(segmentd.KindInvalid, "", `the body must be {"now":"<RFC 3339 time>"} (optionally with "run":true)`)
	}
	t, err := time.Parse(time.RFC3339Nano, *req.Now)
	if err != nil {
		return segmentd.Errorf(segmentd.KindInvalid, "now", "now must be an RFC 3339 time such as 2025-01-31T12:00:00.000Z")
	}
	if req.Run {
		h.Clock.Run(t)
	} else {
		h.Clock.Set(t)
	}
	h.moved()
	h.answerClock(w)
	return nil
}

func (h *handler) resetClock(w http.ResponseWriter, r *http.Request) error {
	h.Clock.Reset()
	h.moved()
	h.answerClock(w)
	return nil
}

func (h *handler) moved() {
	now := h.Clock.Now()
	h.Log.Info("dev clock set", "now", now.Format(time.RFC3339Nano), "frozen", h.Clock.Frozen())
	if h.Advance != nil {
		h.Advance(now)
	}
}

func (h *handler) answerClock(w http.ResponseWriter) {
	ownapi.WriteJSON(w, http.StatusOK, clockBody{Now: jsonTime(h.Clock.Now()), Frozen: h.Clock.Frozen()})
}
