package postgres

import (
	"context"
	"slices"
	"strings"
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
			rewindListMembersUUID,
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

// rewindListMembersUUID takes list_members' ids back to the text of
// version 25 (undoing migration 26).
const rewindListMembersUUID = `ALTER TABLE list_members
	ALTER COLUMN contact_id TYPE text COLLATE "C" USING contact_id::text,
	ALTER COLUMN list_id TYPE text COLLATE "C" USING list_id::text`

// Migration 26 makes list_members' ids uuid and keeps every membership:
// those written as text at version 25 read back as the same ids. A row
// whose id is not a lower-case UUID stops it, the rows left as they were.
func TestMigrateListMembersUUID(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := context.Background()
		dsn := freshSchema(t, srv)
		st, err := Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		now := time.Now().UTC()
		acct, err := st.CreateAccount(ctx, "uuid members", 0, now)
		if err != nil {
			t.Fatal(err)
		}
		var lists []string
		for _, name := range []string{"one", "two"} {
			l, err := st.CreateList(ctx, acct.ID, name, now)
			if err != nil {
				t.Fatal(err)
			}
			lists = append(lists, l.ID)
		}
		var ids []string
		for _, email := range []string{"a@example.com", "b@example.com", "c@example.com"} {
			res, err := st.UpsertContacts(ctx, acct.ID, []segmentd.ContactPatch{{Email: &email}}, lists[:1], now)
			if err != nil || len(res.Contacts) != 1 {
				t.Fatalf("upsert %s: %+v, %v", email, res, err)
			}
			ids = append(ids, res.Contacts[0].ID)
		}
		rewind := func() {
			t.Helper()
			for _, q := range []string{"DELETE FROM schema_migrations WHERE version >= 26", rewindListMembersUUID} {
				if _, err := st.pool.Exec(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
		}
		// Back to version 25, with a membership written there as text.
		rewind()
		if _, err := st.pool.Exec(ctx, "INSERT INTO list_members (account_id, list_id, contact_id, added_at) VALUES ($1, $2, $3, 0)",
			acct.ID, lists[1], ids[1]); err != nil {
			t.Fatal(err)
		}
		st.Close()

		st, err = Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var types []string
		if err := st.pool.QueryRow(ctx, `SELECT array_agg(data_type ORDER BY column_name) FROM information_schema.columns
			WHERE table_schema = current_schema() AND table_name = 'list_members' AND column_name IN ('contact_id', 'list_id')`).Scan(&types); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(types, []string{"uuid", "uuid"}) {
			t.Fatalf("list_members' ids are %v, want uuid", types)
		}
		want := map[string][]string{ids[0]: lists[:1], ids[1]: sortedUnique(lists), ids[2]: lists[:1]}
		for _, id := range ids {
			c, err := st.Contact(ctx, acct.ID, id)
			if err != nil || !slices.Equal(c.ListIDs, want[id]) {
				t.Fatalf("contact %s on lists %v (%v), want %v", id, c.ListIDs, err, want[id])
			}
		}
		for i, n := range []int{3, 1} {
			if got, err := st.CountListMembers(ctx, acct.ID, lists[i]); err != nil || got != n {
				t.Fatalf("list %d has %d members (%v), want %d", i, got, err, n)
			}
		}

		// Text that uuid would read back otherwise stops the migration.
		rewind()
		if _, err := st.pool.Exec(ctx, "INSERT INTO list_members (account_id, list_id, contact_id, added_at) VALUES ($1, $2, $3, 0)",
			acct.ID, lists[1], strings.ToUpper(ids[2])); err != nil {
			t.Fatal(err)
		}
		st.Close()
		if st, err := Open(ctx, dsn, Options{}); err == nil || !strings.Contains(err.Error(), "not a lower-case UUID") {
			if err == nil {
				st.Close()
			}
			t.Fatalf("Open over an upper-case id: %v, want the migration stopped", err)
		}
	})
}
