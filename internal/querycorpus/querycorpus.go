// Package querycorpus reads the query-language corpus, query/testdata/*.txt:
// the queries package query's own tests run through every stage, and that
// the stores' differential tests run as generated SQL. It is imported only
// by tests.
//
// It imports the standard library alone, so that package query's in-package
// tests can import it without a cycle; the caller passes in its own tags for
// the dialects and field types (query.SGQL, query.Text, …).
package querycorpus

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Now is the instant the corpus is evaluated at: its relative dates and
// the generated contacts are placed around it.
var Now = time.Date(2024, 6, 15, 12, 0, 0, 0, time.UTC)

// Catalog returns the account catalogue the corpus is checked against,
// built by newCatalog (query.NewCatalog) from the custom fields the corpus
// names; text, number and date are the caller's field types (query.Text,
// query.Number, query.Date).
func Catalog[C any, F ~struct {
	ID, Name string
	Type     T
}, T any](tb testing.TB, newCatalog func([]F) (C, error), text, number, date T) C {
	tb.Helper()
	cat, err := newCatalog([]F{
		{ID: "w1", Name: "nickname", Type: text},
		{ID: "n2", Name: "age", Type: number},
		{ID: "d3", Name: "birthday", Type: date},
		{ID: "n4", Name: "score", Type: number},
		{ID: "w5", Name: "Plan", Type: text},
		{ID: "w6", Name: "url", Type: text},
	})
	if err != nil {
		tb.Fatalf("corpus catalogue: %v", err)
	}
	return cat
}

// Entry is one query of a corpus file, in dialect L.
type Entry[L any] struct {
	File  string // the file's base name
	Line  int    // where the query starts
	Lang  L
	Valid bool // the file's name says _valid: the query must parse and check
	Src   string
}

// Read reads every dir/*.txt. A file holds one query per line; a line
// ending in " \" continues on the next line (the newline is kept, to test
// positions); blank lines and lines starting with # are skipped. Files
// named sql_* hold Segments 2.0 SQL (tagged sql), the others SGQL (tagged
// sgql). Finding no file fails the test.
func Read[L any](tb testing.TB, dir string, sgql, sql L) []Entry[L] {
	tb.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.txt"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("no corpus files in %s: %v", dir, err)
	}
	var out []Entry[L]
	for _, f := range files {
		base := filepath.Base(f)
		lang := sgql
		if strings.HasPrefix(base, "sql_") {
			lang = sql
		}
		valid := strings.Contains(base, "_valid")
		data, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, 1<<20)
		var cur []string
		n, start := 0, 0
		for sc.Scan() {
			n++
			line := sc.Text()
			if len(cur) == 0 && (strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#")) {
				continue
			}
			if len(cur) == 0 {
				start = n
			}
			if strings.HasSuffix(line, " \\") {
				cur = append(cur, strings.TrimSuffix(line, " \\"))
				continue
			}
			cur = append(cur, line)
			out = append(out, Entry[L]{File: base, Line: start, Lang: lang, Valid: valid, Src: strings.Join(cur, "\n")})
			cur = nil
		}
		if err := sc.Err(); err != nil {
			tb.Fatalf("%s: %v", f, err)
		}
	}
	return out
}
