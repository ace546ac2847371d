// Package sendgrid is segmentd's SendGrid face: the Marketing Campaigns
// custom field definitions, lists and contacts endpoints under
// /v3/marketing, with SendGrid's status codes, bodies, error envelopes,
// asynchronous jobs and limits, so that code written against SendGrid (the
// official sendgrid-go client included) cannot tell the difference.
//
// It turns HTTP into calls on *audience.Service and back. It must never
// import a store or SQL: every rule that is not about the wire lives in the
// domain package.
package sendgrid

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/jsoncheck"
	"github.com/segmentd/segmentd/server"
)

// Options tune the face. The zero value is what segmentd serves.
type Options struct {
	// BaseURL, when set, is the scheme and host used in _metadata links
	// (e.g. "https://api.example.com"); otherwise they are built from the
	// request's Host.
	BaseURL string
	// RateLimits enforces the per-key, per-endpoint request limit that the
	// X-RateLimit-* headers of every answer report: past it a request is
	// answered SendGrid's 429 until the window resets (docs/sendgrid.md
	// "Rate limits"). Off by default, so that a test suite is never
	// throttled unless it asks: the headers are reported all the same.
	RateLimits bool
	// RateLimit is the requests a key may make to one endpoint in a window
	// (default 600, the default per minute SendGrid has announced), and
	// RateWindow the window's length (default one minute). segmentd's
	// command line sets neither; tests shorten them.
	RateLimit  int
	RateWindow time.Duration
	// Clock times the rate-limit windows (default: the service's clock, so
	// --dev's settable clock moves them too).
	Clock segmentd.Clock
	// LegacyV1Writes serves the v1 segment writes SendGrid removed in 2023
	// (POST /v3/marketing/segments, PATCH /v3/marketing/segments/{id},
	// POST /v3/marketing/segments/delete) as the legacy spec describes;
	// without it they answer as SendGrid does today (segments_v1.go).
	LegacyV1Writes bool
}

// Body size limits. SendGrid states only the upsert's 6 MB
// (docs/sendgrid.md "Contacts"); segmentd bounds every other body at 1 MB.
const (
	maxBodyBytes       = 1 << 20
	maxUpsertBodyBytes = segmentd.MaxUpsertBytes
)

// handler serves the face.
type handler struct {
	svc    *audience.Service
	log    *slog.Logger
	opts   Options
	router *server.Router
	routes map[string]route // by pattern, for the envelope of a near miss
	rate   *rateLimiter
}

// handlerFunc is the shape of every endpoint: it reads ids, decodes,
// validates, calls the service and encodes, and returns an error for the
// adapter to render.
type handlerFunc func(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error

// route is one row of the routing table.
type route struct {
	pattern string
	h       handlerFunc
	// maxBody bounds the request body (maxBodyBytes when 0).
	maxBody int64
	// envelope is the shape of the endpoint's error bodies (E1/E2 and E3
	// when not given).
	envelope envelope
}

// Prefixes are the paths the face is mounted on: every /v3 path that is
// not one of Constant Contact's resource roots (docs/decisions.md §14),
// so that any SendGrid v3 path segmentd does not serve (/v3/mail/send) is
// answered in SendGrid's envelope, after authentication.
func Prefixes() []string { return []string{"/v3", "/v3/"} }

// wildcardKinds are the kinds of value the routing table's wildcards take.
// SendGrid's list, contact and segment ids are UUIDs, so a path whose id
// is not one ("/contacts/imports", "/contacts/search") is no route's: it is
// answered 404, or 405 with the methods that serve it. The job id and the
// identifier type take any segment: their handlers answer a malformed one
// 400, as the spec documents for the job id.
var wildcardKinds = server.Kinds{"uuid": segmentd.IsUUID}

// NewHandler returns the SendGrid face. It serves /v3/marketing/... paths
// and answers any other path it is given as one it does not serve.
func NewHandler(svc *audience.Service, log *slog.Logger, opts ...Options) http.Handler {
	h := &handler{svc: svc, log: log, routes: map[string]route{}}
	h.router = server.NewRouter(wildcardKinds, h.unrouted)
	if len(opts) > 0 {
		h.opts = opts[0]
	}
	h.rate = newRateLimiter(h.opts, svc.Clock())
	for _, ft := range []string{"csv", "json"} {
		svc.SetExportFormat(ft, newExportFormat(ft))
	}

	routes := []route{
		{pattern: "POST /v3/marketing/field_definitions", h: h.createField},
		{pattern: "GET /v3/marketing/field_definitions", h: h.listFields},
		{pattern: "PATCH /v3/marketing/field_definitions/{custom_field_id}", h: h.renameField},
		{pattern: "DELETE /v3/marketing/field_definitions/{custom_field_id}", h: h.deleteField},

		{pattern: "POST /v3/marketing/lists", h: h.createList},
		{pattern: "GET /v3/marketing/lists", h: h.listLists},
		{pattern: "GET /v3/marketing/lists/{id:uuid}", h: h.getList},
		{pattern: "PATCH /v3/marketing/lists/{id:uuid}", h: h.renameList},
		{pattern: "DELETE /v3/marketing/lists/{id:uuid}", h: h.deleteList},
		{pattern: "DELETE /v3/marketing/lists/{id:uuid}/contacts", h: h.removeListContacts, envelope: envBare400},
		{pattern: "GET /v3/marketing/lists/{id:uuid}/contacts/count", h: h.listContactCount},

		{pattern: "PUT /v3/marketing/contacts", h: h.upsertContacts, maxBody: maxUpsertBodyBytes},
		{pattern: "GET /v3/marketing/contacts", h: h.sampleContacts},
		{pattern: "DELETE /v3/marketing/contacts", h: h.deleteContacts},
		{pattern: "GET /v3/marketing/contacts/count", h: h.countContacts},
		{pattern: "GET /v3/marketing/contacts/{id:uuid}", h: h.getContact},
		{pattern: "POST /v3/marketing/contacts/batch", h: h.batchContacts},
		{pattern: "POST /v3/marketing/contacts/search/emails", h: h.searchEmails},
		{pattern: "POST /v3/marketing/contacts/search/identifiers/{identifier_type}", h: h.searchIdentifiers, envelope: envBare400and404},
		{pattern: "DELETE /v3/marketing/contacts/{contact_id:uuid}/identifiers", h: h.deleteIdentifier},
		{pattern: "PUT /v3/marketing/contacts/imports", h: h.createImport},
		{pattern: "GET /v3/marketing/contacts/imports/{id}", h: h.getJob},
		{pattern: "POST /v3/marketing/contacts/search", h: h.searchContacts},
		{pattern: "POST /v3/marketing/contacts/exports", h: h.createExport},
		{pattern: "GET /v3/marketing/contacts/exports", h: h.listExports},
		{pattern: "GET /v3/marketing/contacts/exports/{id}", h: h.getExport},

		{pattern: "POST /v3/marketing/segments/2.0", h: h.createSegment2, envelope: envSegments2},
		{pattern: "GET /v3/marketing/segments/2.0", h: h.listSegments2, envelope: envSegments2},
		{pattern: "GET /v3/marketing/segments/2.0/{segment_id:uuid}", h: h.getSegment2, envelope: envSegments2},
		{pattern: "PATCH /v3/marketing/segments/2.0/{segment_id:uuid}", h: h.updateSegment2, envelope: envSegments2},
		{pattern: "DELETE /v3/marketing/segments/2.0/{segment_id:uuid}", h: h.deleteSegment2, envelope: envSegments2},
		{pattern: "POST /v3/marketing/segments/2.0/refresh/{segment_id:uuid}", h: h.refreshSegment2, envelope: envRefresh},

		{pattern: "GET /v3/marketing/segments", h: h.listSegmentsV1},
		{pattern: "GET /v3/marketing/segments/{segment_id:uuid}", h: h.getSegmentV1},
		{pattern: "DELETE /v3/marketing/segments/{segment_id:uuid}", h: h.deleteSegmentV1},
	}
	if h.opts.LegacyV1Writes {
		routes = append(routes,
			route{pattern: "POST /v3/marketing/segments", h: h.createSegmentV1},
			route{pattern: "PATCH /v3/marketing/segments/{segment_id:uuid}", h: h.updateSegmentV1},
			route{pattern: "POST /v3/marketing/segments/delete", h: h.bulkDeleteSegmentsV1},
		)
	}
	for _, rt := range routes {
		h.router.Handle(rt.pattern, h.adapt(rt))
		h.routes[rt.pattern] = rt
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.router.ServeHTTP(w, r) }

// unrouted answers a request no route takes in SendGrid's envelope, after
// authenticating it like any other: 405 with a true Allow when another
// method serves the path, 404 otherwise. A 404 for a malformed id is in
// the envelope of the route the path would be with a well-formed one, so
// that, for example, a Segments 2.0 path keeps E4's "Segment does not
// exist." and a refresh path E5.
func (h *handler) unrouted(w http.ResponseWriter, r *http.Request, u server.Unrouted) {
	h.adapt(route{envelope: h.routes[u.Near].envelope, h: func(w http.ResponseWriter, r *http.Request, _ segmentd.Account) error {
		if u.Allow != "" {
			w.Header().Set("Allow", u.Allow)
			return errMethodNotAllowed
		}
		return notFound("", msgNotFound)
	}}).ServeHTTP(w, r)
}

// adapt turns a handlerFunc into an http.Handler: it authenticates, sets the
// rate-limit headers, bounds the body, and renders any returned error, or
// panic, in the route's envelope. It is the only place errors become
// responses, and where internal errors are logged.
func (h *handler) adapt(rt route) http.Handler {
	maxBody := rt.maxBody
	if maxBody == 0 {
		maxBody = maxBodyBytes
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acct, err := h.serve(w, r, rt, maxBody)
		if err == nil {
			return
		}
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			err = segmentd.Errorf(segmentd.KindTooLarge, "", msgBodyTooLarge, humanBytes(maxBody), maxBody)
		case errors.Is(err, context.Canceled):
			return // the client went away; nobody to answer
		}
		status, body := rt.envelope.render(err)
		var limited *segmentd.RateLimitError
		if errors.As(err, &limited) {
			// The headers describe the limit that refused the request: the
			// per-minute limit, or one of the others (the segment refresh's,
			// the job backlog's), whose headers win over the per-minute
			// budget.
			setRateHeaders(w.Header(), limited.Limit, 0, limited.Reset)
		} else if w.Header().Get("X-RateLimit-Limit") == "" {
			// A panic before the request was counted (in authentication):
			// the answer still carries the headers, those of a request
			// without a valid key.
			_ = h.rate.admit(w.Header(), 0, rt.pattern)
		}
		switch status {
		case http.StatusInternalServerError:
			h.log.Error("sendgrid: internal error", "method", r.Method, "path", r.URL.Path, "account", acct, "err", err)
		case http.StatusServiceUnavailable:
			server.Unavailable(w, h.log, r, err)
		}
		writeBody(w, status, body)
	})
}

// serve runs rt's handler for an authenticated, admitted request and
// returns its error. A panic, in the handler or before it, is returned as
// an error too, so that it is answered as the route's 500 like any
// internal error.
//
// A request that names a valid key is counted against the key's budget
// for the route, whatever its answer, and past an enforced limit is
// refused before anything else is checked (its scope, On-Behalf-Of, its
// body); one without a valid key is answered 401 and counts for nothing.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, rt route, maxBody int64) (acct int64, err error) {
	defer server.Recover(&err)
	need := segmentd.ScopeSendGridWrite
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		need = segmentd.ScopeSendGridRead
	}
	p, err := h.svc.Authenticate(r.Context(), bearer(r), r.Header.Get("On-Behalf-Of"), need)
	acct = p.Account.ID
	if limited := h.rate.admit(w.Header(), p.Key.ID, rt.pattern); limited != nil {
		return acct, limited
	}
	if err != nil {
		return acct, err
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	return acct, rt.h(w, r, p.Account)
}

// bearer returns the API key of an "Authorization: Bearer <key>" header.
func bearer(r *http.Request) string {
	auth := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, key, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(key)
}

func humanBytes(n int64) string {
	if n%(1<<20) == 0 {
		return strconv.FormatInt(n>>20, 10) + " MB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}

// --- JSON in and out

// writeJSON encodes v and writes it with status. An encoding failure is a
// bug; it is answered as a 500 with nothing of v sent.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return internal("encoding response: %w", err)
	}
	writeBody(w, status, buf.Bytes())
	return nil
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// noContent answers 204, which has no body and so no Content-Type.
func noContent(w http.ResponseWriter) error {
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// readBody reads the whole (size-bounded) request body.
func readBody(r *http.Request) ([]byte, error) {
	b, err := readAll(r.Body, r.ContentLength)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, invalid("", "the request body could not be read")
	}
	return b, nil
}

// readAll reads body to its end into one slice of the size its request
// declared (n, -1 when unknown), at most maxUpsertBodyBytes, the largest a
// route takes: io.ReadAll grows its slice from 512 bytes, which for a 6 MB
// upsert took 29 allocations and about twice the body in copies, garbage the
// accepting request then paid the collector for. A body longer than it
// declared still reads whole (the route's bound stops it), growing as
// io.ReadAll would.
func readAll(body io.Reader, n int64) ([]byte, error) {
	if n < 0 || n > maxUpsertBodyBytes {
		n = 0
	}
	// One byte more than declared, so that reading the end needs no room.
	b := make([]byte, 0, n+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		m, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// decodeJSON decodes a JSON object body into v. Unknown keys are ignored,
// as SendGrid ignores them outside contact upserts. Errors name the field.
func decodeJSON(r *http.Request, v any) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	return unmarshal(b, v)
}

// checkBody refuses a body that breaks segmentd's rules for every JSON body
// (docs/decisions.md §18: syntax, repeated keys, invalid UTF-8, lone
// surrogate escapes), naming the JSON path at fault, or that is not one
// JSON object (every body SendGrid's endpoints take is one). A body
// decoded into structs (intoStructs) also refuses keys that differ only in
// case, which encoding/json would match to the same field.
func checkBody(b []byte, intoStructs bool) error {
	if len(bytes.TrimSpace(b)) == 0 {
		return invalid("", "the request body must be a JSON object")
	}
	check := jsoncheck.Check
	if intoStructs {
		check = func(b []byte) (jsoncheck.Kind, error) { return jsoncheck.CheckFolded(b) }
	}
	k, err := check(b)
	var je *jsoncheck.Error
	if errors.As(err, &je) {
		return invalid(je.Path, "%s", je.Error())
	}
	if k != jsoncheck.Object {
		return invalid("", "the request body must be a JSON object, found %s", k)
	}
	return nil
}

// unmarshal checks b (checkBody), decodes it into v, a struct, and turns
// encoding/json's errors into client-facing ones that name the offending
// field and never quote Go.
func unmarshal(b []byte, v any) error {
	if err := checkBody(b, true); err != nil {
		return err
	}
	err := json.Unmarshal(b, v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		// Field is the key's path; the wrong value may be the key's own or
		// an element of its array, so say what was found where.
		return invalid(te.Field, "%s has %s where %s is expected", te.Field, article(te.Value), jsonTypeName(te.Type.Kind().String()))
	}
	// checkBody has vouched for the syntax and the object; what is left
	// would be a value no field of v can hold.
	return invalid("", "the request body could not be decoded")
}

// article prefixes encoding/json's name of a JSON value type ("number",
// "object", "array", "string", "bool") with a or an.
func article(jsonType string) string {
	switch jsonType {
	case "object", "array":
		return "an " + jsonType
	case "bool":
		return "a boolean"
	}
	return "a " + jsonType
}

func jsonTypeName(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	case "bool":
		return "a boolean"
	case "int", "int64", "float64":
		return "a number"
	}
	return "of another type"
}

// --- URLs

// baseURL is the scheme and host that _metadata links start with.
func (h *handler) baseURL(r *http.Request) string {
	if h.opts.BaseURL != "" {
		return strings.TrimRight(h.opts.BaseURL, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// pathUUID reads a path id that must be a UUID. SendGrid documents only 404
// for a malformed id on most endpoints: an id that cannot exist is not found.
func pathUUID(r *http.Request, name, what string) (string, error) {
	id := r.PathValue(name)
	if !segmentd.IsUUID(id) {
		return "", notFound(name, "%s %s does not exist", what, segmentd.Quote(id))
	}
	return strings.ToLower(id), nil
}

// queryList reads an array query parameter in any of the forms clients
// send it: ids=a,b (sendgrid-go), ids=a&ids=b, ids[]=a&ids[]=b (axios, so
// @sendgrid/client), and ids[0]=a&ids[1]=b (qs's "indices" format, which
// some clients use), the last in the order of the indices.
func queryList(r *http.Request, name string) []string {
	q := r.URL.Query()
	values := append(q[name], q[name+"[]"]...)
	var indexed []string // keys name[<digits>]
	for k := range q {
		i, ok := strings.CutPrefix(k, name+"[")
		if !ok {
			continue
		}
		if i, ok = strings.CutSuffix(i, "]"); ok && i != "" && strings.Trim(i, "0123456789") == "" {
			indexed = append(indexed, k)
		}
	}
	// By index as a number (any length: fewer digits is smaller once
	// leading zeros are gone), then by key, so that equal indices
	// ("ids[1]", "ids[01]") keep one order.
	slices.SortFunc(indexed, func(a, b string) int {
		x, y := strings.TrimLeft(a[len(name)+1:len(a)-1], "0"), strings.TrimLeft(b[len(name)+1:len(b)-1], "0")
		return cmp.Or(cmp.Compare(len(x), len(y)), strings.Compare(x, y), strings.Compare(a, b))
	})
	for _, k := range indexed {
		values = append(values, q[k]...)
	}
	var out []string
	for _, v := range values {
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// queryBool reads a boolean query parameter (absent: def).
func queryBool(r *http.Request, name string, def bool) (bool, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, invalid(name, "%s must be true or false", name)
	}
	return b, nil
}

// timestampLayout is SendGrid's: RFC 3339, UTC, milliseconds.
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// timestamp renders a time as SendGrid does (timestampLayout).
func timestamp(t time.Time) string {
	return t.UTC().Format(timestampLayout)
}
