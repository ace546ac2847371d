package main

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
	"github.com/segmentd/segmentd/postgres"
	"github.com/segmentd/segmentd/sqlite"
)

// TestTransitionsAfterTheHistoryBaseline: an account whose history has a
// gap is made gap-free at a delivering start, by baseline rows, and is
// then made good from its history alone (docs/webhooks.md, "The
// baseline"). A first run keeps no history (--history-retention=0), so
// the entry of a long-standing member reaches the receiver but not the
// history; on SQLite the server, alone on its store, marks the gap of the
// account it creates (at its bootstrap, after its start); on a shared
// database no server marks it (another may keep the history), so the test
// marks it through the store. The next start writes the member's baseline
// row and clears the gap; a job held after its commit is then killed, and
// a start without any snapshot delivers its entry once and does not enter
// the long-standing member again, whose membership the history answers
// as the engine's.
func TestTransitionsAfterTheHistoryBaseline(t *testing.T) {
	bin := realBinary(t)
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.baseline-key"
		t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
		start := func(at time.Time, env []string, extra ...string) (liveServer, func()) {
			t.Helper()
			if err := os.Remove(filepath.Join(st.dir, snapshotFile)); err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			s, cmd := startBinaryEnv(t, bin, st.dir, key, env, append(append(st.args(), "--dev", "--dev-clock", at.Format(time.RFC3339),
				"--snapshot-interval", "0"), extra...)...)
			return s, func() { kill(t, cmd) }
		}

		s, stop := start(t0, nil, "--history-retention", "0")
		rc := newRandomReceiver(t)
		seg := mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0", `{"name":"us","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"}`, 201)["id"].(string)
		rc.subscribe(t, s, key)
		waitCompleted(t, s, mustCall(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"old@example.com","country":"US"}]}`, 202)["job_id"].(string))
		facetest.Poll(t, "the long-standing member's entry delivered", func() bool { return rc.count() == 1 })
		before := rc.snapshot()
		stop()
		historyGaps(t, st, st.url != "", true)

		t1 := t0.Add(time.Hour)
		s, stop = start(t1, []string{"SEGMENTD_TEST_ONLY_COMMIT_HOLD=10m"})
		facetest.Poll(t, "the baseline written", func() bool {
			return logHas(s, "made the membership history gap-free", `"accounts":1`, `"rows":1`)
		})
		job := mustCall(t, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[{"email":"c0@example.com","country":"US"}]}`, 202)["job_id"].(string)
		facetest.Poll(t, "the job committed and is held", func() bool { return logHas(s, "holding a committed job", job) })
		stop()
		historyGaps(t, st, false, false)

		now := t1.Add(time.Minute)
		s, stop = start(now, nil)
		defer stop()
		waitCompleted(t, s, job)
		checkUnmarkedWindow(t, s, rc, seg, now, before, map[string]string{"c0": "entered"})
		// The member since before the history is one at any time the
		// history answers for.
		m := mustCall(t, s, key, "GET", "/segmentd/v1/segments/sendgrid/"+seg+"/history/membership?email=old@example.com&at="+
			url.QueryEscape(t1.Add(-30*time.Minute).Format(time.RFC3339)), "", 200)
		if m["member"] != true {
			t.Fatalf("membership of the long-standing member before the baseline: %v, want a member", m)
		}
	})
}

// historyGaps opens the stopped server's store: with mark, it marks every
// account's history gap; then it wants every account's gap to be want.
func historyGaps(t *testing.T, st storeUnderTest, mark, want bool) {
	t.Helper()
	ctx := context.Background()
	store := openGapStore(t, st)
	accts, err := store.Accounts(ctx)
	if err != nil || len(accts) == 0 {
		t.Fatalf("the store's accounts: %v %v", accts, err)
	}
	for _, a := range accts {
		if mark {
			if err := store.MarkHistoryGap(ctx, a.ID); err != nil {
				t.Fatal(err)
			}
		}
		if gap, err := store.HistoryGap(ctx, a.ID); err != nil || gap != want {
			t.Fatalf("account %d's history gap = %v %v, want %v", a.ID, gap, err, want)
		}
	}
}

// gapStore is what historyGaps needs of a store.
type gapStore interface {
	segmentd.Store
	segmentd.HistoryStore
	segmentd.HistoryGapMarker
}

// openGapStore opens st's store (its SQLite file, or its database),
// closed when the test ends.
func openGapStore(t *testing.T, st storeUnderTest) gapStore {
	t.Helper()
	ctx := context.Background()
	if st.url == "" {
		s, err := sqlite.Open(ctx, filepath.Join(st.dir, "segmentd.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	s, err := postgres.Open(ctx, st.url, postgres.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}
