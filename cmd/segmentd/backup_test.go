package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentd/segmentd/internal/facetest"
)

// backupLoad is the write load of TestBackupUnderWriteLoad: job 2k adds
// batch k (20 contacts on one list, 10 in the US and 10 in FR), job 2k+1
// moves 5 of batch k's US contacts to DE. One account's jobs apply in
// order, each in one transaction, so the store at any moment holds the
// first P jobs for some P, and every count follows from P.
type backupLoad struct {
	s    liveServer
	list string

	mu   sync.Mutex
	done int // jobs that read completed
}

func (l *backupLoad) body(job int) string {
	k := job / 2
	var cs []string
	for j := range 20 {
		switch {
		case job%2 == 0 && j%2 == 0:
			cs = append(cs, fmt.Sprintf(`{"email":"b%04d-%02d@example.com","country":"US"}`, k, j))
		case job%2 == 0:
			cs = append(cs, fmt.Sprintf(`{"email":"b%04d-%02d@example.com","country":"FR"}`, k, j))
		case j%2 == 0 && j < 10:
			cs = append(cs, fmt.Sprintf(`{"email":"b%04d-%02d@example.com","country":"DE"}`, k, j))
		}
	}
	return fmt.Sprintf(`{"list_ids":[%q],"contacts":[%s]}`, l.list, strings.Join(cs, ","))
}

// run writes jobs one after another until stop is closed.
func (l *backupLoad) run(stop <-chan struct{}) error {
	for job := 0; ; job++ {
		select {
		case <-stop:
			return nil
		default:
		}
		r, err := facetest.Send(l.s.url, l.s.key, facetest.Request{Method: "PUT", Path: "/v3/marketing/contacts", Body: l.body(job)})
		if err != nil || r.Status != 202 {
			return fmt.Errorf("job %d: %v %d %s", job, err, r.Status, r.Body)
		}
		var acc struct {
			JobID string `json:"job_id"`
		}
		_ = json.Unmarshal(r.Body, &acc)
		for deadline := time.Now().Add(facetest.Deadline); ; time.Sleep(2 * time.Millisecond) {
			r, err := facetest.Send(l.s.url, l.s.key, facetest.Request{Method: "GET", Path: "/v3/marketing/contacts/imports/" + acc.JobID})
			if err != nil || r.Status != 200 {
				return fmt.Errorf("job %d: %v %d %s", job, err, r.Status, r.Body)
			}
			if strings.Contains(string(r.Body), `"status":"completed"`) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("job %d not completed within %v: %s", job, facetest.Deadline, r.Body)
			}
		}
		l.mu.Lock()
		l.done++
		l.mu.Unlock()
	}
}

func (l *backupLoad) completed() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.done
}

// TestBackupUnderWriteLoad backs up the real binary's data directory while
// jobs write to it (and the engine snapshot is rewritten every 100 ms),
// restores the backup into a new data directory, and starts segmentd on
// it: the restored server holds exactly what the backup says, every job
// that read completed before the backup began, and a state the writes
// went through (no job half there); its segment, list and search counts
// agree with its contacts, and a second restore without the snapshot
// (the engine rebuilt from the store) answers the same.
func TestBackupUnderWriteLoad(t *testing.T) {
	bin := realBinary(t)
	key := "SG.backup-test-key"
	data := t.TempDir()
	s, _ := startBinary(t, bin, data, key, "--snapshot-interval", "100ms")
	list := mustCall(t, s, key, "POST", "/v3/marketing/lists", `{"name":"load"}`, 201)["id"].(string)
	seg := mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0", `{"name":"US","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"}`, 201)["id"].(string)

	load := &backupLoad{s: s, list: list}
	stop, errc := make(chan struct{}), make(chan error, 1)
	go func() { errc <- load.run(stop) }()
	facetest.Poll(t, "ten jobs completed", func() bool { return load.completed() >= 10 })
	before := load.completed()
	out := filepath.Join(t.TempDir(), "backup")
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, "backup", "--data", data, "--out", out)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	during := load.completed() - before
	facetest.Poll(t, "jobs after the backup", func() bool { return load.completed() >= before+during+2 })
	close(stop)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if err != nil {
		t.Fatalf("segmentd backup: %v\n%s%s", err, stdout.String(), stderr.String())
	}
	t.Logf("backup with %d jobs completed before it and %d during it:\n%s", before, during, stdout.String())
	m := regexp.MustCompile(`(?m)^account 1: (\d+) contacts$`).FindStringSubmatch(stdout.String())
	if m == nil || !strings.Contains(stdout.String(), "engine snapshot: engine.snap, at change") {
		t.Fatalf("backup's report names no contacts of account 1, or no snapshot:\n%s", stdout.String())
	}
	claimed, _ := strconv.Atoi(m[1])

	// Restore: the backup's files into an empty data directory.
	restore := func(withSnapshot bool) liveServer {
		dir := t.TempDir()
		for _, name := range []string{"segmentd.db", snapshotFile} {
			if name == snapshotFile && !withSnapshot {
				continue
			}
			b, err := os.ReadFile(filepath.Join(out, name))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		r, _ := startBinary(t, bin, dir, key)
		return r
	}
	type counts struct{ contacts, list, us, de, fr float64 }
	read := func(r liveServer) counts {
		search := func(q string) float64 {
			return mustCall(t, r, key, "POST", "/v3/marketing/contacts/search", `{"query":"country = '`+q+`'"}`, 200)["contact_count"].(float64)
		}
		return counts{
			contacts: mustCall(t, r, key, "GET", "/v3/marketing/contacts/count", "", 200)["contact_count"].(float64),
			list:     mustCall(t, r, key, "GET", "/v3/marketing/lists/"+list, "", 200)["contact_count"].(float64),
			us:       mustCall(t, r, key, "GET", "/v3/marketing/segments/2.0/"+seg, "", 200)["contacts_count"].(float64),
			de:       search("DE"),
			fr:       search("FR"),
		}
	}
	r := restore(true)
	got := read(r)
	if int(got.contacts) != claimed {
		t.Fatalf("restored %v contacts; the backup claims %d", got.contacts, claimed)
	}
	// The first P jobs: n = ceil(P/2) batches added, moved = floor(P/2)
	// of them moved, so P = n + moved.
	n := claimed / 20
	if claimed%20 != 0 || n < (before+1)/2 {
		t.Fatalf("restored %d contacts: not whole batches, or fewer than the %d batches of the %d jobs completed before the backup", claimed, (before+1)/2, before)
	}
	moved := int(got.de) / 5
	want := counts{contacts: float64(20 * n), list: float64(20 * n), de: float64(5 * moved), fr: float64(10 * n), us: float64(10*n - 5*moved)}
	if (moved != n && moved != n-1) || got != want || n+moved < before {
		t.Fatalf("restored counts %+v: no state the writes went through (want %+v, %d jobs completed before the backup)", got, want, before)
	}
	// The last batch is there whole; the next is not there at all.
	emails := func(k int) string {
		var es []string
		for j := range 20 {
			es = append(es, fmt.Sprintf("%q", fmt.Sprintf("b%04d-%02d@example.com", k, j)))
		}
		return `{"emails":[` + strings.Join(es, ",") + `]}`
	}
	if res := mustCall(t, r, key, "POST", "/v3/marketing/contacts/search/emails", emails(n-1), 200)["result"].(map[string]any); len(res) != 20 {
		t.Fatalf("batch %d: %d of its 20 contacts restored", n-1, len(res))
	}
	if code, body := call(t, r, key, "POST", "/v3/marketing/contacts/search/emails", emails(n)); code != 404 {
		t.Fatalf("batch %d, after the backup: %d %.300s, want 404 (none of it)", n, code, body)
	}
	if rebuilt := read(restore(false)); rebuilt != got {
		t.Fatalf("restored without the snapshot: %+v; with it: %+v", rebuilt, got)
	}
}

// TestBackupRefusals: backup names what it needs and never writes into a
// directory that holds anything, nor backs up PostgreSQL.
func TestBackupRefusals(t *testing.T) {
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	if err := os.WriteFile(filepath.Join(data, "segmentd.db"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", data}, "usage: segmentd backup --data DIR --out NEWDIR"},
		{[]string{"--data", t.TempDir(), "--out", filepath.Join(t.TempDir(), "b")}, "backup: no store in"},
		{[]string{"--data", data, "--out", full}, "is not empty: give a new directory"},
		{[]string{"--data", data, "--out", t.TempDir(), "--database-url", "postgres://x/y"}, "back up a PostgreSQL store with PostgreSQL's own tools"},
	} {
		var out strings.Builder
		err := run(t.Context(), append([]string{"backup"}, c.args...), nil, strings.NewReader(""), &out, &out)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("backup %v: %v, want an error containing %q", c.args, err, c.want)
		}
	}
	if entries, _ := os.ReadDir(full); len(entries) != 1 {
		t.Errorf("backup wrote into a directory that was not empty: %d entries", len(entries))
	}
}
