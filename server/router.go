package server

import (
	"fmt"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strings"
)

// Router is a face's routing table: "METHOD /path/{name:kind}" patterns on
// an http.ServeMux, each wildcard declaring the kind of value it takes.
// ServeMux lets a wildcard take any segment, so that
// "GET /v3/marketing/contacts/{id}" would take /v3/marketing/contacts/imports
// and answer a PUT there 405 with "Allow: GET". A Router instead treats a
// request whose wildcard value is not of its kind as one no route takes,
// and hands it to the face's unrouted function with the methods that
// really serve its path, so that the face answers 404, or 405 with a true
// Allow, in its own envelope.
//
// Patterns are a method, a space and a path of literal segments and
// {name} or {name:kind} wildcards; a wildcard with no kind takes any
// segment. Trailing-slash, {name...} and {$} patterns are not supported.
type Router struct {
	mux      *http.ServeMux
	kinds    Kinds
	unrouted func(http.ResponseWriter, *http.Request, Unrouted)
	routes   []*pattern // in registration order
	byText   map[string]*pattern
}

// Kinds names the kinds of value a wildcard may declare: each reports
// whether a path segment (unescaped) is of its kind.
type Kinds map[string]func(string) bool

// Unrouted says why no route took a request.
type Unrouted struct {
	// Allow lists the methods of the routes that serve the request's path,
	// in an Allow header's form ("GET, HEAD, POST"); "" when none does, and
	// the answer is 404.
	Allow string
	// Near is the route of the request's method whose path pattern fits
	// the request's path but one of whose wildcards refused its value
	// (a malformed id); "" when there is none. A face may answer in that
	// route's envelope.
	Near string
}

// NewRouter returns an empty table whose wildcards may declare kinds, and
// which answers requests that no route takes with unrouted.
func NewRouter(kinds Kinds, unrouted func(http.ResponseWriter, *http.Request, Unrouted)) *Router {
	return &Router{mux: http.NewServeMux(), kinds: kinds, unrouted: unrouted, byText: map[string]*pattern{}}
}

// pattern is one route as the Router checks it.
type pattern struct {
	text   string // as given, kinds included
	method string
	segs   []segment
}

// segment is one path segment of a pattern: a literal, or a wildcard
// taking the values accept reports (any when nil).
type segment struct {
	literal  string
	wildcard bool
	accept   func(string) bool
}

// Handle adds a route. The handler is served under the pattern without
// its kinds, so r.PathValue works as usual. An unsupported pattern or an
// unknown kind is a programming error and panics.
func (rt *Router) Handle(text string, h http.Handler) {
	p, muxPattern, err := rt.parse(text)
	if err != nil {
		panic(fmt.Sprintf("server.Router: pattern %q: %v", text, err))
	}
	rt.mux.Handle(muxPattern, h)
	rt.routes = append(rt.routes, p)
	rt.byText[muxPattern] = p
}

func (rt *Router) parse(text string) (*pattern, string, error) {
	method, p, ok := strings.Cut(text, " ")
	if !ok || method == "" || !strings.HasPrefix(p, "/") {
		return nil, "", fmt.Errorf("want a method, a space and a path")
	}
	pt := &pattern{text: text, method: method}
	var mux []string
	for _, s := range strings.Split(p[1:], "/") {
		name, isWild := strings.CutPrefix(s, "{")
		if !isWild {
			if s == "" || strings.ContainsAny(s, "{}") {
				return nil, "", fmt.Errorf("segment %q is not supported", s)
			}
			pt.segs = append(pt.segs, segment{literal: s})
			mux = append(mux, s)
			continue
		}
		name, ok := strings.CutSuffix(name, "}")
		if !ok || name == "" || strings.HasSuffix(name, "...") || name == "$" {
			return nil, "", fmt.Errorf("wildcard %q is not supported", s)
		}
		seg := segment{wildcard: true}
		if n, kind, hasKind := strings.Cut(name, ":"); hasKind {
			if seg.accept = rt.kinds[kind]; seg.accept == nil {
				return nil, "", fmt.Errorf("unknown kind %q", kind)
			}
			name = n
		}
		pt.segs = append(pt.segs, seg)
		mux = append(mux, "{"+name+"}")
	}
	return pt, method + " /" + strings.Join(mux, "/"), nil
}

// ServeHTTP serves r with the route that takes it, or hands it to the
// unrouted function.
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if u, routed := rt.Match(r); !routed {
		recordRoute(r, "unrouted")
		rt.unrouted(w, r, u)
		return
	}
	// ServeMux sets r.Pattern (the route without its kinds) before it
	// calls the route's handler; deferred, so that a panic is counted too.
	defer func() { recordRoute(r, r.Pattern) }()
	rt.mux.ServeHTTP(w, r)
}

// Match tells whether a route takes r and, when none does, why.
func (rt *Router) Match(r *http.Request) (u Unrouted, routed bool) {
	if !cleanPath(r.URL.EscapedPath()) {
		return Unrouted{}, false // a 404 where ServeMux would redirect (see New)
	}
	segs := requestSegments(r)
	// ServeMux picks the route (the most specific pattern, HEAD served by
	// GET); the Router only vetoes it when a wildcard refuses its value.
	if _, text := rt.mux.Handler(r); text != "" {
		if rt.byText[text].fits(segs) == fitAccepted {
			return Unrouted{}, true
		}
	}
	allowed := map[string]bool{}
	for _, p := range rt.routes {
		switch p.fits(segs) {
		case fitAccepted:
			allowed[p.method] = true
		case fitRefused:
			if u.Near == "" && (p.method == r.Method || p.method == http.MethodGet && r.Method == http.MethodHead) {
				u.Near = p.text
			}
		}
	}
	if allowed[http.MethodGet] {
		allowed[http.MethodHead] = true
	}
	methods := make([]string, 0, len(allowed))
	for m := range allowed {
		methods = append(methods, m)
	}
	slices.Sort(methods)
	u.Allow = strings.Join(methods, ", ")
	return u, false
}

// requestSegments splits r's path into unescaped segments, as ServeMux
// matches them: after cleaning, so that a path ServeMux redirects is
// checked as the path it redirects to.
func requestSegments(r *http.Request) []string {
	p := r.URL.EscapedPath()
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	segs := strings.Split(strings.TrimPrefix(clean, "/"), "/")
	for i, s := range segs {
		if u, err := url.PathUnescape(s); err == nil {
			segs[i] = u
		}
	}
	return segs
}

type fit int

const (
	fitNone     fit = iota // the path does not have the pattern's shape
	fitRefused             // it has, but a wildcard refuses its value
	fitAccepted            // the route serves the path (with its method)
)

func (p *pattern) fits(segs []string) fit {
	if len(segs) != len(p.segs) {
		return fitNone
	}
	refused := false
	for i, s := range p.segs {
		switch {
		case !s.wildcard:
			if segs[i] != s.literal {
				return fitNone
			}
		case segs[i] == "":
			return fitNone
		case s.accept != nil && !s.accept(segs[i]):
			refused = true
		}
	}
	if refused {
		return fitRefused
	}
	return fitAccepted
}

// cleanPath reports whether p is its own cleaned form (a trailing slash
// kept): no empty, "." or ".." segment.
func cleanPath(p string) bool {
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean == p
}
