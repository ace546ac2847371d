package audience

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/sqlite"
)

// TestReflectTaskDropsPublish: the engine stage runs a task's publish once
// and drops it, so that what it holds (an upsert's stored contacts) is
// garbage while the task waits for its row to be written, instead of
// being kept until then (docs/decisions.md §20).
func TestReflectTaskDropsPublish(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acct, err := st.CreateAccount(ctx, "acme", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	svc := New(st, segmentd.SystemClock{}, slog.New(slog.DiscardHandler), Config{Segments: st, Events: st, Membership: engine.NewMembership()})
	defer svc.Close()
	if err := svc.LoadMembership(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		task *jobTask
	}{
		{"a job", &jobTask{job: segmentd.Job{AccountID: acct.ID}}},
		{"an internal task", &jobTask{job: segmentd.Job{AccountID: acct.ID}, sharedExempt: true}},
		{"an event batch", &jobTask{events: &eventsJob{acct: acct.ID}}},
	} {
		ran := 0
		task := c.task
		task.publish = func() { ran++ }
		if err := svc.reflectTask(task); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if ran != 1 || task.publish != nil {
			t.Errorf("%s: publish ran %d times and is kept: %t; want once, then dropped", c.name, ran, task.publish != nil)
		}
		// A later reflect (a later batch of an event group) has nothing
		// to run again.
		if err := svc.reflectTask(task); err != nil || ran != 1 {
			t.Errorf("%s reflected again: ran %d times (err %v), want once", c.name, ran, err)
		}
	}
}
