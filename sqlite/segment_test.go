package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/segmentd/segmentd/sqlite"
	"github.com/segmentd/segmentd/storetest"
)

func TestSegmentContract(t *testing.T) {
	storetest.RunSegments(t, func(t *testing.T) storetest.SegmentsStore {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "segmentd.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

func TestCCSegmentContract(t *testing.T) {
	storetest.RunCCSegments(t, func(t *testing.T) storetest.CCSegmentsStore {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "segmentd.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

func TestJobQueueContract(t *testing.T) {
	storetest.RunJobQueue(t, func(t *testing.T) storetest.JobQueueStore {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "segmentd.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

func TestControlContract(t *testing.T) {
	storetest.RunControl(t, func(t *testing.T) storetest.ControlStore {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "segmentd.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

func TestHooksContract(t *testing.T) {
	storetest.RunHooks(t, func(t *testing.T) storetest.HooksStore {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "segmentd.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}
