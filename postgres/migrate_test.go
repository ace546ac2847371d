package postgres

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

func TestSplitStatements(t *testing.T) {
	for _, tt := range []struct {
		sql  string
		want []string
	}{
		{"SELECT 1; SELECT 2", []string{"SELECT 1", "SELECT 2"}},
		{"-- a comment; still a comment\nSELECT 1;\n-- trailing; comment\n", []string{"-- a comment; still a comment\nSELECT 1"}},
		{"SELECT 'a;b', \"c;d\"; SELECT 'it''s; fine'", []string{"SELECT 'a;b', \"c;d\"", "SELECT 'it''s; fine'"}},
		{"DO $$ BEGIN PERFORM 1; END $$; SELECT $1", []string{"DO $$ BEGIN PERFORM 1; END $$", "SELECT $1"}},
		{"DO $body$ x; $$ y; $body$;", []string{"DO $body$ x; $$ y; $body$"}},
		{"/* a; b */ SELECT 1;;", []string{"/* a; b */ SELECT 1"}},
	} {
		if got := splitStatements(tt.sql); !slices.Equal(got, tt.want) {
			t.Errorf("splitStatements(%q) = %q, want %q", tt.sql, got, tt.want)
		}
	}
}

func TestFirstSchema(t *testing.T) {
	for _, tt := range []struct {
		params map[string]string
		want   string
	}{
		{map[string]string{}, ""},
		{map[string]string{"search_path": "tenant_a, public"}, "tenant_a"},
		{map[string]string{"search_path": "Tenant"}, "tenant"},
		{map[string]string{"search_path": `"My ""Schema""", public`}, `My "Schema"`},
		{map[string]string{"search_path": `"$user", public`}, ""},
		{map[string]string{"search_path": "$user,public"}, ""},
		{map[string]string{"options": "-c search_path=tenant_b,public"}, "tenant_b"},
		{map[string]string{"options": "-csearch_path=tenant_c -c statement_timeout=0"}, "tenant_c"},
		{map[string]string{"options": "--search_path=tenant_d"}, "tenant_d"},
		{map[string]string{"options": "-c statement_timeout=0"}, ""},
	} {
		if got := firstSchema(searchPath(tt.params)); got != tt.want {
			t.Errorf("firstSchema(searchPath(%v)) = %q, want %q", tt.params, got, tt.want)
		}
	}
}

// TestConcurrentOpens starts several stores on one fresh schema at once,
// as servers starting together do: each opens, the schema is migrated
// once, and all see one store.
func TestConcurrentOpens(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		dsn := freshSchema(t, srv)
		const n = 6
		stores := make([]*Store, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { stores[i], errs[i] = Open(t.Context(), dsn, Options{MaxConns: 2}) })
		}
		wg.Wait()
		var ids []string
		for i, st := range stores {
			if errs[i] != nil {
				t.Fatalf("Open %d: %v", i, errs[i])
			}
			defer st.Close()
			m, err := st.ChangeMark(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, m.StoreID)
		}
		if ids = slices.Compact(ids); len(ids) != 1 || ids[0] == "" {
			t.Fatalf("store ids %v, want one", ids)
		}
		conn := connect(t, dsn)
		var versions, identities int
		if err := conn.QueryRow(t.Context(), "SELECT (SELECT count(*) FROM schema_migrations), (SELECT count(*) FROM store_identity)").Scan(&versions, &identities); err != nil {
			t.Fatal(err)
		}
		ms, _ := migrations()
		if versions != len(ms) || identities != 1 {
			t.Fatalf("%d schema_migrations rows and %d store identities, want %d and 1", versions, identities, len(ms))
		}
	})
}

// TestOpenCreatesSchema: the DSN may name its schema in either way libpq
// users do; Open creates it, once, and a second Open finds it migrated.
func TestOpenCreatesSchema(t *testing.T) {
	base := plainServer.dsn(t)
	schema := `T_Quoted "Name"`
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err == nil {
			conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			conn.Close(context.Background())
		}
	})
	dsn := withSearchPath(t, base, pgx.Identifier{schema}.Sanitize())
	for range 2 {
		st, err := Open(t.Context(), dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if v, err := st.SchemaVersion(t.Context()); err != nil || v == 0 {
			t.Fatalf("SchemaVersion = %d, %v", v, err)
		}
		st.Close()
	}
	conn := connect(t, base)
	var tables int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_tables WHERE schemaname = $1", schema).Scan(&tables); err != nil || tables < 10 {
		t.Fatalf("schema %q has %d tables (%v)", schema, tables, err)
	}

	// libpq's own way: options=-c search_path=…, in key=value form.
	opts := "t_opts_" + strings.ToLower(segmentd.NewID()[:8])
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err == nil {
			conn.Exec(context.Background(), "DROP SCHEMA IF EXISTS "+opts+" CASCADE")
			conn.Close(context.Background())
		}
	})
	cfg, err := pgx.ParseConfig(base)
	if err != nil {
		t.Fatal(err)
	}
	kv := fmt.Sprintf("host=%s port=%d dbname=%s user=%s sslmode=disable options='-c search_path=%s'",
		cfg.Host, cfg.Port, cfg.Database, cfg.User, opts)
	st, err := Open(t.Context(), kv, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_tables WHERE schemaname = $1", opts).Scan(&tables); err != nil || tables < 10 {
		t.Fatalf("schema %s has %d tables (%v)", opts, tables, err)
	}
}

// TestOpenRefusesNewerSchema: a schema migrated by a newer segmentd is
// left alone.
func TestOpenRefusesNewerSchema(t *testing.T) {
	dsn := freshSchema(t, plainServer)
	st, err := Open(t.Context(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	conn := connect(t, dsn)
	if _, err := conn.Exec(t.Context(), "INSERT INTO schema_migrations VALUES (999, '0999_future.sql', 0)"); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(t.Context(), dsn, Options{}); err == nil || !strings.Contains(err.Error(), "newer than this segmentd") {
		t.Fatalf("Open of a newer schema: %v", err)
	}
}

// TestReopen: what one store wrote, another store on the same schema
// reads, and numbers continue (change numbers, field ids).
func TestReopen(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		dsn := freshSchema(t, srv)
		ctx := t.Context()
		now := time.Now()
		st, err := Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		a, err := st.CreateAccount(ctx, "acme", 0, now)
		if err != nil {
			t.Fatal(err)
		}
		f, err := st.CreateFieldDefinition(ctx, a.ID, "gone", segmentd.FieldNumber, 10, now)
		if err != nil {
			t.Fatal(err)
		}
		email := "a@example.com"
		if _, err := st.UpsertContacts(ctx, a.ID, []segmentd.ContactPatch{{Email: &email}}, nil, now); err != nil {
			t.Fatal(err)
		}
		m0, err := st.ChangeMark(ctx)
		if err != nil {
			t.Fatal(err)
		}
		st.Close()

		st, err = Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		if cs, err := st.ContactsByEmails(ctx, a.ID, []string{email}); err != nil || cs[email].Email != email {
			t.Fatalf("after reopening: %v, %v", cs, err)
		}
		if _, err := st.UpsertContacts(ctx, a.ID, []segmentd.ContactPatch{{Email: &email}}, nil, now); err != nil {
			t.Fatal(err)
		}
		m1, err := st.ChangeMark(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if m1.StoreID != m0.StoreID || m1.Seq(a.ID) != m0.Seq(a.ID)+1 {
			t.Fatalf("marks %+v then %+v, want one store and the next number", m0, m1)
		}
		f2, err := st.CreateFieldDefinition(ctx, a.ID, "next", segmentd.FieldNumber, 10, now)
		if err != nil || f2.ID == f.ID {
			t.Fatalf("field after reopening = %+v, %v (first was %s)", f2, err, f.ID)
		}
	})
}

// TestOpenHonoursDSN: the DSN's libpq parameters reach the connection. The
// test server speaks no TLS, so sslmode=require must fail where the DSN's
// sslmode=disable succeeds, and application_name is what the server sees.
func TestOpenHonoursDSN(t *testing.T) {
	dsn := freshSchema(t, plainServer)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("sslmode", "require")
	u.RawQuery = q.Encode()
	if st, err := Open(t.Context(), u.String(), Options{}); err == nil {
		st.Close()
		t.Fatal("Open with sslmode=require succeeded on a server without TLS")
	} else if !strings.Contains(err.Error(), "tls") {
		t.Fatalf("Open with sslmode=require: %v, want a TLS error", err)
	}
	q.Set("sslmode", "disable")
	q.Set("application_name", "segmentd-test")
	u.RawQuery = q.Encode()
	st, err := Open(t.Context(), u.String(), Options{MaxConns: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var app string
	if err := st.pool.QueryRow(t.Context(), "SELECT current_setting('application_name')").Scan(&app); err != nil || app != "segmentd-test" {
		t.Fatalf("application_name = %q, %v", app, err)
	}
	if got := st.pool.Config().MaxConns; got != 3 {
		t.Fatalf("pool of %d connections, want Options.MaxConns 3", got)
	}
}
