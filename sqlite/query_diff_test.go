package sqlite_test

// Differential test: for every valid query of the query package's corpus,
// the SQL that query.GenerateSQL produces, run on a real SQLite database with
// the store schema, returns exactly the contacts the Go evaluator accepts.
// It depends on the schema file and the driver only, not on this package's
// Go code.

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd/internal/querycorpus"
	"github.com/segmentd/segmentd/query"
	_ "modernc.org/sqlite"
)

// The corpus (internal/querycorpus): its clock, catalogue and valid queries.
var diffNow = querycorpus.Now

func diffCatalog(t *testing.T) *query.Catalog {
	return querycorpus.Catalog(t, query.NewCatalog, query.Text, query.Number, query.Date)
}

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
	return db
}

// genContacts makes contacts whose values hit every corner the corpus asks
// about: unset fields, case differences, list and event mixes, dates on both
// sides of the corpus's constants.
func genContacts(n int, seed uint64) []*query.Record {
	rng := rand.New(rand.NewPCG(seed, 1))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	day := int64(24 * time.Hour / time.Millisecond)
	now := diffNow.UnixMilli()
	var out []*query.Record
	for i := 0; i < n; i++ {
		r := &query.Record{ID: fmt.Sprintf("c%d", i+1)}
		r.Text[query.FieldFirstName] = pick("", "Ann", "ann", "Bob", "Ánn", "Zoë", "A_n", "Anna")
		r.Text[query.FieldLastName] = pick("", "Lee", "lee", "O'Neil")
		user := pick("ann", "bob", "first_last", "firstxlast", "x", "100%")
		domain := pick("gmail.com", "example.com", "nango.dev", "work.com")
		// email, phone_number_id, external_id and anonymous_id are unique per
		// account in the store, so they carry the contact number.
		if rng.IntN(8) > 0 {
			r.Text[query.FieldEmail] = fmt.Sprintf("%s%d@%s", user, i, domain)
		}
		r.Text[query.FieldCountry] = pick("", "US", "CA", "FR", "us")
		r.Text[query.FieldCity] = pick("", "Paris", "paris", "New York", "Newark")
		r.Text[query.FieldPostalCode] = pick("", "90124", "90125", "10001")
		r.Text[query.FieldStateProvinceRegion] = pick("", "CA", "NY")
		if p := pick("", "123-", "x-", "999-"); p != "" {
			r.Text[query.FieldExternalID] = fmt.Sprintf("%s%d", p, i)
		}
		if rng.IntN(3) == 0 {
			r.Text[query.FieldPhoneNumberID] = fmt.Sprintf("p%d", i)
		}
		if rng.IntN(3) == 0 {
			r.Text[query.FieldAnonymousID] = fmt.Sprintf("a%d", i)
		}
		r.Text[query.FieldAddressLine1] = pick("", "1 Main St", "2 Side Rd")
		r.Text[query.FieldAddressLine2] = pick("", "", "Apt 4")
		r.Text[query.FieldPhoneNumber] = pick("", "+15551234", "0044")
		r.Text[query.FieldWhatsapp] = pick("", "", "w")
		r.Text[query.FieldLine] = pick("", "", "l")
		r.Text[query.FieldFacebook] = pick("", "", "f")
		r.Text[query.FieldUniqueName] = pick("", "", "u")
		r.CreatedAt = now - int64(rng.IntN(400))*day - int64(rng.IntN(86400000))
		r.UpdatedAt = r.CreatedAt + int64(rng.IntN(30))*day
		for k := rng.IntN(3); k > 0; k-- {
			r.AlternateEmails = append(r.AlternateEmails, fmt.Sprintf("%s%d@%s", pick("ann", "alt"), k, pick("work.com", "gmail.com", "other.org")))
		}
		if rng.IntN(10) == 0 {
			r.AlternateEmails = append(r.AlternateEmails, "ann@work.com")
		}
		for _, l := range []string{"L1", "L2", "L3"} {
			if rng.IntN(3) == 0 {
				r.ListIDs = append(r.ListIDs, l)
			}
		}
		r.EmailDomains = query.EmailDomains(r.Text[query.FieldEmail], r.AlternateEmails)
		r.Custom = make([]query.Value, 6)
		if rng.IntN(4) > 0 {
			r.Custom[0] = query.TextValue(pick("Annie", "annie", "Bo"))
		}
		if rng.IntN(5) > 0 {
			r.Custom[1] = query.NumberValue(float64(rng.IntN(80)))
			if rng.IntN(4) == 0 {
				r.Custom[1] = query.NumberValue(float64(rng.IntN(80)) + 0.5)
			}
		}
		if rng.IntN(4) > 0 {
			r.Custom[2] = query.DateValue(now - int64(rng.IntN(365*60))*day)
		}
		if rng.IntN(4) > 0 {
			r.Custom[3] = query.NumberValue(float64(rng.IntN(25)) - 5)
		}
		if rng.IntN(3) > 0 {
			r.Custom[4] = query.TextValue(pick("pro", "free", "Pro"))
		}
		if rng.IntN(4) == 0 {
			r.Custom[5] = query.TextValue(pick("home", "away"))
		}
		for k := rng.IntN(6); k > 0; k-- {
			r.Events = append(r.Events, query.Event{
				Source:              "mail",
				Type:                pick("processed", "delivered", "open", "click", "bounce", "dropped", "unsubscribe"),
				Timestamp:           now - int64(rng.IntN(60))*day - int64(rng.IntN(86400000)),
				SinglesendID:        pick("", "ss1", "ss2"),
				AutomationID:        pick("", "", "a1"),
				MarketingCampaignID: pick("", "mc1"),
				URL:                 pick("", "https://x.test/a", "https://x.test/pricing"),
			})
		}
		out = append(out, r)
	}
	return out
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
	custom := cat.CustomFields()
	seq := 0
	for _, r := range recs {
		cf := map[string]any{}
		for slot, v := range r.Custom {
			switch v.Kind {
			case query.Text:
				cf[custom[slot].ID] = v.Str
			case query.Number:
				cf[custom[slot].ID] = v.Num
			case query.Date:
				cf[custom[slot].ID] = v.Time
			}
		}
		cfj, _ := json.Marshal(cf)
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
			if _, err := tx.Exec("INSERT INTO list_members (account_id, list_id, contact_id, added_at) VALUES (?, ?, ?, 0)", account, l, r.ID); err != nil {
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
		account, seq+1, diffNow.UnixMilli()); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

func TestQueryDifferential(t *testing.T) {
	cat := diffCatalog(t)
	db := openSchema(t)
	recs := genContacts(150, 7)
	insertContacts(t, db, 1, recs, cat)
	// A second account with the same ids: its rows must never leak in.
	insertContacts(t, db, 2, genContacts(40, 99), cat)

	var queries []querycorpus.Entry[query.Lang]
	for _, e := range querycorpus.Read(t, filepath.Join("..", "query", "testdata"), query.SGQL, query.SQL) {
		if e.Valid {
			queries = append(queries, e)
		}
	}
	if len(queries) < 100 {
		t.Fatalf("only %d valid corpus queries", len(queries))
	}
	nonEmpty := 0
	for _, cq := range queries {
		q, err := query.Parse(cq.Lang, cq.Src)
		if err != nil {
			t.Errorf("%s:%d: %v", cq.File, cq.Line, err)
			continue
		}
		ch, err := query.Check(q, cat)
		if err != nil {
			t.Errorf("%s:%d: %v", cq.File, cq.Line, err)
			continue
		}
		prog := query.Compile(ch)
		for _, parent := range []string{"", "L2"} {
			var want []string
			for _, r := range recs {
				if parent != "" && !slices.Contains(r.ListIDs, parent) {
					continue
				}
				if prog.Match(r, diffNow) {
					want = append(want, r.ID)
				}
			}
			st := query.GenerateSQL(ch, query.SQLite(), query.SQLOptions{AccountID: 1, Now: diffNow, ParentListID: parent})
			got := runIDs(t, db, st)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("%s:%d (parent %q): %s\nSQL: %s\nargs: %v\nSQLite: %v\nGo:     %v", cq.File, cq.Line, parent, cq.Src, st.SQL, st.Args, got, want)
			}
			if len(want) > 0 && len(want) < len(recs) {
				nonEmpty++
			}
		}
	}
	t.Logf("%d queries, %d runs with a proper non-empty subset", len(queries), nonEmpty)
	// A differential test over empty results proves little: most queries
	// must select some but not all contacts.
	if nonEmpty < len(queries) {
		t.Errorf("only %d of %d query runs selected a proper, non-empty subset; widen the generated data", nonEmpty, 2*len(queries))
	}
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
