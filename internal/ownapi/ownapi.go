// Package ownapi holds what segmentd's own HTTP APIs (the control plane
// under /admin/ and the segment webhooks under /segmentd/v1/) answer alike:
// the {"errors":[{"field","message"}]} envelope, JSON bodies, and the
// status each kind of segmentd.Error takes. The vendors' faces keep their
// own envelopes.
package ownapi

import (
	"encoding/json"
	"net/http"

	"github.com/segmentd/segmentd"
)

// ErrorBody is every error answer: {"errors":[{"message":…}]}, with the
// field at fault when there is one.
type ErrorBody struct {
	Errors []ErrorItem `json:"errors"`
}

// ErrorItem is one error of an ErrorBody.
type ErrorItem struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// WriteError answers status with one error.
func WriteError(w http.ResponseWriter, status int, field, msg string) {
	WriteJSON(w, status, ErrorBody{Errors: []ErrorItem{{Field: field, Message: msg}}})
}

// WriteJSON answers status with v as JSON. An encoding failure is a bug;
// it is answered as a 500 with nothing of v sent.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"errors":[{"message":"internal server error"}]}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// StatusOf maps an error kind to its status.
func StatusOf(k segmentd.ErrorKind) int {
	switch k {
	case segmentd.KindInvalid:
		return http.StatusBadRequest
	case segmentd.KindNotFound:
		return http.StatusNotFound
	case segmentd.KindConflict:
		return http.StatusConflict
	case segmentd.KindUnauthorized:
		return http.StatusUnauthorized
	case segmentd.KindForbidden:
		return http.StatusForbidden
	case segmentd.KindTooLarge:
		return http.StatusRequestEntityTooLarge
	case segmentd.KindRateLimited:
		return http.StatusTooManyRequests
	case segmentd.KindTimeout:
		return http.StatusRequestTimeout
	case segmentd.KindUnavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}
