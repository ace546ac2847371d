package constantcontact_test

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
)

func TestListLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	e.Clock.Set(t0)
	created := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_lists", Body: map[string]any{"name": "Multiple purchases", "favorite": false, "description": ""}}, 201)
	id, _ := created["list_id"].(string)
	want := map[string]any{"list_id": id, "name": "Multiple purchases", "favorite": false, "created_at": "2026-05-04T10:20:30.456Z", "updated_at": "2026-05-04T10:20:30.456Z"}
	if !segmentd.IsUUID(id) || fmt.Sprint(created) != fmt.Sprint(want) {
		t.Fatalf("created = %v\nwant      %v", created, want)
	}
	// The same list SendGrid's face sees: contacts it puts on the list
	// count here.
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("a@example.com")}, {Email: facetest.Ptr("b@example.com")}}, id)
	got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_lists/" + id + "?include_membership_count=all"}, 200)
	if got["membership_count"] != float64(2) || got["name"] != "Multiple purchases" {
		t.Fatalf("GET = %v", got)
	}
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_lists/" + strings.ToUpper(id)}, 200); got["membership_count"] != nil {
		t.Fatalf("GET without include_membership_count = %v", got)
	}

	// A name up to Constant Contact's 255 characters (SendGrid's face
	// allows 100).
	e.Clock.Set(t0.Add(time.Minute))
	long := strings.Repeat("é", 255)
	put := e.must(t, facetest.Request{Method: "PUT", Path: "/v3/contact_lists/" + id, Body: map[string]any{"name": long}}, 200)
	if put["name"] != long || put["updated_at"] != "2026-05-04T10:21:30.456Z" || put["created_at"] != "2026-05-04T10:20:30.456Z" {
		t.Fatalf("PUT = %v", put)
	}
	if l, _, err := e.Svc.List(ctx, acct, id, false); err != nil || l.Name != long {
		t.Fatalf("list as SendGrid's face reads it: %+v, %v", l, err)
	}

	// DELETE: 202 with a completed list_delete activity, readable at its
	// self link; the contacts stay.
	del := e.must(t, facetest.Request{Method: "DELETE", Path: "/v3/contact_lists/" + id}, 202)
	act, _ := del["activity_id"].(string)
	self := del["_links"].(map[string]any)["self"].(map[string]any)["href"]
	if !segmentd.IsUUID(act) || del["state"] != "completed" || del["percent_done"] != float64(100) || self != "/v3/activities/"+act {
		t.Fatalf("DELETE = %v", del)
	}
	status := e.must(t, facetest.Request{Method: "GET", Path: "/v3/activities/" + act}, 200)
	if status["state"] != "completed" || status["percent_done"] != float64(100) || status["activity_id"] != act ||
		fmt.Sprint(status["status"]) != "map[items_completed_count:1 items_total_count:1 list_count:1]" || status["completed_at"] != "2026-05-04T10:21:30.456Z" {
		t.Fatalf("activity = %v", status)
	}
	// SendGrid's job endpoint does not show Constant Contact's activities.
	if _, err := e.Svc.Job(ctx, acct, act); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("Job(activity) = %v, want not found", err)
	}
	facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: "/v3/contact_lists/" + id}), 404, ccErr("contact_lists.api.not_found", fmt.Sprintf("list %q does not exist", id)))
	if n, err := e.Svc.CountContacts(ctx, acct); err != nil || n != 2 {
		t.Fatalf("contacts after the list delete: %d, %v", n, err)
	}
	// Nor does an activity id read a SendGrid job.
	jobID, err := e.Svc.UpsertContacts(ctx, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("c@example.com")}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	facetest.WaitJob(t, e.Svc, acct, jobID)
	facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: "/v3/activities/" + jobID}), 404, ccErr("activities.api.not_found", fmt.Sprintf("activity %q does not exist", jobID)))
	facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: "/v3/activities/nope"}), 404, ccErr("activities.api.not_found", "/v3/activities/nope is not a Constant Contact V3 resource that segmentd serves"))
}

func TestListPaging(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	var ids []string
	for i := range 5 {
		l, err := e.Svc.CreateList(ctx, acct, fmt.Sprintf("list %d", i))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, l.ID)
	}
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("a@example.com")}}, ids[4])
	var got []string
	next := "/v3/contact_lists?limit=2&include_count=true&include_membership_count=active"
	for pages := 0; next != ""; pages++ {
		if pages > 3 {
			t.Fatal("more than 3 pages of 2 for 5 lists")
		}
		u, _ := url.Parse(next)
		page := e.must(t, facetest.Request{Method: "GET", Path: u.Path + "?" + u.RawQuery}, 200)
		if page["lists_count"] != float64(5) {
			t.Fatalf("page %d: lists_count = %v", pages, page["lists_count"])
		}
		for _, l := range page["lists"].([]any) {
			l := l.(map[string]any)
			got = append(got, l["list_id"].(string))
			if want := map[bool]float64{true: 1, false: 0}[l["list_id"] == ids[4]]; l["membership_count"] != want {
				t.Fatalf("membership_count of %v, want %v", l, want)
			}
		}
		next = ""
		if l, ok := page["_links"].(map[string]any); ok {
			next = l["next"].(map[string]any)["href"].(string)
		}
	}
	if len(got) != 5 {
		t.Fatalf("paged %v", got)
	}
	plain := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_lists"}, 200)
	if first := plain["lists"].([]any)[0].(map[string]any); first["membership_count"] != nil || plain["lists_count"] != nil || plain["_links"] != nil {
		t.Fatalf("plain list = %v", plain)
	}
}

func TestListErrors(t *testing.T) {
	e := newEnv(t)
	l := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_lists", Body: map[string]string{"name": "Gold"}}, 201)
	path := "/v3/contact_lists/" + l["list_id"].(string)
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_lists", Body: map[string]string{"name": "Silver"}}, 201)
	key := func(kind string) string { return "contact_lists.api." + kind }
	const unknown = "/v3/contact_lists/06526938-56dd-11e9-932a-fa163ea075fa"
	for _, c := range []struct {
		name     string
		rq       facetest.Request
		status   int
		body     string
		unlisted bool // a status the spec does not list for the operation
	}{
		{"no name", facetest.Request{Method: "POST", Path: "/v3/contact_lists", Body: map[string]string{}}, 400, ccErr(key("validation.error"), "name is required"), false},
		{"blank name", facetest.Request{Method: "POST", Path: "/v3/contact_lists", Body: map[string]string{"name": " "}}, 400, ccErr(key("validation.error"), "name is required"), false},
		{"long name", facetest.Request{Method: "POST", Path: "/v3/contact_lists", Body: map[string]string{"name": strings.Repeat("x", 256)}}, 400, ccErr(key("validation.error"), "name must be at most 255 characters"), false},
		{"control character", facetest.Request{Method: "POST", Path: "/v3/contact_lists", Body: map[string]string{"name": "a\x01"}}, 400, ccErr(key("validation.error"), "name must not contain control characters (found U+0001)"), false},
		{"long description", facetest.Request{Method: "POST", Path: "/v3/contact_lists", Body: map[string]string{"name": "x", "description": strings.Repeat("d", 1001)}}, 400,
			ccErr(key("validation.error"), "description must be at most 1000 characters, not 1001"), false},
		{"put long description", facetest.Request{Method: "PUT", Path: path, Body: map[string]string{"name": "x", "description": strings.Repeat("d", 1001)}}, 400,
			ccErr(key("validation.error"), "description must be at most 1000 characters, not 1001"), false},
		{"duplicate", facetest.Request{Method: "POST", Path: "/v3/contact_lists", Body: map[string]string{"name": "GOLD"}}, 409, ccErr(key("conflict"), `a list named "GOLD" already exists`), false},
		{"post as text", facetest.Request{Method: "POST", Path: "/v3/contact_lists", Body: `{}`, Header: map[string]string{"Content-Type": "text/plain"}}, 415, ccErr(key("unsupported_media_type"), "Content-Type must be application/json, not text/plain"), true},
		{"put duplicate", facetest.Request{Method: "PUT", Path: path, Body: map[string]string{"name": "silver"}}, 409, ccErr(key("conflict"), `a list named "silver" already exists`), true},
		{"put no name", facetest.Request{Method: "PUT", Path: path, Body: map[string]string{}}, 400, ccErr(key("validation.error"), "name is required"), false},
		{"put unknown", facetest.Request{Method: "PUT", Path: unknown, Body: map[string]string{"name": "x"}}, 404, ccErr(key("not_found"), `list "06526938-56dd-11e9-932a-fa163ea075fa" does not exist`), false},
		{"get unknown", facetest.Request{Method: "GET", Path: unknown}, 404, ccErr(key("not_found"), `list "06526938-56dd-11e9-932a-fa163ea075fa" does not exist`), false},
		{"get not a uuid", facetest.Request{Method: "GET", Path: "/v3/contact_lists/gold"}, 404, ccErr(key("not_found"), "/v3/contact_lists/gold is not a Constant Contact V3 resource that segmentd serves"), false},
		{"delete unknown", facetest.Request{Method: "DELETE", Path: unknown}, 404, ccErr(key("not_found"), `list "06526938-56dd-11e9-932a-fa163ea075fa" does not exist`), false},
		{"delete as text", facetest.Request{Method: "DELETE", Path: path, Header: map[string]string{"Content-Type": "text/plain"}}, 415, ccErr(key("unsupported_media_type"), "Content-Type must be application/json, not text/plain"), false},
		{"bad membership count", facetest.Request{Method: "GET", Path: path + "?include_membership_count=some"}, 400, ccErr(key("validation.error"), `include_membership_count must be all or active, not "some"`), true},
		{"limit 0", facetest.Request{Method: "GET", Path: "/v3/contact_lists?limit=0"}, 400, ccErr(key("validation.error"), `limit must be a whole number from 1 to 1000, not "0"`), false},
		{"limit 1001", facetest.Request{Method: "GET", Path: "/v3/contact_lists?limit=1001"}, 400, ccErr(key("validation.error"), `limit must be a whole number from 1 to 1000, not "1001"`), false},
		{"include_count", facetest.Request{Method: "GET", Path: "/v3/contact_lists?include_count=maybe"}, 400, ccErr(key("validation.error"), `include_count must be true or false, not "maybe"`), false},
		{"channel_type filter", facetest.Request{Method: "GET", Path: "/v3/contact_lists?channel_type=sms"}, 400,
			ccErr(key("validation.error"), "segmentd does not support the channel_type parameter of GET /v3/contact_lists (it serves limit, include_count, include_membership_count, name, status and cursor)"), false},
		{"blank name filter", facetest.Request{Method: "GET", Path: "/v3/contact_lists?name=%20"}, 400,
			ccErr(key("validation.error"), `name must be a list's full name, 1 to 255 characters, not " "`), false},
		{"long name filter", facetest.Request{Method: "GET", Path: "/v3/contact_lists?name=" + strings.Repeat("x", 256)}, 400,
			ccErr(key("validation.error"), `name must be a list's full name, 1 to 255 characters, not "`+strings.Repeat("x", 40)+`…"`), false},
		{"bad status", facetest.Request{Method: "GET", Path: "/v3/contact_lists?status=active,gone"}, 400,
			ccErr(key("validation.error"), `status must be all, active or deleted (comma-separated), not "gone"`), false},
		{"bad cursor", facetest.Request{Method: "GET", Path: "/v3/contact_lists?cursor=abc"}, 400, ccErr(key("validation.error"), "cursor is not valid; follow _links.next.href as given"), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.send(t, c.rq)
			if !c.unlisted {
				ccSpec.Check(t, c.rq.Method, c.rq.Path, "", r)
			}
			facetest.WantError(t, r, c.status, c.body)
		})
	}
	checkAuth(t, e, []facetest.Request{
		{Method: "POST", Path: "/v3/contact_lists", Body: map[string]string{"name": "n"}},
		{Method: "PUT", Path: path, Body: map[string]string{"name": "n"}},
		{Method: "DELETE", Path: path},
	}, []facetest.Request{{Method: "GET", Path: "/v3/contact_lists"}, {Method: "GET", Path: path}})
	if got := e.must(t, facetest.Request{Method: "GET", Path: path}, 200); got["name"] != "Gold" {
		t.Fatalf("after refused writes: %v", got)
	}
	page := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_lists?include_count=true"}, 200)
	if page["lists_count"] != float64(2) {
		t.Fatalf("lists after refused writes: %v", page)
	}
}

// TestListFilters: GET /v3/contact_lists?name= answers the list of that
// full name, ignoring case, with its counts, or none; status=deleted
// answers none (a deleted list is gone at once), all and active every
// list.
func TestListFilters(t *testing.T) {
	e := newEnv(t)
	acct := e.DefaultAccount()
	var ids []string
	for _, name := range []string{"Gold", "Silver", "Bronze"} {
		ids = append(ids, e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_lists", Body: map[string]string{"name": name}}, 201)["list_id"].(string))
	}
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("a@example.com")}, {Email: facetest.Ptr("b@example.com")}}, ids[1])
	names := func(path string) string {
		page := e.must(t, facetest.Request{Method: "GET", Path: path}, 200)
		var out []string
		for _, l := range page["lists"].([]any) {
			l := l.(map[string]any)
			out = append(out, fmt.Sprint(l["name"], ":", l["membership_count"]))
		}
		sort.Strings(out) // lists are in id order
		return fmt.Sprint(out, " ", page["lists_count"], " ", page["_links"])
	}
	for _, c := range []struct{ path, want string }{
		{"/v3/contact_lists?name=silver&include_membership_count=all&include_count=true", "[Silver:2] 1 <nil>"},
		{"/v3/contact_lists?name=Silver&limit=1", "[Silver:<nil>] <nil> <nil>"},
		{"/v3/contact_lists?name=Platinum&include_count=true", "[] 0 <nil>"},
		{"/v3/contact_lists?name=Gol", "[] <nil> <nil>"},
		{"/v3/contact_lists?status=deleted&include_count=true", "[] 0 <nil>"},
		{"/v3/contact_lists?status=deleted&name=Gold", "[] <nil> <nil>"},
		{"/v3/contact_lists?status=active,deleted&name=Gold", "[Gold:<nil>] <nil> <nil>"},
		{"/v3/contact_lists?status=all&include_count=true", "[Bronze:<nil> Gold:<nil> Silver:<nil>] 3 <nil>"},
	} {
		if got := names(c.path); got != c.want {
			t.Errorf("%s: %s, want %s", c.path, got, c.want)
		}
	}
	// Among more lists than one page of the scan holds (created as
	// SendGrid's face does, which Constant Contact's 1,000 do not bound).
	for i := range 1100 {
		if _, err := e.Svc.CreateList(t.Context(), acct, fmt.Sprintf("extra %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	// The last list in id order, on the scan's second page.
	first := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_lists?limit=1000"}, 200)
	next := first["_links"].(map[string]any)["next"].(map[string]any)["href"].(string)
	rest := e.must(t, facetest.Request{Method: "GET", Path: next}, 200)["lists"].([]any)
	last := rest[len(rest)-1].(map[string]any)["name"].(string)
	if got := names("/v3/contact_lists?name=" + url.QueryEscape(strings.ToUpper(last))); got != "["+last+":<nil>] <nil> <nil>" {
		t.Errorf("the last of 1,103 lists by name: %s", got)
	}
}

// TestListDetails: a list's description and favorite flag are kept,
// returned, and kept by a PUT that leaves them out.
func TestListDetails(t *testing.T) {
	e := newEnv(t)
	created := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_lists", Body: map[string]any{"name": "Buyers", "description": "repeat buyers", "favorite": true}}, 201)
	id := created["list_id"].(string)
	if created["description"] != "repeat buyers" || created["favorite"] != true {
		t.Fatalf("created = %v", created)
	}
	put := e.must(t, facetest.Request{Method: "PUT", Path: "/v3/contact_lists/" + id, Body: map[string]any{"name": "Buyers 2"}}, 200)
	if put["description"] != "repeat buyers" || put["favorite"] != true || put["name"] != "Buyers 2" {
		t.Fatalf("PUT without details = %v", put)
	}
	e.must(t, facetest.Request{Method: "PUT", Path: "/v3/contact_lists/" + id, Body: map[string]any{"name": "Buyers 2", "description": "", "favorite": false}}, 200)
	got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_lists?include_count=true"}, 200)["lists"].([]any)[0].(map[string]any)
	if got["description"] != nil || got["favorite"] != false {
		t.Fatalf("listed after clearing = %v", got)
	}
	// SendGrid's rename keeps them.
	e.must(t, facetest.Request{Method: "PUT", Path: "/v3/contact_lists/" + id, Body: map[string]any{"name": "Buyers 2", "favorite": true}}, 200)
	if _, err := e.Svc.RenameList(context.Background(), e.DefaultAccount(), id, "Buyers 3"); err != nil {
		t.Fatal(err)
	}
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_lists/" + id}, 200); got["favorite"] != true || got["name"] != "Buyers 3" {
		t.Fatalf("after SendGrid's rename = %v", got)
	}
}

// TestListLimit: an account holds at most 1,000 lists through Constant
// Contact's face.
func TestListLimit(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	for i := range segmentd.MaxCCLists {
		if _, err := e.Svc.CreateList(ctx, acct, fmt.Sprint("list ", i)); err != nil {
			t.Fatal(err)
		}
	}
	facetest.WantError(t, e.do(t, facetest.Request{Method: "POST", Path: "/v3/contact_lists", Body: map[string]any{"name": "one more"}}), 400,
		ccErr("contact_lists.api.validation.error", "the account already has the maximum of 1000 lists"))
	page, _ := e.Svc.Lists(ctx, acct, "", 1)
	e.must(t, facetest.Request{Method: "DELETE", Path: "/v3/contact_lists/" + page.Lists[0].ID}, 202)
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_lists", Body: map[string]any{"name": "one more"}}, 201)
}
