package constantcontact_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
)

func TestTagLifecycle(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.Clock.Set(t0)
	created := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_tags", Body: map[string]string{"name": "Gold card member", "tag_source": "ESTY"}}, 201)
	id, _ := created["tag_id"].(string)
	want := map[string]any{"tag_id": id, "name": "Gold card member", "tag_source": "ESTY", "created_at": "2026-05-04T10:20:30.456Z", "updated_at": "2026-05-04T10:20:30.456Z"}
	if !segmentd.IsUUID(id) || fmt.Sprint(created) != fmt.Sprint(want) {
		t.Fatalf("created = %v\nwant      %v", created, want)
	}
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_tags/" + id}, 200); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("GET = %v, want %v", got, want)
	}
	// No contact can be tagged yet: contacts_count is 0.
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_tags/" + strings.ToUpper(id) + "?include_count=true"}, 200); got["contacts_count"] != float64(0) {
		t.Fatalf("GET include_count = %v", got)
	}
	e.Clock.Set(t0.Add(time.Minute))
	renamed := e.must(t, facetest.Request{Method: "PUT", Path: "/v3/contact_tags/" + id, Body: map[string]string{"name": strings.Repeat("ß", 255)}}, 200)
	if renamed["name"] != strings.Repeat("ß", 255) || renamed["updated_at"] != "2026-05-04T10:21:30.456Z" || renamed["tag_source"] != "ESTY" {
		t.Fatalf("PUT = %v", renamed)
	}

	del := e.must(t, facetest.Request{Method: "DELETE", Path: "/v3/contact_tags/" + id}, 202)
	act, _ := del["activity_id"].(string)
	if !segmentd.IsUUID(act) || del["state"] != "completed" || del["percent_done"] != float64(100) || del["_links"].(map[string]any)["self"].(map[string]any)["href"] != "/v3/activities/"+act {
		t.Fatalf("DELETE = %v", del)
	}
	if status := e.must(t, facetest.Request{Method: "GET", Path: "/v3/activities/" + act}, 200); status["state"] != "completed" {
		t.Fatalf("activity = %v", status)
	}
	if _, err := e.Svc.Job(ctx, e.DefaultAccount(), act); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("Job(tag delete activity) = %v, want not found", err)
	}
	notFound := ccErr("contact_tags.api.not_found", fmt.Sprintf("tag %q does not exist", id))
	facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: "/v3/contact_tags/" + id}), 404, notFound)
	facetest.WantError(t, e.do(t, facetest.Request{Method: "PUT", Path: "/v3/contact_tags/" + id, Body: map[string]string{"name": "x"}}), 404, notFound)
	facetest.WantError(t, e.do(t, facetest.Request{Method: "DELETE", Path: "/v3/contact_tags/" + id}), 404, notFound)
	// The name is free again.
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_tags", Body: map[string]string{"name": "gold card member"}}, 201)
}

func TestTagPagingAndLimits(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	for i := range segmentd.MaxTags {
		if _, err := e.Svc.CreateTag(ctx, acct, fmt.Sprintf("tag %03d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	facetest.WantError(t, e.do(t, facetest.Request{Method: "POST", Path: "/v3/contact_tags", Body: map[string]string{"name": "one more"}}), 400,
		ccErr("contact_tags.api.validation.error", "the account already has the maximum of 500 tags"))
	seen := map[string]bool{}
	next := "/v3/contact_tags?limit=200&include_count=true"
	for pages := 0; next != ""; pages++ {
		if pages > 2 {
			t.Fatal("more than 3 pages of 200 for 500 tags")
		}
		u, _ := url.Parse(next)
		page := e.must(t, facetest.Request{Method: "GET", Path: u.Path + "?" + u.RawQuery}, 200)
		for _, tg := range page["tags"].([]any) {
			tg := tg.(map[string]any)
			if tg["contacts_count"] != float64(0) {
				t.Fatalf("include_count lost on page %d: %v", pages, tg)
			}
			seen[tg["tag_id"].(string)] = true
		}
		next = ""
		if l, ok := page["_links"].(map[string]any); ok {
			next = l["next"].(map[string]any)["href"].(string)
		}
	}
	if len(seen) != segmentd.MaxTags {
		t.Fatalf("paged %d distinct tags, want %d", len(seen), segmentd.MaxTags)
	}
	if page := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_tags"}, 200); len(page["tags"].([]any)) != 50 || page["tags"].([]any)[0].(map[string]any)["contacts_count"] != nil {
		t.Fatalf("default page: %d tags", len(page["tags"].([]any)))
	}
}

func TestTagErrors(t *testing.T) {
	e := newEnv(t)
	tg := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_tags", Body: map[string]string{"name": "Gold"}}, 201)
	path := "/v3/contact_tags/" + tg["tag_id"].(string)
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_tags", Body: map[string]string{"name": "Silver"}}, 201)
	key := func(kind string) string { return "contact_tags.api." + kind }
	const unknown = "/v3/contact_tags/3fa85f64-5717-4562-b3fc-2c963f66afa6"
	for _, c := range []struct {
		name     string
		rq       facetest.Request
		status   int
		body     string
		unlisted bool // a status the spec does not list for the operation
	}{
		{"no name", facetest.Request{Method: "POST", Path: "/v3/contact_tags", Body: map[string]string{}}, 400, ccErr(key("validation.error"), "name is required"), false},
		{"empty name", facetest.Request{Method: "POST", Path: "/v3/contact_tags", Body: map[string]string{"name": ""}}, 400, ccErr(key("validation.error"), "name is required"), false},
		{"long name", facetest.Request{Method: "POST", Path: "/v3/contact_tags", Body: map[string]string{"name": strings.Repeat("x", 256)}}, 400, ccErr(key("validation.error"), "name must be at most 255 characters, not 256"), false},
		{"long source", facetest.Request{Method: "POST", Path: "/v3/contact_tags", Body: map[string]string{"name": "x", "tag_source": strings.Repeat("s", 256)}}, 400, ccErr(key("validation.error"), "tag_source must be at most 255 characters, not 256"), false},
		{"duplicate", facetest.Request{Method: "POST", Path: "/v3/contact_tags", Body: map[string]string{"name": "GOLD"}}, 409, ccErr(key("conflict"), `a tag named "GOLD" already exists`), false},
		{"post as text", facetest.Request{Method: "POST", Path: "/v3/contact_tags", Body: `{}`, Header: map[string]string{"Content-Type": "text/plain"}}, 415, ccErr(key("unsupported_media_type"), "Content-Type must be application/json, not text/plain"), true},
		{"put duplicate", facetest.Request{Method: "PUT", Path: path, Body: map[string]string{"name": "silver"}}, 409, ccErr(key("conflict"), `a tag named "silver" already exists`), false},
		{"put source", facetest.Request{Method: "PUT", Path: path, Body: map[string]string{"name": "Gold", "tag_source": "x"}}, 400, ccErr(key("validation.error"), "tag_source is set when a tag is created and cannot be updated"), false},
		{"put no name", facetest.Request{Method: "PUT", Path: path, Body: map[string]string{}}, 400, ccErr(key("validation.error"), "name is required"), false},
		{"put as text", facetest.Request{Method: "PUT", Path: path, Body: `{}`, Header: map[string]string{"Content-Type": "text/plain"}}, 415, ccErr(key("unsupported_media_type"), "Content-Type must be application/json, not text/plain"), true},
		{"get unknown", facetest.Request{Method: "GET", Path: unknown}, 404, ccErr(key("not_found"), `tag "3fa85f64-5717-4562-b3fc-2c963f66afa6" does not exist`), false},
		{"get not a uuid", facetest.Request{Method: "GET", Path: "/v3/contact_tags/gold"}, 404, ccErr(key("not_found"), "/v3/contact_tags/gold is not a Constant Contact V3 resource that segmentd serves"), false},
		{"delete unknown", facetest.Request{Method: "DELETE", Path: unknown}, 404, ccErr(key("not_found"), `tag "3fa85f64-5717-4562-b3fc-2c963f66afa6" does not exist`), false},
		{"get include_count", facetest.Request{Method: "GET", Path: path + "?include_count=yes"}, 400, ccErr(key("validation.error"), `include_count must be true or false, not "yes"`), false},
		{"limit 0", facetest.Request{Method: "GET", Path: "/v3/contact_tags?limit=0"}, 400, ccErr(key("validation.error"), `limit must be a whole number from 1 to 500, not "0"`), false},
		{"limit 501", facetest.Request{Method: "GET", Path: "/v3/contact_tags?limit=501"}, 400, ccErr(key("validation.error"), `limit must be a whole number from 1 to 500, not "501"`), false},
		{"bad cursor", facetest.Request{Method: "GET", Path: "/v3/contact_tags?cursor=bGltaXQ9MQ"}, 400, ccErr(key("validation.error"), "cursor is not valid; follow _links.next.href as given"), false},
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
		{Method: "POST", Path: "/v3/contact_tags", Body: map[string]string{"name": "n"}},
		{Method: "PUT", Path: path, Body: map[string]string{"name": "n"}},
		{Method: "DELETE", Path: path},
	}, []facetest.Request{{Method: "GET", Path: "/v3/contact_tags"}, {Method: "GET", Path: path}})
	page := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_tags"}, 200)
	var names []string
	for _, tg := range page["tags"].([]any) {
		names = append(names, tg.(map[string]any)["name"].(string))
	}
	if len(names) != 2 || !(names[0] == "Gold" || names[1] == "Gold") {
		t.Fatalf("tags after refused writes: %v", names)
	}
}
