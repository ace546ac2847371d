package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentd/segmentd/internal/facetest"
)

// TestTwoServersOneDatabase drives two real binaries over one PostgreSQL
// (and Citus) database, as two servers behind a load balancer: a write
// acknowledged by one is in the other's counts, samples, searches and
// segment_ids once its follower caught up; a job accepted by one is polled
// on the other and reads completed only when the other's reads reflect
// it; jobs of one account acknowledged by both apply in that order; the
// database alone decides idempotency, names and limits.
func TestTwoServersOneDatabase(t *testing.T) {
	bin := realBinary(t)
	eachDatabase(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.two-servers-key"
		a, _ := st.start(t, bin, key)
		b, _ := startBinary(t, bin, t.TempDir(), key, st.args()...) // its own data directory, the same database

		seg := mustCall(t, b, key, "POST", "/v3/marketing/segments/2.0", `{"name":"US","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"}`, 201)
		segID := seg["id"].(string)
		// A job accepted by A is polled on B; once B reads it completed, B
		// answers with its write.
		job := mustCall(t, a, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"ada@example.com","country":"US"},{"email":"bob@example.com","country":"US"}]}`, 202)["job_id"].(string)
		waitCompleted(t, b, job)
		if got := mustCall(t, b, key, "GET", "/v3/marketing/segments/2.0/"+segID, "", 200); got["contacts_count"] != float64(2) || len(got["contacts_sample"].([]any)) != 2 {
			t.Fatalf("B after A's job read completed on B: %v", got)
		}
		found := mustCall(t, b, key, "POST", "/v3/marketing/contacts/search/emails", `{"emails":["ada@example.com"]}`, 200)
		ids := found["result"].(map[string]any)["ada@example.com"].(map[string]any)["contact"].(map[string]any)["segment_ids"].([]any)
		if len(ids) != 1 || ids[0] != segID {
			t.Fatalf("Ada's segment_ids on B = %v, want [%s]", ids, segID)
		}
		search := mustCall(t, b, key, "POST", "/v3/marketing/contacts/search", `{"query":"country = 'US'"}`, 200)
		if search["contact_count"] != float64(2) {
			t.Fatalf("search on B: %v", search)
		}

		// A list's sample is each server's engine's, newest created first:
		// Eve, created by A before Fay, joins the list after her on B, and
		// comes second on both servers once each read B's job completed
		// (the store, by joining time, put her first).
		list := mustCall(t, a, key, "POST", "/v3/marketing/lists", `{"name":"sampled"}`, 201)["id"].(string)
		waitCompleted(t, a, mustCall(t, a, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"eve@example.com"}]}`, 202)["job_id"].(string))
		waitCompleted(t, a, mustCall(t, a, key, "PUT", "/v3/marketing/contacts", `{"list_ids":["`+list+`"],"contacts":[{"email":"fay@example.com"}]}`, 202)["job_id"].(string))
		job = mustCall(t, b, key, "PUT", "/v3/marketing/contacts", `{"list_ids":["`+list+`"],"contacts":[{"email":"eve@example.com"}]}`, 202)["job_id"].(string)
		for _, s := range []liveServer{b, a} {
			waitCompleted(t, s, job)
			var got []any
			for _, c := range mustCall(t, s, key, "GET", "/v3/marketing/lists/"+list+"?contact_sample=true", "", 200)["contact_sample"].([]any) {
				got = append(got, c.(map[string]any)["email"])
			}
			if len(got) != 2 || got[0] != "fay@example.com" || got[1] != "eve@example.com" {
				t.Fatalf("list sample on %s after B's job read completed there = %v, want fay then eve", s.url, got)
			}
		}

		// Jobs of one account acknowledged by A and B in turn apply in that
		// order: the last acknowledged wins.
		var jobs []string
		for i := range 6 {
			s := []liveServer{a, b}[i%2]
			body := fmt.Sprintf(`{"contacts":[{"email":"cy@example.com","first_name":"v%d"}]}`, i)
			jobs = append(jobs, mustCall(t, s, key, "PUT", "/v3/marketing/contacts", body, 202)["job_id"].(string))
		}
		for _, j := range jobs {
			waitCompleted(t, a, j)
		}
		for _, s := range []liveServer{a, b} {
			found := mustCall(t, s, key, "POST", "/v3/marketing/contacts/search/emails", `{"emails":["cy@example.com"]}`, 200)
			if name := found["result"].(map[string]any)["cy@example.com"].(map[string]any)["contact"].(map[string]any)["first_name"]; name != "v5" {
				t.Fatalf("after six jobs on two servers, first_name = %v, want the last acknowledged, v5", name)
			}
		}

		// Events posted to both servers at once, the same sg_event_ids to
		// each: stored once, counted once everywhere.
		opened := mustCall(t, a, key, "POST", "/v3/marketing/segments/2.0", `{"name":"opened","query_dsl":"SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open'"}`, 201)["id"].(string)
		evs, _ := json.Marshal([]map[string]any{
			{"email": "ada@example.com", "event": "open", "timestamp": time.Now().Unix(), "sg_event_id": "dup-1"},
			{"email": "bob@example.com", "event": "open", "timestamp": time.Now().Unix(), "sg_event_id": "dup-2"},
		})
		var wg sync.WaitGroup
		stored := make([]float64, 2)
		for i, s := range []liveServer{a, b} {
			wg.Go(func() {
				r, err := facetest.Send(s.url, key, facetest.Request{Method: "POST", Path: "/webhooks/sendgrid/events", Body: string(evs)})
				if err != nil || r.Status != 200 {
					t.Errorf("webhook on server %d: %v %+v", i, err, r)
					return
				}
				var res struct{ Stored float64 }
				_ = json.Unmarshal(r.Body, &res)
				stored[i] = res.Stored
			})
		}
		wg.Wait()
		if stored[0]+stored[1] != 2 {
			t.Fatalf("events stored by the two servers: %v, want 2 in all", stored)
		}
		for _, s := range []liveServer{a, b} {
			facetest.Poll(t, "both servers count the opens once", func() bool {
				return mustCall(t, s, key, "GET", "/v3/marketing/segments/2.0/"+opened, "", 200)["contacts_count"] == float64(2)
			})
		}

		// Names and refresh limits hold across servers.
		code, body := call(t, a, key, "POST", "/v3/marketing/lists", `{"name":"Customers"}`)
		code2, body2 := call(t, b, key, "POST", "/v3/marketing/lists", `{"name":"customers"}`)
		if code != 201 || code2 != 400 || !strings.Contains(body2, "already exists") {
			t.Fatalf("one list name on two servers: %d %s; %d %s", code, body, code2, body2)
		}
		refresh := `{"user_time_zone":"UTC"}`
		if code, body := call(t, a, key, "POST", "/v3/marketing/segments/2.0/refresh/"+segID, refresh); code != 202 {
			t.Fatalf("refresh on A: %d %s", code, body)
		}
		if code, body := call(t, b, key, "POST", "/v3/marketing/segments/2.0/refresh/"+segID, refresh); code != 429 {
			t.Fatalf("a second refresh within the hour, on B: %d %s, want 429", code, body)
		}
	})
}
