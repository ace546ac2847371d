package audience

import (
	"context"
	"log/slog"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/internal/journal"
	"github.com/segmentd/segmentd/sqlite"
)

// fullPatch sets every field of a ContactPatch, found by reflection, so
// that a field added to the type and left out of the record fails
// TestJobRecordRoundTrip.
func fullPatch(t *testing.T) segmentd.ContactPatch {
	var p segmentd.ContactPatch
	v := reflect.ValueOf(&p).Elem()
	for i := range v.NumField() {
		f := v.Field(i)
		switch f.Interface().(type) {
		case *string:
			s := "value of " + v.Type().Field(i).Name + " é"
			f.Set(reflect.ValueOf(&s))
		case *[]string:
			f.Set(reflect.ValueOf(&[]string{"a@example.com", "b@example.com"}))
		case map[string]*segmentd.Value:
			f.Set(reflect.ValueOf(map[string]*segmentd.Value{
				"e1": {Type: segmentd.FieldText, Text: "gold"},
				"n2": {Type: segmentd.FieldNumber, Number: -12.625},
				"d3": {Type: segmentd.FieldDate, Time: time.Date(2024, 2, 29, 13, 4, 5, 6_000_000, time.UTC)},
				"e4": nil,
			}))
		default:
			t.Fatalf("ContactPatch.%s has a type the job record does not encode", v.Type().Field(i).Name)
		}
	}
	return p
}

// TestJobRecordRoundTrip: an accepted job and its input, of every
// operation, come back from their record as they went in, and so does a
// job's result.
func TestJobRecordRoundTrip(t *testing.T) {
	started := time.Date(2025, 1, 2, 3, 4, 5, 123456789, time.UTC)
	empty := []string{}
	title := "Chief"
	cases := []*jobInput{
		{op: opUpsert, patches: []segmentd.ContactPatch{fullPatch(t), {}, {AlternateEmails: &empty}}, lists: []string{"l1", "l2"}},
		{op: opDelete, ids: []string{"c1", "c2"}},
		{op: opDeleteAll},
		{op: opDeleteIdentifier, ids: []string{"c1"}, ident: segmentd.IdentifierEmail, value: "x@example.com"},
		{op: opRemoveFromList, lists: []string{"l1"}, ids: []string{"c1", "c2", "c3"}},
		{op: opImport, value: "import-id", lists: []string{"l1"}, batches: 200, rows: 1_000_000},
		{op: opListsAdd, ids: []string{"c1"}, lists: []string{"l1", "l2"}},
		{op: opListsAdd, from: []string{"l3"}, exclude: []string{"c2"}, lists: []string{"l1"}},
		{op: opListsRemove, all: true, exclude: []string{"c1", "c2"}, lists: []string{"l1"}},
		{op: opCCDelete, from: []string{"l1", "l2"}},
		{op: opTagsAdd, ids: []string{"c1"}, tags: []string{"t1", "t2"}},
		{op: opTagsRemove, all: true, exclude: []string{"c2"}, tags: []string{"t1"}},
		{op: opTagsAdd, from: []string{"l1"}, tags: []string{"t3"}},
		{op: opCCImport, patches: []segmentd.ContactPatch{fullPatch(t), {}}, lists: []string{"l1"}, rowOf: []int{0, 2},
			details: []CCDetailsPatch{{JobTitle: &title, BirthdayMonth: 11, BirthdayDay: 24, Phones: []segmentd.CCPhone{{Number: "555", Kind: "work"}},
				Addresses: []CCAddressPatch{{Kind: "home", Street: "1 Main", Street2: "Apt 2", PostalCode: "02451"}}}, {}},
			rowErrors: []segmentd.JobError{{Index: 1, Message: "import_data[1].email is required"}}},
		{op: opCCImport, lists: []string{"l1"}, rowErrors: []segmentd.JobError{{Index: 0, Message: "bad"}}},
	}
	for _, in := range cases {
		j := segmentd.Job{ID: segmentd.NewID(), AccountID: 42, Type: segmentd.JobUpsert, Status: segmentd.JobPending, Requested: 3, StartedAt: started}
		rec := encodeAccept(&j, in)
		gotJob, items, op, gotIn, err := decodeAccept(rec, true)
		if err != nil {
			t.Fatalf("op %d: %v", in.op, err)
		}
		if !reflect.DeepEqual(gotJob, j) || items != in.items() || op != in.op {
			t.Fatalf("op %d: job %+v items %d, want %+v items %d", in.op, gotJob, items, j, in.items())
		}
		if !reflect.DeepEqual(gotIn, in) {
			t.Fatalf("op %d: input\n%#v\nwant\n%#v", in.op, gotIn, in)
		}
		// Every cut of the record is an error, never a panic or a
		// shorter job.
		for n := range len(rec) {
			if _, _, _, _, err := decodeAccept(rec[:n], true); err == nil {
				t.Fatalf("op %d: the record cut to %d of %d bytes decoded", in.op, n, len(rec))
			}
		}
	}

	j := segmentd.Job{ID: "job", Created: 1, Updated: 2, Deleted: 3, Errored: 2,
		Errors: []segmentd.JobError{{Index: -1, Message: "m"}, {Index: 7, Field: "contacts[7].email", Message: "bad"}}}
	rec := encodeApplied(&j)
	d := decoder{s: string(rec[1:])}
	var got segmentd.Job
	got.ID = d.str()
	decodeApplied(&d, &got)
	if d.err != nil || !reflect.DeepEqual(got, j) {
		t.Fatalf("applied record: %+v, %v; want %+v", got, d.err, j)
	}

	step := segmentd.Job{ID: "import", Created: 4000, Updated: 900, Errored: 100}
	rec = encodeStep(&step, 7)
	d = decoder{s: string(rec[1:])}
	got = segmentd.Job{ID: d.str()}
	if next := decodeStep(&d, &got); d.err != nil || next != 7 || !reflect.DeepEqual(got, step) || len(d.s) > 0 {
		t.Fatalf("step record: %+v next %d, %v; want %+v next 7", got, next, d.err, step)
	}
}

// TestResumeTellsCommittedJobs: at start, a journaled job whose row the
// store has, or whose done record is there, is not run again; one whose
// transaction committed (its applied record) gets its row from the
// recorded result without running again; the others run.
func TestResumeTellsCommittedJobs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	acct, err := st.CreateAccount(ctx, "acme", 0, now)
	if err != nil {
		t.Fatal(err)
	}
	upsert := func(email string) *jobInput {
		return &jobInput{op: opUpsert, patches: []segmentd.ContactPatch{{Email: &email}}}
	}
	job := func() segmentd.Job {
		return segmentd.Job{ID: segmentd.NewID(), AccountID: acct.ID, Type: segmentd.JobUpsert, Status: segmentd.JobPending, Requested: 1, StartedAt: now}
	}
	stored, done, applied, fresh := job(), job(), job(), job()

	jdir := filepath.Join(dir, "jobs")
	l, _, err := journal.Open(jdir, journal.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	add := func(rec []byte) {
		if _, err := l.Append(rec, false); err != nil {
			t.Fatal(err)
		}
	}
	add(encodeAccept(&stored, upsert("stored@example.com")))
	add(encodeAccept(&done, upsert("done@example.com")))
	add(encodeAccept(&applied, upsert("applied@example.com")))
	add(encodeAccept(&fresh, upsert("fresh@example.com")))
	add(encodeDone(done.ID))
	result := applied
	result.Created = 1
	add(encodeApplied(&result))
	l.Close()
	final := stored
	final.Finish(now)
	if err := st.CreateJob(ctx, final); err != nil {
		t.Fatal(err)
	}

	if n, err := UnfinishedJobs(ctx, st, jdir); err != nil || n != 2 {
		t.Fatalf("UnfinishedJobs: %d, %v; want 2 (the applied and the fresh job)", n, err)
	}
	svc := New(st, segmentd.SystemClock{}, slog.New(slog.DiscardHandler), Config{Segments: st, Membership: engine.NewMembership()})
	defer svc.Close()
	if err := svc.LoadMembership(ctx); err != nil {
		t.Fatal(err)
	}
	n, err := svc.OpenJournal(ctx, jdir, journal.Options{NoSync: true})
	if err != nil || n != 1 {
		t.Fatalf("OpenJournal resumed %d, %v; want 1 (the fresh job)", n, err)
	}
	j, err := st.Job(ctx, acct.ID, applied.ID)
	if err != nil || j.Status != segmentd.JobCompleted || j.Created != 1 {
		t.Fatalf("the applied job's row: %+v, %v; want completed with 1 created", j, err)
	}
	for deadline := time.Now().Add(time.Minute); ; {
		if time.Now().After(deadline) {
			t.Fatal("the resumed job did not finish within a minute")
		}
		j, err := svc.Job(ctx, acct.ID, fresh.ID)
		if err != nil {
			t.Fatalf("the resumed job: %v", err)
		}
		if j.Status != segmentd.JobPending {
			if j.Status != segmentd.JobCompleted || j.Created != 1 {
				t.Fatalf("the resumed job: %+v", j)
			}
			break
		}
		time.Sleep(time.Millisecond)
	}
	// The job reads completed just before its row is stored.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Millisecond) {
		n, err := UnfinishedJobs(ctx, st, jdir)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("UnfinishedJobs once resumed: %d a minute after; want 0", n)
		}
	}
	found, err := st.ContactsByEmails(ctx, acct.ID, []string{"stored@example.com", "done@example.com", "applied@example.com", "fresh@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	// Only the job that had not run ran: the others' contacts (which this
	// test never wrote) are absent.
	if len(found) != 1 || found["fresh@example.com"].ID == "" {
		t.Fatalf("contacts after resuming: %v; want only fresh@example.com", found)
	}
}

// BenchmarkJobRecord encodes and decodes the accept record of a
// 30,000-contact upsert with five text fields and three custom fields a
// contact (what acceptance and the worker add to a job).
func BenchmarkJobRecord(b *testing.B) {
	in := &jobInput{op: opUpsert, lists: []string{segmentd.NewID()}}
	for i := range segmentd.MaxUpsertContacts {
		s := func(v string) *string { return &v }
		in.patches = append(in.patches, segmentd.ContactPatch{
			Email: s("user" + strconv.Itoa(i) + "@example.com"), FirstName: s("Chloé"), LastName: s("Müller"), City: s("Kraków"), Country: s("PL"),
			CustomFields: map[string]*segmentd.Value{
				"e1": {Type: segmentd.FieldText, Text: "teal"},
				"n2": {Type: segmentd.FieldNumber, Number: float64(i % 500)},
				"d3": {Type: segmentd.FieldDate, Time: time.Date(2024, 5, 1+i%28, 0, 0, 0, 0, time.UTC)},
			}})
	}
	j := segmentd.Job{ID: segmentd.NewID(), AccountID: 1, Type: segmentd.JobUpsert, Requested: len(in.patches), StartedAt: time.Now()}
	rec := encodeAccept(&j, in)
	b.Logf("record: %d bytes", len(rec))
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			encodeAccept(&j, in)
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if _, _, _, _, err := decodeAccept(rec, true); err != nil {
				b.Fatal(err)
			}
		}
	})
}
