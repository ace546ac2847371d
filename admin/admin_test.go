package admin_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/admin"
	"github.com/segmentd/segmentd/internal/facetest"
)

// client calls the admin face and checks every answer against the face's
// own OpenAPI document.
type client struct {
	t     *testing.T
	url   string
	token string
	spec  *facetest.OwnSpec
}

func newClient(t *testing.T, url, token string) *client {
	return &client{t: t, url: url, token: token, spec: facetest.LoadOwnSpec(t, admin.OpenAPI(), "#/components/schemas/Error")}
}

// do sends a request (body as is) and returns the validated answer.
func (c *client) do(method, path, body string, header ...string) facetest.Response {
	c.t.Helper()
	req, err := http.NewRequest(method, c.url+path, strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	r := facetest.Response{Request: method + " " + path, Status: resp.StatusCode, Header: resp.Header, Body: b}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		c.t.Errorf("%s: Content-Type %q, want application/json", r.Request, ct)
	}
	c.spec.Check(c.t, method, req.URL.Path, r)
	return r
}

// want fails unless r has status and its body contains every part.
func want(t *testing.T, r facetest.Response, status int, parts ...string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("%s: %d %s, want %d", r.Request, r.Status, r.Body, status)
	}
	for _, p := range parts {
		if !strings.Contains(string(r.Body), p) {
			t.Fatalf("%s: body %s, want it to hold %s", r.Request, r.Body, p)
		}
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// start serves the admin face over a real Service on SQLite.
func start(t *testing.T, token string, withClock bool) (*facetest.Env, *client) {
	e := facetest.Start(t, func(e *facetest.Env) http.Handler {
		o := admin.Options{Control: e.Svc, Token: token, Log: e.Log}
		if withClock {
			o.Clock = e.Clock
		}
		return admin.NewHandler(o)
	}, facetest.Config{})
	return e, newClient(t, e.URL, token)
}

func TestClockEndpoints(t *testing.T) {
	clock := segmentd.NewDevClock()
	var advanced []time.Time
	srv := httptest.NewServer(admin.NewHandler(admin.Options{Clock: clock, Advance: func(t time.Time) { advanced = append(advanced, t) }, Log: discard()}))
	defer srv.Close()
	c := newClient(t, srv.URL, "")
	r := c.do("POST", "/admin/clock", `{"now":"2025-02-03T04:05:06.789+01:00"}`)
	if r.Status != 200 || string(r.Body) != `{"now":"2025-02-03T03:05:06.789Z","frozen":true}` {
		t.Fatalf("set: %d %s", r.Status, r.Body)
	}
	at := time.Date(2025, 2, 3, 3, 5, 6, 789e6, time.UTC)
	if !clock.Now().Equal(at) || len(advanced) != 1 || !advanced[0].Equal(at) {
		t.Fatalf("clock %v, advanced %v; want %v", clock.Now(), advanced, at)
	}
	want(t, c.do("GET", "/admin/clock", ""), 200, "2025-02-03T03:05:06.789Z")
	want(t, c.do("POST", "/admin/clock", `{"now":"2025-02-03T00:00:00Z","run":true}`), 200, `"frozen":false`)
	if d := clock.Now().Sub(time.Date(2025, 2, 3, 0, 0, 0, 0, time.UTC)); d < 0 || d > time.Minute {
		t.Fatalf("running clock is %v past the set time", d)
	}
	want(t, c.do("DELETE", "/admin/clock", ""), 200, `"frozen":false`)
	if time.Since(clock.Now()).Abs() > time.Minute {
		t.Fatalf("reset: clock %v", clock.Now())
	}
	for _, bad := range []struct{ body, msg string }{
		{``, "JSON object"},
		{`{}`, `{\"now\"`},
		{`{"now":"yesterday"}`, "RFC 3339"},
		{`{"now":5}`, "now: must be a JSON string"},
		{`{"now":"2025-02-03T00:00:00Z","run":"yes"}`, "run: must be a JSON boolean"},
		{`{"now":"2025-02-03T00:00:00Z","later":true}`, `unknown key \"later\"`},
		{`[1]`, "JSON object"},
		{`{"now":`, "errors"},
		// A repeated key is refused, not read as its last value.
		{`{"now":"2025-02-03T00:00:00Z","now":"2030-01-01T00:00:00Z"}`, `"now: repeated key"`},
		{`{"now":"2025-02-03T00:00:00Z","Now":"2030-01-01T00:00:00Z"}`, `"Now: repeated key (it differs from an earlier key only in case)"`},
	} {
		want(t, c.do("POST", "/admin/clock", bad.body), 400, bad.msg)
	}
	want(t, c.do("POST", "/admin/clock", `{"now":"`+strings.Repeat("x", admin.MaxBody)+`"}`), 413, "larger than 4096 bytes")
	want(t, c.do("GET", "/admin/nope", ""), 404, "no admin endpoint at GET /admin/nope")
	// A served path with another method: 405 naming the methods it takes.
	r = c.do("PUT", "/admin/clock", "")
	want(t, r, 405, "PUT is not allowed on /admin/clock; use DELETE, GET, HEAD or POST")
	if allow := r.Header.Get("Allow"); allow != "DELETE, GET, HEAD, POST" {
		t.Errorf("Allow %q", allow)
	}
}

func TestAccounts(t *testing.T) {
	e, c := start(t, "", false)
	ctx := context.Background()
	// Without --dev there is no clock.
	want(t, c.do("GET", "/admin/clock", ""), 404)

	type created struct {
		Account struct {
			ID     int64   `json:"id"`
			Name   string  `json:"name"`
			Parent *string `json:"parent"`
		} `json:"account"`
		APIKey struct {
			ID     int64    `json:"id"`
			Key    string   `json:"key"`
			Scopes []string `json:"scopes"`
		} `json:"api_key"`
	}
	create := func(body string) created {
		t.Helper()
		r := c.do("POST", "/admin/accounts", body)
		want(t, r, 201)
		var out created
		r.Decode(t, &out)
		if loc := r.Header.Get("Location"); loc != "/admin/accounts/"+out.Account.Name {
			t.Errorf("Location %q", loc)
		}
		return out
	}
	acme := create(`{"name":"acme"}`)
	if acme.Account.Parent != nil || len(acme.APIKey.Scopes) != len(segmentd.AllScopes) {
		t.Fatalf("created %+v", acme)
	}
	sub := create(`{"name":"ci run 1","parent":"acme"}`)
	if sub.Account.Parent == nil || *sub.Account.Parent != "acme" {
		t.Fatalf("created subuser %+v", sub)
	}
	// The keys work at once, with every scope; the parent's acts on behalf
	// of its subuser.
	for _, k := range []struct{ key, onBehalf, acct string }{{acme.APIKey.Key, "", "acme"}, {sub.APIKey.Key, "", "ci run 1"}, {acme.APIKey.Key, "ci run 1", "ci run 1"}} {
		for _, sc := range segmentd.AllScopes {
			p, err := e.Svc.Authenticate(ctx, k.key, k.onBehalf, sc)
			if err != nil || p.Account.Name != k.acct {
				t.Fatalf("key of %s (on behalf of %q) with %s: %+v, %v", k.acct, k.onBehalf, sc, p.Account, err)
			}
		}
	}
	r := c.do("GET", "/admin/accounts", "")
	want(t, r, 200)
	var list struct {
		Accounts []struct {
			Name   string  `json:"name"`
			Parent *string `json:"parent"`
		} `json:"accounts"`
	}
	r.Decode(t, &list)
	var names []string
	for _, a := range list.Accounts {
		p := ""
		if a.Parent != nil {
			p = "<" + *a.Parent
		}
		names = append(names, a.Name+p)
	}
	if got := strings.Join(names, ","); got != "default,acme,ci run 1<acme" {
		t.Fatalf("accounts %s", got)
	}

	// Every way a create is refused.
	long := strings.Repeat("n", 65)
	for _, bad := range []struct {
		body   string
		status int
		msg    string
	}{
		{``, 400, "JSON object"},
		{`{}`, 400, `"field":"name","message":"name is required"`},
		{`{"name":""}`, 400, "account name is required"},
		{`{"name":"` + long + `"}`, 400, "longer than 64 characters"},
		{`{"name":" x"}`, 400, "white space"},
		{`{"name":"account-id 3"}`, 400, "account id"},
		{`{"name":"a\u0001b"}`, 400, `"field":"name"`},
		{`{"name":7}`, 400, "name: must be a JSON string"},
		{`{"name":"x","parent":""}`, 400, `"field":"parent"`},
		{`{"name":"x","parent":"nobody"}`, 404, `parent account \"nobody\" does not exist`},
		{`{"name":"x","plan":"pro"}`, 400, `unknown key \"plan\"`},
		{`{"name":"x","name":"y"}`, 400, "repeated key"},
		{`{"name":"acme"}`, 409, `an account named \"acme\" already exists`},
		{`{"name":"` + strings.Repeat("x", admin.MaxBody) + `"}`, 413, "larger than 4096 bytes"},
	} {
		want(t, c.do("POST", "/admin/accounts", bad.body), bad.status, bad.msg)
	}
	if accts, _ := e.Svc.Accounts(ctx); len(accts) != 3 {
		t.Fatalf("refused creates left %d accounts, want 3", len(accts))
	}

	// Reset: the data goes, the key stays.
	acct := sub.Account.ID
	f, err := e.Svc.CreateField(ctx, acct, "plan", segmentd.FieldText)
	if err != nil {
		t.Fatal(err)
	}
	job, err := e.Svc.UpsertContacts(ctx, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("ada@example.com")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	facetest.WaitJob(t, e.Svc, acct, job)
	path := "/admin/accounts/" + url.PathEscape("ci run 1")
	want(t, c.do("POST", path+"/reset", `{"x":1}`), 400, `unknown key \"x\"`)
	want(t, c.do("POST", path+"/reset", strings.Repeat(" ", admin.MaxBody+1)), 413)
	want(t, c.do("POST", path+"/reset", ""), 200, `"reset":{"id":`, `"parent":"acme"`)
	want(t, c.do("POST", path+"/reset", "{}"), 200)
	if n, _ := e.Svc.CountContacts(ctx, acct); n != 0 {
		t.Fatalf("contacts after the reset: %d", n)
	}
	if fs, err := e.Svc.FieldDefinitions(ctx, acct); err != nil || len(fs) != 0 {
		t.Fatalf("fields after the reset (%s was one): %+v, %v", f.ID, fs, err)
	}
	if _, err := e.Svc.Job(ctx, acct, job); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("job after the reset: %v", err)
	}
	if _, err := e.Svc.Authenticate(ctx, sub.APIKey.Key, "", segmentd.ScopeSendGridRead); err != nil {
		t.Fatalf("the key after the reset: %v", err)
	}
	want(t, c.do("POST", "/admin/accounts/nobody/reset", ""), 404, `account \"nobody\" does not exist`)

	// Delete: refused while a subuser exists; the key goes with the account.
	want(t, c.do("DELETE", "/admin/accounts/acme", ""), 409, "subusers", `\"ci run 1\"`)
	want(t, c.do("DELETE", path, ""), 200, `"deleted":{"id":`, `"name":"ci run 1"`)
	if _, err := e.Svc.Authenticate(ctx, sub.APIKey.Key, "", segmentd.ScopeSendGridRead); segmentd.ErrorKindOf(err) != segmentd.KindUnauthorized {
		t.Fatalf("the deleted account's key: %v, want unauthorized", err)
	}
	want(t, c.do("DELETE", path, ""), 404)
	want(t, c.do("DELETE", "/admin/accounts/acme", ""), 200, `"parent":null`)
	// The name is free again.
	create(`{"name":"acme"}`)

	// Methods a path does not take.
	for _, m := range []struct{ method, path, allow string }{
		{"PUT", "/admin/accounts", "GET, HEAD, POST"},
		{"GET", "/admin/accounts/acme/reset", "POST"},
		{"GET", "/admin/accounts/acme", "DELETE"},
		{"POST", "/admin/openapi.json", "GET, HEAD"},
	} {
		r := c.do(m.method, m.path, "")
		want(t, r, 405, m.method+" is not allowed on "+m.path)
		if got := r.Header.Get("Allow"); got != m.allow {
			t.Errorf("%s %s: Allow %q, want %q", m.method, m.path, got, m.allow)
		}
	}
}

// failing is a control plane whose every call fails with err.
type failing struct{ err error }

func (f failing) Accounts(context.Context) ([]segmentd.Account, error) { return nil, f.err }
func (f failing) CreateAccountWithKey(context.Context, string, string) (segmentd.Account, string, segmentd.APIKey, error) {
	return segmentd.Account{}, "", segmentd.APIKey{}, f.err
}
func (f failing) ResetAccount(context.Context, string) (segmentd.Account, error) {
	return segmentd.Account{}, f.err
}
func (f failing) DeleteAccount(context.Context, string) (segmentd.Account, error) {
	if f.err == nil {
		panic("a bug")
	}
	return segmentd.Account{}, f.err
}

// TestFailures: an internal error (or a panic) is a generic 500, logged; an
// unreachable store 503.
func TestFailures(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		msg    string
	}{
		{errors.New("disk on fire"), 500, `"message":"internal server error"`},
		{segmentd.Errorf(segmentd.KindUnavailable, "", "the store cannot be reached"), 503, "cannot be reached"},
	} {
		logs := &facetest.Logs{}
		srv := httptest.NewServer(admin.NewHandler(admin.Options{Control: failing{tc.err}, Log: slog.New(slog.NewTextHandler(logs, nil))}))
		c := newClient(t, srv.URL, "")
		for _, call := range [][2]string{{"GET", "/admin/accounts"}, {"POST", "/admin/accounts"}, {"POST", "/admin/accounts/a/reset"}, {"DELETE", "/admin/accounts/a"}} {
			body := ""
			if call[1] == "/admin/accounts" && call[0] == "POST" {
				body = `{"name":"a"}`
			}
			r := c.do(call[0], call[1], body)
			want(t, r, tc.status, tc.msg)
			if strings.Contains(string(r.Body), "fire") {
				t.Errorf("%s: the internal error reached the client: %s", r.Request, r.Body)
			}
		}
		if tc.status == 500 && !strings.Contains(logs.String(), "disk on fire") {
			t.Errorf("the internal error was not logged: %s", logs.String())
		}
		srv.Close()
	}
	logs := &facetest.Logs{}
	srv := httptest.NewServer(admin.NewHandler(admin.Options{Control: failing{}, Log: slog.New(slog.NewTextHandler(logs, nil))}))
	defer srv.Close()
	want(t, newClient(t, srv.URL, "").do("DELETE", "/admin/accounts/a", ""), 500, "internal server error")
	if !strings.Contains(logs.String(), "a bug") {
		t.Errorf("the panic was not logged: %s", logs.String())
	}
}

// TestToken: with a token, every call needs it, unknown paths and the
// document included; without it or with another, 401.
func TestToken(t *testing.T) {
	const token = "s3cret-token"
	_, good := start(t, token, true)
	none := newClient(t, good.url, "")
	wrong := newClient(t, good.url, token+"x")
	for _, call := range [][2]string{
		{"GET", "/admin/accounts"}, {"POST", "/admin/accounts"}, {"POST", "/admin/accounts/default/reset"}, {"DELETE", "/admin/accounts/default"},
		{"GET", "/admin/clock"}, {"POST", "/admin/clock"}, {"DELETE", "/admin/clock"}, {"GET", "/admin/openapi.json"}, {"GET", "/admin/nope"}, {"PUT", "/admin/clock"},
	} {
		r := none.do(call[0], call[1], "")
		want(t, r, 401, "requires its admin token")
		if h := r.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q", r.Request, h)
		}
		want(t, wrong.do(call[0], call[1], ""), 401, "the admin token is wrong")
		want(t, none.do(call[0], call[1], "", "Authorization", "Basic "+token), 401)
		want(t, none.do(call[0], call[1], "", "Authorization", "Bearer"), 401)
	}
	want(t, good.do("GET", "/admin/accounts", ""), 200, `"name":"default"`)
	want(t, good.do("GET", "/admin/clock", ""), 200)
	want(t, good.do("POST", "/admin/accounts", `{"name":"t"}`), 201)
	want(t, good.do("GET", "/admin/nope", ""), 404)
	// The scheme is case-insensitive (RFC 9110).
	want(t, none.do("GET", "/admin/accounts", "", "Authorization", "bearer "+token), 200)
}

// TestOpenAPIDocument: the face serves its document, and every operation
// in it is served (no 404 or 405 for what it describes).
func TestOpenAPIDocument(t *testing.T) {
	_, c := start(t, "", true)
	r := c.do("GET", "/admin/openapi.json", "")
	want(t, r, 200)
	if string(r.Body) != string(admin.OpenAPI()) {
		t.Fatal("GET /admin/openapi.json is not the embedded document")
	}
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	r.Decode(t, &doc)
	var ops []string
	for path, methods := range doc.Paths {
		for m := range methods {
			ops = append(ops, strings.ToUpper(m)+" "+strings.ReplaceAll(path, "{name}", "default"))
		}
	}
	sort.Strings(ops)
	if len(ops) != 8 {
		t.Fatalf("the document has %d operations, want 8: %v", len(ops), ops)
	}
	for _, op := range ops {
		method, path, _ := strings.Cut(op, " ")
		if method == "DELETE" && strings.HasPrefix(path, "/admin/accounts/") {
			// Its own test deletes; here only that it is routed.
			path = "/admin/accounts/nobody"
		}
		r := c.do(method, path, "")
		if r.Status == 404 && strings.Contains(string(r.Body), "no admin endpoint") || r.Status == 405 {
			t.Errorf("%s: %d %s: the document describes it, the face does not serve it", op, r.Status, r.Body)
		}
	}
}
