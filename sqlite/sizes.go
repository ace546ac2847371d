package sqlite

import (
	"context"
	"fmt"
)

// TableSize is the space one table or index takes in the database file.
type TableSize struct {
	Table string // the table; for an index, the table it indexes
	Index string // the index, or "" for the table itself
	Bytes int64
}

// FreePages is the Table of the row Sizes gives the file's free pages.
const FreePages = "(free pages)"

// Sizes returns the bytes of every table and index in the database, largest
// first, then the file's free pages as the row FreePages: together they are
// the database's size (the committed WAL frames included: it reads the
// database as a reader sees it). A table's row counts its own B-tree (with
// its overflow pages), each index one row of its own; the automatic
// indexes of UNIQUE and PRIMARY KEY constraints are named sqlite_autoindex_….
//
// It reads SQLite's dbstat virtual table, which visits every page: it takes
// about as long as reading the file once.
func (s *Store) Sizes(ctx context.Context) ([]TableSize, error) {
	// The schema table itself has no row in sqlite_schema: it keeps the
	// name dbstat gives it.
	rows, err := s.read.QueryContext(ctx, `SELECT coalesce(m.tbl_name, d.name), CASE WHEN m.type = 'index' THEN m.name ELSE '' END, d.pgsize
		FROM dbstat AS d LEFT JOIN sqlite_schema AS m ON m.name = d.name
		WHERE d.aggregate = 1
		ORDER BY d.pgsize DESC, 1, 2`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: reading dbstat: %w", err)
	}
	defer rows.Close()
	var out []TableSize
	for rows.Next() {
		var t TableSize
		if err := rows.Scan(&t.Table, &t.Index, &t.Bytes); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var free, pageSize int64
	if err := s.read.QueryRowContext(ctx, "SELECT freelist_count, page_size FROM pragma_freelist_count(), pragma_page_size()").Scan(&free, &pageSize); err != nil {
		return nil, err
	}
	return append(out, TableSize{Table: FreePages, Bytes: free * pageSize}), nil
}
