package postgres

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// The history's contact ids, text up to version 13, are 16-byte keys after
// migration 14, and read back as the same ids.
func TestMigrateHistoryContactKeys(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := context.Background()
		dsn := freshSchema(t, srv)
		st, err := Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		// Back to version 13's column, with rows of text.
		ids := []string{"01900000-0000-7000-8000-0000000000ab", "legacy-id", "legacy-id-15chr", "0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B"}
		for _, q := range []string{
			"DELETE FROM schema_migrations WHERE version >= 14",
			"ALTER TABLE account_changes DROP COLUMN event_changes",
			// Later migrations' changes undone, to be applied again.
			"ALTER TABLE exports DROP COLUMN input",
			"DROP INDEX segment_history_seq",
			"DROP INDEX list_members_list",
			"CREATE INDEX list_members_added ON list_members (account_id, list_id, added_at, contact_id)",
			"DROP TABLE membership_changes",
			"DROP TABLE delivery_fence",
			"ALTER TABLE accounts DROP COLUMN history_gap",
			"ALTER TABLE webhook_subscriptions DROP COLUMN old_secret, DROP COLUMN old_secret_until",
			"ALTER TABLE history_segments DROP COLUMN pruned_before, DROP COLUMN pruned_seq",
			"DROP TABLE event_blocks",
			"DROP TABLE event_ids",
			"CREATE UNIQUE INDEX events_sg_event_id ON events (account_id, sg_event_id) WHERE sg_event_id IS NOT NULL",
			`ALTER TABLE segment_history ALTER COLUMN contact_id TYPE text COLLATE "C" USING ''`,
			"INSERT INTO accounts (id, name, created_at) VALUES (1, 'old', 0) ON CONFLICT DO NOTHING",
			"INSERT INTO history_segments (account_id, segment_id, key) VALUES (1, 's1', 1)",
		} {
			if _, err := st.pool.Exec(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		for i, id := range ids {
			if _, err := st.pool.Exec(ctx, `INSERT INTO segment_history (account_id, segment_key, at, seq, contact_id, email, kind)
				VALUES (1, 1, $1, $2, $3, 'a@example.com', 3)`, 1000+i, i+1, id); err != nil {
				t.Fatal(err)
			}
		}
		st.Close()

		st, err = Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		var sizes []int32
		rows, err := st.pool.Query(ctx, "SELECT octet_length(contact_id) FROM segment_history ORDER BY seq")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var n int32
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, n)
		}
		rows.Close()
		if !slices.Equal(sizes, []int32{16, 10, 17, 37}) {
			t.Fatalf("contact keys of %v bytes, want [16 10 17 37]", sizes)
		}
		ts, err := st.HistoryTransitions(ctx, 1, "s1", time.UnixMilli(0), time.UnixMilli(5000), segmentd.HistoryCursor{}, 10)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, tr := range ts {
			got = append(got, tr.ContactID)
		}
		if !slices.Equal(got, ids) {
			t.Fatalf("contact ids after the upgrade %v, want %v", got, ids)
		}
		for _, id := range ids {
			if tr, ok, err := st.HistoryNextOf(ctx, 1, "s1", id, time.UnixMilli(0)); err != nil || !ok || tr.ContactID != id {
				t.Fatalf("HistoryNextOf(%s) = %+v, %v, %v", id, tr, ok, err)
			}
		}
	})
}
