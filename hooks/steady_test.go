package hooks_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/hooks"
	"github.com/segmentd/segmentd/internal/facetest"
	"github.com/segmentd/segmentd/sqlite"
)

// resyncStore counts the dispatcher's reloads of every subscription: a
// holder reloads them every Elect, after its takeover returned.
type resyncStore struct {
	*sqlite.Store
	reloads atomic.Int64
}

func (s *resyncStore) Subscriptions(ctx context.Context, acct int64) ([]segmentd.Subscription, error) {
	if acct == 0 {
		s.reloads.Add(1)
	}
	return s.Store.Subscriptions(ctx, acct)
}

// testLock is a delivery lock the test gives and takes away.
type testLock struct {
	mu    sync.Mutex
	free  bool          // the next try takes it
	lost  chan struct{} // of the current holding
	tries int
}

func (l *testLock) TryLockDelivery(context.Context) (bool, <-chan struct{}, func(), error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.tries++
	if !l.free {
		return false, nil, nil, nil
	}
	l.free, l.lost = false, make(chan struct{})
	return true, l.lost, func() {}, nil
}

// lose ends the current holding; with again, the next try takes the lock.
func (l *testLock) lose(again bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	close(l.lost)
	l.free = again
}

// TestTakeoverReportsReconciled checks that a dispatcher marks its
// snapshots again (SnapshotMark) after it takes the lock back only when
// the takeover says it made good what was not stored: one that reconciled
// nothing (it kept nothing to make good) leaves the server unsteady.
func TestTakeoverReportsReconciled(t *testing.T) {
	ctx := context.Background()
	sq, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	st := &resyncStore{Store: sq}
	lock := &testLock{free: true}
	d := hooks.New(hooks.Options{Store: st, History: st, Retention: 24 * time.Hour, Clock: segmentd.SystemClock{}, Log: slog.New(slog.DiscardHandler),
		Lock: lock, Elect: 5 * time.Millisecond})
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.Close)
	const acct = 1
	// settled waits until the holder reloaded its subscriptions twice
	// more: its takeover has returned.
	settled := func() {
		n := st.reloads.Load()
		facetest.Poll(t, "the holder past its takeover", func() bool { return st.reloads.Load() >= n+2 })
	}
	var mu sync.Mutex
	reconciled, takes := false, 0
	d.OnTakeover(func(context.Context) {}, func(context.Context) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		takes++
		return reconciled, nil
	})
	taken := func(n int) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return takes == n && d.Leading()
		}
	}
	// Delivering since its start, with nothing to make good: steady.
	facetest.Poll(t, "the takeover at once", taken(1))
	settled()
	if _, ok := d.SnapshotMark(ctx, acct); !ok {
		t.Fatal("a server that delivered since its start has no snapshot mark")
	}
	// The lock lost and taken back by a takeover that reconciled nothing.
	lock.lose(true)
	facetest.Poll(t, "the lock taken back", taken(2))
	settled()
	if _, ok := d.SnapshotMark(ctx, acct); ok {
		t.Fatal("a takeover that reconciled nothing made the server steady")
	}
	// Again, by one that made good what was not stored.
	mu.Lock()
	reconciled = true
	mu.Unlock()
	lock.lose(true)
	facetest.Poll(t, "the lock taken back again", taken(3))
	facetest.Poll(t, "steady again", func() bool {
		_, ok := d.SnapshotMark(ctx, acct)
		return ok
	})
}
