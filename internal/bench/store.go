package bench

import (
	"context"
	"os"
	"path/filepath"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/postgres"
	"github.com/segmentd/segmentd/sqlite"
)

// benchStore is what the benches load and read in process.
type benchStore interface {
	segmentd.Store
	segmentd.SegmentStore
	segmentd.EventStore
}

// storeLoc is the store a bench uses: a SQLite file, or a PostgreSQL
// database when url is set.
type storeLoc struct {
	path string // the SQLite file
	url  string // postgres://…, or ""
}

func (l storeLoc) String() string {
	if l.url != "" {
		return "the PostgreSQL database"
	}
	return l.path
}

// args are the child server's flags that select the store.
func (l storeLoc) args() []string {
	if l.url == "" {
		return nil
	}
	return []string{"--database-url", l.url}
}

func openStore(ctx context.Context, l storeLoc) (benchStore, error) {
	if l.url != "" {
		return postgres.Open(ctx, l.url, postgres.Options{})
	}
	return sqlite.Open(ctx, l.path)
}

// loaded reports whether the store already holds an account (a run to
// reuse as it is).
func (l storeLoc) loaded(ctx context.Context) (bool, error) {
	st, err := openStore(ctx, l)
	if err != nil {
		return false, err
	}
	defer st.Close()
	accts, err := st.Accounts(ctx)
	return len(accts) > 0, err
}

// size returns the store's bytes on disk and what they are: the SQLite
// files in dir (the database and its WAL), or the PostgreSQL schema's
// tables with their indexes.
func (l storeLoc) size(ctx context.Context, dir string) (int64, string, error) {
	if l.url != "" {
		st, err := postgres.Open(ctx, l.url, postgres.Options{})
		if err != nil {
			return 0, "", err
		}
		defer st.Close()
		n, err := st.Size(ctx)
		return n, "PostgreSQL tables and indexes", err
	}
	matches, err := filepath.Glob(filepath.Join(dir, "segmentd.db*"))
	var n int64
	for _, m := range matches {
		if fi, err := os.Stat(m); err == nil {
			n += fi.Size()
		}
	}
	return n, "segmentd.db with its WAL", err
}
