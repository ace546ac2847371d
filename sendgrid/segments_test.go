package sendgrid_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/facetest"
	"github.com/segmentd/segmentd/query"
	sg "github.com/segmentd/segmentd/sendgrid"
)

const usSQL = "SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"

// seg404 is the E4 404 of every 2.0 operation on an unknown segment
// (docs/sendgrid.md "Spec contradictions" 9).
var seg404 = errBody("segment_id", "Segment does not exist.")

func TestSegments2Lifecycle(t *testing.T) {
	e := newEnv(t)
	e.mkContacts(t, "us", 20, "US")
	e.mkContacts(t, "ca", 10, "CA")

	// Create: exact count and sample at once (realtime).
	s := e.createSeg2(t, "Americans", usSQL)
	if s.ContactsCount != 20 || len(s.ContactsSample) != 20 {
		t.Fatalf("create: count %d, sample %d", s.ContactsCount, len(s.ContactsSample))
	}
	for _, c := range s.ContactsSample {
		if c.Country != "US" || !strings.HasPrefix(c.Email, "us") || !slices.Equal(c.SegmentIDs, []string{s.ID}) {
			t.Errorf("sample contact %+v", c)
		}
	}
	if s.QueryVersion == nil || *s.QueryVersion != "2" || s.Status.QueryValidation != "VALID" || s.QueryDSL != usSQL ||
		s.Name != "Americans" || len(s.ParentListIDs) != 0 || s.MaxRefreshes == nil || *s.MaxRefreshes != 2 ||
		s.RefreshesUsed == nil || *s.RefreshesUsed != 0 || s.LastRefreshedAt != "" {
		t.Errorf("create: %+v", s)
	}

	// Get: the sample by default; contacts_sample=false excludes it as an
	// empty array, since Segment2xx requires the property (validated).
	r := e.do(t, call{method: "GET", path: seg2Path + "/" + s.ID})
	facetest.WantStatus(t, r, 200)
	if g := decodeSeg(t, r); g.ContactsCount != 20 || len(g.ContactsSample) != 20 {
		t.Errorf("get: %s", r.Body)
	}
	r = e.do(t, call{method: "GET", path: seg2Path + "/" + s.ID, query: map[string]string{"contacts_sample": "false"}})
	if m := facetest.WantStatus(t, r, 200); !facetest.JSONEqual(mustJSON(m["contacts_sample"]), []byte(`[]`)) || m["contacts_count"] != float64(20) {
		t.Errorf("get without sample: %s", r.Body)
	}

	// A write is reflected as soon as its job reads completed.
	e.mkContacts(t, "us2-", 5, "US")
	r = e.do(t, call{method: "GET", path: seg2Path + "/" + s.ID})
	if g := decodeSeg(t, r); g.ContactsCount != 25 || len(g.ContactsSample) != 25 {
		t.Errorf("after upsert: count %d sample %d", g.ContactsCount, len(g.ContactsSample))
	}

	// segment_ids on GET /contacts/{id}, and on search results.
	cid := s.ContactsSample[0].ID
	r = e.do(t, call{method: "GET", path: "/v3/marketing/contacts/" + cid})
	if m := facetest.WantStatus(t, r, 200); !facetest.JSONEqual(mustJSON(m["segment_ids"]), mustJSON([]string{s.ID})) {
		t.Errorf("contact segment_ids: %s", r.Body)
	}
	ca := e.contactByEmail(t, "ca0@example.com")
	if !facetest.JSONEqual(mustJSON(ca["segment_ids"]), []byte(`[]`)) {
		t.Errorf("CA contact segment_ids = %v", ca["segment_ids"])
	}

	// List: items without query_dsl and contacts_sample, in "results".
	r = e.do(t, call{method: "GET", path: seg2Path,
		noSpec: "the spec types the 200 as one segment; the body is {\"results\":[…]} (docs/sendgrid.md \"Spec contradictions\" 2)"})
	var list struct {
		Results []map[string]any `json:"results"`
	}
	facetest.WantStatus(t, r, 200)
	r.Decode(t, &list)
	if len(list.Results) != 1 || list.Results[0]["id"] != s.ID || list.Results[0]["contacts_count"] != float64(25) ||
		list.Results[0]["query_dsl"] != nil || list.Results[0]["contacts_sample"] != nil || list.Results[0]["query_version"] != "2" {
		t.Errorf("list: %s", r.Body)
	}
	validateListItems(t, r)

	// Update the name, then the query.
	r = e.do(t, call{method: "PATCH", path: seg2Path + "/" + s.ID, body: map[string]any{"name": "Yanks"}})
	facetest.WantStatus(t, r, 200)
	if g := decodeSeg(t, r); g.Name != "Yanks" || g.ContactsCount != 25 || g.QueryDSL != usSQL {
		t.Errorf("rename: %s", r.Body)
	}
	caSQL := "SELECT contact_id, updated_at FROM contact_data WHERE country = 'CA'"
	r = e.do(t, call{method: "PATCH", path: seg2Path + "/" + s.ID, body: map[string]any{"query_dsl": caSQL}})
	facetest.WantStatus(t, r, 200)
	if g := decodeSeg(t, r); g.Name != "Yanks" || g.ContactsCount != 10 || g.QueryDSL != caSQL || len(g.ContactsSample) != 10 {
		t.Errorf("requery: %s", r.Body)
	}
	// Sending the unchanged parent_list_ids back is accepted.
	r = e.do(t, call{method: "PATCH", path: seg2Path + "/" + s.ID, body: map[string]any{"parent_list_ids": []string{}}})
	facetest.WantStatus(t, r, 200)

	// Delete: 202 without a body; the contacts stay; then 404 everywhere.
	r = e.do(t, call{method: "DELETE", path: seg2Path + "/" + s.ID})
	if r.Status != http.StatusAccepted || len(r.Body) != 0 {
		t.Errorf("delete: %d %q", r.Status, r.Body)
	}
	r = e.do(t, call{method: "GET", path: "/v3/marketing/contacts/count"})
	if m := facetest.WantStatus(t, r, 200); m["contact_count"] != float64(35) {
		t.Errorf("contacts after segment delete: %s", r.Body)
	}
	r = e.do(t, call{method: "GET", path: seg2Path + "/" + s.ID, noSpec: "GET documents no 404 (docs/sendgrid.md \"Spec contradictions\" 9)"})
	facetest.WantError(t, r, 404, seg404)
	facetest.WantError(t, e.do(t, call{method: "DELETE", path: seg2Path + "/" + s.ID}), 404, seg404)
	facetest.WantError(t, e.do(t, call{method: "PATCH", path: seg2Path + "/" + s.ID, body: `{"name":"x"}`,
		noSpec: "PATCH documents no 404 (docs/sendgrid.md \"Spec contradictions\" 9)"}), 404, seg404)
	r = e.do(t, call{method: "GET", path: "/v3/marketing/contacts/" + cid})
	if m := facetest.WantStatus(t, r, 200); !facetest.JSONEqual(mustJSON(m["segment_ids"]), []byte(`[]`)) {
		t.Errorf("segment_ids after delete: %s", r.Body)
	}
	// The deleted segment's name is free again.
	e.createSeg2(t, "Yanks", usSQL)
}

// validateListItems checks each item of a 2.0 list against AllSegments200,
// the schema the spec gives (wrongly) for the whole body.
func validateListItems(t *testing.T, r facetest.Response) {
	t.Helper()
	var list struct {
		Results []json.RawMessage `json:"results"`
	}
	r.Decode(t, &list)
	for _, item := range list.Results {
		sendgridSpec.Check(t, "GET", seg2Path, "", facetest.Response{Status: 200, Header: r.Header, Body: item})
	}
}

func TestSegments2Errors(t *testing.T) {
	e := newEnvWith(t, facetest.Config{Service: audience.Config{MaxLiveSegments: 3}}, sg.Options{})
	list := e.createList(t, "L")
	other := e.createList(t, "M")
	s := e.createSeg2(t, "one", usSQL)

	long := strings.Repeat("x", 101)
	for _, c := range []struct {
		name, body, field string
		msg               string // exact when set, otherwise a prefix of prefix
		prefix            string
	}{
		{name: "no name", body: `{"query_dsl":"` + usSQL + `"}`, field: "name", msg: "name is required"},
		{name: "long name", body: `{"name":"` + long + `","query_dsl":"` + usSQL + `"}`, field: "name", msg: "name must be between 1 and 100 characters"},
		{name: "no query", body: `{"name":"q"}`, field: "query_dsl", msg: "query_dsl is required"},
		{name: "bad query", body: `{"name":"q","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE lastname = 'x'"}`, field: "query_dsl", prefix: "1:"},
		{name: "bad table", body: `{"name":"q","query_dsl":"SELECT contact_id, updated_at FROM x"}`, field: "query_dsl", prefix: "1:"},
		{name: "duplicate", body: `{"name":"ONE","query_dsl":"` + usSQL + `"}`, field: "name", prefix: ""},
		{name: "two parents", body: `{"name":"q","query_dsl":"` + usSQL + `","parent_list_ids":["` + list + `","` + other + `"]}`, field: "parent_list_ids", prefix: ""},
		{name: "unknown parent", body: `{"name":"q","query_dsl":"` + usSQL + `","parent_list_ids":["00000000-0000-4000-8000-000000000000"]}`, field: "parent_list_ids", prefix: ""},
		{name: "not JSON", body: `{`, field: "", msg: "invalid JSON at byte 1: expected a key string or '}', found the end of the document"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(t, call{method: "POST", path: seg2Path, body: c.body})
			if c.msg != "" {
				facetest.WantError(t, r, 400, errBody(c.field, c.msg))
				return
			}
			wantFieldError(t, r, 400, c.field, c.prefix)
		})
	}

	// The positioned message of an invalid query names the column.
	r := e.do(t, call{method: "POST", path: seg2Path, body: `{"name":"q","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE lastname = 'x'"}`})
	if !strings.Contains(string(r.Body), "lastname") {
		t.Errorf("invalid query message does not name the column: %s", r.Body)
	}

	// PATCH errors.
	wantFieldError(t, e.do(t, call{method: "PATCH", path: seg2Path + "/" + s.ID, body: `{"parent_list_ids":["` + list + `"]}`}), 400, "parent_list_ids", "parent_list_ids cannot be changed")
	wantFieldError(t, e.do(t, call{method: "PATCH", path: seg2Path + "/" + s.ID, body: `{"query_dsl":"SELECT"}`}), 400, "query_dsl", "1:")
	wantFieldError(t, e.do(t, call{method: "PATCH", path: seg2Path + "/" + s.ID, body: `{"name":""}`}), 400, "name", "")
	two := e.createSeg2(t, "two", usSQL)
	wantFieldError(t, e.do(t, call{method: "PATCH", path: seg2Path + "/" + two.ID, body: `{"name":"One"}`}), 400, "name", "")

	// Malformed ids are unknown segments.
	for _, m := range []string{"GET", "DELETE", "PATCH"} {
		c := call{method: m, path: seg2Path + "/not-a-uuid", body: `{"name":"x"}`, noSpec: "no 404 documented (docs/sendgrid.md \"Spec contradictions\" 9)"}
		if m == "GET" {
			c.body = nil
		}
		if m == "DELETE" {
			c.body, c.noSpec = nil, ""
		}
		facetest.WantError(t, e.do(t, c), 404, seg404)
	}

	// Query parameters.
	wantFieldError(t, e.do(t, call{method: "GET", path: seg2Path + "/" + s.ID, query: map[string]string{"contacts_sample": "maybe"}}), 400, "contacts_sample", "")
	many := make([]string, 51)
	for i := range many {
		many[i] = "00000000-0000-4000-8000-000000000000"
	}
	wantFieldError(t, e.do(t, call{method: "GET", path: seg2Path, query: map[string]string{"parent_list_ids": strings.Join(many, ",")}}), 400, "parent_list_ids", "")
	wantFieldError(t, e.do(t, call{method: "GET", path: seg2Path, query: map[string]string{"no_parent_list_id": "yes"}}), 400, "no_parent_list_id", "")

	// The segment limit (configured to 3 here; 200 by default).
	e.createSeg2(t, "three", usSQL)
	wantFieldError(t, e.do(t, call{method: "POST", path: seg2Path, body: `{"name":"four","query_dsl":"` + usSQL + `"}`}), 400, "", "")
}

// wantFieldError asserts an E4 with one error on field whose message starts
// with prefix.
func wantFieldError(t *testing.T, r facetest.Response, status int, field, prefix string) {
	t.Helper()
	if r.Status != status {
		t.Errorf("status = %d, want %d; body %s", r.Status, status, r.Body)
		return
	}
	var b struct {
		Errors []struct {
			Field   *string `json:"field"`
			Message string  `json:"message"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(r.Body, &b); err != nil || len(b.Errors) != 1 || b.Errors[0].Field == nil {
		t.Errorf("body %s is not one error with a field", r.Body)
		return
	}
	if field != "" && *b.Errors[0].Field != field {
		t.Errorf("field = %q, want %q (%s)", *b.Errors[0].Field, field, r.Body)
	}
	if !strings.HasPrefix(b.Errors[0].Message, prefix) || b.Errors[0].Message == "" {
		t.Errorf("message = %q, want prefix %q", b.Errors[0].Message, prefix)
	}
}

func TestSegments2ParentList(t *testing.T) {
	e := newEnv(t)
	list := e.createList(t, "Newsletter")
	e.mkContacts(t, "inus", 3, "US", list)
	e.mkContacts(t, "inca", 2, "CA", list)
	e.mkContacts(t, "outus", 4, "US")
	s := e.createSeg2(t, "Listed Americans", usSQL, strings.ToUpper(list))
	if s.ContactsCount != 3 || !slices.Equal(s.ParentListIDs, []string{list}) {
		t.Fatalf("parent-list segment: %+v", s)
	}
	for _, c := range s.ContactsSample {
		if !strings.HasPrefix(c.Email, "inus") || !slices.Contains(c.ListIDs, list) {
			t.Errorf("sample contact %+v", c)
		}
	}
	// Adding a US contact to the list brings it in.
	e.mkContacts(t, "outus", 1, "US", list)
	r := e.do(t, call{method: "GET", path: seg2Path + "/" + s.ID})
	if g := decodeSeg(t, r); g.ContactsCount != 4 {
		t.Errorf("after adding to the list: %d", g.ContactsCount)
	}
}

// Deleting a list deletes the segments built on it, v1 and 2.0, with or
// without its contacts (docs/decisions.md §13): they leave both segment
// lists, their ids answer 404 like any deleted segment's, and no contact
// lists them in segment_ids. Other segments stay.
func TestDeleteListDeletesItsSegments(t *testing.T) {
	e := newEnv(t)
	list, other := e.createList(t, "Newsletter"), e.createList(t, "Other")
	e.mkContacts(t, "in", 3, "US", list)
	e.mkContacts(t, "both", 2, "US", list, other)
	e.mkContacts(t, "out", 2, "US")
	child2 := e.createSeg2(t, "Listed", usSQL, list).ID
	child1 := e.createSeg1(t, "Listed v1", "country = 'US'", list)
	free := e.createSeg2(t, "Everyone", usSQL).ID
	sibling := e.createSeg2(t, "Other listed", usSQL, other).ID

	facetest.WantStatus(t, e.do(t, call{method: "DELETE", path: listsPath + "/" + list}), http.StatusNoContent)
	if got, want := sortedIDs(resultIDs(t, e.do(t, call{method: "GET", path: seg2Path,
		noSpec: "the spec types the 200 as one segment; the body is {\"results\":[…]} (docs/sendgrid.md \"Spec contradictions\" 2)"}))), sortedIDs([]string{free, sibling}); !slices.Equal(got, want) {
		t.Errorf("2.0 segments after the list delete: %v, want %v", got, want)
	}
	if got := resultIDs(t, e.do(t, call{method: "GET", path: seg1Path})); len(got) != 0 {
		t.Errorf("v1 segments after the list delete: %v", got)
	}
	r := e.do(t, call{method: "GET", path: seg2Path, query: map[string]string{"parent_list_ids": list},
		noSpec: "the spec types the 200 as one segment; the body is {\"results\":[…]} (docs/sendgrid.md \"Spec contradictions\" 2)"})
	if got := resultIDs(t, r); len(got) != 0 {
		t.Errorf("segments filtered by the deleted parent: %v", got)
	}
	for _, id := range []string{child2, child1} {
		facetest.WantError(t, e.do(t, call{method: "GET", path: seg2Path + "/" + id, noSpec: "no 404 documented (docs/sendgrid.md \"Spec contradictions\" 9)"}), 404, seg404)
		facetest.WantError(t, e.do(t, call{method: "DELETE", path: seg2Path + "/" + id}), 404, seg404)
	}
	facetest.WantError(t, e.do(t, call{method: "GET", path: seg1Path + "/" + child1}), 404, errBody("segment_id", `segment "`+child1+`" does not exist`))
	if c := e.contactByEmail(t, "in0@example.com"); !facetest.JSONEqual(mustJSON(c["segment_ids"]), mustJSON([]string{free})) {
		t.Errorf("segment_ids after the list delete: %v, want only %s", c["segment_ids"], free)
	}
	if c := e.contactByEmail(t, "both0@example.com"); !facetest.JSONEqual(mustJSON(c["segment_ids"]), mustJSON(sortedIDs([]string{free, sibling}))) {
		t.Errorf("segment_ids of a contact on the other list: %v", c["segment_ids"])
	}

	// With its contacts: the job deletes them, the segments go at once.
	r = e.do(t, call{method: "DELETE", path: listsPath + "/" + other, query: map[string]string{"delete_contacts": "true"}})
	e.waitJob(t, facetest.WantStatus(t, r, http.StatusOK)["job_id"].(string))
	facetest.WantError(t, e.do(t, call{method: "GET", path: seg2Path + "/" + sibling, noSpec: "no 404 documented (docs/sendgrid.md \"Spec contradictions\" 9)"}), 404, seg404)
	if got := resultIDs(t, e.do(t, call{method: "GET", path: seg2Path,
		noSpec: "the spec types the 200 as one segment; the body is {\"results\":[…]} (docs/sendgrid.md \"Spec contradictions\" 2)"})); !slices.Equal(got, []string{free}) {
		t.Errorf("2.0 segments after the second list delete: %v, want [%s]", got, free)
	}
}

func sortedIDs(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// The list filter of both APIs (SendGrid's truth table, docs/sendgrid.md
// "Segments").
func TestSegmentListFilterTruthTable(t *testing.T) {
	e := newEnv(t)
	l1, l2 := e.createList(t, "L1"), e.createList(t, "L2")
	a := e.createSeg1(t, "A", "country = 'US'", l1)
	b := e.createSeg1(t, "B", "country = 'US'", l2)
	c := e.createSeg1(t, "C", "country = 'US'")
	d := e.createSeg2(t, "D", usSQL, l1).ID // 2.0: only the 2.0 list shows it
	sgc := e.createSeg2(t, "E", usSQL).ID

	rows := []struct {
		name      string
		query     map[string]string
		v1, v2    []string
		rawSuffix string
	}{
		{"ids win", map[string]string{"ids": a, "parent_list_ids": l2, "no_parent_list_id": "true"}, []string{a}, []string{a}, ""},
		{"nothing: all", nil, []string{a, b, c}, []string{a, b, c, d, sgc}, ""},
		{"parent lists", map[string]string{"parent_list_ids": l1}, []string{a}, []string{a, d}, ""},
		{"parent lists and none", map[string]string{"parent_list_ids": l1, "no_parent_list_id": "true"}, []string{a, c}, []string{a, c, d, sgc}, ""},
		{"no parent only", map[string]string{"no_parent_list_id": "true"}, []string{c}, []string{c, sgc}, ""},
		{"ids of both kinds", map[string]string{"ids": ids(b, d)}, []string{b}, []string{b, d}, ""},
	}
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			r := e.do(t, call{method: "GET", path: seg1Path, query: row.query})
			if got := resultIDs(t, r); !sameSet(got, row.v1) {
				t.Errorf("v1: %v, want %v", got, row.v1)
			}
			r = e.do(t, call{method: "GET", path: seg2Path, query: row.query, noSpec: "results envelope (docs/sendgrid.md \"Spec contradictions\" 2)"})
			if got := resultIDs(t, r); !sameSet(got, row.v2) {
				t.Errorf("2.0: %v, want %v", got, row.v2)
			}
			validateListItems(t, r)
		})
	}
	// ids repeated as ids=a&ids=b, and indexed as ids[0]=a&ids[1]=b (qs's
	// "indices" format), as other clients send them.
	r := e.do(t, call{method: "GET", path: seg1Path, rawQuery: "ids=" + a + "&ids=" + c})
	if got := resultIDs(t, r); !sameSet(got, []string{a, c}) {
		t.Errorf("repeated ids: %v", got)
	}
	for _, p := range []string{seg1Path, seg2Path} {
		r = e.do(t, call{method: "GET", path: p, rawQuery: "ids%5B1%5D=" + a + "&ids%5B0%5D=" + c + "&parent_list_ids[0]=" + l2, noSpec: "results envelope (docs/sendgrid.md \"Spec contradictions\" 2)"})
		if got := resultIDs(t, r); !sameSet(got, []string{a, c}) {
			t.Errorf("%s with indexed ids: %v, want %v", p, got, []string{a, c})
		}
	}
	r = e.do(t, call{method: "GET", path: seg2Path, rawQuery: "parent_list_ids[0]=" + l1, noSpec: "results envelope (docs/sendgrid.md \"Spec contradictions\" 2)"})
	if got := resultIDs(t, r); !sameSet(got, []string{a, d}) {
		t.Errorf("indexed parent_list_ids: %v, want %v", got, []string{a, d})
	}
	// v1 summaries carry parent_list_id.
	r = e.do(t, call{method: "GET", path: seg1Path, query: map[string]string{"ids": a}})
	var v1 struct {
		Results []map[string]any `json:"results"`
	}
	r.Decode(t, &v1)
	if len(v1.Results) != 1 || v1.Results[0]["parent_list_id"] != l1 || v1.Results[0]["name"] != "A" {
		t.Errorf("v1 summary: %s", r.Body)
	}
}

func resultIDs(t *testing.T, r facetest.Response) []string {
	t.Helper()
	var b struct {
		Results []struct {
			ID string `json:"id"`
		} `json:"results"`
	}
	facetest.WantStatus(t, r, 200)
	r.Decode(t, &b)
	out := []string{}
	for _, s := range b.Results {
		out = append(out, s.ID)
	}
	return out
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}

func TestSegmentV1GetAndDelete(t *testing.T) {
	e := newEnv(t)
	e.mkContacts(t, "us", 3, "US")
	e.mkContacts(t, "fr", 2, "FR")
	const q = "country = 'US' AND email LIKE '%@example.com'"
	id := e.createSeg1(t, "Americans", q)
	v2 := e.createSeg2(t, "two", usSQL).ID

	r := e.do(t, call{method: "GET", path: seg1Path + "/" + id})
	m := facetest.WantStatus(t, r, 200)
	if m["contacts_count"] != float64(3) || m["query_dsl"] != q || m["name"] != "Americans" || m["query_json"] != nil ||
		len(m["contacts_sample"].([]any)) != 3 || !facetest.JSONEqual(mustJSON(m["parent_list_ids"]), []byte(`[]`)) {
		t.Errorf("get: %s", r.Body)
	}

	// query_json is the query package's AST of the SGQL.
	r = e.do(t, call{method: "GET", path: seg1Path + "/" + id, query: map[string]string{"query_json": "true"}})
	m = facetest.WantStatus(t, r, 200)
	parsed, err := query.ParseSGQL(q)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := query.JSON(parsed)
	if !facetest.JSONEqual(mustJSON(m["query_json"]), want) {
		t.Errorf("query_json = %s, want %s", mustJSON(m["query_json"]), want)
	}
	if _, ok := m["query_json"].(map[string]any)["contacts"]; !ok {
		t.Errorf("query_json has no contacts root: %s", mustJSON(m["query_json"]))
	}
	wantFieldError(t, e.do(t, call{method: "GET", path: seg1Path + "/" + id, query: map[string]string{"query_json": "sure"}}), 400, "query_json", "")

	// The v1 API sees no 2.0 segments; a malformed id is a path no route
	// serves.
	for _, bad := range []string{v2, "00000000-0000-4000-8000-000000000000"} {
		facetest.WantError(t, e.do(t, call{method: "GET", path: seg1Path + "/" + bad, noSpec: specNoteV1(bad)}), 404, errBody("segment_id", `segment "`+bad+`" does not exist`))
		facetest.WantError(t, e.do(t, call{method: "DELETE", path: seg1Path + "/" + bad, noSpec: specNoteV1(bad)}), 404, errBody("segment_id", `segment "`+bad+`" does not exist`))
	}
	facetest.WantError(t, e.do(t, call{method: "GET", path: seg1Path + "/nope", noSpec: specNoteV1("nope")}), 404, errBody("", "resource not found"))
	facetest.WantError(t, e.do(t, call{method: "DELETE", path: seg1Path + "/nope", noSpec: specNoteV1("nope")}), 404, errBody("", "resource not found"))

	// Delete: 202 {}; the contacts stay.
	r = e.do(t, call{method: "DELETE", path: seg1Path + "/" + id})
	if r.Status != http.StatusAccepted || !facetest.JSONEqual(r.Body, []byte(`{}`)) {
		t.Errorf("delete: %d %s", r.Status, r.Body)
	}
	r = e.do(t, call{method: "GET", path: "/v3/marketing/contacts/count"})
	if m := facetest.WantStatus(t, r, 200); m["contact_count"] != float64(5) {
		t.Errorf("contacts after delete: %s", r.Body)
	}
	facetest.WantError(t, e.do(t, call{method: "GET", path: seg1Path + "/" + id}), 404, errBody("segment_id", `segment "`+id+`" does not exist`))
}

// specNoteV1 says why a v1 request with a malformed id is not validated:
// the spec's path parameter is a 36-character uuid, so kin-openapi finds
// no operation for it.
func specNoteV1(id string) string {
	if segmentd.IsUUID(id) {
		return ""
	}
	return "the path parameter is not a uuid, so the spec has no operation to check against"
}

// Without --legacy-v1-writes the removed writes are unrouted: 405 where
// another method serves the path, 404 for the bulk delete's path, which
// nothing else serves ("delete" is not a segment id).
func TestSegmentV1RemovedWrites(t *testing.T) {
	e := newEnv(t)
	id := e.createSeg1(t, "A", "country = 'US'")
	for _, tc := range []struct {
		c      call
		status int
		allow  string
	}{
		{call{method: "POST", path: seg1Path, body: `{"name":"B","query_dsl":"country = 'US'"}`}, http.StatusMethodNotAllowed, "GET, HEAD"},
		{call{method: "PATCH", path: seg1Path + "/" + id, body: `{"name":"B","query_dsl":"country = 'US'"}`}, http.StatusMethodNotAllowed, "DELETE, GET, HEAD"},
		{call{method: "POST", path: seg1Path + "/delete", body: `{"ids":["` + id + `"]}`}, http.StatusNotFound, ""},
	} {
		tc.c.noSpec = "removed from the current spec"
		r := e.do(t, tc.c)
		if tc.status == http.StatusNotFound {
			facetest.WantError(t, r, tc.status, errBody("", "resource not found"))
		} else {
			facetest.WantError(t, r, tc.status, authErr("method not allowed"))
		}
		if got := r.Header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.c.method, tc.c.path, got, tc.allow)
		}
	}
}

func TestSegmentV1LegacyWrites(t *testing.T) {
	e := newEnvWith(t, facetest.Config{}, sg.Options{LegacyV1Writes: true})
	list := e.createList(t, "L")
	e.mkContacts(t, "us", 4, "US", list)
	e.mkContacts(t, "out", 2, "US")
	legacy := "legacy endpoint: validated against the legacy spec"

	// Create with the older parent_list_id.
	r := e.do(t, call{method: "POST", path: seg1Path, noSpec: legacy,
		body: map[string]any{"name": "Listed", "query_dsl": "country = 'US'", "parent_list_id": list}})
	legacySpec.Check(t, "POST", "/v3/marketing/segments", "", r)
	m := facetest.WantStatus(t, r, http.StatusCreated)
	id, _ := m["id"].(string)
	if m["contacts_count"] != float64(4) || m["parent_list_id"] != list || len(m["contacts_sample"].([]any)) != 4 {
		t.Fatalf("create: %s", r.Body)
	}
	r = e.do(t, call{method: "GET", path: seg2Path + "/" + id})
	if s := decodeSeg(t, mustResponse(t, r, 200)); s.QueryVersion == nil || *s.QueryVersion != "" {
		t.Errorf("a legacy segment is v1: %s", r.Body)
	}

	// Update: name and query_dsl required; parent lists cannot change.
	r = e.do(t, call{method: "PATCH", path: seg1Path + "/" + id, noSpec: legacy,
		body: map[string]any{"name": "Listed2", "query_dsl": "email LIKE 'us1%'"}})
	legacySpec.Check(t, "PATCH", "/v3/marketing/segments/"+id, "", r)
	if m := facetest.WantStatus(t, r, 200); m["name"] != "Listed2" || m["contacts_count"] != float64(1) {
		t.Errorf("update: %s", r.Body)
	}
	facetest.WantError(t, e.do(t, call{method: "PATCH", path: seg1Path + "/" + id, noSpec: legacy, body: `{"name":"x"}`}), 400, errBody("query_dsl", "query_dsl is required"))
	wantFieldError(t, e.do(t, call{method: "PATCH", path: seg1Path + "/" + id, noSpec: legacy, body: `{"name":"x","query_dsl":"country = 'US'","parent_list_ids":[]}`}), 400, "parent_list_ids", "parent_list_ids cannot be changed")
	wantFieldError(t, e.do(t, call{method: "POST", path: seg1Path, noSpec: legacy, body: `{"name":"bad","query_dsl":"country = "}`}), 400, "query_dsl", "1:")
	facetest.WantError(t, e.do(t, call{method: "POST", path: seg1Path, noSpec: legacy, body: `{"query_dsl":"country = 'US'"}`}), 400, errBody("name", "name is required"))
	two := e.createSeg2(t, "two", usSQL).ID
	facetest.WantError(t, e.do(t, call{method: "PATCH", path: seg1Path + "/" + two, noSpec: legacy, body: `{"name":"x","query_dsl":"country = 'US'"}`}), 404, errBody("segment_id", `segment "`+two+`" does not exist`))

	// Bulk delete: 200 E6 naming the failures; the rest are deleted.
	other := e.createSeg1(t, "other", "country = 'FR'")
	missing := "00000000-0000-4000-8000-000000000000"
	r = e.do(t, call{method: "POST", path: seg1Path + "/delete", noSpec: legacy, body: map[string]any{"ids": []string{id, "bad", missing, two}}})
	legacySpec.Check(t, "POST", "/v3/marketing/segments/delete", "", r)
	wantJSON := `{"errors":[{"id":"bad","error":"invalid uuid"},{"id":"` + missing + `","error":"segment not found"},{"id":"` + two + `","error":"segment not found"}]}`
	if r.Status != 200 || !facetest.JSONEqual(r.Body, []byte(wantJSON)) {
		t.Errorf("bulk delete with failures: %d %s", r.Status, r.Body)
	}
	r = e.do(t, call{method: "POST", path: seg1Path + "/delete", noSpec: legacy, body: map[string]any{"ids": []string{other}}})
	legacySpec.Check(t, "POST", "/v3/marketing/segments/delete", "", r)
	if r.Status != http.StatusAccepted || !facetest.JSONEqual(r.Body, []byte(`{}`)) {
		t.Errorf("bulk delete: %d %s", r.Status, r.Body)
	}
	if got := resultIDs(t, e.do(t, call{method: "GET", path: seg1Path})); len(got) != 0 {
		t.Errorf("v1 segments left: %v", got)
	}
}

func mustResponse(t *testing.T, r facetest.Response, status int) facetest.Response {
	t.Helper()
	facetest.WantStatus(t, r, status)
	return r
}

func TestSegmentRefreshLimits(t *testing.T) {
	e := newEnvWith(t, facetest.Config{Now: time.Date(2030, 3, 12, 12, 0, 0, 0, time.UTC)}, sg.Options{})
	clock := e.Clock
	var segs []string
	for _, n := range []string{"s1", "s2", "s3", "s4", "s5", "s6"} {
		segs = append(segs, e.createSeg2(t, n, usSQL).ID)
	}
	refresh := func(id, tz string) facetest.Response {
		return e.do(t, call{method: "POST", path: seg2Path + "/refresh/" + id, body: map[string]string{"user_time_zone": tz}})
	}
	ok := func(id string) {
		t.Helper()
		r := refresh(id, "UTC")
		if m := facetest.WantStatus(t, r, http.StatusAccepted); !segmentd.IsUUID(m["job_id"].(string)) {
			t.Errorf("refresh: %s", r.Body)
		}
	}
	// The rate-limit headers of a 429 describe the limit that refused it:
	// its size, nothing left, and when it lifts.
	limited := func(id string, limit int, reset time.Time) {
		t.Helper()
		r := refresh(id, "UTC")
		facetest.WantError(t, r, http.StatusTooManyRequests, authErr("too many requests"))
		wantRateHeaders(t, r, limit, 0, reset)
	}
	midnight := time.Date(2030, 3, 13, 0, 0, 0, 0, time.UTC)

	ok(segs[0])
	limited(segs[0], 1, clock.Now().Add(time.Hour)) // 1 per hour
	clock.Advance(61 * time.Minute)
	ok(segs[0])
	clock.Advance(61 * time.Minute)
	limited(segs[0], 2, midnight) // 2 per day
	r := e.do(t, call{method: "GET", path: seg2Path + "/" + segs[0]})
	s := decodeSeg(t, r)
	if s.RefreshesUsed == nil || *s.RefreshesUsed != 2 || s.LastRefreshedAt != "2030-03-12T13:01:00.000Z" {
		t.Errorf("after two refreshes: %s", r.Body)
	}
	for _, id := range segs[1:5] {
		ok(id)
	}
	clock.Advance(61 * time.Minute)
	for _, id := range segs[1:5] {
		ok(id)
	}
	limited(segs[5], 10, midnight) // 10 per account per day
	// The day starts again at midnight in the caller's time zone: at
	// 2030-03-13T01:00Z it is still the 12th in Chicago (UTC-5), whose
	// midnight is the reset.
	clock.Advance(9*time.Hour + 57*time.Minute)
	r = refresh(segs[5], "America/Chicago")
	facetest.WantError(t, r, http.StatusTooManyRequests, authErr("too many requests"))
	wantRateHeaders(t, r, 10, 0, time.Date(2030, 3, 13, 5, 0, 0, 0, time.UTC))
	ok(segs[5])

	// Errors.
	facetest.WantError(t, refresh("00000000-0000-4000-8000-000000000000", "UTC"), 404, `{"error":"Segment does not exist."}`)
	facetest.WantError(t, e.do(t, call{method: "POST", path: seg2Path + "/refresh/nope", body: `{"user_time_zone":"UTC"}`,
		noSpec: "the path parameter is not a uuid, so the spec has no operation to check against"}), 404, `{"error":"Segment does not exist."}`)
	facetest.WantError(t, e.do(t, call{method: "POST", path: seg2Path + "/refresh/" + segs[5], body: `{}`}), 400, errBody("user_time_zone", "user_time_zone is required"))
	wantFieldError(t, refresh(segs[5], "Mars/Olympus"), 400, "user_time_zone", "")
}

// TestSegmentRefreshLimitHeaders: when two limits refuse a refresh, the
// 429 reports the one that lifts last, and a refresh at its reset passes;
// every other answer reports the per-minute budget.
func TestSegmentRefreshLimitHeaders(t *testing.T) {
	start := time.Date(2030, 3, 12, 22, 0, 0, 0, time.UTC)
	e := newEnvWith(t, facetest.Config{Now: start}, sg.Options{})
	id := e.createSeg2(t, "s", usSQL).ID
	refresh := func() facetest.Response {
		return e.do(t, call{method: "POST", path: seg2Path + "/refresh/" + id, body: map[string]string{"user_time_zone": "UTC"}})
	}
	r := refresh()
	facetest.WantStatus(t, r, http.StatusAccepted)
	if got := r.Header.Get("X-RateLimit-Limit"); got != "600" {
		t.Errorf("a refresh that passes: X-RateLimit-Limit %q, want the per-minute 600", got)
	}
	e.Clock.Set(start.Add(90 * time.Minute)) // 23:30: the second today
	facetest.WantStatus(t, refresh(), http.StatusAccepted)

	// 23:45: the hourly limit (lifting at 00:30) and the daily one (at
	// 00:00) both refuse; a retry at midnight would still be refused.
	e.Clock.Set(start.Add(105 * time.Minute))
	r = refresh()
	facetest.WantError(t, r, http.StatusTooManyRequests, authErr("too many requests"))
	reset := start.Add(150 * time.Minute)
	wantRateHeaders(t, r, 1, 0, reset)
	e.Clock.Set(reset.Add(-time.Second))
	facetest.WantError(t, refresh(), http.StatusTooManyRequests, authErr("too many requests"))
	e.Clock.Set(reset)
	facetest.WantStatus(t, refresh(), http.StatusAccepted)
}

// wantRateHeaders checks SendGrid's X-RateLimit-* headers.
func wantRateHeaders(t *testing.T, r facetest.Response, limit, remaining int, reset time.Time) {
	t.Helper()
	got := [3]string{r.Header.Get("X-RateLimit-Limit"), r.Header.Get("X-RateLimit-Remaining"), r.Header.Get("X-RateLimit-Reset")}
	want := [3]string{strconv.Itoa(limit), strconv.Itoa(remaining), strconv.FormatInt(reset.Unix(), 10)}
	if got != want {
		t.Errorf("%s: X-RateLimit-Limit, -Remaining, -Reset = %q, want %q (reset %s)", r.Request, got, want, reset.Format(time.RFC3339))
	}
}

func TestSegmentsScheduledRefresh(t *testing.T) {
	start := time.Date(2030, 3, 10, 12, 0, 0, 0, time.UTC)
	e := newEnvWith(t, facetest.Config{Now: start, Service: audience.Config{Refresh: audience.RefreshScheduled}}, sg.Options{})
	clock := e.Clock
	e.mkContacts(t, "us", 5, "US")

	// A new segment shows an empty sample until its first update, 15
	// minutes later.
	s := e.createSeg2(t, "Americans", usSQL)
	if s.ContactsCount != 0 || s.SampleUpdatedAt != "2030-03-10T12:00:00.000Z" || s.NextSampleUpdate != "2030-03-10T12:15:00.000Z" {
		t.Errorf("new scheduled segment: %+v", s)
	}
	get := func() seg2 {
		t.Helper()
		return decodeSeg(t, mustResponse(t, e.do(t, call{method: "GET", path: seg2Path + "/" + s.ID}), 200))
	}
	clock.Advance(16 * time.Minute)
	g := get()
	if g.ContactsCount != 5 || len(g.ContactsSample) != 5 || g.SampleUpdatedAt != "2030-03-10T12:16:00.000Z" || g.NextSampleUpdate != "2030-03-10T13:16:00.000Z" {
		t.Errorf("first update: count %d, updated %s, next %s", g.ContactsCount, g.SampleUpdatedAt, g.NextSampleUpdate)
	}

	// New members wait for the next update...
	e.mkContacts(t, "us2-", 3, "US")
	clock.Advance(10 * time.Minute)
	if g := get(); g.ContactsCount != 5 {
		t.Errorf("count moved before next_sample_update: %d", g.ContactsCount)
	}
	// ...but segment_ids (membership) are exact.
	c := e.contactByEmail(t, "us2-0@example.com")
	if !facetest.JSONEqual(mustJSON(c["segment_ids"]), mustJSON([]string{s.ID})) {
		t.Errorf("segment_ids in scheduled mode: %v", c["segment_ids"])
	}
	// A manual refresh updates the count at once.
	facetest.WantStatus(t, e.do(t, call{method: "POST", path: seg2Path + "/refresh/" + s.ID, body: `{"user_time_zone":"UTC"}`}), http.StatusAccepted)
	if g := get(); g.ContactsCount != 8 || g.LastRefreshedAt == "" {
		t.Errorf("after a manual refresh: %+v", g)
	}
	// And the schedule catches up without one.
	e.mkContacts(t, "us3-", 2, "US")
	clock.Advance(61 * time.Minute)
	if g := get(); g.ContactsCount != 10 {
		t.Errorf("after the next scheduled update: %d", g.ContactsCount)
	}
}

func TestContactsSearch(t *testing.T) {
	e := newEnv(t)
	e.mkContacts(t, "us", 60, "US")
	e.mkContacts(t, "ca", 3, "CA")
	const path = "/v3/marketing/contacts/search"

	r := e.do(t, call{method: "POST", path: path, body: map[string]string{"query": "country = 'CA'"}})
	var res struct {
		Result []struct {
			Email      string   `json:"email"`
			SegmentIDs []string `json:"segment_ids"`
		} `json:"result"`
		ContactCount int `json:"contact_count"`
		Metadata     struct {
			Self string `json:"self"`
		} `json:"_metadata"`
	}
	facetest.WantStatus(t, r, 200)
	r.Decode(t, &res)
	if res.ContactCount != 3 || len(res.Result) != 3 || res.Metadata.Self != e.URL+path {
		t.Errorf("search: %s", r.Body)
	}
	for _, c := range res.Result {
		if !strings.HasPrefix(c.Email, "ca") || c.SegmentIDs == nil {
			t.Errorf("result %+v", c)
		}
	}

	// Only the first 50 matches, but the count of all.
	r = e.do(t, call{method: "POST", path: path, body: map[string]string{"query": "country = 'US' OR country = 'CA'"}})
	res.Result = nil
	facetest.WantStatus(t, r, 200)
	r.Decode(t, &res)
	if res.ContactCount != 63 || len(res.Result) != 50 {
		t.Errorf("search over 50: count %d, %d results", res.ContactCount, len(res.Result))
	}

	// No match: an empty result.
	r = e.do(t, call{method: "POST", path: path, body: map[string]string{"query": "country = 'DE'"}})
	if m := facetest.WantStatus(t, r, 200); m["contact_count"] != float64(0) || !facetest.JSONEqual(mustJSON(m["result"]), []byte(`[]`)) {
		t.Errorf("no match: %s", r.Body)
	}

	// A bad query is 400 on "query" with the position.
	r = e.do(t, call{method: "POST", path: path, body: map[string]string{"query": "country = "}})
	wantFieldError(t, r, 400, "query", "1:")
	r = e.do(t, call{method: "POST", path: path, body: map[string]string{"query": "nickname = 'x'"}})
	wantFieldError(t, r, 400, "query", "1:1: ")
	facetest.WantError(t, e.do(t, call{method: "POST", path: path, body: `{}`}), 400, errBody("query", "query is required"))
	facetest.WantError(t, e.do(t, call{method: "POST", path: path, body: `{"query":""}`}), 400, errBody("query", "query is required"))
}

// Contacts search takes the engagement pseudo-fields as v1 segments do
// (docs/decisions.md §6), over events ingested through the service.
func TestContactsSearchEngagement(t *testing.T) {
	now := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC)
	e := newEnvWith(t, facetest.Config{Now: now}, sg.Options{})
	e.upsert(t, map[string]any{"contacts": []map[string]any{
		{"email": "recent@example.com", "country": "US"},
		{"email": "old@example.com", "country": "US"},
		{"email": "clicker@example.com", "country": "CA"},
		{"email": "quiet@example.com", "country": "US"},
	}})
	day := 24 * time.Hour
	res, err := e.Svc.AddEvents(context.Background(), e.DefaultAccount(), []segmentd.Event{
		{Email: "recent@example.com", Type: "open", Timestamp: now.Add(-3 * day)},
		{Email: "old@example.com", Type: "open", Timestamp: now.Add(-40 * day)},
		{Email: "old@example.com", Type: "delivered", Timestamp: now.Add(-2 * day)},
		{Email: "clicker@example.com", Type: "click", Timestamp: now.Add(-1 * day)},
		{Email: "nobody@example.com", Type: "open", Timestamp: now.Add(-1 * day)},
	})
	if err != nil || res.Added != 5 {
		t.Fatalf("AddEvents = %+v, %v", res, err)
	}
	const path = "/v3/marketing/contacts/search"
	for _, tc := range []struct {
		query string
		want  []string
	}{
		// The query of the issue: the whole query is one engagement group.
		{"event_source = 'mail' AND event_type = 'open' AND event_timestamp >= (NOW() - interval 30 day)", []string{"recent@example.com"}},
		{"(event_type = 'open')", []string{"old@example.com", "recent@example.com"}},
		{"country = 'US' AND NOT (event_type = 'open')", []string{"quiet@example.com"}},
		{"(event_type = 'click' AND event_timestamp >= NOW() - INTERVAL 2 DAY) OR (event_type = 'delivered')", []string{"clicker@example.com", "old@example.com"}},
		{"(event_type = 'bounce')", nil},
	} {
		r := e.do(t, call{method: "POST", path: path, body: map[string]string{"query": tc.query}})
		var got struct {
			Result []struct {
				Email string `json:"email"`
			} `json:"result"`
			ContactCount int `json:"contact_count"`
		}
		facetest.WantStatus(t, r, http.StatusOK)
		r.Decode(t, &got)
		var emails []string
		for _, c := range got.Result {
			emails = append(emails, c.Email)
		}
		slices.Sort(emails)
		if !slices.Equal(emails, tc.want) || got.ContactCount != len(tc.want) {
			t.Errorf("search %s: %v (contact_count %d), want %v", tc.query, emails, got.ContactCount, tc.want)
		}
	}
}

// Every new operation answers 401 and 403 like the rest of the face.
func TestSegmentsAuth(t *testing.T) {
	e := newEnv(t)
	const id = "00000000-0000-4000-8000-000000000001"
	readOnly := e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeSendGridRead)
	writeOnly := e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeSendGridWrite)
	for _, c := range []call{
		{method: "POST", path: seg2Path, body: `{"name":"n","query_dsl":"` + usSQL + `"}`},
		{method: "GET", path: seg2Path},
		{method: "GET", path: seg2Path + "/" + id},
		{method: "PATCH", path: seg2Path + "/" + id, body: `{"name":"m"}`},
		{method: "DELETE", path: seg2Path + "/" + id},
		{method: "POST", path: seg2Path + "/refresh/" + id, body: `{"user_time_zone":"UTC"}`},
		{method: "GET", path: seg1Path},
		{method: "GET", path: seg1Path + "/" + id},
		{method: "DELETE", path: seg1Path + "/" + id},
		{method: "POST", path: "/v3/marketing/contacts/search", body: `{"query":"country = 'US'"}`},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			e.wantRefusals(t, c, readOnly, writeOnly)
		})
	}
}

// brokenSegments fails every segment store read and write.
type brokenSegments struct{ segmentd.SegmentStore }

var errDiskOnFire = errors.New("segment store: disk on fire")

func (brokenSegments) CreateSegment(context.Context, int64, segmentd.Segment, int) (segmentd.Segment, error) {
	return segmentd.Segment{}, errDiskOnFire
}
func (brokenSegments) Segments(context.Context, int64) ([]segmentd.Segment, error) {
	return nil, errDiskOnFire
}
func (brokenSegments) Segment(context.Context, int64, string) (segmentd.Segment, error) {
	return segmentd.Segment{}, errDiskOnFire
}

// A failing segment store answers each API's 500 envelope: E4 on the 2.0
// operations, E5 on refresh, E3 on v1 and search; the cause is logged only.
func TestSegmentsServerErrors(t *testing.T) {
	e := newEnvWith(t, facetest.Config{Service: audience.Config{Segments: brokenSegments{}}}, sg.Options{})
	const id = "00000000-0000-4000-8000-000000000001"
	e4 := `{"errors":[{"field":"","message":"internal server error"}]}`
	e3 := `{"errors":[{"message":"internal server error"}]}`
	for _, c := range []struct {
		call
		want string
	}{
		{call{method: "POST", path: seg2Path, body: `{"name":"n","query_dsl":"` + usSQL + `"}`}, e4},
		{call{method: "GET", path: seg2Path}, e4},
		{call{method: "GET", path: seg2Path + "/" + id}, e4},
		{call{method: "PATCH", path: seg2Path + "/" + id, body: `{"name":"m"}`}, e4},
		{call{method: "DELETE", path: seg2Path + "/" + id}, e4},
		{call{method: "POST", path: seg2Path + "/refresh/" + id, body: `{"user_time_zone":"UTC"}`}, `{"error":"internal server error"}`},
		{call{method: "GET", path: seg1Path}, e3},
		{call{method: "GET", path: seg1Path + "/" + id}, e3},
		{call{method: "DELETE", path: seg1Path + "/" + id}, e3},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			facetest.WantError(t, e.do(t, c.call), 500, c.want)
		})
	}
	if !strings.Contains(e.Logs.String(), "disk on fire") {
		t.Errorf("the cause was not logged:\n%s", e.Logs.String())
	}
}
