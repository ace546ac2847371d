package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/segmentd/segmentd/admin"
	"github.com/segmentd/segmentd/internal/facetest"
)

// adminClient calls a server's admin face with a token, checking every
// answer against the face's OpenAPI document.
type adminClient struct {
	t     *testing.T
	url   string
	token string
	spec  *facetest.OwnSpec
}

func newAdminClient(t *testing.T, s liveServer, token string) adminClient {
	return adminClient{t: t, url: s.url, token: token, spec: facetest.LoadOwnSpec(t, admin.OpenAPI(), "#/components/schemas/Error")}
}

func (c adminClient) do(method, path, body string, want int) map[string]any {
	c.t.Helper()
	key := c.token
	r, err := facetest.Send(c.url, "", facetest.Request{Method: method, Path: path, Body: body, Key: &key})
	if err != nil {
		c.t.Fatal(err)
	}
	c.spec.Check(c.t, method, strings.SplitN(path, "?", 2)[0], r)
	if r.Status != want {
		c.t.Fatalf("%s %s: %d %s, want %d", method, path, r.Status, r.Body, want)
	}
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		c.t.Fatalf("%s %s: %v: %s", method, path, err, r.Body)
	}
	return m
}

// createAccount creates an account through the admin face and returns its
// key.
func (c adminClient) createAccount(body string) string {
	c.t.Helper()
	return c.do("POST", "/admin/accounts", body, 201)["api_key"].(map[string]any)["key"].(string)
}

// TestControlPlaneThroughTheBinary drives the real binary with an admin
// token on every store: calls without it are refused; an account made
// through the control plane serves sendgrid-go at once; a reset empties it
// and keeps its key; a delete refuses its key.
func TestControlPlaneThroughTheBinary(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		const token = "admin-token-for-tests"
		s, _ := st.start(t, bin, "SG.control-plane-bootstrap", "--admin-token", token)
		anon := newAdminClient(t, s, "")
		anon.do("GET", "/admin/accounts", "", 401)
		newAdminClient(t, s, "nope").do("POST", "/admin/accounts", `{"name":"x"}`, 401)
		c := newAdminClient(t, s, token)
		// Without --dev: no clock.
		c.do("GET", "/admin/clock", "", 404)

		key := c.createAccount(`{"name":"ci-1"}`)
		s.key = key // jobs are polled with it
		mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0", `{"name":"US","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"}`, 201)
		runJob(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"ada@example.com","country":"US"},{"email":"bob@example.com","country":"US"}]}`)
		if n := mustCall(t, s, key, "GET", "/v3/marketing/contacts/count", "", 200)["contact_count"]; n != float64(2) {
			t.Fatalf("contact count before the reset = %v", n)
		}
		c.do("POST", "/admin/accounts/ci-1/reset", "", 200)
		if n := mustCall(t, s, key, "GET", "/v3/marketing/contacts/count", "", 200)["contact_count"]; n != float64(0) {
			t.Fatalf("contact count after the reset = %v", n)
		}
		if segs := mustCall(t, s, key, "GET", "/v3/marketing/segments/2.0", "", 200)["results"].([]any); len(segs) != 0 {
			t.Fatalf("segments after the reset: %v", segs)
		}
		if got := mustCall(t, s, key, "POST", "/v3/marketing/contacts/search", `{"query":"country = 'US'"}`, 200)["contact_count"]; got != float64(0) {
			t.Fatalf("search after the reset counts %v", got)
		}
		runJob(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"cy@example.com","country":"US"}]}`)
		if got := mustCall(t, s, key, "POST", "/v3/marketing/contacts/search", `{"query":"country = 'US'"}`, 200)["contact_count"]; got != float64(1) {
			t.Fatalf("search after the reset and a new contact counts %v", got)
		}
		list := c.do("GET", "/admin/accounts", "", 200)["accounts"].([]any)
		if len(list) != 2 {
			t.Fatalf("accounts: %v", list)
		}
		c.do("DELETE", "/admin/accounts/ci-1", "", 200)
		if code, body := call(t, s, key, "GET", "/v3/marketing/contacts/count", ""); code != 401 {
			t.Fatalf("the deleted account's key: %d %s, want 401", code, body)
		}
	})
}

// TestControlPlaneMountedWithDevOrToken: without --dev or a token /admin/
// is not served; the token's environment twin works; --dev alone serves
// accounts and the clock without a token.
func TestControlPlaneMountedWithDevOrToken(t *testing.T) {
	plain, _ := startInProcess(t, []string{"--addr", "127.0.0.1:0", "--data", t.TempDir()}, nil)
	for _, p := range []string{"/admin/accounts", "/admin/openapi.json"} {
		resp, err := http.Get(plain.url + p)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("GET %s without --dev or a token: %d %s, want 404", p, resp.StatusCode, b)
		}
	}
	env, _ := startInProcess(t, []string{"--addr", "127.0.0.1:0", "--data", t.TempDir()}, []string{"SEGMENTD_ADMIN_TOKEN=from-env"})
	newAdminClient(t, env, "").do("GET", "/admin/accounts", "", 401)
	newAdminClient(t, env, "from-env").do("GET", "/admin/accounts", "", 200)
	dev, _ := startInProcess(t, []string{"--addr", "127.0.0.1:0", "--data", t.TempDir(), "--dev"}, nil)
	c := newAdminClient(t, dev, "")
	c.do("GET", "/admin/clock", "", 200)
	key := c.createAccount(`{"name":"dev-run"}`)
	mustCall(t, dev, key, "GET", "/v3/marketing/lists", "", 200)
	for _, bad := range []struct{ args []string }{
		{[]string{"--admin-token", "two words"}},
		{[]string{"--admin-token", strings.Repeat("x", maxAdminToken+1)}},
	} {
		if _, err := parseConfig("serve", bad.args, nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "--admin-token") {
			t.Errorf("parseConfig(%q) = %v, want an --admin-token error", bad.args, err)
		}
	}
}

// TestKeysListAndRevoke: keys list shows every key (or one account's), and
// keys revoke refuses a key at once on a server already running, on every
// store.
func TestKeysListAndRevoke(t *testing.T) {
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		cli := func(args ...string) (string, error) {
			var out strings.Builder
			err := run(context.Background(), append(append(args, "--data", st.dir), st.args()...), nil, nil, &out, io.Discard)
			return out.String(), err
		}
		must := func(args ...string) string {
			t.Helper()
			out, err := cli(args...)
			if err != nil {
				t.Fatalf("segmentd %s: %v", strings.Join(args, " "), err)
			}
			return out
		}
		must("accounts", "create", "acme")
		keyLine := func(out string) (id, secret string) {
			t.Helper()
			m := regexp.MustCompile(`created key (\d+) `).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("keys create: %q", out)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			return m[1], lines[len(lines)-1]
		}
		defID, defKey := keyLine(must("keys", "create"))
		acmeID, acmeKey := keyLine(must("keys", "create", "--account", "acme", "--name", "ci", "--scopes", "sendgrid.read"))

		s, _ := startInProcess(t, append([]string{"--addr", "127.0.0.1:0", "--data", st.dir}, st.args()...), nil)
		for _, k := range []string{defKey, acmeKey} {
			mustCall(t, s, k, "GET", "/v3/marketing/lists", "", 200)
		}
		all := must("keys", "list")
		lines := strings.Split(strings.TrimSpace(all), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") ||
			!strings.HasPrefix(lines[1], defID+" ") || !strings.Contains(lines[1], `"default"`) ||
			!strings.HasPrefix(lines[2], acmeID+" ") || !strings.Contains(lines[2], `"acme"`) || !strings.Contains(lines[2], "sendgrid.read ") || !strings.Contains(lines[2], `"ci"`) {
			t.Fatalf("keys list:\n%s", all)
		}
		if strings.Contains(all, acmeKey) || strings.Contains(all, defKey) {
			t.Fatalf("keys list shows a secret:\n%s", all)
		}
		if one := strings.Split(strings.TrimSpace(must("keys", "list", "--account", "acme")), "\n"); len(one) != 2 || !strings.HasPrefix(one[1], acmeID+" ") {
			t.Fatalf("keys list --account acme: %q", one)
		}
		if _, err := cli("keys", "list", "--account", "nobody"); err == nil || !strings.Contains(err.Error(), `"nobody" does not exist`) {
			t.Fatalf("keys list of an unknown account: %v", err)
		}

		if out := must("keys", "revoke", acmeID); !strings.Contains(out, "revoked key "+acmeID) {
			t.Fatalf("keys revoke: %q", out)
		}
		if code, body := call(t, s, acmeKey, "GET", "/v3/marketing/lists", ""); code != 401 {
			t.Fatalf("a revoked key on the running server: %d %s, want 401", code, body)
		}
		mustCall(t, s, defKey, "GET", "/v3/marketing/lists", "", 200)
		for _, bad := range []struct{ arg, msg string }{
			{acmeID, "does not exist"}, {"0", "want a key id"}, {"x", "want a key id"}, {"", "want a key id"},
		} {
			args := []string{"keys", "revoke"}
			if bad.arg != "" {
				args = append(args, bad.arg)
			}
			if _, err := cli(args...); err == nil || !strings.Contains(err.Error(), bad.msg) {
				t.Errorf("keys revoke %q: %v, want %q", bad.arg, err, bad.msg)
			}
		}
	})
}

// TestControlPlaneAcrossServers drives two real binaries over one
// PostgreSQL (and Citus) database: an account reset on one server is
// empty in the other's engine (its searches and counts), takes new data
// on both, and once deleted on one its key is refused by both.
func TestControlPlaneAcrossServers(t *testing.T) {
	bin := realBinary(t)
	eachDatabase(t, func(t *testing.T, st storeUnderTest) {
		const token = "shared-admin-token"
		a, _ := st.start(t, bin, "SG.across-bootstrap", "--admin-token", token)
		b, _ := startBinary(t, bin, t.TempDir(), "SG.across-bootstrap", append(st.args(), "--admin-token", token)...)
		key := newAdminClient(t, a, token).createAccount(`{"name":"shared-ci"}`)
		a.key, b.key = key, key
		const us = `{"query":"country = 'US'"}`
		searchCount := func(s liveServer) any {
			return mustCall(t, s, key, "POST", "/v3/marketing/contacts/search", us, 200)["contact_count"]
		}
		mustCall(t, b, key, "POST", "/v3/marketing/segments/2.0", `{"name":"US","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"}`, 201)
		runJob(t, b, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"ada@example.com","country":"US"},{"email":"bob@example.com","country":"US"}]}`)
		facetest.Poll(t, "A counts B's contacts", func() bool { return searchCount(a) == float64(2) })

		newAdminClient(t, a, token).do("POST", "/admin/accounts/shared-ci/reset", "", 200)
		if got := searchCount(a); got != float64(0) {
			t.Fatalf("A's search after its reset = %v", got)
		}
		facetest.Poll(t, "B's engine drops the reset account", func() bool { return searchCount(b) == float64(0) })
		if segs := mustCall(t, b, key, "GET", "/v3/marketing/segments/2.0", "", 200)["results"].([]any); len(segs) != 0 {
			t.Fatalf("B lists segments after the reset: %v", segs)
		}

		seg := mustCall(t, a, key, "POST", "/v3/marketing/segments/2.0", `{"name":"US","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"}`, 201)["id"].(string)
		runJob(t, b, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"cy@example.com","country":"US"}]}`)
		facetest.Poll(t, "A counts what B wrote after the reset", func() bool {
			return mustCall(t, a, key, "GET", "/v3/marketing/segments/2.0/"+seg, "", 200)["contacts_count"] == float64(1)
		})

		newAdminClient(t, b, token).do("DELETE", "/admin/accounts/shared-ci", "", 200)
		for _, s := range []liveServer{a, b} {
			if code, body := call(t, s, key, "POST", "/v3/marketing/contacts/search", us); code != 401 {
				t.Fatalf("the deleted account's key on %s: %d %s, want 401", s.url, code, body)
			}
		}
	})
}
