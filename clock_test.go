package segmentd

import (
	"sync"
	"testing"
	"time"
)

func TestDevClock(t *testing.T) {
	sys := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c := &DevClock{sys: func() time.Time { return sys }}
	if got := c.Now(); !got.Equal(sys) || c.Frozen() {
		t.Fatalf("fresh clock: %v frozen %v, want the system time", got, c.Frozen())
	}
	at := time.Date(2030, 5, 6, 7, 8, 9, 1e6, time.FixedZone("x", 3600))
	c.Set(at)
	sys = sys.Add(time.Hour)
	if got := c.Now(); !got.Equal(at) || got.Location() != time.UTC || !c.Frozen() {
		t.Fatalf("after Set: %v (frozen %v), want %v in UTC, standing still", got, c.Frozen(), at)
	}
	c.Advance(90 * time.Minute)
	if got := c.Now(); !got.Equal(at.Add(90*time.Minute)) || !c.Frozen() {
		t.Fatalf("Advance while frozen: %v (frozen %v), want %v, standing still", got, c.Frozen(), at.Add(90*time.Minute))
	}
	c.Run(at)
	sys = sys.Add(time.Minute)
	if got := c.Now(); !got.Equal(at.Add(time.Minute)) || c.Frozen() {
		t.Fatalf("after Run: %v, want %v", got, at.Add(time.Minute))
	}
	c.Advance(-time.Hour)
	sys = sys.Add(time.Second)
	if got := c.Now(); !got.Equal(at.Add(-time.Hour+time.Minute+time.Second)) || c.Frozen() {
		t.Fatalf("Advance while running: %v, want %v, running", got, at.Add(-time.Hour+time.Minute+time.Second))
	}
	c.Reset()
	if got := c.Now(); !got.Equal(sys) {
		t.Fatalf("after Reset: %v, want %v", got, sys)
	}
}

// TestDevClockConcurrent: under concurrent Set and Now (run it with -race),
// every Now reads one of the instants set, whole; concurrent Advances add
// up, none lost.
func TestDevClockConcurrent(t *testing.T) {
	const writers, sets = 4, 1000
	c := NewDevClock()
	base := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	c.Set(base)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for j := range sets {
				c.Set(base.Add(time.Duration(w*sets+j) * time.Second))
			}
		})
		wg.Go(func() {
			for range sets {
				got := c.Now()
				d := got.Sub(base)
				if d < 0 || d >= writers*sets*time.Second || d%time.Second != 0 || got.Location() != time.UTC || !c.Frozen() {
					t.Errorf("Now = %v: not one of the instants set", got)
					return
				}
			}
		})
	}
	wg.Wait()

	c.Set(base)
	for range writers {
		wg.Go(func() {
			for range sets {
				c.Advance(time.Millisecond)
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), base.Add(writers*sets*time.Millisecond); !got.Equal(want) {
		t.Fatalf("after %d concurrent Advances of 1ms: %v, want %v", writers*sets, got, want)
	}
}
