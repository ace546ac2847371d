package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/sendgrid/rest"
	"github.com/sendgrid/sendgrid-go"

	"github.com/segmentd/segmentd/internal/facetest"
)

// contactsSpec is SendGrid's contacts OpenAPI document, which the import
// calls' answers are validated against.
var contactsSpec = facetest.NewSpec("sendgrid", "https://api.sendgrid.com", func(dir string) (facetest.SpecDocs, error) {
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join(dir, "tsg_mc_contacts_v3.json"))
	if err != nil {
		return facetest.SpecDocs{}, err
	}
	if err := doc.Validate(context.Background(), openapi3.DisableExamplesValidation()); err != nil {
		return facetest.SpecDocs{}, err
	}
	return facetest.SpecDocs{Docs: []*openapi3.T{doc}}, nil
})

// specCall calls the SendGrid face of s through sendgrid-go, fails the
// test unless the status is want, validates the answer against the
// contacts document, and decodes it.
func specCall(t *testing.T, s liveServer, method, path, body string, want int) map[string]any {
	t.Helper()
	req := sendgrid.GetRequest(s.key, path, s.url)
	req.Method = rest.Method(method)
	req.Body = []byte(body)
	resp, err := sendgrid.MakeRequest(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, resp.Body, want)
	}
	contactsSpec.Check(t, method, path, "", facetest.Response{Status: resp.StatusCode, Header: http.Header(resp.Headers), Body: []byte(resp.Body)})
	var m map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &m); err != nil {
		t.Fatalf("%s %s: %v: %s", method, path, err, resp.Body)
	}
	return m
}

// startImport asks s for an import and returns its job id and upload URI.
func startImport(t *testing.T, s liveServer, body string) (string, string) {
	t.Helper()
	m := specCall(t, s, "PUT", "/v3/marketing/contacts/imports", body, 200)
	hdrs, _ := m["upload_headers"].([]any)
	if len(hdrs) != 1 || hdrs[0].(map[string]any)["header"] != "x-amz-server-side-encryption" {
		t.Fatalf("import: %v", m)
	}
	return m["job_id"].(string), m["upload_uri"].(string)
}

// uploadFile PUTs a file to an upload URI through sendgrid-go's rest
// client, with SendGrid's upload header and extra headers.
func uploadFile(t *testing.T, uri string, file []byte, extra ...string) (int, string) {
	t.Helper()
	h := map[string]string{"x-amz-server-side-encryption": "aws:kms"}
	for i := 0; i+1 < len(extra); i += 2 {
		h[extra[i]] = extra[i+1]
	}
	resp, err := rest.Send(rest.Request{Method: rest.Put, BaseURL: uri, Headers: h, Body: file})
	if err != nil {
		t.Fatalf("PUT %s: %v", uri, err)
	}
	return resp.StatusCode, resp.Body
}

// waitImport polls an import's job until it leaves pending, validating
// each answer.
func waitImport(t *testing.T, s liveServer, id string) (job map[string]any, counts map[string]int, errorsURL string) {
	t.Helper()
	facetest.Poll(t, "import "+id, func() bool {
		job = specCall(t, s, "GET", "/v3/marketing/contacts/imports/"+id, "", 200)
		return job["status"] != "pending"
	})
	res, _ := job["results"].(map[string]any)
	counts = map[string]int{}
	for k, v := range res {
		if n, ok := v.(float64); ok {
			counts[k] = int(n)
		}
	}
	errorsURL, _ = res["errors_url"].(string)
	return job, counts, errorsURL
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// contactsCSV is a CSV of n contacts from start: email, first name, tier.
func contactsCSV(start, n int) []byte {
	var b bytes.Buffer
	b.WriteString("email,first_name,tier\n")
	for i := start; i < start+n; i++ {
		fmt.Fprintf(&b, "imp%06d@example.com,I%d,bulk\n", i, i)
	}
	return b.Bytes()
}

// TestImportsThroughTheBinary drives CSV imports through the real binary
// and sendgrid-go, on each store, every answer validated against
// tsg_mc_contacts_v3: a CSV with skipped, reserved and custom columns into
// a list, its bad rows listed in the errors file; a gzipped file of
// several batches; an unreadable file; a reused and an expired upload
// URI (the dev clock moved). On a shared database another server serves
// the errors file.
func TestImportsThroughTheBinary(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.imports-test-key"
		s, _ := st.start(t, bin, key, "--dev")
		tier := mustCall(t, s, key, "POST", "/v3/marketing/field_definitions", `{"name":"tier","field_type":"Text"}`, 200)["id"].(string)
		score := mustCall(t, s, key, "POST", "/v3/marketing/field_definitions", `{"name":"score","field_type":"Number"}`, 200)["id"].(string)
		list := mustCall(t, s, key, "POST", "/v3/marketing/lists", `{"name":"imported"}`, 201)["id"].(string)
		runJob(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"known@example.com","external_id":"k-1","first_name":"Known"}]}`)

		// A CSV: email, a skipped column, first_name, two custom fields and
		// external_id, into the list.
		id, uri := startImport(t, s, fmt.Sprintf(`{"file_type":"csv","list_ids":[%q],"field_mappings":["_rf2_T",null,"_rf0_T",%q,%q,"external_id"]}`, list, tier, score))
		file := "email,notes,first_name,tier,score,external_id\n" +
			"ann@example.com,x,Ann,gold,10,\n" +
			"known@example.com,,Kay,,,k-1\n" +
			"bob@example.com,,\"Bob, Jr\",silver,2.5,b-1\n" +
			"not-an-email,,Nope,,,\n" +
			"cid@example.com,,Cid,,many,\n" +
			"known@example.com,,Other,,,\n"
		if code, out := uploadFile(t, uri, []byte(file)); code != 200 || out != "" {
			t.Fatalf("upload: %d %q", code, out)
		}
		job, counts, errorsURL := waitImport(t, s, id)
		if job["status"] != "errored" || counts["requested_count"] != 6 || counts["created_count"] != 2 || counts["updated_count"] != 1 || counts["errored_count"] != 3 {
			t.Fatalf("job: %v", job)
		}
		rows := fetchErrors(t, errorsURL)
		if len(rows) != 3 || rows[0][0] != "5" || rows[0][1] != "email" || rows[1][0] != "6" || rows[1][1] != "custom_fields."+score ||
			rows[2][0] != "7" || !strings.Contains(rows[2][2], "every existing identifier must be given") {
			t.Fatalf("errors file: %q", rows)
		}
		q, _ := json.Marshal(map[string]any{"emails": []string{"ann@example.com", "bob@example.com", "known@example.com"}})
		found := mustCall(t, s, key, "POST", "/v3/marketing/contacts/search/emails", string(q), 200)["result"].(map[string]any)
		for email, want := range map[string]string{"ann@example.com": "Ann", "bob@example.com": "Bob, Jr", "known@example.com": "Kay"} {
			c := found[email].(map[string]any)["contact"].(map[string]any)
			if c["first_name"] != want || !slices.Equal(anyList(c["list_ids"]), []string{list}) {
				t.Errorf("%s: %v", email, c)
			}
		}
		bob := found["bob@example.com"].(map[string]any)["contact"].(map[string]any)
		if cf := bob["custom_fields"].(map[string]any); cf["tier"] != "silver" || cf["score"] != 2.5 || bob["external_id"] != "b-1" {
			t.Errorf("bob: %v", bob)
		}

		// A gzipped file of three batches.
		const n = 12_000
		id, uri = startImport(t, s, fmt.Sprintf(`{"file_type":"csv","field_mappings":["_rf2_T","_rf0_T",%q]}`, tier))
		if code, out := uploadFile(t, uri, gzipBytes(contactsCSV(0, n)), "Content-Encoding", "gzip"); code != 200 {
			t.Fatalf("gzip upload: %d %s", code, out)
		}
		job, counts, errorsURL = waitImport(t, s, id)
		if job["status"] != "completed" || counts["created_count"] != n || errorsURL != "" {
			t.Fatalf("gzip job: %v", job)
		}
		count := mustCall(t, s, key, "GET", "/v3/marketing/contacts/count", "", 200)["contact_count"].(float64)
		search := mustCall(t, s, key, "POST", "/v3/marketing/contacts/search", `{"query":"tier = 'bulk'"}`, 200)["contact_count"].(float64)
		if count != n+3 || search != n {
			t.Fatalf("after the gzip import: %v contacts, %v with tier bulk", count, search)
		}

		// An unreadable file: nothing applied.
		id, uri = startImport(t, s, `{"file_type":"csv","field_mappings":["_rf2_T"]}`)
		if code, _ := uploadFile(t, uri, []byte("email\nz@example.com\n"), "Content-Encoding", "gzip"); code != 200 {
			t.Fatalf("upload: %d", code)
		}
		if job, _, _ := waitImport(t, s, id); job["status"] != "failed" {
			t.Fatalf("unreadable: %v", job)
		}
		// The URI was spent.
		if code, _ := uploadFile(t, uri, []byte("email\nz@example.com\n")); code != http.StatusConflict {
			t.Fatalf("a second upload: %d", code)
		}

		// Expired, on the server's clock.
		id, uri = startImport(t, s, `{"file_type":"csv","field_mappings":["_rf2_T"]}`)
		later := time.Now().Add(time.Hour + time.Minute).UTC().Format(time.RFC3339)
		if code, body := httpDo(t, "POST", s.url+"/admin/clock", fmt.Sprintf(`{"now":%q}`, later), nil); code != 200 {
			t.Fatalf("clock: %d %s", code, body)
		}
		if code, _ := uploadFile(t, uri, []byte("email\nz@example.com\n")); code != http.StatusGone {
			t.Fatalf("an expired URI: %d", code)
		}
		if job, _, _ := waitImport(t, s, id); job["status"] != "failed" {
			t.Fatalf("expired: %v", job)
		}
		if _, err := lookupEmail(t, s, "z@example.com"); err == nil {
			t.Fatal("z@example.com imported")
		}

		if st.url != "" {
			// Another server of the database serves the errors file.
			other, _ := storeUnderTest{dir: t.TempDir(), url: st.url}.start(t, bin, key)
			if got := fetchErrors(t, strings.Replace(oneErrorURL(t, s), s.url, other.url, 1)); len(got) != 1 {
				t.Fatalf("errors file from another server: %q", got)
			}
		}
	})
}

// oneErrorURL runs an import of one bad row and returns its errors_url.
func oneErrorURL(t *testing.T, s liveServer) string {
	t.Helper()
	id, uri := startImport(t, s, `{"file_type":"csv","field_mappings":["_rf2_T"]}`)
	if code, _ := uploadFile(t, uri, []byte("email\nbad\n")); code != 200 {
		t.Fatalf("upload: %d", code)
	}
	_, _, u := waitImport(t, s, id)
	return u
}

// lookupEmail searches s for one address.
func lookupEmail(t *testing.T, s liveServer, email string) (map[string]any, error) {
	t.Helper()
	q, _ := json.Marshal(map[string]any{"emails": []string{email}})
	code, body := call(t, s, s.key, "POST", "/v3/marketing/contacts/search/emails", string(q))
	if code != 200 {
		return nil, fmt.Errorf("%d %s", code, body)
	}
	var m map[string]any
	err := json.Unmarshal([]byte(body), &m)
	return m, err
}

func anyList(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

// fetchErrors downloads an errors file, as any HTTP client would (no
// key), and returns its rows after the header.
func fetchErrors(t *testing.T, u string) [][]string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, body)
	}
	recs, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil || len(recs) == 0 {
		t.Fatalf("errors file: %v %q", err, body)
	}
	return recs[1:]
}

// TestImportSurvivesKill9: an upload answered 200 is in the store and
// the journal: the server killed at once, the restarted one applies the
// whole import (resuming after the batches already applied, if any).
// The upload URI is built from --public-url.
func TestImportSurvivesKill9(t *testing.T) {
	bin := realBinary(t)
	const key = "SG.import-kill9-key"
	st := storeUnderTest{dir: t.TempDir()}
	s, cmd := st.start(t, bin, key, "--public-url", "https://segmentd.example.test")
	tier := mustCall(t, s, key, "POST", "/v3/marketing/field_definitions", `{"name":"tier","field_type":"Text"}`, 200)["id"].(string)
	id, uri := startImport(t, s, fmt.Sprintf(`{"file_type":"csv","field_mappings":["_rf2_T","_rf0_T",%q]}`, tier))
	if !strings.HasPrefix(uri, "https://segmentd.example.test/files/imports/") {
		t.Fatalf("upload_uri %s", uri)
	}
	const n = 60_000 // twelve batches
	if code, out := uploadFile(t, strings.Replace(uri, "https://segmentd.example.test", s.url, 1), contactsCSV(0, n)); code != 200 {
		t.Fatalf("upload: %d %s", code, out)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	s, _ = st.start(t, bin, key)
	job, counts, _ := waitImport(t, s, id)
	t.Logf("after kill -9 and a restart: %v", job["results"])
	if job["status"] != "completed" || counts["requested_count"] != n || counts["created_count"]+counts["updated_count"] != n {
		t.Fatalf("job: %v", job)
	}
	if got := mustCall(t, s, key, "GET", "/v3/marketing/contacts/count", "", 200)["contact_count"]; got != float64(n) {
		t.Fatalf("%v contacts, want %d", got, n)
	}
}
