package sqlite

import (
	"slices"
	"testing"
)

// TestExportTablesCoverTheSchema names every table of the schema as
// exported (ExportTables, which `segmentd migrate-store` copies) or left
// out with its reason, so that a table a later migration adds cannot be
// forgotten by the move to PostgreSQL.
func TestExportTablesCoverTheSchema(t *testing.T) {
	s := openTemp(t)
	leftOut := map[string]string{
		"store_changes":      "the change history: a store that imports starts its own",
		"membership_changes": "the change history",
		"catalog_changes":    "the change history",
		"deletions":          "the change history",
		"account_resets":     "the change history's resets",
		"event_rows":         "the events' stored forms, exported as the events they stand for",
		"event_attachments":  "the events' stored forms",
		"event_bounds":       "the events' stored forms",
		"event_blocks":       "the events' packed blocks, exported with the rows as the events they stand for",
		"exports":            "contact exports' files expire within days",
		"export_chunks":      "contact exports' files",
		"imports":            "CSV imports' uploads expire within days",
		"import_chunks":      "CSV imports' uploads",
	}
	rows, err := s.read.QueryContext(t.Context(), `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		seen[name] = true
		_, out := leftOut[name]
		if in := slices.Contains(ExportTables, name); in == out {
			t.Errorf("table %s: in ExportTables %v, left out %v; exactly one must hold", name, in, out)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, name := range ExportTables {
		if !seen[name] && name != "events" { // events are read from their stored forms
			t.Errorf("ExportTables names %s, which the schema does not have", name)
		}
	}
	for name := range leftOut {
		if !seen[name] {
			t.Errorf("the list left out names %s, which the schema does not have", name)
		}
	}
}
