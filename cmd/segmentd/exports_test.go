package main

import (
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/segmentd/segmentd/internal/facetest"
)

// TestExportsThroughTheBinary drives contact exports through the real
// binary and sendgrid-go, on each store: by list, by segment, by both, all
// contacts, CSV and JSON, split by max_file_size; every file is
// downloaded, unpacked and parsed, and the contacts in it are those the
// list's and segment's counts and the contacts search say. On a shared
// database another server serves the same files.
func TestExportsThroughTheBinary(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.exports-test-key"
		s, _ := st.start(t, bin, key)

		field := mustCall(t, s, key, "POST", "/v3/marketing/field_definitions", `{"name":"tier","field_type":"Text"}`, 200)["id"].(string)
		bio := mustCall(t, s, key, "POST", "/v3/marketing/field_definitions", `{"name":"bio","field_type":"Text"}`, 200)["id"].(string)
		gold := mustCall(t, s, key, "POST", "/v3/marketing/lists", `{"name":"gold"}`, 201)["id"].(string)
		silver := mustCall(t, s, key, "POST", "/v3/marketing/lists", `{"name":"silver"}`, 201)["id"].(string)

		// 2,400 contacts of about 1.1 kB each: a third on gold, a third on
		// silver; tier "a" for the even ones.
		const n = 2400
		for part := range 3 {
			byList := map[string][]any{gold: nil, silver: nil, "": nil}
			for i := part * n / 3; i < (part+1)*n/3; i++ {
				tier := "b"
				if i%2 == 0 {
					tier = "a"
				}
				c := map[string]any{"email": fmt.Sprintf("p%04d@example.com", i), "first_name": fmt.Sprint("P", i),
					"custom_fields": map[string]any{field: tier, bio: strings.Repeat("x", 1000)}}
				list := [3]string{gold, silver, ""}[i%3]
				byList[list] = append(byList[list], c)
			}
			for list, cs := range byList {
				body := map[string]any{"contacts": cs}
				if list != "" {
					body["list_ids"] = []string{list}
				}
				b, _ := json.Marshal(body)
				runJob(t, s, key, "PUT", "/v3/marketing/contacts", string(b))
			}
		}
		seg := mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0",
			`{"name":"tier a","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE tier = 'a'"}`, 201)
		segID, segCount := seg["id"].(string), int(seg["contacts_count"].(float64))

		count := func(sgql string) int {
			b, _ := json.Marshal(map[string]string{"query": sgql})
			return int(mustCall(t, s, key, "POST", "/v3/marketing/contacts/search", string(b), 200)["contact_count"].(float64))
		}
		listCount := func(id string) int {
			return int(mustCall(t, s, key, "GET", "/v3/marketing/lists/"+id+"/contacts/count", "", 200)["contact_count"].(float64))
		}
		goldQ, silverQ := fmt.Sprintf("CONTAINS(list_ids, '%s')", gold), fmt.Sprintf("CONTAINS(list_ids, '%s')", silver)
		if segCount != count("tier = 'a'") || listCount(gold) != count(goldQ) || segCount != n/2 || listCount(gold) != n/3 {
			t.Fatalf("fixture: segment %d, gold %d", segCount, listCount(gold))
		}

		type exported struct {
			status map[string]any
			rows   []exportRow
			files  int
		}
		export := func(body string) exported {
			t.Helper()
			id := mustCall(t, s, key, "POST", "/v3/marketing/contacts/exports", body, 202)["id"].(string)
			var st map[string]any
			facetest.Poll(t, "export "+id, func() bool {
				st = mustCall(t, s, key, "GET", "/v3/marketing/contacts/exports/"+id, "", 200)
				return st["status"] != "pending"
			})
			if st["status"] != "ready" {
				t.Fatalf("export %s: %v", body, st)
			}
			out := exported{status: st}
			for _, u := range st["urls"].([]any) {
				out.rows = append(out.rows, downloadRows(t, u.(string))...)
				out.files++
			}
			if int(st["contact_count"].(float64)) != len(out.rows) {
				t.Fatalf("export %s: contact_count %v, %d rows", body, st["contact_count"], len(out.rows))
			}
			return out
		}
		emailsOf := func(rows []exportRow) []string {
			var out []string
			for _, r := range rows {
				out = append(out, r.email)
			}
			sort.Strings(out)
			if len(slices.Compact(slices.Clone(out))) != len(out) {
				t.Fatalf("a contact exported twice")
			}
			return out
		}

		byList := export(fmt.Sprintf(`{"list_ids":[%q],"file_type":"csv"}`, gold))
		if len(byList.rows) != listCount(gold) || byList.status["export_type"] != "list_export" {
			t.Fatalf("by list: %d rows, list counts %d", len(byList.rows), listCount(gold))
		}
		for _, r := range byList.rows {
			if !slices.Equal(r.lists, []string{gold}) || r.tier == "" || r.firstName == "" {
				t.Fatalf("by list: row %+v", r)
			}
		}

		bySeg := export(fmt.Sprintf(`{"segment_ids":[%q],"file_type":"json"}`, segID))
		if len(bySeg.rows) != segCount || bySeg.status["export_type"] != "segment_export" {
			t.Fatalf("by segment: %d rows, segment counts %d", len(bySeg.rows), segCount)
		}
		for _, r := range bySeg.rows {
			if r.tier != "a" || !slices.Equal(r.segments, []string{segID}) {
				t.Fatalf("by segment: row %+v", r)
			}
		}

		both := export(fmt.Sprintf(`{"list_ids":[%q],"segment_ids":[%q]}`, silver, segID))
		if want := count(fmt.Sprintf("tier = 'a' OR %s", silverQ)); len(both.rows) != want {
			t.Fatalf("both: %d rows, search counts %d", len(both.rows), want)
		}

		// All contacts, split into files of at most 1 MB (unpacked).
		split := export(`{"file_type":"csv","max_file_size":1}`)
		if len(split.rows) != n || split.files < 3 || split.status["export_type"] != "contacts_export" {
			t.Fatalf("split: %d rows in %d files", len(split.rows), split.files)
		}
		all := emailsOf(split.rows)
		for _, e := range [][]string{emailsOf(byList.rows), emailsOf(bySeg.rows), emailsOf(both.rows)} {
			for _, em := range e {
				if _, ok := slices.BinarySearch(all, em); !ok {
					t.Fatalf("%s exported by a list or segment but not among all contacts", em)
				}
			}
		}

		list := mustCall(t, s, key, "GET", "/v3/marketing/contacts/exports", "", 200)
		if got := len(list["result"].([]any)); got != 4 {
			t.Fatalf("GET /exports lists %d exports, want 4", got)
		}

		if st.url != "" {
			// Another server of the same database serves the files.
			other, _ := storeUnderTest{dir: t.TempDir(), url: st.url}.start(t, bin, key)
			for _, u := range split.status["urls"].([]any) {
				moved := strings.Replace(u.(string), s.url, other.url, 1)
				if len(downloadRows(t, moved)) == 0 {
					t.Fatalf("%s: no rows", moved)
				}
			}
		}
	})
}

// exportRow is what the tests read of an exported contact.
type exportRow struct {
	email, firstName, tier string
	lists, segments        []string
}

// downloadRows downloads an export file without a key, as any HTTP client
// does, and parses it (CSV or JSON lines, by its name).
func downloadRows(t *testing.T, u string) []exportRow {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/gzip" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	zr, err := gzip.NewReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	split := func(s string) []string {
		if s == "" {
			return nil
		}
		return strings.Split(s, ",")
	}
	var rows []exportRow
	if strings.HasSuffix(u, ".csv.gz") {
		recs, err := csv.NewReader(bytes.NewReader(raw)).ReadAll()
		if err != nil || len(recs) == 0 {
			t.Fatalf("%s: %v", u, err)
		}
		col := map[string]int{}
		for i, name := range recs[0] {
			col[name] = i
		}
		for _, r := range recs[1:] {
			rows = append(rows, exportRow{email: r[col["email"]], firstName: r[col["first_name"]], tier: r[col["tier"]],
				lists: split(r[col["list_ids"]]), segments: split(r[col["segment_ids"]])})
		}
		return rows
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	for dec.More() {
		var c struct {
			Email        string            `json:"email"`
			FirstName    string            `json:"first_name"`
			CustomFields map[string]string `json:"custom_fields"`
			ListIDs      []string          `json:"list_ids"`
			SegmentIDs   []string          `json:"segment_ids"`
		}
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		rows = append(rows, exportRow{email: c.Email, firstName: c.FirstName, tier: c.CustomFields["tier"], lists: c.ListIDs, segments: c.SegmentIDs})
	}
	return rows
}

// TestExportsPublicURLAndCrash: --public-url builds the URLs handed out;
// an export cut short by kill -9 is never pending after the restart (one
// server on SQLite: it fails at once, with a message).
func TestExportsPublicURLAndCrash(t *testing.T) {
	bin := realBinary(t)
	const key = "SG.exports-crash-key"
	st := storeUnderTest{dir: t.TempDir()}
	s, cmd := st.start(t, bin, key, "--public-url", "https://segmentd.example.test:8443/")

	var b strings.Builder
	b.WriteString(`{"contacts":[`)
	for i := range 20000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"email":"c%05d@example.com","first_name":"C%d"}`, i, i)
	}
	b.WriteString("]}")
	runJob(t, s, key, "PUT", "/v3/marketing/contacts", b.String())
	created := mustCall(t, s, key, "POST", "/v3/marketing/contacts/exports", `{"file_type":"json"}`, 202)
	id := created["id"].(string)
	if self := created["_metadata"].(map[string]any)["self"]; self != "https://segmentd.example.test:8443/v3/marketing/contacts/exports/"+id {
		t.Fatalf("_metadata.self %v", self)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	s, _ = st.start(t, bin, key, "--public-url", "https://segmentd.example.test:8443")
	got := mustCall(t, s, key, "GET", "/v3/marketing/contacts/exports/"+id, "", 200)
	t.Logf("the export killed halfway reads %v after the restart", got["status"])
	switch got["status"] {
	case "failure":
		if !strings.Contains(got["message"].(string), "stopped before it finished") {
			t.Fatalf("failed export: %v", got)
		}
	case "ready": // it finished before the kill
		if u := got["urls"].([]any)[0].(string); !strings.HasPrefix(u, "https://segmentd.example.test:8443/files/exports/") {
			t.Fatalf("url %s", u)
		}
	default:
		t.Fatalf("after kill -9 and restart: %v", got)
	}

	// A new export completes, its URLs on the public base.
	id = mustCall(t, s, key, "POST", "/v3/marketing/contacts/exports", `{}`, 202)["id"].(string)
	facetest.Poll(t, "export", func() bool {
		got = mustCall(t, s, key, "GET", "/v3/marketing/contacts/exports/"+id, "", 200)
		return got["status"] != "pending"
	})
	u, _ := got["urls"].([]any)[0].(string)
	if got["status"] != "ready" || !strings.HasPrefix(u, "https://segmentd.example.test:8443/files/exports/") {
		t.Fatalf("export: %v", got)
	}
	if rows := downloadRows(t, strings.Replace(u, "https://segmentd.example.test:8443", s.url, 1)); len(rows) != 20000 {
		t.Fatalf("%d rows", len(rows))
	}
}

// TestPublicURLFlag: --public-url (or its twin) takes an http(s) URL of a
// host and refuses anything else, naming the flag.
func TestPublicURLFlag(t *testing.T) {
	for _, good := range []string{"", "https://segmentd.example.com", "http://127.0.0.1:8080/", "https://example.com/proxy"} {
		if _, err := parseConfig("serve", []string{"--public-url", good}, nil, io.Discard, io.Discard); err != nil {
			t.Errorf("--public-url %q: %v", good, err)
		}
	}
	for _, bad := range []string{"segmentd.example.com", "ftp://example.com", "https://", "https://example.com/?a=1", "https://u:p@example.com", "https://example.com/#x"} {
		_, err := parseConfig("serve", []string{"--public-url", bad}, nil, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "--public-url must be an http:// or https:// URL") {
			t.Errorf("--public-url %q: %v", bad, err)
		}
	}
	if _, err := parseConfig("serve", nil, []string{"SEGMENTD_PUBLIC_URL=nope"}, io.Discard, io.Discard); err == nil {
		t.Error("SEGMENTD_PUBLIC_URL=nope accepted")
	}
}

// TestExportsSurviveTheirServerOnADatabase: on PostgreSQL and Citus, a
// SendGrid export and a Constant Contact export accepted by server A,
// which SEGMENTD_TEST_ONLY_EXPORT_DELAY keeps from finishing them, are
// written by server B once A is killed with SIGKILL and its lease has
// ended, with the contacts, lists and segments selected when A accepted
// them: a contact added to the list after the acceptance is not in them.
func TestExportsSurviveTheirServerOnADatabase(t *testing.T) {
	bin := realBinary(t)
	eachDatabase(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.exports-survive-key"
		lease := []string{"--job-lease", "2s"}
		a, cmd := startBinaryEnv(t, bin, st.dir, key, []string{"SEGMENTD_TEST_ONLY_EXPORT_DELAY=1h"}, append(st.args(), lease...)...)
		field := mustCall(t, a, key, "POST", "/v3/marketing/field_definitions", `{"name":"tier","field_type":"Text"}`, 200)["id"].(string)
		gold := mustCall(t, a, key, "POST", "/v3/marketing/lists", `{"name":"gold"}`, 201)["id"].(string)
		// 600 contacts: every third on gold, tier "a" for the even ones.
		const n = 600
		var onGold, cs []any
		for i := range n {
			c := map[string]any{"email": fmt.Sprintf("s%04d@example.com", i), "first_name": fmt.Sprint("S", i),
				"custom_fields": map[string]any{field: []string{"a", "b"}[i%2]}}
			if i%3 == 0 {
				onGold = append(onGold, c)
			} else {
				cs = append(cs, c)
			}
		}
		for _, body := range []map[string]any{{"contacts": onGold, "list_ids": []string{gold}}, {"contacts": cs}} {
			b, _ := json.Marshal(body)
			runJob(t, a, key, "PUT", "/v3/marketing/contacts", string(b))
		}
		seg := mustCall(t, a, key, "POST", "/v3/marketing/segments/2.0",
			`{"name":"tier a","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE tier = 'a'"}`, 201)["id"].(string)
		var want []string // gold or tier a: i%3 == 0 or i%2 == 0
		for i := range n {
			if i%3 == 0 || i%2 == 0 {
				want = append(want, fmt.Sprintf("s%04d@example.com", i))
			}
		}
		facetest.Poll(t, "the segment's members", func() bool {
			return int(mustCall(t, a, key, "GET", "/v3/marketing/segments/2.0/"+seg, "", 200)["contacts_count"].(float64)) == n/2
		})

		sg := mustCall(t, a, key, "POST", "/v3/marketing/contacts/exports", fmt.Sprintf(`{"list_ids":[%q],"segment_ids":[%q],"file_type":"csv"}`, gold, seg), 202)["id"].(string)
		cc := ccClient{t: t, url: a.url, key: key}
		ccAct := cc.must("POST", "/v3/activities/contact_exports", fmt.Sprintf(`{"list_ids":[%q],"fields":["email_address","first_name","cf:tier","list_memberships"]}`, gold), 201)["activity_id"].(string)
		// After the acceptance: a new contact on gold, which the exports
		// selected before it must not hold.
		runJob(t, a, key, "PUT", "/v3/marketing/contacts", fmt.Sprintf(`{"list_ids":[%q],"contacts":[{"email":"late@example.com"}]}`, gold))
		if got := mustCall(t, a, key, "GET", "/v3/marketing/contacts/exports/"+sg, "", 200); got["status"] != "pending" {
			t.Fatalf("the export is %v before the kill; the test needs it pending", got["status"])
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()

		b, _ := storeUnderTest{dir: t.TempDir(), url: st.url}.start(t, bin, key, lease...)
		var got map[string]any
		facetest.Poll(t, "the export on server B", func() bool {
			got = mustCall(t, b, key, "GET", "/v3/marketing/contacts/exports/"+sg, "", 200)
			return got["status"] != "pending"
		})
		if got["status"] != "ready" || int(got["contact_count"].(float64)) != len(want) {
			t.Fatalf("the export on server B: %v, want ready with %d contacts", got, len(want))
		}
		var rows []exportRow
		for _, u := range got["urls"].([]any) {
			rows = append(rows, downloadRows(t, u.(string))...)
		}
		var emails []string
		for _, r := range rows {
			emails = append(emails, r.email)
			var i int
			if _, err := fmt.Sscanf(r.email, "s%04d@example.com", &i); err != nil {
				t.Fatalf("row %+v", r)
			}
			var lists, segs []string
			if i%3 == 0 {
				lists = []string{gold}
			}
			if i%2 == 0 {
				segs = []string{seg}
			}
			if !slices.Equal(r.lists, lists) || !slices.Equal(r.segments, segs) || r.firstName != fmt.Sprint("S", i) || r.tier != []string{"a", "b"}[i%2] {
				t.Fatalf("row %+v: want lists %v, segments %v", r, lists, segs)
			}
		}
		sort.Strings(emails)
		if !slices.Equal(emails, want) {
			t.Fatalf("the export holds %d contacts (%v…), want %d", len(emails), emails[:min(3, len(emails))], len(want))
		}

		cb := ccClient{t: t, url: b.url, key: key}
		done := cb.waitActivity(ccAct)
		if done["state"] != "completed" {
			t.Fatalf("the Constant Contact export on server B: %v", done)
		}
		code, body := cb.do("GET", "/v3/contact_exports/"+ccAct, "", key)
		lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
		if code != 200 || lines[0] != "email_address,first_name,cf:tier,list_memberships" || len(lines) != 1+n/3 || strings.Contains(body, "late@example.com") {
			t.Fatalf("GET /v3/contact_exports/%s on server B: %d, %d lines: %.300s", ccAct, code, len(lines), body)
		}
		if want := "s0003@example.com,S3,b," + gold; !slices.Contains(lines, want) {
			t.Fatalf("the Constant Contact export has no line %q: %.300s", want, body)
		}
	})
}
