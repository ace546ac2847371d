package query

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestCorpusGoldenPostgres pins the PostgreSQL text of every valid corpus
// query, as TestCorpusGolden pins the SQLite text (testdata/*.postgres.golden;
// go test ./query/... -update rewrites them). What the text means is the
// business of the differential test on a real server (postgres/).
func TestCorpusGoldenPostgres(t *testing.T) {
	cat := corpusCatalog(t)
	got := map[string]*strings.Builder{}
	for _, e := range readCorpus(t) {
		if !e.Valid {
			continue
		}
		q, err := Parse(e.Lang, e.Src)
		if err != nil {
			t.Fatalf("%s:%d: %v", e.File, e.Line, err)
		}
		ch, err := Check(q, cat)
		if err != nil {
			t.Fatalf("%s:%d: %v", e.File, e.Line, err)
		}
		st := GenerateSQL(ch, PostgreSQL(), SQLOptions{AccountID: 1, Now: corpusNow})
		checkPostgresSQLSafe(t, st)
		args, _ := json.Marshal(st.Args)
		if got[e.File] == nil {
			got[e.File] = &strings.Builder{}
		}
		fmt.Fprintf(got[e.File], "=== %s:%d\n%s\n--- sql\n%s\n--- args\n%s\n\n", e.File, e.Line, e.Src, st.SQL, args)
	}
	for file, b := range got {
		golden := filepath.Join("testdata", strings.TrimSuffix(file, ".txt")+".postgres.golden")
		if *update {
			if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./query/... -update)", err)
		}
		if b.String() != string(want) {
			t.Errorf("%s differs from the generator's output; run go test ./query/... -update and review the diff", golden)
		}
	}
}

// postgresVocabulary is every word the PostgreSQL dialect may emit besides
// the SQLite dialect's (sqlVocabulary).
func postgresVocabulary() map[string]bool {
	v := sqlVocabulary()
	for _, w := range strings.Fields(`LIKE COLLATE CASE WHEN THEN ELSE END OFFSET LATERAL float8 bigint integer text uuid l
		jsonb_typeof jsonb_array_elements_text strpos trunc g ts
		s1 s2 s3 s4 s5 s6 s7 s8 t ms z doe yoe doy d r r1 r2 a b
		2 4 5 12 100 153 365 400 1460 4800 36524 146096 146097 719468 86400000
		9223372036854775807 9223372036854775808`) {
		v[w] = true
	}
	return v
}

var (
	pgPlaceholder = regexp.MustCompile(`\$([0-9]+)::(text|float8|bigint|integer)\b`)
	pgCollateC    = regexp.MustCompile(` COLLATE "C"`)
)

// checkPostgresSQLSafe is checkSQLSafe for the PostgreSQL dialect: only the
// generator's own words and quoted constants, no comment, statement
// separator or dollar quote, and placeholders $1…$n for the n arguments,
// each cast to its argument's type.
func checkPostgresSQLSafe(t testing.TB, st Statement) {
	t.Helper()
	for _, q := range sqlQuoted.FindAllString(st.SQL, -1) {
		switch q {
		case "'@'", "''", "'number'", "'string'":
		default:
			t.Fatalf("unexpected quoted text %s in SQL: %s", q, st.SQL)
		}
	}
	rest := sqlQuoted.ReplaceAllString(st.SQL, "")
	rest = pgCollateC.ReplaceAllString(rest, " COLLATE")
	used := make([]bool, len(st.Args))
	for _, m := range pgPlaceholder.FindAllStringSubmatch(rest, -1) {
		n, _ := strconv.Atoi(m[1])
		if n < 1 || n > len(st.Args) {
			t.Fatalf("placeholder $%d with %d args: %s", n, len(st.Args), st.SQL)
		}
		want := map[string]string{"string": "text", "float64": "float8", "int64": "bigint", "int": "integer"}[fmt.Sprintf("%T", st.Args[n-1])]
		if m[2] != want {
			t.Fatalf("$%d is cast to %s, its argument is a %T: %s", n, m[2], st.Args[n-1], st.SQL)
		}
		used[n-1] = true
	}
	for i, u := range used {
		if !u {
			t.Fatalf("argument %d (%v) is not used: %s", i+1, st.Args[i], st.SQL)
		}
	}
	rest = pgPlaceholder.ReplaceAllString(rest, "")
	for _, bad := range []string{";", "--", "/*", `"`, "`", "\\", "$", "?"} {
		if strings.Contains(rest, bad) {
			t.Fatalf("SQL contains %q: %s", bad, st.SQL)
		}
	}
	vocab := postgresVocabulary()
	for _, w := range sqlWord.FindAllString(rest, -1) {
		if !vocab[w] {
			t.Fatalf("SQL contains unexpected word %q: %s", w, st.SQL)
		}
	}
}

// TestPostgresSQLGrowsLinearly: month arithmetic and % write their operand
// once, so nesting them does not multiply the statement's length (a
// 2,000-node query could otherwise produce gigabytes of SQL).
func TestPostgresSQLGrowsLinearly(t *testing.T) {
	cat := corpusCatalog(t)
	for _, tt := range []struct{ one, nest string }{
		{"birthday + INTERVAL 1 MONTH", "(X) + INTERVAL 1 MONTH"},
		{"age % 2", "(X) % 2"},
		{"age / 2", "(X) / 2"},
	} {
		size := func(depth int) int {
			x := tt.one
			for i := 1; i < depth; i++ {
				x = strings.Replace(tt.nest, "X", x, 1)
			}
			var src string
			if strings.Contains(tt.one, "birthday") {
				src = x + " > NOW()"
			} else {
				src = x + " > 1"
			}
			q, err := ParseSGQL(src)
			if err != nil {
				t.Fatal(err)
			}
			ch, err := Check(q, cat)
			if err != nil {
				t.Fatal(err)
			}
			st := GenerateSQL(ch, PostgreSQL(), SQLOptions{AccountID: 1, Now: corpusNow})
			checkPostgresSQLSafe(t, st)
			return len(st.SQL)
		}
		one, two, twenty := size(1), size(2), size(20)
		if step := two - one; twenty > one+19*step+19*8 {
			t.Errorf("%s nested 20 times: %d bytes of SQL, want about %d (+%d per level)", tt.one, twenty, one+19*step, step)
		}
	}
}
