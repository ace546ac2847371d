// Package querydiff is the differential test of package query's SQL
// generation, shared by the stores' tests: the contacts it is run over,
// and the comparison of what a store's database selects with what the Go
// evaluator, the semantics of record, accepts. Each store's test loads the
// contacts into its own schema and says how to run a statement; the
// queries (the corpus of internal/querycorpus, Constant Contact criteria)
// and the verdicts are the same for every store. It is imported only by
// tests.
package querydiff

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/segmentd/segmentd/criteria"
	"github.com/segmentd/segmentd/internal/querycorpus"
	"github.com/segmentd/segmentd/query"
)

// Now is the instant the queries are evaluated at (the corpus's clock).
var Now = querycorpus.Now

// Catalog is the account catalogue the corpus is checked against.
func Catalog(t testing.TB) *query.Catalog {
	return querycorpus.Catalog(t, query.NewCatalog, query.Text, query.Number, query.Date)
}

// The tags of the generated contacts (query.Record.TagIDs), which the
// stores' tests load as taggings: Tag1 on every third contact, Tag2 on
// every fourth.
const (
	Tag1 = "11111111-2222-3333-4444-555555555555"
	Tag2 = "22222222-3333-4444-5555-666666666666"
)

// Store is a database holding the contacts, as a store's test sees it.
type Store struct {
	Name    string // names the store in failures: "SQLite", "PostgreSQL"
	Dialect query.Dialect
	// Run runs st and returns the selected contact ids, sorted.
	Run func(t *testing.T, st query.Statement) []string
}

// Contacts makes contacts whose values hit every corner the corpus asks
// about: unset fields, case differences, list and event mixes, dates on both
// sides of the corpus's constants. email, phone_number_id, external_id and
// anonymous_id carry the contact number, being unique per account in the
// stores.
func Contacts(n int, seed uint64) []*query.Record {
	rng := rand.New(rand.NewPCG(seed, 1))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	day := int64(24 * time.Hour / time.Millisecond)
	now := Now.UnixMilli()
	var out []*query.Record
	for i := 0; i < n; i++ {
		r := &query.Record{ID: fmt.Sprintf("c%d", i+1)}
		r.Text[query.FieldFirstName] = pick("", "Ann", "ann", "Bob", "Ánn", "Zoë", "A_n", "Anna")
		r.Text[query.FieldLastName] = pick("", "Lee", "lee", "O'Neil")
		user := pick("ann", "bob", "first_last", "firstxlast", "x", "100%")
		domain := pick("gmail.com", "example.com", "nango.dev", "work.com")
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
		// Constant Contact tags, from the contact's number rather than
		// the generator, whose sequence the other columns' data keeps.
		if i%3 == 0 {
			r.TagIDs = append(r.TagIDs, Tag1)
		}
		if i%4 == 1 {
			r.TagIDs = append(r.TagIDs, Tag2)
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

// CustomFields is r's custom_fields column: each set value keyed by its
// field id, Text as a JSON string, Number as a JSON number, Date as unix ms.
func CustomFields(cat *query.Catalog, r *query.Record) map[string]any {
	custom := cat.CustomFields()
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
	return cf
}

// Compare runs ch on the store (contacts of account 1, members of list
// parent if it is set) and on the evaluator over recs, and reports a
// difference as an error naming what; it returns what the evaluator
// accepted.
func Compare(t *testing.T, s Store, what string, ch *query.Checked, recs []*query.Record, parent string) []string {
	t.Helper()
	prog := query.Compile(ch)
	var want []string
	for _, r := range recs {
		if parent != "" && !slices.Contains(r.ListIDs, parent) {
			continue
		}
		if prog.Match(r, Now) {
			want = append(want, r.ID)
		}
	}
	slices.Sort(want)
	st := query.GenerateSQL(ch, s.Dialect, query.SQLOptions{AccountID: 1, Now: Now, ParentListID: parent})
	if got := s.Run(t, st); !slices.Equal(got, want) {
		t.Errorf("%s (parent %q)\nSQL: %s\nargs: %v\n%s: %v\nGo: %v", what, parent, st.SQL, st.Args, s.Name, got, want)
	}
	return want
}

// Corpus runs every valid query of the corpus (query/testdata, read from
// the store package's directory, a sibling of query), alone and under a
// parent list, over recs: the contacts of account 1 in the store.
func Corpus(t *testing.T, s Store, recs []*query.Record) {
	cat := Catalog(t)
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
		for _, parent := range []string{"", "L2"} {
			want := Compare(t, s, fmt.Sprintf("%s:%d: %s", cq.File, cq.Line, cq.Src), ch, recs, parent)
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

// Criteria runs Constant Contact segment criteria, translated by package
// criteria into a Segments 2.0 statement, over recs: the contacts of
// account 1 in the store.
func Criteria(t *testing.T, s Store, recs []*query.Record) {
	cat := Catalog(t)
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
		leaf(`{"source":"tags","field":"tag_id","op":"contains-any","const_value":"22222222-3333-4444-5555-666666666666"}`),
		leaf(`{"type":"or","group":[{"source":"tags","field":"tag_id","op":"contains-any","const_value":"11111111-2222-3333-4444-555555555555"},{"source":"tags","field":"tag_id","op":"contains-none","const_value":"22222222-3333-4444-5555-666666666666"}]},{"source":"contact","field":"country","op":"is-not-empty"}`),
	}
	nonEmpty := 0
	for _, src := range docs {
		c, err := criteria.Parse(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		q, err := c.Query(cat, campaigns)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		ch, err := query.Check(q, cat)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if want := Compare(t, s, src, ch, recs, ""); len(want) > 0 && len(want) < len(recs) {
			nonEmpty++
		} else {
			t.Logf("%d of %d contacts: %s", len(want), len(recs), src)
		}
	}
	if nonEmpty < len(docs) {
		t.Errorf("only %d of %d documents selected a proper, non-empty subset", nonEmpty, len(docs))
	}
}

// calendarTimes are instants on the edges of calendar arithmetic: month
// ends, leap days, the first and last millisecond of a day, 1970 and
// before, and the first and last years a query or a Date value may name.
var calendarTimes = []string{
	"2024-01-31T23:59:59.999Z",
	"2023-01-31T00:00:00Z",
	"2024-02-29T12:00:00Z",
	"2024-03-31T00:00:00.001Z",
	"2023-12-31T23:59:59.999Z",
	"2000-05-31T08:30:00Z",
	"1970-01-01T00:00:00Z",
	"1969-12-31T23:59:59.999Z",
	"1900-02-28T00:00:00Z",
	"1600-02-29T06:00:00Z",
	"0004-02-29T00:00:00Z",
	"0001-01-01T00:00:00Z",
	"9999-12-31T23:59:59.999Z",
}

// calendarMonths are the month counts added, up to the 10,000 years a
// query may add.
var calendarMonths = []int{1, -1, 2, 11, -11, 12, 13, -13, 1200, -1200, 4801, -119999, 120000, -120000}

// CalendarContacts are contacts whose birthday (a Date custom field) and
// created_at are the calendarTimes.
func CalendarContacts() []*query.Record {
	var out []*query.Record
	for i, s := range calendarTimes {
		ms, ok := query.ParseTime(s)
		if !ok {
			panic("querydiff: bad calendar time " + s)
		}
		r := &query.Record{ID: fmt.Sprintf("k%d", i+1), CreatedAt: ms, UpdatedAt: ms, Custom: make([]query.Value, 3)}
		r.Custom[2] = query.DateValue(ms)
		out = append(out, r)
	}
	return out
}

// Calendar checks month arithmetic to the millisecond over recs, the
// CalendarContacts of account 1 in the store: for each contact, field and
// month count, "field + n months + k days = t", where t is what Go's
// time.AddDate gives shifted by k whole days into the years a query can
// write (k is 0 unless the sum leaves years 1-9999), selects on the store
// what it selects on the evaluator: the contact itself.
func Calendar(t *testing.T, s Store, recs []*query.Record) {
	cat := Catalog(t)
	for _, r := range recs {
		for _, field := range []string{"birthday", "created_at"} {
			for _, n := range calendarMonths {
				sum := time.UnixMilli(r.CreatedAt).UTC().AddDate(0, n, 0)
				days := 0
				for sum.Year() < 1 {
					sum, days = sum.AddDate(0, 0, 146097), days+146097
				}
				for sum.Year() > 9999 {
					sum, days = sum.AddDate(0, 0, -146097), days-146097
				}
				src := fmt.Sprintf("%s %s INTERVAL %d MONTH %s INTERVAL %d DAY = '%s'",
					field, sign(n), abs(n), sign(days), abs(days), sum.Format(time.RFC3339Nano))
				q, err := query.ParseSGQL(src)
				if err != nil {
					t.Fatalf("%s: %v", src, err)
				}
				ch, err := query.Check(q, cat)
				if err != nil {
					t.Fatalf("%s: %v", src, err)
				}
				if want := Compare(t, s, src, ch, recs, ""); !slices.Equal(want, []string{r.ID}) {
					t.Fatalf("%s: the evaluator selects %v, want %s alone", src, want, r.ID)
				}
			}
		}
	}
}

func sign(n int) string {
	if n < 0 {
		return "-"
	}
	return "+"
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
