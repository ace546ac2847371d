package sendgrid

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

var update = flag.Bool("update", false, "rewrite testdata/import/rows.golden")

// importFields are the custom fields the import file tests map.
var importFields = map[string]segmentd.FieldDefinition{
	"n1": {ID: "n1", Name: "score", Type: segmentd.FieldNumber},
	"d2": {ID: "d2", Name: "joined", Type: segmentd.FieldDate},
	"w3": {ID: "w3", Name: "tier", Type: segmentd.FieldText},
}

// recorder is a rowSink that validates each row as the upload does and
// writes what became of it.
type recorder struct {
	mappings []string
	out      strings.Builder
	rows     []int
}

func (r *recorder) Import() segmentd.Import { return segmentd.Import{Mappings: r.mappings} }

func (r *recorder) Fields() map[string]segmentd.FieldDefinition { return importFields }

func (r *recorder) Add(_ context.Context, row int, p *segmentd.ContactPatch) error {
	r.rows = append(r.rows, row)
	if err := segmentd.ValidatePatch(p, "", importFields); err != nil {
		var e *segmentd.Error
		if !errors.As(err, &e) {
			return err
		}
		fmt.Fprintf(&r.out, "row %d: refused %s: %s\n", row, e.Field, e.Message)
		return nil
	}
	fmt.Fprintf(&r.out, "row %d: add %s\n", row, renderPatch(p))
	return nil
}

func (r *recorder) Skip(_ context.Context, row int, field, msg string) error {
	r.rows = append(r.rows, row)
	fmt.Fprintf(&r.out, "row %d: skipped %s: %s\n", row, field, msg)
	return nil
}

// renderPatch writes the fields a patch sets, in a fixed order.
func renderPatch(p *segmentd.ContactPatch) string {
	var parts []string
	names := make([]string, 0, len(contactStringFields))
	for name := range contactStringFields {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if v := *contactStringFields[name](p); v != nil {
			parts = append(parts, fmt.Sprintf("%s=%q", name, *v))
		}
	}
	if p.AlternateEmails != nil {
		parts = append(parts, fmt.Sprintf("alternate_emails=%q", *p.AlternateEmails))
	}
	ids := make([]string, 0, len(p.CustomFields))
	for id := range p.CustomFields {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		v := p.CustomFields[id]
		switch {
		case v == nil:
			parts = append(parts, id+"=<clear>")
		case v.Type == segmentd.FieldNumber:
			parts = append(parts, fmt.Sprintf("%s=%v", id, v.Number))
		case v.Type == segmentd.FieldDate:
			parts = append(parts, fmt.Sprintf("%s=%s", id, v.Time.Format(time.RFC3339)))
		default:
			parts = append(parts, fmt.Sprintf("%s=%q", id, v.Text))
		}
	}
	return strings.Join(parts, " ")
}

// readWith reads file as an upload of mappings would, gzip-compressed
// when gz, under the byte limit max.
func readWith(mappings []string, file []byte, gz bool, max int64) (*recorder, error) {
	rec := &recorder{mappings: mappings}
	err := readFile(context.Background(), rec, &counted{r: bytes.NewReader(file), max: max}, gz)
	return rec, err
}

func outcome(err error) string {
	var fe *fileError
	switch {
	case err == nil:
		return "end: read whole"
	case errors.As(err, &fe):
		return fmt.Sprintf("end: unreadable at row %d: %s", fe.row, fe.msg)
	case segmentd.ErrorKindOf(err) == segmentd.KindTooLarge:
		return "end: too large: " + err.Error()
	}
	return "end: error: " + err.Error()
}

// TestImportFileGolden reads the files of testdata/import as uploads and
// compares what became of each row with rows.golden (-update rewrites it).
func TestImportFileGolden(t *testing.T) {
	basic := []string{"_rf2_T", "", "_rf0_T", "n1", "d2", "_rf3_T", "external_id"}
	two := []string{"_rf2_T", "_rf0_T"}
	cases := []struct {
		file     string
		mappings []string
		gz       bool
	}{
		{"basic.csv", basic, false},
		{"basic.csv", basic, true},
		{"bare_quote.csv", two, false},
		{"open_quote.csv", two, false},
		{"header_mismatch.csv", two, false},
		{"empty.csv", two, false},
		{"empty.csv", two, true},
		{"header_only.csv", two, false},
		{"bom_and_bad_utf8.csv", two, false},
	}
	var out strings.Builder
	for _, tc := range cases {
		file, err := os.ReadFile(filepath.Join("testdata", "import", tc.file))
		if err != nil {
			t.Fatal(err)
		}
		if tc.gz {
			file = gzipOf(file)
		}
		rec, err := readWith(tc.mappings, file, tc.gz, segmentd.MaxImportBytes)
		fmt.Fprintf(&out, "== %s (gzip %v) mapped %q\n%s%s\n\n", tc.file, tc.gz, tc.mappings, rec.out.String(), outcome(err))
	}
	golden := filepath.Join("testdata", "import", "rows.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./sendgrid -run TestImportFileGolden -update writes it)", err)
	}
	if out.String() != string(want) {
		t.Errorf("the rows read differ from %s (-update rewrites it):\n%s", golden, out.String())
	}
}

func gzipOf(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// TestImportFileLimits: the byte limit holds for the file as sent and as
// unpacked (a gzip bomb stops there), and a file of exactly the limit
// passes.
func TestImportFileLimits(t *testing.T) {
	two := []string{"_rf2_T", "_rf0_T"}
	file := []byte("email,first_name\na@example.com,A\n")
	if _, err := readWith(two, file, false, int64(len(file))); err != nil {
		t.Fatalf("a file of exactly the limit: %v", err)
	}
	if _, err := readWith(two, file, false, int64(len(file)-1)); !errors.Is(err, errUploadTooLarge) {
		t.Fatalf("a file one byte over the limit: %v", err)
	}
	bomb := gzipOf(append([]byte("email,first_name\n"), bytes.Repeat([]byte("a@example.com,A\n"), 1<<16)...))
	if _, err := readWith(two, bomb, true, int64(len(bomb))*4); !errors.Is(err, errUploadTooLarge) {
		t.Fatalf("a file that unpacks past the limit: %v", err)
	}
	if !strings.Contains(errUploadTooLarge.Error(), "5 GB (5368709120 bytes)") {
		t.Fatalf("the limit's message: %v", errUploadTooLarge)
	}
}

// FuzzImportFile: any file, plain or gzip, is read without a panic; its
// rows come in increasing order, after the header; reading ends read
// whole, unreadable (with a message), or past a limit; and every patch
// that reaches the sink sets only fields the mapping names.
func FuzzImportFile(f *testing.F) {
	entries, err := os.ReadDir(filepath.Join("testdata", "import"))
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".csv") {
			b, err := os.ReadFile(filepath.Join("testdata", "import", e.Name()))
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b, false)
			f.Add(gzipOf(b), true)
		}
	}
	mappings := []string{"_rf2_T", "", "_rf0_T", "n1", "d2", "_rf3_T", "external_id"}
	f.Fuzz(func(t *testing.T, file []byte, gz bool) {
		rec, err := readWith(mappings, file, gz, 1<<20)
		var fe *fileError
		if err != nil && !errors.As(err, &fe) && segmentd.ErrorKindOf(err) != segmentd.KindTooLarge {
			t.Fatalf("reading ended with %v", err)
		}
		if fe != nil && (fe.msg == "" || fe.row < 1) {
			t.Fatalf("an unreadable file without a message or row: %+v", fe)
		}
		for i, row := range rec.rows {
			if row < 2 || i > 0 && row <= rec.rows[i-1] {
				t.Fatalf("rows out of order: %v", rec.rows)
			}
		}
		if strings.Contains(rec.out.String(), "last_name=") || strings.Contains(rec.out.String(), " w3=") {
			t.Fatalf("a field no column maps was set:\n%s", rec.out.String())
		}
	})
}
