package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// JobQueueStore is a store that orders jobs across the servers sharing it.
type JobQueueStore interface {
	segmentd.Store
	segmentd.JobQueue
}

// RunJobQueue runs the job-queue contract. open must return a new, empty
// store.
func RunJobQueue(t *testing.T, open func(t *testing.T) JobQueueStore) {
	t.Run("Order", func(t *testing.T) { testJobOrder(t, open(t)) })
	t.Run("TakeOver", func(t *testing.T) { testJobTakeOver(t, open(t)) })
}

var jobT0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

func pendingJob(acct int64, requested int) segmentd.Job {
	return segmentd.Job{ID: segmentd.NewID(), AccountID: acct, Type: segmentd.JobUpsert, Status: segmentd.JobPending, Requested: requested, StartedAt: jobT0}
}

func nextJob(t *testing.T, st JobQueueStore, acct int64, now time.Time) string {
	t.Helper()
	return must[segmentd.QueuedJob](t, "NextJob")(st.NextJob(ctx(t), acct, now)).ID
}

// accept stores j pending, with an input that names it, owned by owner
// until lease.
func accept(t *testing.T, st JobQueueStore, j segmentd.Job, owner string, lease time.Time) {
	t.Helper()
	noErr(t, "AcceptJob", st.AcceptJob(ctx(t), j, []byte("input of "+j.ID), owner, lease))
}

// testJobOrder: an account's jobs come in the order they were accepted,
// whichever server accepted them; accounts do not wait for each other; a
// finished job reads as its result.
func testJobOrder(t *testing.T, st JobQueueStore) {
	acct, other := newAccount(t, st, "a"), newAccount(t, st, "b")
	lease := jobT0.Add(time.Minute)
	j1, j2, j3, o1 := pendingJob(acct, 2), pendingJob(acct, 1), pendingJob(acct, 1), pendingJob(other, 1)
	accept(t, st, j1, "server-a", lease)
	accept(t, st, j2, "server-b", lease)
	accept(t, st, o1, "server-b", lease)
	accept(t, st, j3, "server-a", lease)
	if got := must[segmentd.Job](t, "Job")(st.Job(ctx(t), acct, j2.ID)); got.Status != segmentd.JobPending || got.Requested != 1 {
		t.Fatalf("a pending job reads %+v", got)
	}
	if id := nextJob(t, st, acct, jobT0); id != j1.ID {
		t.Fatalf("NextJob = %s, want the first accepted %s", id, j1.ID)
	}
	if id := nextJob(t, st, other, jobT0); id != o1.ID {
		t.Fatalf("the other account's NextJob = %s, want %s", id, o1.ID)
	}
	done := j1
	done.Created, done.Updated = 1, 1
	done.Finish(jobT0.Add(time.Second))
	noErr(t, "FinishJob", st.FinishJob(ctx(t), done))
	if got := must[segmentd.Job](t, "Job")(st.Job(ctx(t), acct, j1.ID)); got.Status != segmentd.JobCompleted || got.Created != 1 || !got.FinishedAt.Equal(done.FinishedAt) {
		t.Fatalf("a finished job reads %+v", got)
	}
	if id := nextJob(t, st, acct, jobT0); id != j2.ID {
		t.Fatalf("NextJob after the first finished = %s, want %s", id, j2.ID)
	}
	wantKind(t, "FinishJob(finished)", st.FinishJob(ctx(t), done), segmentd.KindConflict)
	for _, j := range []segmentd.Job{j2, j3} {
		j.Finish(jobT0)
		noErr(t, "FinishJob", st.FinishJob(ctx(t), j))
	}
	if id := nextJob(t, st, acct, jobT0); id != "" {
		t.Fatalf("NextJob with none pending = %q", id)
	}
}

// testJobTakeOver: a job whose server's lease ended stands lapsed, with
// its account among LapsedJobs; one server takes it, with its input, and
// a second server taking it then fails; a renewed lease keeps a job; a
// lease renewed to a past time ends (a restarted server's former jobs);
// a finished job's input is gone (it can no longer be taken).
func testJobTakeOver(t *testing.T, st JobQueueStore) {
	acct, other := newAccount(t, st, "a"), newAccount(t, st, "b")
	j1, j2, j3, o1 := pendingJob(acct, 3), pendingJob(acct, 1), pendingJob(acct, 1), pendingJob(other, 1)
	accept(t, st, j1, "gone", jobT0.Add(time.Minute))
	accept(t, st, j2, "alive", jobT0.Add(time.Minute))
	accept(t, st, j3, "gone", jobT0.Add(time.Minute))
	accept(t, st, o1, "alive", jobT0.Add(time.Minute))
	noErr(t, "RenewJobs", st.RenewJobs(ctx(t), "alive", jobT0.Add(time.Hour)))
	if got := must[[]int64](t, "LapsedJobs")(st.LapsedJobs(ctx(t), jobT0)); len(got) != 0 {
		t.Fatalf("LapsedJobs before any lease ended = %v", got)
	}
	later := jobT0.Add(10 * time.Minute)
	for n, want := range [][]string{nil, {j1.ID}, {j1.ID, j2.ID}, {j1.ID, j2.ID, j3.ID}, {j1.ID, j2.ID, j3.ID}} {
		heads := must[[]segmentd.QueuedJob](t, "NextJobs")(st.NextJobs(ctx(t), acct, later, n))
		var got []string
		for _, h := range heads {
			got = append(got, h.ID)
		}
		if !slices.Equal(got, want) || n >= 2 && (heads[1].Owner != "alive" || heads[1].Lapsed || heads[0].Owner != "gone" || !heads[0].Lapsed) {
			t.Fatalf("NextJobs(%d) = %+v, want %v (the first of gone, lapsed; the second of alive, live)", n, heads, want)
		}
	}
	head := must[segmentd.QueuedJob](t, "NextJob")(st.NextJob(ctx(t), acct, later))
	if head.ID != j1.ID || head.Owner != "gone" || !head.Lapsed {
		t.Fatalf("NextJob past the first's lease = %+v, want %s of gone, lapsed", head, j1.ID)
	}
	if got := must[[]int64](t, "LapsedJobs")(st.LapsedJobs(ctx(t), later)); len(got) != 1 || got[0] != acct {
		t.Fatalf("LapsedJobs = %v, want [%d]", got, acct)
	}
	if _, ok, err := st.TakeJob(ctx(t), other, o1.ID, "thief", later, later.Add(time.Minute)); err != nil || ok {
		t.Fatalf("TakeJob of a live job = %v, %v; want not taken", ok, err)
	}
	input, ok, err := st.TakeJob(ctx(t), acct, j1.ID, "heir", later, later.Add(time.Minute))
	if err != nil || !ok || string(input) != "input of "+j1.ID {
		t.Fatalf("TakeJob = %q, %v, %v; want the job's input", input, ok, err)
	}
	if _, ok, err := st.TakeJob(ctx(t), acct, j1.ID, "second", later, later.Add(time.Minute)); err != nil || ok {
		t.Fatalf("TakeJob of a job taken already = %v, %v; want not taken", ok, err)
	}
	head = must[segmentd.QueuedJob](t, "NextJob")(st.NextJob(ctx(t), acct, later))
	if head.ID != j1.ID || head.Owner != "heir" || head.Lapsed {
		t.Fatalf("NextJob after the take = %+v, want %s of heir, live", head, j1.ID)
	}
	done := j1
	done.Created = 3
	done.Finish(later)
	noErr(t, "FinishJob", st.FinishJob(ctx(t), done))
	if _, ok, err := st.TakeJob(ctx(t), acct, j1.ID, "late", later.Add(time.Hour), later.Add(2*time.Hour)); err != nil || ok {
		t.Fatalf("TakeJob of a finished job = %v, %v; want not taken", ok, err)
	}
	// j3 stands behind a live job: it stays pending, lapsed, until taken.
	if got := must[segmentd.Job](t, "Job")(st.Job(ctx(t), acct, j3.ID)); got.Status != segmentd.JobPending {
		t.Fatalf("a job behind a live one reads %+v", got)
	}
	// A restarted server ends its former self's leases at once.
	noErr(t, "RenewJobs", st.RenewJobs(ctx(t), "alive", time.UnixMilli(0)))
	if got := must[[]int64](t, "LapsedJobs")(st.LapsedJobs(ctx(t), jobT0)); len(got) != 2 || got[0] > got[1] {
		t.Fatalf("LapsedJobs after the leases ended = %v, want both accounts", got)
	}
	input, ok, err = st.TakeJob(ctx(t), acct, j2.ID, "heir", jobT0, jobT0.Add(time.Minute))
	if err != nil || !ok || string(input) != "input of "+j2.ID {
		t.Fatalf("TakeJob of an ended lease = %q, %v, %v", input, ok, err)
	}
}
