package sendgrid

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/segmentd/segmentd"
)

// Rate limits (docs/sendgrid.md "Rate limits"). SendGrid's "Rate Limits"
// page says each endpoint allows a number of requests per refresh period
// and that every v3 answer reports it in X-RateLimit-*; its only published
// number is the default of 600 requests a minute per user. segmentd
// counts each API key's requests per endpoint in fixed windows of the
// server's clock and reports them on every answer; with
// Options.RateLimits it refuses a request past the limit with SendGrid's
// 429.
const (
	defaultRateLimit  = 600
	defaultRateWindow = time.Minute
)

// unroutedEndpoint is the budget shared by every request no route takes
// (404 and 405): one per key, so that made-up paths cannot grow the table.
const unroutedEndpoint = ""

// rateLimiter counts requests per key and endpoint in fixed windows: a
// window starts at a multiple of its length on the clock (the minute for
// the default), and every count starts again at the next. Only the current
// window's counts are kept, so the table never holds more than one entry
// per key and endpoint that made a request in it.
type rateLimiter struct {
	limit   int
	window  time.Duration
	enforce bool
	clock   segmentd.Clock

	mu    sync.Mutex
	start time.Time // the current window's start
	used  map[rateBucket]int
}

// rateBucket is what a limit counts: one key's requests to one endpoint
// (a routing-table pattern, or unroutedEndpoint).
type rateBucket struct {
	key      int64
	endpoint string
}

func newRateLimiter(o Options, clock segmentd.Clock) *rateLimiter {
	l := &rateLimiter{limit: o.RateLimit, window: o.RateWindow, enforce: o.RateLimits, clock: o.Clock, used: map[rateBucket]int{}}
	if l.limit <= 0 {
		l.limit = defaultRateLimit
	}
	if l.window <= 0 {
		l.window = defaultRateWindow
	}
	if l.clock == nil {
		l.clock = clock
	}
	return l
}

// admit counts a request of key (an API key's id; 0 when the request
// named no valid key) to endpoint, sets the X-RateLimit-* headers that
// describe its budget, and returns the *segmentd.RateLimitError that
// refuses it when the limit is enforced and the budget is spent. A refused
// request is not counted. A request without a valid key is neither counted
// nor refused (it is answered 401): its headers show the whole budget.
func (l *rateLimiter) admit(h http.Header, key int64, endpoint string) error {
	now := l.clock.Now()
	start := now.Truncate(l.window)
	reset := start.Add(l.window)
	if key == 0 {
		setRateHeaders(h, l.limit, l.limit, reset)
		return nil
	}
	b := rateBucket{key, endpoint}
	l.mu.Lock()
	if !start.Equal(l.start) {
		// A new window (or a clock moved back): every count starts again,
		// and the keys of the last window are forgotten.
		l.start = start
		clear(l.used)
	}
	used := l.used[b]
	refused := l.enforce && used >= l.limit
	if !refused {
		used++
		l.used[b] = used
	}
	l.mu.Unlock()
	if refused {
		return &segmentd.RateLimitError{
			Err:   segmentd.Errorf(segmentd.KindRateLimited, "", "this API key has made the %d requests to %s a window allows; retry at %s", l.limit, endpointName(endpoint), reset.UTC().Format(time.RFC3339)),
			Limit: l.limit,
			Reset: reset,
		}
	}
	setRateHeaders(h, l.limit, max(l.limit-used, 0), reset)
	return nil
}

// endpointName names an endpoint in an error message.
func endpointName(endpoint string) string {
	if endpoint == unroutedEndpoint {
		return "paths segmentd does not serve"
	}
	return endpoint
}

// setRateHeaders sets SendGrid's rate-limit headers: the limit, what is
// left of it, and when it resets, in whole unix seconds rounded up, so that
// a client that waits until then is not early.
func setRateHeaders(h http.Header, limit, remaining int, reset time.Time) {
	secs := reset.Unix()
	if reset.Nanosecond() > 0 {
		secs++
	}
	h.Set("X-RateLimit-Limit", strconv.Itoa(limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(remaining))
	h.Set("X-RateLimit-Reset", strconv.FormatInt(secs, 10))
}
