package postgres

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// A lookup of contacts by a set of values probes an index per value,
// whatever the account's size: written as a plain LATERAL join, the
// planner flattened it and, from a few thousand contacts on, hashed
// every contact of the account to match a batch: a scan of the account
// per upsert, whose cost grows with the account rather than the batch
// (docs/postgres.md, "Schema and distribution").
func TestLookupsProbeAnIndex(t *testing.T) {
	dsn := freshSchema(t, plainServer)
	st, err := Open(t.Context(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := t.Context()
	a, err := st.CreateAccount(ctx, "plans", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	const n = 20_000
	patches := make([]segmentd.ContactPatch, n)
	emails := make([]string, n)
	for i := range patches {
		emails[i] = fmt.Sprintf("c%05d@example.com", i)
		patches[i].Email = &emails[i]
	}
	for i := 0; i < n; i += segmentd.MaxUpsertContacts {
		if _, err := st.UpsertContacts(ctx, a.ID, patches[i:min(i+segmentd.MaxUpsertContacts, n)], nil, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	conn := connect(t, dsn)
	if _, err := conn.Exec(ctx, "ANALYZE contacts"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []struct {
		name string
		sql  string
	}{
		{"upsert's rows by email", qUpsertRowsByIdentifier[segmentd.IdentifierEmail]},
		{"contacts by email", qContactsByEmail},
		{"contacts by external id", qContactsByIdentifier[segmentd.IdentifierExternalID]},
	} {
		for _, keys := range []int{100, 4000} {
			plan, err := queryAll(ctx, conn, scanString, "EXPLAIN "+q.sql, a.ID, emails[:keys])
			if err != nil {
				t.Fatalf("%s: EXPLAIN: %v", q.name, err)
			}
			text := strings.Join(plan, "\n")
			if strings.Contains(text, "Seq Scan on contacts") || !strings.Contains(text, "Index Scan") {
				t.Errorf("%s of %d keys does not probe an index per key:\n%s", q.name, keys, text)
			}
		}
	}
}
