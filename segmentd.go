// Package segmentd holds segmentd's domain: accounts and API keys, contacts,
// lists, custom field definitions, segments (SendGrid's and Constant
// Contact's), engagement events, jobs, the vendors' limits, the one error
// type, and the interfaces the rest of the system meets at: the stores
// (Store, SegmentStore, CCSegmentStore, EventStore, WebhookKeyStore) and
// the membership engine (Membership).
//
// It says what segmentd keeps, not how: package audience applies the
// rules on top of these interfaces, the stores (sqlite) and the engine
// implement them, and the API faces render them. This package imports
// only the standard library, does no I/O and starts no goroutines; every
// other package may depend on it, never the other way round.
package segmentd

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// ErrorKind classifies an Error; each API face maps kinds to its status codes.
type ErrorKind int

const (
	KindInternal     ErrorKind = iota // a bug or a failing dependency: logged, answered generically
	KindInvalid                       // bad input: 400
	KindNotFound                      // unknown resource: 404
	KindConflict                      // duplicate name or identifier: 400 for SendGrid, 409 for Constant Contact
	KindUnauthorized                  // missing or unknown API key: 401
	KindForbidden                     // key lacks a scope: 403
	KindTooLarge                      // body or batch over a limit: 413 or 400 per endpoint
	KindRateLimited                   // 429
	KindTimeout                       // 408
	KindUnavailable                   // the store cannot be reached: 503, try again
)

func (k ErrorKind) String() string {
	switch k {
	case KindInvalid:
		return "invalid"
	case KindNotFound:
		return "not found"
	case KindConflict:
		return "conflict"
	case KindUnauthorized:
		return "unauthorized"
	case KindForbidden:
		return "forbidden"
	case KindTooLarge:
		return "too large"
	case KindRateLimited:
		return "rate limited"
	case KindTimeout:
		return "timeout"
	case KindUnavailable:
		return "unavailable"
	}
	return "internal"
}

// Error is segmentd's one error type. Message is written for the API user;
// Field names the offending input (a JSON path such as "contacts[2].email",
// or a query parameter), empty when no single field is to blame.
type Error struct {
	Kind    ErrorKind
	Field   string
	Message string
}

func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// Errorf returns an *Error of the given kind.
func Errorf(kind ErrorKind, field, format string, args ...any) *Error {
	return &Error{Kind: kind, Field: field, Message: fmt.Sprintf(format, args...)}
}

// RateLimitError is a request refused by a rate limit, saying which: the
// limit's size and when it lifts, so that a face can describe it (SendGrid's
// X-RateLimit-* headers) without knowing how it is counted. It wraps the
// *Error of kind KindRateLimited that explains the refusal.
type RateLimitError struct {
	Err   *Error
	Limit int       // requests the limit allows in its window
	Reset time.Time // when a request would pass again
}

func (e *RateLimitError) Error() string { return e.Err.Error() }
func (e *RateLimitError) Unwrap() error { return e.Err }

// ErrorKindOf returns the kind of err's *Error, or KindInternal when err is
// not one (such errors must never reach a client verbatim).
func ErrorKindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return KindInternal
}

// Clock tells the time. Every component takes one so that tests (and the
// dev-mode admin endpoint) can move time.
type Clock interface {
	Now() time.Time
}

// SystemClock is the wall clock, in UTC.
type SystemClock struct{}

func (SystemClock) Now() time.Time { return time.Now().UTC() }

// NewID returns a random (version 4) UUID in its canonical 36-character form,
// the id format SendGrid uses for contacts, lists, segments and jobs.
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("segmentd: crypto/rand failed: " + err.Error())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return FormatUUID(b)
}

// FormatUUID renders 16 bytes in the canonical 36-character UUID form.
func FormatUUID(b [16]byte) string {
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:36], b[10:16])
	return string(out[:])
}

// IsUUID reports whether s is a UUID in canonical form (any version), which
// is what SendGrid requires of every id in a path.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
}
