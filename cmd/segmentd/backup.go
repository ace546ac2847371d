package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/segmentd/segmentd/internal/fsync"
	"io"
	"os"
	"path/filepath"
	"slices"

	"github.com/segmentd/segmentd/internal/cli"
	snapfile "github.com/segmentd/segmentd/internal/snapshot"
	"github.com/segmentd/segmentd/sqlite"
)

// backupTries is how many times backup copies the store again when the
// engine snapshot it finds was written after its copy.
const backupTries = 3

// runBackup copies a data directory's SQLite store and engine snapshot
// into a new directory, while a server serves it or not
// (docs/operations.md, "Backups"). It takes no lock: it only reads the
// data directory. The store is copied first, as of one transaction
// (sqlite.Backup); then the snapshot, which a restore replays the copy's
// later changes onto. A snapshot written after the copy began would be
// ahead of it, and is detected by its marks: the store is copied again, or
// in the end the backup holds no snapshot and a restore rebuilds the
// engine from the store. A snapshot written before the copy can always be
// replayed onto it, because the store forgets its change history only up
// to a snapshot already in place.
func runBackup(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	const use = "usage: segmentd backup --data DIR --out NEWDIR"
	var cfg config
	var out string
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeFlags(fs, &cfg, env)
	fs.StringVar(&out, "out", "", "the directory to write the backup into: new, or empty")
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("backup: unexpected argument %q; %s", fs.Arg(0), use)
	}
	if cfg.databaseURL != "" {
		return errors.New("backup copies the embedded SQLite store; back up a PostgreSQL store with PostgreSQL's own tools (pg_dump, or a base backup)")
	}
	if out == "" {
		return errors.New(use)
	}
	src, err := filepath.Abs(filepath.Join(cfg.data, "segmentd.db"))
	if err != nil {
		return err
	}
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("backup: no store in %s: %w", cfg.data, err)
	}
	if err := emptyDir(out); err != nil {
		return err
	}
	db, snap := filepath.Join(out, "segmentd.db"), filepath.Join(out, snapshotFile)
	var info sqlite.BackupInfo
	var hdr *snapfile.Header
	for try := 1; ; try++ {
		if info, err = sqlite.Backup(ctx, src, db); err != nil {
			return err
		}
		var ahead bool
		if hdr, ahead, err = copySnapshot(filepath.Join(cfg.data, snapshotFile), snap, info); err != nil {
			return err
		}
		if !ahead {
			break
		}
		if try == backupTries {
			// The restore rebuilds the engine from the store.
			fmt.Fprintln(stdout, "engine snapshot left out: each one in place was written after the store's copy began")
			break
		}
		if err := os.Remove(db); err != nil {
			return err
		}
	}
	if err := fsync.Dir(out); err != nil {
		return err
	}

	abs, _ := filepath.Abs(out)
	fmt.Fprintf(stdout, "backed up %s into %s\n", src, abs)
	total := 0
	for _, n := range info.Contacts {
		total += n
	}
	fmt.Fprintf(stdout, "store: segmentd.db, %d bytes, at change %d; accounts: %d, contacts: %d\n", info.Bytes, seqOf(info), len(info.Contacts), total)
	accts := make([]int64, 0, len(info.Contacts))
	for a := range info.Contacts {
		accts = append(accts, a)
	}
	slices.Sort(accts)
	for _, a := range accts {
		fmt.Fprintf(stdout, "account %d: %d contacts\n", a, info.Contacts[a])
	}
	if hdr != nil {
		var at int64
		for _, s := range hdr.Mark.Seqs {
			at = max(at, s)
		}
		fmt.Fprintf(stdout, "engine snapshot: %s, at change %d (a restore replays the store's later changes onto it)\n", snapshotFile, at)
	} else {
		fmt.Fprintln(stdout, "engine snapshot: none (a restore rebuilds the engine from the store)")
	}
	fmt.Fprintf(stdout, "restore: copy %s into an empty data directory and run segmentd serve --data on it\n", abs)
	return nil
}

// seqOf is the store's change number in a backup (every account has it).
func seqOf(info sqlite.BackupInfo) int64 {
	for _, s := range info.Mark.Seqs {
		return s
	}
	return 0
}

// emptyDir makes dir, or accepts it when it exists and is empty, so that a
// backup never mixes with other files.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return os.MkdirAll(dir, 0o700)
	case err != nil:
		return err
	case len(entries) > 0:
		return fmt.Errorf("backup: %s is not empty: give a new directory", dir)
	}
	return nil
}

// copySnapshot copies the engine snapshot at src (when there is one) to
// dst and returns its header, or, when the snapshot is ahead of the
// store's copy info, ahead (having removed dst). A snapshot the server
// would not load (damaged, or of another store) is left out.
func copySnapshot(src, dst string, info sqlite.BackupInfo) (hdr *snapfile.Header, ahead bool, err error) {
	b, err := os.ReadFile(src) // written beside its path and renamed: one whole file
	if errors.Is(err, os.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	if err := writeSynced(dst, b); err != nil {
		return nil, false, err
	}
	h, _, err := snapfile.Read(dst)
	if errors.Is(err, snapfile.ErrUnusable) || err == nil && h.Mark.StoreID != info.Mark.StoreID {
		return nil, false, os.Remove(dst)
	}
	if err != nil {
		return nil, false, err
	}
	for a, seq := range h.Mark.Seqs {
		if have, live := info.Mark.Seqs[a]; live && (seq > have || h.Events[a] > info.Events[a]) {
			ahead = true
		}
	}
	if ahead {
		return nil, true, os.Remove(dst)
	}
	return &h, false, nil
}

// writeSynced writes b to path through a temporary file, synced, renamed
// into place.
func writeSynced(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}
