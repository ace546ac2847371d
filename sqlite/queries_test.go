package sqlite

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/segmentd/segmentd"
)

func TestContactColumns(t *testing.T) {
	// updateContacts leaves out the first len(segmentd.Identifiers) text columns.
	if got := textCols[:len(segmentd.Identifiers)]; !slices.Equal(got, identifierCols()) {
		t.Fatalf("textCols start with %v, want the identifier columns %v", got, identifierCols())
	}
	want := append(append([]string{"id"}, textCols...), "alternate_emails", "custom_fields", "created_at", "updated_at")
	if got := strings.Split(contactColumns, ", "); !slices.Equal(got, want) {
		t.Fatalf("contactColumns = %v\nwant %v", got, want)
	}
	for i := range want {
		want[i] = "c." + want[i]
	}
	if got := strings.Split(contactColumnsC, ", "); !slices.Equal(got, want) {
		t.Fatalf("contactColumnsC = %v\nwant %v", got, want)
	}
}

// TestQueryPlans checks that the statements over contact-sized tables probe
// indexes: a plan that scans a table, or searches one by account_id alone,
// reads every row of the account (a million, at the benchmark's size).
func TestQueryPlans(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	queries := []string{
		qListNumsOf, qPageLists, qPageListsJoined, qAlternateEmailOwners, qContactsByIDs, qSampleContacts,
		qDeleteContacts, qDeleteMembershipsOf, qDeleteAlternatesOf, qRemoveListMembers, qDeleteListMembers,
		qListsIn, qAddListMembers, qDeleteAlternatesOne, qCountListMembers,
		listSelect + "WHERE l.account_id = ? AND l.id = ?",
		listSelect + "WHERE l.account_id = ? AND l.id > ? ORDER BY l.id LIMIT ?",
		"SELECT " + contactColumns + " FROM contacts WHERE account_id = ? AND id = ?",
	}
	for _, col := range append([]string{"id"}, identifierCols()...) {
		queries = append(queries, qContactsWhere+col+qInValues, qIdentifiersWhere+col+qInValues)
	}
	queries = append(queries, qChangedContacts, qHistoryAfter)
	for _, q := range queries {
		plan := queryPlan(t, s, q)
		// The sample walks contacts_updated from its end and stops after LIMIT rows.
		walksIndex := q == qSampleContacts
		for _, step := range plan {
			scan := strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, "VIRTUAL TABLE") // json_each is fine
			// The account's lists (up to 1,000) are the outer loop of a
			// read of contacts' memberships (list_members is keyed by list
			// first); every other table is searched by more than the account.
			accountLists := strings.Contains(step, " USING INDEX lists_num ") || strings.Contains(step, " USING COVERING INDEX lists_num ")
			wholeAccount := strings.HasSuffix(step, "(account_id=?)") && !walksIndex && !accountLists
			if scan || wholeAccount || strings.Contains(step, "TEMP B-TREE") {
				t.Errorf("query %s\nhas plan step %q (whole plan %q)", q, step, plan)
			}
		}
	}
}

// queryPlan returns the detail lines of SQLite's plan for q (its
// parameters bound to NULL).
func queryPlan(t *testing.T, s *Store, q string) []string {
	t.Helper()
	n := strings.Count(q, "?")
	for k := 2; strings.Contains(q, "?"+strconv.Itoa(k)); k++ { // numbered parameters, each bound once
		n = k
	}
	rows, err := s.read.Query("EXPLAIN QUERY PLAN "+q, make([]any, n)...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	return plan
}

func identifierCols() []string {
	var out []string
	for _, t := range segmentd.Identifiers {
		c, _ := identifierCol(t)
		out = append(out, c)
	}
	return out
}
