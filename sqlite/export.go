package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// ExportTables are the tables ExportTable reads: an account's data as
// another store takes it in (postgres.Store.Import). The change history
// is left out: a store that imports starts its own.
var ExportTables = []string{
	"accounts", "api_keys", "field_definitions", "account_counters", "lists", "contacts",
	"contact_alternate_emails", "list_members", "events", "segments", "segment_refreshes",
	"cc_segments", "webhook_keys", "jobs",
}

// ExportTable reads every row of one of ExportTables, from one consistent
// view of the database: cols is given the table's column names, then row
// each row's values as the driver reads them (int64, float64, string,
// []byte or nil).
func (s *Store) ExportTable(ctx context.Context, table string, cols func([]string) error, row func([]any) error) error {
	if !slices.Contains(ExportTables, table) {
		return fmt.Errorf("sqlite: %q is not a table ExportTable reads", table)
	}
	return s.readTx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, "SELECT * FROM "+table)
		if err != nil {
			return err
		}
		defer rows.Close()
		names, err := rows.Columns()
		if err != nil {
			return err
		}
		if err := cols(names); err != nil {
			return err
		}
		for rows.Next() {
			vals := make([]any, len(names))
			ptrs := make([]any, len(names))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
			if err := row(vals); err != nil {
				return err
			}
		}
		return rows.Err()
	})
}
