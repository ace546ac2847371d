package query

import (
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// sqlVocabulary is every word GenerateSQL may emit. A word outside it, or
// any quoted text beyond the generator's own constants, means query text
// reached the SQL.
func sqlVocabulary() map[string]bool {
	words := strings.Fields(`SELECT FROM AS WHERE AND OR NOT IN IS NULL BETWEEN GLOB EXISTS GROUP BY HAVING
		MAX CAST INTEGER REAL NULLIF json_extract json_each strftime instr substr lower upper length
		c id contacts account_id list_members m contact_id list_id list_num lists num j value events e0 e1
		alternate_emails custom_fields created_at updated_at
		event_source event_type event_timestamp singlesend_id automation_id marketing_campaign_id url
		0 1 1000`)
	v := map[string]bool{}
	for _, w := range words {
		v[w] = true
	}
	for f := TextField(0); f < NumTextFields; f++ {
		v[f.Name()] = true
	}
	return v
}

var (
	sqlQuoted = regexp.MustCompile(`'[^']*'`)
	sqlWord   = regexp.MustCompile(`[A-Za-z0-9_]+`)
)

// checkSQLSafe reports text in generated SQL that did not come from the
// generator: quoted strings other than its constants, unknown words,
// comment or statement separators, and a placeholder count that differs
// from the arguments.
func checkSQLSafe(t testing.TB, st Statement) {
	t.Helper()
	vocab := sqlVocabulary()
	for _, q := range sqlQuoted.FindAllString(st.SQL, -1) {
		switch q {
		case "'%s'", "'@'", "''", "'unixepoch'":
		default:
			t.Fatalf("unexpected quoted text %s in SQL: %s", q, st.SQL)
		}
	}
	rest := sqlQuoted.ReplaceAllString(st.SQL, "")
	for _, bad := range []string{";", "--", "/*", `"`, "`", "\\"} {
		if strings.Contains(rest, bad) {
			t.Fatalf("SQL contains %q: %s", bad, st.SQL)
		}
	}
	for _, w := range sqlWord.FindAllString(rest, -1) {
		if !vocab[w] {
			t.Fatalf("SQL contains unexpected word %q: %s", w, st.SQL)
		}
	}
	if n := strings.Count(rest, "?"); n != len(st.Args) {
		t.Fatalf("%d placeholders, %d args: %s", n, len(st.Args), st.SQL)
	}
}

// fuzzOne runs the whole pipeline: no panic, an *Error on failure, the
// round trip holds, the SQL of both dialects is safe, evaluation does not
// panic.
func fuzzOne(t *testing.T, lang Lang, src string) {
	q, err := Parse(lang, src)
	if err != nil {
		var qe *Error
		if !errors.As(err, &qe) {
			t.Fatalf("error of type %T: %v", err, err)
		}
		return
	}
	text := q.String()
	q2, err := Parse(lang, text)
	if err != nil {
		t.Fatalf("reparse of %q (from %q): %v", text, src, err)
	}
	if a, b := Dump(q2, false), Dump(q, false); a != b {
		t.Fatalf("round trip of %q changed the AST:\n%s\nvs\n%s", src, a, b)
	}
	if _, err := JSON(q); err != nil {
		t.Fatalf("JSON: %v", err)
	}
	ch, err := Check(q, corpusCatalog(t))
	if err != nil {
		return
	}
	checkSQLSafe(t, GenerateSQL(ch, SQLite(), SQLOptions{AccountID: 1, Now: corpusNow, ParentListID: "L1"}))
	checkPostgresSQLSafe(t, GenerateSQL(ch, PostgreSQL(), SQLOptions{AccountID: 1, Now: corpusNow, ParentListID: "L1"}))
	p := Compile(ch)
	for _, r := range semanticsRecords() {
		p.Match(r, corpusNow)
	}
}

func hostileInputs() []string {
	deep := strings.Repeat("(", 100000) + "email = 'x'" + strings.Repeat(")", 100000)
	return []string{
		"email = 'x''; DROP TABLE contacts; --'",
		`email = 'x\'; DROP TABLE contacts; --'`,
		"email = 'x'; DROP TABLE contacts",
		"email = 'x' -- AND country = 'US'",
		"email = 'x' /* */ OR 1=1",
		"email = 'a' OR 'a'='a'",
		"email = 'a' UNION SELECT id FROM contacts",
		"SELECT contact_id, updated_at FROM contact_data; DELETE FROM contacts",
		"SELECT contact_id, updated_at FROM contact_data WHERE email = 'x' UNION SELECT id, 1 FROM api_keys",
		"SELECT contact_id, updated_at FROM contact_data WHERE \"email\" = 'x\"; DROP TABLE x; --'",
		"`email; DROP TABLE contacts` = 'x'",
		"email = \"\\\"); DROP TABLE contacts; --\"",
		"first_name = '日本語' AND last_name = 'Ünïcödé'",
		"first_name = '\u202Eevil'",
		"first_name = '\x00'",
		"age > 999999999999999999999999999999999999999999999",
		"age > " + strings.Repeat("9", 400),
		"age > 0." + strings.Repeat("0", 1000) + "1",
		"created_at > NOW() - INTERVAL 9223372036854775807 second",
		"created_at > NOW() - INTERVAL 99999999999999999999 day",
		deep,
		strings.Repeat("NOT ", 100000) + "email = 'x'",
		"age = " + strings.Repeat("-", 100000) + "1",
		"country IN (" + strings.Repeat("'x', ", 5000) + "'y')",
		strings.Repeat("email = 'x' AND ", 3000) + "TRUE",
		"LOWER(" + strings.Repeat("LOWER(", 1000) + "email" + strings.Repeat(")", 1001) + " = 'x'",
		"email LIKE '" + strings.Repeat("%a", 2000) + "'",
		"CONTAINS(list_ids, 'x'') OR 1=1 --')",
	}
}

// TestHostile: hostile input yields an error or safe SQL, never injected SQL.
func TestHostile(t *testing.T) {
	for _, lang := range []Lang{SGQL, SQL} {
		for _, src := range hostileInputs() {
			fuzzOne(t, lang, src)
			if lang == SQL {
				fuzzOne(t, lang, "SELECT contact_id, updated_at FROM contact_data WHERE "+src)
			}
		}
	}
	// The nesting bombs must be refused, not evaluated.
	for _, src := range hostileInputs()[20:23] {
		if _, err := ParseSGQL(src); err == nil {
			t.Errorf("%.40q...: parsed, want a limit error", src)
		}
	}
}

func addSeeds(f *testing.F, lang Lang) {
	for _, e := range readCorpus(f) {
		if e.Lang == lang {
			f.Add(e.Src)
		}
	}
	for _, h := range hostileInputs() {
		if len(h) < 2000 {
			f.Add(h)
		}
	}
}

func FuzzParseSGQL(f *testing.F) {
	addSeeds(f, SGQL)
	f.Fuzz(func(t *testing.T, src string) { fuzzOne(t, SGQL, src) })
}

func FuzzParseSQL(f *testing.F) {
	addSeeds(f, SQL)
	f.Fuzz(func(t *testing.T, src string) { fuzzOne(t, SQL, src) })
}

// FuzzConvertV1 checks that conversion never panics, that whatever it
// produces is valid Segments 2.0 SQL, and that both queries select the same
// generated contacts.
func FuzzConvertV1(f *testing.F) {
	addSeeds(f, SGQL)
	recs := append(genRecords(40, 5), semanticsRecords()...)
	cat := corpusCatalog(f)
	f.Fuzz(func(t *testing.T, src string) {
		q, err := ParseSGQL(src)
		if err != nil {
			return
		}
		ch1, err := Check(q, cat)
		if err != nil {
			return
		}
		out, err := ConvertV1(q, cat, "L1")
		if err != nil {
			if !strings.Contains(err.Error(), "has no equivalent") {
				t.Fatalf("convert %q: %v", src, err)
			}
			return
		}
		ch2, err := Check(out, cat)
		if err != nil {
			t.Fatalf("converted %q to invalid %q: %v", src, out, err)
		}
		p1, p2 := Compile(ch1), Compile(ch2)
		for _, r := range recs {
			want := p1.Match(r, corpusNow) && slices.Contains(r.ListIDs, "L1")
			if got := p2.Match(r, corpusNow); got != want {
				t.Fatalf("contact %s: v1 %v, 2.0 %v\nv1:  %s\n2.0: %s", r.ID, want, got, src, out)
			}
		}
	})
}
