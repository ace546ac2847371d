package criteria

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segmentd/segmentd/query"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

// testCatalog holds a custom field of each type, and one named like a
// Constant Contact contact field.
func testCatalog(t testing.TB) *query.Catalog {
	t.Helper()
	cat, err := query.NewCatalog([]query.CustomField{
		{ID: "w1", Name: "Nickname", Type: query.Text},
		{ID: "n2", Name: "age", Type: query.Number},
		{ID: "d3", Name: "birthday", Type: query.Date},
		{ID: "w4", Name: "state", Type: query.Text},
	})
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// testCampaigns are the account's campaigns, newest first.
var testCampaigns = []string{"c7", "c6", "c5", "c4", "c3", "c2", "c1"}

// translate runs Parse and Select and returns the printed statement.
func translate(cat *query.Catalog, campaigns []string, src string) (string, *query.SelectStmt, error) {
	c, err := Parse(src)
	if err != nil {
		return "", nil, err
	}
	stmt, err := c.Select(cat, campaigns)
	if err != nil {
		return "", nil, err
	}
	return (&query.Query{Lang: query.SQL, Stmt: stmt}).String(), stmt, nil
}

// readCases reads one document per line; blank lines and lines starting
// with # are skipped.
func readCases(t testing.TB, file string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if line := sc.Text(); strings.TrimSpace(line) != "" && !strings.HasPrefix(line, "#") {
			out = append(out, line)
		}
	}
	return out
}

func golden(t *testing.T, file, got string) {
	t.Helper()
	path := filepath.Join("testdata", file)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./criteria/ -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs from the output; run go test ./criteria/ -update and review the diff", path)
	}
}

// TestValidGolden translates every valid document, checks the statement
// against the catalogue, and checks that its text parses back to a
// statement that prints the same.
func TestValidGolden(t *testing.T) {
	cat := testCatalog(t)
	var b strings.Builder
	for _, src := range readCases(t, "valid.txt") {
		text, stmt, err := translate(cat, testCampaigns, src)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if _, err := query.Check(&query.Query{Lang: query.SQL, Stmt: stmt, Tags: true}, cat); err != nil {
			t.Errorf("%s: check: %v\n%s", src, err, text)
		}
		q2, err := query.ParseSQL(text)
		if err != nil {
			t.Errorf("%s: reparse: %v\n%s", src, err, text)
		} else if q2.String() != text {
			t.Errorf("%s: round trip changed the text\n got %s\nwant %s", src, q2.String(), text)
		}
		fmt.Fprintf(&b, "%s\n=> %s\n\n", src, text)
	}
	golden(t, "valid.golden", b.String())
}

// TestInvalidGolden pins the error of every invalid document.
func TestInvalidGolden(t *testing.T) {
	cat := testCatalog(t)
	var b strings.Builder
	for _, src := range readCases(t, "invalid.txt") {
		_, _, err := translate(cat, testCampaigns, src)
		if err == nil {
			t.Errorf("%s: accepted", src)
			continue
		}
		var ce *Error
		if !errors.As(err, &ce) {
			t.Errorf("%s: error of type %T", src, err)
		}
		fmt.Fprintf(&b, "%s\n=> %v\n\n", src, err)
	}
	golden(t, "invalid.golden", b.String())
}

func leafDoc(leaf string) string {
	return `{"version":"1.0.0","criteria":{"type":"and","group":[` + leaf + `]}}`
}

// TestLimits checks each limit just inside and just past it.
func TestLimits(t *testing.T) {
	nest := func(depth int) string {
		s := `{"source":"tracking","field":"sent","op":"contains-any","const_value":"campaigns"}`
		for i := 1; i < depth; i++ {
			s = `{"type":"or","group":[` + s + `]}`
		}
		return leafDoc(s)
	}
	many := func(n int) string {
		leaves := make([]string, n)
		for i := range leaves {
			leaves[i] = `{"source":"contact","field":"city","op":"is-empty"}`
		}
		return leafDoc(strings.Join(leaves, ","))
	}
	lastN := func(n string) string {
		return leafDoc(`{"source":"tracking","field":"opened","op":"contains-any","const_value":"last-n-campaigns","param":"` + n + `"}`)
	}
	days := func(n string) string {
		return leafDoc(`{"source":"tracking","field":"sent","op":"contains-any","const_value":"campaigns","const_date_value":"last-n-days","date_param":"` + n + `"}`)
	}
	ids := func(n int) string {
		var s []string
		for i := range n {
			s = append(s, fmt.Sprint("id", i))
		}
		return leafDoc(`{"source":"tracking","field":"opened","op":"contains-any","const_value":"campaign-ids","param":"` + strings.Join(s, ",") + `"},` +
			`{"source":"tracking","field":"sent","op":"contains-any","const_value":"last-n-campaigns","param":"10"}`)
	}
	long := leafDoc(`{"source":"contact","field":"city","op":"eq","const_value":"` + strings.Repeat("é", MaxLength) + `"}`)
	tests := []struct {
		name string
		ok   string
		bad  string
		want string
	}{
		{"depth", nest(MaxDepth), nest(MaxDepth + 1), "groups nest deeper than 16 levels (MaxDepth)"},
		{"nodes", many(MaxNodes - 1), many(MaxNodes), "more than 200 groups and conditions (MaxNodes)"},
		{"campaigns", lastN("500"), lastN("501"), "criteria.group[0].param: the criteria would evaluate more than 500 email campaigns (501)"},
		{"campaign ids", ids(490), ids(491), "criteria.group[1].param: the criteria would evaluate more than 500 email campaigns"},
		{"days", days("1825"), days("1826"), "criteria.group[0].date_param: the date range is longer than 1825 days (1826 days)"},
		{"huge days", days("1"), days("99999999999999999999"), "the date range is longer than 1825 days"},
		{"length", leafDoc(`{"source":"contact","field":"city","op":"eq","const_value":"` + strings.Repeat("é", MaxLength-150) + `"}`), long,
			fmt.Sprintf("segment_criteria is %d characters long; the limit is 20000 (MaxLength)", len([]rune(long)))},
	}
	for _, tt := range tests {
		if _, err := Parse(tt.ok); err != nil {
			t.Errorf("%s: just inside the limit: %v", tt.name, err)
		}
		_, err := Parse(tt.bad)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
		}
	}
}

func TestUsesCampaigns(t *testing.T) {
	tests := []struct {
		src   string
		lastN int
	}{
		{leafDoc(`{"source":"tracking","field":"sent","op":"contains-any","const_value":"campaigns"}`), 0},
		{leafDoc(`{"source":"tracking","field":"sent","op":"contains-any","const_value":"campaign-ids","param":"a,b"}`), 0},
		{leafDoc(`{"source":"tracking","field":"sent","op":"contains-any","const_value":"last-n-campaigns","param":"3"},` +
			`{"type":"or","group":[{"source":"tracking","field":"opened","op":"contains-none","const_value":"last-n-campaigns","param":"7"}]}`), 7},
	}
	for _, tt := range tests {
		c, err := Parse(tt.src)
		if err != nil {
			t.Fatal(err)
		}
		if c.LastCampaigns() != tt.lastN || c.UsesCampaigns() != (tt.lastN > 0) {
			t.Errorf("%s: LastCampaigns %d UsesCampaigns %v, want %d", tt.src, c.LastCampaigns(), c.UsesCampaigns(), tt.lastN)
		}
	}
}

// TestInvalidUTF8: a byte that is not UTF-8 is refused with its path (the
// golden files hold text only), where encoding/json read it as U+FFFD.
func TestInvalidUTF8(t *testing.T) {
	_, err := Parse("{\"version\":\"1.0.0\",\"criteria\":{\"type\":\"and\",\"group\":[{\"source\":\"contact\",\"field\":\"first_name\",\"op\":\"eq\",\"const_value\":\"Chlo\xe9\"}]}}")
	var ce *Error
	if !errors.As(err, &ce) || ce.Path != "criteria.group[0].const_value" || ce.Msg != "invalid UTF-8 at byte 123" {
		t.Fatalf("error %#v", err)
	}
}
