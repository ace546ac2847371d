// Package webhook is segmentd's engagement input: POST
// /webhooks/sendgrid/events takes batches in the shape of SendGrid's Event
// Webhook, so a SendGrid account's webhook can point at segmentd and
// engagement segments fill themselves (docs/decisions.md §9,
// docs/events.md).
//
// It turns HTTP into calls on *audience.Service (Authenticate, WebhookKey,
// AddEvents) and back. It must never import a store, SQL or the engine.
package webhook

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/jsoncheck"
	"github.com/segmentd/segmentd/query"
	"github.com/segmentd/segmentd/server"
)

// Limits and the signature window. SendGrid documents none of them for the
// receiving side; these are segmentd's (docs/events.md).
const (
	// MaxBodyBytes bounds a request body: 10 MB, far above the batches
	// SendGrid posts.
	MaxBodyBytes = 10 << 20
	// MaxEvents bounds the events of one request.
	MaxEvents = 10_000
	// SignatureWindow is how far the signed timestamp may be from the
	// clock, either way, before a signed request is refused as stale (a
	// replay) or from the future.
	SignatureWindow = 10 * time.Minute
	// maxReportedErrors bounds the errors listed in a response; rejected
	// still counts them all.
	maxReportedErrors = 100
)

// Bounds on the strings an event keeps, in characters; an event over one
// is rejected alone, naming the limit (docs/events.md "Limits").
const (
	// MaxEmailLength is SendGrid's limit on a contact's email: a longer
	// address can never match a contact.
	MaxEmailLength = 254
	// MaxURLLength bounds a click's url: SendGrid states none, and links
	// with long tracking parameters run to a few thousand characters.
	MaxURLLength = 8192
	// MaxIDLength bounds sg_event_id, singlesend_id, mc_auto_id and
	// marketing_campaign_id: SendGrid's are UUIDs, base64 ids of a few
	// dozen characters or numbers.
	MaxIDLength = 255
)

// SendGrid's signed Event Webhook headers.
const (
	HeaderSignature = "X-Twilio-Email-Event-Webhook-Signature"
	HeaderTimestamp = "X-Twilio-Email-Event-Webhook-Timestamp"
)

// Options tune the handler. The zero value is what segmentd serves.
type Options struct {
	// Clock is the time the signature window is measured against
	// (segmentd.SystemClock when nil).
	Clock segmentd.Clock
	// MaxBodyBytes and MaxEvents override the limits (tests).
	MaxBodyBytes int64
	MaxEvents    int
}

type handler struct {
	svc  *audience.Service
	log  *slog.Logger
	opts Options
}

// NewHandler returns the webhook face. It serves /webhooks/... paths:
// every request is authenticated first, so that an unknown webhook path
// or a wrong method is 401 without a valid key, and then 404, or 405 with
// "Allow: POST" on the events path.
func NewHandler(svc *audience.Service, log *slog.Logger, opts Options) http.Handler {
	if opts.Clock == nil {
		opts.Clock = segmentd.SystemClock{}
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = MaxBodyBytes
	}
	if opts.MaxEvents <= 0 {
		opts.MaxEvents = MaxEvents
	}
	h := &handler{svc: svc, log: log, opts: opts}
	router := server.NewRouter(nil, h.unrouted)
	router.Handle("POST /webhooks/sendgrid/events", h.adapt(h.events))
	return router
}

// unrouted answers a request no route takes, once its key is known good.
func (h *handler) unrouted(w http.ResponseWriter, r *http.Request, u server.Unrouted) {
	h.adapt(func(w http.ResponseWriter, r *http.Request) error {
		if _, err := h.authenticate(r); err != nil {
			return err
		}
		if u.Allow != "" {
			w.Header().Set("Allow", u.Allow)
			return errMethodNotAllowed
		}
		return segmentd.Errorf(segmentd.KindNotFound, "", "no webhook at %s %s; events are posted to POST /webhooks/sendgrid/events", segmentd.Clip(r.Method), segmentd.Clip(r.URL.Path))
	}).ServeHTTP(w, r)
}

// authenticate resolves the request's key, which must carry events.write,
// and On-Behalf-Of, with which a parent's key posts a subuser's events
// (docs/decisions.md §15).
func (h *handler) authenticate(r *http.Request) (audience.Principal, error) {
	return h.svc.Authenticate(r.Context(), credentials(r), r.Header.Get("On-Behalf-Of"), segmentd.ScopeEventsWrite)
}

// adapt renders a handler's error: the only place errors become responses.
func (h *handler) adapt(f func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := serve(f, w, r)
		if err == nil || errors.Is(err, context.Canceled) {
			return
		}
		if errors.Is(err, errMethodNotAllowed) {
			writeJSON(w, http.StatusMethodNotAllowed, errorsBody{[]errorItem{{Message: msgMethodNotAllowed}}})
			return
		}
		var e *segmentd.Error
		if !errors.As(err, &e) || e.Kind == segmentd.KindInternal {
			h.log.Error("webhook: internal error", "method", r.Method, "path", r.URL.Path, "err", err)
			writeJSON(w, http.StatusInternalServerError, errorsBody{[]errorItem{{Message: msgInternal}}})
			return
		}
		status := http.StatusBadRequest
		switch e.Kind {
		case segmentd.KindUnauthorized:
			status = http.StatusUnauthorized
			// SendGrid's webhook settings carry credentials in the URL; a
			// challenge makes clients that wait for one send them.
			w.Header().Set("WWW-Authenticate", `Basic realm="segmentd", charset="UTF-8"`)
		case segmentd.KindForbidden:
			status = http.StatusForbidden
		case segmentd.KindNotFound:
			status = http.StatusNotFound
		case segmentd.KindTooLarge:
			status = http.StatusRequestEntityTooLarge
		case segmentd.KindTimeout:
			status = http.StatusRequestTimeout
		case segmentd.KindRateLimited:
			status = http.StatusTooManyRequests
		case segmentd.KindUnavailable:
			// SendGrid retries a batch that did not get a 2xx.
			server.Unavailable(w, h.log, r, err)
			writeJSON(w, http.StatusServiceUnavailable, errorsBody{[]errorItem{{Message: msgUnavailable}}})
			return
		}
		writeJSON(w, status, errorsBody{[]errorItem{{Field: e.Field, Message: e.Message}}})
	})
}

// serve runs f, turning a panic into an error that adapt answers as a 500
// in this face's envelope.
func serve(f func(http.ResponseWriter, *http.Request) error, w http.ResponseWriter, r *http.Request) (err error) {
	defer server.Recover(&err)
	return f(w, r)
}

// msgInternal answers every 500, msgUnavailable every 503 (segmentd cannot
// reach its database); the cause is logged, never sent.
const (
	msgInternal    = "internal server error"
	msgUnavailable = "service unavailable; try again shortly"
)

// errMethodNotAllowed is a method the events path does not take.
var errMethodNotAllowed = errors.New(msgMethodNotAllowed)

const msgMethodNotAllowed = "method not allowed"

type errorsBody struct {
	Errors []errorItem `json:"errors"`
}

type errorItem struct {
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// Response is the body of a 200: segmentd's own (SendGrid only needs a
// 2xx), documented in docs/events.md.
type Response struct {
	Received   int `json:"received"`   // events in the batch
	Stored     int `json:"stored"`     // events stored now
	Duplicates int `json:"duplicates"` // redeliveries (sg_event_id already stored or repeated)
	Unmatched  int `json:"unmatched"`  // stored events whose email matches no contact yet
	Rejected   int `json:"rejected"`   // malformed events, not stored
	// Errors describe the first rejected events (at most 100).
	Errors []EventError `json:"errors"`
}

// EventError says why the event at Index (in the posted array) was rejected.
type EventError struct {
	Index   int    `json:"index"`
	Message string `json:"message"`
}

func (h *handler) events(w http.ResponseWriter, r *http.Request) error {
	p, err := h.authenticate(r)
	if err != nil {
		return err
	}
	body, err := readBody(w, r, h.opts.MaxBodyBytes)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return segmentd.Errorf(segmentd.KindTooLarge, "", "request body must not exceed %d bytes", h.opts.MaxBodyBytes)
		}
		return segmentd.Errorf(segmentd.KindInvalid, "", "the request body could not be read")
	}
	key, err := h.svc.WebhookKey(r.Context(), p.Account.ID)
	if err != nil {
		return err
	}
	if key != nil {
		if err := verify(key, r.Header, body, h.opts.Clock.Now()); err != nil {
			return err
		}
	}
	if err := checkBody(body); err != nil {
		return err
	}
	evs, res, ok := parseFast(body, h.opts.MaxEvents)
	if !ok {
		if evs, res, err = parseBatch(body, h.opts.MaxEvents); err != nil {
			return err
		}
	}
	if len(evs) > 0 {
		added, err := h.svc.AddEvents(r.Context(), p.Account.ID, evs)
		if err != nil {
			return err
		}
		res.Stored, res.Duplicates, res.Unmatched = added.Added, added.Duplicates, added.Unmatched
	}
	writeJSON(w, http.StatusOK, res)
	return nil
}

// readBody reads the request's body, at most limit bytes (a longer one is
// an *http.MaxBytesError). A body of a declared length is read into one
// buffer of that size: io.ReadAll, doubling from 512 bytes, reallocated a
// 300 KB batch of 1,000 events ten times, copying about 600 KB.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	rd := http.MaxBytesReader(w, r.Body, limit)
	n := r.ContentLength
	if n <= 0 || n > limit {
		return io.ReadAll(rd)
	}
	// Room for the declared length (up to 1 MiB before any byte has come)
	// and bytes.MinRead more, so that ReadFrom sees the end without
	// growing the buffer.
	buf := bytes.NewBuffer(make([]byte, 0, min(n, 1<<20)+bytes.MinRead))
	_, err := buf.ReadFrom(rd)
	return buf.Bytes(), err
}

// checkBody refuses, whole, a batch that breaks segmentd's rules for every
// JSON body (docs/decisions.md §18: syntax, repeated keys, invalid UTF-8,
// lone surrogate escapes), naming the JSON path at fault ("[3].email"), or
// that is not an array. SendGrid's own batches never break them; what
// one event holds that segmentd refuses is rejected per event instead.
func checkBody(body []byte) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return segmentd.Errorf(segmentd.KindInvalid, "", "the request body must be a JSON array of events")
	}
	k, err := jsoncheck.Check(body)
	var je *jsoncheck.Error
	if errors.As(err, &je) {
		return segmentd.Errorf(segmentd.KindInvalid, je.Path, "%s", je.Error())
	}
	if k != jsoncheck.Array {
		return segmentd.Errorf(segmentd.KindInvalid, "", "the request body must be a JSON array of events, found %s", k)
	}
	return nil
}

// credentials returns the API key of the request: a Bearer token, or the
// password of HTTP Basic auth (any username), which is how SendGrid's
// webhook settings send credentials written into the URL.
func credentials(r *http.Request) string {
	auth := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, rest, _ := strings.Cut(auth, " ")
	if strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(rest)
	}
	if _, pass, ok := r.BasicAuth(); ok {
		return pass
	}
	return ""
}

// verify checks SendGrid's signature: ECDSA P-256 over SHA-256 of the
// timestamp header followed by the raw body, the signature base64 of its
// ASN.1 form. A signed timestamp more than SignatureWindow from now is
// refused, so a captured request cannot be replayed later.
func verify(key *ecdsa.PublicKey, hdr http.Header, body []byte, now time.Time) error {
	sig, ts := hdr.Get(HeaderSignature), hdr.Get(HeaderTimestamp)
	if sig == "" || ts == "" {
		return segmentd.Errorf(segmentd.KindForbidden, "", "this account verifies signed webhooks: the %s and %s headers are required", HeaderSignature, HeaderTimestamp)
	}
	secs, err := strconv.ParseInt(strings.TrimSpace(ts), 10, 64)
	if err != nil {
		return segmentd.Errorf(segmentd.KindForbidden, HeaderTimestamp, "%s must be unix seconds", HeaderTimestamp)
	}
	if d := now.Sub(time.Unix(secs, 0)); d > SignatureWindow || d < -SignatureWindow {
		return segmentd.Errorf(segmentd.KindForbidden, HeaderTimestamp, "the signed timestamp is more than %v from the server's time", SignatureWindow)
	}
	der, err := base64.StdEncoding.DecodeString(strings.TrimSpace(sig))
	if err != nil {
		return segmentd.Errorf(segmentd.KindForbidden, HeaderSignature, "%s is not base64", HeaderSignature)
	}
	sum := sha256.New()
	sum.Write([]byte(ts))
	sum.Write(body)
	if !ecdsa.VerifyASN1(key, sum.Sum(nil), der) {
		return segmentd.Errorf(segmentd.KindForbidden, HeaderSignature, "the webhook signature does not verify against the account's verification key")
	}
	return nil
}

// wireEvent is the part of an Event Webhook event segmentd keeps. Every
// other field SendGrid sends (sg_message_id, category, reason, status,
// response, attempt, ip, useragent, tls, type, bounce_classification,
// asm_group_id, marketing_campaign_name, singlesend_name, mc_stats, …) and
// every unique argument is accepted and not stored: segments cannot query
// them (docs/decisions.md §5).
type wireEvent struct {
	Email               *string  `json:"email"`
	Timestamp           *float64 `json:"timestamp"`
	Event               *string  `json:"event"`
	SGEventID           idString `json:"sg_event_id"`
	URL                 string   `json:"url"`
	SinglesendID        idString `json:"singlesend_id"`
	MCAutoID            idString `json:"mc_auto_id"`
	MarketingCampaignID idString `json:"marketing_campaign_id"`
}

// idString is an id SendGrid sends as a string or, in older events
// (marketing_campaign_id of legacy campaigns), as a number.
type idString string

func (s *idString) UnmarshalJSON(b []byte) error {
	switch {
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = idString(v)
	case string(b) == "null":
	case len(b) > 0 && (b[0] == '-' || '0' <= b[0] && b[0] <= '9'):
		*s = idString(b)
	default:
		return errWrongType
	}
	return nil
}

var errWrongType = errors.New("an id must be a string or a number")

// Event parses one Event Webhook event in the shape SendGrid posts (the
// shape of the NDJSON `segmentd events load` reads), or says why it is
// rejected. The error is written for the API user.
func Event(raw []byte) (segmentd.Event, error) {
	if _, err := jsoncheck.CheckFolded(raw, keptFields...); err != nil {
		return segmentd.Event{}, err
	}
	var we wireEvent
	if err := json.Unmarshal(raw, &we); err != nil {
		return segmentd.Event{}, errors.New(decodeMessage(err))
	}
	return toEvent(&we)
}

func toEvent(we *wireEvent) (segmentd.Event, error) {
	switch {
	case we.Email == nil || strings.TrimSpace(*we.Email) == "":
		return segmentd.Event{}, errors.New("email is required")
	case longer(strings.TrimSpace(*we.Email), MaxEmailLength):
		return segmentd.Event{}, tooLong("email", MaxEmailLength)
	case !strings.Contains(*we.Email, "@"):
		return segmentd.Event{}, fmt.Errorf("email %s is not an email address", segmentd.Quote(*we.Email))
	case we.Event == nil || strings.TrimSpace(*we.Event) == "":
		return segmentd.Event{}, errors.New("event is required")
	case we.Timestamp == nil:
		return segmentd.Event{}, errors.New("timestamp is required")
	case *we.Timestamp <= 0 || *we.Timestamp > 1e11 || math.IsNaN(*we.Timestamp):
		return segmentd.Event{}, fmt.Errorf("timestamp must be unix seconds, not %v", *we.Timestamp)
	case longer(we.URL, MaxURLLength):
		return segmentd.Event{}, tooLong("url", MaxURLLength)
	case longer(string(we.SGEventID), MaxIDLength):
		return segmentd.Event{}, tooLong("sg_event_id", MaxIDLength)
	case longer(string(we.SinglesendID), MaxIDLength):
		return segmentd.Event{}, tooLong("singlesend_id", MaxIDLength)
	case longer(string(we.MCAutoID), MaxIDLength):
		return segmentd.Event{}, tooLong("mc_auto_id", MaxIDLength)
	case longer(string(we.MarketingCampaignID), MaxIDLength):
		return segmentd.Event{}, tooLong("marketing_campaign_id", MaxIDLength)
	}
	if err := checkEventText(we); err != nil {
		return segmentd.Event{}, err
	}
	typ, ok := query.EventTypeName(strings.TrimSpace(*we.Event))
	if !ok {
		return segmentd.Event{}, fmt.Errorf("event %s is not an Event Webhook event type (%s)", segmentd.Quote(*we.Event), strings.Join(query.EventTypes(), ", "))
	}
	ms := int64(math.Round(*we.Timestamp * 1000))
	return segmentd.Event{
		Email:               *we.Email,
		Type:                typ,
		Timestamp:           time.UnixMilli(ms).UTC(),
		SinglesendID:        string(we.SinglesendID),
		AutomationID:        string(we.MCAutoID),
		MarketingCampaignID: string(we.MarketingCampaignID),
		URL:                 we.URL,
		SGEventID:           string(we.SGEventID),
	}, nil
}

// longer reports whether s has more than max characters; it counts them
// only when s has more than max bytes, which values within the limit
// seldom do.
func longer(s string, max int) bool {
	return len(s) > max && utf8.RuneCountInString(s) > max
}

func tooLong(field string, max int) error {
	return fmt.Errorf("%s must be at most %d characters", field, max)
}

// checkEventText applies segmentd's rule for identifiers to the strings an
// event keeps: valid UTF-8 (the body check has made sure of it) and no
// control character (docs/decisions.md §18).
func checkEventText(we *wireEvent) error {
	for _, f := range [...]struct{ name, v string }{
		{"email", *we.Email}, {"event", *we.Event}, {"url", we.URL}, {"sg_event_id", string(we.SGEventID)},
		{"singlesend_id", string(we.SinglesendID)}, {"mc_auto_id", string(we.MCAutoID)}, {"marketing_campaign_id", string(we.MarketingCampaignID)},
	} {
		err := segmentd.CheckName(f.name, f.v)
		if err == nil {
			continue // errors.As' target below is made on the heap: only for a bad field
		}
		var e *segmentd.Error
		if errors.As(err, &e) {
			return errors.New(e.Message)
		}
	}
	return nil
}

// parseBatch reads a JSON array of events. A malformed event is reported
// in the Response and the rest of the batch goes on; only a body that is
// not a JSON array (or has more than max events) fails whole.
func parseBatch(body []byte, max int) ([]segmentd.Event, Response, error) {
	res := Response{Errors: []EventError{}}
	// encoding/json matches wireEvent's fields ignoring case: "email" and
	// "EMAIL" in one event are one key, repeated (checkBody has taken the
	// exact repeats; parseFast leaves every body with such keys here).
	if _, err := jsoncheck.CheckFolded(body, keptFields...); err != nil {
		var je *jsoncheck.Error
		errors.As(err, &je)
		return nil, res, segmentd.Errorf(segmentd.KindInvalid, je.Path, "%s", je.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	tok, err := dec.Token()
	if d, ok := tok.(json.Delim); err != nil || !ok || d != '[' {
		return nil, res, segmentd.Errorf(segmentd.KindInvalid, "", "the request body must be a JSON array of events")
	}
	evs := make([]segmentd.Event, 0, min(max, len(body)/64+1))
	for i := 0; dec.More(); i++ {
		if i == max {
			return nil, res, segmentd.Errorf(segmentd.KindTooLarge, "", "at most %d events per request", max)
		}
		res.Received++
		var we wireEvent
		err := dec.Decode(&we)
		var se *json.SyntaxError
		if errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, res, segmentd.Errorf(segmentd.KindInvalid, "", "the request body is not valid JSON (error at byte %d)", dec.InputOffset())
		}
		var ev segmentd.Event
		if err == nil {
			ev, err = toEvent(&we)
		} else {
			err = errors.New(decodeMessage(err))
		}
		if err != nil {
			res.Rejected++
			if len(res.Errors) < maxReportedErrors {
				res.Errors = append(res.Errors, EventError{Index: i, Message: err.Error()})
			}
			continue
		}
		evs = append(evs, ev)
	}
	if _, err := dec.Token(); err != nil {
		return nil, res, segmentd.Errorf(segmentd.KindInvalid, "", "the request body is not valid JSON (error at byte %d)", dec.InputOffset())
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, res, segmentd.Errorf(segmentd.KindInvalid, "", "the request body must be one JSON array of events")
	}
	return evs, res, nil
}

// decodeMessage turns encoding/json's error about one event into words for
// the API user.
func decodeMessage(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return "an event must be a JSON object, not " + article(te.Value)
		}
		return fmt.Sprintf("%s must be %s, not %s", te.Field, want(te.Field), article(te.Value))
	}
	if errors.Is(err, errWrongType) {
		return "an id (sg_event_id, singlesend_id, mc_auto_id, marketing_campaign_id) must be a string or a number"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return "the event is not valid JSON"
	}
	return "the event could not be read"
}

func want(field string) string {
	if field == "timestamp" {
		return "a number (unix seconds)"
	}
	return "a string"
}

func article(v string) string {
	switch v {
	case "array", "object":
		return "an " + v
	case "null":
		return "null"
	}
	return "a " + v
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"errors":[{"message":"`+msgInternal+`"}]}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
