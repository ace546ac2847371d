// Package hooks is segmentd's segment webhooks (docs/webhooks.md): the
// subscriptions API under /segmentd/v1/ (its OpenAPI 3.1 document,
// openapi.json, embedded and served), and the Dispatcher that takes the
// engine's transitions, keeps them in the store's outbox and delivers
// them, signed by the Standard Webhooks rules, with retries.
//
// It must never import a store, SQL or the engine: it reaches the
// subscriptions through audience.Service and the outbox through
// segmentd.HookStore.
package hooks

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/jsoncheck"
	"github.com/segmentd/segmentd/internal/ownapi"
	"github.com/segmentd/segmentd/server"
)

// Prefix is where segmentd's own API lives, outside the vendors' /v3.
const Prefix = "/segmentd/v1/"

// MaxBody is the largest request body the face takes, in bytes.
const MaxBody = 64 << 10

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the face's OpenAPI 3.1 document, as GET
// /segmentd/v1/openapi.json serves it.
func OpenAPI() []byte { return bytes.Clone(openAPI) }

// HandlerOptions configures the face.
type HandlerOptions struct {
	Service *audience.Service
	// Dispatcher sends test messages; nil answers them 503.
	Dispatcher *Dispatcher
	Log        *slog.Logger
}

// NewHandler returns the face: every path under Prefix.
func NewHandler(o HandlerOptions) http.Handler {
	h := &handler{HandlerOptions: o}
	rt := server.NewRouter(nil, h.unrouted)
	handle := func(pattern string, fn func(w http.ResponseWriter, r *http.Request, p audience.Principal) error) {
		rt.Handle(pattern, h.serve(segmentd.ScopeWebhooks, fn))
	}
	rt.Handle("GET /segmentd/v1/openapi.json", http.HandlerFunc(h.openAPI))
	handle("GET /segmentd/v1/webhooks", h.list)
	handle("POST /segmentd/v1/webhooks", h.create)
	handle("GET /segmentd/v1/webhooks/{id}", h.get)
	handle("PATCH /segmentd/v1/webhooks/{id}", h.update)
	handle("DELETE /segmentd/v1/webhooks/{id}", h.delete)
	handle("POST /segmentd/v1/webhooks/{id}/test", h.test)
	handle("POST /segmentd/v1/webhooks/{id}/rotate-secret", h.rotate)
	handle("GET /segmentd/v1/webhooks/{id}/deliveries", h.deliveries)
	h.explainRoutes(rt)                                        // explain.go
	handle("POST /segmentd/v1/webhooks/{id}/replay", h.replay) // history.go
	h.routeHistory(rt)                                         // history.go
	return rt
}

type handler struct {
	HandlerOptions
}

// serve authenticates the request (a key with the scope) and adapts a
// handler that returns an error: the one place errors and panics become
// answers.
func (h *handler) serve(scope segmentd.Scope, fn func(w http.ResponseWriter, r *http.Request, p audience.Principal) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := func() (err error) {
			defer server.Recover(&err)
			p, err := h.Service.Authenticate(r.Context(), bearer(r), r.Header.Get("On-Behalf-Of"), scope)
			if err != nil {
				return err
			}
			return fn(w, r, p)
		}()
		if err != nil {
			h.fail(w, r, err)
		}
	})
}

func bearer(r *http.Request) string {
	scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(cred)
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *segmentd.Error
	if !errors.As(err, &e) || e.Kind == segmentd.KindInternal {
		h.Log.Error("webhooks request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ownapi.WriteError(w, http.StatusInternalServerError, "", "internal server error")
		return
	}
	if e.Kind == segmentd.KindUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="segmentd"`)
	}
	ownapi.WriteError(w, ownapi.StatusOf(e.Kind), e.Field, e.Message)
}

// unrouted answers a request no route takes: 405 with the methods its
// path takes, or 404.
func (h *handler) unrouted(w http.ResponseWriter, r *http.Request, u server.Unrouted) {
	if u.Allow != "" {
		w.Header().Set("Allow", u.Allow)
		ownapi.WriteError(w, http.StatusMethodNotAllowed, "", segmentd.Clip(r.Method)+" is not allowed on "+segmentd.Clip(r.URL.Path)+"; use "+u.Allow)
		return
	}
	ownapi.WriteError(w, http.StatusNotFound, "", "no segmentd endpoint at "+segmentd.Clip(r.Method)+" "+segmentd.Clip(r.URL.Path))
}

func (h *handler) openAPI(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}

// subscriptionJSON is a subscription as the API shows it.
type subscriptionJSON struct {
	ID            string        `json:"id"`
	URL           string        `json:"url"`
	Description   string        `json:"description"`
	Segments      []SegmentJSON `json:"segments"`
	EventTypes    []string      `json:"event_types"`
	Status        string        `json:"status"`
	FailingReason string        `json:"failing_reason"`
	CreatedAt     string        `json:"created_at"`
	UpdatedAt     string        `json:"updated_at"`
	Secret        string        `json:"secret,omitempty"`
	// OldSecretExpiresAt is when the secret a rotation replaced stops
	// signing; absent when none signs.
	OldSecretExpiresAt string `json:"previous_secret_expires_at,omitempty"`
}

func (h *handler) toJSON(s segmentd.Subscription, withSecret bool) subscriptionJSON {
	out := subscriptionJSON{ID: s.ID, URL: s.URL, Description: s.Description, Segments: []SegmentJSON{}, EventTypes: s.EventTypes,
		Status: s.Status, FailingReason: s.FailingReason, CreatedAt: jsonTime(s.CreatedAt), UpdatedAt: jsonTime(s.UpdatedAt)}
	for _, seg := range s.Segments {
		out.Segments = append(out.Segments, SegmentJSON(seg))
	}
	if withSecret {
		out.Secret = s.Secret
	}
	if s.OldSecretAt(h.Service.Clock().Now()) != "" {
		out.OldSecretExpiresAt = jsonTime(s.OldSecretUntil)
	}
	return out
}

// subscriptionBody is a create or update body.
type subscriptionBody struct {
	URL         *string        `json:"url"`
	Description *string        `json:"description"`
	Segments    *[]SegmentJSON `json:"segments"`
	EventTypes  *[]string      `json:"event_types"`
	Status      *string        `json:"status"`
}

func (b subscriptionBody) input() audience.SubscriptionInput {
	in := audience.SubscriptionInput{URL: b.URL, Description: b.Description, EventTypes: b.EventTypes, Status: b.Status}
	if b.Segments != nil {
		segs := make([]segmentd.HookSegment, len(*b.Segments))
		for i, s := range *b.Segments {
			segs[i] = segmentd.HookSegment(s)
		}
		in.Segments = &segs
	}
	return in
}

func (h *handler) list(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	subs, err := h.Service.Subscriptions(r.Context(), p.Account.ID)
	if err != nil {
		return err
	}
	out := make([]subscriptionJSON, len(subs))
	for i, s := range subs {
		out[i] = h.toJSON(s, false)
	}
	ownapi.WriteJSON(w, http.StatusOK, map[string]any{"webhooks": out})
	return nil
}

func (h *handler) create(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	var b subscriptionBody
	if err := readBody(w, r, &b); err != nil {
		return err
	}
	sub, err := h.Service.CreateSubscription(r.Context(), p.Account.ID, b.input())
	if err != nil {
		return err
	}
	ownapi.WriteJSON(w, http.StatusCreated, h.toJSON(sub, true))
	return nil
}

func (h *handler) get(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	sub, err := h.Service.Subscription(r.Context(), p.Account.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	ownapi.WriteJSON(w, http.StatusOK, h.toJSON(sub, false))
	return nil
}

func (h *handler) update(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	var b subscriptionBody
	if err := readBody(w, r, &b); err != nil {
		return err
	}
	sub, err := h.Service.UpdateSubscription(r.Context(), p.Account.ID, r.PathValue("id"), b.input())
	if err != nil {
		return err
	}
	ownapi.WriteJSON(w, http.StatusOK, h.toJSON(sub, false))
	return nil
}

func (h *handler) delete(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	if err := h.Service.DeleteSubscription(r.Context(), p.Account.ID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// rotateBody is a rotation's optional body.
type rotateBody struct {
	GraceSeconds *int64 `json:"grace_seconds"`
}

func (h *handler) rotate(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	grace := segmentd.DefaultHookSecretGrace
	if r.ContentLength != 0 {
		var b rotateBody
		if err := readBody(w, r, &b); err != nil {
			return err
		}
		if b.GraceSeconds != nil {
			n := *b.GraceSeconds
			if n < 0 || n > int64(segmentd.MaxHookSecretGrace/time.Second) {
				n = -1 // out of bounds: the service names them
			}
			grace = time.Duration(n) * time.Second
		}
	}
	sub, err := h.Service.RotateHookSecret(r.Context(), p.Account.ID, r.PathValue("id"), grace)
	if err != nil {
		return err
	}
	ownapi.WriteJSON(w, http.StatusOK, h.toJSON(sub, true))
	return nil
}

func (h *handler) test(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	sub, err := h.Service.Subscription(r.Context(), p.Account.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	if h.Dispatcher == nil {
		return segmentd.Errorf(segmentd.KindUnavailable, "", "this server does not deliver webhooks (--webhook-delivery=false)")
	}
	d, err := h.Dispatcher.SendTest(context.WithoutCancel(r.Context()), sub)
	if err != nil {
		return err
	}
	ownapi.WriteJSON(w, http.StatusOK, map[string]any{"delivery": deliveryToJSON(d)})
	return nil
}

// deliveryJSON is one attempt as the API shows it.
type deliveryJSON struct {
	ID          int64   `json:"id"`
	MessageID   string  `json:"message_id"`
	AttemptedAt string  `json:"attempted_at"`
	Transitions int     `json:"transitions"`
	StatusCode  int     `json:"status_code"`
	LatencyMS   float64 `json:"latency_ms"`
	Error       string  `json:"error"`
}

func deliveryToJSON(d segmentd.Delivery) deliveryJSON {
	return deliveryJSON{ID: d.Seq, MessageID: d.MessageID, AttemptedAt: jsonTime(d.At), Transitions: d.Transitions,
		StatusCode: d.StatusCode, LatencyMS: float64(d.Latency.Microseconds()) / 1000, Error: d.Error}
}

func (h *handler) deliveries(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	q := r.URL.Query()
	limit, before := segmentd.DefaultHookDeliveriesPage, int64(0)
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > segmentd.MaxHookDeliveriesPage {
			return segmentd.Errorf(segmentd.KindInvalid, "limit", "limit %s must be a number from 1 to %d", segmentd.Quote(v), segmentd.MaxHookDeliveriesPage)
		}
		limit = n
	}
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return segmentd.Errorf(segmentd.KindInvalid, "before", "before %s must be the next of a previous page", segmentd.Quote(v))
		}
		before = n
	}
	ds, err := h.Service.HookDeliveries(r.Context(), p.Account.ID, r.PathValue("id"), before, limit)
	if err != nil {
		return err
	}
	out := map[string]any{}
	list := make([]deliveryJSON, len(ds))
	for i, d := range ds {
		list[i] = deliveryToJSON(d)
	}
	out["deliveries"] = list
	if len(ds) == limit && ds[len(ds)-1].Seq > 1 {
		out["next"] = strconv.FormatInt(ds[len(ds)-1].Seq, 10)
	}
	ownapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// readBody reads a JSON object body of at most MaxBody bytes into v,
// under segmentd's rules for every JSON body (docs/decisions.md §18).
// Unknown keys are refused, so that a misspelt one is not silently
// ignored.
func readBody(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return segmentd.Errorf(segmentd.KindTooLarge, "", "the body is larger than %d bytes", MaxBody)
	}
	if err != nil {
		return segmentd.Errorf(segmentd.KindInvalid, "", "reading the body: the request was cut short")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return segmentd.Errorf(segmentd.KindInvalid, "", "the body must be a JSON object")
	}
	if _, err := jsoncheck.CheckFolded(b); err != nil {
		return segmentd.Errorf(segmentd.KindInvalid, "", "%s", err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var typ *json.UnmarshalTypeError
		if errors.As(err, &typ) && typ.Field != "" {
			return segmentd.Errorf(segmentd.KindInvalid, typ.Field, "%s has the wrong JSON type", typ.Field)
		}
		if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return segmentd.Errorf(segmentd.KindInvalid, "", "unknown key %s", msg)
		}
		return segmentd.Errorf(segmentd.KindInvalid, "", "the body must be a JSON object")
	}
	return nil
}
