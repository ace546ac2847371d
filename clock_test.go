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
	c.Run(at)
	sys = sys.Add(time.Minute)
	if got := c.Now(); !got.Equal(at.Add(time.Minute)) || c.Frozen() {
		t.Fatalf("after Run: %v, want %v", got, at.Add(time.Minute))
	}
	c.Reset()
	if got := c.Now(); !got.Equal(sys) {
		t.Fatalf("after Reset: %v, want %v", got, sys)
	}
}

func TestDevClockConcurrent(t *testing.T) {
	c := NewDevClock()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				c.Set(time.Unix(int64(j), 0))
				_ = c.Now()
			}
		}()
	}
	wg.Wait()
}
