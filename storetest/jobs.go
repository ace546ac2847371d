package storetest

import (
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
	t.Run("Abandoned", func(t *testing.T) { testJobAbandoned(t, open(t)) })
}

var jobT0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

func pendingJob(acct int64, requested int) segmentd.Job {
	return segmentd.Job{ID: segmentd.NewID(), AccountID: acct, Type: segmentd.JobUpsert, Status: segmentd.JobPending, Requested: requested, StartedAt: jobT0}
}

func nextJob(t *testing.T, st JobQueueStore, acct int64, now time.Time) string {
	t.Helper()
	return must[string](t, "NextJob")(st.NextJob(ctx(t), acct, now))
}

// testJobOrder: an account's jobs come in the order they were accepted,
// whichever server accepted them; accounts do not wait for each other; a
// finished job reads as its result.
func testJobOrder(t *testing.T, st JobQueueStore) {
	acct, other := newAccount(t, st, "a"), newAccount(t, st, "b")
	lease := jobT0.Add(time.Minute)
	j1, j2, j3, o1 := pendingJob(acct, 2), pendingJob(acct, 1), pendingJob(acct, 1), pendingJob(other, 1)
	noErr(t, "AcceptJob", st.AcceptJob(ctx(t), j1, "server-a", lease))
	noErr(t, "AcceptJob", st.AcceptJob(ctx(t), j2, "server-b", lease))
	noErr(t, "AcceptJob", st.AcceptJob(ctx(t), o1, "server-b", lease))
	noErr(t, "AcceptJob", st.AcceptJob(ctx(t), j3, "server-a", lease))
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

// testJobAbandoned: a job whose server's lease ended is failed when it
// stands first, and the next one's turn comes; a renewed lease keeps a job.
func testJobAbandoned(t *testing.T, st JobQueueStore) {
	acct := newAccount(t, st, "a")
	j1, j2, j3 := pendingJob(acct, 3), pendingJob(acct, 1), pendingJob(acct, 1)
	noErr(t, "AcceptJob", st.AcceptJob(ctx(t), j1, "gone", jobT0.Add(time.Minute)))
	noErr(t, "AcceptJob", st.AcceptJob(ctx(t), j2, "alive", jobT0.Add(time.Minute)))
	noErr(t, "AcceptJob", st.AcceptJob(ctx(t), j3, "gone", jobT0.Add(time.Minute)))
	noErr(t, "RenewJobs", st.RenewJobs(ctx(t), "alive", jobT0.Add(time.Hour)))
	later := jobT0.Add(10 * time.Minute)
	if id := nextJob(t, st, acct, later); id != j2.ID {
		t.Fatalf("NextJob past the first's lease = %s, want the live second %s", id, j2.ID)
	}
	got := must[segmentd.Job](t, "Job")(st.Job(ctx(t), acct, j1.ID))
	if got.Status != segmentd.JobFailed || got.Errored != 3 || len(got.Errors) != 1 || got.Errors[0].Message != segmentd.MsgJobAbandoned || !got.FinishedAt.Equal(later) {
		t.Fatalf("the abandoned job reads %+v", got)
	}
	wantKind(t, "FinishJob(abandoned)", st.FinishJob(ctx(t), j1), segmentd.KindConflict)
	// j3 stands behind a live job: it stays pending until its turn.
	if got := must[segmentd.Job](t, "Job")(st.Job(ctx(t), acct, j3.ID)); got.Status != segmentd.JobPending {
		t.Fatalf("a job behind a live one reads %+v", got)
	}
}
