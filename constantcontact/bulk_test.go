package constantcontact_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	cc "github.com/segmentd/segmentd/constantcontact"
	"github.com/segmentd/segmentd/internal/facetest"
)

// waitActivity polls GET /v3/activities/{id} until the activity has
// finished, and returns it.
func (e *env) waitActivity(t *testing.T, id string) map[string]any {
	t.Helper()
	var a map[string]any
	facetest.Poll(t, "activity "+id, func() bool {
		a = e.must(t, facetest.Request{Method: "GET", Path: "/v3/activities/" + id}, 200)
		return a["state"] != "processing"
	})
	return a
}

// post sends an activity request, wants 201 with a fresh activity, and
// returns it once finished.
func (e *env) activity(t *testing.T, kind string, body any) map[string]any {
	t.Helper()
	a := e.must(t, facetest.Request{Method: "POST", Path: "/v3/activities/" + kind, Body: body}, 201)
	id, _ := a["activity_id"].(string)
	links := a["_links"].(map[string]any)["self"].(map[string]any)["href"]
	if !segmentd.IsUUID(id) || links != "/v3/activities/"+id || a["state"] != "initialized" && a["state"] != "completed" {
		t.Fatalf("POST %s = %v", kind, a)
	}
	return e.waitActivity(t, id)
}

// emailsOnList returns the sorted emails of a list's members ("-" for a
// contact without one).
func (e *env) emailsOnList(t *testing.T, list string) []string {
	t.Helper()
	var out []string
	for _, c := range e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts?limit=500&lists=" + list}, 200)["contacts"].([]any) {
		email := "-"
		if ea, ok := c.(map[string]any)["email_address"].(map[string]any); ok {
			email = ea["address"].(string)
		}
		out = append(out, email)
	}
	slices.Sort(out)
	return out
}

func TestJSONImport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	l, _ := e.Svc.CreateList(ctx, acct, "Imported")
	score, _ := e.Svc.CreateField(ctx, acct, "Score", segmentd.FieldNumber)
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("old@example.com"), FirstName: facetest.Ptr("Old"), LastName: facetest.Ptr("Timer")}})

	done := e.activity(t, "contacts_json_import", map[string]any{
		"import_data": []map[string]any{
			{"email": "New@Example.com", "first_name": "Ann", "home_phone": "555-0100", "work_street": "1 Main St", "work_city": "Waltham", "cf:score": "12.5"},
			{"email": "old@example.com", "first_name": "Older"},
		},
		"list_ids": []string{l.ID},
	})
	st := done["status"].(map[string]any)
	if done["state"] != "completed" || done["percent_done"] != float64(100) || st["items_total_count"] != float64(2) || st["person_count"] != float64(2) ||
		st["error_count"] != float64(0) || st["items_completed_count"] != float64(2) || len(done["activity_errors"].([]any)) != 0 {
		t.Fatalf("finished import = %v", done)
	}
	_, found, _ := e.Svc.ContactsByEmails(ctx, acct, []string{"new@example.com", "old@example.com"})
	n, o := found["new@example.com"], found["old@example.com"]
	if n.FirstName != "Ann" || n.PhoneNumber != "555-0100" || n.AddressLine1 != "1 Main St" || n.City != "Waltham" || n.CustomFields[score.ID].Number != 12.5 ||
		o.FirstName != "Older" || o.LastName != "Timer" {
		t.Fatalf("imported contacts: %+v\n%+v", n, o)
	}
	if got := e.emailsOnList(t, l.ID); fmt.Sprint(got) != "[new@example.com old@example.com]" {
		t.Fatalf("on the list: %v", got)
	}
	// SendGrid's job endpoint does not show the activity.
	if _, err := e.Svc.Job(ctx, acct, done["activity_id"].(string)); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("Job(activity) = %v", err)
	}

	validation := func(_, msg string) string { return ccErr("activities.api.validation.error", msg) }
	unknown := segmentd.NewID()
	big := make([]map[string]string, audience.MaxImportContacts+1)
	for i := range big {
		big[i] = map[string]string{"email": "a@b.co"}
	}
	lists := make([]string, 51)
	for i := range lists {
		lists[i] = segmentd.NewID()
	}
	for _, tt := range []struct {
		body any
		want string
	}{
		{map[string]any{"list_ids": []string{l.ID}}, validation("import_data", "import_data is required")},
		{map[string]any{"import_data": []any{}, "list_ids": []string{l.ID}}, validation("import_data", "import_data must hold at least one contact")},
		{map[string]any{"import_data": []map[string]string{{"email": "a@example.com"}}}, validation("list_ids", "list_ids is required")},
		{map[string]any{"import_data": []map[string]string{{"email": "a@example.com"}}, "list_ids": []string{}}, validation("list_ids", "list_ids must name at least 1 list")},
		{map[string]any{"import_data": []map[string]string{{"email": "a@example.com"}}, "list_ids": lists}, validation("list_ids", "list_ids may name at most 50 lists, not 51")},
		{map[string]any{"import_data": []map[string]string{{"email": "a@example.com"}}, "list_ids": []string{unknown}}, validation("list_ids", fmt.Sprintf("list_ids: list %q does not exist", unknown))},
		{map[string]any{"import_data": big, "list_ids": []string{l.ID}}, validation("import_data", "import_data may hold at most 40000 contacts, not 40001")},
	} {
		facetest.WantError(t, e.do(t, facetest.Request{Method: "POST", Path: "/v3/activities/contacts_json_import", Body: tt.body}), 400, tt.want)
	}
	// The body's bound, the spec's 4 MB.
	huge := `{"import_data":[{"email":"` + strings.Repeat("x", 4<<20) + `"}],"list_ids":[]}`
	facetest.WantError(t, e.do(t, facetest.Request{Method: "POST", Path: "/v3/activities/contacts_json_import", Body: huge}), 400, validation("", "the request body must not exceed 4096 KB"))
	if n, _ := e.Svc.CountContacts(ctx, acct); n != 2 {
		t.Fatalf("%d contacts after the refused imports, want 2", n)
	}
}

// ccContact reads a contact by email through GET /v3/contacts with every
// sub-resource.
func (e *env) ccContact(t *testing.T, email string) map[string]any {
	t.Helper()
	cs := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts?include=custom_fields,list_memberships,phone_numbers,street_addresses,taggings,notes&email=" + url.QueryEscape(email)}, 200)["contacts"].([]any)
	if len(cs) != 1 {
		t.Fatalf("contacts with email %s: %v", email, cs)
	}
	return cs[0].(map[string]any)
}

// TestImportRowErrors: a malformed row of an import is one of its
// activity's errors, counted in error_count; the other rows are imported.
func TestImportRowErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	l, _ := e.Svc.CreateList(ctx, acct, "Imported")
	e.Svc.CreateField(ctx, acct, "Score", segmentd.FieldNumber)
	rows := []map[string]any{
		{"email": "good1@example.com", "first_name": "Good"},
		{"first_name": "x"},
		{"email": "a@example.com", "phone": "1", "home_phone": "2", "work_phone": "3", "mobile_phone": "4"},
		{"email": "a@example.com", "street": "1", "home_city": "x"},
		{"email": "a@example.com", "cf:nope": "1"},
		{"email": "a@example.com", "cf:score": "lots"},
		{"email": "a@example.com", "favourite": "x"},
		{"email": 5},
		{"email": "not an address"},
		{"email": "a@example.com", "first_name": strings.Repeat("x", 51)},
		{"email": "a@example.com", "job_title": strings.Repeat("x", 51)},
		{"email": "a@example.com", "birthday_month": 13, "birthday_day": 1},
		{"email": "a@example.com", "birthday_month": 2},
		{"email": "a@example.com", "anniversary": "spring 06"},
		{"email": "a@example.com", "sms_number": "5081231235"},
		{"email": "a@example.com", "phone": strings.Repeat("5", 25)},
		{"email": "a@example.com", "work_city": strings.Repeat("x", 51)},
		{"email": "good2@example.com", "last_name": "Also"},
	}
	done := e.activity(t, "contacts_json_import", map[string]any{"import_data": rows, "list_ids": []string{l.ID}})
	want := []string{
		"import_data[1].email is required (segmentd keeps contacts by email, not by SMS number)",
		"import_data[2] may give at most 3 phone numbers, not 4",
		"import_data[3] gives two home addresses: the primary address (street, city, …) is the home one, so leave out home_street, home_city, …",
		`import_data[4].cf:nope: custom field "nope" does not exist`,
		`import_data[5].cf:score: custom field "Score" takes a decimal number, not "lots"`,
		`import_data[6]: "favourite" is not a contact property of Constant Contact's imports`,
		"import_data[7].email must be a string",
		`email "not an address" is not a valid email address`,
		"import_data[9].first_name must be at most 50 characters, not 51",
		"import_data[10].job_title must be at most 50 characters, not 51",
		`import_data[11].birthday_month must be from 1 to 12, not "13"`,
		"import_data[12]: birthday_month and birthday_day must be given together",
		`import_data[13].anniversary must be a date as MM/DD/YYYY, YYYY/MM/DD, YYYY-MM-DD or MM-DD-YYYY, not "spring 06"`,
		"import_data[14]: segmentd does not keep sms_number yet; leave it out",
		"import_data[15].phone must be at most 24 characters, not 25",
		"import_data[16].work_city must be at most 50 characters, not 51",
	}
	st := done["status"].(map[string]any)
	if done["state"] != "completed" || st["items_total_count"] != float64(len(rows)) || st["person_count"] != float64(2) || st["error_count"] != float64(len(want)) {
		t.Fatalf("import with bad rows = %v", done)
	}
	var got []string
	for _, m := range done["activity_errors"].([]any) {
		got = append(got, m.(string))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("activity_errors:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := e.emailsOnList(t, l.ID); fmt.Sprint(got) != "[good1@example.com good2@example.com]" {
		t.Fatalf("on the list: %v", got)
	}
	// Every row bad: the activity failed.
	done = e.activity(t, "contacts_json_import", map[string]any{"import_data": rows[1:3], "list_ids": []string{l.ID}})
	if st := done["status"].(map[string]any); done["state"] != "failed" || st["error_count"] != float64(2) || st["person_count"] != float64(0) {
		t.Fatalf("import of bad rows only = %v", done)
	}
	if n, _ := e.Svc.CountContacts(ctx, acct); n != 2 {
		t.Fatalf("%d contacts, want 2", n)
	}
}

// TestImportAttributes: an import sets the Constant Contact-only
// attributes it gives, up to 3 phones and 3 addresses, merged by kind into
// the contact's, and keeps the others; reads show them.
func TestImportAttributes(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	l, _ := e.Svc.CreateList(ctx, acct, "Imported")
	e.activity(t, "contacts_json_import", map[string]any{"import_data": []map[string]any{{
		"email": "ann@example.com", "job_title": "Chief", "company_name": "Acme", "birthday_month": 11, "birthday_day": "24", "anniversary": "2006-11-15",
		"home_phone": "555-0100", "work_phone": "555-0200", "mobile_phone": "555-0300",
		"street": "1 Main St", "street2": "Apt 3", "city": "Waltham", "work_street": "2 Office Rd", "work_zip": "02451", "other_country": "Canada",
	}}, "list_ids": []string{l.ID}})
	c := e.ccContact(t, "ann@example.com")
	if c["job_title"] != "Chief" || c["company_name"] != "Acme" || c["birthday_month"] != float64(11) || c["birthday_day"] != float64(24) || c["anniversary"] != "2006-11-15" {
		t.Fatalf("imported contact = %v", c)
	}
	if got := string(mustJSON(t, c["phone_numbers"])); !strings.Contains(got, `"phone_number":"555-0100"`) || !strings.Contains(got, `"kind":"mobile"`) || strings.Count(got, `"phone_number":`) != 3 || strings.Index(got, "555-0200") > strings.Index(got, "555-0300") {
		t.Fatalf("phone_numbers = %s", got)
	}
	addrs := c["street_addresses"].([]any)
	if len(addrs) != 3 || addrs[0].(map[string]any)["street"] != "1 Main St\nApt 3" || addrs[0].(map[string]any)["kind"] != "home" ||
		addrs[1].(map[string]any)["kind"] != "work" || addrs[1].(map[string]any)["postal_code"] != "02451" || addrs[2].(map[string]any)["country"] != "Canada" {
		t.Fatalf("street_addresses = %s", mustJSON(t, addrs))
	}
	// SendGrid's face reads the first phone and address.
	_, found, _ := e.Svc.ContactsByEmails(ctx, acct, []string{"ann@example.com"})
	if sg := found["ann@example.com"]; sg.PhoneNumber != "555-0100" || sg.AddressLine1 != "1 Main St" || sg.AddressLine2 != "Apt 3" || sg.City != "Waltham" {
		t.Fatalf("shared fields = %+v", sg)
	}
	// A second import gives a new work phone, a work city and a job title:
	// those change, the rest stays.
	e.activity(t, "contacts_json_import", map[string]any{"import_data": []map[string]any{{
		"email": "ann@example.com", "work_phone": "555-0999", "work_city": "Boston", "job_title": "Boss"}}, "list_ids": []string{l.ID}})
	c = e.ccContact(t, "ann@example.com")
	phones := string(mustJSON(t, c["phone_numbers"]))
	addrs = c["street_addresses"].([]any)
	if c["job_title"] != "Boss" || c["company_name"] != "Acme" || c["anniversary"] != "2006-11-15" || !strings.Contains(phones, "555-0999") || strings.Contains(phones, "555-0200") ||
		!strings.Contains(phones, "555-0100") || strings.Count(phones, `"phone_number":`) != 3 || len(addrs) != 3 ||
		addrs[1].(map[string]any)["city"] != "Boston" || addrs[1].(map[string]any)["street"] != "2 Office Rd" || addrs[0].(map[string]any)["city"] != "Waltham" {
		t.Fatalf("after the second import: %v", c)
	}
	// A fourth kind of phone: the row's first, then the contact's others,
	// 3 in all.
	e.activity(t, "contacts_json_import", map[string]any{"import_data": []map[string]any{{"email": "ann@example.com", "phone": "555-0400"}}, "list_ids": []string{l.ID}})
	phones = string(mustJSON(t, e.ccContact(t, "ann@example.com")["phone_numbers"]))
	if !strings.Contains(phones, "555-0400") || strings.Count(phones, `"phone_number":`) != 3 {
		t.Fatalf("after a fourth phone: %s", phones)
	}
}

// multipartBody is a contacts_file_import form.
func multipartBody(t *testing.T, csv string, lists ...string) (string, []byte) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	if csv != "" {
		fw, err := mw.CreateFormFile("file", "contacts.csv")
		if err != nil {
			t.Fatal(err)
		}
		fw.Write([]byte(csv))
	}
	for _, l := range lists {
		mw.WriteField("list_ids", l)
	}
	mw.Close()
	return mw.FormDataContentType(), b.Bytes()
}

func TestFileImport(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	a, _ := e.Svc.CreateList(ctx, acct, "A")
	b, _ := e.Svc.CreateList(ctx, acct, "B")
	e.Svc.CreateField(ctx, acct, "plan", segmentd.FieldText)
	post := func(csv string, lists ...string) facetest.Response {
		ct, body := multipartBody(t, csv, lists...)
		return e.do(t, facetest.Request{Method: "POST", Path: "/v3/activities/contacts_file_import", Body: body, Header: map[string]string{"Content-Type": ct}})
	}
	r := post("\xef\xbb\xbfEmail,First_Name,zip,cf:plan\nann@example.com,Ann,02451,gold\nbob@example.com,,,\n", a.ID+","+b.ID)
	created := facetest.WantStatus(t, r, 201)
	done := e.waitActivity(t, created["activity_id"].(string))
	if done["state"] != "completed" || done["status"].(map[string]any)["person_count"] != float64(2) {
		t.Fatalf("file import = %v", done)
	}
	if got := e.emailsOnList(t, b.ID); fmt.Sprint(got) != "[ann@example.com bob@example.com]" {
		t.Fatalf("on B: %v", got)
	}
	_, found, _ := e.Svc.ContactsByEmails(ctx, acct, []string{"ann@example.com"})
	if c := found["ann@example.com"]; c.FirstName != "Ann" || c.PostalCode != "02451" {
		t.Fatalf("ann = %+v", c)
	}

	// Constant Contact's columns, and lines that are the activity's errors.
	r = post("email,job_title,work_phone,birthday_month,birthday_day,work_street,work_street2\n"+
		"cara@example.com,Chief,555-0101,1,2,9 Elm St,Floor 2\n"+
		"dan@example.com,Chief\n"+
		"x\"y@example.com,a,b,c,d,e,f\n"+
		"eve@example.com,,,13,1,,\n"+
		"fay@example.com,,,,,,\n", a.ID)
	done = e.waitActivity(t, facetest.WantStatus(t, r, 201)["activity_id"].(string))
	var errs []string
	for _, m := range done["activity_errors"].([]any) {
		errs = append(errs, m.(string))
	}
	if st := done["status"].(map[string]any); done["state"] != "completed" || st["person_count"] != float64(2) || st["error_count"] != float64(3) ||
		strings.Join(errs, "; ") != `line 3 has 2 values for 7 columns; line 4 is not valid CSV; line 5.birthday_month must be from 1 to 12, not "13"` {
		t.Fatalf("file import with bad lines = %v", done)
	}
	cara := e.ccContact(t, "cara@example.com")
	if cara["job_title"] != "Chief" || cara["birthday_day"] != float64(2) || cara["street_addresses"].([]any)[0].(map[string]any)["street"] != "9 Elm St\nFloor 2" ||
		cara["phone_numbers"].([]any)[0].(map[string]any)["kind"] != "work" {
		t.Fatalf("cara = %v", cara)
	}

	validation := func(msg string) string { return ccErr("activities.api.validation.error", msg) }
	var lines strings.Builder
	lines.WriteString("email\n")
	for range audience.MaxImportContacts + 1 {
		lines.WriteString("a@b.co\n")
	}
	for _, tt := range []struct {
		csv   string
		lists []string
		want  string
	}{
		{"", []string{a.ID}, validation("file is required: the CSV file to import")},
		{"email\nx@example.com\n", nil, validation("list_ids is required")},
		{"first_name\nAnn\n", []string{a.ID}, validation("file must have an email column (segmentd keeps contacts by email, not by SMS number)")},
		{"email,favourite\nx@example.com,red\n", []string{a.ID}, validation(`file: column "favourite" is not a contact property of Constant Contact's imports`)},
		{"email,cf:nope\nx@example.com,red\n", []string{a.ID}, validation(`file: column "cf:nope" names no custom field of the account`)},
		{lines.String(), []string{a.ID}, validation("file may hold at most 40001 lines, its header included")},
	} {
		facetest.WantError(t, post(tt.csv, tt.lists...), 400, tt.want)
	}
	// A JSON body is not the documented multipart form. (The spec lists
	// no 415 here; segmentd answers it on every body of another type.)
	facetest.WantError(t, e.send(t, facetest.Request{Method: "POST", Path: "/v3/activities/contacts_file_import", Body: `{}`}), 415,
		ccErr("activities.api.unsupported_media_type", "Content-Type must be multipart/form-data, not application/json"))
	ct, body := multipartBody(t, "email\n"+strings.Repeat("a", 4<<20)+"@b.co\n", a.ID)
	facetest.WantError(t, e.do(t, facetest.Request{Method: "POST", Path: "/v3/activities/contacts_file_import", Body: body, Header: map[string]string{"Content-Type": ct}}), 400,
		validation("file must not exceed 4 MB"))
	if n, _ := e.Svc.CountContacts(ctx, acct); n != 4 {
		t.Fatalf("%d contacts after the refused imports, want 4", n)
	}
}

func TestListMembershipActivities(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	a, _ := e.Svc.CreateList(ctx, acct, "A")
	b, _ := e.Svc.CreateList(ctx, acct, "B")
	c, _ := e.Svc.CreateList(ctx, acct, "C")
	var ps []segmentd.ContactPatch
	for i := range 4 {
		ps = append(ps, segmentd.ContactPatch{Email: facetest.Ptr(fmt.Sprintf("p%d@example.com", i))})
	}
	e.upsert(t, acct, ps[:2], a.ID)
	e.upsert(t, acct, ps[2:])
	// A contact only SendGrid's face knows by an external id.
	e.upsert(t, acct, []segmentd.ContactPatch{{ExternalID: facetest.Ptr("ext-1")}})
	ids := map[string]string{}
	all := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts?limit=500"}, 200)["contacts"].([]any)
	var extID string
	for _, c := range all {
		c := c.(map[string]any)
		if ea, ok := c["email_address"].(map[string]any); ok {
			ids[ea["address"].(string)] = c["contact_id"].(string)
		} else {
			extID = c["contact_id"].(string)
		}
	}

	// By contact ids, one unknown: completed, with its error.
	unknown := segmentd.NewID()
	done := e.activity(t, "add_list_memberships", map[string]any{"source": map[string]any{"contact_ids": []string{ids["p2@example.com"], extID, unknown}}, "list_ids": []string{b.ID}})
	if done["state"] != "completed" || fmt.Sprint(done["status"]) != "map[items_completed_count:2 items_total_count:3]" || len(done["activity_errors"].([]any)) != 1 {
		t.Fatalf("add by ids = %v", done)
	}
	if n, _ := e.Svc.ListContactCount(ctx, acct, b.ID); n != 2 {
		t.Fatalf("B holds %d", n)
	}
	// By lists, one contact excluded.
	e.activity(t, "add_list_memberships", map[string]any{"source": map[string]any{"list_ids": []string{a.ID, b.ID}}, "exclude": map[string]any{"contact_ids": []string{ids["p0@example.com"]}}, "list_ids": []string{c.ID}})
	// (B's members: p2 and the contact without an email.)
	if got := e.emailsOnList(t, c.ID); fmt.Sprint(got) != "[- p1@example.com p2@example.com]" {
		t.Fatalf("on C: %v", got)
	}
	// Every contact.
	e.activity(t, "add_list_memberships", map[string]any{"source": map[string]any{"all_active_contacts": true}, "list_ids": []string{a.ID}})
	if n, _ := e.Svc.ListContactCount(ctx, acct, a.ID); n != 5 {
		t.Fatalf("A holds %d after all_active_contacts", n)
	}
	// A segment's members.
	seg := e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "p3", "segment_criteria": contactCriteria("email_address", "eq", "p3@example.com")}}, 201)
	e.activity(t, "add_list_memberships", map[string]any{"source": map[string]any{"segment_id": seg["segment_id"]}, "list_ids": []string{c.ID}})
	if got := e.emailsOnList(t, c.ID); fmt.Sprint(got) != "[- p1@example.com p2@example.com p3@example.com]" {
		t.Fatalf("on C after the segment: %v", got)
	}
	// The contacts with a tag.
	tag := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_tags", Body: map[string]string{"name": "Lead"}}, 201)["tag_id"].(string)
	e.activity(t, "contacts_taggings_add", map[string]any{"source": map[string]any{"contact_ids": []string{ids["p0@example.com"]}}, "tag_ids": []string{tag}})
	e.activity(t, "add_list_memberships", map[string]any{"source": map[string]any{"tag_ids": []string{tag}}, "list_ids": []string{c.ID}})
	if got := e.emailsOnList(t, c.ID); fmt.Sprint(got) != "[- p0@example.com p1@example.com p2@example.com p3@example.com]" {
		t.Fatalf("on C after the tag: %v", got)
	}
	e.activity(t, "remove_list_memberships", map[string]any{"source": map[string]any{"tag_ids": []string{tag}}, "list_ids": []string{c.ID}})

	// Removals: by ids, by lists, every contact.
	e.activity(t, "remove_list_memberships", map[string]any{"source": map[string]any{"contact_ids": []string{ids["p1@example.com"]}}, "list_ids": []string{c.ID, a.ID}})
	if got := e.emailsOnList(t, c.ID); fmt.Sprint(got) != "[- p2@example.com p3@example.com]" {
		t.Fatalf("on C after removing p1: %v", got)
	}
	e.activity(t, "remove_list_memberships", map[string]any{"source": map[string]any{"list_ids": []string{b.ID}}, "list_ids": []string{a.ID}})
	if got := e.emailsOnList(t, a.ID); fmt.Sprint(got) != "[p0@example.com p3@example.com]" {
		t.Fatalf("on A after removing B's members: %v", got)
	}
	e.activity(t, "remove_list_memberships", map[string]any{"source": map[string]any{"all_active_contacts": true}, "exclude": map[string]any{"contact_ids": []string{ids["p3@example.com"]}}, "list_ids": []string{a.ID, c.ID}})
	if got := e.emailsOnList(t, a.ID); fmt.Sprint(got) != "[p3@example.com]" {
		t.Fatalf("on A after removing all but p3: %v", got)
	}

	validation := func(msg string) string { return ccErr("activities.api.validation.error", msg) }
	many := make([]string, 501)
	for i := range many {
		many[i] = segmentd.NewID()
	}
	for _, tt := range []struct {
		kind string
		body any
		want string
	}{
		{"add_list_memberships", map[string]any{"list_ids": []string{a.ID}}, validation("source is required")},
		{"add_list_memberships", map[string]any{"source": map[string]any{"all_active_contacts": true}}, validation("list_ids is required")},
		{"add_list_memberships", map[string]any{"source": map[string]any{}, "list_ids": []string{a.ID}}, validation("source must name exactly one of contact_ids, list_ids, tag_ids, all_active_contacts or segment_id")},
		{"remove_list_memberships", map[string]any{"source": map[string]any{"all_active_contacts": true, "list_ids": []string{b.ID}}, "list_ids": []string{a.ID}}, validation("source must name exactly one of contact_ids, list_ids, tag_ids or all_active_contacts")},
		{"remove_list_memberships", map[string]any{"source": map[string]any{"segment_id": 1}, "list_ids": []string{a.ID}}, validation("source.segment_id is not a source of this activity")},
		{"add_list_memberships", map[string]any{"source": map[string]any{"segment_id": 99}, "list_ids": []string{a.ID}}, validation("source.segment_id: segment 99 does not exist")},
		{"add_list_memberships", map[string]any{"source": map[string]any{"contact_ids": many}, "list_ids": []string{a.ID}}, validation("source.contact_ids may hold at most 500 contact ids, not 501")},
		{"add_list_memberships", map[string]any{"source": map[string]any{"contact_ids": []string{"x"}}, "list_ids": []string{a.ID}}, validation(`source.contact_ids: "x" is not a contact id (a UUID)`)},
		{"add_list_memberships", map[string]any{"source": map[string]any{"list_ids": many[:51]}, "list_ids": []string{a.ID}}, validation("source.list_ids may name at most 50 lists, not 51")},
		{"add_list_memberships", map[string]any{"source": map[string]any{"all_active_contacts": true}, "list_ids": many[:51]}, validation("list_ids may name at most 50 lists, not 51")},
		{"add_list_memberships", map[string]any{"source": map[string]any{"all_active_contacts": true}, "list_ids": []string{unknown}}, validation(fmt.Sprintf("list_ids: list %q does not exist", unknown))},
		{"add_list_memberships", map[string]any{"source": map[string]any{"contact_ids": []string{unknown}}, "exclude": map[string]any{"contact_ids": []string{unknown}}, "list_ids": []string{a.ID}}, validation("exclude applies only to a list_ids or all_active_contacts source")},
		{"add_list_memberships", map[string]any{"source": map[string]any{"tag_ids": []string{unknown}}, "list_ids": []string{a.ID}}, validation(fmt.Sprintf("source.tag_ids: tag %q does not exist", unknown))},
	} {
		facetest.WantError(t, e.do(t, facetest.Request{Method: "POST", Path: "/v3/activities/" + tt.kind, Body: tt.body}), 400, tt.want)
	}
}

func TestDeleteActivities(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	a, _ := e.Svc.CreateList(ctx, acct, "A")
	b, _ := e.Svc.CreateList(ctx, acct, "B")
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("a1@example.com")}, {Email: facetest.Ptr("a2@example.com")}}, a.ID)
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("x@example.com")}, {Email: facetest.Ptr("y@example.com")}})
	_, found, _ := e.Svc.ContactsByEmails(ctx, acct, []string{"x@example.com"})

	done := e.activity(t, "contact_delete", map[string]any{"contact_ids": []string{found["x@example.com"].ID}})
	if done["state"] != "completed" || fmt.Sprint(done["status"]) != "map[items_completed_count:1 items_total_count:1]" {
		t.Fatalf("contact_delete = %v", done)
	}
	e.activity(t, "contact_delete", map[string]any{"list_ids": []string{a.ID}})
	if n, _ := e.Svc.CountContacts(ctx, acct); n != 1 {
		t.Fatalf("%d contacts after the deletes, want 1", n)
	}

	// list_delete and custom_fields_delete are done when answered.
	del := e.must(t, facetest.Request{Method: "POST", Path: "/v3/activities/list_delete", Body: map[string]any{"list_ids": []string{a.ID, strings.ToUpper(b.ID)}}}, 201)
	if del["state"] != "completed" || del["status"].(map[string]any)["list_count"] != float64(2) {
		t.Fatalf("list_delete = %v", del)
	}
	if page, _ := e.Svc.Lists(ctx, acct, "", 10); len(page.Lists) != 0 {
		t.Fatalf("lists left: %+v", page.Lists)
	}
	e.Svc.CreateField(ctx, acct, "plan", segmentd.FieldText)
	e.Svc.CreateField(ctx, acct, "tier", segmentd.FieldText)
	fs := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_custom_fields"}, 200)["custom_fields"].([]any)
	var fids []string
	for _, f := range fs {
		fids = append(fids, f.(map[string]any)["custom_field_id"].(string))
	}
	fd := e.must(t, facetest.Request{Method: "POST", Path: "/v3/activities/custom_fields_delete", Body: map[string]any{"custom_field_ids": fids}}, 201)
	if fd["state"] != "completed" || e.waitActivity(t, fd["activity_id"].(string))["state"] != "completed" {
		t.Fatalf("custom_fields_delete = %v", fd)
	}
	if defs, _ := e.Svc.FieldDefinitions(ctx, acct); len(defs) != 0 {
		t.Fatalf("fields left: %+v", defs)
	}

	validation := func(msg string) string { return ccErr("activities.api.validation.error", msg) }
	unknown := segmentd.NewID()
	many := make([]string, 501)
	for i := range many {
		many[i] = segmentd.NewID()
	}
	for _, tt := range []struct {
		kind   string
		body   any
		status int
		want   string
	}{
		{"contact_delete", map[string]any{}, 400, validation("name exactly one of contact_ids and list_ids")},
		{"contact_delete", map[string]any{"contact_ids": []string{unknown}, "list_ids": []string{unknown}}, 400, validation("name exactly one of contact_ids and list_ids")},
		{"contact_delete", map[string]any{"contact_ids": many}, 400, validation("source.contact_ids may hold at most 500 contact ids, not 501")},
		{"contact_delete", map[string]any{"list_ids": many[:51]}, 400, validation("source.list_ids may name at most 50 lists, not 51")},
		{"list_delete", map[string]any{"list_ids": many[:101]}, 400, validation("list_ids may name at most 100 lists, not 101")},
		{"list_delete", map[string]any{"list_ids": []string{}}, 400, validation("list_ids must name at least one list")},
		{"list_delete", map[string]any{"list_ids": []string{"x"}}, 400, validation(`list_ids: "x" is not a list id (a UUID)`)},
		{"custom_fields_delete", map[string]any{"custom_field_ids": many[:101]}, 400, validation("custom_field_ids may name at most 100 custom fields, not 101")},
		{"custom_fields_delete", map[string]any{"custom_field_ids": []string{}}, 400, validation("custom_field_ids must name at least one custom field")},
		{"custom_fields_delete", map[string]any{"custom_field_ids": []string{unknown}}, 404, ccErr("activities.api.not_found", fmt.Sprintf("custom field %q does not exist", unknown))},
	} {
		facetest.WantError(t, e.do(t, facetest.Request{Method: "POST", Path: "/v3/activities/" + tt.kind, Body: tt.body}), tt.status, tt.want)
	}
	// list_delete documents no 404: an unknown list is the request's
	// error, and nothing is deleted.
	c, _ := e.Svc.CreateList(ctx, acct, "C")
	facetest.WantError(t, e.send(t, facetest.Request{Method: "POST", Path: "/v3/activities/list_delete", Body: map[string]any{"list_ids": []string{c.ID, unknown}}}), 404,
		ccErr("activities.api.not_found", fmt.Sprintf("list %q does not exist", unknown)))
	if _, _, err := e.Svc.List(ctx, acct, c.ID, false); err != nil {
		t.Fatalf("list C after the refused delete: %v", err)
	}
}

func TestActivitiesList(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	l, _ := e.Svc.CreateList(ctx, acct, "A")
	var want []string // newest first
	for i := range 5 {
		e.Clock.Set(t0.Add(time.Duration(i) * time.Second))
		a := e.activity(t, "contacts_json_import", map[string]any{"import_data": []map[string]string{{"email": fmt.Sprintf("p%d@example.com", i)}}, "list_ids": []string{l.ID}})
		if i == 3 {
			// Every item of this one fails: it reads failed.
			want = append([]string{a["activity_id"].(string)}, want...)
			e.Clock.Set(t0.Add(3500 * time.Millisecond))
			a = e.activity(t, "add_list_memberships", map[string]any{"source": map[string]any{"contact_ids": []string{segmentd.NewID()}}, "list_ids": []string{l.ID}})
			if a["state"] != "failed" || len(a["activity_errors"].([]any)) != 1 {
				t.Fatalf("add of an unknown contact = %v", a)
			}
		}
		want = append([]string{a["activity_id"].(string)}, want...)
	}
	// SendGrid's jobs are not activities.
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("sg@example.com")}})

	var got []string
	next := "/v3/activities?limit=2"
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("more than 3 pages of 2 for 6 activities")
		}
		u, _ := url.Parse(next)
		page := e.must(t, facetest.Request{Method: "GET", Path: u.Path + "?" + u.RawQuery}, 200)
		for _, a := range page["activities"].([]any) {
			got = append(got, a.(map[string]any)["activity_id"].(string))
		}
		next = ""
		if l, ok := page["_links"].(map[string]any); ok {
			next = l["next"].(map[string]any)["href"].(string)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("activities %v, want %v", got, want)
	}
	states := func(q string) []string {
		var out []string
		for _, a := range e.must(t, facetest.Request{Method: "GET", Path: "/v3/activities?" + q}, 200)["activities"].([]any) {
			out = append(out, a.(map[string]any)["activity_id"].(string))
		}
		return out
	}
	if got := states("state=failed"); !slices.Equal(got, []string{want[1]}) {
		t.Fatalf("failed: %v, want %v", got, want[1])
	}
	if got := states("state=completed"); len(got) != 5 || slices.Contains(got, want[1]) {
		t.Fatalf("completed: %v", got)
	}
	for _, s := range []string{"processing", "cancelled", "timed_out"} {
		if got := states("state=" + s); len(got) != 0 {
			t.Fatalf("%s: %v", s, got)
		}
	}
	validation := func(msg string) string { return ccErr("activities.api.validation.error", msg) }
	for _, tt := range []struct{ path, want string }{
		{"/v3/activities?state=done", validation(`state must be one of processing, completed, cancelled, failed, timed_out, not "done"`)},
		{"/v3/activities?limit=0", validation(`limit must be a whole number from 1 to 500, not "0"`)},
		{"/v3/activities?limit=501", validation(`limit must be a whole number from 1 to 500, not "501"`)},
		{"/v3/activities?cursor=Zm9v", validation("cursor is not valid; follow _links.next.href as given")},
	} {
		facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: tt.path}), 400, tt.want)
	}
	checkAuth(t, e, []facetest.Request{
		{Method: "POST", Path: "/v3/activities/contacts_json_import", Body: map[string]any{"import_data": []map[string]string{{"email": "z@example.com"}}, "list_ids": []string{l.ID}}},
		{Method: "POST", Path: "/v3/activities/add_list_memberships", Body: map[string]any{"source": map[string]any{"all_active_contacts": true}, "list_ids": []string{l.ID}}},
		{Method: "POST", Path: "/v3/activities/remove_list_memberships", Body: map[string]any{"source": map[string]any{"all_active_contacts": true}, "list_ids": []string{l.ID}}},
		{Method: "POST", Path: "/v3/activities/contact_delete", Body: map[string]any{"list_ids": []string{l.ID}}},
		{Method: "POST", Path: "/v3/activities/list_delete", Body: map[string]any{"list_ids": []string{l.ID}}},
		{Method: "POST", Path: "/v3/activities/custom_fields_delete", Body: map[string]any{"custom_field_ids": []string{segmentd.NewID()}}},
	}, []facetest.Request{{Method: "GET", Path: "/v3/activities"}, {Method: "GET", Path: "/v3/activities/" + want[0]}})
}

// TestQueuedActivitiesBound: past the account's bound of unfinished
// activities (Constant Contact's 1,000), a new one is 429; it is accepted
// again once they finish.
func TestQueuedActivitiesBound(t *testing.T) {
	held := &heldEvents{entered: make(chan struct{}), release: make(chan struct{})}
	e := newEnvWith(t, facetest.Config{Service: audience.Config{Events: held, MaxQueuedActivities: 2}}, cc.Options{})
	held.EventStore = e.Store
	released := false
	release := func() {
		if !released {
			released = true
			close(held.release)
		}
	}
	t.Cleanup(release)
	ctx := context.Background()
	acct := e.DefaultAccount()
	l, _ := e.Svc.CreateList(ctx, acct, "A")
	go e.Svc.AddEvents(ctx, acct, []segmentd.Event{{Email: "x@example.com", Type: "open", Timestamp: time.Now()}})
	<-held.entered
	body := map[string]any{"import_data": []map[string]string{{"email": "a@example.com"}}, "list_ids": []string{l.ID}}
	var ids []string
	for range 2 {
		a := e.must(t, facetest.Request{Method: "POST", Path: "/v3/activities/contacts_json_import", Body: body}, 201)
		if a["state"] != "initialized" {
			t.Fatalf("queued activity = %v", a)
		}
		ids = append(ids, a["activity_id"].(string))
	}
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/activities?state=processing"}, 200)["activities"].([]any); len(got) != 2 {
		t.Fatalf("processing: %v", got)
	}
	facetest.WantError(t, e.do(t, facetest.Request{Method: "POST", Path: "/v3/activities/contacts_json_import", Body: body}), 429,
		`{"error_key":"throttled","error_message":"the account has 2 activities queued, Constant Contact's limit: retry once some have finished"}`)
	tag, _ := e.Svc.CreateTag(ctx, acct, "Gold", "")
	facetest.WantError(t, e.do(t, facetest.Request{Method: "POST", Path: "/v3/activities/contacts_taggings_add", Body: map[string]any{"source": map[string]any{"all_active_contacts": true}, "tag_ids": []string{tag.ID}}}), 429,
		`{"error_key":"throttled","error_message":"the account has 2 activities queued, Constant Contact's limit: retry once some have finished"}`)
	release()
	for _, id := range ids {
		e.waitActivity(t, id)
	}
	e.activity(t, "contacts_json_import", body)
}

// heldEvents holds the first event batch until released, and with it the
// job worker: activities accepted meanwhile stay queued.
type heldEvents struct {
	segmentd.EventStore
	entered, release chan struct{}
}

func (h *heldEvents) AddEventBatches(ctx context.Context, acct int64, batches [][]segmentd.Event) ([]segmentd.EventsResult, error) {
	close(h.entered)
	<-h.release
	return h.EventStore.AddEventBatches(ctx, acct, batches)
}

func TestContactExports(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	l, _ := e.Svc.CreateList(ctx, acct, "A")
	e.Svc.CreateField(ctx, acct, "plan", segmentd.FieldText)
	defs, _ := e.Svc.FieldDefinitions(ctx, acct)
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("a@example.com"), FirstName: facetest.Ptr("Ann"), CustomFields: map[string]*segmentd.Value{defs[0].ID: {Type: segmentd.FieldText, Text: "gold, plus"}}}}, l.ID)
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("b@example.com")}})

	export := func(body any) (map[string]any, string) {
		t.Helper()
		a := e.must(t, facetest.Request{Method: "POST", Path: "/v3/activities/contact_exports", Body: body}, 201)
		done := e.waitActivity(t, a["activity_id"].(string))
		results := done["_links"].(map[string]any)["results"].(map[string]any)["href"].(string)
		r := e.Call(t, facetest.Request{Method: "GET", Path: results})
		ccSpec.Check(t, "GET", results, "", r)
		if r.Status != 200 || r.Header.Get("Content-Type") != "text/csv" {
			t.Fatalf("GET %s: %d %s", results, r.Status, r.Body)
		}
		return done, string(r.Body)
	}
	done, csv := export(map[string]any{"list_ids": []string{l.ID}, "fields": []string{"email_address", "first_name", "cf:plan"}})
	if done["state"] != "completed" || fmt.Sprint(done["status"]) != "map[items_completed_count:1 items_total_count:1]" || csv != "email_address,first_name,cf:plan\na@example.com,Ann,\"gold, plus\"\n" {
		t.Fatalf("list export %v:\n%s", done, csv)
	}
	_, csv = export(map[string]any{})
	if lines := strings.Split(strings.TrimSpace(csv), "\n"); len(lines) != 3 || !strings.HasPrefix(lines[0], "contact_id,email_address,first_name,last_name,phone_number,street,city,state,zip,country,list_memberships,created_at,updated_at,cf:plan") {
		t.Fatalf("full export:\n%s", csv)
	}
	seg := e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "b", "segment_criteria": contactCriteria("email_address", "eq", "b@example.com")}}, 201)
	if _, csv = export(map[string]any{"segment_id": seg["segment_id"], "fields": []string{"email_address"}}); csv != "email_address\nb@example.com\n" {
		t.Fatalf("segment export:\n%s", csv)
	}
	// By contact ids, by tag, by list less a contact.
	aID, bID := e.ccContact(t, "a@example.com")["contact_id"].(string), e.ccContact(t, "b@example.com")["contact_id"].(string)
	emails := []string{"email_address"}
	if _, csv = export(map[string]any{"contact_ids": []string{strings.ToUpper(bID), segmentd.NewID()}, "status": "all", "fields": emails}); csv != "email_address\nb@example.com\n" {
		t.Fatalf("export by contact_ids:\n%s", csv)
	}
	tag := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_tags", Body: map[string]any{"name": "vip"}}, 201)["tag_id"].(string)
	e.activity(t, "contacts_taggings_add", map[string]any{"source": map[string]any{"contact_ids": []string{aID}}, "tag_ids": []string{tag}})
	if _, csv = export(map[string]any{"tag_ids": []string{tag}, "fields": emails}); csv != "email_address\na@example.com\n" {
		t.Fatalf("export by tag_ids:\n%s", csv)
	}
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("c@example.com")}}, l.ID)
	if _, csv = export(map[string]any{"list_ids": []string{l.ID}, "exclude": map[string]any{"contact_ids": []string{aID}}, "fields": emails}); csv != "email_address\nc@example.com\n" {
		t.Fatalf("export by list less a contact:\n%s", csv)
	}
	// GET /v3/activities lists the exports with the other activities,
	// newest first.
	var kinds []string
	for _, a := range e.must(t, facetest.Request{Method: "GET", Path: "/v3/activities?state=completed"}, 200)["activities"].([]any) {
		_, isExport := a.(map[string]any)["_links"].(map[string]any)["results"]
		kinds = append(kinds, fmt.Sprint(isExport))
	}
	if got := strings.Join(kinds, " "); got != "true true false true true true true" {
		t.Fatalf("activities listed (export or not): %s", got)
	}
	if page := e.must(t, facetest.Request{Method: "GET", Path: "/v3/activities?limit=4"}, 200); len(page["activities"].([]any)) != 4 || page["_links"] == nil {
		t.Fatalf("a page of 4 activities: %v", page)
	}
	// SendGrid's face does not list Constant Contact's exports.
	if es, _ := e.Svc.Exports(ctx, acct); len(es) != 0 {
		t.Fatalf("SendGrid's exports: %+v", es)
	}

	validation := func(msg string) string { return ccErr("activities.api.validation.error", msg) }
	for _, tt := range []struct {
		body any
		want string
	}{
		{map[string]any{"fields": []string{"shoe_size"}}, validation(`fields may name contact_id, email_address, first_name, last_name, phone_number, street, city, state, zip, country, list_memberships, created_at, updated_at, cf:plan, not "shoe_size"`)},
		{map[string]any{"status": "unsubscribed"}, validation(`every contact of segmentd's is active: status may be active or all, not "unsubscribed"`)},
		{map[string]any{"segment_id": 1, "list_ids": []string{l.ID}}, validation("list_ids cannot be combined with segment_id")},
		{map[string]any{"contact_ids": []string{aID}, "list_ids": []string{l.ID}}, validation("contact_ids cannot be combined with list_ids")},
		{map[string]any{"contact_ids": []string{aID}, "exclude": map[string]any{"contact_ids": []string{bID}}}, validation("contact_ids cannot be combined with exclude")},
		{map[string]any{"tag_ids": []string{tag}, "status": "all"}, validation("status cannot be combined with tag_ids")},
		{map[string]any{"segment_id": 1, "status": "all"}, validation("segment_id cannot be combined with status")},
		{map[string]any{"list_ids": []string{l.ID}, "tag_ids": []string{tag}}, validation("list_ids cannot be combined with tag_ids")},
		{map[string]any{"new_subscriber": true}, validation("segmentd keeps no subscription dates: new_subscriber cannot be exported")},
		{map[string]any{"contact_ids": manyIDs(501)}, validation("contact_ids may name at most 500 contacts, not 501")},
		{map[string]any{"list_ids": manyIDs(51)}, validation("list_ids may name at most 50 lists, not 51")},
		{map[string]any{"exclude": map[string]any{"contact_ids": manyIDs(51)}}, validation("exclude.contact_ids may name at most 50 contacts, not 51")},
		{map[string]any{"tag_ids": manyIDs(51)}, validation("tag_ids may name at most 50 tags, not 51")},
		{map[string]any{"contact_ids": []string{"nope"}}, validation(`contact_ids: "nope" is not a contact id (a UUID)`)},
		{map[string]any{"exclude": map[string]any{"contact_ids": []string{"nope"}}}, validation(`exclude.contact_ids: "nope" is not a contact id (a UUID)`)},
	} {
		facetest.WantError(t, e.do(t, facetest.Request{Method: "POST", Path: "/v3/activities/contact_exports", Body: tt.body}), 400, tt.want)
	}
	unknown := segmentd.NewID()
	facetest.WantError(t, e.do(t, facetest.Request{Method: "POST", Path: "/v3/activities/contact_exports", Body: map[string]any{"list_ids": []string{unknown}}}), 404,
		ccErr("activities.api.not_found", fmt.Sprintf("list %q does not exist", unknown)))
	facetest.WantError(t, e.do(t, facetest.Request{Method: "POST", Path: "/v3/activities/contact_exports", Body: map[string]any{"tag_ids": []string{unknown}}}), 404,
		ccErr("activities.api.not_found", fmt.Sprintf("tag_ids: tag %q does not exist", unknown)))
	facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: "/v3/contact_exports/" + unknown}), 404,
		ccErr("contact_exports.api.not_found", fmt.Sprintf("export %q does not exist", unknown)))
	checkAuth(t, e, []facetest.Request{{Method: "POST", Path: "/v3/activities/contact_exports", Body: map[string]any{}}}, []facetest.Request{{Method: "GET", Path: "/v3/contact_exports/" + unknown}})
}

// TestTagActivities: contacts_taggings_add and contacts_taggings_remove
// run to completed, by contact ids, by lists with an exclusion and for
// every contact, and their effect shows in the tag's contacts_count, in
// GET /v3/contacts?tags= and in a segment by tag; contacts_tags_delete
// deletes tags and untags their contacts. Each documented error.
func TestTagActivities(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	a, _ := e.Svc.CreateList(ctx, acct, "A")
	var ps []segmentd.ContactPatch
	for i := range 4 {
		ps = append(ps, segmentd.ContactPatch{Email: facetest.Ptr(fmt.Sprintf("p%d@example.com", i))})
	}
	e.upsert(t, acct, ps[:2], a.ID)
	e.upsert(t, acct, ps[2:])
	ids := map[string]string{}
	for _, c := range e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts?limit=500"}, 200)["contacts"].([]any) {
		c := c.(map[string]any)
		ids[c["email_address"].(map[string]any)["address"].(string)] = c["contact_id"].(string)
	}
	gold := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_tags", Body: map[string]string{"name": "Gold"}}, 201)["tag_id"].(string)
	blue := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_tags", Body: map[string]string{"name": "Blue"}}, 201)["tag_id"].(string)
	crit := fmt.Sprintf(`{"version":"1.0.0","criteria":{"type":"or","group":[{"source":"tags","field":"tag_id","op":"contains-any","const_value":%q}]}}`, gold)
	seg := e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "Gold", "segment_criteria": crit}}, 201)["segment_id"]
	// state is the tag's contacts_count, the emails GET /v3/contacts?tags=
	// returns, and the segment's count.
	state := func(tag string) string {
		n := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_tags/" + tag + "?include_count=true"}, 200)["contacts_count"]
		var emails []string
		for _, c := range e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts?limit=500&tags=" + tag}, 200)["contacts"].([]any) {
			emails = append(emails, c.(map[string]any)["email_address"].(map[string]any)["address"].(string))
		}
		slices.Sort(emails)
		segCount := e.must(t, facetest.Request{Method: "GET", Path: fmt.Sprintf("/v3/contacts?segment_id=%v&include_count=true", seg)}, 200)["contacts_count"]
		return fmt.Sprint(n, emails, segCount)
	}

	// By contact ids, one unknown: completed, with its error.
	unknown := segmentd.NewID()
	done := e.activity(t, "contacts_taggings_add", map[string]any{"source": map[string]any{"contact_ids": []string{ids["p0@example.com"], unknown}}, "tag_ids": []string{gold, strings.ToUpper(blue)}})
	if done["state"] != "completed" || fmt.Sprint(done["status"]) != "map[items_completed_count:1 items_total_count:2]" || len(done["activity_errors"].([]any)) != 1 {
		t.Fatalf("add by ids = %v", done)
	}
	if got := state(gold); got != "1 [p0@example.com] 1" {
		t.Fatalf("after tagging p0: %s", got)
	}
	// By list, one contact excluded; then every contact.
	e.activity(t, "contacts_taggings_add", map[string]any{"source": map[string]any{"list_ids": []string{a.ID}}, "exclude": map[string]any{"contact_ids": []string{ids["p0@example.com"]}}, "tag_ids": []string{gold}})
	if got := state(gold); got != "2 [p0@example.com p1@example.com] 2" {
		t.Fatalf("after tagging A's members: %s", got)
	}
	e.activity(t, "contacts_taggings_add", map[string]any{"source": map[string]any{"all_active_contacts": true}, "tag_ids": []string{gold}})
	if got := state(gold); got != "4 [p0@example.com p1@example.com p2@example.com p3@example.com] 4" {
		t.Fatalf("after tagging everyone: %s", got)
	}

	// Removals: by ids, by list, every contact but one.
	e.activity(t, "contacts_taggings_remove", map[string]any{"source": map[string]any{"contact_ids": []string{ids["p3@example.com"]}}, "tag_ids": []string{gold}})
	if got := state(gold); got != "3 [p0@example.com p1@example.com p2@example.com] 3" {
		t.Fatalf("after untagging p3: %s", got)
	}
	e.activity(t, "contacts_taggings_remove", map[string]any{"source": map[string]any{"list_ids": []string{a.ID}}, "tag_ids": []string{gold}})
	if got := state(gold); got != "1 [p2@example.com] 1" {
		t.Fatalf("after untagging A's members: %s", got)
	}
	e.activity(t, "contacts_taggings_remove", map[string]any{"source": map[string]any{"all_active_contacts": true}, "exclude": map[string]any{"contact_ids": []string{ids["p0@example.com"]}}, "tag_ids": []string{gold, blue}})
	if got := state(gold); got != "0 [] 0" {
		t.Fatalf("after untagging everyone: %s", got)
	}
	if got := state(blue); got != "1 [p0@example.com] 0" {
		t.Fatalf("blue after untagging all but p0: %s", got)
	}
	// By tag: the contacts with blue (p0) get gold, and lose it again.
	done = e.activity(t, "contacts_taggings_add", map[string]any{"source": map[string]any{"tag_ids": []string{blue}}, "tag_ids": []string{gold}})
	if got := state(gold); done["state"] != "completed" || got != "1 [p0@example.com] 1" {
		t.Fatalf("after tagging blue's contacts: %s, %v", got, done)
	}
	e.activity(t, "contacts_taggings_remove", map[string]any{"source": map[string]any{"tag_ids": []string{blue, gold}}, "tag_ids": []string{gold}})
	if got := state(gold); got != "0 [] 0" {
		t.Fatalf("after untagging blue's and gold's contacts: %s", got)
	}

	// Delete: the tags go, and their contacts lose them.
	e.activity(t, "contacts_taggings_add", map[string]any{"source": map[string]any{"all_active_contacts": true}, "tag_ids": []string{gold}})
	done = e.activity(t, "contacts_tags_delete", map[string]any{"tag_ids": []string{gold, blue}})
	if done["state"] != "completed" || fmt.Sprint(done["status"]) != "map[items_completed_count:2 items_total_count:2]" {
		t.Fatalf("tags delete = %v", done)
	}
	if got := e.must(t, facetest.Request{Method: "GET", Path: fmt.Sprintf("/v3/contacts?segment_id=%v&include_count=true", seg)}, 200)["contacts_count"]; got != float64(0) {
		t.Fatalf("segment by a deleted tag holds %v", got)
	}
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts?tags=" + gold}, 200)["contacts"].([]any); len(got) != 0 {
		t.Fatalf("contacts with a deleted tag: %v", got)
	}
	facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: "/v3/contact_tags/" + gold}), 404,
		ccErr("contact_tags.api.not_found", fmt.Sprintf("tag %q does not exist", gold)))

	validation := func(msg string) string { return ccErr("activities.api.validation.error", msg) }
	notFound := func(msg string) string { return ccErr("activities.api.not_found", msg) }
	tag := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_tags", Body: map[string]string{"name": "Red"}}, 201)["tag_id"].(string)
	many := make([]string, 501)
	for i := range many {
		many[i] = segmentd.NewID()
	}
	all := map[string]any{"all_active_contacts": true}
	for _, tt := range []struct {
		kind   string
		body   any
		status int
		want   string
	}{
		{"contacts_taggings_add", map[string]any{"tag_ids": []string{tag}}, 400, validation("source is required")},
		{"contacts_taggings_add", map[string]any{"source": all}, 400, validation("tag_ids is required")},
		{"contacts_taggings_add", map[string]any{"source": all, "tag_ids": []string{}}, 400, validation("tag_ids must name at least one tag")},
		{"contacts_taggings_add", map[string]any{"source": all, "tag_ids": many[:51]}, 400, validation("tag_ids may name at most 50 tags, not 51")},
		{"contacts_taggings_remove", map[string]any{"source": all, "tag_ids": []string{"vip"}}, 400, validation(`tag_ids: "vip" is not a tag id (a UUID)`)},
		{"contacts_taggings_add", map[string]any{"source": all, "tag_ids": []string{unknown}}, 404, notFound(fmt.Sprintf("tag_ids: tag %q does not exist", unknown))},
		{"contacts_taggings_remove", map[string]any{"source": all, "tag_ids": []string{gold}}, 404, notFound(fmt.Sprintf("tag_ids: tag %q does not exist", gold))},
		{"contacts_taggings_add", map[string]any{"source": map[string]any{}, "tag_ids": []string{tag}}, 400, validation("source must name exactly one of contact_ids, list_ids, tag_ids or all_active_contacts")},
		{"contacts_taggings_add", map[string]any{"source": map[string]any{"contact_ids": many}, "tag_ids": []string{tag}}, 400, validation("source.contact_ids may hold at most 500 contact ids, not 501")},
		{"contacts_taggings_add", map[string]any{"source": map[string]any{"list_ids": many[:51]}, "tag_ids": []string{tag}}, 400, validation("source.list_ids may name at most 50 lists, not 51")},
		{"contacts_taggings_remove", map[string]any{"source": map[string]any{"list_ids": []string{unknown}}, "tag_ids": []string{tag}}, 400, validation(fmt.Sprintf("source.list_ids: list %q does not exist", unknown))},
		{"contacts_taggings_add", map[string]any{"source": map[string]any{"contact_ids": []string{unknown}}, "exclude": map[string]any{"contact_ids": []string{unknown}}, "tag_ids": []string{tag}}, 400, validation("exclude applies only to a list_ids or all_active_contacts source")},
		{"contacts_taggings_add", map[string]any{"source": map[string]any{"tag_ids": many[:51]}, "tag_ids": []string{tag}}, 400, validation("source.tag_ids may name at most 50 tags, not 51")},
		{"contacts_taggings_add", map[string]any{"source": map[string]any{"tag_ids": []string{unknown}}, "tag_ids": []string{tag}}, 400, validation(fmt.Sprintf("source.tag_ids: tag %q does not exist", unknown))},
		{"contacts_taggings_add", map[string]any{"source": map[string]any{"tag_ids": []string{tag}, "list_ids": []string{a.ID}}, "tag_ids": []string{tag}}, 400, validation("source must name exactly one of contact_ids, list_ids, tag_ids or all_active_contacts")},
		{"contacts_taggings_add", map[string]any{"source": map[string]any{"tag_ids": []string{tag}}, "exclude": map[string]any{"contact_ids": []string{unknown}}, "tag_ids": []string{tag}}, 400, validation("exclude applies only to a list_ids or all_active_contacts source")},
		{"contacts_taggings_add", map[string]any{"source": map[string]any{"new_subscriber": true}, "tag_ids": []string{tag}}, 400, validation("segmentd keeps no subscription dates: new_subscriber cannot be a source")},
		{"contacts_tags_delete", map[string]any{}, 400, validation("tag_ids must name at least one tag")},
		{"contacts_tags_delete", map[string]any{"tag_ids": many}, 400, validation("tag_ids may name at most 500 tags, not 501")},
		{"contacts_tags_delete", map[string]any{"tag_ids": []string{"vip"}}, 400, validation(`tag_ids: "vip" is not a tag id (a UUID)`)},
		{"contacts_tags_delete", map[string]any{"tag_ids": []string{tag, unknown}}, 400, validation(fmt.Sprintf("tag_ids: tag %q does not exist", unknown))},
	} {
		facetest.WantError(t, e.do(t, facetest.Request{Method: "POST", Path: "/v3/activities/" + tt.kind, Body: tt.body}), tt.status, tt.want)
	}
	// A refused delete deleted nothing.
	e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_tags/" + tag}, 200)
}

// TestTaggingOfDeletedTag: a tag deleted between the request and the job
// fails the tagging activity, which changes nothing.
func TestTaggingOfDeletedTag(t *testing.T) {
	held := &heldEvents{entered: make(chan struct{}), release: make(chan struct{})}
	e := newEnvWith(t, facetest.Config{Service: audience.Config{Events: held}}, cc.Options{})
	held.EventStore = e.Store
	released := false
	release := func() {
		if !released {
			released = true
			close(held.release)
		}
	}
	t.Cleanup(release)
	ctx := context.Background()
	acct := e.DefaultAccount()
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("a@example.com")}})
	gold, _ := e.Svc.CreateTag(ctx, acct, "Gold", "")
	blue, _ := e.Svc.CreateTag(ctx, acct, "Blue", "")
	go e.Svc.AddEvents(ctx, acct, []segmentd.Event{{Email: "x@example.com", Type: "open", Timestamp: time.Now()}})
	<-held.entered
	a := e.must(t, facetest.Request{Method: "POST", Path: "/v3/activities/contacts_taggings_add", Body: map[string]any{"source": map[string]any{"all_active_contacts": true}, "tag_ids": []string{blue.ID, gold.ID}}}, 201)
	if _, err := e.Store.DeleteTag(ctx, acct, gold.ID); err != nil {
		t.Fatal(err)
	}
	release()
	done := e.waitActivity(t, a["activity_id"].(string))
	if done["state"] != "failed" || fmt.Sprint(done["activity_errors"]) != fmt.Sprintf("[tag %q does not exist]", gold.ID) {
		t.Fatalf("tagging with a deleted tag = %v", done)
	}
	if n, _ := e.Svc.TagContactCount(ctx, acct, blue.ID); n != 0 {
		t.Fatalf("blue is on %d contacts", n)
	}
}

// TestActivityRetention: Constant Contact lists the activities of the
// past 10 days; past that a finished one is deleted, its GET 404, on the
// server's clock.
func TestActivityRetention(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	e.Clock.Set(t0)
	l, _ := e.Svc.CreateList(ctx, acct, "Imported")
	old := e.activity(t, "contacts_json_import", map[string]any{"import_data": []map[string]string{{"email": "a@example.com"}}, "list_ids": []string{l.ID}})["activity_id"].(string)
	e.Clock.Set(t0.Add(5 * 24 * time.Hour))
	recent := e.activity(t, "contacts_json_import", map[string]any{"import_data": []map[string]string{{"email": "b@example.com"}}, "list_ids": []string{l.ID}})["activity_id"].(string)
	listed := func() []string {
		var ids []string
		for _, a := range e.must(t, facetest.Request{Method: "GET", Path: "/v3/activities"}, 200)["activities"].([]any) {
			ids = append(ids, a.(map[string]any)["activity_id"].(string))
		}
		return ids
	}
	// Ten days less a millisecond after the first: both are listed.
	e.Clock.Set(t0.Add(audience.ActivityRetention - time.Millisecond))
	if got := listed(); fmt.Sprint(got) != fmt.Sprint([]string{recent, old}) {
		t.Fatalf("within the 10 days: %v", got)
	}
	// Past it: the first is gone.
	e.Clock.Set(t0.Add(audience.ActivityRetention + time.Minute))
	if got := listed(); fmt.Sprint(got) != fmt.Sprint([]string{recent}) {
		t.Fatalf("after 10 days: %v, want only %s", got, recent)
	}
	facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: "/v3/activities/" + old}), 404,
		ccErr("activities.api.not_found", fmt.Sprintf("activity %q does not exist", old)))
	// Deleted from the store, not only hidden.
	if _, err := e.Store.Job(ctx, acct, old); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("the old activity's row: %v", err)
	}
	e.must(t, facetest.Request{Method: "GET", Path: "/v3/activities/" + recent}, 200)
}

// manyIDs is n fresh UUIDs.
func manyIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = segmentd.NewID()
	}
	return out
}

// TestImportsCountAsAccepting: the JSON and the file import count as
// requests being accepted while their body is read, so that the job
// worker yields the CPU to them as to SendGrid's upsert (docs/jobs.md,
// "The apply yields"), and no longer once answered.
func TestImportsCountAsAccepting(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	l, err := e.Svc.CreateList(ctx, e.DefaultAccount(), "Imported")
	if err != nil {
		t.Fatal(err)
	}
	jsonBody := fmt.Sprintf(`{"import_data":[{"email":"ann@example.com"}],"list_ids":[%q]}`, l.ID)
	ct, fileBody := multipartBody(t, "email\nbob@example.com\n", l.ID)
	for _, tt := range []struct {
		path, contentType string
		body              []byte
	}{
		{"/v3/activities/contacts_json_import", "application/json", []byte(jsonBody)},
		{"/v3/activities/contacts_file_import", ct, fileBody},
	} {
		// The body arrives in two parts: the request is in between.
		pr, pw := io.Pipe()
		// A failing test ends the request before the server stops.
		t.Cleanup(func() { pw.CloseWithError(io.ErrUnexpectedEOF) })
		rq, err := http.NewRequest("POST", e.URL+tt.path, pr)
		if err != nil {
			t.Fatal(err)
		}
		rq.Header.Set("Authorization", "Bearer "+e.Key)
		rq.Header.Set("Content-Type", tt.contentType)
		answered := make(chan int, 1)
		go func() {
			resp, err := http.DefaultClient.Do(rq)
			if err != nil {
				answered <- 0
				return
			}
			resp.Body.Close()
			answered <- resp.StatusCode
		}()
		half := len(tt.body) / 2
		if _, err := pw.Write(tt.body[:half]); err != nil {
			t.Fatal(err)
		}
		facetest.Poll(t, tt.path+" counted as being accepted", func() bool { return e.Svc.AcceptingNow() == 1 })
		if _, err := pw.Write(tt.body[half:]); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		if status := <-answered; status != 201 {
			t.Fatalf("%s: status %d, want 201", tt.path, status)
		}
		facetest.Poll(t, tt.path+" counted out once answered", func() bool { return e.Svc.AcceptingNow() == 0 })
	}
}
