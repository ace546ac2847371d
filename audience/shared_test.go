package audience_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/segmentd/segmentd/internal/facetest"
	"github.com/segmentd/segmentd/sqlite"
)

// TestSharedStore runs facetest.RunShared on a SQLite store; the postgres
// package runs it on PostgreSQL and Citus.
func TestSharedStore(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	facetest.RunShared(t, st)
}

// TestSharedReset runs facetest.RunSharedReset on a SQLite store; the
// postgres package runs it on PostgreSQL and Citus.
func TestSharedReset(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	facetest.RunSharedReset(t, st)
}
