package sendgrid_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sendgrid/rest"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/facetest"
	sg "github.com/segmentd/segmentd/sendgrid"
)

const importsPath = "/v3/marketing/contacts/imports"

// newImportEnv starts the face with the import and export files' handlers
// beside it, as cmd/segmentd mounts them, on a clock stopped at t0.
func newImportEnv(t *testing.T, t0 time.Time) *env {
	t.Helper()
	return &env{facetest.Start(t, importMux, facetest.Config{Now: t0})}
}

func importMux(e *facetest.Env) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(sg.ImportFilesPrefix, sg.NewImportFiles(e.Svc, e.Log))
	mux.Handle(sg.ExportFilesPrefix, sg.NewExportFiles(e.Svc, e.Log))
	mux.Handle("/", sg.NewHandler(e.Svc, e.Log))
	return mux
}

// uploadHeaders are the headers SendGrid's upload_headers name, which
// every upload must send.
var uploadHeaders = map[string]string{"x-amz-server-side-encryption": "aws:kms"}

// startImport asks for an import and checks the 200: a job id, an upload
// URI on this server, and SendGrid's upload header.
func (e *env) startImport(t *testing.T, body any) (jobID, uploadURI string) {
	t.Helper()
	r := e.do(t, call{method: "PUT", path: importsPath, body: body})
	var resp struct {
		JobID         string `json:"job_id"`
		UploadURI     string `json:"upload_uri"`
		UploadHeaders []struct {
			Header string `json:"header"`
			Value  string `json:"value"`
		} `json:"upload_headers"`
	}
	facetest.WantStatus(t, r, http.StatusOK)
	r.Decode(t, &resp)
	if !segmentd.IsUUID(resp.JobID) || !strings.HasPrefix(resp.UploadURI, e.URL+sg.ImportFilesPrefix) ||
		len(resp.UploadHeaders) != 1 || resp.UploadHeaders[0].Header != "x-amz-server-side-encryption" || resp.UploadHeaders[0].Value != "aws:kms" {
		t.Fatalf("import: %s", r.Body)
	}
	return resp.JobID, resp.UploadURI
}

// upload PUTs a file to an upload URI through sendgrid-go's rest client,
// with headers, and returns the status and body.
func upload(t *testing.T, uri string, headers map[string]string, file []byte) (int, string) {
	t.Helper()
	resp, err := rest.Send(rest.Request{Method: rest.Put, BaseURL: uri, Headers: headers, Body: file})
	if err != nil {
		t.Fatalf("PUT %s: %v", uri, err)
	}
	return resp.StatusCode, resp.Body
}

// importFile runs an import of file with the mappings and lists of body,
// uploading it with headers (uploadHeaders when nil), and returns its job
// once it has left pending.
func (e *env) importFile(t *testing.T, body any, file []byte, headers map[string]string) map[string]any {
	t.Helper()
	id, uri := e.startImport(t, body)
	if headers == nil {
		headers = uploadHeaders
	}
	if code, out := upload(t, uri, headers, file); code != http.StatusOK || out != "" {
		t.Fatalf("upload: %d %q", code, out)
	}
	return e.waitJob(t, id)
}

func gzipped(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// results reads a job's results as numbers, and its errors_url.
func results(job map[string]any) (counts map[string]int, errorsURL string) {
	res, _ := job["results"].(map[string]any)
	counts = map[string]int{}
	for _, k := range []string{"requested_count", "created_count", "updated_count", "errored_count", "deleted_count"} {
		if v, ok := res[k].(float64); ok {
			counts[k] = int(v)
		}
	}
	u, _ := res["errors_url"].(string)
	return counts, u
}

// errorRows downloads an errors file (no API key) and returns its rows
// after the header.
func errorRows(t *testing.T, u string) [][]string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("GET %s: %d %v %s", u, resp.StatusCode, resp.Header, body)
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(recs) == 0 || !slices.Equal(recs[0], []string{"row", "field", "message"}) {
		t.Fatalf("errors file: %v %q", err, body)
	}
	return recs[1:]
}

func (e *env) createField(t *testing.T, name, typ string) string {
	t.Helper()
	r := e.do(t, call{method: "POST", path: "/v3/marketing/field_definitions", body: map[string]any{"name": name, "field_type": typ}})
	return facetest.WantStatus(t, r, http.StatusOK)["id"].(string)
}

func (e *env) contactCount(t *testing.T) int {
	t.Helper()
	r := e.do(t, call{method: "GET", path: "/v3/marketing/contacts/count"})
	return int(facetest.WantStatus(t, r, http.StatusOK)["contact_count"].(float64))
}

// stored reads a contact from the store by email (nil when there is none).
func (e *env) stored(t *testing.T, email string) *segmentd.Contact {
	t.Helper()
	_, found, err := e.Svc.ContactsByEmails(context.Background(), e.DefaultAccount(), []string{email})
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := found[email]; ok {
		return &c
	}
	return nil
}

// TestImportCSV: a CSV with a skipped column, reserved fields, an
// identifier, custom fields of each type and alternate emails imports
// into a list by the upsert's rules: new contacts are created, existing
// ones matched by their identifiers and updated (a blank cell leaves a
// field as it is), and every row that fails (validation at the upload,
// identifier matching at the store, a row of the wrong width) is skipped
// and listed, by row number, in the file errors_url serves.
func TestImportCSV(t *testing.T) {
	e := newImportEnv(t, time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC))
	tier, score, joined := e.createField(t, "tier", "Text"), e.createField(t, "score", "Number"), e.createField(t, "joined", "Date")
	list := e.createList(t, "imported")
	e.upsert(t, map[string]any{"contacts": []any{
		map[string]any{"email": "old@example.com", "external_id": "ext-old", "first_name": "Old"},
		map[string]any{"email": "keep@example.com", "first_name": "Keep", "city": "Lisbon"},
	}})

	mappings := []any{"_rf2_T", nil, "_rf0_T", tier, score, joined, "_rf3_T", "external_id", "_rf6_T"}
	file := "email,ignored,first_name,tier,score,joined,alternates,external_id,city\n" +
		"new1@example.com,whatever,Ann,gold,42,2024-05-01,\"a1@example.com, a2@example.com\",,Porto\n" + // 2: created
		"NEW2@Example.com,x,\"Smith, Bob\",silver, 3.5 ,05/06/2024,,ext-2,\n" + // 3: created
		"keep@example.com,,,,,,,,\n" + // 4: updated, its fields kept
		"old@example.com,,Olga,,,,,ext-old,\n" + // 5: updated
		"old@example.com,,Wrong,,,,,,\n" + // 6: its external_id is left out
		"not-an-email,,X,,,,,,\n" + // 7
		"bad@example.com,,X,,abc,,,,\n" + // 8
		"short,row\n" + // 9
		",,,,,,,,\n" + // 10: blank, skipped
		"long@example.com,," + strings.Repeat("n", 51) + ",,,,,,\n" + // 11
		",,NoID,,,,,,\n" + // 12
		"multi@example.com,,\"Line1\nLine2\",,,,,,\n" + // 13: created, over two lines
		"date@example.com,,,,,not-a-date,,,\n" // 14
	job := e.importFile(t, map[string]any{"file_type": "csv", "field_mappings": mappings, "list_ids": []string{strings.ToUpper(list)}}, []byte(file), nil)
	counts, errorsURL := results(job)
	if job["status"] != "errored" || job["job_type"] != "upsert" || job["finished_at"] == nil ||
		counts["requested_count"] != 12 || counts["created_count"] != 3 || counts["updated_count"] != 2 || counts["errored_count"] != 7 {
		t.Fatalf("job: %v", job)
	}
	if _, ok := job["results"].(map[string]any)["errors"]; ok {
		t.Errorf("rows' errors are listed inline: %v", job)
	}
	want := [][]string{
		{"6", "external_id", "every existing identifier must be given to update a contact"},
		{"7", "email", `email "not-an-email" is not a valid email address`},
		{"8", "custom_fields." + score, fmt.Sprintf(`custom field %q (score) must be a number, got "abc"`, score)},
		{"9", "", "the row has 2 columns; the header row has 9"},
		{"11", "first_name", "first_name must be at most 50 characters"},
		{"12", "", "contact must have at least one identifier: email, phone_number_id, external_id or anonymous_id"},
		{"14", "custom_fields." + joined, fmt.Sprintf(`custom field %q (joined) must be a date (RFC 3339, YYYY-MM-DD or MM/DD/YYYY), got "not-a-date"`, joined)},
	}
	got := errorRows(t, errorsURL)
	if len(got) != len(want) {
		t.Fatalf("errors file: %q", got)
	}
	for i := range want {
		if got[i][0] != want[i][0] || got[i][1] != want[i][1] || !strings.Contains(got[i][2], want[i][2]) {
			t.Errorf("errors file row %d: %q, want %q", i, got[i], want[i])
		}
	}

	if n := e.contactCount(t); n != 5 {
		t.Fatalf("contact count %d, want 5", n)
	}
	c := e.stored(t, "new1@example.com")
	if c == nil || c.FirstName != "Ann" || c.City != "Porto" || !slices.Equal(c.AlternateEmails, []string{"a1@example.com", "a2@example.com"}) ||
		c.CustomFields[tier].Text != "gold" || c.CustomFields[score].Number != 42 ||
		!c.CustomFields[joined].Time.Equal(time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)) || !slices.Equal(c.ListIDs, []string{list}) {
		t.Errorf("new1: %+v", c)
	}
	c = e.stored(t, "new2@example.com")
	if c == nil || c.FirstName != "Smith, Bob" || c.ExternalID != "ext-2" || c.City != "" || c.CustomFields[score].Number != 3.5 ||
		!c.CustomFields[joined].Time.Equal(time.Date(2024, 5, 6, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("new2: %+v", c)
	}
	if c = e.stored(t, "keep@example.com"); c == nil || c.FirstName != "Keep" || c.City != "Lisbon" || !slices.Equal(c.ListIDs, []string{list}) {
		t.Errorf("keep: %+v", c)
	}
	if c = e.stored(t, "old@example.com"); c == nil || c.FirstName != "Olga" || c.ExternalID != "ext-old" {
		t.Errorf("old: %+v", c)
	}
	if c = e.stored(t, "multi@example.com"); c == nil || c.FirstName != "Line1\nLine2" {
		t.Errorf("multi: %+v", c)
	}
	for _, email := range []string{"bad@example.com", "long@example.com", "date@example.com"} {
		if c := e.stored(t, email); c != nil {
			t.Errorf("%s was imported: %+v", email, c)
		}
	}
	// The list's count and a search say the same.
	r := e.do(t, call{method: "GET", path: "/v3/marketing/lists/" + list + "/contacts/count"})
	if n := facetest.WantStatus(t, r, http.StatusOK)["contact_count"]; n != float64(5) {
		t.Errorf("list count %v, want 5", n)
	}
}

// bulkFile is a CSV of n contacts (email, first name, tier), from start.
func bulkFile(start, n int, tier string) []byte {
	var b bytes.Buffer
	b.WriteString("email,first_name,tier\n")
	for i := start; i < start+n; i++ {
		fmt.Fprintf(&b, "bulk%06d@example.com,P%d,%s\n", i, i, tier)
	}
	return b.Bytes()
}

// TestImportGzip: a gzip-compressed file is unpacked, whether the upload
// says so (Content-Encoding: gzip) or not (its magic number tells); a
// file of several batches imports whole, into lists; re-importing it
// updates every contact; and an upsert accepted after the upload applies
// after the import.
func TestImportGzip(t *testing.T) {
	e := newImportEnv(t, time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC))
	tier := e.createField(t, "tier", "Text")
	a, b := e.createList(t, "a"), e.createList(t, "b")
	const n = 12_000 // three batches
	body := map[string]any{"file_type": "csv", "field_mappings": []any{"_rf2_T", "_rf0_T", tier}, "list_ids": []string{a, b}}
	job := e.importFile(t, body, gzipped(bulkFile(0, n, "first")), map[string]string{"x-amz-server-side-encryption": "aws:kms", "Content-Encoding": "gzip"})
	counts, errorsURL := results(job)
	if job["status"] != "completed" || counts["requested_count"] != n || counts["created_count"] != n || counts["errored_count"] != 0 || errorsURL != "" {
		t.Fatalf("job: %v", job)
	}
	if got := e.contactCount(t); got != n {
		t.Fatalf("contact count %d, want %d", got, n)
	}

	// Again, gzip without Content-Encoding, and an upsert of one of its
	// contacts accepted right after the upload.
	id, uri := e.startImport(t, body)
	if code, out := upload(t, uri, uploadHeaders, gzipped(bulkFile(0, n, "second"))); code != http.StatusOK {
		t.Fatalf("upload: %d %s", code, out)
	}
	last := fmt.Sprintf("bulk%06d@example.com", n-1)
	e.upsert(t, map[string]any{"contacts": []any{map[string]any{"email": last, "custom_fields": map[string]any{tier: "after"}}}})
	job = e.waitJob(t, id)
	if counts, _ := results(job); job["status"] != "completed" || counts["updated_count"] != n || counts["created_count"] != 0 {
		t.Fatalf("second job: %v", job)
	}
	c := e.stored(t, last)
	if c == nil || c.CustomFields[tier].Text != "after" || !slices.Equal(c.ListIDs, sortedIDs([]string{a, b})) {
		t.Fatalf("%s: %+v", last, c)
	}
	if c := e.stored(t, "bulk000000@example.com"); c == nil || c.CustomFields[tier].Text != "second" || c.FirstName != "P0" {
		t.Fatalf("first contact: %+v", c)
	}
}

// TestImportUnreadable: a file that cannot be read is taken (200, as
// SendGrid's S3 takes any bytes) and fails its job, with nothing of it
// applied, not even the rows read before the problem; the reason is in
// the job's errors and, once rows were read, in its errors file.
func TestImportUnreadable(t *testing.T) {
	e := newImportEnv(t, time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC))
	body := map[string]any{"file_type": "csv", "field_mappings": []any{"_rf2_T", "_rf0_T"}}
	good := bulkFile(0, 3000, "")
	good = bytes.ReplaceAll(good, []byte(",\n"), []byte("\n"))
	good = bytes.Replace(good, []byte("email,first_name,tier"), []byte("email,first_name"), 1)
	cut := gzipped(good)
	cut = cut[:len(cut)/2]
	gzipHeader := map[string]string{"x-amz-server-side-encryption": "aws:kms", "Content-Encoding": "gzip"}
	for _, tc := range []struct {
		name    string
		file    []byte
		headers map[string]string
		rows    bool // rows were read before the problem
		msg     string
	}{
		{"not gzip", []byte("email,first_name\na@example.com,A\n"), gzipHeader, false, "the file could not be decompressed: it is not gzip data"},
		{"gzip cut short", cut, nil, true, "the file could not be decompressed: its gzip data is damaged or cut short"},
		{"bare quote", []byte("email,first_name\na@example.com,A\nb@example.com,B\"ad\n"), nil, true, "the file is not valid CSV: line 3, column 16: a quote in a field that is not quoted"},
		{"open quote", []byte("email,first_name\na@example.com,\"A\n"), nil, false, "the file is not valid CSV: line 2, column 18: a quoted field that does not end where it should"},
		{"header mismatch", []byte("email,first_name,city\na@example.com,A,Porto\n"), nil, false,
			"we were unable to upload your contacts because the field mapping doesn't match the CSV: the header row has 3 columns, field_mappings 2"},
		{"empty", nil, nil, false, "the file is empty: it must start with a header row"},
		{"row too long", []byte("email,first_name\na@example.com," + strings.Repeat("x", segmentd.MaxImportRowBytes+8192) + "\n"), nil, false,
			fmt.Sprintf("row 2 is longer than %d bytes, the most segmentd reads in one row", segmentd.MaxImportRowBytes)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			job := e.importFile(t, body, tc.file, tc.headers)
			counts, errorsURL := results(job)
			errs, _ := job["results"].(map[string]any)["errors"].([]any)
			if job["status"] != "failed" || len(errs) != 1 || errs[0].(map[string]any)["message"] != tc.msg ||
				counts["errored_count"] != counts["requested_count"] || (counts["requested_count"] > 0) != tc.rows {
				t.Fatalf("job: %v", job)
			}
			if tc.rows {
				got := errorRows(t, errorsURL)
				if len(got) != 1 || got[0][2] != tc.msg {
					t.Fatalf("errors file: %q", got)
				}
			} else if errorsURL != "" {
				t.Fatalf("errors_url without errored rows: %v", job)
			}
			if n := e.contactCount(t); n != 0 {
				t.Fatalf("%d contacts imported from a file that failed", n)
			}
		})
	}

	// A custom field deleted between the import's request and its upload.
	tier := e.createField(t, "tier", "Text")
	id, uri := e.startImport(t, map[string]any{"file_type": "csv", "field_mappings": []any{"_rf2_T", tier}})
	facetest.WantStatus(t, e.do(t, call{method: "DELETE", path: "/v3/marketing/field_definitions/" + tier}), http.StatusNoContent)
	if code, _ := upload(t, uri, uploadHeaders, []byte("email,tier\na@example.com,gold\n")); code != http.StatusOK {
		t.Fatalf("upload: %d", code)
	}
	job := e.waitJob(t, id)
	errs, _ := job["results"].(map[string]any)["errors"].([]any)
	if job["status"] != "failed" || len(errs) != 1 || !strings.Contains(errs[0].(map[string]any)["message"].(string), "field_mappings no longer match") {
		t.Fatalf("job: %v", job)
	}
}

// TestImportRequestErrors: PUT /contacts/imports refuses a request it
// cannot take with 400 (404 for an unknown list), naming the field, and
// stores nothing.
func TestImportRequestErrors(t *testing.T) {
	e := newImportEnv(t, time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC))
	tier := e.createField(t, "tier", "Text")
	list := e.createList(t, "l")
	missing := segmentd.NewID()
	many := make([]string, segmentd.MaxImportListIDs+1)
	for i := range many {
		many[i] = segmentd.NewID()
	}
	wide := make([]any, segmentd.MaxImportColumns+1)
	wide[0] = "_rf2_T"
	ok := []any{"_rf2_T"}
	put := func(body any) call { return call{method: "PUT", path: importsPath, body: body} }
	e.wantErrors(t, []errCase{
		{"no file type", put(map[string]any{"field_mappings": ok}), 400, errBody("file_type", "file_type is required")},
		{"file type", put(map[string]any{"file_type": "json", "field_mappings": ok}), 400, errBody("file_type", `file_type must be "csv"; got "json"`)},
		{"no mappings", put(map[string]any{"file_type": "csv"}), 400, errBody("field_mappings", "field_mappings is required: one field id (or null, to skip the column) per column of the file")},
		{"empty mappings", put(map[string]any{"file_type": "csv", "field_mappings": []any{}}), 400, errBody("field_mappings", "field_mappings must name at least one column")},
		{"too many columns", put(map[string]any{"file_type": "csv", "field_mappings": wide}), 400, errBody("field_mappings", "field_mappings may hold at most 1000 columns, got 1001")},
		{"mapping not a string", put(`{"file_type":"csv","field_mappings":[1]}`), 400, errBody("field_mappings", "field_mappings has a number where a string is expected")},
		{"empty mapping", put(map[string]any{"file_type": "csv", "field_mappings": []any{"_rf2_T", ""}}), 400, errBody("field_mappings[1]", "field_mappings[1] must be a field id, or null to skip the column")},
		{"unknown field", put(map[string]any{"file_type": "csv", "field_mappings": []any{"_rf2_T", "w99"}}), 400, errBody("field_mappings[1]", `field_mappings[1]: no reserved or custom field has the id "w99"`)},
		{"read-only field", put(map[string]any{"file_type": "csv", "field_mappings": []any{"_rf2_T", "_rf21_D"}}), 400, errBody("field_mappings[1]", `field_mappings[1]: the reserved field "_rf21_D" (created_at) is read-only`)},
		{"mapped twice", put(map[string]any{"file_type": "csv", "field_mappings": []any{"_rf2_T", nil, "_rf2_T"}}), 400, errBody("field_mappings[2]", `field_mappings[2]: field "_rf2_T" is mapped twice, to columns 1 and 3`)},
		{"no identifier", put(map[string]any{"file_type": "csv", "field_mappings": []any{"_rf0_T", tier, nil}}), 400, errBody("field_mappings", "field_mappings must map a column to an identifier: email (_rf2_T), phone_number_id, external_id or anonymous_id")},
		{"list id malformed", put(map[string]any{"file_type": "csv", "field_mappings": ok, "list_ids": []string{"nope"}}), 400, errBody("list_ids", `list id "nope" is not a valid UUID`)},
		{"too many lists", put(map[string]any{"file_type": "csv", "field_mappings": ok, "list_ids": many}), 400, errBody("list_ids", "list_ids may hold at most 100 ids")},
		{"not json", put(`{"file_type":`), 400, errBody("file_type", "file_type: invalid JSON at byte 13: expected a value, found the end of the document")},
		{"unknown list", put(map[string]any{"file_type": "csv", "field_mappings": ok, "list_ids": []string{list, missing}}), 404, errBody("list_ids", `list "`+missing+`" does not exist`)},
		{"unknown job", call{method: "GET", path: importsPath + "/" + missing}, 404, errBody("id", `job "`+missing+`" does not exist`)},
	})
	readOnly := e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeSendGridRead)
	writeOnly := e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeSendGridWrite)
	e.wantRefusals(t, put(map[string]any{"file_type": "csv", "field_mappings": ok}), readOnly, writeOnly)
	if imps, err := e.Store.UnfinishedImports(context.Background()); err != nil || len(imps) != 0 {
		t.Fatalf("refused requests stored imports: %v %v", imps, err)
	}

	// Each identifier column does, and a skipped column needs none.
	for _, id := range []string{"phone_number_id", "external_id", "anonymous_id"} {
		e.startImport(t, map[string]any{"file_type": "csv", "field_mappings": []any{nil, id}})
	}
}

// TestImportUploadURI: the upload URI takes one file, before it expires,
// with the header upload_headers named; a refusal of the request's
// headers leaves it usable; every other URL under the prefix is 404, and
// a method it does not serve 405. The job reads pending until the file
// is in, and failed once the URI expired unused.
func TestImportUploadURI(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	e := newImportEnv(t, t0)
	body := map[string]any{"file_type": "csv", "field_mappings": []any{"_rf2_T"}}
	file := []byte("email\na@example.com\n")
	id, uri := e.startImport(t, body)

	job := facetest.WantStatus(t, e.do(t, call{method: "GET", path: importsPath + "/" + id}), http.StatusOK)
	if counts, _ := results(job); job["status"] != "pending" || job["job_type"] != "upsert" || counts["requested_count"] != 0 ||
		job["started_at"] != "2026-04-01T10:00:00.000Z" || job["finished_at"] != nil {
		t.Fatalf("job before the upload: %v", job)
	}

	wantFileError := func(code int, out string, status int, msg string) {
		t.Helper()
		if code != status || !facetest.JSONEqual([]byte(out), []byte(errBodyNull("", msg))) {
			t.Errorf("got %d %s, want %d %q", code, out, status, msg)
		}
	}
	code, out := upload(t, uri, nil, file)
	wantFileError(code, out, http.StatusForbidden, "the upload must send the header x-amz-server-side-encryption: aws:kms, as upload_headers said")
	code, out = upload(t, uri, map[string]string{"x-amz-server-side-encryption": "aws:kms", "Content-Encoding": "br"}, file)
	wantFileError(code, out, http.StatusUnsupportedMediaType, `Content-Encoding "br" is not supported: send the CSV file plain or gzip-compressed`)
	code, out = upload(t, uri, uploadHeaders, file)
	if code != http.StatusOK {
		t.Fatalf("upload after refusals: %d %s", code, out)
	}
	if job := e.waitJob(t, id); job["status"] != "completed" {
		t.Fatalf("job: %v", job)
	}
	code, out = upload(t, uri, uploadHeaders, file)
	wantFileError(code, out, http.StatusConflict, "this upload URI was used already; an import takes one upload, so start a new import")

	// Declared larger than an import takes: refused before the URI is spent.
	id2, uri2 := e.startImport(t, body)
	status, resp := rawPut(t, uri2, fmt.Sprintf("Content-Length: %d\r\nx-amz-server-side-encryption: aws:kms\r\n", segmentd.MaxImportBytes+1), "", true)
	if status != http.StatusRequestEntityTooLarge || !strings.Contains(resp, "the file is larger than 5 GB (5368709120 bytes), the most one import takes") {
		t.Fatalf("a 5 GB + 1 upload: %d %s", status, resp)
	}
	if job := facetest.WantStatus(t, e.do(t, call{method: "GET", path: importsPath + "/" + id2}), http.StatusOK); job["status"] != "pending" {
		t.Fatalf("job after a refused upload: %v", job)
	}

	// A URL that names no upload, and methods.
	u, _ := url.Parse(uri)
	token := u.Path[strings.LastIndexByte(u.Path, '/')+1:]
	for _, bad := range []string{
		strings.Replace(uri, token, strings.Repeat("0", 64), 1),
		strings.Replace(uri, sg.ImportFilesPrefix+"1/", sg.ImportFilesPrefix+"2/", 1),
	} {
		code, out = upload(t, bad, uploadHeaders, file)
		wantFileError(code, out, http.StatusNotFound, "upload URI not found")
	}
	for _, bad := range []string{uri + "/x", e.URL + sg.ImportFilesPrefix + "1/abc", uri[:len(uri)-1]} {
		code, out = upload(t, bad, uploadHeaders, file)
		wantFileError(code, out, http.StatusNotFound, "resource not found")
	}
	resp2, err := http.Get(uri2)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != http.StatusMethodNotAllowed || resp2.Header.Get("Allow") != "PUT" {
		t.Errorf("GET an upload URI: %d %v", resp2.StatusCode, resp2.Header)
	}

	// An hour later (the server's clock) the URI has expired, and its job
	// reads failed.
	e.Clock.Set(t0.Add(segmentd.ImportUploadLifetime))
	code, out = upload(t, uri2, uploadHeaders, file)
	wantFileError(code, out, http.StatusGone, "this upload URI has expired; start a new import")
	job = facetest.WantStatus(t, e.do(t, call{method: "GET", path: importsPath + "/" + id2}), http.StatusOK)
	errs, _ := job["results"].(map[string]any)["errors"].([]any)
	if counts, errorsURL := results(job); job["status"] != "failed" || counts["errored_count"] != 0 || errorsURL != "" || len(errs) != 1 ||
		errs[0].(map[string]any)["message"] != audience.MsgImportExpired || job["finished_at"] != "2026-04-01T11:00:00.000Z" {
		t.Fatalf("job of an expired URI: %v", job)
	}
}

// rawPut sends a PUT to u with extra header lines and body, on a
// connection of its own, and returns the status and body of the answer;
// without answer it closes the connection once the body is sent.
func rawPut(t *testing.T, u, headers, body string, answer bool) (int, string) {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", p.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n%s", p.Path, p.Host, headers, body)
	if !answer {
		return 0, ""
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestImportInterrupted: an upload whose connection breaks before the
// whole file arrived fails its job, with nothing applied, and spends its
// URI.
func TestImportInterrupted(t *testing.T) {
	e := newImportEnv(t, time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC))
	id, uri := e.startImport(t, map[string]any{"file_type": "csv", "field_mappings": []any{"_rf2_T"}})
	rawPut(t, uri, "Content-Length: 100000\r\nx-amz-server-side-encryption: aws:kms\r\n", "email\na@example.com\nb@example.com\n", false)
	job := e.waitJob(t, id)
	errs, _ := job["results"].(map[string]any)["errors"].([]any)
	if job["status"] != "failed" || len(errs) != 1 || errs[0].(map[string]any)["message"] != audience.MsgImportInterrupted {
		t.Fatalf("job: %v", job)
	}
	if n := e.contactCount(t); n != 0 {
		t.Fatalf("%d contacts from an interrupted upload", n)
	}
	if code, _ := upload(t, uri, uploadHeaders, []byte("email\na@example.com\n")); code != http.StatusConflict {
		t.Fatalf("the URI after an interrupted upload: %d", code)
	}
}

// TestImportRowLimit: a file of more than a million contacts is refused
// (413) and fails its job, with nothing applied.
func TestImportRowLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("uploads a million rows")
	}
	e := newImportEnv(t, time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC))
	var b bytes.Buffer
	b.WriteString("external_id\n")
	for i := range segmentd.MaxImportContacts + 1 {
		b.WriteString(strconv.Itoa(i))
		b.WriteByte('\n')
	}
	id, uri := e.startImport(t, map[string]any{"file_type": "csv", "field_mappings": []any{"external_id"}})
	code, out := upload(t, uri, uploadHeaders, gzipped(b.Bytes()))
	msg := "the file holds more than 1000000 contacts, the most one import takes"
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(out, msg) {
		t.Fatalf("upload: %d %s", code, out)
	}
	job := e.waitJob(t, id)
	if counts, _ := results(job); job["status"] != "failed" || counts["requested_count"] != segmentd.MaxImportContacts {
		t.Fatalf("job: %v", job)
	}
	if n := e.contactCount(t); n != 0 {
		t.Fatalf("%d contacts imported", n)
	}
}

// TestImportErrorsFile: the errors file is served without a key while its
// import is kept, and then 404, as are a wrong token and a pending
// import's; a method other than GET or HEAD is 405.
func TestImportErrorsFile(t *testing.T) {
	t0 := time.Date(2026, 4, 1, 10, 0, 0, 0, time.UTC)
	e := newImportEnv(t, t0)
	body := map[string]any{"file_type": "csv", "field_mappings": []any{"_rf2_T"}}
	job := e.importFile(t, body, []byte("email\nnope\nok@example.com\n"), nil)
	_, errorsURL := results(job)
	if got := errorRows(t, errorsURL); len(got) != 1 || got[0][0] != "2" {
		t.Fatalf("errors file: %q", got)
	}
	head, err := http.Head(errorsURL)
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	if head.StatusCode != http.StatusOK {
		t.Errorf("HEAD: %d", head.StatusCode)
	}
	if code, _ := upload(t, errorsURL, uploadHeaders, nil); code != http.StatusMethodNotAllowed {
		t.Errorf("PUT an errors file: %d", code)
	}
	_, pendingURI := e.startImport(t, body)
	for _, bad := range []string{pendingURI + "/errors.csv", strings.Replace(errorsURL, "/errors.csv", "/x.csv", 1)} {
		wantErrorsFile404(t, bad)
	}
	e.Clock.Set(t0.Add(segmentd.ImportLifetime + time.Minute))
	wantErrorsFile404(t, errorsURL)
	job = facetest.WantStatus(t, e.do(t, call{method: "GET", path: importsPath + "/" + job["id"].(string)}), http.StatusOK)
	if counts, u := results(job); counts["errored_count"] != 1 || u != "" {
		t.Fatalf("job after its errors file expired: %v", job)
	}
}

func wantErrorsFile404(t *testing.T, u string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || (!bytes.Contains(body, []byte("not found"))) {
		t.Errorf("GET %s: %d %s", u, resp.StatusCode, body)
	}
}
