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
	// msgSegmentNotFound is SendGrid's documented refresh 404 text
	// (docs/sendgrid-errors.md "Message texts"); segmentd uses it for every
	// unknown segment.
	msgSegmentNotFound = "Segment does not exist."
	// msgBulkInvalidUUID and msgBulkSegmentNotFound are the per-id errors
	// of E6, the legacy bulk segment delete's answer (docs/sendgrid.md,
	// "Removed v1 writes").
	msgBulkInvalidUUID     = "invalid uuid"
	msgBulkSegmentNotFound = "segment not found"

	// segmentd's wording where SendGrid's is unknown.
	msgNotFound         = "resource not found"
	msgMethodNotAllowed = "method not allowed"
	msgTimeout          = "request timed out"
	// msgUnavailable answers a 503: segmentd cannot reach its database
	// (several servers share one); the request may be retried.
	msgUnavailable = "service unavailable; try again shortly"
	// msgBodyTooLarge takes the limit in words and in bytes.
	msgBodyTooLarge = "request body must not exceed %s (%d bytes)"
)

// envelope is the shape of an error body. SendGrid uses several
// (docs/sendgrid-errors.md); each route says which one it answers per status.
// The zero value, most endpoints' envelope, is E1/E2,
// {"errors":[{"field":…,"message":…}]}, with E3,
// {"errors":[{"message":…}]}, for 500.
type envelope int

const (
	// envBare400 is the zero envelope but for 400, which is E2-bare: one
	// unwrapped error item, {"field":…,"message":…}.
	envBare400 envelope = iota + 1
	// envBare400and404 is envBare400 with 404 E2-bare too.
	envBare400and404
	// envSegments2 is E4, the Segments 2.0 envelope: the zero envelope,
	// except that every 404 is an unknown segment (field "segment_id",
	// msgSegmentNotFound) and 500 carries "field":"" (that spec's 500 is
	// E4, not E3).
	envSegments2
	// envRefresh is the zero envelope, except that 404 and 500 are E5,
	// {"error":…}, the refresh endpoint's SegmentError.
	envRefresh
)

// bare tells whether env answers status with one unwrapped item (E2-bare).
// SendGrid answers E2-bare on these (docs/sendgrid-errors.md "Envelopes").
func (env envelope) bare(status int) bool {
	switch env {
	case envBare400:
		return status == http.StatusBadRequest
	case envBare400and404:
		return status == http.StatusBadRequest || status == http.StatusNotFound
	}
	return false
}

// errorItem is one entry of an E1/E2 "errors" array.
type errorItem struct {
	Field   *string `json:"field"`
	Message string  `json:"message"`
}

// nullFieldStatus are the statuses whose errors carry "field":null when no
// single input is to blame.
var nullFieldStatus = map[int]bool{401: true, 403: true, 429: true, 503: true}

type errorsBody struct {
	Errors []errorItem `json:"errors"`
}

// serverErrorItem is E3, SendGrid's 500 shape: a message and nothing else.
type serverErrorItem struct {
	Message string `json:"message"`
}

// segmentError is E5.
type segmentError struct {
	Error string `json:"error"`
}

// errMethodNotAllowed is a method that no route takes on a path some route
// serves. Every envelope answers it as 405 in E1.
var errMethodNotAllowed = errors.New(msgMethodNotAllowed)

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
	case segmentd.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// render renders err in env. It returns the status and the JSON body.
// Errors that are not *segmentd.Error are internal: the caller logs them,
// the client sees msgInternal only.
//
// The 405, E4's 500 and E5 bodies end in a newline, like the success
// bodies writeJSON sends, and the other error bodies do not; both are
// kept so that no answer changes by a byte.
func (env envelope) render(err error) (int, []byte) {
	kind := segmentd.ErrorKindOf(err)
	switch {
	case errors.Is(err, errMethodNotAllowed):
		return http.StatusMethodNotAllowed, line(errorsBody{[]errorItem{{Message: msgMethodNotAllowed}}})
	case env == envSegments2 && kind == segmentd.KindNotFound:
		err = notFound("segment_id", msgSegmentNotFound)
	case env == envSegments2 && kind == segmentd.KindInternal:
		return http.StatusInternalServerError, line(errorsBody{[]errorItem{{Field: new(string), Message: msgInternal}}})
	case env == envRefresh && kind == segmentd.KindNotFound:
		return http.StatusNotFound, line(segmentError{msgSegmentNotFound})
	case env == envRefresh && kind == segmentd.KindInternal:
		return http.StatusInternalServerError, line(segmentError{msgInternal})
	}
	var e *segmentd.Error
	if !errors.As(err, &e) || e.Kind == segmentd.KindInternal {
		b, _ := json.Marshal(struct {
			Errors []serverErrorItem `json:"errors"`
		}{[]serverErrorItem{{msgInternal}}})
		return http.StatusInternalServerError, b
	}
	status := statusOf(e.Kind)
	item := errorItem{Message: e.Message}
	field := e.Field
	// Where SendGrid's wording is known, it is used whatever the domain said.
	switch e.Kind {
	case segmentd.KindUnauthorized:
		item = errorItem{Message: msgAuthRequired}
	case segmentd.KindRateLimited:
		// SendGrid's documented 429 body, whole: no field is to blame.
		item, field = errorItem{Message: msgTooManyRequests}, ""
	case segmentd.KindTimeout:
		item.Message = msgTimeout
	case segmentd.KindUnavailable:
		// What failed (the database) is logged, never sent.
		item, field = errorItem{Message: msgUnavailable}, ""
	}
	// "field":null is the form of SendGrid's auth and rate-limit errors
	// (E1). The 400 and 404 envelopes (E2) type field as a string, so an
	// error about no single field carries "".
	if field != "" || !nullFieldStatus[status] {
		item.Field = &field
	}
	var b []byte
	if env.bare(status) {
		b, _ = json.Marshal(item)
	} else {
		b, _ = json.Marshal(errorsBody{[]errorItem{item}})
	}
	return status, b
}

// line is v's JSON and a newline, as writeJSON sends it. v is one of this
// file's envelopes, which always encode.
func line(v any) []byte {
	b, _ := json.Marshal(v)
	return append(b, '\n')
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
