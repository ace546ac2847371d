package constantcontact

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/segmentd/segmentd"
)

// Constant Contact's own error bodies (docs/constantcontact.md "Errors"), and
// segmentd's error keys where Constant Contact publishes none for
// segments: "<area>.api.<kind>", the style of its documented
// "contacts.api.validation.error" and "contacts.api.not_found"
// (docs/constantcontact.md lists them).
const (
	keyUnauthorized = "unauthorized"
	msgUnauthorized = "Unauthorized"
	keyAccessDenied = "access_denied"
	msgAccessDenied = "Request forbidden due to insufficient user privileges."
	keyThrottled    = "throttled"
	msgThrottled    = "Too Many Requests"
	keyQuota        = "quota_exceeded"
	msgQuota        = "Limit Exceeded"

	kindValidation       = "validation.error"
	kindNotFound         = "not_found"
	kindConflict         = "conflict"
	kindUnsupportedMedia = "unsupported_media_type"
	kindMethodNotAllowed = "method_not_allowed"
	kindInternal         = "internal_error"
	kindUnavailable      = "service_unavailable"

	// msgInternal answers every 500 (the spec's wording); the cause is
	// logged, never sent.
	msgInternal         = "There was a problem with our internal service."
	msgMethodNotAllowed = "method not allowed"
	// msgUnavailable answers a 503: segmentd cannot reach its database;
	// the request may be retried.
	msgUnavailable = "The service is unavailable; try again shortly."
	// msgNoSuchResource answers a path no route serves; it takes the path.
	msgNoSuchResource = "%s is not a Constant Contact V3 resource that segmentd serves"
)

// apiError is one entry of Constant Contact's APIErrorSchema array, and
// also, alone, its single-object auth and rate-limit bodies.
type apiError struct {
	ErrorKey     string `json:"error_key"`
	ErrorMessage string `json:"error_message"`
}

var errMethodNotAllowed = errors.New(msgMethodNotAllowed)

// errUnsupportedMediaType is a body that is not application/json.
type errUnsupportedMediaType struct{ contentType, want string }

func (e errUnsupportedMediaType) Error() string {
	return fmt.Sprintf("Content-Type must be %s, not %s", e.want, e.contentType)
}

// rateError is a 429: its key says which limit (throttled per second,
// quota_exceeded per day).
type rateError struct{ key, message string }

func (e rateError) Error() string { return e.message }

// errorBody renders err for a route of area ("segments" or "contacts"):
// auth and rate-limit errors as one object, everything else as an array
// of one {error_key, error_message}. Errors that are not *segmentd.Error
// (or this package's own) are internal: the caller logs them, the client
// sees msgInternal only.
func errorBody(err error, area string) (int, []byte) {
	var (
		e   *segmentd.Error
		ume errUnsupportedMediaType
		re  rateError
	)
	single := func(status int, key, msg string) (int, []byte) {
		b, _ := json.Marshal(apiError{key, msg})
		return status, b
	}
	list := func(status int, kind, msg string) (int, []byte) {
		b, _ := json.Marshal([]apiError{{area + ".api." + kind, msg}})
		return status, b
	}
	switch {
	case errors.As(err, &re):
		return single(http.StatusTooManyRequests, re.key, re.message)
	case errors.As(err, &ume):
		return list(http.StatusUnsupportedMediaType, kindUnsupportedMedia, ume.Error())
	case errors.Is(err, errMethodNotAllowed):
		return list(http.StatusMethodNotAllowed, kindMethodNotAllowed, msgMethodNotAllowed)
	case !errors.As(err, &e):
		return list(http.StatusInternalServerError, kindInternal, msgInternal)
	}
	switch e.Kind {
	case segmentd.KindUnauthorized:
		return single(http.StatusUnauthorized, keyUnauthorized, msgUnauthorized)
	case segmentd.KindForbidden:
		// A refusal that names its input (On-Behalf-Of) says why; a
		// missing privilege gets Constant Contact's own text.
		if e.Field != "" {
			return single(http.StatusForbidden, keyAccessDenied, e.Message)
		}
		return single(http.StatusForbidden, keyAccessDenied, msgAccessDenied)
	case segmentd.KindInvalid, segmentd.KindTooLarge:
		return list(http.StatusBadRequest, kindValidation, e.Message)
	case segmentd.KindNotFound:
		return list(http.StatusNotFound, kindNotFound, e.Message)
	case segmentd.KindConflict:
		return list(http.StatusConflict, kindConflict, e.Message)
	case segmentd.KindUnavailable:
		return list(http.StatusServiceUnavailable, kindUnavailable, msgUnavailable)
	case segmentd.KindRateLimited:
		// Too many activities queued: Constant Contact's single-object
		// 429, saying which limit.
		return single(http.StatusTooManyRequests, keyThrottled, e.Message)
	}
	return list(http.StatusInternalServerError, kindInternal, msgInternal)
}

func invalid(field, format string, args ...any) error {
	return segmentd.Errorf(segmentd.KindInvalid, field, format, args...)
}
