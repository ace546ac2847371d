package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/segmentd/segmentd/sqlite"
	"github.com/segmentd/segmentd/storetest"
)

func TestExportContract(t *testing.T) {
	storetest.RunExports(t, func(t *testing.T) storetest.ExportsStore {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "segmentd.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}
