package query

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segmentd/segmentd/internal/querycorpus"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// The corpus (internal/querycorpus), in this package's terms.
func corpusCatalog(t testing.TB) *Catalog {
	return querycorpus.Catalog(t, NewCatalog, Text, Number, Date)
}

var corpusNow = querycorpus.Now

type corpusEntry = querycorpus.Entry[Lang]

func readCorpus(t testing.TB) []corpusEntry { return querycorpus.Read(t, "testdata", SGQL, SQL) }

// process runs the whole pipeline on one query and renders every stage.
func process(t testing.TB, cat *Catalog, e corpusEntry) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "=== %s:%d\n%s\n", e.File, e.Line, e.Src)
	q, err := Parse(e.Lang, e.Src)
	if err != nil {
		fmt.Fprintf(&b, "--- parse error\n%v\n", err)
		return b.String(), err
	}
	fmt.Fprintf(&b, "--- ast\n%s", Dump(q, true))
	fmt.Fprintf(&b, "--- string\n%s\n", q.String())
	js, err := JSON(q)
	if err != nil {
		t.Fatalf("%s:%d: JSON: %v", e.File, e.Line, err)
	}
	fmt.Fprintf(&b, "--- query_json\n%s\n", js)
	ch, err := Check(q, cat)
	if err != nil {
		fmt.Fprintf(&b, "--- check error\n%v\n", err)
		return b.String(), err
	}
	st := GenerateSQL(ch, SQLite(), SQLOptions{AccountID: 1, Now: corpusNow})
	args, _ := json.Marshal(st.Args)
	fmt.Fprintf(&b, "--- sql\n%s\n--- args\n%s\n", st.SQL, args)
	return b.String(), nil
}

func TestCorpusGolden(t *testing.T) {
	cat := corpusCatalog(t)
	entries := readCorpus(t)
	if len(entries) < 200 {
		t.Errorf("corpus has %d queries, want at least 200", len(entries))
	}
	got := map[string]*strings.Builder{}
	for _, e := range entries {
		out, err := process(t, cat, e)
		if (err == nil) != e.Valid {
			t.Errorf("%s:%d: %q: got error %v, want valid=%v", e.File, e.Line, e.Src, err, e.Valid)
		}
		if got[e.File] == nil {
			got[e.File] = &strings.Builder{}
		}
		got[e.File].WriteString(out)
		got[e.File].WriteString("\n")
	}
	for file, b := range got {
		golden := filepath.Join("testdata", strings.TrimSuffix(file, ".txt")+".golden")
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
			t.Errorf("%s differs from the pipeline's output; run go test ./query/... -update and review the diff", golden)
		}
	}
}

// TestRoundTrip checks Parse(String(Parse(q))) == Parse(q) for the corpus.
func TestRoundTrip(t *testing.T) {
	for _, e := range readCorpus(t) {
		q, err := Parse(e.Lang, e.Src)
		if err != nil {
			continue
		}
		text := q.String()
		q2, err := Parse(e.Lang, text)
		if err != nil {
			t.Errorf("%s:%d: reparse of %q: %v", e.File, e.Line, text, err)
			continue
		}
		if got, want := Dump(q2, false), Dump(q, false); got != want {
			t.Errorf("%s:%d: round trip changed the AST\ntext: %s\ngot:\n%swant:\n%s", e.File, e.Line, text, got, want)
		}
	}
}

// TestErrorMessages pins the exact wording of each error class.
func TestErrorMessages(t *testing.T) {
	cat := corpusCatalog(t)
	tests := []struct {
		lang Lang
		src  string
		want string
	}{
		{SGQL, "a = )", "1:5: expected expression, found ')'"},
		{SGQL, "email LIKE '%@x.com' AND lastname = 'x'", "1:26: unknown column 'lastname'"},
		{SQL, "SELECT contact_id, updated_at FROM singlesend_data", "1:36: illegal table name: 'singlesend_data'"},
		{SQL, "SELECT contact_id, updated_at FROM contact_data WHERE last_opened > '2024-01-01'", "1:55: illegal column name: 'last_opened' referenced for table: 'contact_data'"},
		{SQL, "SELECT contact_id, updated_at FROM contact_data WHERE CONTAINS(list_ids, 'x')", "1:55: unsupported SQL function: 'CONTAINS'"},
		{SGQL, "age = 'x'", "1:5: operator = is incompatible with NUMBER, STRING"},
		{SGQL, "list_ids = 'x'", "1:10: operator = is incompatible with ARRAY<STRING>, STRING"},
		{SGQL, "email = 'x", "1:9: string literal not terminated"},
		{SGQL, "email = 'a\x00b'", "1:11: a quoted literal must not contain U+0000"},
		{SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email = 'x\x00'", "1:65: a quoted literal must not contain U+0000"},
		{SGQL, "email = 'x'; DROP TABLE contacts", "1:12: expected end of query, found ';'"},
	}
	for _, tt := range tests {
		q, err := Parse(tt.lang, tt.src)
		if err == nil {
			_, err = Check(q, cat)
		}
		got := fmt.Sprint(err)
		if got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.src, got, tt.want)
		}
	}
}

func TestLimits(t *testing.T) {
	cat := corpusCatalog(t)
	deep := strings.Repeat("(", MaxDepth+1) + "email = 'x'" + strings.Repeat(")", MaxDepth+1)
	tests := []struct {
		name, src, want string
	}{
		{"length", "email = '" + strings.Repeat("x", MaxQueryLength) + "'", fmt.Sprintf("query too long: %d bytes (limit %d)", MaxQueryLength+10, MaxQueryLength)},
		{"depth", deep, fmt.Sprintf("nested too deeply (limit %d levels)", MaxDepth)},
		{"nodes", strings.Repeat("email = 'x' OR ", MaxNodes/3) + "email = 'y'", fmt.Sprintf("query too large: more than %d nodes", MaxNodes)},
	}
	for _, tt := range tests {
		_, err := ParseSGQL(tt.src)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
	}
	// Just inside the limits parses and checks.
	ok := strings.Repeat("(", MaxDepth) + "email = 'x'" + strings.Repeat(")", MaxDepth)
	q, err := ParseSGQL(ok)
	if err != nil {
		t.Fatalf("depth %d: %v", MaxDepth, err)
	}
	if _, err := Check(q, cat); err != nil {
		t.Fatal(err)
	}
}
