package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

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
