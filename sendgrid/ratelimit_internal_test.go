package sendgrid

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// TestRateLimiterForgetsPastWindows: the limiter keeps the current
// window's counts only, so its table holds at most one entry per key and
// endpoint that made a request in it.
func TestRateLimiterForgetsPastWindows(t *testing.T) {
	clock := segmentd.NewDevClock()
	clock.Set(time.Date(2030, 3, 12, 12, 0, 0, 0, time.UTC))
	l := newRateLimiter(Options{RateLimits: true}, clock)
	h := http.Header{}
	for key := int64(1); key <= 100; key++ {
		for _, ep := range []string{"GET /a", "GET /b", unroutedEndpoint} {
			if err := l.admit(h, key, ep); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.admit(h, 0, "GET /a"); err != nil {
		t.Fatal(err)
	}
	if n := len(l.used); n != 300 {
		t.Fatalf("%d entries after 100 keys on 3 endpoints (and a request without a key), want 300", n)
	}
	clock.Advance(time.Minute)
	if err := l.admit(h, 7, "GET /a"); err != nil {
		t.Fatal(err)
	}
	if n := len(l.used); n != 1 {
		t.Fatalf("%d entries after one request in the next window, want 1", n)
	}
	// A clock moved back starts a window too.
	clock.Advance(-2 * time.Minute)
	if err := l.admit(h, 8, "GET /a"); err != nil {
		t.Fatal(err)
	}
	if n, used := len(l.used), l.used[rateBucket{8, "GET /a"}]; n != 1 || used != 1 {
		t.Fatalf("after the clock moved back: %d entries, key 8 used %d; want 1, 1", n, used)
	}
}

// TestRateHeadersAfterAPanicInAuthentication: an answer the face gives
// before the request was counted (authentication panicked, here on a
// handler without a service) still carries the three headers.
func TestRateHeadersAfterAPanicInAuthentication(t *testing.T) {
	clock := segmentd.NewDevClock()
	clock.Set(time.Date(2030, 3, 12, 12, 0, 30, 0, time.UTC))
	h := &handler{log: slog.New(slog.DiscardHandler), rate: newRateLimiter(Options{}, clock)}
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/v3/marketing/lists", nil)
	req.Header.Set("Authorization", "Bearer SG.some-key")
	h.adapt(route{pattern: "GET /v3/marketing/lists"}).ServeHTTP(rec, req)
	got := [4]string{strconv.Itoa(rec.Code), rec.Header().Get("X-RateLimit-Limit"), rec.Header().Get("X-RateLimit-Remaining"), rec.Header().Get("X-RateLimit-Reset")}
	if want := [4]string{"500", "600", "600", strconv.FormatInt(time.Date(2030, 3, 12, 12, 1, 0, 0, time.UTC).Unix(), 10)}; got != want {
		t.Fatalf("status and rate-limit headers %q, want %q: %s", got, want, rec.Body)
	}
}
