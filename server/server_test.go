package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestServer(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	face := Face{Prefixes: []string{"/v3/"}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v3/panic" {
			panic("boom")
		}
		w.WriteHeader(http.StatusTeapot)
		io.WriteString(w, "face")
	})}
	srv := httptest.NewServer(New(log, nil, face))
	defer srv.Close()

	// A face answers its own panics in its vendor's envelope; one that
	// does not (this one) gets the server's last resort, which has no
	// vendor's shape.
	// Paths no face covers are segmentd's own, answered in JSON.
	tests := []struct {
		method, path string
		wantStatus   int
		wantType     string
		wantBody     string
		wantAllow    string
	}{
		{"GET", "/healthz", 200, "application/json", `{"status":"ok"}`, ""},
		{"HEAD", "/healthz", 200, "application/json", ``, ""},
		{"POST", "/healthz", 405, "application/json", `{"errors":[{"message":"method not allowed"}]}`, "GET, HEAD"},
		{"GET", "/v3/anything", 418, "text/plain; charset=utf-8", "face", ""},
		{"GET", "/v3/panic", 500, "text/plain; charset=utf-8", "internal server error", ""},
		{"GET", "/elsewhere", 404, "application/json", `{"errors":[{"message":"segmentd serves nothing at this path"}]}`, ""},
		{"DELETE", "/", 404, "application/json", `{"errors":[{"message":"segmentd serves nothing at this path"}]}`, ""},
		{"GET", "/healthz/x", 404, "application/json", `{"errors":[{"message":"segmentd serves nothing at this path"}]}`, ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, srv.URL+tt.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.wantStatus || strings.TrimSpace(string(body)) != tt.wantBody {
			t.Errorf("%s %s = %d %q, want %d %q", tt.method, tt.path, resp.StatusCode, body, tt.wantStatus, tt.wantBody)
		}
		if got := resp.Header.Get("Content-Type"); got != tt.wantType {
			t.Errorf("%s %s: Content-Type %q, want %q", tt.method, tt.path, got, tt.wantType)
		}
		if got := resp.Header.Get("Allow"); got != tt.wantAllow {
			t.Errorf("%s %s: Allow %q, want %q", tt.method, tt.path, got, tt.wantAllow)
		}
	}
	if strings.Contains(logs.String(), "goroutine") {
		t.Errorf("log holds a stack trace: %s", logs.String())
	}
	if got := strings.Count(logs.String(), `"msg":"request"`); got != len(tests) {
		t.Errorf("request log lines = %d, want %d:\n%s", got, len(tests), logs.String())
	}
	if !strings.Contains(logs.String(), `"path":"/v3/panic","status":500`) {
		t.Errorf("panicking request not logged with status 500:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"msg":"panic serving request","method":"GET","path":"/v3/panic","err":"panic: boom"`) {
		t.Errorf("the panic was not logged:\n%s", logs.String())
	}
}

// Recover hands http.ErrAbortHandler on to net/http, which then drops the
// connection without a response, and turns any other panic into an error.
func TestRecover(t *testing.T) {
	recovered := func(v any) (err error) {
		defer Recover(&err)
		panic(v)
	}
	if err := recovered("boom"); err == nil || err.Error() != "panic: boom" {
		t.Errorf("Recover = %v, want panic: boom", err)
	}

	var logs bytes.Buffer
	abort := Face{Prefixes: []string{"/v3/"}, Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	})}
	srv := httptest.NewServer(New(slog.New(slog.NewJSONHandler(&logs, nil)), nil, abort))
	defer srv.Close()
	if resp, err := http.Get(srv.URL + "/v3/abort"); err == nil {
		resp.Body.Close()
		t.Errorf("an aborted handler answered %d", resp.StatusCode)
	}
	if strings.Contains(logs.String(), "panic serving request") {
		t.Errorf("an aborted handler was logged as a panic:\n%s", logs.String())
	}
}

// The request log gives each request's duration in milliseconds, in an
// attribute that says so.
func TestRequestLogDurationInMilliseconds(t *testing.T) {
	var logs bytes.Buffer
	const took = 20 * time.Millisecond
	slow := Face{Prefixes: []string{"/v3/"}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(took) // a lower bound for the logged duration, not a wait for something
	})}
	srv := httptest.NewServer(New(slog.New(slog.NewJSONHandler(&logs, nil)), nil, slow))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/v3/slow")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var line map[string]any
	if err := json.Unmarshal(bytes.TrimSpace(logs.Bytes()), &line); err != nil {
		t.Fatalf("request log %q: %v", logs.String(), err)
	}
	if _, ok := line["duration"]; ok {
		t.Errorf("request log has a unitless duration: %s", logs.String())
	}
	ms, ok := line["duration_ms"].(float64)
	// Nanoseconds would read at least 2e7; a minute is far more than
	// any run of this test takes.
	if !ok || ms < float64(took/time.Millisecond) || ms > float64(time.Minute/time.Millisecond) {
		t.Errorf("duration_ms = %v, want the request's milliseconds (at least %v): %s", line["duration_ms"], took, logs.String())
	}
}
