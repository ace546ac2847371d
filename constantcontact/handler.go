// Package constantcontact is segmentd's Constant Contact face: the V3
// segments API (/v3/segments), the segment members read
// (GET /v3/contacts?segment_id=), the account's custom fields
// (/v3/contact_custom_fields), lists (/v3/contact_lists), tags
// (/v3/contact_tags) and the activities their deletes start
// (/v3/activities), with Constant Contact's status codes,
// JSON shapes, error bodies and optional rate limits, so that code written
// against api.cc.email/v3 runs unchanged against segmentd.
//
// It turns HTTP into calls on *audience.Service and back. It must never
// import a store, SQL or the membership engine: every rule that is not
// about the wire lives in the domain package.
package constantcontact

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"path"
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
	// RateLimits turns on Constant Contact's per-key limits: PerSecond
	// requests per second and PerDay requests per day, the day ending at
	// 00:00 UTC (docs/constantcontact.md "Rate limits"). Off by default,
	// since a local stand-in rarely wants them.
	RateLimits bool
	PerSecond  int // default 4
	PerDay     int // default 10,000
	// Clock times the rate-limit windows (default: the service's clock, so
	// --dev's settable clock moves them too).
	Clock segmentd.Clock
}

// maxBodyBytes bounds a request body. The largest valid body holds a
// 20,000-character segment_criteria, which JSON escaping can grow to about
// 120 KB; segmentd's limit leaves room for that.
const maxBodyBytes = 256 << 10

// handler serves the face.
type handler struct {
	svc    *audience.Service
	log    *slog.Logger
	router *server.Router
	limit  *limiter // nil when rate limits are off
}

// handlerFunc is the shape of every endpoint: it reads ids, decodes,
// validates, calls the service and encodes, and returns an error for the
// adapter to render.
type handlerFunc func(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error

// route is one row of the routing table.
type route struct {
	pattern string
	h       handlerFunc
	// area starts the route's error keys: the path's resource root
	// ("segments", "contacts", "contact_custom_fields", …; Constant
	// Contact's "<service>.api.<kind>" style).
	area string
	// readsNoBody marks the answer to an unrouted request, which reads no
	// body and so does not check its media type.
	readsNoBody bool
	// multipart marks a route whose body is a multipart form, not JSON.
	multipart bool
	// maxBody bounds the body (default maxBodyBytes).
	maxBody int64
}

// resourceRoots are the roots of Constant Contact's V3 resources. The face
// is mounted on each (Prefixes), so that any path of Constant Contact's API
// is answered in Constant Contact's envelope, served or not
// (docs/decisions.md §14).
var resourceRoots = []string{"contacts", "contact_lists", "contact_custom_fields", "contact_tags", "segments", "emails", "reports", "account", "activities", "contact_exports"}

// Prefixes are the paths the face is mounted on: /v3/<root> and
// /v3/<root>/ for each of Constant Contact's resource roots.
func Prefixes() []string {
	var out []string
	for _, r := range resourceRoots {
		out = append(out, "/v3/"+r, "/v3/"+r+"/")
	}
	return out
}

// wildcardKinds are the kinds of value the routing table's wildcards take.
// A segment_id is an integer: a path whose segment_id is not even written
// as one (/v3/segments/search) is no route's, and is answered 404, or 405
// with the methods that serve it. Which integers name a segment (not 0,
// not 2^31) is the handler's to say.
//
// The other resources' ids are UUIDs: a path whose id is not one is no
// route's either (/v3/contacts/counts, /v3/activities/contacts_file_import:
// operations of Constant Contact's that segmentd does not serve), and is
// answered 404 as a resource segmentd does not serve.
var wildcardKinds = server.Kinds{"int": isInteger, "uuid": segmentd.IsUUID}

// isInteger reports whether s is written as an integer: an optional sign
// and digits.
func isInteger(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// NewHandler returns the Constant Contact face. It serves the routes of
// its table, and answers any other path it is given as one it does not
// serve.
func NewHandler(svc *audience.Service, log *slog.Logger, opts Options) http.Handler {
	h := &handler{svc: svc, log: log}
	h.router = server.NewRouter(wildcardKinds, h.unrouted)
	svc.SetExportFormat(audience.CCExportFileType, func(defs []segmentd.FieldDefinition, columns []string) audience.ExportFormat {
		return newCCExportFormat(defs, columns)
	})
	if opts.RateLimits {
		h.limit = newLimiter(opts)
		if h.limit.clock == nil {
			h.limit.clock = svc.Clock()
		}
	}
	routes := []route{
		{pattern: "GET /v3/segments", h: h.listSegments, area: "segments"},
		{pattern: "POST /v3/segments", h: h.createSegment, area: "segments"},
		{pattern: "GET /v3/segments/{segment_id:int}", h: h.getSegment, area: "segments"},
		{pattern: "PUT /v3/segments/{segment_id:int}", h: h.updateSegment, area: "segments"},
		{pattern: "DELETE /v3/segments/{segment_id:int}", h: h.deleteSegment, area: "segments"},
		{pattern: "PATCH /v3/segments/{segment_id:int}/name", h: h.renameSegment, area: "segments"},

		{pattern: "GET /v3/contacts", h: h.listContacts, area: "contacts"},
		{pattern: "POST /v3/contacts", h: h.createContact, area: "contacts"},
		{pattern: "POST /v3/contacts/sign_up_form", h: h.signUp, area: "contacts"},
		{pattern: "GET /v3/contacts/counts", h: h.countContacts, area: "contacts"},
		{pattern: "GET /v3/contacts/{contact_id:uuid}", h: h.getContact, area: "contacts"},
		{pattern: "PUT /v3/contacts/{contact_id:uuid}", h: h.updateContact, area: "contacts"},
		{pattern: "DELETE /v3/contacts/{contact_id:uuid}", h: h.deleteContact, area: "contacts"},

		{pattern: "GET /v3/contact_custom_fields", h: h.listCustomFields, area: "contact_custom_fields"},
		{pattern: "POST /v3/contact_custom_fields", h: h.createCustomField, area: "contact_custom_fields"},
		{pattern: "GET /v3/contact_custom_fields/{custom_field_id:uuid}", h: h.getCustomField, area: "contact_custom_fields"},
		{pattern: "PUT /v3/contact_custom_fields/{custom_field_id:uuid}", h: h.updateCustomField, area: "contact_custom_fields"},
		{pattern: "DELETE /v3/contact_custom_fields/{custom_field_id:uuid}", h: h.deleteCustomField, area: "contact_custom_fields"},

		{pattern: "GET /v3/contact_lists", h: h.listLists, area: "contact_lists"},
		{pattern: "POST /v3/contact_lists", h: h.createList, area: "contact_lists"},
		{pattern: "GET /v3/contact_lists/{list_id:uuid}", h: h.getList, area: "contact_lists"},
		{pattern: "PUT /v3/contact_lists/{list_id:uuid}", h: h.updateList, area: "contact_lists"},
		{pattern: "DELETE /v3/contact_lists/{list_id:uuid}", h: h.deleteList, area: "contact_lists"},

		{pattern: "GET /v3/contact_tags", h: h.listTags, area: "contact_tags"},
		{pattern: "POST /v3/contact_tags", h: h.createTag, area: "contact_tags"},
		{pattern: "GET /v3/contact_tags/{tag_id:uuid}", h: h.getTag, area: "contact_tags"},
		{pattern: "PUT /v3/contact_tags/{tag_id:uuid}", h: h.updateTag, area: "contact_tags"},
		{pattern: "DELETE /v3/contact_tags/{tag_id:uuid}", h: h.deleteTag, area: "contact_tags"},

		{pattern: "GET /v3/activities", h: h.listActivities, area: "activities"},
		{pattern: "GET /v3/activities/{activity_id:uuid}", h: h.getActivity, area: "activities"},
		{pattern: "POST /v3/activities/contacts_json_import", h: h.jsonImport, area: "activities", maxBody: maxImportBytes},
		{pattern: "POST /v3/activities/contacts_file_import", h: h.fileImport, area: "activities", multipart: true, maxBody: maxMultipartBytes},
		{pattern: "POST /v3/activities/add_list_memberships", h: h.addListMemberships, area: "activities"},
		{pattern: "POST /v3/activities/remove_list_memberships", h: h.removeListMemberships, area: "activities"},
		{pattern: "POST /v3/activities/contact_delete", h: h.contactDelete, area: "activities"},
		{pattern: "POST /v3/activities/list_delete", h: h.listDelete, area: "activities"},
		{pattern: "POST /v3/activities/custom_fields_delete", h: h.customFieldsDelete, area: "activities"},
		{pattern: "POST /v3/activities/contacts_taggings_add", h: h.addTaggings, area: "activities"},
		{pattern: "POST /v3/activities/contacts_taggings_remove", h: h.removeTaggings, area: "activities"},
		{pattern: "POST /v3/activities/contacts_tags_delete", h: h.tagsDelete, area: "activities"},
		{pattern: "POST /v3/activities/contact_exports", h: h.createExport, area: "activities"},
		{pattern: "GET /v3/contact_exports/{file_export_id:uuid}", h: h.getExport, area: "contact_exports"},
	}
	for _, rt := range routes {
		h.router.Handle(rt.pattern, h.adapt(rt))
	}
	return h
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.router.ServeHTTP(w, r) }

// unrouted answers a request no route takes in Constant Contact's
// envelope, after authenticating (and rate-limiting) it like any other:
// 405 with a true Allow when another method serves the path, 404
// otherwise. Its error keys start with the path's resource root
// ("emails.api.not_found").
func (h *handler) unrouted(w http.ResponseWriter, r *http.Request, u server.Unrouted) {
	h.adapt(route{area: areaOf(r.URL.Path), readsNoBody: true, h: func(w http.ResponseWriter, r *http.Request, _ segmentd.Account) error {
		if u.Allow != "" {
			w.Header().Set("Allow", u.Allow)
			return errMethodNotAllowed
		}
		return segmentd.Errorf(segmentd.KindNotFound, "", msgNoSuchResource, segmentd.Clip(r.URL.Path))
	}}).ServeHTTP(w, r)
}

// areaOf is the resource root of a path under /v3, once cleaned (the
// server hands this face a path such as /v3/./segments whose cleaned form
// is one of its roots); "contacts" when it has none, which only a face
// mounted elsewhere than Prefixes sees.
func areaOf(p string) string {
	root, _, _ := strings.Cut(strings.TrimPrefix(path.Clean(p), "/v3/"), "/")
	if slices.Contains(resourceRoots, root) {
		return root
	}
	return "contacts"
}

// adapt turns a handlerFunc into an http.Handler: it authenticates, checks
// the key's scope and rate limits, requires JSON bodies, bounds the body,
// and renders any returned error, or panic. It is the only place errors
// become responses, and where internal errors are logged.
func (h *handler) adapt(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acct, err := h.serve(w, r, rt)
		if err == nil {
			return
		}
		if errors.Is(err, context.Canceled) {
			return // the client went away; nobody to answer
		}
		status, body := errorBody(err, rt.area)
		switch status {
		case http.StatusInternalServerError:
			h.log.Error("constantcontact: internal error", "method", r.Method, "path", r.URL.Path, "account", acct, "err", err)
		case http.StatusServiceUnavailable:
			server.Unavailable(w, h.log, r, err)
		}
		writeBody(w, status, body)
	})
}

// serve runs fn for an authenticated, admitted request and returns its
// error. A panic, in fn or before it, is returned as an error too, so that
// it is answered as Constant Contact's 500 like any internal error.
func (h *handler) serve(w http.ResponseWriter, r *http.Request, rt route) (acct int64, err error) {
	defer server.Recover(&err)
	need := segmentd.ScopeConstantContactWrite
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		need = segmentd.ScopeConstantContactRead
	}
	// On-Behalf-Of acts as a subuser, with the SendGrid face's rule
	// (docs/decisions.md §15).
	p, err := h.svc.Authenticate(r.Context(), bearer(r), r.Header.Get("On-Behalf-Of"), need)
	acct = p.Account.ID
	if err == nil && h.limit != nil {
		err = h.limit.allow(p.Key.ID)
	}
	switch {
	case err != nil || rt.readsNoBody:
	case rt.multipart:
		err = requireMultipart(r)
	default:
		err = requireJSON(r)
	}
	if err != nil {
		return acct, err
	}
	limit := rt.maxBody
	if limit == 0 {
		limit = maxBodyBytes
	}
	r.Body = http.MaxBytesReader(w, r.Body, limit)
	return acct, rt.h(w, r, p.Account)
}

// requireJSON answers 415 unless a request that carries a body
// (POST, PUT, PATCH) says it is JSON, as Constant Contact's operations
// consume application/json only. A DELETE, which its operations also
// declare to consume JSON but which carries no body, may leave the header
// out; one that names another type is 415 too.
func requireJSON(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	switch r.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
	case http.MethodDelete:
		if ct == "" {
			return nil
		}
	default:
		return nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		if ct == "" {
			ct = "none"
		}
		return errUnsupportedMediaType{ct, "application/json"}
	}
	return nil
}

// bearer returns the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) string {
	auth := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, key, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(key)
}

// --- JSON in and out

// writeJSON encodes v and writes it with status. An encoding failure is a
// bug; it is answered as a 500 with nothing of v sent.
func writeJSON(w http.ResponseWriter, status int, v any) error {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		return err
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

// decodeJSON decodes a JSON object body into v. Unknown keys (the
// read-only segment_id, created_at, …) are ignored. Errors name the field.
func decodeJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return invalid("", "the request body must not exceed %d KB", mbe.Limit>>10)
		}
		return invalid("", "the request body could not be read")
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return invalid("", "the request body must be a JSON object")
	}
	// segmentd's rules for every JSON body (docs/decisions.md §18): the
	// error names the JSON path at fault. v is a struct, whose fields
	// encoding/json matches ignoring case, so keys that differ only in case
	// are repeated keys too.
	k, err := jsoncheck.CheckFolded(b)
	var je *jsoncheck.Error
	if errors.As(err, &je) {
		return invalid(je.Path, "%s", je.Error())
	}
	if k != jsoncheck.Object {
		return invalid("", "the request body must be a JSON object, found %s", k)
	}
	var te *json.UnmarshalTypeError
	switch err := json.Unmarshal(b, v); {
	case err == nil:
		return nil
	case errors.As(err, &te) && te.Field != "":
		return invalid(te.Field, "%s must be a string", te.Field)
	}
	return invalid("", "the request body could not be decoded")
}

// timestamp renders a time as Constant Contact does: ISO-8601, UTC, with
// milliseconds ("2019-04-25T11:08:00.000Z").
func timestamp(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// queryInt reads an integer query parameter in [lo, hi] (absent: def).
func queryInt(r *http.Request, name string, def, lo, hi int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, invalid(name, "%s must be a whole number from %d to %d, not %s", name, lo, hi, segmentd.Quote(v))
	}
	return n, nil
}
