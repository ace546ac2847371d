package main

import (
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentd/segmentd/internal/facetest"
)

// TestTransitionsOfAJobKilledAfterItsCommit kills the server while a job
// that committed is held before its changes reach the engine
// (SEGMENTD_TEST_ONLY_COMMIT_HOLD), restarts it, and wants every
// transition of the job in the history and delivered, once per id, with
// its true cause.
func TestTransitionsOfAJobKilledAfterItsCommit(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.commit-key"
		s, cmd := startBinaryEnv(t, bin, st.dir, key, []string{"SEGMENTD_TEST_ONLY_COMMIT_HOLD=10m"}, st.args()...)
		// A start without a snapshot writes one at once; a start after the
		// kill makes the missing transitions again from it.
		facetest.Poll(t, "the first engine snapshot", func() bool {
			b, err := os.ReadFile(s.log)
			return err == nil && strings.Contains(string(b), "engine snapshot written")
		})
		rc := newRandomReceiver(t)
		seg := mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0", `{"name":"us","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"}`, 201)["id"].(string)
		sub := mustCall(t, s, key, "POST", "/segmentd/v1/webhooks", `{"url":"`+rc.srv.URL+`/in"}`, 201)
		rc.setSecret(sub["secret"].(string))
		job := mustCall(t, s, key, "PUT", "/v3/marketing/contacts",
			`{"contacts":[{"email":"c0@example.com","country":"US"},{"email":"c1@example.com","country":"US"},{"email":"c2@example.com","country":"US"}]}`, 202)["job_id"].(string)
		facetest.Poll(t, "the job committed and is held", func() bool {
			b, err := os.ReadFile(s.log)
			return err == nil && strings.Contains(string(b), "holding a committed job") && strings.Contains(string(b), job)
		})
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()

		s, _ = st.start(t, bin, key)
		waitCompleted(t, s, job)
		now := time.Now().UTC()
		span := now.Add(-time.Hour).Format(time.RFC3339) + "&to=" + now.Add(time.Hour).Format(time.RFC3339)
		var history []string
		facetest.Poll(t, "the history holds the three entries", func() bool {
			m := mustCall(t, s, key, "GET", "/segmentd/v1/segments/sendgrid/"+seg+"/history/transitions?limit=100&from="+span, "", 200)
			history = history[:0]
			for _, tr := range m["transitions"].([]any) {
				history = append(history, tr.(map[string]any)["id"].(string))
			}
			return len(history) == 3
		})
		facetest.Poll(t, "every transition delivered", func() bool { return rc.has(history) })
		rc.mu.Lock()
		defer rc.mu.Unlock()
		got := slices.Clone(rc.ids)
		slices.Sort(got)
		slices.Sort(history)
		if !slices.Equal(got, history) {
			t.Fatalf("delivered %v, the history has %v", got, history)
		}
		seen := map[string]bool{}
		for _, id := range got {
			tr := rc.byID[id]
			if tr.Type != "segment.entered" || tr.Cause != "contact" || seen[tr.Contact.Email] {
				t.Errorf("transition %s: %+v; want one entry of each contact, caused by the contact write", id, tr)
			}
			seen[tr.Contact.Email] = true
		}
	})
}
