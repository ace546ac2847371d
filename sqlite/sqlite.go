// Package sqlite is segmentd's embedded store: segmentd.Store over one SQLite
// database file, through the pure-Go driver modernc.org/sqlite.
//
// The schema lives in migrations/ (embedded in the binary, applied in order at
// Open). Its conventions are shared with the PostgreSQL store and with the
// query package's SQL generator: times are INTEGER unix milliseconds (UTC),
// unset text is NULL, emails are lower-cased, custom_fields is a JSON object
// keyed by field id. Do not change what a column means without changing them.
//
// This is the only package that imports the SQLite driver. It must not import
// net/http or any API face.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/bits"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/eventblock"
	"github.com/segmentd/segmentd/internal/jsonenc"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is segmentd.Store on SQLite.
//
// SQLite allows one writer at a time, so every write goes through write, a
// pool of exactly one connection whose transactions begin IMMEDIATE: writes
// queue in Go instead of failing with SQLITE_BUSY, and a read-modify-write
// (an upsert matching contacts) cannot race another writer. Reads use read, a
// separate pool of query-only connections; in WAL mode they see the last
// committed state and are never blocked by a long write.
type Store struct {
	write *sql.DB
	read  *sql.DB
	reads preparedReads // read's statements that every request runs (prepared.go)
	ckpt  *sql.DB       // background WAL checkpoints (checkpointLoop)

	stop      chan struct{}
	stopped   chan struct{}
	closeOnce sync.Once
	ids       contactIDs

	events  eventCache         // what event ingestion keeps in memory (eventcache.go)
	batch   batchBuffers       // AddEvents' working memory (eventcache.go)
	inserts eventInserts       // AddEvents' statements (events.go)
	span    int64              // the most sequence numbers of an event block (eventpack.go)
	packer  eventblock.Encoder // the writer's block encoder
}

var _ segmentd.Store = (*Store)(nil)

// pageCacheSlot is the memory one page of a connection's page cache takes,
// for a file of pageSize-byte pages. A page with SQLite's header for it (a
// few hundred bytes more) is one allocation of modernc.org/sqlite's
// allocator, which serves up to 16 KiB from slots of the next power of two,
// and anything larger from a mapping of its own, of which the operating
// system's pages it touches count. Measured in a program of its own (one
// connection scanning a table): 8 KiB a page for 4 KiB pages, 20 KiB for
// 16 KiB pages (docs/decisions.md §20). A cache_size given in KiB
// (negative) counts only the pages' own bytes, so it took more memory than
// it named; the caches are sized in pages, from the memory they may take.
func pageCacheSlot(pageSize int) int {
	const header = 512 // SQLite's header of a cached page, and the allocator's, rounded up
	if n := pageSize + header; n <= 16<<10 {
		return 1 << bits.Len(uint(n-1))
	}
	return (pageSize + header + 4095) &^ 4095
}

// The memory the page cache of the writer, and of each read connection,
// may take: 32 MiB and 8 MiB (cachePages).
const (
	writeCacheBytes = 32 << 20
	readCacheBytes  = 8 << 20
)

// cachePages is the cache_size, in pages, of a cache of the given memory
// for a file of pageSize-byte pages.
func cachePages(bytes, pageSize int) int { return bytes / pageCacheSlot(pageSize) }

// Open opens (creating it and its directory if needed) the database file at
// path and brings its schema up to date.
//
// Durability: journal_mode=WAL with synchronous=NORMAL. A commit has written
// its WAL frames to the operating system before it returns, so an
// acknowledged write survives the process being killed (kill -9), which is
// segmentd's durability requirement (docs/decisions.md §1). It is not fsynced
// on every commit, so a power loss or kernel crash may lose the last
// transactions (never corrupt the file); synchronous=FULL would close that
// gap at a large cost in write throughput.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := registerFunctions(); err != nil {
		return nil, fmt.Errorf("sqlite: registering SQL functions: %w", err)
	}
	// A file: URI, so the path is escaped: '?' and '#' would otherwise start
	// the query or fragment.
	uri := fileURI(path)
	size, err := createFile(ctx, path, uri)
	if err != nil {
		return nil, fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	// journal_size_limit: when the WAL is reset after a checkpoint, it is
	// truncated back to 64 MiB, so a burst of writes does not leave a large
	// file behind.
	common := "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)" +
		"&_pragma=foreign_keys(0)&_pragma=temp_store(MEMORY)&_pragma=journal_size_limit(67108864)"

	// The writer never checkpoints (wal_autocheckpoint 0): checkpoints, with
	// their fsyncs, run on a connection of their own in the background
	// (checkpointLoop), so a commit does not wait for them.
	//
	// Its page cache is writeCacheBytes of memory, in pages of the file's
	// size (cachePages). SQLite's B-tree, when a split leaves pages out of
	// order, renumbers them through the page after the 1 GiB lock byte; in
	// a database smaller than that, the commit then walks the whole page
	// cache to drop pages past the end of the file. With 32,768 pages that
	// walk was 1 to 2 ms of every 1,000-event batch (docs/events.md,
	// "Ingestion"); a larger cache did not make contact upserts at a
	// million contacts faster.
	write, err := sql.Open("sqlite", uri+common+fmt.Sprintf("&_txlock=immediate&_pragma=cache_size(%d)&_pragma=wal_autocheckpoint(0)", cachePages(writeCacheBytes, size)))
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)

	// A read connection's page cache is readCacheBytes of memory
	// (cachePages): the reads an API request runs touch a few pages each (counts
	// and samples come from the engine, docs/decisions.md §19), and a scan
	// (the engine's rebuild, an export) reads each page once; a page not
	// cached is one read from the operating system's cache. With 8,192
	// pages each (32 MiB, given in KiB, until session 13), the four
	// connections, filled in turn by the scans, held up to 256 MiB of the
	// server's memory outside Go's heap (docs/events.md, "Memory").
	read, err := sql.Open("sqlite", uri+common+fmt.Sprintf("&_pragma=query_only(1)&_pragma=cache_size(%d)", cachePages(readCacheBytes, size)))
	if err != nil {
		write.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	read.SetConnMaxIdleTime(0)

	ckpt, err := sql.Open("sqlite", uri+common+"&_pragma=wal_autocheckpoint(0)")
	if err != nil {
		write.Close()
		read.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	ckpt.SetMaxOpenConns(1)

	s := &Store{write: write, read: read, reads: preparedReads{db: read}, ckpt: ckpt, stop: make(chan struct{}), stopped: make(chan struct{}),
		span: eventBlockSpan}
	if err := s.migrate(ctx); err != nil {
		close(s.stopped)
		s.Close()
		return nil, fmt.Errorf("sqlite: migrate %s: %w", path, err)
	}
	if err := s.packUpgraded(ctx); err != nil {
		close(s.stopped)
		s.Close()
		return nil, fmt.Errorf("sqlite: packing the events of %s: %w", path, err)
	}
	if err := s.reads.prepare(ctx, txReads); err != nil {
		close(s.stopped)
		s.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	go s.checkpointLoop()
	return s, nil
}

// pageSize is the page size of a database file Open creates. At 16 KiB
// rather than SQLite's 4 KiB a B-tree has a quarter of the pages: the
// contact write path splits and balances pages, and writes WAL frames
// (two system calls each) and checkpoints them, a quarter as often for
// the same rows (docs/sqlite.md, "Page size and the statement journal").
// A file keeps the page size it was made with: in WAL mode SQLite cannot
// change it.
const pageSize = 16384

// createFile makes the database file at path, with pageSize pages and in
// WAL mode, when neither it nor its WAL exists. A page size applies only
// before the first page is written, and the pools' DSN pragmas run in an
// order that sets journal_mode first, which writes that page. It returns
// the file's page size: pageSize for a new file, what its header says for
// an existing one (filePageSize).
func createFile(ctx context.Context, path, uri string) (int, error) {
	for _, p := range []string{path, path + "-wal"} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			if err != nil {
				return 0, err
			}
			return filePageSize(path), nil
		}
	}
	db, err := sql.Open("sqlite", uri)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA page_size = "+strconv.Itoa(pageSize)); err != nil {
		return 0, err
	}
	_, err = conn.ExecContext(ctx, "PRAGMA journal_mode = WAL")
	return pageSize, err
}

// filePageSize reads the page size of the database file at path from its
// header (two bytes at offset 16, big-endian, 1 standing for 65,536). A
// file too short to have a header yet has the size a new file gets.
func filePageSize(path string) int {
	var h [100]byte
	f, err := os.Open(path)
	if err != nil {
		return pageSize
	}
	defer f.Close()
	if _, err := io.ReadFull(f, h[:]); err != nil || string(h[:16]) != "SQLite format 3\x00" {
		return pageSize
	}
	switch n := int(binary.BigEndian.Uint16(h[16:18])); n {
	case 1:
		return 65536
	default:
		return n
	}
}

// checkpointInterval is how often the background checkpoint runs.
const checkpointInterval = 250 * time.Millisecond

// checkpointLoop copies committed WAL frames into the database file in the
// background (PASSIVE: it never blocks the writer or readers). Durability
// does not depend on it: a committed transaction is already in the WAL.
func (s *Store) checkpointLoop() {
	defer close(s.stopped)
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			if _, err := s.ckpt.Exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil && !isBusy(err) {
				// Nothing to do but try again: the WAL keeps every commit.
				continue
			}
		}
	}
}

func isBusy(err error) bool {
	var e *sqlite3.Error
	return errors.As(err, &e) && (e.Code()&0xff == sqlite3lib.SQLITE_BUSY || e.Code()&0xff == sqlite3lib.SQLITE_LOCKED)
}

// Close stops the background checkpoints and closes every connection. The
// last connection to close checkpoints the WAL into the database file.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
	})
	<-s.stopped
	return errors.Join(s.closeInserts(), s.ckpt.Close(), s.reads.close(), s.read.Close(), s.write.Close())
}

// closeInserts finalizes AddEvents' statements, which database/sql does
// not know of, before the writer connection closes.
func (s *Store) closeInserts() error {
	conn, err := s.write.Conn(context.Background())
	if err != nil {
		return nil // the pool is closed: so is everything in it
	}
	defer conn.Close()
	return s.inserts.close(conn)
}

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations ordered by version: files named
// NNNN_description.sql, versions 1, 2, 3… without gaps.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	for _, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version number and '_'", base)
		}
		b, err := migrationFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	for i, m := range out {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration %s: expected version %d", m.name, i+1)
		}
	}
	return out, nil
}

// migrate applies the migrations newer than the database's PRAGMA
// user_version, each in its own transaction together with the new
// user_version, so a crash leaves the schema at a whole version.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	applied := 0
	for _, m := range ms {
		err := s.writeTx(ctx, func(tx *sql.Tx) error {
			var have int
			if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
				return err
			}
			if have >= m.version {
				return nil
			}
			if _, err := tx.ExecContext(ctx, m.sql); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			applied++
			_, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(m.version))
			return err
		})
		if err != nil {
			return err
		}
	}
	if applied > 0 {
		if err := s.vacuumIfSparse(ctx, 4); err != nil {
			return err
		}
	}
	// Refuse a database written by a newer segmentd: its schema may mean
	// something this binary does not know.
	var have int
	if err := s.write.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return err
	}
	if have > len(ms) {
		return fmt.Errorf("database schema version %d is newer than this segmentd (%d)", have, len(ms))
	}
	return nil
}

// vacuumIfSparse rewrites the database file when more than 1/part of its
// pages are free (a quarter after a migration), as after a migration that copied a table and dropped
// the old one (0015 rewrites the events): SQLite reuses free pages but
// never gives them back to the file system by itself, so without it the
// data directory would not shrink at the upgrade. It runs once, at the
// Open that applied the migration; VACUUM needs room on disk for two
// copies of the database beside it while it runs (the temporary copy, then
// the WAL it writes back through, truncated at the next checkpoint).
func (s *Store) vacuumIfSparse(ctx context.Context, part int64) error {
	var free, pages int64
	if err := s.write.QueryRowContext(ctx, "PRAGMA freelist_count").Scan(&free); err != nil {
		return err
	}
	if err := s.write.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		return err
	}
	if free*part <= pages {
		return nil
	}
	// The copy VACUUM builds goes to a temporary file, not to memory as
	// the writer's other temporary tables do: it is as large as the
	// database.
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "PRAGMA temp_store = FILE"); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "VACUUM")
	if _, err2 := conn.ExecContext(ctx, "PRAGMA temp_store = MEMORY"); err == nil {
		err = err2
	}
	if err != nil {
		return fmt.Errorf("vacuum after the migration: %w", err)
	}
	return nil
}

// SchemaVersion returns the database's schema version (its PRAGMA user_version).
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.read.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v)
	return v, err
}

// writeTx runs fn in a write transaction (BEGIN IMMEDIATE on the single
// writer connection) and commits it; any error rolls everything back.
func (s *Store) writeTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	return s.writeTxKeep(ctx, false, fn)
}

// writeTxKeep is writeTx for a write that keeps the remembered emails
// (keepEmails): event ingestion, the upserts (which record what they
// write: upsertWriteTx), and writes that change no contact (the jobs, a
// new list, the change history's pruning, the hooks' records, exports
// and imports). Every
// other write may change which contact an email names, so it forgets
// them, holding the writer.
func (s *Store) writeTxKeep(ctx context.Context, keepEmails bool, fn func(tx *sql.Tx) error) error {
	return s.writeConnTx(ctx, keepEmails, func(_ *sql.Conn, tx *sql.Tx) error { return fn(tx) })
}

// writeConnTx is writeTxKeep that also gives fn the writer connection the
// transaction runs on, for AddEvents to reach the driver's (conn.Raw).
func (s *Store) writeConnTx(ctx context.Context, keepEmails bool, fn func(conn *sql.Conn, tx *sql.Tx) error) error {
	conn, err := s.write.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if !keepEmails {
		s.events.forgetEmails()
	}
	if err := fn(conn, tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// readTx runs fn in a read transaction, so that the several queries of one
// read see one snapshot.
func (s *Store) readTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.read.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	return fn(tx)
}

// rowScanner is what both *sql.Row and *sql.Rows offer.
type rowScanner interface{ Scan(...any) error }

// queryAll runs a query and scans every row with scan; no rows give an
// empty, non-nil slice.
func queryAll[T any](ctx context.Context, q queryer, scan func(rowScanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// queryer is what both *sql.DB and *sql.Tx offer.
type queryer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// toMS converts a time to the stored form: unix milliseconds, UTC.
func toMS(t time.Time) int64 { return t.UnixMilli() }

// fromMS is the inverse of toMS.
func fromMS(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// msTime rounds t down to what the store keeps, so a value returned from a
// write equals the value read back later.
func msTime(t time.Time) time.Time { return fromMS(toMS(t)) }

// nullText is the stored form of a text value: NULL when empty.
func nullText(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// execOne runs a statement that must change one row; when it changes
// none, it returns missing (the row's not-found error).
func execOne(ctx context.Context, tx *sql.Tx, missing error, query string, args ...any) error {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return missing
	}
	return nil
}

// checkName returns KindConflict ("a <what> named … already exists") when
// the count query finds another row of the account holding name.
func checkName(ctx context.Context, tx *sql.Tx, what, name, query string, args ...any) error {
	var n int
	if err := tx.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return segmentd.Errorf(segmentd.KindConflict, "name", "a %s named %s already exists", what, segmentd.Quote(name))
	}
	return nil
}

func notFound(field, format string, args ...any) error {
	return segmentd.Errorf(segmentd.KindNotFound, field, format, args...)
}

// jsonStrings renders values as a JSON array for "IN (SELECT value FROM
// json_each(?))": one bound parameter however many values there are.
func jsonStrings(values []string) string {
	n := 2
	for _, v := range values {
		n += len(v) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, v := range values {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendStored(b, v)
	}
	return string(append(b, ']'))
}

// Ping reports whether the database can be read (the server's readiness).
func (s *Store) Ping(ctx context.Context) error {
	return s.read.PingContext(ctx)
}
