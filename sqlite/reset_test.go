package sqlite

import (
	"slices"
	"testing"
)

// TestResetCoversEveryAccountTable: every table with an account_id column
// is cleared by a reset (accountData) or kept on purpose, so that a table
// a later migration adds cannot be forgotten by ResetAccount.
func TestResetCoversEveryAccountTable(t *testing.T) {
	s := openTemp(t)
	kept := []string{
		"accounts", "api_keys", "webhook_keys", // the account and its keys outlive a reset
		"account_counters", // ids are never handed out twice in an account
		"account_resets",   // the history of resets itself
		"jobs",             // finished ones go in clearAccount; pending ones belong to later writes
	}
	rows, err := s.read.QueryContext(t.Context(), `SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) c
		WHERE m.type = 'table' AND c.name = 'account_id' ORDER BY m.name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		n++
		if !slices.Contains(accountData, name) && !slices.Contains(kept, name) {
			t.Errorf("table %s has an account_id but a reset neither clears nor keeps it", name)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n < len(accountData) {
		t.Errorf("found %d account tables, fewer than the %d a reset clears", n, len(accountData))
	}
}
