package jsoncheck

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite testdata/cases.golden")

// readCases reads testdata/cases.txt: one Go string literal per line.
func readCases(t testing.TB) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "cases.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		doc, err := strconv.Unquote(line)
		if err != nil {
			t.Fatalf("cases.txt: %s: %v", line, err)
		}
		out = append(out, doc)
	}
	return out
}

func describe(doc string) string {
	k, err := Check([]byte(doc))
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return fmt.Sprintf("error of type %T", err)
		}
		return fmt.Sprintf("path %q offset %d: %s", e.Path, e.Offset, e.Msg)
	}
	return "ok: " + k.String()
}

// TestGolden compares what Check reports for each case with cases.golden.
func TestGolden(t *testing.T) {
	var b strings.Builder
	for _, doc := range readCases(t) {
		fmt.Fprintf(&b, "%s\n=> %s\n\n", strconv.Quote(doc), describe(doc))
	}
	path := filepath.Join("testdata", "cases.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("Check's reports differ from %s (go test -update rewrites it):\n%s", path, got)
	}
}

// TestErrorText: the message starts with the path.
func TestErrorText(t *testing.T) {
	_, err := Check([]byte(`{"contacts":[{"email":"a","email":"b"}]}`))
	if got, want := fmt.Sprint(err), "contacts[0].email: repeated key"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
	_, err = Check([]byte(`nope`))
	if got, want := fmt.Sprint(err), "invalid JSON at byte 1: expected 'null', found 'o'"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

// TestDepth: MaxDepth levels are accepted, one more is refused with the
// path of the value that opens it.
func TestDepth(t *testing.T) {
	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	if _, err := Check([]byte(ok)); err != nil {
		t.Fatalf("%d levels: %v", MaxDepth, err)
	}
	_, err := Check([]byte(strings.Repeat("[", MaxDepth+1)))
	var e *Error
	if !errors.As(err, &e) || !strings.HasPrefix(e.Msg, "nested deeper than 1000 levels") || e.Offset != MaxDepth {
		t.Fatalf("%d levels: %v", MaxDepth+1, err)
	}
	if e.Path != strings.Repeat("[0]", MaxDepth) {
		t.Fatalf("path %.40q…", e.Path)
	}
}

// TestLongKey: a path quotes at most maxPathKey bytes of a key.
func TestLongKey(t *testing.T) {
	key := strings.Repeat("k", 1<<20)
	_, err := Check([]byte(`{"` + key + `":{"a":1,"a":2}}`))
	if err == nil || len(err.Error()) > 100 {
		t.Fatalf("error of %d bytes: %.200v", len(fmt.Sprint(err)), err)
	}
}

// oracle checks doc with encoding/json alone, where it can: ok reports
// that json.Valid accepts doc, that every key is unique in its object (as
// json.Decoder's tokens read them; with fold, unique ignoring case as
// strings.EqualFold compares), and that doc is valid UTF-8. known is
// false when doc holds something the oracle cannot judge: a \u escape of
// a surrogate (encoding/json replaces a lone one without a word).
func oracle(doc []byte, fold bool) (ok, known bool) {
	if bytes.Contains(bytes.ToLower(doc), []byte(`\ud`)) {
		return false, false
	}
	if !json.Valid(doc) || !utf8.Valid(doc) {
		return false, true
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber() // numbers out of float64's range are valid JSON
	var walk func() bool
	walk = func() bool {
		t, err := dec.Token()
		if err != nil {
			return false
		}
		switch t {
		case json.Delim('{'):
			var seen []string
			for dec.More() {
				k, _ := dec.Token()
				for _, o := range seen {
					if o == k.(string) || fold && strings.EqualFold(o, k.(string)) {
						return false
					}
				}
				seen = append(seen, k.(string))
				if !walk() {
					return false
				}
			}
			_, err = dec.Token()
		case json.Delim('['):
			for dec.More() {
				if !walk() {
					return false
				}
			}
			_, err = dec.Token()
		}
		return err == nil
	}
	ok = walk()
	if _, err := dec.Token(); err != io.EOF {
		ok = false
	}
	return ok, true
}

func nesting(doc []byte) int {
	depth, deepest := 0, 0
	for _, c := range doc {
		switch c {
		case '{', '[':
			depth++
			deepest = max(deepest, depth)
		case '}', ']':
			depth--
		}
	}
	return deepest
}

// FuzzCheck: Check never panics, agrees with encoding/json wherever the
// oracle can judge, reports an offset inside the document, and never lets
// through a string that encoding/json would decode with U+FFFD in place of
// what was sent.
func FuzzCheck(f *testing.F) {
	for _, doc := range readCases(f) {
		f.Add([]byte(doc))
	}
	f.Fuzz(func(t *testing.T, doc []byte) {
		k, err := Check(doc)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error of type %T", err)
			}
			if e.Offset < 0 || e.Offset > len(doc) || e.Msg == "" {
				t.Fatalf("%q: offset %d of %d, message %q", doc, e.Offset, len(doc), e.Msg)
			}
		}
		if want, known := oracle(doc, false); known && nesting(doc) <= MaxDepth && (err == nil) != want {
			t.Fatalf("%q: Check says %v, encoding/json says ok=%v", doc, err, want)
		}
		_, ferr := CheckFolded(doc)
		if want, known := oracle(doc, true); known && nesting(doc) <= MaxDepth && (ferr == nil) != want {
			t.Fatalf("%q: CheckFolded says %v, encoding/json and EqualFold say ok=%v", doc, ferr, want)
		}
		if ferr == nil && err != nil {
			t.Fatalf("%q: CheckFolded accepts what Check refuses: %v", doc, err)
		}
		if err != nil {
			return
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(doc))
		dec.UseNumber()
		if dec.Decode(&v) != nil {
			t.Fatalf("%q: accepted, but encoding/json cannot decode it", doc)
		}
		if strings.Contains(fmt.Sprint(v), "\uFFFD") && !bytes.Contains(doc, []byte("\uFFFD")) && !bytes.Contains(bytes.ToLower(doc), []byte(`\ufffd`)) {
			t.Fatalf("%q: accepted, and decodes with U+FFFD", doc)
		}
		if first := bytes.TrimLeft(doc, " \t\r\n"); k == Object && first[0] != '{' || k == Array && first[0] != '[' {
			t.Fatalf("%q: kind %v", doc, k)
		}
	})
}

// BenchmarkCheck checks a 30,000-contact upsert body of about 6 MB, the
// largest body segmentd takes from SendGrid clients, and reports MB/s.
func BenchmarkCheck(b *testing.B) {
	var doc bytes.Buffer
	doc.WriteString(`{"list_ids":["0a1b2c3d-0000-4000-8000-000000000001"],"contacts":[`)
	for i := range 30_000 {
		if i > 0 {
			doc.WriteByte(',')
		}
		fmt.Fprintf(&doc, `{"email":"user%d@example.com","first_name":"Chloé","last_name":"Müller","city":"Kraków","country":"PL","postal_code":"%05d","custom_fields":{"w1":"teal","n2":%d,"d3":"2024-05-%02d"}}`,
			i, i%100000, i%500, 1+i%28)
	}
	doc.WriteString(`]}`)
	b.SetBytes(int64(doc.Len()))
	b.Logf("document: %d bytes", doc.Len())
	for b.Loop() {
		if _, err := Check(doc.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}

// TestSpecial: the eight-byte test agrees with the byte table, for every
// byte value in every position of words otherwise plain or not.
func TestSpecial(t *testing.T) {
	for _, fill := range []byte{'a', ' ', '~', '!'} {
		for pos := range 8 {
			for b := range 256 {
				var w [8]byte
				for i := range w {
					w[i] = fill
				}
				w[pos] = byte(b)
				got := special(uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
					uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56)
				if want := !plain[b]; got != want {
					t.Fatalf("byte %#x at %d among %q: special = %v, want %v", b, pos, fill, got, want)
				}
			}
		}
	}
}

// TestCheckFolded: keys encoding/json would match to one struct field are
// repeated keys; with names, only keys folding to one of them.
func TestCheckFolded(t *testing.T) {
	for _, tt := range []struct {
		doc   string
		names []string
		want  string // "" when accepted
	}{
		{`{"name":"a","Name":"b"}`, nil, "Name: repeated key (it differs from an earlier key only in case)"},
		{`{"name":"a","name":"b"}`, nil, "name: repeated key"},
		{`{"list":{"NAME":"a","nAmE":"b"}}`, nil, "list.nAmE: repeated key (it differs from an earlier key only in case)"},
		{`{"sg_event_id":"a","\u017fg_event_id":"b"}`, nil, `["ſg_event_id"]: repeated key (it differs from an earlier key only in case)`},
		{`{"kind":"a","\u212aind":"b"}`, nil, `["Kind"]: repeated key (it differs from an earlier key only in case)`},
		{`{"name":"a","names":"b"}`, nil, ""},
		{`[{"email":"a","Email":"b"}]`, []string{"email", "event"}, "[0].Email: repeated key (it differs from an earlier key only in case)"},
		{`[{"email":"a","Plan":"b","plan":"c"}]`, []string{"email", "event"}, ""},
		{`[{"Plan":"b","plan":"c","Plan":"d"}]`, []string{"email"}, "[0].Plan: repeated key"},
	} {
		_, err := CheckFolded([]byte(tt.doc), tt.names...)
		if got := fmt.Sprint(err); tt.want == "" && err != nil || tt.want != "" && got != tt.want {
			t.Errorf("CheckFolded(%s, %q) = %v, want %q", tt.doc, tt.names, err, tt.want)
		}
	}
}
