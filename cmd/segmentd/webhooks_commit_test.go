package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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
// its true cause (docs/webhooks.md, "A kill between a job's commit and its
// transitions"). The first round creates three contacts in the segment
// (the replay makes their entries again); the second moves one of them
// out, after its entry was stored (the replay sees it only as it is now,
// and the history's entry is answered with its exit).
func TestTransitionsOfAJobKilledAfterItsCommit(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.commit-key"
		s, cmd := startHeld(t, bin, st, key)
		// A start without a snapshot writes one at once; a start after the
		// kill makes the missing transitions again from it.
		facetest.Poll(t, "the first engine snapshot", func() bool { return logHas(s, "engine snapshot written") })
		rc := newRandomReceiver(t)
		seg := mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0", `{"name":"us","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"}`, 201)["id"].(string)
		rc.subscribe(t, s, key)

		sent := time.Now()
		job := mustCall(t, s, key, "PUT", "/v3/marketing/contacts",
			`{"contacts":[{"email":"c0@example.com","country":"US"},{"email":"c1@example.com","country":"US"},{"email":"c2@example.com","country":"US"}]}`, 202)["job_id"].(string)
		s, cmd, held := killHeldAndRestart(t, bin, st, key, s, cmd, job)
		checkCommitWindow(t, s, rc, seg, map[string]string{"c0": "entered", "c1": "entered", "c2": "entered"})
		checkWriteTimes(t, rc, "segment.entered", []string{"c0", "c1", "c2"}, sent, held)

		kill(t, cmd)
		s, cmd = startHeld(t, bin, st, key)
		sent = time.Now()
		job = mustCall(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"c0@example.com","country":"FR"}]}`, 202)["job_id"].(string)
		s, _, held = killHeldAndRestart(t, bin, st, key, s, cmd, job)
		checkCommitWindow(t, s, rc, seg, map[string]string{"c0": "entered exited", "c1": "entered", "c2": "entered"})
		checkWriteTimes(t, rc, "segment.exited", []string{"c0"}, sent, held)
	})
}

// startHeld starts the server with every committed job held.
func startHeld(t *testing.T, bin string, st storeUnderTest, key string) (liveServer, *exec.Cmd) {
	t.Helper()
	return startBinaryEnv(t, bin, st.dir, key, []string{"SEGMENTD_TEST_ONLY_COMMIT_HOLD=10m"}, st.args()...)
}

// logHas reports whether the server's log has text.
func logHas(s liveServer, text ...string) bool {
	b, err := os.ReadFile(s.log)
	for _, x := range text {
		if err != nil || !strings.Contains(string(b), x) {
			return false
		}
	}
	return true
}

// killHeldAndRestart kills the server once job committed and is held, and
// starts it again, without the hold, until the job reads completed. held
// is when the test saw the job held: the job wrote before it. The kill
// waits until the server noted its clock more than a second after that
// (it notes it every second), so that the restart's load time, the
// clock's last note, is later than the job's write.
func killHeldAndRestart(t *testing.T, bin string, st storeUnderTest, key string, s liveServer, cmd *exec.Cmd, job string) (liveServer, *exec.Cmd, time.Time) {
	t.Helper()
	facetest.Poll(t, "the job committed and is held", func() bool { return logHas(s, "holding a committed job", job) })
	held := time.Now()
	facetest.Poll(t, "the clock noted a second after the hold", func() bool {
		b, err := os.ReadFile(filepath.Join(st.dir, "clock"))
		if err != nil {
			return false
		}
		noted, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
		return err == nil && noted.After(held.Add(time.Second))
	})
	kill(t, cmd)
	s, cmd = st.start(t, bin, key)
	waitCompleted(t, s, job)
	return s, cmd, held
}

// checkWriteTimes wants the receiver's transitions of type typ of the
// contacts (c0@example.com as "c0") timed at their write (docs/webhooks.md,
// "The times"): not before the test sent it, and not after the test saw
// the job held, which is a second before the restart's load time.
func checkWriteTimes(t *testing.T, rc *randomReceiver, typ string, contacts []string, sent, held time.Time) {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, c := range contacts {
		found := false
		for _, tr := range rc.byID {
			if tr.Type != typ || tr.Contact.Email != c+"@example.com" {
				continue
			}
			at, err := time.Parse(time.RFC3339Nano, tr.Timestamp)
			if err != nil {
				t.Fatal(err)
			}
			if at.Before(sent.Truncate(time.Millisecond)) || at.After(held) {
				continue // another round's
			}
			found = true
		}
		if !found {
			var all []string
			for _, tr := range rc.byID {
				if tr.Contact.Email == c+"@example.com" {
					all = append(all, tr.Type+"@"+tr.Timestamp)
				}
			}
			t.Errorf("%s: no %s timed between the write's request (%s) and the hold seen (%s): %v", c, typ,
				sent.UTC().Format(time.RFC3339Nano), held.UTC().Format(time.RFC3339Nano), all)
		}
	}
}

// kill kills the server with SIGKILL.
func kill(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
}

// checkCommitWindow wants the segment's history to hold exactly the
// transitions want names per contact (c0@example.com as "c0"), in order,
// each caused by the contact write, and the receiver to have each once
// and no other.
func checkCommitWindow(t *testing.T, s liveServer, rc *randomReceiver, seg string, want map[string]string) {
	t.Helper()
	n := 0
	for _, w := range want {
		n += len(strings.Fields(w))
	}
	now := time.Now().UTC()
	span := now.Add(-time.Hour).Format(time.RFC3339) + "&to=" + now.Add(time.Hour).Format(time.RFC3339)
	history := historyDelivered(t, s, rc, seg, span, n)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	got := slices.Clone(rc.ids)
	slices.Sort(got)
	sorted := slices.Clone(history)
	slices.Sort(sorted)
	if !slices.Equal(got, sorted) {
		t.Fatalf("delivered %v, the history has %v", got, sorted)
	}
	checkStepsPerContact(t, rc, history, want)
}

// historyDelivered polls the segment's history (span: from, "&to=" and
// to, escaped) until it holds at least n transitions and the receiver
// has each of them, and returns their ids in the history's order.
func historyDelivered(t *testing.T, s liveServer, rc *randomReceiver, seg, span string, n int) []string {
	t.Helper()
	var history []string
	facetest.Poll(t, fmt.Sprintf("the history holds %d transitions", n), func() bool {
		m := mustCall(t, s, s.key, "GET", "/segmentd/v1/segments/sendgrid/"+seg+"/history/transitions?limit=100&from="+span, "", 200)
		history = history[:0]
		for _, tr := range m["transitions"].([]any) {
			history = append(history, tr.(map[string]any)["id"].(string))
		}
		return len(history) >= n
	})
	facetest.Poll(t, "every transition delivered", func() bool { return rc.has(history) })
	return history
}

// checkStepsPerContact checks that every transition of history (ids, in
// the history's order: time, then number) was caused by a contact write
// and that each contact's steps, in that order, are want's ("entered
// exited"). The caller holds rc.mu.
func checkStepsPerContact(t *testing.T, rc *randomReceiver, history []string, want map[string]string) {
	t.Helper()
	seen := map[string]string{}
	for _, id := range history {
		tr := rc.byID[id]
		if tr.Cause != "contact" {
			t.Errorf("transition %s: %+v; want it caused by the contact write", id, tr)
		}
		c := strings.TrimSuffix(tr.Contact.Email, "@example.com")
		seen[c] = strings.TrimSpace(seen[c] + " " + strings.TrimPrefix(tr.Type, "segment."))
	}
	if fmt.Sprint(seen) != fmt.Sprint(want) {
		t.Fatalf("the transitions per contact are %v, want %v", seen, want)
	}
}
