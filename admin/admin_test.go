package admin_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/admin"
)

func TestClockEndpoints(t *testing.T) {
	clock := segmentd.NewDevClock()
	var advanced []time.Time
	srv := httptest.NewServer(admin.NewHandler(clock, func(t time.Time) { advanced = append(advanced, t) }, slog.New(slog.NewTextHandler(io.Discard, nil))))
	defer srv.Close()
	do := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := do("POST", "/admin/clock", `{"now":"2025-02-03T04:05:06.789+01:00"}`)
	if code != 200 || body != `{"now":"2025-02-03T03:05:06.789Z","frozen":true}` {
		t.Fatalf("set: %d %s", code, body)
	}
	want := time.Date(2025, 2, 3, 3, 5, 6, 789e6, time.UTC)
	if !clock.Now().Equal(want) || len(advanced) != 1 || !advanced[0].Equal(want) {
		t.Fatalf("clock %v, advanced %v; want %v", clock.Now(), advanced, want)
	}
	if code, body := do("GET", "/admin/clock", ""); code != 200 || !strings.Contains(body, "2025-02-03T03:05:06.789Z") {
		t.Fatalf("get: %d %s", code, body)
	}
	if code, body := do("POST", "/admin/clock", `{"now":"2025-02-03T00:00:00Z","run":true}`); code != 200 || !strings.Contains(body, `"frozen":false`) {
		t.Fatalf("run: %d %s", code, body)
	}
	if d := clock.Now().Sub(time.Date(2025, 2, 3, 0, 0, 0, 0, time.UTC)); d < 0 || d > time.Minute {
		t.Fatalf("running clock is %v past the set time", d)
	}
	if code, _ := do("DELETE", "/admin/clock", ""); code != 200 || time.Since(clock.Now()).Abs() > time.Minute {
		t.Fatalf("reset: %d, clock %v", code, clock.Now())
	}
	for _, bad := range []string{``, `{}`, `{"now":"yesterday"}`, `{"now":5}`} {
		if code, body := do("POST", "/admin/clock", bad); code != 400 || !strings.Contains(body, "errors") {
			t.Errorf("POST %q: %d %s, want 400", bad, code, body)
		}
	}
	// A repeated key is refused, not read as its last value.
	if code, body := do("POST", "/admin/clock", `{"now":"2025-02-03T00:00:00Z","now":"2030-01-01T00:00:00Z"}`); code != 400 || !strings.Contains(body, `"now: repeated key"`) {
		t.Errorf("repeated key: %d %s, want 400 naming now", code, body)
	}
	if code, body := do("POST", "/admin/clock", `{"now":"2025-02-03T00:00:00Z","Now":"2030-01-01T00:00:00Z"}`); code != 400 || !strings.Contains(body, `"Now: repeated key (it differs from an earlier key only in case)"`) {
		t.Errorf("repeated key in another case: %d %s, want 400 naming Now", code, body)
	}
	if code, _ := do("GET", "/admin/nope", ""); code != 404 {
		t.Errorf("unknown admin path: %d", code)
	}
	// A served path with another method: 405 naming the methods it takes.
	req, _ := http.NewRequest("PUT", srv.URL+"/admin/clock", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, POST, DELETE" || !strings.Contains(string(b), "PUT is not allowed on /admin/clock") {
		t.Errorf("PUT /admin/clock: %d Allow %q %s, want 405 with Allow GET, POST, DELETE", resp.StatusCode, resp.Header.Get("Allow"), b)
	}
}
