package audience

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/sqlite"
)

// TestSharedJobsTakenOver: in a shared store, the jobs a stopped server
// accepted (stored with their inputs, still pending) run on another
// server, in their account's order and before that server's own later
// job: at once for the jobs of the server's own previous run
// (ResumeSharedJobs), and, for another server's, once their lease has
// ended. A job stored without its input fails as abandoned, and the
// account's next jobs go on.
func TestSharedJobsTakenOver(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	acct, err := st.CreateAccount(ctx, "acme", 0, now)
	if err != nil {
		t.Fatal(err)
	}
	// Three jobs of a server that stopped: its previous run's ("before",
	// with a lease far ahead), then another server's, whose lease ends in
	// a second, then one stored without its input.
	name := func(email, first string) *jobInput {
		return &jobInput{op: opUpsert, patches: []segmentd.ContactPatch{{Email: &email, FirstName: &first}}}
	}
	accept := func(in *jobInput, owner string, lease time.Time, withInput bool) segmentd.Job {
		j := segmentd.Job{ID: segmentd.NewID(), AccountID: acct.ID, Type: segmentd.JobUpsert, Status: segmentd.JobPending, Requested: 1, StartedAt: now}
		var input []byte
		if withInput {
			input = encodeAccept(&j, in)
		}
		if err := st.AcceptJob(ctx, j, input, owner, lease); err != nil {
			t.Fatal(err)
		}
		return j
	}
	mine := accept(name("ada@example.com", "first"), "before", time.Now().Add(time.Hour), true)
	theirs := accept(name("ada@example.com", "second"), "other", time.Now().Add(time.Second), true)
	lost := accept(name("bob@example.com", "lost"), "other", time.Now().Add(time.Second), false)

	svc := New(st, segmentd.SystemClock{}, slog.New(slog.DiscardHandler), Config{Segments: st, Events: st, Membership: engine.NewMembership(),
		Shared: true, FollowInterval: 5 * time.Millisecond, Jobs: st, JobLease: 3 * time.Second})
	defer svc.Close()
	if err := svc.LoadMembership(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.ResumeSharedJobs(ctx, "before"); err != nil {
		t.Fatal(err)
	}
	// This server's own job, accepted behind them, runs after them.
	carol := "carol@example.com"
	own, err := svc.UpsertContacts(ctx, acct.ID, []segmentd.ContactPatch{{Email: &carol}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	wait := func(id string) segmentd.Job { t.Helper(); return waitJob(t, svc, acct.ID, id) }
	for _, id := range []string{mine.ID, theirs.ID, own} {
		if j := wait(id); j.Status != segmentd.JobCompleted || j.Created+j.Updated != 1 {
			t.Fatalf("job %s: %+v, want completed", id, j)
		}
	}
	if j := wait(lost.ID); j.Status != segmentd.JobFailed || len(j.Errors) != 1 || j.Errors[0].Message != segmentd.MsgJobAbandoned {
		t.Fatalf("the job without its input: %+v, want failed as abandoned", j)
	}
	cs, err := st.ContactsByIdentifier(ctx, acct.ID, segmentd.IdentifierEmail, []string{"ada@example.com", "bob@example.com", "carol@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if ada := cs["ada@example.com"]; ada.FirstName != "second" {
		t.Fatalf("Ada's first name = %q, want the later job's, second", ada.FirstName)
	}
	if _, ok := cs["bob@example.com"]; ok || cs["carol@example.com"].ID == "" {
		t.Fatalf("contacts after the jobs: %v, want Carol and not Bob", cs)
	}
	if head, err := st.NextJob(ctx, acct.ID, time.Now()); err != nil || head.ID != "" {
		t.Fatalf("NextJob after all ran = %+v, %v", head, err)
	}
}

// TestSharedUpsertsPipelined: in a shared store, a run of one account's
// upserts is pipelined (an upsert's engine update overlaps the next one's
// transaction) and a delete among them waits for the upserts before it:
// the jobs still apply in the order they were accepted, each with the
// counts of that order, and the engine ends where the store is.
func TestSharedUpsertsPipelined(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	acct, err := st.CreateAccount(ctx, "acme", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	mem := engine.NewMembership()
	svc := New(st, segmentd.SystemClock{}, slog.New(slog.DiscardHandler), Config{Segments: st, Events: st, Membership: mem,
		Shared: true, FollowInterval: 5 * time.Millisecond, Jobs: st, JobLease: 30 * time.Second})
	defer svc.Close()
	if err := svc.LoadMembership(ctx); err != nil {
		t.Fatal(err)
	}
	upsert := func(email, first string) string {
		t.Helper()
		id, err := svc.UpsertContacts(ctx, acct.ID, []segmentd.ContactPatch{{Email: &email, FirstName: &first}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	wait := func(id string) segmentd.Job { t.Helper(); return waitJob(t, svc, acct.ID, id) }
	// Ada's first upsert, waited for, gives her id for the delete.
	first := wait(upsert("ada@example.com", "v0"))
	if first.Created != 1 {
		t.Fatalf("Ada's first upsert: %+v, want created", first)
	}
	ada, err := st.ContactsByIdentifier(ctx, acct.ID, segmentd.IdentifierEmail, []string{"ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	// Then, accepted at once: ten renames of Ada and ten new contacts, a
	// delete of Ada, and ten more renames, which create her again first.
	type want struct {
		id               string
		created, updated int
	}
	var jobs []want
	for i := 1; i <= 10; i++ {
		jobs = append(jobs, want{upsert("ada@example.com", fmt.Sprintf("v%d", i)), 0, 1})
		jobs = append(jobs, want{upsert(fmt.Sprintf("c%d@example.com", i), "new"), 1, 0})
	}
	del, err := svc.DeleteContacts(ctx, acct.ID, []string{ada["ada@example.com"].ID}, false)
	if err != nil {
		t.Fatal(err)
	}
	jobs = append(jobs, want{del, 0, 0})
	for i := 11; i <= 20; i++ {
		created, updated := 0, 1
		if i == 11 {
			created, updated = 1, 0
		}
		jobs = append(jobs, want{upsert("ada@example.com", fmt.Sprintf("v%d", i)), created, updated})
	}
	for i, w := range jobs {
		j := wait(w.id)
		if j.Status != segmentd.JobCompleted || j.Created != w.created || j.Updated != w.updated {
			t.Fatalf("job %d: %+v, want completed with %d created and %d updated", i, j, w.created, w.updated)
		}
	}
	cs, err := st.ContactsByIdentifier(ctx, acct.ID, segmentd.IdentifierEmail, []string{"ada@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	got := mem.ContactsByIDs(acct.ID, []string{cs["ada@example.com"].ID, ada["ada@example.com"].ID}, now)
	if cs["ada@example.com"].FirstName != "v20" || len(got) != 1 || got[0].FirstName != "v20" {
		t.Fatalf("Ada in the store %+v and in the engine %+v, want v20 in both, once", cs["ada@example.com"], got)
	}
	if n, err := st.CountContacts(ctx, acct.ID); err != nil || n != 11 || mem.ContactCount(acct.ID) != 11 {
		t.Fatalf("contacts: %d in the store (%v), %d in the engine; want 11 in both", n, err, mem.ContactCount(acct.ID))
	}
}

// waitJob polls a job until it is no longer pending (30 s at the most).
func waitJob(t *testing.T, svc *Service, acct int64, id string) segmentd.Job {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		j, err := svc.Job(context.Background(), acct, id)
		if err == nil && j.Status != segmentd.JobPending {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still pending (%v)", id, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBacklogNextBoundsReadAhead: the jobs read ahead are the next turn's
// as far as they stay within maxReadAheadItems, and at least its first
// job, whatever the group takeJob would take (docs/jobs.md, "Reading
// ahead").
func TestBacklogNextBoundsReadAhead(t *testing.T) {
	b := newBacklog(DefaultMaxBacklog, true)
	upsert := func(id string, items int) *jobTask {
		return &jobTask{job: segmentd.Job{ID: id, AccountID: 1, Type: segmentd.JobUpsert}, items: items, journal: true}
	}
	for _, t := range []*jobTask{upsert("a", 20_000), upsert("b", 10_000), upsert("c", 1), upsert("d", 1)} {
		b.push(t)
	}
	ids := func(ts []*jobTask) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.job.ID)
		}
		return out
	}
	if got := ids(b.next()); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("read ahead %v, want [a b]: 30,000 contacts", got)
	}
	if got := ids(b.takeJob()); !slices.Equal(got, []string{"a", "b", "c", "d"}) {
		t.Fatalf("took %v, want the group [a b c d]", got)
	}
	b.push(upsert("e", maxReadAheadItems+1))
	b.push(upsert("f", 1))
	if got := ids(b.next()); !slices.Equal(got, []string{"e"}) {
		t.Fatalf("read ahead %v, want [e]: the first job whatever its size", got)
	}
}
