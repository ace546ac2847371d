// Package admin is segmentd's control plane for tests and development:
// endpoints under /admin/ that no vendor has. With `segmentd serve --dev`
// it sets the clock every component reads (docs/decisions.md §1: time is
// injected); with --dev or an admin token (--admin-token) it creates
// accounts with a key in one call, lists, resets and deletes them
// (docs/admin.md). When a token is configured every call must carry it as
// "Authorization: Bearer <token>", the clock's included. Without --dev or
// a token it is not mounted and /admin/ answers 404.
//
// Every answer is JSON, described by the OpenAPI document the face serves
// at GET /admin/openapi.json (openapi.json, embedded).
//
// It must never import a store, SQL or an API face.
package admin

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/jsoncheck"
	"github.com/segmentd/segmentd/internal/ownapi"
	"github.com/segmentd/segmentd/server"
)

// Clock is the settable clock the server runs on.
type Clock interface {
	segmentd.Clock
	Set(time.Time)
	Run(time.Time)
	Reset()
	Frozen() bool
}

// Control is what the account endpoints call (audience.Service is one).
type Control interface {
	Accounts(ctx context.Context) ([]segmentd.Account, error)
	// CreateAccountWithKey creates an account, a subuser of the account
	// named parent when parent is not "", and a full-access key of it.
	CreateAccountWithKey(ctx context.Context, name, parent string) (segmentd.Account, string, segmentd.APIKey, error)
	ResetAccount(ctx context.Context, name string) (segmentd.Account, error)
	DeleteAccount(ctx context.Context, name string) (segmentd.Account, error)
}

// Options configures the face.
type Options struct {
	// Clock is the settable clock (--dev); nil leaves /admin/clock out.
	Clock Clock
	// Advance, when set, is called with the new time after every clock
	// change, so that the membership engine honours a move backwards at
	// once (engine.Advance).
	Advance func(time.Time)
	// Control serves /admin/accounts; nil leaves it out.
	Control Control
	// Token, when not "", must come with every call as a Bearer token.
	Token string
	Log   *slog.Logger
}

// Limits of the face's input.
const (
	// MaxBody is the largest request body, in bytes: every body the face
	// takes is a small JSON object.
	MaxBody = 4 << 10
)

//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the face's OpenAPI 3.0 document, as GET
// /admin/openapi.json serves it.
func OpenAPI() []byte { return bytes.Clone(openAPI) }

// NewHandler returns the admin face.
func NewHandler(o Options) http.Handler {
	h := &handler{Options: o}
	if o.Token != "" {
		sum := sha256.Sum256([]byte(o.Token))
		h.tokenSum = sum[:]
	}
	rt := server.NewRouter(nil, h.unrouted)
	handle := func(pattern string, fn func(w http.ResponseWriter, r *http.Request) error) {
		rt.Handle(pattern, h.serve(fn))
	}
	handle("GET /admin/openapi.json", h.openAPI)
	if o.Clock != nil {
		handle("GET /admin/clock", h.getClock)
		handle("POST /admin/clock", h.setClock)
		handle("DELETE /admin/clock", h.resetClock)
	}
	if o.Control != nil {
		handle("GET /admin/accounts", h.listAccounts)
		handle("POST /admin/accounts", h.createAccount)
		handle("POST /admin/accounts/{name}/reset", h.resetAccount)
		handle("DELETE /admin/accounts/{name}", h.deleteAccount)
	}
	return h.authorize(rt)
}

type handler struct {
	Options
	tokenSum []byte // SHA-256 of Token; nil when none is required
}

// authorize refuses, when a token is configured, every request without
// it, before routing: a caller without the token learns nothing of which
// paths exist. The token is compared in constant time, through its hash
// so that its length does not show either.
func (h *handler) authorize(next http.Handler) http.Handler {
	if h.tokenSum == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok := bearer(r)
		sum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(sum[:], h.tokenSum) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="segmentd admin"`)
			msg := "this server requires its admin token: Authorization: Bearer <token>"
			if ok {
				msg = "the admin token is wrong"
			}
			ownapi.WriteError(w, http.StatusUnauthorized, "", msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bearer returns the request's Bearer credential.
func bearer(r *http.Request) (string, bool) {
	scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(cred), true
}

// serve adapts a handler that returns an error: the one place errors and
// panics become answers.
func (h *handler) serve(fn func(w http.ResponseWriter, r *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := func() (err error) {
			defer server.Recover(&err)
			return fn(w, r)
		}()
		if err != nil {
			h.fail(w, r, err)
		}
	})
}

func (h *handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *segmentd.Error
	if !errors.As(err, &e) || e.Kind == segmentd.KindInternal {
		h.Log.Error("admin request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ownapi.WriteError(w, http.StatusInternalServerError, "", "internal server error")
		return
	}
	ownapi.WriteError(w, ownapi.StatusOf(e.Kind), e.Field, e.Message)
}

// unrouted answers a request no route takes: 405 with the methods its
// path takes, or 404.
func (h *handler) unrouted(w http.ResponseWriter, r *http.Request, u server.Unrouted) {
	if u.Allow != "" {
		w.Header().Set("Allow", u.Allow)
		ownapi.WriteError(w, http.StatusMethodNotAllowed, "", segmentd.Clip(r.Method)+" is not allowed on "+segmentd.Clip(r.URL.Path)+"; use "+orList(u.Allow))
		return
	}
	ownapi.WriteError(w, http.StatusNotFound, "", "no admin endpoint at "+segmentd.Clip(r.Method)+" "+segmentd.Clip(r.URL.Path))
}

// orList turns an Allow header's "GET, POST, DELETE" into "GET, POST or
// DELETE".
func orList(allow string) string {
	if i := strings.LastIndex(allow, ", "); i >= 0 {
		return allow[:i] + " or " + allow[i+2:]
	}
	return allow
}

func (h *handler) openAPI(w http.ResponseWriter, r *http.Request) error {
	w.Header().Set("Content-Type", "application/json")
	_, err := w.Write(openAPI)
	return err
}

// readBody reads a JSON object body of at most MaxBody bytes into v,
// under segmentd's rules for every JSON body (docs/decisions.md §18): for
// a struct, "name" and "Name" are one key. Unknown keys are refused, so
// that a misspelt one is not silently ignored. An empty body leaves v as
// it is when empty is true.
func readBody(w http.ResponseWriter, r *http.Request, v any, empty bool) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return segmentd.Errorf(segmentd.KindTooLarge, "", "the body is larger than %d bytes", MaxBody)
	}
	if err != nil {
		return segmentd.Errorf(segmentd.KindInvalid, "", "reading the body: the request was cut short")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if empty {
			return nil
		}
		return segmentd.Errorf(segmentd.KindInvalid, "", "the body must be a JSON object")
	}
	if _, err := jsoncheck.CheckFolded(b); err != nil {
		return segmentd.Errorf(segmentd.KindInvalid, "", "%s", err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return segmentd.Errorf(segmentd.KindInvalid, "", "%s", decodeMessage(err))
	}
	return nil
}

// decodeMessage says what json.Decoder refused, without Go's wording of
// types.
func decodeMessage(err error) string {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return typ.Field + ": must be a JSON " + jsonType(typ.Type.Kind().String())
	}
	if msg, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "unknown key " + msg
	}
	return "the body must be a JSON object"
}

func jsonType(goKind string) string {
	switch goKind {
	case "string", "ptr":
		return "string"
	case "bool":
		return "boolean"
	case "struct", "map":
		return "object"
	}
	return "value of another type"
}

// jsonTime is how the face writes a time: RFC 3339, milliseconds, UTC.
func jsonTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }
