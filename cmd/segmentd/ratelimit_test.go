package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sendgrid/rest"
	"github.com/sendgrid/sendgrid-go"
)

// TestSendGridRateLimitsThroughTheBinary drives the SendGrid face's rate
// limit through the real binary on its --dev clock, turned on by the flag
// and by its environment twin, and off: a key's 601st request to an
// endpoint in a minute is answered SendGrid's 429 with its headers until
// the clock reaches the minute's end, while another key, another endpoint
// and requests without a key go on; off, nothing is refused and the
// headers count all the same.
func TestSendGridRateLimitsThroughTheBinary(t *testing.T) {
	bin := realBinary(t)
	for _, tt := range []struct {
		name     string
		args     []string
		env      []string
		enforced bool
	}{
		{"flag", []string{"--dev", "--sendgrid-rate-limits"}, nil, true},
		{"environment", []string{"--dev"}, []string{"SEGMENTD_SENDGRID_RATE_LIMITS=1"}, true},
		{"off", []string{"--dev"}, []string{"SEGMENTD_SENDGRID_RATE_LIMITS="}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var out strings.Builder
			if err := run(context.Background(), []string{"keys", "create", "--scopes", "sendgrid.read", "--data", dir}, nil, nil, &out, io.Discard); err != nil {
				t.Fatalf("keys create: %v", err)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			other := lines[len(lines)-1]
			const key = "SG.rate-limit-test-key"
			s, _ := startBinaryEnv(t, bin, dir, key, tt.env, tt.args...)

			start := time.Date(2026, 3, 1, 8, 0, 30, 0, time.UTC)
			reset := time.Date(2026, 3, 1, 8, 1, 0, 0, time.UTC)
			setClock := func(at time.Time) {
				t.Helper()
				if code, body := httpDo(t, "POST", s.url+"/admin/clock", fmt.Sprintf(`{"now":%q}`, at.Format(time.RFC3339Nano)), nil); code != 200 {
					t.Fatalf("set clock: %d %s", code, body)
				}
			}
			// do calls the face through sendgrid-go and checks the status
			// and the three headers.
			do := func(key, path string, status, limit, remaining int, reset time.Time) string {
				t.Helper()
				req := sendgrid.GetRequest(key, path, s.url)
				if key == "" {
					delete(req.Headers, "Authorization")
				}
				req.Method = rest.Get
				resp, err := sendgrid.MakeRequest(req)
				if err != nil {
					t.Fatalf("GET %s: %v", path, err)
				}
				h := http.Header(resp.Headers)
				got := fmt.Sprint(resp.StatusCode, " ", h.Get("X-RateLimit-Limit"), " ", h.Get("X-RateLimit-Remaining"), " ", h.Get("X-RateLimit-Reset"))
				if want := fmt.Sprint(status, " ", limit, " ", remaining, " ", reset.Unix()); got != want {
					t.Fatalf("GET %s: status and X-RateLimit-Limit, -Remaining, -Reset %q, want %q: %s", path, got, want, resp.Body)
				}
				return strings.TrimSpace(resp.Body)
			}
			const fields, lists = "/v3/marketing/field_definitions", "/v3/marketing/lists"

			setClock(start)
			for i := 1; i <= 600; i++ {
				do(key, fields, 200, 600, 600-i, reset)
			}
			if tt.enforced {
				if body := do(key, fields, 429, 600, 0, reset); body != `{"errors":[{"field":null,"message":"too many requests"}]}` {
					t.Fatalf("601st request: %s", body)
				}
			} else {
				do(key, fields, 200, 600, 0, reset)
			}
			do(other, fields, 200, 600, 599, reset)
			do(key, lists, 200, 600, 599, reset)
			do(key, "/v3/marketing/nothing-here", 404, 600, 599, reset)
			do("", fields, 401, 600, 600, reset)
			do("SG.unknown", fields, 401, 600, 600, reset)

			setClock(reset.Add(-time.Second))
			if tt.enforced {
				do(key, fields, 429, 600, 0, reset)
			}
			setClock(reset)
			do(key, fields, 200, 600, 599, reset.Add(time.Minute))
		})
	}
}

func TestSendGridRateLimitsFlagAndEnvironment(t *testing.T) {
	for _, tt := range []struct {
		args []string
		env  []string
		want bool
	}{
		{nil, nil, false},
		{[]string{"--sendgrid-rate-limits"}, nil, true},
		{nil, []string{"SEGMENTD_SENDGRID_RATE_LIMITS=1"}, true},
		{nil, []string{"SEGMENTD_SENDGRID_RATE_LIMITS=true"}, true},
		{[]string{"--sendgrid-rate-limits=false"}, []string{"SEGMENTD_SENDGRID_RATE_LIMITS=true"}, false},
	} {
		cfg, err := parseConfig("serve", tt.args, tt.env, io.Discard, io.Discard)
		if err != nil || cfg.sgRateLimits != tt.want {
			t.Errorf("args %v env %v: sgRateLimits = %v (%v), want %v", tt.args, tt.env, cfg.sgRateLimits, err, tt.want)
		}
	}
}
