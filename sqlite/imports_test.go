package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/segmentd/segmentd/sqlite"
	"github.com/segmentd/segmentd/storetest"
)

func TestImportContract(t *testing.T) {
	storetest.RunImports(t, func(t *testing.T) storetest.ImportsStore {
		st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "segmentd.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}
