package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"syscall"
	"testing"
)

// TestKill9KeepsAcceptedJobs starts the real binary on SQLite, has it
// accept more upserts than it can apply at once, kills it with SIGKILL
// while some of them are still queued, and restarts it: every job id it
// answered completes, none reads unknown, and every contact is stored
// with its fields and list.
func TestKill9KeepsAcceptedJobs(t *testing.T) {
	bin := realBinary(t)
	dir := t.TempDir()
	key := "SG.kill9-jobs-key"
	s, cmd := startBinary(t, bin, dir, key)
	list := mustCall(t, s, key, "POST", "/v3/marketing/lists", `{"name":"durable"}`, 201)["id"].(string)
	const jobs, per = 20, 2000
	ids := queueUpserts(t, s, key, list, jobs, per)
	// 40,000 contacts take the worker far longer than the last answer did.
	last := mustCall(t, s, key, "GET", "/v3/marketing/contacts/imports/"+ids[len(ids)-1], "", 200)
	if last["status"] != "pending" {
		t.Fatalf("the last job is %v before the kill; the test needs it queued", last["status"])
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	s2, _ := startBinary(t, bin, dir, key)
	for _, id := range ids {
		code, body := call(t, s2, key, "GET", "/v3/marketing/contacts/imports/"+id, "")
		if code != 200 {
			t.Fatalf("job %s after the restart: %d %s", id, code, body)
		}
	}
	for _, id := range ids {
		waitCompleted(t, s2, id)
	}
	checkKept(t, s2, key, list, jobs*per)
}

// checkKept checks that the n contacts queueUpserts sent are stored, on
// the list, with their fields.
func checkKept(t *testing.T, s liveServer, key, list string, n int) {
	t.Helper()
	code, body := call(t, s, key, "GET", "/v3/marketing/contacts/count", "")
	if code != 200 || !strings.Contains(body, fmt.Sprintf(`"contact_count":%d`, n)) {
		t.Fatalf("count after the restart: %d %s, want %d", code, body, n)
	}
	code, body = call(t, s, key, "GET", "/v3/marketing/lists/"+list+"/contacts/count", "")
	if code != 200 || !strings.Contains(body, fmt.Sprintf(`"contact_count":%d`, n)) {
		t.Fatalf("list count after the restart: %d %s, want %d", code, body, n)
	}
	emails := []string{"p000000@example.com", fmt.Sprintf("p%06d@example.com", n-1)}
	q, _ := json.Marshal(map[string]any{"emails": emails})
	var res struct {
		Result map[string]struct {
			Contact struct {
				FirstName    string         `json:"first_name"`
				CustomFields map[string]any `json:"custom_fields"`
			} `json:"contact"`
		} `json:"result"`
	}
	code, body = call(t, s, key, "POST", "/v3/marketing/contacts/search/emails", string(q))
	if code != 200 {
		t.Fatalf("search after the restart: %d %s", code, body)
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatal(err)
	}
	for i, e := range emails {
		c := res.Result[e].Contact
		if want := fmt.Sprintf("P%d", []int{0, n - 1}[i]); c.FirstName != want || c.CustomFields["plan"] != "gold" {
			t.Fatalf("contact %s after the restart: %+v, want first name %s and plan gold", e, c, want)
		}
	}
}

// TestStopLeavesQueuedJobsForTheNextStart: a graceful stop does not wait
// for the jobs still queued; they stay in the journal, migrate-store
// refuses the data directory while they do, and the next start runs them.
func TestStopLeavesQueuedJobsForTheNextStart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the server")
	}
	dir := t.TempDir()
	key := "SG.stop-jobs-key"
	args := []string{"serve", "--addr", "127.0.0.1:0", "--data", dir, "--api-key", key}
	s, stop := startInProcess(t, args, nil)
	const jobs, per = 10, 3000
	var ids []string
	for j := range jobs {
		var b strings.Builder
		b.WriteString(`{"contacts":[`)
		for i := range per {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"email":"q%06d@example.com"}`, j*per+i)
		}
		b.WriteString("]}")
		ids = append(ids, mustCall(t, s, key, "PUT", "/v3/marketing/contacts", b.String(), 202)["job_id"].(string))
	}
	s.key = key
	if j := mustCall(t, s, key, "GET", "/v3/marketing/contacts/imports/"+ids[len(ids)-1], "", 200); j["status"] != "pending" {
		t.Fatalf("the last job is %v before the stop; the test needs it queued", j["status"])
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"migrate-store", "--data", dir, "--database-url", "postgres://nobody@127.0.0.1:1/none"}, nil, nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "accepted jobs not yet finished") {
		t.Fatalf("migrate-store with queued jobs: %v", err)
	}
	s2, _ := startInProcess(t, args, nil)
	s2.key = key
	for _, id := range ids {
		waitCompleted(t, s2, id)
	}
	code, body := call(t, s2, key, "GET", "/v3/marketing/contacts/count", "")
	if code != 200 || !strings.Contains(body, fmt.Sprintf(`"contact_count":%d`, jobs*per)) {
		t.Fatalf("count after the restart: %d %s, want %d", code, body, jobs*per)
	}
}

// TestKill9KeepsAcceptedJobsOnADatabase is TestKill9KeepsAcceptedJobs on
// PostgreSQL and Citus, whose servers keep each job's input in the
// database (docs/jobs.md): the server is killed with upserts and a delete
// still queued, and every job completes, in the order it was accepted,
// either on the same server started again from its data directory (at
// once) or on a second server with a data directory of its own while the
// first stays dead (once the dead server's lease has ended).
func TestKill9KeepsAcceptedJobsOnADatabase(t *testing.T) {
	bin := realBinary(t)
	eachDatabase(t, func(t *testing.T, st storeUnderTest) {
		for _, heir := range []string{"restart", "other-server"} {
			t.Run(heir, func(t *testing.T) {
				st := storeUnderTest{dir: t.TempDir(), url: freshSchema(t, st.url)}
				const key = "SG.kill9-db-jobs-key"
				lease := []string{"--job-lease", "2s"}
				s, cmd := st.start(t, bin, key, lease...)
				list := mustCall(t, s, key, "POST", "/v3/marketing/lists", `{"name":"durable"}`, 201)["id"].(string)
				s.key = key
				waitCompleted(t, s, mustCall(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"x@example.com"}]}`, 202)["job_id"].(string))
				x := mustCall(t, s, key, "POST", "/v3/marketing/contacts/search/emails", `{"emails":["x@example.com"]}`, 200)["result"].(map[string]any)["x@example.com"].(map[string]any)["contact"].(map[string]any)["id"].(string)
				const jobs, per = 20, 2000
				ids := queueUpserts(t, s, key, list, jobs, per)
				// x upserted again, then deleted: it is gone only if the
				// delete applies after the upsert, as they were accepted.
				ids = append(ids, mustCall(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"x@example.com","first_name":"again"}]}`, 202)["job_id"].(string))
				ids = append(ids, mustCall(t, s, key, "DELETE", "/v3/marketing/contacts?ids="+x, "", 202)["job_id"].(string))
				if last := mustCall(t, s, key, "GET", "/v3/marketing/contacts/imports/"+ids[len(ids)-1], "", 200); last["status"] != "pending" {
					t.Fatalf("the last job is %v before the kill; the test needs it queued", last["status"])
				}
				if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
					t.Fatal(err)
				}
				_ = cmd.Wait()

				dir := st.dir
				if heir == "other-server" {
					dir = t.TempDir()
				}
				s2, _ := startBinary(t, bin, dir, key, append(st.args(), lease...)...)
				s2.key = key
				for _, id := range ids {
					if code, body := call(t, s2, key, "GET", "/v3/marketing/contacts/imports/"+id, ""); code != 200 {
						t.Fatalf("job %s after the kill: %d %s", id, code, body)
					}
				}
				for _, id := range ids {
					waitCompleted(t, s2, id)
				}
				// x is not counted: deleted after its upsert.
				checkKept(t, s2, key, list, jobs*per)
			})
		}
	})
}

// queueUpserts sends jobs upserts of per contacts each, with a custom
// field and list, and returns their job ids.
func queueUpserts(t *testing.T, s liveServer, key, list string, jobs, per int) []string {
	t.Helper()
	field := mustCall(t, s, key, "POST", "/v3/marketing/field_definitions", `{"name":"plan","field_type":"Text"}`, 200)["id"].(string)
	var ids []string
	for j := range jobs {
		var b strings.Builder
		fmt.Fprintf(&b, `{"list_ids":[%q],"contacts":[`, list)
		for i := range per {
			if i > 0 {
				b.WriteByte(',')
			}
			n := j*per + i
			fmt.Fprintf(&b, `{"email":"p%06d@example.com","first_name":"P%d","custom_fields":{%q:"gold"}}`, n, n, field)
		}
		b.WriteString("]}")
		ids = append(ids, mustCall(t, s, key, "PUT", "/v3/marketing/contacts", b.String(), 202)["job_id"].(string))
	}
	return ids
}
