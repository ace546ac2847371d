package postgres

import (
	"slices"
	"testing"
)

// TestResetCoversEveryAccountTable: every table with an account_id column
// is cleared by a reset (accountData) or kept on purpose, so that a table
// a later migration adds cannot be forgotten by ResetAccount.
func TestResetCoversEveryAccountTable(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		st := openFresh(t, srv)
		kept := []string{
			"accounts", "api_keys", "webhook_keys", // the account and its keys outlive a reset
			"account_counters", // ids are never handed out twice in an account
			"account_resets",   // the history of resets itself
			"account_changes",  // change and event numbers go on after a reset
			"jobs",             // finished ones go in clearAccount; pending ones belong to later writes
		}
		names, err := queryAll(t.Context(), st.db, scanString, `SELECT table_name::text FROM information_schema.columns
			WHERE table_schema = current_schema() AND column_name = 'account_id' ORDER BY 1`)
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if !slices.Contains(accountData, name) && !slices.Contains(kept, name) {
				t.Errorf("table %s has an account_id but a reset neither clears nor keeps it", name)
			}
		}
		if len(names) < len(accountData) {
			t.Errorf("found %d account tables, fewer than the %d a reset clears", len(names), len(accountData))
		}
	})
}
