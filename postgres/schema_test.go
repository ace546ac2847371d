package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

// globalTables are the tables that belong to no account: reference tables
// on Citus (schema_migrations stays on the coordinator). Every other table
// is an account table.
var globalTables = []string{"accounts", "api_keys", "store_identity", "schema_migrations", "delivery_fence"}

// schemaViolations reads the catalog of the connection's current schema
// and returns every way it breaks the rules that let Citus distribute it
// by account (docs/postgres.md, "Schema"):
//   - every account table has account_id bigint NOT NULL;
//   - every index of an account table, its primary key and unique
//     indexes among them, begins with account_id;
//   - every foreign key between account tables has account_id at the same
//     place on both sides, and no global table references an account
//     table;
//   - every text column compares bytes (COLLATE "C").
func schemaViolations(ctx context.Context, conn *pgx.Conn) ([]string, error) {
	var bad []string
	tables, err := queryAll(ctx, conn, scanString, `SELECT relname FROM pg_class
		WHERE relnamespace = current_schema()::regnamespace AND relkind IN ('r', 'p') ORDER BY relname`)
	if err != nil {
		return nil, err
	}
	if len(tables) < 10 {
		return nil, fmt.Errorf("the schema has only the tables %v", tables)
	}
	for _, table := range tables {
		account := !slices.Contains(globalTables, table)
		rows, err := conn.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull, coalesce(co.collname, '')
			FROM pg_attribute a LEFT JOIN pg_collation co ON co.oid = a.attcollation
			WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`, table)
		if err != nil {
			return nil, err
		}
		hasAccount := false
		for rows.Next() {
			var col, typ, coll string
			var notNull bool
			if err := rows.Scan(&col, &typ, &notNull, &coll); err != nil {
				rows.Close()
				return nil, err
			}
			if col == "account_id" && typ == "bigint" && notNull {
				hasAccount = true
			}
			if typ == "text" && coll != "C" {
				bad = append(bad, fmt.Sprintf("%s.%s: text collated %q, want \"C\"", table, col, coll))
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		if !account {
			continue
		}
		if !hasAccount {
			bad = append(bad, fmt.Sprintf("%s: no account_id bigint NOT NULL column", table))
		}
		rows, err = conn.Query(ctx, `SELECT i.indexrelid::regclass::text,
			ARRAY(SELECT coalesce(a.attname, '(expression)') FROM unnest(i.indkey) WITH ORDINALITY AS k (attnum, n)
				LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.n)
			FROM pg_index i WHERE i.indrelid = $1::regclass`, table)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var index string
			var cols []string
			if err := rows.Scan(&index, &cols); err != nil {
				rows.Close()
				return nil, err
			}
			if len(cols) == 0 || cols[0] != "account_id" {
				bad = append(bad, fmt.Sprintf("%s: index %s on %v does not begin with account_id", table, index, cols))
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	rows, err := conn.Query(ctx, `SELECT conname, conrelid::regclass::text, confrelid::regclass::text,
		ARRAY(SELECT a.attname FROM unnest(conkey) WITH ORDINALITY AS k (attnum, n)
			JOIN pg_attribute a ON a.attrelid = conrelid AND a.attnum = k.attnum ORDER BY k.n),
		ARRAY(SELECT a.attname FROM unnest(confkey) WITH ORDINALITY AS k (attnum, n)
			JOIN pg_attribute a ON a.attrelid = confrelid AND a.attnum = k.attnum ORDER BY k.n)
		FROM pg_constraint WHERE contype = 'f' AND conrelid::regclass::text = ANY($1)`, tables) // not Citus's shards
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var name, from, to string
		var fromCols, toCols []string
		if err := rows.Scan(&name, &from, &to, &fromCols, &toCols); err != nil {
			return nil, err
		}
		fromAccount, toAccount := !slices.Contains(globalTables, from), !slices.Contains(globalTables, to)
		switch {
		case !fromAccount && toAccount:
			bad = append(bad, fmt.Sprintf("%s: global table %s references account table %s", name, from, to))
		case fromAccount && toAccount:
			i, j := slices.Index(fromCols, "account_id"), slices.Index(toCols, "account_id")
			if i < 0 || i != j {
				bad = append(bad, fmt.Sprintf("%s: foreign key %s %v -> %s %v does not pair account_id with account_id", name, from, fromCols, to, toCols))
			}
		}
	}
	return bad, rows.Err()
}

// connect opens a single connection to dsn, closed when the test ends.
func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// TestSchemaRules checks the migrated schema against the rules Citus
// needs to distribute it by account, on plain PostgreSQL too, so that the
// schema cannot drift from what Citus accepts.
func TestSchemaRules(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		dsn := freshSchema(t, srv)
		st, err := Open(t.Context(), dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		st.Close()
		conn := connect(t, dsn)
		bad, err := schemaViolations(t.Context(), conn)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range bad {
			t.Error(b)
		}
	})
}

// TestSchemaRulesCatchViolations shows that schemaViolations finds each
// kind of violation: tables added to a migrated schema that Citus would
// refuse to distribute.
func TestSchemaRulesCatchViolations(t *testing.T) {
	dsn := freshSchema(t, plainServer)
	st, err := Open(t.Context(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	conn := connect(t, dsn)
	for _, ddl := range []string{
		`CREATE TABLE bad_key (account_id bigint NOT NULL, id text COLLATE "C" PRIMARY KEY)`,
		`CREATE TABLE bad_child (account_id bigint NOT NULL, parent text COLLATE "C" REFERENCES bad_key (id))`,
		`CREATE TABLE bad_no_account (id bigint PRIMARY KEY)`,
		`CREATE TABLE bad_collation (account_id bigint NOT NULL, v text)`,
		`ALTER TABLE accounts ADD COLUMN c text COLLATE "C", ADD FOREIGN KEY (id, c) REFERENCES contacts (account_id, id)`,
	} {
		if _, err := conn.Exec(t.Context(), ddl); err != nil {
			t.Fatalf("%s: %v", ddl, err)
		}
	}
	bad, err := schemaViolations(t.Context(), conn)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(bad, "\n")
	for _, want := range []string{
		"bad_key: index bad_key_pkey on [id] does not begin with account_id",
		"does not pair account_id with account_id",
		"bad_no_account: no account_id",
		`bad_collation.v: text collated "default"`,
		"global table accounts references account table contacts",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("violations do not report %q:\n%s", want, got)
		}
	}
}

// TestCitusDistribution checks, on the Citus cluster, that the migrations
// distributed every account table by account_id colocated with contacts,
// made the global tables reference tables, and left schema_migrations on
// the coordinator.
func TestCitusDistribution(t *testing.T) {
	dsn := freshSchema(t, citusServer)
	st, err := Open(t.Context(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	conn := connect(t, dsn)
	tables, err := queryAll(t.Context(), conn, scanString, `SELECT relname FROM pg_class
		WHERE relnamespace = current_schema()::regnamespace AND relkind = 'r' ORDER BY relname`)
	if err != nil {
		t.Fatal(err)
	}
	type dist struct {
		method, column string
		colocation     int64
	}
	got := map[string]dist{}
	rows, err := conn.Query(t.Context(), `SELECT c.relname, p.partmethod::text, coalesce(column_to_column_name(p.logicalrelid, p.partkey), ''), p.colocationid
		FROM pg_dist_partition p JOIN pg_class c ON c.oid = p.logicalrelid WHERE c.relnamespace = current_schema()::regnamespace`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		var d dist
		if err := rows.Scan(&name, &d.method, &d.column, &d.colocation); err != nil {
			t.Fatal(err)
		}
		got[name] = d
	}
	rows.Close()
	contacts := got["contacts"]
	if contacts.method != "h" || contacts.column != "account_id" {
		t.Fatalf("contacts: %+v, want hash-distributed by account_id", contacts)
	}
	for _, table := range tables {
		d, ok := got[table]
		switch {
		case table == "schema_migrations":
			if ok {
				t.Errorf("schema_migrations is in Citus's metadata (%+v): it belongs on the coordinator", d)
			}
		case slices.Contains(globalTables, table):
			if d.method != "n" {
				t.Errorf("%s: %+v, want a reference table", table, d)
			}
		case d.method != "h" || d.column != "account_id" || d.colocation != contacts.colocation:
			t.Errorf("%s: %+v, want distributed by account_id, colocated with contacts (%d)", table, d, contacts.colocation)
		}
	}
}

// TestCitusRouting shows with EXPLAIN on the Citus cluster that the
// statements on an account's data run on one node as one task: each filters
// every table it reads on account_id.
func TestCitusRouting(t *testing.T) {
	dsn := freshSchema(t, citusServer)
	st, err := Open(t.Context(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := t.Context()
	now := time.Now()
	a, err := st.CreateAccount(ctx, "routed", 0, now)
	if err != nil {
		t.Fatal(err)
	}
	l, err := st.CreateList(ctx, a.ID, "l", now)
	if err != nil {
		t.Fatal(err)
	}
	email := "a@example.com"
	res, err := st.UpsertContacts(ctx, a.ID, []segmentd.ContactPatch{{Email: &email}}, []string{l.ID}, now)
	if err != nil {
		t.Fatal(err)
	}
	id := res.Contacts[0].ID
	ids := []string{id}
	conn := connect(t, dsn)
	for _, q := range []struct {
		name string
		sql  string
		args []any
	}{
		{"Contact", qContacts + "c.id = $2", []any{a.ID, id}},
		{"a page's rows", qPageRows, []any{a.ID, "", 5000}},
		{"a page's lists", qPageLists, []any{a.ID, memberID(id), memberID(id)}},
		{"a page's tags", qPageTags, []any{a.ID, "", id}},
		{"a page's Constant Contact attributes", qPageCC, []any{a.ID, "", id}},
		{"SampleContacts", qContacts + "true ORDER BY c.updated_at DESC, c.id DESC LIMIT $2", []any{a.ID, 50}},
		{"contacts by id", qContactsByID, []any{a.ID, ids}},
		{"contacts by email", qContactsByEmail, []any{a.ID, []string{email}}},
		{"contacts by external id", qContactsByIdentifier[segmentd.IdentifierExternalID], []any{a.ID, []string{"x"}}},
		{"upsert's rows by email", qUpsertRowsByIdentifier[segmentd.IdentifierEmail], []any{a.ID, []string{email}}},
		{"upsert's lists and tags", qContactSides, []any{a.ID, ids}},
		{"no contacts", qNoContacts, []any{a.ID}},
		{"memberships held", qMembersHeld, []any{a.ID, memberIDs([]string{l.ID}), memberIDs(ids)}},
		{"email owners", qEmailOwners, []any{a.ID, []string{email}}},
		{"email owners with their epoch", qEmailOwnersNow, []any{a.ID, []string{email}}},
		{"unattached events", qEventsUnattached, []any{a.ID, []string{email}}},
		{"CountContacts", "SELECT count(*) FROM contacts WHERE account_id = $1", []any{a.ID}},
		{"delete contacts", qDeleteContacts, []any{a.ID, ids}},
		{"Lists", qLists + "l.id > $2 ORDER BY l.id LIMIT $3", []any{a.ID, "", 100}},
		{"next change", qNextChange, []any{a.ID}},
		{"reserve events", qReserveEvents, []any{a.ID, 10, int64(0)}},
		{"insert event ids", qInsertEventIDs, []any{a.ID, []string{"sg-1"}}},
		{"add event ids", qAddEventIDs, []any{a.ID, []string{"sg-1"}}},
		{"ScanEvents", qScanEvents, []any{a.ID, int64(0), 50000, int64(100)}},
		{"event blocks", qScanBlocks, []any{a.ID, int64(0), blocksPerRead}},
		{"insert a block", qInsertBlock, []any{a.ID, int64(2), int64(1), int64(0), []byte{1}}},
		{"insert a call's block", qInsertBlockAfter, []any{a.ID, int64(2), int64(1), int64(0), []byte{1}, int64(0)}},
		{"forget event ids", qForgetEventIDs, []any{a.ID, []string{"sg-1"}}},
		{"last block", qBlocksLastSeq, []any{a.ID}},
		{"attach events", qAttachEvents, []any{a.ID, []string{email}, ids}},
		{"attached events", qAttachedSeqs, []any{a.ID, int64(0), int64(10)}},
		{"events by number", qEventsBySeq, []any{a.ID, []int64{1, 2}}},
		{"prune events", qPruneEvents, []any{a.ID, int64(0), pruneChunk}},
		{"next row to pack", qNextPackRow, []any{a.ID, int64(0)}},
		{"the block from a number", qBlockFrom, []any{a.ID, int64(1)}},
		{"attached in a range", qAttachedIn, []any{a.ID, int64(1), int64(4096)}},
		{"take rows to pack", qTakePackRows, []any{a.ID, int64(1), int64(4096), []int64{}}},
		{"a block's data", qBlockData, []any{a.ID, int64(1)}},
		{"write a block again", qRewriteBlock, []any{a.ID, int64(1), int64(0), []byte{1}}},
		{"oldest event", qEventsMinTime, []any{a.ID}},
		{"changed contacts", qChangedContacts, []any{a.ID, int64(0)}},
		{"deletions", qDeletionsAfter, []any{a.ID, int64(0)}},
		{"refreshes", qRefreshesSince, []any{a.ID, int64(0)}},
		{"segment with its refreshes", qSegmentWithRefreshes, []any{a.ID, "x", int64(0)}},
		{"an API key with its account", qAPIKeyWithAccount, []any{"x"}},
		{"segments", segmentSelect + "deleted_at IS NULL ORDER BY created_at, id", []any{a.ID}},
		{"cc segments", ccSegmentSelect + "deleted_at IS NULL ORDER BY name_key, segment_id", []any{a.ID}},
	} {
		plan, err := queryAll(ctx, conn, scanString, "EXPLAIN "+q.sql, q.args...)
		if err != nil {
			t.Fatalf("%s: EXPLAIN: %v", q.name, err)
		}
		text := strings.Join(plan, "\n")
		if !strings.Contains(text, "Task Count: 1\n") {
			t.Errorf("%s is not routed to one node:\n%s", q.name, text)
		}
	}
	// A block reaches the worker as a parameter, not written out in the
	// statement's text for the worker to parse again.
	plan, err := queryAll(ctx, conn, scanString, "EXPLAIN (VERBOSE) "+qInsertBlockAfter, a.ID, int64(2), int64(1), int64(0), []byte{0xab, 0xcd}, int64(0))
	if err != nil {
		t.Fatalf("insert a block: EXPLAIN: %v", err)
	}
	var query string // the statement the worker is sent
	for _, line := range plan {
		if _, q, ok := strings.Cut(line, "Query: "); ok {
			query = q
		}
	}
	if strings.Contains(query, "abcd") || !strings.Contains(query, "$5") {
		t.Errorf("insert a block: the worker's statement holds the block as a literal, not a parameter:\n%s", strings.Join(plan, "\n"))
	}
}
