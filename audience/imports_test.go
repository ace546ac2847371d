package audience_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/facetest"
	"github.com/segmentd/segmentd/internal/journal"
)

// TestImportTakesTurnsAndResumes: an import runs one batch per turn of
// its account, so another account's job completes between its batches
// while the account's own later job waits for the whole import; a Service
// closed between two batches leaves the rest in the journal, and the next
// one applies only those (the counts say so: every contact created once),
// then the later job.
func TestImportTakesTurnsAndResumes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	jdir := filepath.Join(dir, "jobs")
	st := newGatedStore(t, dir)
	svc := newJobService(t, st, audience.Config{Imports: st})
	if _, err := svc.OpenJournal(ctx, jdir, journal.Options{}); err != nil {
		t.Fatal(err)
	}
	a, err := svc.EnsureDefaultAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b, err := svc.CreateAccount(ctx, "b", "")
	if err != nil {
		t.Fatal(err)
	}
	imp, err := svc.CreateImport(ctx, a.ID, []string{"_rf2_T", "_rf0_T"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	up, err := svc.StartImportUpload(ctx, a.ID, imp.Token)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20_000 // four batches
	for i := range n {
		email, name := fmt.Sprintf("c%05d@imp.example", i), "imported"
		if err := up.Add(ctx, i+2, &segmentd.ContactPatch{Email: &email, FirstName: &name}); err != nil {
			t.Fatal(err)
		}
	}
	st.gate(a.ID)
	if err := up.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	<-st.entered // batch 1
	bJob := mustUpsert(t, svc, b.ID, upsertOf("b.example", 1, "B"))
	later := mustUpsert(t, svc, a.ID, []segmentd.ContactPatch{{Email: facetest.Ptr("c00000@imp.example"), FirstName: facetest.Ptr("later")}})
	st.tokens <- struct{}{}
	<-st.entered            // batch 2: the account's turn came before B queued
	st.tokens <- struct{}{} // then B's turn
	if j := facetest.WaitJob(t, svc, b.ID, bJob); j.Status != segmentd.JobCompleted {
		t.Fatalf("B's job: %+v", j)
	}
	<-st.entered // batch 3
	for _, id := range []string{imp.ID, later} {
		if j, err := svc.Job(ctx, a.ID, id); err != nil || j.Status != segmentd.JobPending {
			t.Fatalf("job %s: %+v, %v; want pending", id, j, err)
		}
	}
	closed := make(chan struct{})
	go func() { svc.Close(); close(closed) }()
	st.tokens <- struct{}{} // batch 3 finishes; batch 4 and the later job stay
	<-closed

	st.gate(0)
	svc2 := newJobService(t, st, audience.Config{Imports: st})
	if n, err := svc2.OpenJournal(ctx, jdir, journal.Options{}); err != nil || n != 2 {
		t.Fatalf("OpenJournal resumed %d, %v; want the import and the later job", n, err)
	}
	j := facetest.WaitJob(t, svc2, a.ID, imp.ID)
	if j.Status != segmentd.JobCompleted || j.Requested != n || j.Created != n || j.Updated != 0 {
		t.Fatalf("the resumed import: %+v", j)
	}
	facetest.WaitJob(t, svc2, a.ID, later)
	count, err := svc2.CountContacts(ctx, a.ID)
	if err != nil || count != n {
		t.Fatalf("%d contacts, %v; want %d", count, err, n)
	}
	_, got, err := svc2.ContactsByEmails(ctx, a.ID, []string{"c00000@imp.example", "c19999@imp.example"})
	if err != nil || got["c00000@imp.example"].FirstName != "later" || got["c19999@imp.example"].FirstName != "imported" {
		t.Fatalf("contacts after the import and the later job: %+v, %v", got, err)
	}
	// Its batches go, and it is done, with its job's row, which is written
	// after the job reads completed (docs/jobs.md, "Job rows written
	// aside").
	facetest.Poll(t, "the import done, its batches gone", func() bool {
		stored, err := st.Import(ctx, a.ID, imp.ID)
		if err != nil || stored.State != segmentd.ImportDone {
			return false
		}
		_, err = st.ImportChunk(ctx, a.ID, imp.ID, segmentd.ImportBatch, 0)
		return segmentd.ErrorKindOf(err) == segmentd.KindNotFound
	})
}
