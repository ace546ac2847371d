package main

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd/internal/facetest"
)

// TestTransitionsOfAKillWithoutSnapshot is TestTransitionsOfAJobKilledAfterItsCommit
// without any engine snapshot (--snapshot-interval=0, and the file
// removed before every start): the start has no marks, and makes the held
// job's transitions good from the history alone, since the account's
// history has no gap (docs/webhooks.md, "A start without a marked
// snapshot"). A long-standing member, whose entry is older than the
// retention, is not entered again: the pruning kept its entry, while it
// deleted another contact's entry and exit.
func TestTransitionsOfAKillWithoutSnapshot(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.unmarked-key"
		t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		t1 := t0.Add(3 * time.Hour) // the retention is 1 hour
		start := func(at time.Time, env []string) (liveServer, func()) {
			t.Helper()
			if err := os.Remove(filepath.Join(st.dir, snapshotFile)); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			s, cmd := startBinaryEnv(t, bin, st.dir, key, env, append(st.args(), "--dev", "--dev-clock", at.Format(time.RFC3339),
				"--snapshot-interval", "0", "--history-retention", "1h")...)
			return s, func() { kill(t, cmd) }
		}
		held := []string{"SEGMENTD_TEST_ONLY_COMMIT_HOLD=10m"}

		s, stop := start(t0, nil)
		rc := newRandomReceiver(t)
		seg := mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0", `{"name":"us","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"}`, 201)["id"].(string)
		rc.subscribe(t, s, key)
		waitCompleted(t, s, mustCall(t, s, key, "PUT", "/v3/marketing/contacts",
			`{"contacts":[{"email":"old@example.com","country":"US"},{"email":"gone@example.com","country":"US"}]}`, 202)["job_id"].(string))
		waitCompleted(t, s, mustCall(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"gone@example.com","country":"FR"}]}`, 202)["job_id"].(string))
		facetest.Poll(t, "three transitions delivered", func() bool { return rc.count() == 3 })
		before := rc.snapshot()
		stop()

		// Three hours later: the pruning at start deletes gone's entry and
		// exit and keeps old's entry, its last.
		s, stop = start(t1, held)
		facetest.Poll(t, "the history pruned", func() bool { return logHas(s, "membership history pruned", `"transitions":2`) })
		job := mustCall(t, s, key, "PUT", "/v3/marketing/contacts",
			`{"contacts":[{"email":"c0@example.com","country":"US"},{"email":"c1@example.com","country":"US"},{"email":"c2@example.com","country":"US"}]}`, 202)["job_id"].(string)
		facetest.Poll(t, "the job committed and is held", func() bool { return logHas(s, "holding a committed job", job) })
		stop()
		// A minute later, so that the history (up to now, exclusive) shows
		// what was made at the clock's last note.
		s, stop = start(t1.Add(time.Minute), nil)
		waitCompleted(t, s, job)
		checkUnmarkedWindow(t, s, rc, seg, t1.Add(time.Minute), before, map[string]string{"c0": "entered", "c1": "entered", "c2": "entered"})
		stop()

		// A held job moves c0 out, after its entry was stored.
		s, stop = start(t1.Add(2*time.Minute), held)
		job = mustCall(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"c0@example.com","country":"FR"}]}`, 202)["job_id"].(string)
		facetest.Poll(t, "the job committed and is held", func() bool { return logHas(s, "holding a committed job", job) })
		stop()
		s, stop = start(t1.Add(3*time.Minute), nil)
		defer stop()
		waitCompleted(t, s, job)
		checkUnmarkedWindow(t, s, rc, seg, t1.Add(3*time.Minute), before, map[string]string{"c0": "entered exited", "c1": "entered", "c2": "entered"})
	})
}

// checkUnmarkedWindow wants the segment's history within the retention
// (the hour before now) to hold exactly the transitions want names per
// contact, in order, each caused by the contact write, and the receiver
// to have each once and, beside them, only those of before.
func checkUnmarkedWindow(t *testing.T, s liveServer, rc *randomReceiver, seg string, now time.Time, before []string, want map[string]string) {
	t.Helper()
	n := 0
	for _, w := range want {
		n += len(strings.Fields(w))
	}
	span := url.QueryEscape(now.Add(-time.Hour).Format(time.RFC3339)) + "&to=" + url.QueryEscape(now.Format(time.RFC3339Nano))
	history := historyDelivered(t, s, rc, seg, span, n)
	got := rc.snapshot()
	wantIDs := append(slices.Clone(before), history...)
	slices.Sort(got)
	slices.Sort(wantIDs)
	if !slices.Equal(got, wantIDs) {
		t.Fatalf("delivered %v; want those of before %v and the history's %v", got, before, history)
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	checkStepsPerContact(t, rc, history, want)
}

// count is how many transitions the receiver has.
func (rc *randomReceiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.ids)
}

// snapshot returns the ids of the transitions the receiver has.
func (rc *randomReceiver) snapshot() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.ids)
}
