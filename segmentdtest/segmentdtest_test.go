package segmentdtest_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sendgrid/rest"
	"github.com/sendgrid/sendgrid-go"

	"github.com/segmentd/segmentd/segmentdtest"
)

// sg calls segmentd through the official sendgrid-go client, as a suite
// written against SendGrid does, and decodes the JSON answer.
func sg(t *testing.T, base, key, method, path, body string, want int) map[string]any {
	t.Helper()
	req := sendgrid.GetRequest(key, path, base)
	req.Method = rest.Method(method)
	if body != "" {
		req.Body = []byte(body)
	}
	resp, err := sendgrid.MakeRequest(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, resp.Body, want)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &m); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, resp.Body)
	}
	return m
}

// upsert upserts contacts and waits for SendGrid's job to complete.
func upsert(t *testing.T, base, key, contacts string) {
	t.Helper()
	job := sg(t, base, key, "PUT", "/v3/marketing/contacts", `{"contacts":`+contacts+`}`, 202)["job_id"].(string)
	deadline := time.Now().Add(time.Minute)
	for {
		status := sg(t, base, key, "GET", "/v3/marketing/contacts/imports/"+job, "", 200)["status"]
		if status == "completed" {
			return
		}
		if status != "pending" || time.Now().After(deadline) {
			t.Fatalf("job %s: %v", job, status)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// firstNames reads contacts back by email: their first names.
func firstNames(t *testing.T, base, key string, emails ...string) map[string]string {
	t.Helper()
	q, _ := json.Marshal(map[string][]string{"emails": emails})
	res := sg(t, base, key, "POST", "/v3/marketing/contacts/search/emails", string(q), 200)["result"].(map[string]any)
	out := map[string]string{}
	for e, r := range res {
		if c, ok := r.(map[string]any)["contact"].(map[string]any); ok {
			out[e] = c["first_name"].(string)
		}
	}
	return out
}

// TestWithSendGridGo is the example: a segmentd in the test, and the
// official client upserting contacts and reading them back.
func TestWithSendGridGo(t *testing.T) {
	srv := segmentdtest.Start(t)

	upsert(t, srv.URL, srv.Key, `[{"email":"ada@example.com","first_name":"Ada"},{"email":"grace@example.com","first_name":"Grace"}]`)
	got := firstNames(t, srv.URL, srv.Key, "ada@example.com", "grace@example.com")
	if got["ada@example.com"] != "Ada" || got["grace@example.com"] != "Grace" {
		t.Fatalf("read back %v", got)
	}
	if n := sg(t, srv.URL, srv.Key, "GET", "/v3/marketing/contacts/count", "", 200)["contact_count"]; n != float64(2) {
		t.Fatalf("contact_count = %v, want 2", n)
	}
}

// TestParallelTestsOwnAccounts: two tests running in parallel on one
// server, each in its own account made through the control plane, write
// the same address and never see each other's; their accounts go when
// they end.
func TestParallelTestsOwnAccounts(t *testing.T) {
	srv := segmentdtest.Start(t)
	var mu sync.Mutex
	names := map[string]string{}
	t.Run("group", func(t *testing.T) {
		for _, who := range []string{"Ada", "Grace"} {
			t.Run(who, func(t *testing.T) {
				t.Parallel()
				acct := srv.NewAccount(t)
				mu.Lock()
				names[who] = acct.Name
				mu.Unlock()
				for i := range 5 {
					upsert(t, srv.URL, acct.Key, fmt.Sprintf(`[{"email":"same@example.com","first_name":"%s"},{"email":"%s-%d@example.com"}]`, who, strings.ToLower(who), i))
					if got := firstNames(t, srv.URL, acct.Key, "same@example.com")["same@example.com"]; got != who {
						t.Fatalf("%s's account reads first_name %q", who, got)
					}
				}
				if n := sg(t, srv.URL, acct.Key, "GET", "/v3/marketing/contacts/count", "", 200)["contact_count"]; n != float64(6) {
					t.Fatalf("%s's account counts %v contacts, want 6", who, n)
				}
				// The server's own key sees neither (SendGrid: 404).
				sg(t, srv.URL, srv.Key, "POST", "/v3/marketing/contacts/search/emails", `{"emails":["same@example.com"]}`, 404)
			})
		}
	})
	if names["Ada"] == names["Grace"] || !strings.HasPrefix(names["Ada"], "TestParallelTestsOwnAccounts/group/Ada-") {
		t.Fatalf("account names %v", names)
	}
	resp, err := http.Get(srv.URL + "/admin/accounts")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var list struct {
		Accounts []struct {
			Name string `json:"name"`
		} `json:"accounts"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		t.Fatal(err)
	}
	if len(list.Accounts) != 1 || list.Accounts[0].Name != "default" {
		t.Fatalf("accounts after the tests ended: %+v, want only default", list.Accounts)
	}
}

// TestResetAccount: a test empties its account and keeps using its key.
func TestResetAccount(t *testing.T) {
	srv := segmentdtest.Start(t)
	acct := srv.NewAccount(t)
	upsert(t, srv.URL, acct.Key, `[{"email":"ada@example.com"}]`)
	srv.ResetAccount(t, acct.Name)
	if n := sg(t, srv.URL, acct.Key, "GET", "/v3/marketing/contacts/count", "", 200)["contact_count"]; n != float64(0) {
		t.Fatalf("contact_count after the reset = %v", n)
	}
	upsert(t, srv.URL, acct.Key, `[{"email":"grace@example.com"}]`)
}

// TestStopsWithTheTest: the server stops when its test ends; a given key
// is the default account's; the clock can be set.
func TestStopsWithTheTest(t *testing.T) {
	var url string
	t.Run("inner", func(t *testing.T) {
		srv := segmentdtest.StartWith(t, segmentdtest.Options{Key: "SG.given.key"})
		url = srv.URL
		if !strings.HasPrefix(url, "http://127.0.0.1:") || srv.Key != "SG.given.key" {
			t.Fatalf("URL %q, key %q", url, srv.Key)
		}
		sg(t, srv.URL, srv.Key, "GET", "/v3/marketing/lists", "", 200)
		at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
		srv.SetClock(at)
		resp, err := http.Get(srv.URL + "/admin/clock")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var clock struct {
			Now string `json:"now"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&clock); err != nil || clock.Now != "2030-01-02T03:04:05.000Z" {
			t.Fatalf("clock %+v, %v", clock, err)
		}
	})
	c := http.Client{Timeout: 5 * time.Second}
	if resp, err := c.Get(url + "/healthz"); err == nil {
		resp.Body.Close()
		t.Fatalf("the server still answers after its test ended: %d", resp.StatusCode)
	}
}

// TestDependencies: a user's test that imports the package pulls in no
// PostgreSQL driver, OpenAPI validator or SendGrid client.
func TestDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var third []string
	for line := range strings.Lines(string(out)) {
		dep := strings.TrimSpace(line)
		if dep == "" || strings.HasPrefix(dep, "github.com/segmentd/segmentd") {
			continue
		}
		third = append(third, dep)
		for _, banned := range []string{"github.com/jackc/", "github.com/getkin/", "github.com/sendgrid/"} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("segmentdtest depends on %s", dep)
			}
		}
	}
	if len(third) == 0 {
		t.Fatalf("go list named no third-party package (the SQLite driver at least):\n%s", out)
	}
	t.Logf("third-party packages: %d (%s …)", len(third), third[0])
}

// TestSendGridRateLimits: with SendGridRateLimits a key's 601st request to
// an endpoint in a minute is answered 429, until the test's clock reaches
// the minute's end.
func TestSendGridRateLimits(t *testing.T) {
	srv := segmentdtest.StartWith(t, segmentdtest.Options{SendGridRateLimits: true})
	start := time.Date(2030, 1, 2, 3, 4, 30, 0, time.UTC)
	srv.SetClock(start)
	req := sendgrid.GetRequest(srv.Key, "/v3/marketing/lists", srv.URL)
	req.Method = rest.Get
	status := func() (int, string) {
		t.Helper()
		resp, err := sendgrid.MakeRequest(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, http.Header(resp.Headers).Get("X-RateLimit-Reset")
	}
	for i := range 600 {
		if code, _ := status(); code != 200 {
			t.Fatalf("request %d: %d", i+1, code)
		}
	}
	reset := start.Truncate(time.Minute).Add(time.Minute)
	if code, at := status(); code != 429 || at != fmt.Sprint(reset.Unix()) {
		t.Fatalf("request 601: %d, X-RateLimit-Reset %s; want 429, %d", code, at, reset.Unix())
	}
	srv.SetClock(reset)
	if code, _ := status(); code != 200 {
		t.Fatalf("at the reset: %d", code)
	}
}

// TestWebhooksAndHistory: the server serves segmentd's own /segmentd/v1/:
// a webhook subscription receives a segment's entry, and the membership
// history has it.
func TestWebhooksAndHistory(t *testing.T) {
	srv := segmentdtest.Start(t)
	got := make(chan string, 10)
	rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Data []struct {
				Type    string
				Contact struct{ Email string }
			}
		}
		_ = json.NewDecoder(r.Body).Decode(&m)
		for _, d := range m.Data {
			got <- d.Type + " " + d.Contact.Email
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rc.Close()
	call := func(method, path, body string, want int) map[string]any {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+srv.Key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		if resp.StatusCode != want {
			t.Fatalf("%s %s: %d %v, want %d", method, path, resp.StatusCode, m, want)
		}
		return m
	}
	seg := sg(t, srv.URL, srv.Key, "POST", "/v3/marketing/segments/2.0", `{"name":"adas","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE first_name = 'Ada'"}`, 201)["id"].(string)
	call("POST", "/segmentd/v1/webhooks", `{"url":"`+rc.URL+`"}`, 201)
	upsert(t, srv.URL, srv.Key, `[{"email":"ada@example.com","first_name":"Ada"}]`)
	select {
	case m := <-got:
		if m != "segment.entered ada@example.com" {
			t.Fatalf("delivered %q", m)
		}
	case <-time.After(time.Minute):
		t.Fatal("no webhook within a minute")
	}
	h := call("GET", "/segmentd/v1/segments/sendgrid/"+seg+"/history/transitions?from="+time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "", 200)
	if ts := h["transitions"].([]any); len(ts) != 1 {
		t.Fatalf("history %v", h)
	}
}
