package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/segmentd/segmentd"
)

// BackupInfo is what a backup holds, read from the copy itself.
type BackupInfo struct {
	Bytes int64
	// Mark is the store's change mark in the copy (every account at the
	// store's change number), and Events each account's last event
	// sequence number: an engine snapshot whose marks are not past them
	// can be replayed onto the copy.
	Mark   segmentd.ChangeMark
	Events map[int64]int64
	// Contacts counts each account's contacts in the copy.
	Contacts map[int64]int
}

// Backup copies the database file at src into dst, a file that must not
// exist, as of one moment: SQLite's VACUUM INTO runs in one read
// transaction, so the copy holds every transaction committed before it
// began and none after, while a server goes on writing through its own
// connections (WAL readers and the writer do not block each other). src
// is opened on a connection of its own that runs only the VACUUM INTO,
// which reads it (mode=rw: a missing file is not created); the copy is a
// compacted, ordinary database file that Open takes as it is.
func Backup(ctx context.Context, src, dst string) (BackupInfo, error) {
	var info BackupInfo
	if _, err := os.Stat(src); err != nil {
		return info, fmt.Errorf("sqlite: %w", err)
	}
	if _, err := os.Stat(dst); err == nil {
		return info, fmt.Errorf("sqlite: %s already exists", dst)
	}
	if err := registerFunctions(); err != nil {
		return info, fmt.Errorf("sqlite: registering SQL functions: %w", err)
	}
	db, err := sql.Open("sqlite", fileURI(src)+"?mode=rw&_pragma=busy_timeout(10000)")
	if err != nil {
		return info, fmt.Errorf("sqlite: open %s: %w", src, err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "VACUUM INTO ?", dst); err != nil {
		_ = os.Remove(dst)
		return info, fmt.Errorf("sqlite: copying %s: %w", src, err)
	}
	if err := syncFile(dst); err != nil {
		return info, err
	}
	if info, err = describeCopy(ctx, dst); err != nil {
		return info, fmt.Errorf("sqlite: reading the copy %s: %w", dst, err)
	}
	return info, nil
}

// describeCopy reads a backup's marks and counts, on a connection that
// writes nothing.
func describeCopy(ctx context.Context, path string) (BackupInfo, error) {
	info := BackupInfo{Mark: segmentd.ChangeMark{Seqs: map[int64]int64{}}, Events: map[int64]int64{}, Contacts: map[int64]int{}}
	st, err := os.Stat(path)
	if err != nil {
		return info, err
	}
	info.Bytes = st.Size()
	db, err := sql.Open("sqlite", fileURI(path)+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		return info, err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return info, err
	}
	defer tx.Rollback()
	var seq int64
	if err := tx.QueryRowContext(ctx, qChangeMark).Scan(&info.Mark.StoreID, &seq); err != nil {
		return info, err
	}
	accts, err := queryAll(ctx, tx, scanInt64, "SELECT id FROM accounts")
	if err != nil {
		return info, err
	}
	for _, a := range accts {
		info.Mark.Seqs[a] = seq
		var last int64
		if err := tx.QueryRowContext(ctx, qEventsLastSeq, a).Scan(&last); err != nil {
			return info, err
		}
		info.Events[a] = last
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM contacts WHERE account_id = ?", a).Scan(&n); err != nil {
			return info, err
		}
		info.Contacts[a] = n
	}
	return info, nil
}

// fileURI is path as a file: URI, escaped so that '?' and '#' do not start
// its query or fragment.
func fileURI(path string) string {
	return "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errors.Join(fmt.Errorf("sqlite: syncing %s", path), err)
	}
	return nil
}
