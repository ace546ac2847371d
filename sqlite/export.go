package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
)

// ExportTables are the tables ExportTable reads: an account's data as
// another store takes it in (postgres.Store.CopyFrom). Left out: the
// change history (a store that imports starts its own), the events'
// stored forms (read as the events they stand for), and contact exports'
// and CSV imports' files, which expire within days; export_test.go
// names every table of the schema one way or the other.
var ExportTables = []string{
	"accounts", "api_keys", "field_definitions", "account_counters", "lists", "contacts",
	"contact_alternate_emails", "list_members", "tags", "contact_tags", "contact_cc", "events", "segments", "segment_refreshes",
	"cc_segments", "webhook_keys", "jobs",
	"webhook_subscriptions", "webhook_outbox", "webhook_deliveries", "webhook_replays", "history_segments", "segment_history",
	"contact_tombstones",
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
		if table == "events" {
			return exportEvents(ctx, tx, cols, row)
		}
		q := "SELECT * FROM " + table
		if table == "list_members" {
			q = qExportListMembers
		}
		rows, err := tx.QueryContext(ctx, q)
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

// qExportListMembers gives list_members with each list's id, as the
// other store keeps it, rather than the number this one keeps (lists.num).
const qExportListMembers = `SELECT m.account_id, m.contact_id, l.id AS list_id, m.added_at
	FROM list_members m JOIN lists l ON l.account_id = m.account_id AND l.num = m.list_num`

// exportEvents is ExportTable for the events, whose stored forms
// (eventcodec.go) it gives as the columns they stand for.
func exportEvents(ctx context.Context, tx *sql.Tx, cols func([]string) error, row func([]any) error) error {
	if err := cols([]string{"account_id", "seq", "contact_id", "email", "event_source", "event_type", "event_timestamp",
		"singlesend_id", "automation_id", "marketing_campaign_id", "url", "sg_event_id"}); err != nil {
		return err
	}
	accts, err := queryAll(ctx, tx, scanInt64, "SELECT id FROM accounts ORDER BY id")
	if err != nil {
		return err
	}
	const page = 10_000
	r := eventRows{seqs: []int64{}}
	text := func(v string) any {
		if v == "" {
			return nil
		}
		return v
	}
	for _, acct := range accts {
		for after := int64(0); ; {
			evs, last, err := scanEventPage(ctx, tx, &r, acct, after, page)
			if err != nil {
				return err
			}
			for i, ev := range evs {
				err := row([]any{acct, r.seqs[i], text(ev.ContactID), ev.Email, ev.Source, ev.Type, toMS(ev.Timestamp),
					text(ev.SinglesendID), text(ev.AutomationID), text(ev.MarketingCampaignID), text(ev.URL), text(ev.SGEventID)})
				if err != nil {
					return err
				}
			}
			if len(evs) < page {
				break
			}
			after = last
		}
	}
	return nil
}
