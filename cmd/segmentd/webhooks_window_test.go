package main

import (
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentd/segmentd/internal/facetest"
)

// TestCompletedJobTransitionsSurviveKill kills the server as soon as a
// job reads completed, while storing its transitions is held up
// (SEGMENTD_TEST_ONLY_OUTBOX_DELAY): a job reads completed only once its
// transitions are stored, so after the restart the receiver gets every one,
// by the ids the history has, none missing and none invented. On a shared
// database the job's row is written before this server's engine follows
// it, and the read that answers completed catches up and stores the
// transitions first.
func TestCompletedJobTransitionsSurviveKill(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.window-key"
		s, cmd := startBinaryEnv(t, bin, st.dir, key, []string{"SEGMENTD_TEST_ONLY_OUTBOX_DELAY=2s"}, st.args()...)
		rc := newRandomReceiver(t)
		seg := mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0", `{"name":"us","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"}`, 201)["id"].(string)
		rc.subscribe(t, s, key)
		var b strings.Builder
		for i := range 3 {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"email":"w%d@example.com","country":"US"}`, i)
		}
		runJob(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[`+b.String()+`]}`)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()

		s, _ = st.start(t, bin, key)
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
		facetest.Poll(t, "every transition delivered", func() bool {
			rc.mu.Lock()
			defer rc.mu.Unlock()
			return len(rc.ids) >= len(history)
		})
		rc.mu.Lock()
		got := slices.Clone(rc.ids)
		rc.mu.Unlock()
		slices.Sort(got)
		slices.Sort(history)
		if !slices.Equal(got, history) {
			t.Fatalf("delivered %v, the history has %v", got, history)
		}
	})
}
