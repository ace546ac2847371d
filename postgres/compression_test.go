package postgres

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// TestInputsCompressedByLZ4: from migration 0023 on, a job's input is
// compressed by lz4 when the server offers it (pglz otherwise), and an
// input stored before, compressed by pglz, still reads back whole.
func TestInputsCompressedByLZ4(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := context.Background()
		dsn := freshSchema(t, srv)
		st, err := Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var lz4 bool
		if err := st.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_settings
			WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals))`).Scan(&lz4); err != nil {
			t.Fatal(err)
		}
		// Back to version 22, its columns compressed as PostgreSQL's default.
		for _, q := range []string{
			"DELETE FROM schema_migrations WHERE version >= 23",
			"ALTER TABLE account_changes DROP COLUMN event_changes",
			"ALTER TABLE jobs ALTER COLUMN input SET COMPRESSION pglz",
			"ALTER TABLE exports ALTER COLUMN input SET COMPRESSION pglz",
			"ALTER TABLE membership_changes ALTER COLUMN contact_ids SET COMPRESSION pglz",
		} {
			if _, err := st.pool.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		// An input of 200 KB that compresses: TOASTed and compressed.
		var buf bytes.Buffer
		for i := 0; buf.Len() < 200_000; i++ {
			fmt.Fprintf(&buf, "user%d@example.com\x01First%d\x02", i, i%500)
		}
		input := buf.Bytes()
		now := time.Now()
		accept := func(st *Store, id string) {
			t.Helper()
			j := segmentd.Job{AccountID: 1, ID: id, Type: segmentd.JobUpsert, Status: segmentd.JobPending, Requested: 1, StartedAt: now}
			if err := st.AcceptJob(ctx, j, input, "server-a", now.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
		}
		accept(st, "old")
		st.Close()

		st, err = Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		accept(st, "new")
		want := map[string]string{"old": "pglz", "new": "pglz"}
		if lz4 {
			want["new"] = "lz4"
		}
		for id, method := range want {
			var got string
			if err := st.pool.QueryRow(ctx, "SELECT pg_column_compression(input) FROM jobs WHERE account_id = 1 AND id = $1", id).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != method {
				t.Errorf("job %s: input compressed by %s, want %s", id, got, method)
			}
			back, ok, err := st.TakeJob(ctx, 1, id, "server-b", now.Add(2*time.Minute), now.Add(3*time.Minute))
			if err != nil || !ok {
				t.Fatalf("TakeJob(%s) = %v, %v", id, ok, err)
			}
			if !bytes.Equal(back, input) {
				t.Errorf("job %s: input read back differs (%d bytes, want %d)", id, len(back), len(input))
			}
		}
		// The other columns the migration changes, in the catalog.
		rows, err := st.pool.Query(ctx, `SELECT c.relname || '.' || a.attname, a.attcompression::text FROM pg_attribute a
			JOIN pg_class c ON c.oid = a.attrelid
			WHERE c.relnamespace = current_schema()::regnamespace AND (c.relname, a.attname) IN
				(('jobs', 'input'), ('exports', 'input'), ('membership_changes', 'contact_ids'))`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var col, method string
			if err := rows.Scan(&col, &method); err != nil {
				t.Fatal(err)
			}
			n++
			if lz4 && method != "l" {
				t.Errorf("%s: compression %q, want l (lz4)", col, method)
			}
		}
		if err := rows.Err(); err != nil || n != 3 {
			t.Fatalf("%d columns read, want 3 (%v)", n, err)
		}
	})
}
