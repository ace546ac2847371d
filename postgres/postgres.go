// Package postgres is segmentd's store on PostgreSQL, and on Citus
// (distributed PostgreSQL) when the database has the citus extension: every
// store interface of the root package over a pgx connection pool.
//
// The schema lives in migrations/ (embedded, applied in order at Open under
// an advisory lock, so that servers starting together migrate once). It
// mirrors the SQLite store's schema, names included, so that the query
// package's SQL generator reads both: times are bigint unix milliseconds
// (UTC), unset text is NULL, emails are lower-cased, custom_fields is a
// jsonb object keyed by field id. On Citus every account-owned table is
// distributed by account_id and colocated with contacts, and every
// statement on an account's data filters each table it reads on
// account_id = $1, so that Citus routes it to the one node holding the
// account (docs/postgres.md).
//
// Several segmentd servers may share the database, so whatever must hold
// across them is enforced by the database, not by this process's memory:
// unique indexes (names, identifiers, sg_event_id), and a per-account row
// lock (account_changes) that every write of an account's data takes
// first, under which limits are counted and change and event numbers are
// taken.
//
// This is the only package that imports pgx. It must not import net/http
// or any API face.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/segmentd/segmentd"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is every segmentd store interface on PostgreSQL.
type Store struct {
	pool *pgxpool.Pool
	db   classified // the pool, its errors classified (unreachable: KindUnavailable)
	ids  contactIDs
	// backends holds the server process ids of the pool's connections,
	// which Listen uses to leave out the store's own notifications.
	backends sync.Map // uint32 → struct{}
	// schema is the schema the store lives in ("": the default), which
	// names its advisory locks.
	schema string
	// owners remembers the contacts events' emails named (owners.go).
	owners owners
	// oneTrip counts the event calls stored in one round trip
	// (AddEventBatches), for tests.
	oneTrip atomic.Int64
	// attachSearches counts the AttachEvents calls that searched the
	// contacts' emails, more than maxWaitingRead emails waiting, for tests.
	attachSearches atomic.Int64
	// joinOdds guesses, per account, whether an upsert's stored contacts
	// joining lists are on them already (upsert.go); joinsAssumed counts
	// the upserts that committed their memberships unprobed, and
	// joinConflicts those that found one held and ran again, for tests.
	joinOdds      joinOdds
	joinsAssumed  atomic.Int64
	joinConflicts atomic.Int64
	// emailsUnread counts the emails upserts did not look up because the
	// remembered owners were complete or the account had no contact
	// (upsert.go), for tests.
	emailsUnread atomic.Int64
	// upsertsRemembered counts the upserts whose every patch was
	// membership-only on a remembered contact (upsertTx), for tests.
	upsertsRemembered atomic.Int64
	// upsertsNew counts the upserts of new contacts made as COPY asked
	// for their rows (writeNew), for tests.
	upsertsNew atomic.Int64
	// testOnlyNoStreaming makes upserts match every batch of new contacts
	// before writing it, as before writeNew, for tests to compare.
	testOnlyNoStreaming bool
	// fence is this store's part in the delivery fence (elect.go).
	fence deliveryFence
	// packBlocks bounds the blocks of a PackEventRows transaction; 0 is
	// packTxBlocks (tests take fewer, to pack in more transactions).
	packBlocks int
}

var (
	_ segmentd.Store           = (*Store)(nil)
	_ segmentd.SegmentStore    = (*Store)(nil)
	_ segmentd.CCSegmentStore  = (*Store)(nil)
	_ segmentd.EventStore      = (*Store)(nil)
	_ segmentd.WebhookKeyStore = (*Store)(nil)
	_ segmentd.JobQueue        = (*Store)(nil)
	_ segmentd.Notifier        = (*Store)(nil)
)

// Options tune Open.
type Options struct {
	// MaxConns bounds the connection pool; 0 keeps the DSN's pool_max_conns
	// or pgxpool's default (the larger of 4 and the number of CPUs).
	MaxConns int32
}

// Open connects to the database that dsn names and brings its schema up to
// date. dsn is a libpq connection string, as a URL
// (postgres://user:pass@host:port/db?sslmode=require) or as key=value
// words; its parameters are honoured as libpq would (sslmode, sslrootcert,
// connect_timeout, application_name, …). A search_path parameter selects
// the schema the store lives in: its first schema is created when missing.
//
// Open fails when the server cannot be reached (a segmentd.Error of kind
// KindUnavailable); retrying is the caller's choice.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err) // pgconn leaves the password out
	}
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	// The store's statements are short, or long scans in key order, with
	// plans that JIT compilation only delays (by 10 ms or more when a
	// large batch's estimates pass jit_above_cost), unless the DSN asks.
	if _, ok := cfg.ConnConfig.RuntimeParams["jit"]; !ok {
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	s := &Store{}
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		s.backends.Store(c.PgConn().PID(), struct{}{})
		return nil
	}
	cfg.BeforeClose = func(c *pgx.Conn) { s.backends.Delete(c.PgConn().PID()) }
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s.pool, s.db = pool, classified{pool}
	if err := classify(pool.Ping(ctx)); err != nil {
		pool.Close()
		return nil, err
	}
	schema := firstSchema(searchPath(cfg.ConnConfig.RuntimeParams))
	s.schema = schema
	if err := s.migrate(ctx, schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: migrate: %w", classify(err))
	}
	return s, nil
}

// Close closes every connection of the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// searchPath returns the search_path a connection's startup parameters
// set: a search_path parameter (which pgx sends as it is), or libpq's way,
// "-c search_path=…" in options.
func searchPath(params map[string]string) string {
	if p, ok := params["search_path"]; ok {
		return p
	}
	opts := strings.Fields(params["options"])
	for i, o := range opts {
		o = strings.TrimPrefix(o, "--")
		if o == "-c" && i+1 < len(opts) {
			o = opts[i+1]
		}
		o = strings.TrimPrefix(o, "-c")
		if v, ok := strings.CutPrefix(o, "search_path="); ok {
			return v
		}
	}
	return ""
}

// firstSchema returns the first schema a search_path setting names, or ""
// when it names none or names "$user" first (a schema the server resolves
// per role, which Open leaves alone).
func firstSchema(searchPath string) string {
	p := strings.TrimSpace(searchPath)
	if p == "" {
		return ""
	}
	var name string
	if p[0] == '"' {
		// A quoted identifier: "" inside stands for one quote.
		var b strings.Builder
		for i := 1; i < len(p); i++ {
			if p[i] == '"' {
				if i+1 < len(p) && p[i+1] == '"' {
					b.WriteByte('"')
					i++
					continue
				}
				break
			}
			b.WriteByte(p[i])
		}
		name = b.String()
	} else {
		name, _, _ = strings.Cut(p, ",")
		name = strings.ToLower(strings.TrimSpace(name))
	}
	if name == "$user" {
		return ""
	}
	return name
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

// migrationLockKey is the advisory lock that serialises the migrations of
// one schema: servers starting together take turns, and the later ones
// find nothing left to do. Advisory locks are per database, so the key
// names the schema, and stores in other schemas do not wait.
func migrationLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("segmentd migrations\x00" + schema))
	return int64(h.Sum64())
}

const qSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    integer PRIMARY KEY,
	name       text COLLATE "C" NOT NULL,
	applied_at bigint NOT NULL
)`

// migrate creates the schema when missing and applies the migrations newer
// than those schema_migrations records, each in its own transaction
// together with its schema_migrations row, all under the schema's advisory
// lock (held by the session, so a server that dies releases it).
func (s *Store) migrate(ctx context.Context, schema string) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey(schema)); err != nil {
		return err
	}
	defer func() {
		// A failed unlock leaves the lock to the connection: close it, and
		// the server releases the lock.
		if _, err := conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLockKey(schema)); err != nil {
			conn.Conn().Close(context.Background())
		}
	}()
	if schema != "" {
		if _, err := conn.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return err
		}
	}
	if _, err := conn.Exec(ctx, qSchemaMigrations); err != nil {
		return err
	}
	var have int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&have); err != nil {
		return err
	}
	// Refuse a database written by a newer segmentd: its schema may mean
	// something this binary does not know.
	if have > len(ms) {
		return fmt.Errorf("database schema version %d is newer than this segmentd (%d)", have, len(ms))
	}
	for _, m := range ms[have:] {
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// One statement at a time: Citus propagates a DDL statement to
			// the workers with the text it came in, which must hold that
			// one statement alone.
			for _, stmt := range splitStatements(m.sql) {
				if _, err := tx.Exec(ctx, stmt); err != nil {
					return fmt.Errorf("%s: %w", m.name, err)
				}
			}
			_, err := tx.Exec(ctx, "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
				m.version, m.name, toMS(time.Now()))
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// splitStatements splits SQL text at the semicolons that end statements,
// skipping those in quotes, dollar-quoted bodies and comments. Statements
// are returned without their semicolon; empty ones (comments only) are
// left out.
func splitStatements(sql string) []string {
	var out []string
	start := 0
	hasCode := false
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; {
		case c == '-' && strings.HasPrefix(sql[i:], "--"):
			if j := strings.IndexByte(sql[i:], '\n'); j >= 0 {
				i += j
			} else {
				i = len(sql)
			}
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			if j := strings.Index(sql[i+2:], "*/"); j >= 0 {
				i += j + 3
			} else {
				i = len(sql)
			}
		case c == '\'' || c == '"':
			hasCode = true
			if j := strings.IndexByte(sql[i+1:], c); j >= 0 {
				i += j + 1 // a doubled quote reads as two quoted strings: the same split
			} else {
				i = len(sql)
			}
		case c == '$':
			hasCode = true
			// A dollar quote: $$ or $tag$, up to the same tag again.
			j := i + 1
			for j < len(sql) && (sql[j] == '_' || 'a' <= sql[j] && sql[j] <= 'z' || 'A' <= sql[j] && sql[j] <= 'Z' || '0' <= sql[j] && sql[j] <= '9') {
				j++
			}
			if j < len(sql) && sql[j] == '$' && (j == i+1 || sql[i+1] < '0' || sql[i+1] > '9') {
				tag := sql[i : j+1]
				if k := strings.Index(sql[j+1:], tag); k >= 0 {
					i = j + k + len(tag)
				} else {
					i = len(sql)
				}
			}
		case c == ';':
			if hasCode {
				out = append(out, strings.TrimSpace(sql[start:i]))
			}
			start, hasCode = i+1, false
		case c != ' ' && c != '\t' && c != '\n' && c != '\r':
			hasCode = true
		}
	}
	if hasCode {
		out = append(out, strings.TrimSpace(sql[start:]))
	}
	return out
}

// SchemaVersion returns the last migration applied to the database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	err := s.db.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM schema_migrations").Scan(&v)
	return v, err
}

// inTx runs fn in a transaction (READ COMMITTED: each statement sees what
// was committed before it began, so a statement run after the account
// lock sees every write of the lock's previous holder) and commits it;
// any error rolls everything back.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return classify(pgx.BeginFunc(ctx, s.pool, fn))
}

// readTx runs fn in a read-only REPEATABLE READ transaction, so that the
// several queries of one read see one snapshot.
func (s *Store) readTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return classify(pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn))
}

// querier is what the pool, a connection and a transaction all offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// The per-account lock (account_changes). Every transaction that writes
// an account's data takes it with its first statement, so that the
// account's writers run one at a time whichever server they are on: an
// upsert's read-modify-write of contacts, a limit counted before an
// insert, an event matched to the contacts of its email. The lock is the
// account's own row, so accounts never wait for each other; every
// transaction takes only its own account's row, so none can deadlock on
// it. The row is created by the account's first write.
const (
	qLockAccount = `INSERT INTO account_changes AS a (account_id) VALUES ($1)
		ON CONFLICT (account_id) DO UPDATE SET change_seq = a.change_seq`
	// qNextChange takes the account's next change number. Taken under the
	// row lock, the numbers of one account are given in commit order: a
	// writer can take the next number only after the previous holder has
	// committed (or rolled back, and its number is given again). It
	// returns the number and the owners' epoch (owners.go) it moved the
	// account to: a writer other than an event batch (qReserveEvents)
	// moves it by one.
	qNextChange = `INSERT INTO account_changes AS a (account_id, change_seq) VALUES ($1, 1)
		ON CONFLICT (account_id) DO UPDATE SET change_seq = a.change_seq + 1
		RETURNING change_seq, change_seq - event_changes`
)

// lockAccount takes the account's lock for the transaction.
func lockAccount(ctx context.Context, tx pgx.Tx, acct int64) error {
	_, err := tx.Exec(ctx, qLockAccount, acct)
	return err
}

// nextChange takes the account's lock and its next change number, and
// tells the servers that follow the database that the account changed.
func nextChange(ctx context.Context, tx txConn, acct int64) (int64, error) {
	seq, _, err := nextChangeEpoch(ctx, tx, acct)
	return seq, err
}

// nextChangeEpoch is nextChange that also returns the owners' epoch the
// number moved the account to (owners.go).
func nextChangeEpoch(ctx context.Context, tx txConn, acct int64) (seq, epoch int64, err error) {
	err = lockAndNotify(ctx, tx, acct, qNextChange, []any{acct}, &seq, &epoch)
	return seq, epoch, err
}

// lockAndNotify runs query, which takes the account's lock and returns
// one row scanned into dst, and the account's notification (qNotify), sent
// together: one round trip to the database rather than two.
func lockAndNotify(ctx context.Context, tx txConn, acct int64, query string, args []any, dst ...any) error {
	var b pgx.Batch
	b.Queue(query, args...).QueryRow(func(row pgx.Row) error { return row.Scan(dst...) })
	b.Queue(qNotify, changesChannel, strconv.FormatInt(acct, 10))
	return tx.SendBatch(ctx, &b).Close()
}

// changesChannel is the LISTEN/NOTIFY channel of the change history: each
// transaction that takes a change number notifies its account's id, which
// PostgreSQL delivers to the listening servers when it commits (and not if
// it rolls back).
const changesChannel = "segmentd_changes"

// qNotify notifies the channel $1 of the account $2 (lockAndNotify).
const qNotify = "SELECT pg_notify($1, $2)"

// queryAll runs a query and scans every row with scan; no rows give an
// empty, non-nil slice.
func queryAll[T any](ctx context.Context, q querier, scan func(pgx.Row) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.Query(ctx, query, args...)
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

// execOne runs a statement that must change one row; when it changes
// none, it returns missing (the row's not-found error).
func execOne(ctx context.Context, tx pgx.Tx, missing error, query string, args ...any) error {
	tag, err := tx.Exec(ctx, query, args...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return missing
	}
	return nil
}

// checkName returns KindConflict ("a <what> named … already exists") when
// the query finds another row of the account holding name.
func checkName(ctx context.Context, tx pgx.Tx, what, name, query string, args ...any) error {
	var taken bool
	if err := tx.QueryRow(ctx, query, args...).Scan(&taken); err != nil {
		return err
	}
	if taken {
		return nameTaken(what, name)
	}
	return nil
}

func nameTaken(what, name string) error {
	return segmentd.Errorf(segmentd.KindConflict, "name", "a %s named %s already exists", what, segmentd.Quote(name))
}

// isUniqueViolation reports whether err is PostgreSQL's unique_violation.
// The checks under the account lock find duplicates first; this is the
// backstop that turns a race the lock does not cover (two new accounts of
// one name, two keys of one hash) into the conflict the interfaces
// promise instead of an internal error.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func notFound(field, format string, args ...any) error {
	return segmentd.Errorf(segmentd.KindNotFound, field, format, args...)
}

// toMS converts a time to the stored form: unix milliseconds, UTC.
func toMS(t time.Time) int64 { return t.UnixMilli() }

// fromMS is the inverse of toMS.
func fromMS(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// msTime rounds t down to what the store keeps, so a value returned from a
// write equals the value read back later.
func msTime(t time.Time) time.Time { return fromMS(toMS(t)) }

// nullMS is the stored form of an optional time: NULL when zero.
func nullMS(t time.Time) *int64 {
	if t.IsZero() {
		return nil
	}
	ms := toMS(t)
	return &ms
}

// timeOf reads an optional stored time.
func timeOf(ms *int64) time.Time {
	if ms == nil {
		return time.Time{}
	}
	return fromMS(*ms)
}

// DropSchema drops the schema the first entry of dsn's search_path names,
// with everything in it: a test's fresh schema, or a store given up. A DSN
// without a search_path drops nothing.
func DropSchema(ctx context.Context, dsn string) error {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	schema := firstSchema(searchPath(cfg.RuntimeParams))
	if schema == "" {
		return nil
	}
	delete(cfg.RuntimeParams, "search_path")
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return classify(err)
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
	return classify(err)
}

// TableSize is the space one table or index takes on disk.
type TableSize struct {
	Table string // the table; for an index, the table it indexes
	Index string // the index, or "" for the table itself (with its TOAST)
	Bytes int64
}

// CitusIndexes is the Index of the row that holds all of a distributed
// table's indexes on Citus, which measures them only together.
const CitusIndexes = "(indexes)"

// Sizes returns the bytes each of segmentd's tables and indexes takes on
// disk, in the schema the store uses, largest first: a table's row counts
// its heap and TOAST (pg_table_size), each index a row of its own. On Citus
// a distributed table counts its shards on every worker (the coordinator's
// own copy is empty), with its indexes in one row named CitusIndexes, as
// Citus sizes shards' indexes only together; a reference table counts one
// of its copies.
func (s *Store) Sizes(ctx context.Context) ([]TableSize, error) {
	const tables = `FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema()`
	const plain = `SELECT c.relname, '', pg_table_size(c.oid) ` + tables + `
	UNION ALL
	SELECT c.relname, i.relname, pg_relation_size(i.oid)
	FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
	JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema()
	ORDER BY 3 DESC, 1, 2`
	const citus = `SELECT c.relname, '', CASE WHEN d.partmethod = 'h' THEN citus_table_size(c.oid) ELSE pg_table_size(c.oid) END
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	LEFT JOIN pg_dist_partition d ON d.logicalrelid = c.oid
	WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema()
	UNION ALL
	SELECT c.relname, '` + CitusIndexes + `', citus_total_relation_size(c.oid) - citus_table_size(c.oid)
	FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	JOIN pg_dist_partition d ON d.logicalrelid = c.oid
	WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema() AND d.partmethod = 'h'
	UNION ALL
	SELECT c.relname, i.relname, pg_relation_size(i.oid)
	FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class c ON c.oid = x.indrelid
	JOIN pg_namespace n ON n.oid = c.relnamespace
	LEFT JOIN pg_dist_partition d ON d.logicalrelid = c.oid
	WHERE c.relkind IN ('r', 'p') AND n.nspname = current_schema() AND d.partmethod IS DISTINCT FROM 'h'
	ORDER BY 3 DESC, 1, 2`
	var hasCitus bool
	if err := s.db.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')").Scan(&hasCitus); err != nil {
		return nil, err
	}
	q := plain
	if hasCitus {
		q = citus
	}
	rows, err := s.db.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TableSize
	for rows.Next() {
		var t TableSize
		if err := rows.Scan(&t.Table, &t.Index, &t.Bytes); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// Size returns the bytes that segmentd's tables take on disk, their
// indexes and TOAST included: the sum of Sizes.
func (s *Store) Size(ctx context.Context) (int64, error) {
	sizes, err := s.Sizes(ctx)
	var n int64
	for _, t := range sizes {
		n += t.Bytes
	}
	return n, err
}
