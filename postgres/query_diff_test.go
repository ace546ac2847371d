package postgres_test

// Differential test on PostgreSQL: every valid query of the query package's
// corpus and the Constant Contact criteria, turned into SQL by
// query.GenerateSQL with the PostgreSQL dialect and run on a real server,
// select exactly the contacts the Go evaluator accepts
// (internal/querydiff, shared with the SQLite store's test). It runs on
// plain PostgreSQL (SEGMENTD_TEST_POSTGRES) and on the Citus cluster
// (SEGMENTD_TEST_CITUS), where the tables are distributed by account_id as
// the store distributes them. Each run has a schema of its own.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/querydiff"
	"github.com/segmentd/segmentd/query"
)

// diffServer is a test server: the environment variable naming its DSN
// (set by .ci/services), whether it is a Citus cluster, and the collation
// the test gives every text column ("" for the database's own).
type diffServer struct {
	name, env string
	citus     bool
	collation string
}

// The generated SQL must not depend on the database's collation: the test
// servers' are C (Citus) and C.UTF-8 (PostgreSQL), which order strings
// byte-wise; under ICU's English one 'a' sorts before 'B' and lower()
// folds 'Á'.
var diffServers = []diffServer{
	{name: "postgres", env: "SEGMENTD_TEST_POSTGRES"},
	{name: "postgres_en-x-icu", env: "SEGMENTD_TEST_POSTGRES", collation: "en-x-icu"},
	{name: "citus", env: "SEGMENTD_TEST_CITUS", citus: true},
}

// forEachDiffServer runs f once per server, as a subtest named after it.
// A server whose variable is unset fails the test under CI=true and is
// skipped elsewhere.
func forEachDiffServer(t *testing.T, f func(t *testing.T, srv diffServer, dsn string)) {
	for _, srv := range diffServers {
		t.Run(srv.name, func(t *testing.T) {
			dsn := os.Getenv(srv.env)
			if dsn == "" {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s is not set: CI must run the test servers (eval \"$(.ci/services)\")", srv.env)
				}
				t.Skipf("%s is not set; eval \"$(.ci/services)\" starts the test servers", srv.env)
			}
			f(t, srv, dsn)
		})
	}
}

// diffConnect connects to a fresh schema of the server, dropped when the
// test ends.
func diffConnect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_querydiff_" + hex.EncodeToString(b)
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	if _, err := admin.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close(ctx)
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
		admin.Close(ctx)
	})
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// createDiffSchema creates the tables the generated SQL reads, with the
// names and types of the store's schema contract, and on Citus distributes
// them by account_id, colocated with contacts, as the store does. When the
// postgres package's migrations exist, this function becomes "apply them"
// and nothing else in the test changes (unless they add foreign keys, to
// accounts or lists, whose rows loadDiffContacts must then insert first).
func createDiffSchema(t *testing.T, conn *pgx.Conn, citus bool) {
	t.Helper()
	ctx := context.Background()
	var text []string
	for f := query.TextField(0); f < query.NumTextFields; f++ {
		text = append(text, f.Name()+" text")
	}
	ddl := []string{
		`CREATE TABLE contacts (
			account_id bigint NOT NULL,
			id text NOT NULL,
			` + strings.Join(text, ",\n\t\t\t") + `,
			alternate_emails jsonb NOT NULL DEFAULT '[]',
			custom_fields jsonb NOT NULL DEFAULT '{}',
			created_at bigint NOT NULL,
			updated_at bigint NOT NULL,
			change_seq bigint NOT NULL DEFAULT 0,
			PRIMARY KEY (account_id, id))`,
		`CREATE TABLE lists (
			account_id bigint NOT NULL,
			id text NOT NULL,
			PRIMARY KEY (account_id, id))`,
		`CREATE TABLE list_members (
			account_id bigint NOT NULL,
			list_id uuid NOT NULL,
			contact_id uuid NOT NULL,
			added_at bigint NOT NULL,
			PRIMARY KEY (account_id, contact_id, list_id))`,
		`CREATE TABLE contact_tags (
			account_id bigint NOT NULL,
			contact_id text NOT NULL,
			tag_id text NOT NULL,
			added_at bigint NOT NULL,
			PRIMARY KEY (account_id, contact_id, tag_id))`,
		`CREATE TABLE events (
			account_id bigint NOT NULL,
			seq bigint NOT NULL,
			contact_id text,
			email text NOT NULL,
			event_source text NOT NULL DEFAULT 'mail',
			event_type text NOT NULL,
			event_timestamp bigint NOT NULL,
			singlesend_id text,
			automation_id text,
			marketing_campaign_id text,
			url text,
			sg_event_id text,
			PRIMARY KEY (account_id, seq))`,
	}
	if citus {
		ddl = append(ddl,
			`SELECT create_distributed_table('contacts', 'account_id')`,
			`SELECT create_distributed_table('lists', 'account_id', colocate_with => 'contacts')`,
			`SELECT create_distributed_table('list_members', 'account_id', colocate_with => 'contacts')`,
			`SELECT create_distributed_table('contact_tags', 'account_id', colocate_with => 'contacts')`,
			`SELECT create_distributed_table('events', 'account_id', colocate_with => 'contacts')`)
	}
	for _, s := range ddl {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%v\n%s", err, s)
		}
	}
}

// collateDiffSchema gives every text column of the schema the collation.
func collateDiffSchema(t *testing.T, conn *pgx.Conn, collation string) {
	t.Helper()
	ctx := context.Background()
	rows, err := conn.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND data_type = 'text' ORDER BY table_name, column_name`)
	if err != nil {
		t.Fatal(err)
	}
	cols, err := pgx.CollectRows(rows, pgx.RowToStructByPos[struct{ Table, Column string }])
	if err != nil {
		t.Fatal(err)
	}
	if len(cols) < int(query.NumTextFields) {
		t.Fatalf("only %d text columns in the schema", len(cols))
	}
	for _, c := range cols {
		s := "ALTER TABLE " + pgx.Identifier{c.Table}.Sanitize() + " ALTER COLUMN " + pgx.Identifier{c.Column}.Sanitize() +
			" TYPE text COLLATE " + pgx.Identifier{collation}.Sanitize()
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%v\n%s", err, s)
		}
	}
}

// diffNull is a text value as the store keeps it: unset is NULL, never
// the empty string.
func diffNull(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// diffIDs are the contact and list ids of the test's records ("c1",
// "L1"), each with the UUID the database keeps it as: list_members keeps
// uuid (the store's migration 0026), and the store's ids are UUIDs. A
// statement's arguments that are such ids are sent as their UUIDs, and
// the ids it selects read back as the records'.
type diffIDs map[string]string

// diffUUID is the UUID id is kept as: a version 4 UUID from its hash.
func diffUUID(id string) string {
	h := sha256.Sum256([]byte(id))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	return segmentd.FormatUUID([16]byte(h[:16]))
}

// add records recs' contact and list ids.
func (ids diffIDs) add(recs []*query.Record) {
	for _, r := range recs {
		ids[r.ID] = diffUUID(r.ID)
		for _, l := range r.ListIDs {
			ids[l] = diffUUID(l)
		}
	}
}

// loadDiffContacts copies recs into the account's rows of the five
// tables, with one event of no contact that no query may select.
func loadDiffContacts(t *testing.T, conn *pgx.Conn, account int64, recs []*query.Record, cat *query.Catalog) {
	t.Helper()
	ctx := context.Background()
	cols := []string{"account_id", "id", "alternate_emails", "custom_fields", "created_at", "updated_at"}
	for f := query.TextField(0); f < query.NumTextFields; f++ {
		cols = append(cols, f.Name())
	}
	var contacts, lists, members, taggings, events [][]any
	listed := map[string]bool{}
	for _, r := range recs {
		id := diffUUID(r.ID)
		cf, err := json.Marshal(querydiff.CustomFields(cat, r))
		if err != nil {
			t.Fatal(err)
		}
		alt, err := json.Marshal(append([]string{}, r.AlternateEmails...))
		if err != nil {
			t.Fatal(err)
		}
		row := []any{account, id, json.RawMessage(alt), json.RawMessage(cf), r.CreatedAt, r.UpdatedAt}
		for f := query.TextField(0); f < query.NumTextFields; f++ {
			row = append(row, diffNull(r.Text[f]))
		}
		contacts = append(contacts, row)
		for _, l := range r.ListIDs {
			if !listed[l] {
				listed[l] = true
				lists = append(lists, []any{account, diffUUID(l)})
			}
			members = append(members, []any{account, diffUUID(l), id, int64(0)})
		}
		for _, tag := range r.TagIDs {
			taggings = append(taggings, []any{account, id, tag, int64(0)})
		}
		for _, e := range r.Events {
			events = append(events, []any{account, int64(len(events) + 1), id, r.Text[query.FieldEmail] + "x", e.Source, e.Type, e.Timestamp,
				diffNull(e.SinglesendID), diffNull(e.AutomationID), diffNull(e.MarketingCampaignID), diffNull(e.URL)})
		}
	}
	events = append(events, []any{account, int64(len(events) + 1), nil, "nobody@x.test", "mail", "open", querydiff.Now.UnixMilli(), nil, nil, nil, nil})
	for _, c := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"contacts", cols, contacts},
		{"lists", []string{"account_id", "id"}, lists},
		{"list_members", []string{"account_id", "list_id", "contact_id", "added_at"}, members},
		{"contact_tags", []string{"account_id", "contact_id", "tag_id", "added_at"}, taggings},
		{"events", []string{"account_id", "seq", "contact_id", "email", "event_source", "event_type", "event_timestamp",
			"singlesend_id", "automation_id", "marketing_campaign_id", "url"}, events},
	} {
		n, err := conn.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows))
		if err != nil || n != int64(len(c.rows)) {
			t.Fatalf("copy %d rows into %s: %d copied, %v", len(c.rows), c.table, n, err)
		}
	}
}

// diffStore is conn as querydiff runs statements on it. On Citus it also
// checks that each statement is routed to the one shard of its account.
func diffStore(conn *pgx.Conn, citus bool, ids diffIDs) querydiff.Store {
	back := map[string]string{}
	for id, u := range ids {
		back[u] = id
	}
	return querydiff.Store{Name: "PostgreSQL", Dialect: query.PostgreSQL(), Run: func(t *testing.T, st query.Statement) []string {
		t.Helper()
		st.Args = slices.Clone(st.Args)
		for i, a := range st.Args {
			if s, ok := a.(string); ok && ids[s] != "" {
				st.Args[i] = ids[s]
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if citus {
			rows, err := conn.Query(ctx, "EXPLAIN "+st.SQL, st.Args...)
			if err != nil {
				t.Fatalf("%v\nEXPLAIN %s\nargs: %v", err, st.SQL, st.Args)
			}
			plan, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			if text := strings.Join(plan, "\n"); !strings.Contains(text, "Task Count: 1\n") {
				t.Errorf("not routed to one shard:\n%s\nSQL: %s", text, st.SQL)
			}
		}
		rows, err := conn.Query(ctx, st.SQL, st.Args...)
		if err != nil {
			t.Fatalf("%v\nSQL: %s\nargs: %v", err, st.SQL, st.Args)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatalf("%v\nSQL: %s\nargs: %v", err, st.SQL, st.Args)
		}
		for i, u := range got {
			if back[u] == "" {
				t.Fatalf("%s is no record's id\nSQL: %s\nargs: %v", u, st.SQL, st.Args)
			}
			got[i] = back[u]
		}
		slices.Sort(got)
		return got
	}}
}

// diffDatabase is a fresh schema holding recs as account 1 and, when other
// is set, other as account 2: the same contact ids, whose rows must never
// leak into account 1's results. It returns the records' ids.
func diffDatabase(t *testing.T, srv diffServer, dsn string, recs, other []*query.Record) (*pgx.Conn, diffIDs) {
	t.Helper()
	conn := diffConnect(t, dsn)
	createDiffSchema(t, conn, srv.citus)
	if srv.collation != "" {
		collateDiffSchema(t, conn, srv.collation)
	}
	cat := querydiff.Catalog(t)
	loadDiffContacts(t, conn, 1, recs, cat)
	ids := diffIDs{}
	ids.add(recs)
	if other != nil {
		loadDiffContacts(t, conn, 2, other, cat)
		ids.add(other)
	}
	return conn, ids
}

func TestQueryDifferential(t *testing.T) {
	forEachDiffServer(t, func(t *testing.T, srv diffServer, dsn string) {
		recs := querydiff.Contacts(150, 7)
		conn, ids := diffDatabase(t, srv, dsn, recs, querydiff.Contacts(40, 99))
		querydiff.Corpus(t, diffStore(conn, srv.citus, ids), recs)
	})
}

func TestCriteriaDifferential(t *testing.T) {
	forEachDiffServer(t, func(t *testing.T, srv diffServer, dsn string) {
		recs := querydiff.Contacts(150, 11)
		conn, ids := diffDatabase(t, srv, dsn, recs, nil)
		querydiff.Criteria(t, diffStore(conn, srv.citus, ids), recs)
	})
}

func TestCalendarDifferential(t *testing.T) {
	forEachDiffServer(t, func(t *testing.T, srv diffServer, dsn string) {
		recs := querydiff.CalendarContacts()
		conn, ids := diffDatabase(t, srv, dsn, recs, nil)
		querydiff.Calendar(t, diffStore(conn, srv.citus, ids), recs)
	})
}
