package sqlite_test

// Differential test: for every valid query of the query package's corpus,
// the SQL that query.GenerateSQL produces, run on a real SQLite database with
// the store schema, returns exactly the contacts the Go evaluator accepts
// (internal/querydiff, shared with the PostgreSQL store's test). It depends
// on the schema file and the driver only, not on this package's Go code.

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/segmentd/segmentd/internal/querydiff"
	"github.com/segmentd/segmentd/query"
	_ "modernc.org/sqlite"
)

func openSchema(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(t.TempDir(), "diff.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	schema, err := os.ReadFile(filepath.Join("migrations", "0001_init.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(schema)); err != nil {
		t.Fatalf("apply schema: %v", err)
	}
	// The taggings' table as migration 0022 makes it (the later
	// migrations, written for a database already holding data, are left
	// out).
	tags, err := os.ReadFile(filepath.Join("migrations", "0022_contact_tags.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(tags)); err != nil {
		t.Fatalf("apply 0022: %v", err)
	}
	// list_members naming lists by number, as migration 0029 makes it
	// (from the list_members of 0001, the membership_changes of 0017 and
	// the contacts' change_seq of 0009).
	nums, err := os.ReadFile(filepath.Join("migrations", "0029_list_members_list_num.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE membership_changes (account_id INTEGER, change_seq INTEGER, contact_id TEXT);" +
		"ALTER TABLE contacts ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;" + string(nums)); err != nil {
		t.Fatalf("apply 0029: %v", err)
	}
	// and keyed by (account, list number, contact), as migration 0034
	// makes it.
	byList, err := os.ReadFile(filepath.Join("migrations", "0034_list_members_by_list.sql"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(string(byList)); err != nil {
		t.Fatalf("apply 0034: %v", err)
	}
	return db
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func insertContacts(t *testing.T, db *sql.DB, account int64, recs []*query.Record, cat *query.Catalog) {
	t.Helper()
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	seq := 0
	for _, r := range recs {
		cfj, _ := json.Marshal(querydiff.CustomFields(cat, r))
		alt := r.AlternateEmails
		if alt == nil {
			alt = []string{}
		}
		altj, _ := json.Marshal(alt)
		cols := []string{"account_id", "id", "alternate_emails", "custom_fields", "created_at", "updated_at"}
		args := []any{account, r.ID, string(altj), string(cfj), r.CreatedAt, r.UpdatedAt}
		for f := query.TextField(0); f < query.NumTextFields; f++ {
			cols = append(cols, f.Name())
			args = append(args, nullStr(r.Text[f]))
		}
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ")
		if _, err := tx.Exec("INSERT INTO contacts ("+strings.Join(cols, ", ")+") VALUES ("+ph+")", args...); err != nil {
			t.Fatalf("insert %s: %v", r.ID, err)
		}
		for _, a := range r.AlternateEmails {
			if _, err := tx.Exec("INSERT OR IGNORE INTO contact_alternate_emails (account_id, email, contact_id) VALUES (?, ?, ?)", account, a, r.ID); err != nil {
				t.Fatal(err)
			}
		}
		for _, l := range r.ListIDs {
			if _, err := tx.Exec(`INSERT OR IGNORE INTO lists (account_id, id, num, name, name_key, created_at, updated_at)
				VALUES (?1, ?2, (SELECT coalesce(max(num), 0) + 1 FROM lists WHERE account_id = ?1), ?2, ?2, 0, 0)`, account, l); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(`INSERT INTO list_members (account_id, list_num, contact_id, added_at)
				VALUES (?1, (SELECT num FROM lists WHERE account_id = ?1 AND id = ?2), ?3, 0)`, account, l, r.ID); err != nil {
				t.Fatal(err)
			}
		}
		for _, tag := range r.TagIDs {
			if _, err := tx.Exec("INSERT INTO contact_tags (account_id, contact_id, tag_id, added_at) VALUES (?, ?, ?, 0)", account, r.ID, tag); err != nil {
				t.Fatal(err)
			}
		}
		for _, e := range r.Events {
			seq++
			if _, err := tx.Exec(`INSERT INTO events (account_id, seq, contact_id, email, event_source, event_type, event_timestamp,
				singlesend_id, automation_id, marketing_campaign_id, url) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				account, seq, r.ID, r.Text[query.FieldEmail]+"x", e.Source, e.Type, e.Timestamp,
				nullStr(e.SinglesendID), nullStr(e.AutomationID), nullStr(e.MarketingCampaignID), nullStr(e.URL)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Orphan events (no contact yet) must never match anyone.
	if _, err := tx.Exec(`INSERT INTO events (account_id, seq, contact_id, email, event_type, event_timestamp) VALUES (?, ?, NULL, 'nobody@x.test', 'open', ?)`,
		account, seq+1, querydiff.Now.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// diffStore is db as querydiff runs statements on it.
func diffStore(db *sql.DB) querydiff.Store {
	return querydiff.Store{Name: "SQLite", Dialect: query.SQLite(), Run: func(t *testing.T, st query.Statement) []string {
		return runIDs(t, db, st)
	}}
}

func TestQueryDifferential(t *testing.T) {
	cat := querydiff.Catalog(t)
	db := openSchema(t)
	recs := querydiff.Contacts(150, 7)
	insertContacts(t, db, 1, recs, cat)
	// A second account with the same ids: its rows must never leak in.
	insertContacts(t, db, 2, querydiff.Contacts(40, 99), cat)
	querydiff.Corpus(t, diffStore(db), recs)
}

func runIDs(t *testing.T, db *sql.DB, st query.Statement) []string {
	t.Helper()
	rows, err := db.Query(st.SQL, st.Args...)
	if err != nil {
		t.Fatalf("%v\nSQL: %s", err, st.SQL)
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(ids)
	return ids
}
