package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"path/filepath"

	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/cli"
	"github.com/segmentd/segmentd/postgres"
	"github.com/segmentd/segmentd/sqlite"
)

// runMigrateStore is `segmentd migrate-store --data DIR --database-url
// postgres://…`: it copies the data directory's SQLite store into an
// empty PostgreSQL database (docs/postgres.md "Moving from SQLite"). The
// directory is held while it copies, so no server writes to it meanwhile.
func runMigrateStore(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("migrate-store", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeFlags(fs, &cfg, env)
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	if !isPostgres(cfg.databaseURL) {
		return errors.New("usage: segmentd migrate-store --data DIR --database-url postgres://… (the SQLite store in DIR is copied into that empty database)")
	}
	lock, err := holdData(cfg, "segmentd migrate-store", "stop it first: the store is copied while no server writes to it")
	if err != nil {
		return err
	}
	defer lock.release()
	path, err := dataPath(cfg)
	if err != nil {
		return err
	}
	src, err := sqlite.Open(ctx, path)
	if err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	defer src.Close()
	// Jobs accepted and not applied live in the journal, which a
	// PostgreSQL store does not read: they are finished on SQLite first.
	if n, err := audience.UnfinishedJobs(ctx, src, filepath.Join(cfg.data, journalDir)); err != nil {
		return err
	} else if n > 0 {
		return fmt.Errorf("%s holds %d accepted jobs not yet finished: serve this data directory until they complete, stop it, then migrate", cfg.data, n)
	}
	dst, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer dst.Close()
	copied, err := dst.shared.CopyFrom(ctx, src.ExportTable)
	if err != nil {
		return fmt.Errorf("copying %s into %s: %w", path, dst.where, err)
	}
	for _, t := range sqlite.ExportTables {
		fmt.Fprintf(stdout, "%-26s %d rows\n", t, copied[t])
	}
	fmt.Fprintf(stdout, "copied %s into %s; serve with --database-url (the engine is rebuilt at the first start)\n", path, dst.where)
	return nil
}

var _ postgres.ImportSource = (*sqlite.Store)(nil).ExportTable
