package postgres

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// The statements by list read list_members_list (account_id, list_id),
// migration 0025's narrow index, on PostgreSQL and on each Citus shard:
// never a scan of the account's memberships, which is what a list's count
// or deletion would cost through the primary key, keyed by contact first.
func TestListReadsUseTheListIndex(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		dsn := freshSchema(t, srv)
		st, err := Open(t.Context(), dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		ctx := t.Context()
		a, err := st.CreateAccount(ctx, "lists", 0, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		// 40 lists of 500 contacts: a list is a fortieth of the account's
		// memberships.
		const lists, per = 40, 500
		var listIDs, some []string
		for i := range lists {
			l, err := st.CreateList(ctx, a.ID, fmt.Sprintf("l%02d", i), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			listIDs = append(listIDs, l.ID)
			patches := make([]segmentd.ContactPatch, per)
			for j := range patches {
				email := fmt.Sprintf("c%02d-%03d@example.com", i, j)
				patches[j].Email = &email
			}
			res, err := st.UpsertContacts(ctx, a.ID, patches, []string{l.ID}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				for _, c := range res.Contacts[:10] {
					some = append(some, c.ID)
				}
			}
		}
		conn := connect(t, dsn)
		if _, err := conn.Exec(ctx, "ANALYZE list_members"); err != nil {
			t.Fatal(err)
		}
		for _, q := range []struct {
			name  string
			sql   string
			args  []any
			index string // the index the plan must use
		}{
			{"CountListMembers", qCountListMembers, []any{a.ID, memberKey(listIDs[0])}, "list_members_list"},
			{"a list's deletion", qDeleteListMembers, []any{a.ID, memberKey(listIDs[0])}, "list_members_list"},
			// A few contacts off a list: a probe per contact of either
			// index, never the list's or the account's whole range.
			{"contacts off a list", qRemoveListMembers, []any{a.ID, memberKey(listIDs[0]), memberKeys(some)}, "list_members_"},
		} {
			plan, err := queryAll(ctx, conn, scanString, "EXPLAIN "+q.sql, q.args...)
			if err != nil {
				t.Fatalf("%s: EXPLAIN: %v", q.name, err)
			}
			text := strings.Join(plan, "\n")
			searched := false // a line "Index Scan using q.index…" or "Bitmap Index Scan on q.index…"
			for _, line := range plan {
				_, rest, ok := strings.Cut(line, "Index")
				searched = searched || ok && strings.Contains(rest, " "+q.index)
			}
			if strings.Contains(text, "Seq Scan on list_members") || !searched {
				t.Errorf("%s does not search %s:\n%s", q.name, q.index, text)
			}
		}
	})
}
