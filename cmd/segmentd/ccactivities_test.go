package main

import (
	"fmt"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitActivity polls GET /v3/activities/{id} until the activity leaves
// processing, with a deadline, and returns it; the id must never be
// unknown.
func (c ccClient) waitActivity(id string) map[string]any {
	c.t.Helper()
	deadline := time.Now().Add(120 * time.Second)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		a := c.must("GET", "/v3/activities/"+id, "", 200)
		if a["state"] != "processing" {
			return a
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("activity %s still processing after 120 s", id)
		}
		time.Sleep(wait)
	}
}

// jsonImport is a contacts_json_import body of n contacts p<from+i>, each
// with a plan, onto list.
func jsonImport(from, n int, list string) string {
	var b strings.Builder
	b.WriteString(`{"import_data":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"email":"p%06d@example.com","first_name":"P%d","cf:plan":"gold"}`, from+i, from+i)
	}
	fmt.Fprintf(&b, `],"list_ids":[%q]}`, list)
	return b.String()
}

// TestConstantContactActivitiesThroughTheBinary runs a JSON import
// activity and a list-membership activity to completion on the real
// binary and each store, with segments and counts following them; then
// kills it with SIGKILL and restarts it: the activities still read
// completed and their contacts and memberships are stored.
func TestConstantContactActivitiesThroughTheBinary(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.cc-activities-key"
		s, cmd := st.start(t, bin, key)
		c := ccClient{t: t, url: s.url, key: key}
		c.must("POST", "/v3/contact_custom_fields", `{"label":"plan","type":"string"}`, 201)
		imported := c.must("POST", "/v3/contact_lists", `{"name":"Imported"}`, 201)["list_id"].(string)
		vip := c.must("POST", "/v3/contact_lists", `{"name":"VIP","favorite":true}`, 201)["list_id"].(string)
		byVIP := fmt.Sprintf(`{"version":"1.0.0","criteria":{"type":"or","group":[{"source":"list_membership","field":"list_id","op":"contains-any","const_value":%q}]}}`, vip)
		c.must("POST", "/v3/segments", segmentBody("VIP", byVIP), 201)

		imp := c.must("POST", "/v3/activities/contacts_json_import", jsonImport(0, 300, imported), 201)["activity_id"].(string)
		if a := c.waitActivity(imp); a["state"] != "completed" || fmt.Sprint(a["status"].(map[string]any)["person_count"]) != "300" {
			t.Fatalf("import: %v", a)
		}
		add := c.must("POST", "/v3/activities/add_list_memberships", fmt.Sprintf(`{"source":{"list_ids":[%q]},"exclude":{"contact_ids":[]},"list_ids":[%q]}`, imported, vip), 201)["activity_id"].(string)
		if a := c.waitActivity(add); a["state"] != "completed" || fmt.Sprint(a["status"].(map[string]any)["items_completed_count"]) != "300" {
			t.Fatalf("add_list_memberships: %v", a)
		}
		counts := func(c ccClient) string {
			seg := c.must("GET", "/v3/contacts?segment_id=1&include_count=true&limit=1", "", 200)["contacts_count"]
			l := c.must("GET", "/v3/contact_lists/"+vip+"?include_membership_count=all", "", 200)
			return fmt.Sprint(seg, " ", l["membership_count"], " ", l["favorite"])
		}
		if got := counts(c); got != "300 300 true" {
			t.Fatalf("after the activities: %s", got)
		}
		listed := c.must("GET", "/v3/activities?state=completed", "", 200)["activities"].([]any)
		if len(listed) != 2 || listed[0].(map[string]any)["activity_id"] != add {
			t.Fatalf("GET /v3/activities: %v", listed)
		}

		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		s2, _ := st.start(t, bin, key)
		c2 := ccClient{t: t, url: s2.url, key: key}
		for _, id := range []string{imp, add} {
			if a := c2.must("GET", "/v3/activities/"+id, "", 200); a["state"] != "completed" {
				t.Fatalf("activity %s after a restart: %v", id, a)
			}
		}
		if got := counts(c2); got != "300 300 true" {
			t.Fatalf("after a restart: %s", got)
		}
	})
}

// TestConstantContactActivitiesSurviveKill9 kills the real binary on
// SQLite right after it answered 201 to a large JSON import and to a
// list-membership activity queued behind it: after the restart both
// complete from the job journal, never unknown, and their contacts and
// memberships are stored. (On a store shared by several servers, an
// activity whose server stopped before running it fails as abandoned
// instead: docs/postgres.md.)
func TestConstantContactActivitiesSurviveKill9(t *testing.T) {
	bin := realBinary(t)
	dir := t.TempDir()
	const key = "SG.cc-kill9-key"
	s, cmd := startBinary(t, bin, dir, key)
	c := ccClient{t: t, url: s.url, key: key}
	c.must("POST", "/v3/contact_custom_fields", `{"label":"plan","type":"string"}`, 201)
	imported := c.must("POST", "/v3/contact_lists", `{"name":"Imported"}`, 201)["list_id"].(string)
	vip := c.must("POST", "/v3/contact_lists", `{"name":"VIP"}`, 201)["list_id"].(string)

	const n = 40000
	var ids []string
	for i := range 2 {
		ids = append(ids, c.must("POST", "/v3/activities/contacts_json_import", jsonImport(i*n/2, n/2, imported), 201)["activity_id"].(string))
	}
	ids = append(ids, c.must("POST", "/v3/activities/add_list_memberships", fmt.Sprintf(`{"source":{"all_active_contacts":true},"list_ids":[%q]}`, vip), 201)["activity_id"].(string))
	if a := c.must("GET", "/v3/activities/"+ids[2], "", 200); a["state"] != "processing" {
		t.Fatalf("the membership activity is %v before the kill; the test needs it queued", a["state"])
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	s2, _ := startBinary(t, bin, dir, key)
	c2 := ccClient{t: t, url: s2.url, key: key}
	for _, id := range ids {
		if a := c2.waitActivity(id); a["state"] != "completed" {
			t.Fatalf("activity %s after the restart: %v", id, a)
		}
	}
	for _, l := range []string{imported, vip} {
		if got := c2.must("GET", "/v3/contact_lists/"+l+"?include_membership_count=all", "", 200)["membership_count"]; fmt.Sprint(got) != fmt.Sprint(n) {
			t.Fatalf("list %s holds %v after the restart, want %d", l, got, n)
		}
	}
	found := c2.must("GET", "/v3/contacts?email=p039999@example.com&include=custom_fields,list_memberships", "", 200)["contacts"].([]any)
	if len(found) != 1 || found[0].(map[string]any)["first_name"] != "P39999" || len(found[0].(map[string]any)["list_memberships"].([]any)) != 2 {
		t.Fatalf("last imported contact after the restart: %v", found)
	}
}

// TestConstantContactActivitiesKill9OnADatabase kills the real binary on
// PostgreSQL (and Citus) right after it answered 201 to a large JSON
// import and a list-membership activity queued behind it, and restarts
// it: neither activity id is ever unknown, and both complete from the
// inputs stored with them, in order (docs/jobs.md), before the account's
// next activity.
func TestConstantContactActivitiesKill9OnADatabase(t *testing.T) {
	bin := realBinary(t)
	eachDatabase(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.cc-kill9-db-key"
		s, cmd := st.start(t, bin, key)
		c := ccClient{t: t, url: s.url, key: key}
		c.must("POST", "/v3/contact_custom_fields", `{"label":"plan","type":"string"}`, 201)
		imported := c.must("POST", "/v3/contact_lists", `{"name":"Imported"}`, 201)["list_id"].(string)
		vip := c.must("POST", "/v3/contact_lists", `{"name":"VIP"}`, 201)["list_id"].(string)
		const n = 20000
		imp := c.must("POST", "/v3/activities/contacts_json_import", jsonImport(0, n, imported), 201)["activity_id"].(string)
		add := c.must("POST", "/v3/activities/add_list_memberships", fmt.Sprintf(`{"source":{"list_ids":[%q]},"list_ids":[%q]}`, imported, vip), 201)["activity_id"].(string)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()

		s2, _ := st.start(t, bin, key)
		c2 := ccClient{t: t, url: s2.url, key: key}
		members := func(list string) string {
			return fmt.Sprint(c2.must("GET", "/v3/contact_lists/"+list+"?include_membership_count=all", "", 200)["membership_count"])
		}
		for _, id := range []string{imp, add} {
			c2.must("GET", "/v3/activities/"+id, "", 200)
		}
		again := c2.must("POST", "/v3/activities/add_list_memberships", fmt.Sprintf(`{"source":{"all_active_contacts":true},"list_ids":[%q]}`, vip), 201)["activity_id"].(string)
		for _, id := range []string{imp, add, again} {
			if a := c2.waitActivity(id); a["state"] != "completed" {
				t.Fatalf("activity %s after the restart: %v", id, a)
			}
		}
		if got := members(imported); got != fmt.Sprint(n) {
			t.Fatalf("the import completed but its list holds %s", got)
		}
		if got, want := members(vip), members(imported); got != want {
			t.Fatalf("VIP holds %s, want every contact (%s)", got, want)
		}
	})
}

// TestConstantContactTagActivitiesThroughTheBinary runs the tag

// TestConstantContactActivityRetention: on the real binary and each store,
// activities (contacts_taggings_add by list with an exclusion and by all
// active contacts, contacts_taggings_remove by contact ids,
// contacts_tags_delete) to completion on the real binary and each store;
// after each one every tag's contacts_count, GET /v3/contacts?tags= and a
// segment by tag agree with what the activities did, and they still do
// after a kill -9 and restart.
func TestConstantContactTagActivitiesThroughTheBinary(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.cc-tag-activities-key"
		s, cmd := st.start(t, bin, key)
		c := ccClient{t: t, url: s.url, key: key}
		c.must("POST", "/v3/contact_custom_fields", `{"label":"plan","type":"string"}`, 201)
		list := c.must("POST", "/v3/contact_lists", `{"name":"Imported"}`, 201)["list_id"].(string)
		gold := c.must("POST", "/v3/contact_tags", `{"name":"Gold"}`, 201)["tag_id"].(string)
		silver := c.must("POST", "/v3/contact_tags", `{"name":"Silver","tag_source":"ESTY"}`, 201)["tag_id"].(string)
		if a := c.waitActivity(c.must("POST", "/v3/activities/contacts_json_import", jsonImport(0, 50, list), 201)["activity_id"].(string)); a["state"] != "completed" {
			t.Fatalf("import: %v", a)
		}
		outside := []string{
			c.must("POST", "/v3/contacts", `{"email_address":{"address":"out1@example.com"},"create_source":"Account"}`, 201)["contact_id"].(string),
			c.must("POST", "/v3/contacts", `{"email_address":{"address":"out2@example.com"},"create_source":"Account"}`, 201)["contact_id"].(string),
		}
		first := c.must("GET", "/v3/contacts?email=p000000@example.com", "", 200)["contacts"].([]any)[0].(map[string]any)["contact_id"].(string)
		byGold := fmt.Sprintf(`{"version":"1.0.0","criteria":{"type":"or","group":[{"source":"tags","field":"tag_id","op":"contains-any","const_value":%q}]}}`, gold)
		seg := fmt.Sprint(c.must("POST", "/v3/segments", segmentBody("Gold", byGold), 201)["segment_id"])

		// activity runs one tag activity to completion, which counts
		// items (contacts, or tags for a delete) done.
		activity := func(path, body string, items int) {
			t.Helper()
			a := c.waitActivity(c.must("POST", "/v3/activities/"+path, body, 201)["activity_id"].(string))
			if a["state"] != "completed" || a["percent_done"] != float64(100) {
				t.Fatalf("%s: %v", path, a)
			}
			if fmt.Sprint(a["status"].(map[string]any)["items_completed_count"]) != fmt.Sprint(items) {
				t.Fatalf("%s: %v items completed, want %d", path, a["status"], items)
			}
		}
		// state reads each tag's contacts_count, then Gold's contacts
		// through ?tags= and through the segment.
		state := func() string {
			var parts []string
			for _, tg := range c.must("GET", "/v3/contact_tags?include_count=true", "", 200)["tags"].([]any) {
				tg := tg.(map[string]any)
				parts = append(parts, fmt.Sprint(tg["name"], "=", tg["contacts_count"]))
			}
			sort.Strings(parts) // tags are listed in id order
			if code, _ := c.do("GET", "/v3/contact_tags/"+gold, "", key); code == 200 {
				parts = append(parts, fmt.Sprint("tags=", c.must("GET", "/v3/contacts?tags="+gold+"&include_count=true&limit=500", "", 200)["contacts_count"]))
			}
			parts = append(parts, fmt.Sprint("segment=", c.must("GET", "/v3/contacts?segment_id="+seg+"&include_count=true", "", 200)["contacts_count"]))
			return strings.Join(parts, " ")
		}
		check := func(when, want string) {
			t.Helper()
			if got := state(); got != want {
				t.Fatalf("%s: %s, want %s", when, got, want)
			}
		}
		check("before", "Gold=0 Silver=0 tags=0 segment=0")

		activity("contacts_taggings_add", fmt.Sprintf(`{"source":{"list_ids":[%q]},"exclude":{"contact_ids":[%q]},"tag_ids":[%q,%q]}`, list, first, gold, silver), 49)
		check("after tagging the list but one", "Gold=49 Silver=49 tags=49 segment=49")
		activity("contacts_taggings_add", fmt.Sprintf(`{"source":{"all_active_contacts":true},"tag_ids":[%q]}`, gold), 52)
		check("after tagging every contact", "Gold=52 Silver=49 tags=52 segment=52")
		activity("contacts_taggings_remove", fmt.Sprintf(`{"source":{"contact_ids":[%q,%q]},"tag_ids":[%q,%q]}`, outside[0], first, gold, silver), 2)
		check("after untagging two", "Gold=50 Silver=49 tags=50 segment=50")
		if got := c.must("GET", "/v3/contacts/"+outside[1]+"?include=taggings", "", 200)["taggings"]; fmt.Sprint(got) != fmt.Sprint([]any{gold}) {
			t.Fatalf("a contact outside the list: taggings %v", got)
		}

		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		s2, _ := st.start(t, bin, key)
		c.url = s2.url
		check("after a restart", "Gold=50 Silver=49 tags=50 segment=50")

		activity("contacts_tags_delete", fmt.Sprintf(`{"tag_ids":[%q]}`, silver), 1)
		check("after deleting Silver", "Gold=50 tags=50 segment=50")
		activity("contacts_tags_delete", fmt.Sprintf(`{"tag_ids":[%q]}`, gold), 1)
		check("after deleting Gold", "segment=0")
		if got := c.must("GET", "/v3/contacts/"+outside[1]+"?include=taggings", "", 200)["taggings"]; len(got.([]any)) != 0 {
			t.Fatalf("taggings after the tags' delete: %v", got)
		}
	})
}

// a finished activity is listed for 10 days of the server's --dev clock,
// then deleted (its GET 404), while a newer one stays.
func TestConstantContactActivityRetention(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.cc-retention-key"
		now := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
		s, _ := st.start(t, bin, key, "--dev", "--dev-clock", now.Format(time.RFC3339))
		c := ccClient{t: t, url: s.url, key: key}
		setClock := func(at time.Time) {
			if code, body := httpDo(t, "POST", s.url+"/admin/clock", fmt.Sprintf(`{"now":%q}`, at.Format(time.RFC3339Nano)), nil); code != 200 {
				t.Fatalf("POST /admin/clock: %d %s", code, body)
			}
		}
		list := c.must("POST", "/v3/contact_lists", `{"name":"Imported"}`, 201)["list_id"].(string)
		// A row with Constant Contact-only attributes and a malformed row:
		// the attributes read back, the bad row is the activity's error.
		old := c.must("POST", "/v3/activities/contacts_json_import", fmt.Sprintf(`{"import_data":[
			{"email":"ann@example.com","job_title":"Chief","birthday_month":11,"birthday_day":24,"home_phone":"555-0100","work_phone":"555-0200","work_city":"Waltham"},
			{"email":"bob@example.com","birthday_month":13,"birthday_day":1}],"list_ids":[%q]}`, list), 201)["activity_id"].(string)
		if a := c.waitActivity(old); a["state"] != "completed" || fmt.Sprint(a["status"].(map[string]any)["error_count"]) != "1" ||
			fmt.Sprint(a["activity_errors"]) != `[import_data[1].birthday_month must be from 1 to 12, not "13"]` {
			t.Fatalf("import with a bad row: %v", a)
		}
		ann := c.must("GET", "/v3/contacts?email=ann@example.com&include=phone_numbers,street_addresses", "", 200)["contacts"].([]any)[0].(map[string]any)
		if ann["job_title"] != "Chief" || fmt.Sprint(ann["birthday_month"]) != "11" || len(ann["phone_numbers"].([]any)) != 2 ||
			ann["street_addresses"].([]any)[0].(map[string]any)["kind"] != "work" {
			t.Fatalf("imported attributes: %v", ann)
		}
		setClock(now.Add(6 * 24 * time.Hour))
		recent := c.must("POST", "/v3/activities/contacts_json_import", jsonImport(3, 3, list), 201)["activity_id"].(string)
		c.waitActivity(recent)
		listed := func() string {
			var ids []string
			for _, a := range c.must("GET", "/v3/activities", "", 200)["activities"].([]any) {
				ids = append(ids, a.(map[string]any)["activity_id"].(string))
			}
			return strings.Join(ids, " ")
		}
		if got := listed(); got != recent+" "+old {
			t.Fatalf("after 6 days: %s", got)
		}
		setClock(now.Add(10*24*time.Hour + time.Minute))
		if got := listed(); got != recent {
			t.Fatalf("after 10 days: %s, want only %s", got, recent)
		}
		if code, body := httpDo(t, "GET", s.url+"/v3/activities/"+old, "", map[string]string{"Authorization": "Bearer " + key}); code != 404 ||
			!strings.Contains(body, `"activities.api.not_found"`) {
			t.Fatalf("GET the pruned activity: %d %s", code, body)
		}
		c.must("GET", "/v3/activities/"+recent, "", 200)
	})
}
