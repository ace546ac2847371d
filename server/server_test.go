package server

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
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
	srv := httptest.NewServer(New(log, face))
	defer srv.Close()

	tests := []struct {
		path       string
		wantStatus int
		wantBody   string
	}{
		{"/healthz", 200, `{"status":"ok"}`},
		{"/v3/anything", 418, "face"},
		{"/v3/panic", 500, `{"errors":[{"message":"internal server error"}]}`},
		{"/elsewhere", 404, "404 page not found"},
	}
	for _, tt := range tests {
		resp, err := http.Get(srv.URL + tt.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.wantStatus || strings.TrimSpace(string(body)) != tt.wantBody {
			t.Errorf("GET %s = %d %q, want %d %q", tt.path, resp.StatusCode, body, tt.wantStatus, tt.wantBody)
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
}
