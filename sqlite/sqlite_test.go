package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/storetest"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) segmentd.Store { return openTemp(t) })
}
