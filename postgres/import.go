package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

// ImportSource reads one table of another store: cols is given its
// column names, then row each row's values (int64, float64, string,
// []byte or nil). The SQLite store's ExportTable is one.
type ImportSource func(ctx context.Context, table string, cols func([]string) error, row func([]any) error) error

// ImportTables are the tables CopyFrom copies, global tables first (Citus
// must write reference tables before distributed ones in a transaction).
var ImportTables = []string{
	"accounts", "api_keys", "field_definitions", "account_counters", "lists", "contacts",
	"contact_alternate_emails", "list_members", "tags", "contact_tags", "contact_cc", "events", "segments", "segment_refreshes",
	"cc_segments", "webhook_keys", "jobs",
	"webhook_subscriptions", "webhook_outbox", "webhook_deliveries", "webhook_replays", "history_segments", "segment_history",
	"contact_tombstones",
}

// importBatch is how many rows one COPY takes.
const importBatch = 10_000

// CopyFrom copies another store's data, read through src, into this store,
// which must hold no account yet, in one transaction: the same accounts,
// keys (their hashes: the same secrets work), field ids, lists, contacts
// with their ids and lists, events, segments of both vendors (deleted ones
// too) and finished jobs. The columns both schemas have are copied; each
// account's change and event numbers start past the imported ones. It
// returns the rows copied per table.
func (s *Store) CopyFrom(ctx context.Context, src ImportSource) (map[string]int, error) {
	copied := map[string]int{}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM accounts").Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return segmentd.Errorf(segmentd.KindConflict, "", "the PostgreSQL database already holds %d accounts; import into an empty one", n)
		}
		for _, table := range ImportTables {
			k, err := importTable(ctx, tx, src, table)
			if err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
			copied[table] = k
		}
		// The imported events' sg_event_ids, which event batches probe.
		if _, err := tx.Exec(ctx, "INSERT INTO event_ids (account_id, sg_event_id) SELECT account_id, sg_event_id FROM events WHERE sg_event_id IS NOT NULL"); err != nil {
			return fmt.Errorf("event_ids: %w", err)
		}
		// Ids of new accounts and keys continue after the imported ones.
		for _, t := range []string{"accounts", "api_keys"} {
			if _, err := tx.Exec(ctx, "SELECT setval(pg_get_serial_sequence($1, 'id'), coalesce((SELECT max(id) FROM "+t+"), 0) + 1, false)", t); err != nil {
				return err
			}
		}
		// Each account's numbers start past the imported contacts' and
		// events'.
		accts, err := queryAll(ctx, tx, func(r pgx.Row) (int64, error) {
			var id int64
			return id, r.Scan(&id)
		}, "SELECT id FROM accounts")
		if err != nil {
			return err
		}
		for _, a := range accts {
			// Read, then written: Citus takes no subquery in an INSERT.
			var change, event int64
			var oldest *int64
			if err := tx.QueryRow(ctx, "SELECT coalesce(max(change_seq), 0) FROM contacts WHERE account_id = $1", a).Scan(&change); err != nil {
				return err
			}
			if err := tx.QueryRow(ctx, "SELECT coalesce(max(seq), 0), min(event_timestamp) FROM events WHERE account_id = $1", a).Scan(&event, &oldest); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "INSERT INTO account_changes (account_id, change_seq, event_seq, event_min_ts) VALUES ($1, $2, $3, $4)",
				a, max(change, 1), event, oldest); err != nil {
				return err
			}
		}
		return nil
	})
	return copied, err
}

// importTable copies one table, in batches of COPY.
func importTable(ctx context.Context, tx pgx.Tx, src ImportSource, table string) (int, error) {
	have, err := queryAll(ctx, tx, func(r pgx.Row) ([2]string, error) {
		var c [2]string
		return c, r.Scan(&c[0], &c[1])
	}, "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1", table)
	if err != nil {
		return 0, err
	}
	types := map[string]string{}
	for _, c := range have {
		types[c[0]] = c[1]
	}
	var names []string // the columns both have, in the source's order
	var pick []int     // their positions in a source row
	var batch [][]any
	total := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{table}, names, pgx.CopyFromRows(batch))
		total += len(batch)
		batch = batch[:0]
		return err
	}
	err = src(ctx, table, func(cols []string) error {
		for i, c := range cols {
			if _, ok := types[c]; ok {
				names, pick = append(names, c), append(pick, i)
			}
		}
		if len(names) == 0 {
			return fmt.Errorf("no column in common")
		}
		return nil
	}, func(row []any) error {
		out := make([]any, len(pick))
		for k, i := range pick {
			out[k] = importValue(row[i], types[names[k]])
		}
		batch = append(batch, out)
		if len(batch) == importBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	return total, err
}

// importValue converts a source value for a column of the given type:
// JSON text as raw JSON (not a JSON string), text as text or, for a uuid
// column (list_members' ids), as memberID, an integer as a boolean
// (SQLite keeps booleans as 0 and 1: lists.favorite).
func importValue(v any, typ string) any {
	if n, ok := v.(int64); ok && typ == "boolean" {
		return n != 0 // SQLite keeps a boolean as 0 or 1
	}
	switch x := v.(type) {
	case int64:
		if typ == "boolean" {
			return x != 0
		}
	case []byte:
		if typ == "jsonb" {
			return json.RawMessage(slices.Clone(x))
		}
		if typ == "bytea" {
			return slices.Clone(x) // segment_history.contact_id
		}
		if typ == "uuid" {
			return memberID(x)
		}
		return string(x)
	case string:
		if typ == "jsonb" {
			return json.RawMessage(x)
		}
		if typ == "uuid" {
			return memberID(x)
		}
	}
	return v
}
