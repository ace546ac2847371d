package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentd/segmentd/internal/facetest"
)

// TestTakeoverMakesGoodWhatTheHolderDidNotStore runs two servers on one
// database: A holds the delivery lock and stores transitions late
// (SEGMENTD_TEST_ONLY_OUTBOX_DELAY), B does not try to take it until the
// test lets it (SEGMENTD_TEST_ONLY_ELECT_AFTER). A is killed while its
// engine's transitions of a write made on B wait to be stored, and B
// writes again before it takes the lock. Once B delivers, the receiver
// has every transition once by id, in order per contact and segment,
// ending at B's engine's members (docs/webhooks.md, "Several servers on
// one PostgreSQL database"). Without the reconciliation at the takeover
// the four transitions after the first two are lost. The test marks the
// account's history gap before the takeover, so B makes them good by its
// marks, not by the history's last word, and then makes the account
// gap-free ("The baseline").
func TestTakeoverMakesGoodWhatTheHolderDidNotStore(t *testing.T) {
	bin := realBinary(t)
	eachDatabase(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.takeover-key"
		a, cmdA, rc, seg := startDelayedHolder(t, bin, st, key, "6s")

		gate := filepath.Join(t.TempDir(), "elect")
		b, _ := startBinaryEnv(t, bin, t.TempDir(), key, []string{"SEGMENTD_TEST_ONLY_ELECT_AFTER=" + gate}, st.args()...)
		facetest.Poll(t, "B waits to deliver", func() bool { return logHas(b, "SEGMENTD_TEST_ONLY_ELECT_AFTER") })

		// Stored by A and delivered: c0 and c1 enter.
		runJob(t, b, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"c0@example.com","country":"US"},{"email":"c1@example.com","country":"US"}]}`)
		facetest.Poll(t, "the first two entries delivered", func() bool {
			rc.mu.Lock()
			defer rc.mu.Unlock()
			return len(rc.ids) == 2
		})

		// Made by A's engine, not stored when it dies: c2 enters, c0 leaves.
		runJob(t, b, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"c2@example.com","country":"US"},{"email":"c0@example.com","country":"FR"}]}`)
		facetest.Poll(t, "A's engine has the second write", func() bool {
			return mustCall(t, a, key, "GET", "/v3/marketing/segments/2.0/"+seg, "", 200)["contacts_count"].(float64) == 2
		})
		kill(t, cmdA)
		if ids := historyIDs(t, b, key, map[string]string{"us": seg}, time.Now(), time.Now()); len(ids) != 2 {
			t.Fatalf("the history holds %v after A's kill; the test needs A to have stored only the first two", ids)
		}

		// Written on B after A died, before B delivers: c1 leaves, c3 enters.
		runJob(t, b, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"c1@example.com","country":"FR"},{"email":"c3@example.com","country":"US"}]}`)
		if logHas(b, "holds the delivery lock") {
			t.Fatal("B delivered before the test let it")
		}
		historyGaps(t, st, true, true)
		if err := os.WriteFile(gate, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		facetest.Poll(t, "B delivers", func() bool { return logHas(b, "holds the delivery lock") })
		checkCommitWindow(t, b, rc, seg, map[string]string{"c0": "entered exited", "c1": "entered exited", "c2": "entered", "c3": "entered"})
		facetest.Poll(t, "the gap cleared", func() bool { return logHas(b, "made the membership history gap-free", `"accounts":1`) })
		historyGaps(t, st, false, false)

		members, err := rc.derive(map[string]string{seg: "us"})
		if err != nil {
			t.Fatal(err)
		}
		got := fmt.Sprint(members["us"])
		if want := "map[c2@example.com:true c3@example.com:true]"; got != want {
			t.Fatalf("the receiver's members are %s, want %s", got, want)
		}
		if n := mustCall(t, b, key, "GET", "/v3/marketing/segments/2.0/"+seg, "", 200)["contacts_count"].(float64); n != 2 {
			t.Fatalf("B's engine has %v members, the receiver 2", n)
		}
	})
}

// TestTakeoverAfterALoadThatHeldTheWrite: server B loads its engine while
// the holder A has made a transition and not stored it yet
// (SEGMENTD_TEST_ONLY_OUTBOX_DELAY), and A is killed before storing it.
// B's load already holds the write, so neither its marks nor its changes
// show it; the account's history has no gap, so B's takeover compares its
// engine with the history's last word and stores the entry, which the
// receiver gets once (docs/webhooks.md, "The takeover makes good what the
// old holder did not store").
func TestTakeoverAfterALoadThatHeldTheWrite(t *testing.T) {
	bin := realBinary(t)
	eachDatabase(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.takeover-load-key"
		a, cmdA, rc, seg := startDelayedHolder(t, bin, st, key, "30s")

		// A's engine makes c0's entry; its storing waits 30 s.
		mustCall(t, a, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"c0@example.com","country":"US"}]}`, 202)
		facetest.Poll(t, "A's engine has the write", func() bool {
			return mustCall(t, a, key, "GET", "/v3/marketing/segments/2.0/"+seg, "", 200)["contacts_count"].(float64) == 1
		})
		gate := filepath.Join(t.TempDir(), "elect")
		b, _ := startBinaryEnv(t, bin, t.TempDir(), key, []string{"SEGMENTD_TEST_ONLY_ELECT_AFTER=" + gate}, st.args()...)
		facetest.Poll(t, "B's engine has the write", func() bool {
			return mustCall(t, b, key, "GET", "/v3/marketing/segments/2.0/"+seg, "", 200)["contacts_count"].(float64) == 1
		})
		kill(t, cmdA)
		if ids := historyIDs(t, b, key, map[string]string{"us": seg}, time.Now(), time.Now()); len(ids) != 0 {
			t.Fatalf("the history holds %v after A's kill; the test needs A to have stored nothing", ids)
		}
		if err := os.WriteFile(gate, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		facetest.Poll(t, "B delivers", func() bool { return logHas(b, "holds the delivery lock") })
		checkCommitWindow(t, b, rc, seg, map[string]string{"c0": "entered"})
	})
}

// startDelayedHolder starts server A, which takes the delivery lock and
// stores its transitions delay late (SEGMENTD_TEST_ONLY_OUTBOX_DELAY), with
// a segment of the US contacts and a receiver subscribed to it.
func startDelayedHolder(t *testing.T, bin string, st storeUnderTest, key, delay string) (liveServer, *exec.Cmd, *randomReceiver, string) {
	t.Helper()
	a, cmdA := startBinaryEnv(t, bin, st.dir, key, []string{"SEGMENTD_TEST_ONLY_OUTBOX_DELAY=" + delay}, st.args()...)
	facetest.Poll(t, "A delivers", func() bool { return logHas(a, "holds the delivery lock") })
	rc := newRandomReceiver(t)
	seg := mustCall(t, a, key, "POST", "/v3/marketing/segments/2.0", `{"name":"us","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"}`, 201)["id"].(string)
	rc.subscribe(t, a, key)
	return a, cmdA, rc, seg
}
