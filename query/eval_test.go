package query

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// semanticsRecords are small hand-made contacts for the semantic rules of
// docs/decisions.md §7.
func semanticsRecords() []*Record {
	day := int64(24 * time.Hour / time.Millisecond)
	now := corpusNow.UnixMilli()
	mk := func(id, first, country, email string) *Record {
		r := &Record{ID: id, CreatedAt: now - 10*day, UpdatedAt: now - day}
		r.Text[FieldFirstName] = first
		r.Text[FieldCountry] = country
		r.Text[FieldEmail] = email
		r.EmailDomains = EmailDomains(email, nil)
		return r
	}
	a := mk("a", "Ann", "US", "ann@gmail.com")
	a.ListIDs = []string{"L1"}
	a.Events = []Event{
		{Source: "mail", Type: "open", Timestamp: now - 2*day},
		{Source: "mail", Type: "click", Timestamp: now - 40*day, URL: "https://x.test/p"},
	}
	a.Custom = []Value{TextValue("Annie"), NumberValue(30), DateValue(now - 9000*day)}
	b := mk("b", "ann", "", "bob@example.com")
	b.Events = []Event{{Source: "mail", Type: "open", Timestamp: now - 50*day}}
	b.Custom = []Value{{}, NumberValue(17.5)}
	c := mk("c", "", "CA", "")
	c.ListIDs = []string{"L2"}
	c.AlternateEmails = []string{"c@work.com"}
	c.EmailDomains = EmailDomains("", c.AlternateEmails)
	return []*Record{a, b, c}
}

func TestEvalSemantics(t *testing.T) {
	cat := corpusCatalog(t)
	recs := semanticsRecords()
	tests := []struct {
		lang Lang
		src  string
		want []string
	}{
		// Case-sensitive equality and LIKE.
		{SGQL, "first_name = 'Ann'", []string{"a"}},
		{SGQL, "first_name LIKE 'a%'", []string{"b"}},
		{SGQL, "lower(first_name) = 'ann'", []string{"a", "b"}},
		// Unset text is NULL: IS NULL and = '' both match it.
		{SGQL, "country IS NULL", []string{"b"}},
		{SGQL, "country = ''", []string{"b"}},
		{SGQL, "country != ''", []string{"a", "c"}},
		// Three-valued logic: a NULL country matches neither side.
		{SGQL, "country != 'US'", []string{"c"}},
		{SGQL, "NOT (country = 'US')", []string{"c"}},
		{SGQL, "country NOT IN ('US')", []string{"c"}},
		{SGQL, "country = 'US' OR country != 'US'", []string{"a", "c"}},
		{SGQL, "country IN ('US', NULL)", []string{"a"}},
		{SGQL, "country NOT IN ('US', NULL)", nil},
		// Custom fields by name, case-insensitively; missing values are NULL.
		{SGQL, "NICKNAME = 'Annie'", []string{"a"}},
		{SGQL, "age >= 18", []string{"a"}},
		{SGQL, "age < 18", []string{"b"}},
		{SGQL, "age IS NULL", []string{"c"}},
		{SGQL, "birthday < '2000-01-01'", []string{"a"}},
		// Sets.
		{SGQL, "CONTAINS(list_ids, 'L1')", []string{"a"}},
		{SGQL, "NOT CONTAINS(list_ids, 'L1')", []string{"b", "c"}},
		{SGQL, "CONTAINS(email_domains, 'work.com')", []string{"c"}},
		{SGQL, "list_ids IS NULL", []string{"b"}},
		// Time windows against the injected clock.
		{SGQL, "created_at > NOW() - INTERVAL 11 day", []string{"a", "b", "c"}},
		{SGQL, "created_at > NOW() - INTERVAL 9 day", nil},
		// Engagement groups: some event satisfies the whole group.
		{SGQL, "(event_type = 'opened' AND event_timestamp > NOW() - INTERVAL 7 day)", []string{"a"}},
		{SGQL, "(event_type = 'click' AND event_timestamp > NOW() - INTERVAL 7 day)", nil},
		{SGQL, "NOT (event_type = 'open')", []string{"c"}},
		{SGQL, "(event_type = 'open') AND (event_type = 'click')", []string{"a"}},
		{SGQL, "(event_type = 'open' AND event_type = 'click')", nil},
		// Segments 2.0.
		{SQL, "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'clicked'", []string{"a"}},
		{SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id NOT IN (SELECT contact_id FROM event_data WHERE event_type = 'open')", []string{"c"}},
		{SQL, "SELECT c.contact_id, c.updated_at, MAX(e.event_timestamp) AS last_open FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' GROUP BY c.contact_id HAVING last_open < timestampadd(day, -30, current_timestamp)", []string{"b"}},
		{SQL, "SELECT contact_id, updated_at FROM contact_data WHERE array_contains(list_ids, ['L2', 'L1'])", []string{"a", "c"}},
		{SQL, "SELECT contact_id, updated_at FROM contact_data WHERE upper(first_name) = 'ANN'", []string{"a", "b"}},
	}
	for _, tt := range tests {
		q, err := Parse(tt.lang, tt.src)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		ch, err := Check(q, cat)
		if err != nil {
			t.Fatalf("%s: %v", tt.src, err)
		}
		p := Compile(ch)
		var got []string
		for _, r := range recs {
			if p.Match(r, corpusNow) {
				got = append(got, r.ID)
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %v, want %v", tt.src, got, tt.want)
		}
	}
}

func TestLikePatterns(t *testing.T) {
	tests := []struct {
		lang   Lang
		pat, s string
		want   bool
		glob   string
	}{
		{SGQL, "a%", "abc", true, "a*"},
		{SGQL, "%c", "abc", true, "*c"},
		{SGQL, "%b%", "abc", true, "*b*"},
		{SGQL, "A%", "abc", false, "A*"},
		{SGQL, "a_c", "abc", false, "a_c"},
		{SGQL, "a_c", "a_c", true, "a_c"},
		{SGQL, "100%%", "100%", true, "100%"},
		{SGQL, "100%%", "1000", false, "100%"},
		{SGQL, "a*[?", "a*[?", true, "a[*][[][?]"},
		{SQL, "a_c", "abc", true, "a?c"},
		{SQL, `a\_c`, "abc", false, "a_c"},
		{SQL, "%", "", true, "*"},
		{SQL, "_", "é", true, "?"},
		{SQL, "%a%b%", "xxaxxbxx", true, "*a*b*"},
	}
	for _, tt := range tests {
		lp := compileLike(tt.lang, tt.pat)
		if got := lp.match(tt.s); got != tt.want {
			t.Errorf("%v %q LIKE %q: got %v, want %v", tt.lang, tt.s, tt.pat, got, tt.want)
		}
		if got := lp.glob(); got != tt.glob {
			t.Errorf("%v %q glob: got %q, want %q", tt.lang, tt.pat, got, tt.glob)
		}
	}
}

// BenchmarkMatch100 evaluates 100 compiled segments (the first 100 valid
// corpus queries of both dialects, engagement ones included) against one
// contact with 5 events and reports the cost per contact (ns/100segments).
// Target: at most 10 µs.
func BenchmarkMatch100(b *testing.B) {
	cat := corpusCatalog(b)
	var progs []*Program
	for _, e := range readCorpus(b) {
		if !e.Valid {
			continue
		}
		q, err := Parse(e.Lang, e.Src)
		if err != nil {
			b.Fatal(err)
		}
		ch, err := Check(q, cat)
		if err != nil {
			b.Fatal(err)
		}
		progs = append(progs, Compile(ch))
	}
	// Take every step-th program so both dialects are among the 100.
	if len(progs) < 100 {
		b.Fatalf("only %d programs", len(progs))
	}
	step := len(progs) / 100
	var sel []*Program
	for i := 0; len(sel) < 100; i += step {
		sel = append(sel, progs[i])
	}
	r := semanticsRecords()[0]
	now := corpusNow.UnixMilli()
	for i := 0; i < 3; i++ {
		r.Events = append(r.Events, Event{Source: "mail", Type: "delivered", Timestamp: now - int64(i)*3600_000, SinglesendID: "ss1"})
	}
	out := make([]bool, len(sel))
	matched := 0
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		MatchAll(sel, r, corpusNow, out)
	}
	b.StopTimer()
	for _, m := range out {
		if m {
			matched++
		}
	}
	perOp := float64(b.Elapsed().Nanoseconds()) / float64(b.N)
	b.ReportMetric(perOp, "ns/100segments")
	b.Logf("100 segments x 1 contact (5 events, %d matched): %.0f ns", matched, perOp)
}

func TestLikeHostilePattern(t *testing.T) {
	lp := compileLike(SQL, strings.Repeat("%a", 3000)+"%b")
	s := strings.Repeat("a", 254)
	start := time.Now()
	if lp.match(s) {
		t.Fatal("matched")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("hostile LIKE took %v", d)
	}
}

func TestCheckFlags(t *testing.T) {
	cat := corpusCatalog(t)
	tests := []struct {
		lang        Lang
		src         string
		events, now bool
	}{
		{SGQL, "email = 'x'", false, false},
		{SGQL, "created_at > NOW() - INTERVAL 1 day", false, true},
		{SGQL, "(event_type = 'open')", true, false},
		{SQL, "SELECT contact_id, updated_at FROM contact_data JOIN event_data ON contact_id WHERE event_timestamp > timestampadd(day, -1, current_timestamp)", true, true},
	}
	for _, tt := range tests {
		q, err := Parse(tt.lang, tt.src)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := Check(q, cat)
		if err != nil {
			t.Fatal(err)
		}
		if ch.UsesEvents != tt.events || ch.UsesNow != tt.now {
			t.Errorf("%s: UsesEvents %v UsesNow %v, want %v %v", tt.src, ch.UsesEvents, ch.UsesNow, tt.events, tt.now)
		}
	}
}
