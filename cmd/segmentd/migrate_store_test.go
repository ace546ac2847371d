package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentd/segmentd/postgres"
	"github.com/segmentd/segmentd/sqlite"
)

// TestMigrateStore moves a store from SQLite to PostgreSQL (and Citus)
// with `segmentd migrate-store`: a server on the database then answers as
// the SQLite one did (the same ids, counts, samples, keys), and its new
// field and segment ids continue after the copied ones.
func TestMigrateStore(t *testing.T) {
	bin := realBinary(t)
	eachDatabase(t, func(t *testing.T, st storeUnderTest) {
		dir := t.TempDir()
		const key = "SG.migrate-key"
		s, cmd := startBinary(t, bin, dir, key)
		// A webhook subscription (whose receiver is away: its transitions
		// wait in the outbox) and the membership history move too.
		hook := mustCall(t, s, key, "POST", "/segmentd/v1/webhooks", `{"url":"http://127.0.0.1:9/away","description":"moved"}`, 201)["id"].(string)
		since := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339)
		field := mustCall(t, s, key, "POST", "/v3/marketing/field_definitions", `{"name":"plan","field_type":"Text"}`, 200)["id"].(string)
		list := mustCall(t, s, key, "POST", "/v3/marketing/lists", `{"name":"customers"}`, 201)["id"].(string)
		runJob(t, s, key, "PUT", "/v3/marketing/contacts", fmt.Sprintf(`{"list_ids":[%q],"contacts":[
			{"email":"ada@example.com","country":"US","alternate_emails":["ada@work.example"],"custom_fields":{%q:"pro"}},
			{"email":"bob@example.com","country":"PT"}]}`, list, field))
		us := mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0", `{"name":"pro","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE plan = 'pro'"}`, 201)["id"].(string)
		gone := mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0", `{"name":"gone","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'PT'"}`, 201)["id"].(string)
		mustCall(t, s, key, "DELETE", "/v3/marketing/segments/2.0/"+gone, "", 202)
		evs, _ := json.Marshal([]map[string]any{{"email": "bob@example.com", "event": "open", "timestamp": time.Now().Unix(), "sg_event_id": "m1"}})
		mustCall(t, s, key, "POST", "/webhooks/sendgrid/events", string(evs), 200)
		opened := mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0", `{"name":"opened","query_dsl":"SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open'"}`, 201)["id"].(string)
		cc := `{"name":"in the list","segment_criteria":"{\"version\":\"1.0.0\",\"criteria\":{\"type\":\"and\",\"group\":[{\"source\":\"list_membership\",\"field\":\"list_id\",\"op\":\"contains-any\",\"const_value\":\"` + list + `\"}]}}"}`
		ccID := fmt.Sprint(mustCall(t, s, key, "POST", "/v3/segments", cc, 201)["segment_id"])
		// Constant Contact's data: a list's description and favorite, a
		// tag and its taggings (written by PUT and by a tagging activity),
		// a contact's Constant Contact-only attributes, finished
		// activities, and a segment by tag.
		c := ccClient{t: t, url: s.url, key: key}
		ccList := c.must("POST", "/v3/contact_lists", `{"name":"Favourites","favorite":true,"description":"The best"}`, 201)["list_id"].(string)
		tag := c.must("POST", "/v3/contact_tags", `{"name":"Gold","tag_source":"ESTY"}`, 201)["tag_id"].(string)
		cy := c.must("POST", "/v3/contacts", fmt.Sprintf(`{"email_address":{"address":"cy@example.com","permission_to_send":"explicit"},"create_source":"Account",
			"job_title":"Engineer","company_name":"Engines Ltd","birthday_month":12,"birthday_day":10,"anniversary":"2020-05-01",
			"phone_numbers":[{"phone_number":"+1 555 0100","kind":"work"}],"street_addresses":[{"kind":"home","street":"1 Main St","city":"Springfield","country":"US"}],
			"notes":[{"note_id":"0b5e4b5e-7f3a-4d0e-9c1a-2f4e6d8a0b1c","content":"met at the fair","created_at":"2026-01-02T03:04:05Z"}],
			"list_memberships":[%q],"taggings":[%q]}`, ccList, tag), 201)["contact_id"].(string)
		imp := c.must("POST", "/v3/activities/contacts_json_import", jsonImport(0, 3, ccList), 201)["activity_id"].(string)
		c.waitActivity(imp)
		tagging := c.must("POST", "/v3/activities/contacts_taggings_add", fmt.Sprintf(`{"source":{"list_ids":[%q]},"tag_ids":[%q]}`, ccList, tag), 201)["activity_id"].(string)
		c.waitActivity(tagging)
		byTag := fmt.Sprintf(`{"version":"1.0.0","criteria":{"type":"or","group":[{"source":"tags","field":"tag_id","op":"contains-any","const_value":%q}]}}`, tag)
		tagSeg := fmt.Sprint(c.must("POST", "/v3/segments", segmentBody("Gold", byTag), 201)["segment_id"])
		var out bytes.Buffer
		if err := run(context.Background(), []string{"keys", "create", "--data", dir, "--scopes", "sendgrid.read"}, nil, nil, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		readKey := strings.TrimSpace(out.String()[strings.LastIndex(strings.TrimSpace(out.String()), "\n")+1:])
		look := func(s liveServer) string {
			var b strings.Builder
			for _, p := range []string{"/v3/marketing/segments/2.0", "/v3/marketing/contacts/count", "/v3/marketing/lists/" + list + "?contact_sample=true", "/v3/segments/" + ccID} {
				fmt.Fprintf(&b, "%s %v\n", p, mustCall(t, s, key, "GET", p, "", 200))
			}
			found := mustCall(t, s, key, "POST", "/v3/marketing/contacts/search/emails", `{"emails":["ada@work.example","bob@example.com"]}`, 200)
			fmt.Fprintf(&b, "%v\n", found)
			// A key created on the SQLite store, by its hash.
			fmt.Fprintf(&b, "%v\n", mustCall(t, s, readKey, "GET", "/v3/marketing/lists", "", 200))
			fmt.Fprintf(&b, "%v\n", mustCall(t, s, key, "GET", "/segmentd/v1/webhooks/"+hook, "", 200))
			fmt.Fprintf(&b, "%v\n", mustCall(t, s, key, "GET", "/segmentd/v1/segments/sendgrid/"+us+"/history/transitions?from="+since, "", 200))
			for _, p := range []string{
				"/v3/contact_lists/" + ccList + "?include_membership_count=all",
				"/v3/contact_tags?include_count=true",
				"/v3/contacts/" + cy + "?include=custom_fields,list_memberships,phone_numbers,street_addresses,taggings,notes",
				"/v3/contacts?tags=" + tag + "&include_count=true",
				"/v3/contacts?segment_id=" + tagSeg + "&include_count=true",
				"/v3/activities",
			} {
				fmt.Fprintf(&b, "%s %v\n", p, mustCall(t, s, key, "GET", p, "", 200))
			}
			return b.String()
		}
		before := look(s)
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		// An account whose history has a gap keeps it on the database, and
		// the server's own, without one, stays without.
		sq := openGapStore(t, storeUnderTest{dir: dir})
		gappy, err := sq.CreateAccount(context.Background(), "gappy", 0, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := sq.MarkHistoryGap(context.Background(), gappy.ID); err != nil {
			t.Fatal(err)
		}

		out.Reset()
		if err := run(context.Background(), append([]string{"migrate-store", "--data", dir}, st.args()...), nil, nil, &out, io.Discard); err != nil {
			t.Fatalf("migrate-store: %v", err)
		}
		if !strings.Contains(out.String(), "contacts                   6 rows") || !strings.Contains(out.String(), "events                     1 rows") ||
			!strings.Contains(out.String(), "tags                       1 rows") || !strings.Contains(out.String(), "contact_tags               4 rows") ||
			!strings.Contains(out.String(), "contact_cc                 1 rows") {
			t.Fatalf("migrate-store said:\n%s", &out)
		}
		pg := openGapStore(t, st)
		accts, err := pg.Accounts(context.Background())
		if err != nil || len(accts) != 2 {
			t.Fatalf("the accounts after the move: %v %v", accts, err)
		}
		for _, a := range accts {
			if gap, err := pg.HistoryGap(context.Background(), a.ID); err != nil || gap != (a.ID == gappy.ID) {
				t.Errorf("account %s's history gap after the move = %v %v, want %v", a.Name, gap, err, a.ID == gappy.ID)
			}
		}
		s2, _ := st.start(t, bin, key)
		// Times in the answers are the request's (real-time counts), so
		// compare without them.
		if a, b := stripTimes(before), stripTimes(look(s2)); a != b {
			t.Fatalf("answers differ after the move:\nSQLite:\n%s\nPostgreSQL:\n%s", a, b)
		}
		if got := mustCall(t, s2, key, "GET", "/v3/contacts?segment_id="+tagSeg+"&include_count=true", "", 200)["contacts_count"]; got != float64(4) {
			t.Errorf("the segment by tag counts %v after the move, want 4", got)
		}
		for _, id := range []string{us, opened} {
			if got := mustCall(t, s2, key, "GET", "/v3/marketing/segments/2.0/"+id, "", 200)["contacts_count"]; got != float64(1) {
				t.Errorf("segment %s counts %v after the move, want 1", id, got)
			}
		}
		if f := mustCall(t, s2, key, "POST", "/v3/marketing/field_definitions", `{"name":"tier","field_type":"Text"}`, 200)["id"]; f == field {
			t.Fatalf("a new field after the move got the copied id %v", f)
		}
		if id := fmt.Sprint(mustCall(t, s2, key, "POST", "/v3/segments", strings.Replace(cc, "in the list", "again", 1), 201)["segment_id"]); id == ccID {
			t.Fatalf("a new Constant Contact segment after the move got the copied id %s", id)
		}
		// A second move into the same database is refused.
		if err := run(context.Background(), append([]string{"migrate-store", "--data", dir}, st.args()...), nil, nil, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "already holds") {
			t.Fatalf("a second migrate-store: %v", err)
		}
	})
}

// TestMigrateStoreTables checks that the PostgreSQL store copies every
// table the SQLite store exports (sqlite's export_test.go checks that
// those are every table of its schema but the ones it names).
func TestMigrateStoreTables(t *testing.T) {
	if !slices.Equal(sqlite.ExportTables, postgres.ImportTables) {
		t.Fatalf("sqlite.ExportTables and postgres.ImportTables differ:\n%v\n%v", sqlite.ExportTables, postgres.ImportTables)
	}
}

// stripTimes removes from s the times (RFC 3339, in UTC) and the server's
// own address, which links carry.
func stripTimes(s string) string {
	return serverAddr.ReplaceAllString(rfc3339.ReplaceAllString(s, "T"), "http://server")
}

var (
	rfc3339    = regexp.MustCompile(`\d{4}-\d\d-\d\dT[0-9:.]+Z`)
	serverAddr = regexp.MustCompile(`http://127\.0\.0\.1:\d+`)
)
