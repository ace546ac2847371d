// Package console is segmentd's web console under /console/: the pages a
// person uses to build segments with live counts, look at contacts, lists
// and segments, and watch the server's jobs and webhooks (docs/console.md).
//
// The pages are server-rendered by html/template; a small script embedded
// with them (static/console.js) keeps the account's API key in the
// browser's sessionStorage, fetches each page's content with the key as a
// Bearer token, and runs the segment editor. Every number it shows comes
// from the audience.Service calls the vendors' APIs make; saving a segment
// goes through the vendors' APIs themselves.
//
// It must never import a store, SQL or the engine: it reads everything
// through audience.Service.
package console

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/metrics"
	"github.com/segmentd/segmentd/internal/ownapi"
	"github.com/segmentd/segmentd/server"
)

// Prefix is where the console lives.
const Prefix = "/console/"

// MaxBody is the largest request body the console's JSON endpoints take,
// in bytes.
const MaxBody = 64 << 10

//go:embed static templates
var files embed.FS

// csp is every answer's Content-Security-Policy: scripts and styles only
// from the console's own files (no inline script, style or event
// handler), fetches only to this server, and no framing.
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// Options configures the console.
type Options struct {
	Service *audience.Service
	Log     *slog.Logger
	// Metrics, when set, reads the counters GET /metrics exports, for the
	// server page; nil when the server keeps none (--metrics=false).
	Metrics func() ([]metrics.Family, error)
}

// NewHandler returns the console: every path under Prefix.
func NewHandler(o Options) http.Handler {
	h := &handler{Options: o, pages: template.Must(template.New("").Funcs(funcs).ParseFS(files, "templates/*.html"))}
	static, _ := fs.Sub(files, "static")
	mux := http.NewServeMux()
	mux.Handle("GET /console/static/", http.StripPrefix("/console/static/", http.FileServerFS(static)))
	// The shell: one page whose script fetches the view its path names.
	mux.HandleFunc("GET /console/{$}", h.shell)
	for _, p := range []string{"segments", "segments/new", "segments/edit", "segments/sg/{id}", "segments/cc/{id}",
		"contacts", "contacts/{id}", "lists", "server"} {
		mux.HandleFunc("GET /console/"+p, h.shell)
	}
	view := func(path string, need segmentd.Scope, fn viewFunc) {
		mux.Handle("GET /console/view/"+path, h.view(need, fn))
	}
	view("segments", segmentd.ScopeSendGridRead, h.segments)
	view("segments/sg/{id}", segmentd.ScopeSendGridRead, h.sendGridSegment)
	view("segments/cc/{id}", segmentd.ScopeConstantContactRead, h.ccSegment)
	view("editor", segmentd.ScopeSendGridRead, h.editor)
	view("contacts", segmentd.ScopeSendGridRead, h.contacts)
	view("contacts/{id}", segmentd.ScopeSendGridRead, h.contact)
	view("lists", segmentd.ScopeSendGridRead, h.lists)
	view("server", segmentd.ScopeSendGridRead, h.server)
	mux.Handle("POST /console/api/preview", h.api(segmentd.ScopeSendGridRead, h.preview))
	mux.Handle("GET /console/api/criteria-form", h.api(segmentd.ScopeConstantContactRead, h.criteriaForm))
	mux.HandleFunc("/console/", h.notFound)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", csp)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "no-referrer")
		hd.Set("Cache-Control", "no-store")
		mux.ServeHTTP(w, r)
	})
}

type handler struct {
	Options
	pages *template.Template
}

// viewFunc reads what a view shows and names the template that shows it.
type viewFunc func(r *http.Request, p audience.Principal) (tmpl string, data any, err error)

func (h *handler) shell(w http.ResponseWriter, r *http.Request) {
	h.render(w, r, http.StatusOK, "shell", nil)
}

func (h *handler) notFound(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/console/api/") {
		ownapi.WriteError(w, http.StatusNotFound, "", "no console endpoint at "+segmentd.Clip(r.Method)+" "+segmentd.Clip(r.URL.Path))
		return
	}
	h.render(w, r, http.StatusNotFound, "problem", problem{Title: "Not found", Message: "The console has no page at " + segmentd.Clip(r.URL.Path) + "."})
}

// principal authenticates the request's Bearer key (and On-Behalf-Of
// subuser, as every face reads it) for the scope need.
func (h *handler) principal(r *http.Request, need segmentd.Scope) (audience.Principal, error) {
	return h.Service.Authenticate(r.Context(), bearer(r), r.Header.Get("On-Behalf-Of"), need)
}

func bearer(r *http.Request) string {
	scheme, cred, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(cred)
}

// view adapts a viewFunc: the key is checked, the view read and rendered,
// and an error (or panic) shown as a problem fragment with its status.
func (h *handler) view(need segmentd.Scope, fn viewFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var tmpl string
		var data any
		err := func() (err error) {
			defer server.Recover(&err)
			p, err := h.principal(r, need)
			if err != nil {
				return err
			}
			tmpl, data, err = fn(r, p)
			return err
		}()
		if err != nil {
			status, msg := h.failure(r, err)
			h.render(w, r, status, "problem", problem{Title: http.StatusText(status), Message: msg, Status: status})
			return
		}
		h.render(w, r, http.StatusOK, tmpl, data)
	})
}

// api adapts a JSON endpoint: errors in segmentd's own envelope.
func (h *handler) api(need segmentd.Scope, fn func(w http.ResponseWriter, r *http.Request, p audience.Principal) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := func() (err error) {
			defer server.Recover(&err)
			p, err := h.principal(r, need)
			if err != nil {
				return err
			}
			return fn(w, r, p)
		}()
		if err != nil {
			status, msg := h.failure(r, err)
			var e *segmentd.Error
			field := ""
			if errors.As(err, &e) {
				field = e.Field
			}
			ownapi.WriteError(w, status, field, msg)
		}
	})
}

// failure is the status and message an error is answered with; internal
// errors are logged in full and answered with a generic message.
func (h *handler) failure(r *http.Request, err error) (int, string) {
	var e *segmentd.Error
	if !errors.As(err, &e) || e.Kind == segmentd.KindInternal {
		h.Log.Error("console request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		return http.StatusInternalServerError, "internal server error"
	}
	return ownapi.StatusOf(e.Kind), e.Message
}

// render executes a template into a buffer first, so that a template
// error is answered 500 rather than as half a page.
func (h *handler) render(w http.ResponseWriter, r *http.Request, status int, tmpl string, data any) {
	var b bytes.Buffer
	if err := h.pages.ExecuteTemplate(&b, tmpl, data); err != nil {
		h.Log.Error("console template failed", "template", tmpl, "path", r.URL.Path, "err", err)
		status = http.StatusInternalServerError
		b.Reset()
		b.WriteString("<p class=\"problem\">internal server error</p>")
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// problem is an error shown in place of a view.
type problem struct {
	Title, Message string
	Status         int
}
