package segmentd

import (
	"sync"
	"time"
)

// DevClock is a settable clock for development mode and tests (the
// `--dev` admin endpoint): it runs with the system clock until Set stops
// it at a chosen instant, and Run lets it go on from one. It is safe for
// concurrent use; every component given it sees the same time.
type DevClock struct {
	mu     sync.Mutex
	frozen bool
	at     time.Time     // the time while frozen
	offset time.Duration // added to the system clock while running
	sys    func() time.Time
}

// NewDevClock returns a DevClock that follows the system clock.
func NewDevClock() *DevClock {
	return &DevClock{sys: SystemClock{}.Now}
}

// Now returns the clock's time, in UTC.
func (c *DevClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.frozen {
		return c.at
	}
	return c.sys().Add(c.offset)
}

// Set stops the clock at t: Now returns t until the next Set, Run or Reset.
// Segment windows can so be tested to the millisecond.
func (c *DevClock) Set(t time.Time) {
	c.mu.Lock()
	c.frozen, c.at = true, t.UTC()
	c.mu.Unlock()
}

// Run makes the clock read t now and then advance with the system clock.
func (c *DevClock) Run(t time.Time) {
	c.mu.Lock()
	c.frozen, c.offset = false, t.Sub(c.sys())
	c.mu.Unlock()
}

// Advance moves the clock d forward (backward when d is negative), frozen
// or running: tests step through segment windows with it.
func (c *DevClock) Advance(d time.Duration) {
	c.mu.Lock()
	if c.frozen {
		c.at = c.at.Add(d)
	} else {
		c.offset += d
	}
	c.mu.Unlock()
}

// Reset returns the clock to the system time.
func (c *DevClock) Reset() {
	c.mu.Lock()
	c.frozen, c.offset = false, 0
	c.mu.Unlock()
}

// Frozen reports whether the clock stands still (after Set).
func (c *DevClock) Frozen() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.frozen
}
