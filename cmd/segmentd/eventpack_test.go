package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
	"github.com/segmentd/segmentd/postgres"
	"github.com/segmentd/segmentd/sqlite"
)

// TestKill9WhilePacking starts the real binary on SQLite, posts Event
// Webhook batches of 1,000 events (which the store writes as blocks in
// each batch's transaction) and kills it with SIGKILL while it takes one
// more, three times, restarting it each time. The batch the kill cut is
// sent again after the restart, as SendGrid retries, and adds only the
// events not stored. At the end every event is stored exactly once, in
// blocks, and a redelivered batch is all duplicates.
func TestKill9WhilePacking(t *testing.T) {
	bin := realBinary(t)
	dir := t.TempDir()
	const key = "SG.kill9-pack-key"
	s, cmd := startBinary(t, bin, dir, key)
	g := &engagement{t: t, s: s}
	var emails []string
	for i := range 50 {
		emails = append(emails, fmt.Sprintf("p%02d@example.com", i))
	}
	g.upsert(emails)

	now := time.Now().Unix()
	batch := func(n int) string {
		evs := make([]wireEv, 1000)
		for i := range evs {
			evs[i] = wireEv{email: emails[(n*7+i)%len(emails)], typ: "open", id: fmt.Sprintf("ev-%d-%d", n, i), ts: now - 3600 + int64(i)}
		}
		return batchOf(evs)
	}
	next := 0
	for round, acked := range []int{9, 5, 5} {
		for range acked {
			if r := g.post(batch(next)); r.Stored != 1000 {
				t.Fatalf("round %d, batch %d: %+v", round, next, r)
			}
			next++
		}
		// One more, cut by the kill: it may be stored whole or not at all.
		body := batch(next)
		sent := make(chan struct{})
		go func() {
			defer close(sent)
			req, _ := http.NewRequest("POST", s.url+"/webhooks/sendgrid/events", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+key)
			req.Header.Set("Content-Type", "application/json")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}()
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		<-sent

		s, cmd = startBinary(t, bin, dir, key)
		g.s = s
		if r := g.post(body); r.Stored+r.Duplicates != 1000 || r.Duplicates != 0 && r.Duplicates != 1000 {
			t.Fatalf("round %d, the batch the kill cut, sent again: %+v", round, r)
		}
		next++
	}
	for _, n := range []int{0, next / 2, next - 1} {
		if r := g.post(batch(n)); r.Duplicates != 1000 || r.Stored != 0 {
			t.Fatalf("batch %d redelivered: %+v", n, r)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	// The store, read directly: each event once, in order.
	path := filepath.Join(dir, "segmentd.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	var acct, blocks, packed int64
	err = db.QueryRow("SELECT account_id, COUNT(*), SUM(events) FROM event_blocks GROUP BY account_id").Scan(&acct, &blocks, &packed)
	db.Close()
	if err != nil || blocks == 0 {
		t.Fatalf("event blocks: %d holding %d (%v)", blocks, packed, err)
	}
	st, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	seen := make(map[string]bool)
	for after := int64(0); ; {
		evs, last, err := st.ScanEvents(context.Background(), acct, after, 7000)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range evs {
			if seen[ev.SGEventID] {
				t.Fatalf("event %s stored twice", ev.SGEventID)
			}
			seen[ev.SGEventID] = true
		}
		if len(evs) < 7000 {
			break
		}
		after = last
	}
	for n := range next {
		for i := range 1000 {
			if id := fmt.Sprintf("ev-%d-%d", n, i); !seen[id] {
				t.Fatalf("event %s lost", id)
			}
		}
	}
	if len(seen) != next*1000 {
		t.Fatalf("%d events stored, %d sent", len(seen), next*1000)
	}
	t.Logf("%d events, %d of them in %d blocks", len(seen), packed, blocks)
}

// TestPackEventRowsThroughTheBinary: a store moved from SQLite by
// `segmentd migrate-store` holds every event as a row, as a PostgreSQL
// store upgraded from before its migration 0022 does. Servers started on
// it pack the rows in the background, one at a time: the first, held
// after one transaction, is killed with SIGKILL while a second, started
// beside it, waits for its lock; the second then packs the rest. A batch
// posted meanwhile is stored once, its old id a duplicate. At the end
// every event reads back as SQLite had it, and `segmentd events pack`
// finds nothing left.
func TestPackEventRowsThroughTheBinary(t *testing.T) {
	bin := realBinary(t)
	eachDatabase(t, func(t *testing.T, st storeUnderTest) {
		ctx := context.Background()
		const key = "SG.pack-rows-key"
		s, cmd := startBinary(t, bin, st.dir, key)
		var emails []string
		for i := range 50 {
			emails = append(emails, fmt.Sprintf("r%02d@example.com", i))
		}
		(&engagement{t: t, s: s}).upsert(emails)
		if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()

		// 60,000 events into the SQLite store (more than one packing
		// transaction's 32,768 numbers), one in twenty for an email with
		// no contact.
		const n = 60_000
		now := time.Now()
		var b strings.Builder
		for i := range n {
			email := emails[i%len(emails)]
			if i%20 == 0 {
				email = fmt.Sprintf("none%d@example.com", i%7)
			}
			fmt.Fprintln(&b, wireEv{email: email, typ: eventTypes[i%len(eventTypes)], id: fmt.Sprintf("ev-%d", i), url: fmt.Sprintf("https://x.test/%d", i%3),
				ts: now.Add(-time.Duration(i) * time.Second).Unix()}.json())
		}
		file := filepath.Join(t.TempDir(), "events.ndjson")
		if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := run(ctx, []string{"events", "load", file, "--data", st.dir}, nil, nil, io.Discard, io.Discard); err != nil {
			t.Fatal(err)
		}
		sq, err := sqlite.Open(ctx, filepath.Join(st.dir, "segmentd.db"))
		if err != nil {
			t.Fatal(err)
		}
		acct, err := sq.AccountByName(ctx, segmentd.DefaultAccountName)
		if err != nil {
			t.Fatal(err)
		}
		want := readEvents(t, sq, acct.ID)
		sq.Close()
		if len(want) != n {
			t.Fatalf("SQLite holds %d events, want %d", len(want), n)
		}
		if err := run(ctx, append([]string{"migrate-store", "--data", st.dir}, st.args()...), nil, nil, io.Discard, io.Discard); err != nil {
			t.Fatalf("migrate-store: %v", err)
		}

		first, firstCmd := startBinaryEnv(t, bin, t.TempDir(), key, []string{"SEGMENTD_TEST_ONLY_PACK_HOLD=1"}, st.args()...)
		facetest.Poll(t, "the first server's packing held", func() bool { return logHas(first, "packing of event rows held") })
		second, _ := startBinary(t, bin, t.TempDir(), key, st.args()...)
		facetest.Poll(t, "the second server waiting", func() bool { return logHas(second, "another server packs the event rows") })
		r := (&engagement{t: t, s: second}).post(batchOf([]wireEv{
			{email: emails[1], typ: "open", id: "ev-1", ts: now.Unix()},
			{email: emails[2], typ: "click", id: "late-1", ts: now.Unix()},
		}))
		if r.Stored != 1 || r.Duplicates != 1 {
			t.Fatalf("a batch while packing: %+v; want 1 stored, 1 duplicate", r)
		}
		if err := firstCmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = firstCmd.Wait()
		facetest.Poll(t, "the second server packed the rest", func() bool { return logHas(second, "event rows stored before event blocks packed") })
		held, rest := loggedEvents(t, first, "packing of event rows held"), loggedEvents(t, second, "event rows stored before event blocks packed")
		if held == 0 || rest == 0 || held+rest != n-n/20 {
			t.Fatalf("packed %d by the first server and %d by the second; want %d in all", held, rest, n-n/20)
		}
		t.Logf("packed %d events before the kill, %d after", held, rest)

		pg, err := postgres.Open(ctx, st.url, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer pg.Close()
		got := readEvents(t, pg, acct.ID)
		if len(got) != n+1 || got[n].SGEventID != "late-1" {
			t.Fatalf("%d events after packing, want %d and late-1 last", len(got), n+1)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("event %d\n got %+v\nwant %+v", i, got[i], want[i])
			}
		}
		var out strings.Builder
		if err := run(ctx, append([]string{"events", "pack", "--data", t.TempDir()}, st.args()...), nil, nil, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(out.String(), "0 events packed") {
			t.Fatalf("events pack printed %q; want nothing left", &out)
		}
	})
}

// readEvents reads every event of the account, in number order.
func readEvents(t *testing.T, st interface {
	ScanEvents(context.Context, int64, int64, int) ([]segmentd.Event, int64, error)
}, acct int64) []segmentd.Event {
	t.Helper()
	var out []segmentd.Event
	for after := int64(0); ; {
		evs, last, err := st.ScanEvents(context.Background(), acct, after, 7000)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 {
			return out
		}
		out, after = append(out, evs...), last
	}
}

// loggedEvents is the "events" of the server's first log line with msg.
func loggedEvents(t *testing.T, s liveServer, msg string) int {
	t.Helper()
	b, err := os.ReadFile(s.log)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		var l struct {
			Msg    string `json:"msg"`
			Events *int   `json:"events"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && strings.HasPrefix(l.Msg, msg) && l.Events != nil {
			return *l.Events
		}
	}
	t.Fatalf("the server logged no %q with its events", msg)
	return 0
}
