package sendgrid

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/segmentd/segmentd"
)

// SendGrid's own error strings, and segmentd's where SendGrid's are unknown.
// They live here so that a change of wording is made in one place.
const (
	// msgAuthRequired answers a missing or unknown key: the 401 text of
	// SendGrid's older OpenAPI document; the marketing specs give none
	// (docs/sendgrid-errors.md "Message texts").
	msgAuthRequired = "authorization required"
	// msgTooManyRequests is SendGrid's documented 429 text
	// (docs/sendgrid-errors.md "Message texts").
	msgTooManyRequests = "too many requests"
	// msgInternal answers every 500; the cause is logged, never sent.
	msgInternal = "internal server error"
	// msgContactNotFound is SendGrid's per-address miss in search results.
	msgContactNotFound = "contact not found"

	// segmentd's wording where SendGrid's is unknown.
	msgNotFound         = "resource not found"
	msgMethodNotAllowed = "method not allowed"
	msgTimeout          = "request timed out"
)

// envelope is the shape of an error body. SendGrid uses several
// (docs/sendgrid-errors.md); each route says which one it answers per status.
type envelope int

const (
	// envErrors is E1/E2: {"errors":[{"field":…,"message":…}]}.
	envErrors envelope = iota
	// envBare is E2-bare: one unwrapped error item, {"field":…,"message":…}.
	envBare
)

// errorItem is one entry of an E1/E2 "errors" array.
type errorItem struct {
	Field   *string `json:"field"`
	Message string  `json:"message"`
}

// nullFieldStatus are the statuses whose errors carry "field":null when no
// single input is to blame.
var nullFieldStatus = map[int]bool{401: true, 403: true, 429: true}

type errorsBody struct {
	Errors []errorItem `json:"errors"`
}

// serverErrorItem is E3, SendGrid's 500 shape: a message and nothing else.
type serverErrorItem struct {
	Message string `json:"message"`
}

// statusOf maps the domain's error kinds to SendGrid's statuses. SendGrid
// reports duplicates and over-limit input as 400 like any invalid input.
func statusOf(kind segmentd.ErrorKind) int {
	switch kind {
	case segmentd.KindInvalid, segmentd.KindConflict, segmentd.KindTooLarge:
		return http.StatusBadRequest
	case segmentd.KindNotFound:
		return http.StatusNotFound
	case segmentd.KindUnauthorized:
		return http.StatusUnauthorized
	case segmentd.KindForbidden:
		return http.StatusForbidden
	case segmentd.KindRateLimited:
		return http.StatusTooManyRequests
	case segmentd.KindTimeout:
		return http.StatusRequestTimeout
	}
	return http.StatusInternalServerError
}

// errorBody renders err in the envelope the route uses for its status. It
// returns the status and the JSON body. Errors that are not *segmentd.Error
// are internal: the caller logs them, the client sees msgInternal only.
func errorBody(err error, bare map[int]bool) (int, []byte) {
	var e *segmentd.Error
	if !errors.As(err, &e) || e.Kind == segmentd.KindInternal {
		b, _ := json.Marshal(struct {
			Errors []serverErrorItem `json:"errors"`
		}{[]serverErrorItem{{msgInternal}}})
		return http.StatusInternalServerError, b
	}
	status := statusOf(e.Kind)
	item := errorItem{Message: e.Message}
	// Where SendGrid's wording is known, it is used whatever the domain said.
	switch e.Kind {
	case segmentd.KindUnauthorized:
		item = errorItem{Message: msgAuthRequired}
	case segmentd.KindRateLimited:
		item = errorItem{Message: msgTooManyRequests}
	case segmentd.KindTimeout:
		item.Message = msgTimeout
	}
	// "field":null is the form of SendGrid's auth and rate-limit errors
	// (E1). The 400 and 404 envelopes (E2) type field as a string, so an
	// error about no single field carries "".
	if f := e.Field; f != "" || !nullFieldStatus[status] {
		item.Field = &f
	}
	var b []byte
	if bare[status] {
		b, _ = json.Marshal(item)
	} else {
		b, _ = json.Marshal(errorsBody{[]errorItem{item}})
	}
	return status, b
}

// Helpers for the errors handlers raise themselves.

func invalid(field, format string, args ...any) error {
	return segmentd.Errorf(segmentd.KindInvalid, field, format, args...)
}

func notFound(field, format string, args ...any) error {
	return segmentd.Errorf(segmentd.KindNotFound, field, format, args...)
}

// internal wraps a failure that must be logged and never shown.
func internal(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}
