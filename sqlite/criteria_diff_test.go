package sqlite_test

import (
	"slices"
	"testing"

	"github.com/segmentd/segmentd/criteria"
	"github.com/segmentd/segmentd/query"
)

// TestCriteriaDifferential: Constant Contact criteria translated by package
// criteria, then to SQL by query.GenerateSQL, select on SQLite exactly the
// contacts the Go evaluator accepts.
func TestCriteriaDifferential(t *testing.T) {
	cat := diffCatalog(t)
	db := openSchema(t)
	recs := genContacts(150, 11)
	insertContacts(t, db, 1, recs, cat)
	campaigns := []string{"ss2", "mc1", "ss1"} // newest first
	leaf := func(s string) string { return `{"version":"1.0.0","criteria":{"type":"and","group":[` + s + `]}}` }
	docs := []string{
		leaf(`{"source":"tracking","field":"not_opened","op":"contains-any","const_value":"last-n-campaigns","param":"2"}`),
		leaf(`{"source":"tracking","field":"opened","op":"contains-any","const_value":"last-n-campaigns","param":"1"}`),
		leaf(`{"source":"tracking","field":"sent","op":"contains-any","const_value":"campaigns","const_date_value":"last-n-days","date_param":"30"}`),
		leaf(`{"source":"tracking","field":"clicked","op":"contains-none","const_value":"campaign-ids","param":"ss1,mc1"}`),
		leaf(`{"source":"tracking","field":"not_clicked","op":"contains-none","const_value":"campaigns","const_date_value":"between-dates","date_param":"2024-05-01,2024-06-10"}`),
		leaf(`{"source":"tracking","field":"bounced","op":"contains-any","const_value":"campaigns"},{"source":"contact","field":"country","op":"ne","const_value":"us"}`),
		leaf(`{"type":"or","group":[{"source":"contact","field":"first_name","op":"starts-with","const_value":"a_"},{"source":"contact","field":"email_address","op":"ends-with","const_value":"@GMAIL.com"}]}`),
		leaf(`{"source":"contact","field":"city","op":"not-contains","const_value":"par"}`),
		leaf(`{"source":"contact","field":"state","op":"eq","const_value":"ca"}`),
		leaf(`{"source":"contact","field":"nickname","op":"contains","const_value":"NN"}`),
		leaf(`{"source":"contact","field":"age","op":"ne","const_value":"41"}`),
		leaf(`{"source":"contact","field":"age","op":"gte","const_value":"40.5"}`),
		leaf(`{"source":"contact","field":"birthday","op":"before","const_value":"1990-01-01"}`),
		leaf(`{"source":"contact","field":"created_at","op":"in-last-n-days","date_param":"100"}`),
		leaf(`{"source":"contact","field":"updated_at","op":"after","const_value":"2024-03-01"}`),
		leaf(`{"source":"contact","field":"postal_code","op":"is-empty"}`),
		leaf(`{"type":"or","group":[{"source":"tags","field":"tag_id","op":"contains-none","const_value":"11111111-2222-3333-4444-555555555555"}]},{"source":"tracking","field":"unsubscribed","op":"contains-none","const_value":"last-n-campaigns","param":"3"}`),
	}
	nonEmpty := 0
	for _, src := range docs {
		c, err := criteria.Parse(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		stmt, err := c.Select(cat, campaigns)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		ch, err := query.Check(&query.Query{Lang: query.SQL, Stmt: stmt}, cat)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		prog := query.Compile(ch)
		var want []string
		for _, r := range recs {
			if prog.Match(r, diffNow) {
				want = append(want, r.ID)
			}
		}
		slices.Sort(want)
		st := query.GenerateSQL(ch, query.SQLite(), query.SQLOptions{AccountID: 1, Now: diffNow})
		if got := runIDs(t, db, st); !slices.Equal(got, want) {
			t.Errorf("%s\nSQL: %s\nSQLite: %v\nGo:     %v", src, st.SQL, got, want)
		}
		if len(want) > 0 && len(want) < len(recs) {
			nonEmpty++
		} else {
			t.Logf("%d of %d contacts: %s", len(want), len(recs), src)
		}
	}
	if nonEmpty < len(docs) {
		t.Errorf("only %d of %d documents selected a proper, non-empty subset", nonEmpty, len(docs))
	}
}
