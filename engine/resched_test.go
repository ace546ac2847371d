package engine

import (
	"testing"

	"github.com/segmentd/segmentd/query"
)

// TestRescheduleAllParallel checks that the wakes rescheduleAll computes
// across workers (an account large enough to split) are the ones computed
// contact by contact, and that the heap holds exactly them.
func TestRescheduleAllParallel(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 60,000 contacts")
	}
	e := buildWorld(t, 60_000, true)
	for i, src := range segmentMix(12) {
		if err := e.PutSegment(1, string(rune('a'+i)), mustCheck(t, e, 1, query.SQL, src), "", base); err != nil {
			t.Fatal(err)
		}
	}
	a := e.get(1)
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.tsegs) == 0 {
		t.Fatal("no time-dependent segment")
	}
	now := base.UnixMilli() + 3*dayMS
	a.rescheduleAll(now)
	sc := &scratch{}
	heaped := 0
	it := a.live.Iterator()
	for it.HasNext() {
		idx := it.Next()
		want := a.plan.wake(a.timeValues(&a.plan, idx, sc), now)
		if a.wakeAt[idx] != want {
			t.Fatalf("contact %d: wake %d, want %d", idx, a.wakeAt[idx], want)
		}
		if want != noWake {
			heaped++
		}
	}
	if heaped == 0 || len(a.wakes) != heaped {
		t.Fatalf("heap holds %d wakes, want %d (> 0)", len(a.wakes), heaped)
	}
}
