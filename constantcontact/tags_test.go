package constantcontact_test

import (
	"context"
	"fmt"
	"net/url"
	"slices"
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
	// No contact has it yet: contacts_count is 0.
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

// TestContactTaggings: taggings written by POST and PUT /v3/contacts read
// back with include=taggings, count in the tag's contacts_count, and
// make a segment by tag match for real; deleting the tag untags its
// contacts and empties the segment.
func TestContactTaggings(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	gold := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_tags", Body: map[string]string{"name": "Gold"}}, 201)["tag_id"].(string)
	blue := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_tags", Body: map[string]string{"name": "Blue"}}, 201)["tag_id"].(string)
	crit := fmt.Sprintf(`{"version":"1.0.0","criteria":{"type":"or","group":[{"source":"tags","field":"tag_id","op":"contains-any","const_value":%q}]}}`, strings.ToUpper(gold))
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "Gold", "segment_criteria": crit}}, 201)
	members := func() float64 {
		return e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts?segment_id=1&include_count=true"}, 200)["contacts_count"].(float64)
	}
	count := func(tag string) float64 {
		return e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_tags/" + tag + "?include_count=true"}, 200)["contacts_count"].(float64)
	}

	rq := facetest.Request{Method: "POST", Path: "/v3/contacts", Body: ccContact{
		"email_address": map[string]string{"address": "ada@example.com"}, "taggings": []string{strings.ToUpper(gold), blue, gold}}}
	created := e.must(t, rq, 201) // validated against the Swagger document
	id := created["contact_id"].(string)
	want := fmt.Sprint(sortedIDs(gold, blue))
	if fmt.Sprint(created["taggings"]) != want {
		t.Fatalf("created taggings = %v, want %v", created["taggings"], want)
	}
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts/" + id + "?include=taggings"}, 200); fmt.Sprint(got["taggings"]) != want {
		t.Fatalf("GET taggings = %v, want %v", got["taggings"], want)
	}
	if members() != 1 || count(gold) != 1 || count(blue) != 1 {
		t.Fatalf("after the create: segment %v, gold %v, blue %v", members(), count(gold), count(blue))
	}
	// The list page renders taggings too.
	page := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts?include=taggings"}, 200)["contacts"].([]any)
	if len(page) != 1 || fmt.Sprint(page[0].(map[string]any)["taggings"]) != want {
		t.Fatalf("GET /v3/contacts taggings = %v", page)
	}

	// PUT without taggings keeps them; with taggings replaces them.
	put := func(body ccContact) map[string]any {
		body["email_address"] = map[string]string{"address": "ada@example.com"}
		body["update_source"] = "Account"
		return e.must(t, facetest.Request{Method: "PUT", Path: "/v3/contacts/" + id, Body: body}, 200)
	}
	if got := put(ccContact{"first_name": "Ada"}); fmt.Sprint(got["taggings"]) != want {
		t.Fatalf("PUT without taggings: %v", got["taggings"])
	}
	if got := put(ccContact{"taggings": []string{blue}}); fmt.Sprint(got["taggings"]) != fmt.Sprint([]any{blue}) {
		t.Fatalf("PUT taggings [blue]: %v", got["taggings"])
	}
	if members() != 0 || count(gold) != 0 || count(blue) != 1 {
		t.Fatalf("after untagging gold: segment %v, gold %v, blue %v", members(), count(gold), count(blue))
	}
	put(ccContact{"taggings": []string{gold}})
	if members() != 1 || count(gold) != 1 || count(blue) != 0 {
		t.Fatalf("after retagging: segment %v, gold %v, blue %v", members(), count(gold), count(blue))
	}
	// A tagging SendGrid's upsert cannot see is kept by it.
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("ada@example.com"), LastName: facetest.Ptr("Lovelace")}})
	if c, err := e.Svc.Contact(ctx, acct, id); err != nil || fmt.Sprint(c.TagIDs) != fmt.Sprint([]string{gold}) || c.LastName != "Lovelace" {
		t.Fatalf("after a SendGrid upsert: %+v, %v", c, err)
	}
	if members() != 1 {
		t.Fatalf("segment after a SendGrid upsert = %v, want 1", members())
	}
	// The Service's set writes (the tag activities' work).
	if n, err := e.Svc.TagContacts(ctx, acct, []string{blue}, []string{id, "8a9b5c2e-0000-7000-8000-000000000000"}); err != nil || n != 1 {
		t.Fatalf("TagContacts = %d, %v", n, err)
	}
	if n, err := e.Svc.UntagContacts(ctx, acct, []string{gold}, []string{id}); err != nil || n != 1 || members() != 0 {
		t.Fatalf("UntagContacts = %d, %v; segment %v", n, err, members())
	}
	if _, err := e.Svc.TagContacts(ctx, acct, []string{gold}, []string{id}); err != nil || members() != 1 {
		t.Fatalf("TagContacts(gold) = %v; segment %v", err, members())
	}

	// GET /v3/contacts?tags=: the contacts with any of the tags, paged,
	// counted; a tag nobody has (or no tag at all) selects nobody.
	for _, email := range []string{"b@example.com", "c@example.com", "d@example.com"} {
		e.must(t, facetest.Request{Method: "POST", Path: "/v3/contacts", Body: ccContact{"email_address": map[string]string{"address": email}, "taggings": []string{blue}}}, 201)
	}
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/contacts", Body: ccContact{"email_address": map[string]string{"address": "untagged@example.com"}}}, 201)
	pages, first := e.contactPages(t, "/v3/contacts?tags="+gold+","+strings.ToUpper(blue)+"&limit=2&include_count=true&include=taggings")
	var emails []string
	for _, p := range pages {
		if len(p) > 2 {
			t.Fatalf("a page of more than limit contacts: %v", pages)
		}
		emails = append(emails, p...)
	}
	slices.Sort(emails)
	if fmt.Sprint(emails) != "[ada@example.com b@example.com c@example.com d@example.com]" || first["contacts_count"] != float64(4) {
		t.Fatalf("GET ?tags= pages %v, count %v", pages, first["contacts_count"])
	}
	only := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts?tags=" + gold + "&include_count=true"}, 200)
	if cs := only["contacts"].([]any); len(cs) != 1 || cs[0].(map[string]any)["contact_id"] != id || only["contacts_count"] != float64(1) {
		t.Fatalf("GET ?tags=gold = %v", only)
	}
	none := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts?tags=3fa85f64-5717-4562-b3fc-2c963f66afa6&include_count=true"}, 200)
	if len(none["contacts"].([]any)) != 0 || none["contacts_count"] != float64(0) || none["_links"] != nil {
		t.Fatalf("GET ?tags=<no tag> = %v", none)
	}

	// Deleting the tag untags the contact and empties the segment.
	e.must(t, facetest.Request{Method: "DELETE", Path: "/v3/contact_tags/" + gold}, 202)
	if members() != 0 {
		t.Fatalf("segment after the tag's delete = %v, want 0", members())
	}
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts/" + id + "?include=taggings"}, 200); fmt.Sprint(got["taggings"]) != fmt.Sprint([]any{blue}) {
		t.Fatalf("taggings after the tag's delete = %v", got["taggings"])
	}
	if n, err := e.Svc.DeleteTags(ctx, acct, []string{blue, gold}); segmentd.ErrorKindOf(err) != segmentd.KindNotFound || n != 4 {
		t.Fatalf("DeleteTags(blue, deleted gold) = %d, %v; want 4 and not found", n, err)
	}
	if c, err := e.Svc.Contact(ctx, acct, id); err != nil || len(c.TagIDs) != 0 {
		t.Fatalf("contact after DeleteTags: %+v, %v", c, err)
	}
}

func sortedIDs(ids ...string) []any {
	slices.Sort(ids)
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
