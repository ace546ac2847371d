package sendgrid_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
	sg "github.com/segmentd/segmentd/sendgrid"
)

const exportsPath = "/v3/marketing/contacts/exports"

// newExportEnv starts the face with the download handler beside it, as
// cmd/segmentd mounts them, on a clock stopped at t0.
func newExportEnv(t *testing.T, t0 time.Time) *env {
	t.Helper()
	return &env{facetest.Start(t, exportMux, facetest.Config{Now: t0})}
}

func exportMux(e *facetest.Env) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(sg.ExportFilesPrefix, sg.NewExportFiles(e.Svc, e.Log))
	mux.Handle("/", sg.NewHandler(e.Svc, e.Log))
	return mux
}

// exportStatus is the parts of an export's status the tests read.
type exportStatus struct {
	ID           string   `json:"id"`
	Status       string   `json:"status"`
	CreatedAt    string   `json:"created_at"`
	UpdatedAt    string   `json:"updated_at"`
	CompletedAt  string   `json:"completed_at"`
	ExpiresAt    string   `json:"expires_at"`
	URLs         []string `json:"urls"`
	Message      string   `json:"message"`
	ContactCount *int     `json:"contact_count"`
	UserID       string   `json:"user_id"`
	ExportType   string   `json:"export_type"`
	Segments     []struct {
		ID   string `json:"ID"`
		Name string `json:"Name"`
	} `json:"segments"`
	Lists []struct {
		ID   string `json:"ID"`
		Name string `json:"Name"`
	} `json:"lists"`
	Metadata struct {
		Self string `json:"self"`
	} `json:"_metadata"`
}

// export starts an export and waits for it to leave pending.
func (e *env) export(t *testing.T, body any) exportStatus {
	t.Helper()
	r := e.do(t, call{method: "POST", path: exportsPath, body: body})
	m := facetest.WantStatus(t, r, http.StatusAccepted)
	id, _ := m["id"].(string)
	if self, _ := m["_metadata"].(map[string]any)["self"].(string); self != e.URL+exportsPath+"/"+id {
		t.Fatalf("202 body %s: _metadata.self is not the export's URL", r.Body)
	}
	var s exportStatus
	facetest.Poll(t, "export "+id, func() bool {
		r := e.do(t, call{method: "GET", path: exportsPath + "/" + id})
		facetest.WantStatus(t, r, http.StatusOK)
		r.Decode(t, &s)
		return s.Status != "pending"
	})
	if s.Status != "ready" {
		t.Fatalf("export %s: %+v", id, s)
	}
	return s
}

// download fetches a file URL as any HTTP client would (no API key) and
// returns it unpacked.
func download(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/gzip" || resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("GET %s: %d %v %s", url, resp.StatusCode, resp.Header, body)
	}
	if resp.ContentLength != int64(len(body)) {
		t.Fatalf("GET %s: Content-Length %d for %d bytes", url, resp.ContentLength, len(body))
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("GET %s: not gzip: %v", url, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return raw
}

// csvRows parses a CSV file into its header and its rows keyed by column.
func csvRows(t *testing.T, raw []byte) ([]string, []map[string]string) {
	t.Helper()
	recs, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("CSV: %v (%d records)", err, len(recs))
	}
	var rows []map[string]string
	for _, rec := range recs[1:] {
		row := map[string]string{}
		for i, col := range recs[0] {
			row[col] = rec[i]
		}
		rows = append(rows, row)
	}
	return recs[0], rows
}

func jsonRows(t *testing.T, raw []byte) []map[string]any {
	t.Helper()
	var rows []map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	for dec.More() {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			t.Fatalf("JSON lines: %v", err)
		}
		rows = append(rows, m)
	}
	if len(raw) > 0 && (raw[len(raw)-1] != '\n' || bytes.Count(raw, []byte("\n")) != len(rows)) {
		t.Fatalf("JSON lines: not one object per line:\n%s", raw)
	}
	return rows
}

// exportFixture is an account with custom fields, two lists and a
// segment, and contacts on them.
type exportFixture struct {
	listA, listB, seg string
	nickname, score   string // custom field ids
}

func (e *env) exportFixture(t *testing.T) exportFixture {
	t.Helper()
	var f exportFixture
	mkField := func(name, typ string) string {
		r := e.do(t, call{method: "POST", path: "/v3/marketing/field_definitions", body: map[string]any{"name": name, "field_type": typ}})
		return facetest.WantStatus(t, r, http.StatusOK)["id"].(string)
	}
	f.nickname, f.score = mkField("nickname", "Text"), mkField("score", "Number")
	mkField("signed_up", "Date")
	mkList := func(name string) string {
		r := e.do(t, call{method: "POST", path: "/v3/marketing/lists", body: map[string]any{"name": name}})
		return facetest.WantStatus(t, r, http.StatusCreated)["id"].(string)
	}
	f.listA, f.listB = mkList("List A"), mkList("List B")
	contact := func(i int) map[string]any {
		return map[string]any{"email": fmt.Sprintf("c%02d@example.com", i), "first_name": fmt.Sprintf("First %d, \"quoted\"", i),
			"city": "Springfield\nnorth", "alternate_emails": []string{fmt.Sprintf("alt%02d@example.com", i)},
			"custom_fields": map[string]any{f.nickname: fmt.Sprintf("nick,%d", i), f.score: i * 10}}
	}
	var onA, onB, nowhere []any
	for i := range 10 {
		onA = append(onA, contact(i))
	}
	for i := 10; i < 15; i++ {
		onB = append(onB, contact(i))
	}
	for i := 15; i < 18; i++ {
		nowhere = append(nowhere, contact(i))
	}
	e.upsert(t, map[string]any{"list_ids": []string{f.listA}, "contacts": onA})
	e.upsert(t, map[string]any{"list_ids": []string{f.listB}, "contacts": onB})
	e.upsert(t, map[string]any{"contacts": nowhere})
	// score >= 80: c08, c09 (list A) and c10..c17.
	f.seg = e.createSeg2(t, "High scorers", "SELECT contact_id, updated_at FROM contact_data WHERE score >= 80").ID
	return f
}

// searchEmails is the emails the contacts search finds for an SGQL query.
func (e *env) searchEmails(t *testing.T, sgql string) []string {
	t.Helper()
	r := e.do(t, call{method: "POST", path: "/v3/marketing/contacts/search", body: map[string]any{"query": sgql}})
	var res struct {
		Result []struct {
			Email string `json:"email"`
		} `json:"result"`
		ContactCount int `json:"contact_count"`
	}
	facetest.WantStatus(t, r, http.StatusOK)
	r.Decode(t, &res)
	var out []string
	for _, c := range res.Result {
		out = append(out, c.Email)
	}
	if len(out) != res.ContactCount {
		t.Fatalf("search %q: %d results of %d", sgql, len(out), res.ContactCount)
	}
	sort.Strings(out)
	return out
}

func TestExportsCSVByList(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := newExportEnv(t, t0)
	f := e.exportFixture(t)

	s := e.export(t, map[string]any{"list_ids": []string{f.listA}, "file_type": "csv", "notifications": map[string]any{"email": true}})
	if s.ExportType != "list_export" || len(s.Lists) != 1 || s.Lists[0].ID != f.listA || s.Lists[0].Name != "List A" ||
		len(s.Segments) != 0 || s.ContactCount == nil || *s.ContactCount != 10 || len(s.URLs) != 1 || s.UserID == "" ||
		s.CreatedAt != "2026-03-01T12:00:00.000Z" || s.CompletedAt != s.CreatedAt || s.UpdatedAt != s.CreatedAt ||
		s.ExpiresAt != "2026-03-04T12:00:00.000Z" || s.Metadata.Self != e.URL+exportsPath+"/"+s.ID {
		t.Fatalf("status: %+v", s)
	}
	if !strings.HasPrefix(s.URLs[0], e.URL+sg.ExportFilesPrefix) || !strings.HasSuffix(s.URLs[0], "/1.csv.gz") {
		t.Fatalf("url %s", s.URLs[0])
	}
	header, rows := csvRows(t, download(t, s.URLs[0]))
	wantHeader := []string{"contact_id", "created_at", "updated_at", "email", "phone_number_id", "external_id", "anonymous_id",
		"alternate_emails", "first_name", "last_name", "unique_name", "address_line_1", "address_line_2", "city",
		"state_province_region", "postal_code", "country", "phone_number", "whatsapp", "line", "facebook", "list_ids",
		"segment_ids", "nickname", "score", "signed_up"}
	if !slices.Equal(header, wantHeader) {
		t.Fatalf("header %v\nwant %v", header, wantHeader)
	}
	var emails []string
	for _, row := range rows {
		emails = append(emails, row["email"])
		c := e.contactByEmail(t, row["email"])
		n := 0
		fmt.Sscanf(row["email"], "c%d@", &n)
		wantSegs := ""
		if n >= 8 {
			wantSegs = f.seg
		}
		if row["contact_id"] != c["id"] || row["first_name"] != c["first_name"] || row["city"] != "Springfield\nnorth" ||
			row["alternate_emails"] != fmt.Sprintf("alt%02d@example.com", n) || row["list_ids"] != f.listA ||
			row["segment_ids"] != wantSegs || row["nickname"] != fmt.Sprintf("nick,%d", n) || row["score"] != fmt.Sprint(n*10) ||
			row["signed_up"] != "" || row["created_at"] != "2026-03-01T12:00:00Z" {
			t.Errorf("row %v\ncontact %v", row, c)
		}
	}
	if !slices.IsSorted(rowsCol(rows, "contact_id")) {
		t.Errorf("rows are not in id order: %v", rowsCol(rows, "contact_id"))
	}
	sort.Strings(emails)
	if want := e.searchEmails(t, fmt.Sprintf("CONTAINS(list_ids, '%s')", f.listA)); !slices.Equal(emails, want) {
		t.Fatalf("exported %v\nsearch finds %v", emails, want)
	}
}

func rowsCol(rows []map[string]string, col string) []string {
	var out []string
	for _, r := range rows {
		out = append(out, r[col])
	}
	return out
}

func TestExportsJSONBySegmentAndBoth(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := newExportEnv(t, t0)
	f := e.exportFixture(t)

	s := e.export(t, map[string]any{"segment_ids": []string{f.seg}, "file_type": "json"})
	if s.ExportType != "segment_export" || len(s.Segments) != 1 || s.Segments[0].ID != f.seg || s.Segments[0].Name != "High scorers" ||
		!strings.HasSuffix(s.URLs[0], "/1.json.gz") {
		t.Fatalf("status: %+v", s)
	}
	rows := jsonRows(t, download(t, s.URLs[0]))
	var emails []string
	for _, row := range rows {
		emails = append(emails, row["email"].(string))
		if _, ok := row["id"]; ok {
			t.Errorf("row has id (SendGrid's files say contact_id): %v", row)
		}
		if _, ok := row["last_name"]; ok {
			t.Errorf("an unset reserved field is present: %v", row)
		}
		cf, _ := row["custom_fields"].(map[string]any)
		if row["contact_id"] == "" || cf["score"] == nil || cf["nickname"] == nil || !slices.Equal(anyStrings(row["segment_ids"]), []string{f.seg}) {
			t.Errorf("row %v", row)
		}
	}
	sort.Strings(emails)
	// The segment's count and search say the same.
	r := e.do(t, call{method: "GET", path: seg2Path + "/" + f.seg})
	if got := decodeSeg(t, r).ContactsCount; got != len(rows) || *s.ContactCount != got {
		t.Fatalf("exported %d (contact_count %d), segment counts %d", len(rows), *s.ContactCount, got)
	}
	if want := e.searchEmails(t, "score >= 80"); !slices.Equal(emails, want) {
		t.Fatalf("exported %v\nsearch finds %v", emails, want)
	}

	// Lists and segments together: the union, each contact once.
	e.Clock.Set(t0.Add(time.Second))
	s = e.export(t, map[string]any{"list_ids": []string{f.listB, f.listB}, "segment_ids": []string{f.seg}, "file_type": "json"})
	rows = jsonRows(t, download(t, s.URLs[0]))
	emails = emails[:0]
	for _, row := range rows {
		emails = append(emails, row["email"].(string))
	}
	sort.Strings(emails)
	if want := e.searchEmails(t, fmt.Sprintf("score >= 80 OR CONTAINS(list_ids, '%s')", f.listB)); !slices.Equal(emails, want) || s.ExportType != "segment_export" || len(s.Lists) != 1 {
		t.Fatalf("exported %v (%+v)\nsearch finds %v", emails, s, want)
	}

	// No ids: every contact, CSV by default.
	e.Clock.Set(t0.Add(2 * time.Second))
	s = e.export(t, nil)
	_, all := csvRows(t, download(t, s.URLs[0]))
	if len(all) != 18 || *s.ContactCount != 18 || s.ExportType != "contacts_export" {
		t.Fatalf("every contact: %d rows, %+v", len(all), s)
	}

	// The list call: newest first, with the capitalised ID and Name.
	r = e.do(t, call{method: "GET", path: exportsPath})
	var list struct {
		Result   []exportStatus `json:"result"`
		Metadata struct {
			Self string `json:"self"`
		} `json:"_metadata"`
	}
	facetest.WantStatus(t, r, http.StatusOK)
	r.Decode(t, &list)
	if len(list.Result) != 3 || list.Result[0].ID != s.ID || list.Result[2].Segments[0].Name != "High scorers" ||
		list.Metadata.Self != e.URL+exportsPath || !bytes.Contains(r.Body, []byte(`"ID":"`+f.seg+`"`)) {
		t.Fatalf("list: %s", r.Body)
	}
}

func anyStrings(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// TestExportsMaxFileSize: max_file_size splits the export where the next
// contact would take a file past it, uncompressed; each file stands alone
// (CSV files each have the header) and together they hold every contact
// once.
func TestExportsMaxFileSize(t *testing.T) {
	e := newExportEnv(t, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	r := e.do(t, call{method: "POST", path: "/v3/marketing/field_definitions", body: map[string]any{"name": "bio", "field_type": "Text"}})
	bio := facetest.WantStatus(t, r, http.StatusOK)["id"].(string)
	const n = 3000 // about 2.7 MB of CSV
	for part := range 2 {
		var cs []any
		for i := part * n / 2; i < (part+1)*n/2; i++ {
			cs = append(cs, map[string]any{"email": fmt.Sprintf("big%04d@example.com", i),
				"custom_fields": map[string]any{bio: strings.Repeat(fmt.Sprintf("%04d", i), 200)}})
		}
		e.upsert(t, map[string]any{"contacts": cs})
	}
	for _, fileType := range []string{"csv", "json"} {
		s := e.export(t, map[string]any{"file_type": fileType, "max_file_size": 1})
		if len(s.URLs) < 3 || *s.ContactCount != n {
			t.Fatalf("%s: %d files, %d contacts", fileType, len(s.URLs), *s.ContactCount)
		}
		seen := map[string]bool{}
		for i, u := range s.URLs {
			if !strings.HasSuffix(u, fmt.Sprintf("/%d.%s.gz", i+1, fileType)) {
				t.Errorf("url %d: %s", i, u)
			}
			raw := download(t, u)
			if len(raw) > 1<<20 {
				t.Errorf("%s file %d: %d bytes unpacked, over 1 MB", fileType, i+1, len(raw))
			}
			var emails []string
			if fileType == "csv" {
				_, rows := csvRows(t, raw)
				emails = rowsCol(rows, "email")
			} else {
				for _, row := range jsonRows(t, raw) {
					emails = append(emails, row["email"].(string))
				}
			}
			if i < len(s.URLs)-1 && len(raw) < 1<<20-2000 {
				t.Errorf("%s file %d: %d bytes, split early", fileType, i+1, len(raw))
			}
			for _, em := range emails {
				if seen[em] {
					t.Errorf("%s in two files", em)
				}
				seen[em] = true
			}
		}
		if len(seen) != n {
			t.Errorf("%s: %d contacts in the files, want %d", fileType, len(seen), n)
		}
	}
}

func TestExportsErrors(t *testing.T) {
	e := newExportEnv(t, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	f := e.exportFixture(t)
	missing := segmentd.NewID()
	many := make([]string, segmentd.MaxExportIDs+1)
	for i := range many {
		many[i] = segmentd.NewID()
	}
	e.wantErrors(t, []errCase{
		{"file type", call{method: "POST", path: exportsPath, body: `{"file_type":"xml"}`}, 400, errBody("file_type", "file_type must be csv or json")},
		{"file type case", call{method: "POST", path: exportsPath, body: `{"file_type":"CSV"}`}, 400, errBody("file_type", "file_type must be csv or json")},
		{"file type not a string", call{method: "POST", path: exportsPath, body: `{"file_type":1}`}, 400, errBody("file_type", "file_type has a number where a string is expected")},
		{"size zero", call{method: "POST", path: exportsPath, body: `{"max_file_size":0}`}, 400, errBody("max_file_size", "max_file_size must be a whole number of megabytes, at least 1")},
		{"size negative", call{method: "POST", path: exportsPath, body: `{"max_file_size":-5}`}, 400, errBody("max_file_size", "max_file_size must be a whole number of megabytes, at least 1")},
		{"size fraction", call{method: "POST", path: exportsPath, body: `{"max_file_size":1.5}`}, 400, errBody("max_file_size", "max_file_size must be a whole number of megabytes, at least 1")},
		{"size string", call{method: "POST", path: exportsPath, body: `{"max_file_size":"5"}`}, 400, errBody("max_file_size", "max_file_size must be a whole number of megabytes, at least 1")},
		{"list ids not an array", call{method: "POST", path: exportsPath, body: `{"list_ids":"` + f.listA + `"}`}, 400, errBody("list_ids", "list_ids has a string where an array is expected")},
		{"list id malformed", call{method: "POST", path: exportsPath, body: `{"list_ids":["nope"]}`}, 400, errBody("list_ids", `list id "nope" is not a valid UUID`)},
		{"too many lists", call{method: "POST", path: exportsPath, body: map[string]any{"list_ids": many}}, 400, errBody("list_ids", "list_ids may hold at most 100 ids")},
		{"too many segments", call{method: "POST", path: exportsPath, body: map[string]any{"segment_ids": many}}, 400, errBody("segment_ids", "segment_ids may hold at most 100 ids")},
		{"not json", call{method: "POST", path: exportsPath, body: `{"file_type":`}, 400, errBody("file_type", "file_type: invalid JSON at byte 13: expected a value, found the end of the document")},
		{"unknown list", call{method: "POST", path: exportsPath, body: map[string]any{"list_ids": []string{f.listA, missing}}}, 404, errBody("list_ids", `list "`+missing+`" does not exist`)},
		{"unknown segment", call{method: "POST", path: exportsPath, body: map[string]any{"segment_ids": []string{missing}}}, 404, errBody("segment_ids", `segment "`+missing+`" does not exist`)},
		{"malformed id", call{method: "GET", path: exportsPath + "/nope"}, 400, errBody("id", `export id "nope" is not a valid UUID`)},
		{"unknown id", call{method: "GET", path: exportsPath + "/" + missing}, 404, errBody("id", `export "`+missing+`" does not exist`)},
		{"method", call{method: "DELETE", path: exportsPath + "/" + missing, noSpec: "no DELETE operation"}, 405, `{"errors":[{"field":null,"message":"method not allowed"}]}` + "\n"},
	})
	readOnly := e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeSendGridRead)
	writeOnly := e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeSendGridWrite)
	e.wantRefusals(t, call{method: "POST", path: exportsPath, body: `{}`}, readOnly, writeOnly)
	e.wantRefusals(t, call{method: "GET", path: exportsPath}, readOnly, writeOnly)
	e.wantRefusals(t, call{method: "GET", path: exportsPath + "/" + missing}, readOnly, writeOnly)

	// An account may have MaxPendingExports exports pending at once.
	acct := e.DefaultAccount()
	for range segmentd.MaxPendingExports {
		if err := e.Store.CreateExport(context.Background(), pendingRow(acct, e.Clock.Now()), 100); err != nil {
			t.Fatal(err)
		}
	}
	facetest.WantError(t, e.do(t, call{method: "POST", path: exportsPath, body: `{}`}), 400,
		errBody("", "an account may have at most 5 exports pending at once; wait for one to finish"))
}

// pendingRow is an export row as a server that stopped halfway leaves it.
func pendingRow(acct int64, now time.Time) segmentd.Export {
	return segmentd.Export{ID: segmentd.NewID(), AccountID: acct, Status: segmentd.ExportPending, Type: segmentd.ExportContacts,
		FileType: "csv", MaxFileBytes: 1 << 20, Token: strings.Repeat("ab", 32), CreatedAt: now, UpdatedAt: now,
		ExpiresAt: now.Add(segmentd.ExportLifetime), Lease: time.Now().Add(time.Hour)}
}

// TestExportsAbandoned: an export left pending by a server that stopped
// (here a row no server writes) reads as a failure with a message as soon
// as it is read, in the status and in the list.
func TestExportsAbandoned(t *testing.T) {
	e := newExportEnv(t, time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
	row := pendingRow(e.DefaultAccount(), e.Clock.Now())
	if err := e.Store.CreateExport(context.Background(), row, 5); err != nil {
		t.Fatal(err)
	}
	var s exportStatus
	r := e.do(t, call{method: "GET", path: exportsPath + "/" + row.ID})
	facetest.WantStatus(t, r, http.StatusOK)
	r.Decode(t, &s)
	if s.Status != "failure" || s.Message != segmentd.MsgExportAbandoned || len(s.URLs) != 0 || s.CompletedAt == "" {
		t.Fatalf("abandoned export: %s", r.Body)
	}
	r = e.do(t, call{method: "GET", path: exportsPath})
	if !bytes.Contains(r.Body, []byte(`"status":"failure"`)) || bytes.Contains(r.Body, []byte(`"pending"`)) {
		t.Fatalf("list: %s", r.Body)
	}
}

// TestExportsExpiry: 72 hours after it completed an export and its files
// are gone (404); a URL with a wrong token, file or type is 404 too.
func TestExportsExpiry(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	e := newExportEnv(t, t0)
	e.exportFixture(t)
	s := e.export(t, map[string]any{"file_type": "json"})
	u := s.URLs[0]
	download(t, u)
	token := u[len(u)-len("/1.json.gz")-64 : len(u)-len("/1.json.gz")]
	for _, bad := range []string{
		strings.Replace(u, token, strings.Repeat("0", 64), 1),
		strings.Replace(u, "/1.json.gz", "/2.json.gz", 1),
		strings.Replace(u, "/1.json.gz", "/1.csv.gz", 1),
		strings.Replace(u, "/1.json.gz", "/0.json.gz", 1),
		strings.Replace(u, "/1.json.gz", "/01.json.gz", 1),
		strings.Replace(u, "/1.json.gz", "", 1),
		strings.Replace(u, sg.ExportFilesPrefix+"1/", sg.ExportFilesPrefix+"2/", 1),
		e.URL + sg.ExportFilesPrefix + "x",
	} {
		wantFile404(t, bad)
	}
	resp, err := http.Post(u, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST to a file: %d %v", resp.StatusCode, resp.Header)
	}

	e.Clock.Set(t0.Add(segmentd.ExportLifetime - time.Second))
	download(t, u)
	e.Clock.Set(t0.Add(segmentd.ExportLifetime))
	wantFile404(t, u)
	facetest.WantError(t, e.do(t, call{method: "GET", path: exportsPath + "/" + s.ID}), 404, errBody("id", `export "`+s.ID+`" does not exist`))
	r := e.do(t, call{method: "GET", path: exportsPath})
	if m := facetest.WantStatus(t, r, http.StatusOK); len(m["result"].([]any)) != 0 {
		t.Fatalf("list after expiry: %s", r.Body)
	}
	// The sweep deletes it from the store.
	n, err := e.Store.DeleteExpiredExports(context.Background(), e.Clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Store.Export(context.Background(), e.DefaultAccount(), s.ID); n != 1 || segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("after the sweep: %d deleted, %v", n, err)
	}
}

func wantFile404(t *testing.T, u string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !bytes.Contains(body, []byte("export file not found")) {
		t.Errorf("GET %s: %d %s", u, resp.StatusCode, body)
	}
}
