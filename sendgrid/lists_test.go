package sendgrid_test

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/segmentd/segmentd/internal/facetest"
)

const listsPath = "/v3/marketing/lists"

func (e *env) createList(t *testing.T, name string) string {
	t.Helper()
	r := e.do(t, call{method: "POST", path: listsPath, body: map[string]string{"name": name}})
	return facetest.WantStatus(t, r, http.StatusCreated)["id"].(string)
}

func TestLists(t *testing.T) {
	e := newEnv(t)

	// Create: 201 with contact_count 0 and _metadata.self.
	r := e.do(t, call{method: "POST", path: listsPath, body: map[string]string{"name": "Customers"}})
	m := facetest.WantStatus(t, r, http.StatusCreated)
	id := m["id"].(string)
	want := fmt.Sprintf(`{"id":%q,"name":"Customers","contact_count":0,"_metadata":{"self":%q}}`, id, e.URL+listsPath+"/"+id)
	if !facetest.JSONEqual(r.Body, []byte(want)) {
		t.Errorf("create = %s, want %s", r.Body, want)
	}

	// Put two contacts on it.
	job := e.upsert(t, map[string]any{"list_ids": []string{id}, "contacts": []any{
		map[string]any{"email": "b@example.com"}, map[string]any{"email": "a@example.com"}}})
	if job["status"] != "completed" {
		t.Fatalf("upsert job: %v", job)
	}

	// Get, with and without the sample.
	r = e.do(t, call{method: "GET", path: listsPath + "/" + id})
	want = fmt.Sprintf(`{"id":%q,"name":"Customers","contact_count":2,"_metadata":{"self":%q}}`, id, e.URL+listsPath+"/"+id)
	if facetest.WantStatus(t, r, 200); !facetest.JSONEqual(r.Body, []byte(want)) {
		t.Errorf("get = %s, want %s", r.Body, want)
	}
	// contact_sample is an array, not the single object the spec's schema
	// says (docs/sendgrid.md "Spec contradictions" 3), so this one response
	// is not validated.
	r = e.do(t, call{method: "GET", path: listsPath + "/" + id, query: map[string]string{"contact_sample": "true"},
		noSpec: "contact_sample is an array (docs/sendgrid.md \"Spec contradictions\" 3)"})
	var got struct {
		ContactCount  int `json:"contact_count"`
		ContactSample []struct {
			Email   string   `json:"email"`
			ListIDs []string `json:"list_ids"`
		} `json:"contact_sample"`
	}
	facetest.WantStatus(t, r, 200)
	r.Decode(t, &got)
	if got.ContactCount != 2 || len(got.ContactSample) != 2 {
		t.Fatalf("sample: %s", r.Body)
	}
	for _, c := range got.ContactSample {
		if len(c.ListIDs) != 1 || c.ListIDs[0] != id {
			t.Errorf("sample contact %s list_ids = %v", c.Email, c.ListIDs)
		}
	}

	// Rename.
	r = e.do(t, call{method: "PATCH", path: listsPath + "/" + id, body: map[string]string{"name": "Buyers"}})
	if m := facetest.WantStatus(t, r, 200); m["name"] != "Buyers" || m["contact_count"] != float64(2) {
		t.Errorf("rename = %s", r.Body)
	}

	// Count.
	r = e.do(t, call{method: "GET", path: listsPath + "/" + id + "/contacts/count"})
	if facetest.WantStatus(t, r, 200); !facetest.JSONEqual(r.Body, []byte(`{"contact_count":2,"billable_count":2}`)) {
		t.Errorf("count = %s", r.Body)
	}

	other := e.createList(t, "Other")
	missing := "00000000-0000-4000-8000-000000000000"
	errCases := []errCase{
		{"create without name", call{method: "POST", path: listsPath, body: `{}`}, 400, errBody("name", "name is required")},
		{"create empty name", call{method: "POST", path: listsPath, body: `{"name":"  "}`}, 400, errBody("name", "name is required")},
		{"create name over 100", call{method: "POST", path: listsPath, body: map[string]string{"name": strings.Repeat("x", 101)}}, 400, errBody("name", "name must be at most 100 characters")},
		{"create duplicate ignoring case", call{method: "POST", path: listsPath, body: `{"name":"buyers"}`}, 400, errBody("name", `a list named "buyers" already exists`)},
		{"create name not a string", call{method: "POST", path: listsPath, body: `{"name":["x"]}`}, 400, errBody("name", "name has an array where a string is expected")},
		{"create malformed", call{method: "POST", path: listsPath, body: `{"name" "x"}`}, 400, errBody("name", "name: invalid JSON at byte 8: expected ':' after the key, found '\"'")},
		{"get unknown", call{method: "GET", path: listsPath + "/" + missing,
			// The spec's GET 404 is a bare array; segmentd answers the
			// {"errors":[…]} SendGrid uses elsewhere (docs/sendgrid.md
			// "Spec contradictions" 7).
			noSpec: "GET /lists/{id} 404 is a bare array in the spec (docs/sendgrid.md \"Spec contradictions\" 7)"},
			404, errBody("id", `list "`+missing+`" does not exist`)},
		{"get malformed id", call{method: "GET", path: listsPath + "/not-a-uuid", noSpec: "docs/sendgrid.md \"Spec contradictions\" 7"}, 404, errBody("", "resource not found")},
		{"get bad contact_sample", call{method: "GET", path: listsPath + "/" + id, query: map[string]string{"contact_sample": "maybe"}},
			400, errBody("contact_sample", "contact_sample must be true or false")},
		{"rename unknown", call{method: "PATCH", path: listsPath + "/" + missing, body: `{"name":"x"}`}, 404, errBody("id", `list "`+missing+`" does not exist`)},
		{"rename to a taken name", call{method: "PATCH", path: listsPath + "/" + other, body: `{"name":"BUYERS"}`}, 400, errBody("name", `a list named "BUYERS" already exists`)},
		{"rename empty", call{method: "PATCH", path: listsPath + "/" + other, body: `{"name":""}`}, 400, errBody("name", "name is required")},
		{"delete unknown", call{method: "DELETE", path: listsPath + "/" + missing}, 404, errBody("id", `list "`+missing+`" does not exist`)},
		{"delete malformed id", call{method: "DELETE", path: listsPath + "/42"}, 404, errBody("", "resource not found")},
		{"delete bad flag", call{method: "DELETE", path: listsPath + "/" + other, query: map[string]string{"delete_contacts": "yes"}}, 400, errBody("delete_contacts", "delete_contacts must be true or false")},
		{"count unknown", call{method: "GET", path: listsPath + "/" + missing + "/contacts/count"}, 404, errBody("id", `list "`+missing+`" does not exist`)},
		{"remove without contact_ids", call{method: "DELETE", path: listsPath + "/" + id + "/contacts"}, 400, bareErr("contact_ids", "contact_ids is required")},
		{"remove malformed contact id", call{method: "DELETE", path: listsPath + "/" + id + "/contacts", query: map[string]string{"contact_ids": "nope"}},
			400, bareErr("contact_ids", `contact id "nope" is not a valid UUID`)},
		{"remove unknown contact", call{method: "DELETE", path: listsPath + "/" + id + "/contacts", query: map[string]string{"contact_ids": missing}},
			404, errBody("contact_ids", "one or more contact ids do not exist")},
		{"remove from unknown list", call{method: "DELETE", path: listsPath + "/" + missing + "/contacts", query: map[string]string{"contact_ids": missing}},
			404, errBody("id", `list "`+missing+`" does not exist`)},
	}
	e.wantErrors(t, errCases)

	// Remove a contact from the list: 202 + job; the contact stays.
	a := e.contactByEmail(t, "a@example.com")["id"].(string)
	r = e.do(t, call{method: "DELETE", path: listsPath + "/" + id + "/contacts", query: map[string]string{"contact_ids": a}})
	job = e.waitJob(t, facetest.WantStatus(t, r, http.StatusAccepted)["job_id"].(string))
	if job["status"] != "completed" || job["job_type"] != "delete" {
		t.Errorf("remove job = %v", job)
	}
	if ids := e.contactByEmail(t, "a@example.com")["list_ids"].([]any); len(ids) != 0 {
		t.Errorf("after removal list_ids = %v", ids)
	}
	r = e.do(t, call{method: "GET", path: listsPath + "/" + id + "/contacts/count"})
	if facetest.WantStatus(t, r, 200); !facetest.JSONEqual(r.Body, []byte(`{"contact_count":1,"billable_count":1}`)) {
		t.Errorf("count after removal = %s", r.Body)
	}

	// Delete without contacts: 204, contacts stay.
	r = e.do(t, call{method: "DELETE", path: listsPath + "/" + other})
	if r.Status != http.StatusNoContent || len(r.Body) != 0 {
		t.Errorf("delete = %d %q", r.Status, r.Body)
	}
	// Delete with contacts: 200 {job_id}; the list's contacts are deleted.
	r = e.do(t, call{method: "DELETE", path: listsPath + "/" + id, query: map[string]string{"delete_contacts": "true"}})
	job = e.waitJob(t, facetest.WantStatus(t, r, http.StatusOK)["job_id"].(string))
	if job["status"] != "completed" || job["results"].(map[string]any)["deleted_count"] != float64(1) {
		t.Errorf("delete job = %v", job)
	}
	facetest.WantError(t, e.do(t, call{method: "GET", path: listsPath + "/" + id, noSpec: "docs/sendgrid.md \"Spec contradictions\" 7"}), 404, errBody("id", `list "`+id+`" does not exist`))
	r = e.do(t, call{method: "GET", path: "/v3/marketing/contacts/count"})
	if m := facetest.WantStatus(t, r, 200); m["contact_count"] != float64(1) {
		t.Errorf("contacts after list delete: %s", r.Body)
	}
}

func TestListPaging(t *testing.T) {
	e := newEnv(t)
	var ids []string
	for i := range 5 {
		ids = append(ids, e.createList(t, fmt.Sprintf("list %d", i)))
	}
	sort.Strings(ids) // pages are ordered by id

	type page struct {
		Result []struct {
			ID string `json:"id"`
		} `json:"result"`
		Metadata struct {
			Prev  *string `json:"prev"`
			Self  string  `json:"self"`
			Next  *string `json:"next"`
			Count int     `json:"count"`
		} `json:"_metadata"`
	}
	get := func(query map[string]string) page {
		t.Helper()
		r := e.do(t, call{method: "GET", path: listsPath, query: query})
		facetest.WantStatus(t, r, 200)
		var p page
		r.Decode(t, &p)
		return p
	}
	tokenOf := func(link string) string {
		_, tok, _ := strings.Cut(link, "page_token=")
		return tok
	}
	base := e.URL + listsPath

	// Default page: all 5, no prev, no next.
	p := get(nil)
	if len(p.Result) != 5 || p.Metadata.Prev != nil || p.Metadata.Next != nil || p.Metadata.Count != 5 || p.Metadata.Self != base+"?page_size=100&page_token=" {
		t.Errorf("default page: %+v", p)
	}

	// Pages of 2: walk forward, then back with prev.
	p1 := get(map[string]string{"page_size": "2"})
	if len(p1.Result) != 2 || p1.Result[0].ID != ids[0] || p1.Metadata.Prev != nil || p1.Metadata.Next == nil {
		t.Fatalf("page 1: %+v", p1)
	}
	p2 := get(map[string]string{"page_size": "2", "page_token": tokenOf(*p1.Metadata.Next)})
	if len(p2.Result) != 2 || p2.Result[0].ID != ids[2] || p2.Metadata.Prev == nil || p2.Metadata.Next == nil {
		t.Fatalf("page 2: %+v", p2)
	}
	if *p2.Metadata.Prev != base+"?page_size=2&page_token=" {
		t.Errorf("page 2 prev = %s", *p2.Metadata.Prev)
	}
	p3 := get(map[string]string{"page_size": "2", "page_token": tokenOf(*p2.Metadata.Next)})
	if len(p3.Result) != 1 || p3.Result[0].ID != ids[4] || p3.Metadata.Next != nil || p3.Metadata.Prev == nil || p3.Metadata.Count != 5 {
		t.Fatalf("page 3: %+v", p3)
	}
	back := get(map[string]string{"page_size": "2", "page_token": tokenOf(*p3.Metadata.Prev)})
	if len(back.Result) != 2 || back.Result[0].ID != ids[2] {
		t.Errorf("prev of page 3: %+v, want page 2", back)
	}

	// page_size limits, each named (the spec documents no 400 for this
	// operation; the body is checked against SendGrid's common E2 envelope).
	for _, ps := range []string{"0", "1001", "-1", "ten", "2.5"} {
		facetest.WantError(t, e.do(t, call{method: "GET", path: listsPath, query: map[string]string{"page_size": ps}}),
			400, errBody("page_size", "page_size must be an integer between 1 and 1000"))
	}
	for _, ps := range []string{"1", "1000"} {
		facetest.WantStatus(t, e.do(t, call{method: "GET", path: listsPath, query: map[string]string{"page_size": ps}}), 200)
	}
	facetest.WantError(t, e.do(t, call{method: "GET", path: listsPath, query: map[string]string{"page_token": "garbage"}}),
		400, errBody("page_token", "page_token is not a valid page token"))
}

// A list's contact_sample comes from the engine (docs/decisions.md §19):
// up to 50 of its members, the most recently created first, each in full
// with its lists and segments, and with a job's contacts as soon as the
// job reads completed. A contact created before another but put on the
// list after it comes after it: the order is the contacts' creation, not
// their joining, which the store's sample followed.
func TestListSampleNewestFirst(t *testing.T) {
	e := newEnv(t)
	id := e.createList(t, "Customers")
	other := e.createList(t, "Other")
	seg := facetest.WantStatus(t, e.do(t, call{method: "POST", path: "/v3/marketing/segments/2.0",
		body: map[string]any{"name": "US", "query_dsl": "SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"}}), 201)["id"].(string)
	type sampled struct {
		ID         string   `json:"id"`
		Email      string   `json:"email"`
		Country    string   `json:"country"`
		ListIDs    []string `json:"list_ids"`
		SegmentIDs []string `json:"segment_ids"`
	}
	sample := func() (int, []sampled) {
		t.Helper()
		r := e.do(t, call{method: "GET", path: listsPath + "/" + id, query: map[string]string{"contact_sample": "true"},
			noSpec: "contact_sample is an array (docs/sendgrid.md \"Spec contradictions\" 3)"})
		var got struct {
			ContactCount  int       `json:"contact_count"`
			ContactSample []sampled `json:"contact_sample"`
		}
		facetest.WantStatus(t, r, 200)
		r.Decode(t, &got)
		return got.ContactCount, got.ContactSample
	}
	emails := func(cs []sampled) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Email)
		}
		return out
	}
	done := func(job map[string]any) {
		t.Helper()
		if job["status"] != "completed" {
			t.Fatalf("upsert job: %v", job)
		}
	}

	done(e.upsert(t, map[string]any{"contacts": []any{map[string]any{"email": "eve@example.com", "country": "US"}}}))
	done(e.upsert(t, map[string]any{"list_ids": []string{id, other}, "contacts": []any{map[string]any{"email": "fay@example.com"}}}))
	// Eve, created first, joins the list last.
	done(e.upsert(t, map[string]any{"list_ids": []string{id}, "contacts": []any{map[string]any{"email": "eve@example.com"}}}))
	n, cs := sample()
	if got := emails(cs); n != 2 || !slices.Equal(got, []string{"fay@example.com", "eve@example.com"}) {
		t.Fatalf("sample = %v of %d, want fay then eve (newest created first), of 2", got, n)
	}
	fay, eve := cs[0], cs[1]
	want := []string{id, other}
	sort.Strings(want)
	if !slices.Equal(fay.ListIDs, want) || len(fay.SegmentIDs) != 0 {
		t.Errorf("fay in the sample: lists %v, segments %v; want lists %v, no segment", fay.ListIDs, fay.SegmentIDs, want)
	}
	if eve.Country != "US" || !slices.Equal(eve.ListIDs, []string{id}) || !slices.Equal(eve.SegmentIDs, []string{seg}) {
		t.Errorf("eve in the sample: %+v; want country US, lists [%s], segments [%s]", eve, id, seg)
	}

	// 55 new members in one job: the sample is 50 of them, the newest
	// first, which are the greatest ids (the store issues increasing ids).
	var batch []any
	for i := range 55 {
		batch = append(batch, map[string]any{"email": fmt.Sprintf("n%02d@example.com", i)})
	}
	done(e.upsert(t, map[string]any{"list_ids": []string{id}, "contacts": batch}))
	n, cs = sample()
	if n != 57 || len(cs) != 50 {
		t.Fatalf("sample of %d contacts, count %d; want 50 of 57", len(cs), n)
	}
	for i, c := range cs {
		if c.Email == "eve@example.com" || c.Email == "fay@example.com" {
			t.Fatalf("sample[%d] is %s, older than the 55 new members", i, c.Email)
		}
		if i > 0 && c.ID >= cs[i-1].ID {
			t.Fatalf("sample ids not newest first: %s after %s", c.ID, cs[i-1].ID)
		}
	}
}
