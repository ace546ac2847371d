package constantcontact

import (
	"sync"

	"github.com/segmentd/segmentd"
)

// limiter enforces Constant Contact's per-key request limits
// (docs/constantcontact.md "Rate limits"): perSecond requests in each clock
// second and perDay requests in each UTC day (the quota resets at 00:00:00
// UTC). Windows are fixed, by the injected clock. A request answered 429 does
// not count; requests without a valid key are never limited (they are
// answered 401 or 403 first).
type limiter struct {
	perSecond, perDay int
	clock             segmentd.Clock

	mu   sync.Mutex
	keys map[int64]*usage
}

type usage struct {
	second, inSecond int64 // unix second and requests in it
	day, inDay       int64 // unix day and requests in it
}

func newLimiter(o Options) *limiter {
	l := &limiter{perSecond: o.PerSecond, perDay: o.PerDay, clock: o.Clock, keys: map[int64]*usage{}}
	if l.perSecond <= 0 {
		l.perSecond = 4
	}
	if l.perDay <= 0 {
		l.perDay = 10_000
	}
	return l
}

// allow counts a request of key, or says which limit it is over.
func (l *limiter) allow(key int64) error {
	now := l.clock.Now().Unix()
	sec, day := now, now/86400
	l.mu.Lock()
	defer l.mu.Unlock()
	u := l.keys[key]
	if u == nil {
		u = &usage{}
		l.keys[key] = u
	}
	if u.day != day {
		u.day, u.inDay = day, 0
	}
	if u.second != sec {
		u.second, u.inSecond = sec, 0
	}
	if u.inDay >= int64(l.perDay) {
		return rateError{keyQuota, msgQuota}
	}
	if u.inSecond >= int64(l.perSecond) {
		return rateError{keyThrottled, msgThrottled}
	}
	u.inDay++
	u.inSecond++
	return nil
}
