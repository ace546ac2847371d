package facetest

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/engine"
)

// SharedStore is what a server following a shared store needs of it.
type SharedStore interface {
	segmentd.Store
	segmentd.SegmentStore
	segmentd.CCSegmentStore
	segmentd.EventStore
	segmentd.JobQueue
}

// RunShared runs two Services over one store, each with its own engine,
// as two servers over one database: what either writes, the other's
// counts, samples, searches and segment_ids reflect once its follower
// caught up, and the writer's own at once; a snapshot of a follower
// restarts it where it stood.
func RunShared(t *testing.T, st SharedStore) {
	ctx := context.Background()
	clock := segmentd.NewDevClock()
	clock.Set(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	snapB := filepath.Join(t.TempDir(), "engine.snap")
	start := func(snap string) *audience.Service {
		svc := audience.New(st, clock, slog.New(slog.DiscardHandler), audience.Config{
			Segments: st, CCSegments: st, Events: st, Membership: engine.NewMembership(),
			Shared: true, FollowInterval: 5 * time.Millisecond, SnapshotPath: snap, Jobs: st,
		})
		t.Cleanup(svc.Close)
		if err := svc.LoadMembership(ctx); err != nil {
			t.Fatal(err)
		}
		return svc
	}
	a, b := start(""), start(snapB)
	acct, err := a.EnsureDefaultAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	id := acct.ID

	// Writes on A: a field, a list, a segment, contacts.
	f, err := a.CreateField(ctx, id, "plan", segmentd.FieldText)
	if err != nil {
		t.Fatal(err)
	}
	l, err := a.CreateList(ctx, id, "customers")
	if err != nil {
		t.Fatal(err)
	}
	seg, err := a.CreateSegment(ctx, id, "pro in the US", "SELECT contact_id, updated_at FROM contact_data WHERE country = 'US' AND plan = 'pro'", "2", nil)
	if err != nil {
		t.Fatal(err)
	}
	upsert := func(svc *audience.Service, lists []string, ps ...segmentd.ContactPatch) {
		t.Helper()
		job, err := svc.UpsertContacts(ctx, id, ps, lists)
		if err != nil {
			t.Fatal(err)
		}
		if j := WaitJob(t, svc, id, job); j.Status != segmentd.JobCompleted {
			t.Fatalf("upsert job: %+v", j)
		}
	}
	us, pro := "US", segmentd.Value{Type: segmentd.FieldText, Text: "pro"}
	upsert(a, []string{l.ID},
		segmentd.ContactPatch{Email: Ptr("ada@example.com"), Country: &us, CustomFields: map[string]*segmentd.Value{f.ID: &pro}},
		segmentd.ContactPatch{Email: Ptr("bob@example.com"), Country: &us})
	count := func(svc *audience.Service, segID string) int {
		t.Helper()
		v, err := svc.Segment(ctx, id, segID, false)
		if err != nil {
			t.Fatal(err)
		}
		return v.ContactsCount
	}
	// The writer's own engine reflects its write as soon as it is answered.
	if n := count(a, seg.ID); n != 1 {
		t.Fatalf("A's count after its own upsert = %d, want 1", n)
	}
	// The other server's follower catches up.
	Poll(t, "B sees A's segment and contacts", func() bool { return count(b, seg.ID) == 1 })
	ada := contactByEmail(t, b, id, "ada@example.com")
	if !slices.Equal(ada.SegmentIDs, []string{seg.ID}) || !slices.Equal(ada.ListIDs, []string{l.ID}) {
		t.Fatalf("Ada on B: segments %v, lists %v", ada.SegmentIDs, ada.ListIDs)
	}

	// Writes on B reach A: a contact update, events, a Constant Contact
	// segment, a segment's new query.
	upsert(b, nil, segmentd.ContactPatch{Email: Ptr("bob@example.com"), CustomFields: map[string]*segmentd.Value{f.ID: &pro}})
	opened, err := b.CreateSegment(ctx, id, "opened", "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open'", "2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.AddEvents(ctx, id, []segmentd.Event{
		{Email: "ada@example.com", Type: "open", Timestamp: clock.Now(), SGEventID: "s1"},
		{Email: "carol@example.com", Type: "open", Timestamp: clock.Now(), SGEventID: "s2"}, // no contact yet
	}); err != nil {
		t.Fatal(err)
	}
	if n := count(b, opened.ID); n != 1 {
		t.Fatalf("B's count after its own events = %d, want 1", n)
	}
	cc, err := b.CreateCCSegment(ctx, id, "in the list", `{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"list_membership","field":"list_id","op":"contains-any","const_value":"`+l.ID+`"}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	Poll(t, "A sees B's writes", func() bool {
		n, err := a.CCSegmentCount(ctx, id, cc.ID)
		return err == nil && n == 2 && count(a, seg.ID) == 2 && count(a, opened.ID) == 1
	})
	// A contact re-sent by its email alone, only to join a list (a store
	// may leave its row as it is), reaches the other server too.
	second, err := a.CreateList(ctx, id, "second")
	if err != nil {
		t.Fatal(err)
	}
	onSecond, err := a.CreateSegment(ctx, id, "on the second list", "SELECT contact_id, updated_at FROM contact_data WHERE array_contains(list_ids, ['"+second.ID+"'])", "2", nil)
	if err != nil {
		t.Fatal(err)
	}
	upsert(b, []string{second.ID}, segmentd.ContactPatch{Email: Ptr("ada@example.com")})
	if n := count(b, onSecond.ID); n != 1 {
		t.Fatalf("B's count of the second list's segment after its own upsert = %d, want 1", n)
	}
	Poll(t, "A sees the contact B put on a list", func() bool { return count(a, onSecond.ID) == 1 })

	// An event that waited for its contact counts once the contact exists,
	// on both servers.
	upsert(a, nil, segmentd.ContactPatch{Email: Ptr("carol@example.com")})
	if n := count(a, opened.ID); n != 2 {
		t.Fatalf("A's opened count after Carol arrived = %d, want 2", n)
	}
	Poll(t, "B attaches Carol's waiting event", func() bool { return count(b, opened.ID) == 2 })

	// A list's sample comes from the engine, newest created first: Carol,
	// the newest contact, then Bob, older, join the second list on B.
	// Both servers sample Carol first (the store, by joining time, would
	// put Bob first: he joins a second later), B at once, A once its
	// follower caught up.
	upsert(b, []string{second.ID}, segmentd.ContactPatch{Email: Ptr("carol@example.com")})
	clock.Advance(time.Second)
	upsert(b, []string{second.ID}, segmentd.ContactPatch{Email: Ptr("bob@example.com")})
	if got := listSample(t, b, id, second.ID); len(got) != 3 || got[0] != "carol@example.com" {
		t.Fatalf("B's sample of the second list after its own upserts = %v, want Carol first of 3", got)
	}
	Poll(t, "A samples the contacts B put on a list", func() bool { return len(listSample(t, a, id, second.ID)) == 3 })
	if got := listSample(t, a, id, second.ID); got[0] != "carol@example.com" || !slices.Contains(got, "bob@example.com") || !slices.Contains(got, "ada@example.com") {
		t.Fatalf("A's sample of the second list = %v, want Carol first, then Ada and Bob", got)
	}

	// Jobs: one accepted by A can be polled on B, and once B reads it
	// completed, B's reads reflect it; jobs of one account accepted by A
	// and B in turn apply in the order they were acknowledged.
	plan := func(p string) map[string]*segmentd.Value {
		return map[string]*segmentd.Value{f.ID: {Type: segmentd.FieldText, Text: p}}
	}
	var jobs []string
	for i, svc := range []*audience.Service{a, b, a, b, a} {
		p := []string{"free", "team", "free", "team", "enterprise"}[i]
		job, err := svc.UpsertContacts(ctx, id, []segmentd.ContactPatch{{Email: Ptr("dan@example.com"), CustomFields: plan(p)}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job)
	}
	for _, job := range jobs {
		if j := WaitJob(t, b, id, job); j.Status != segmentd.JobCompleted {
			t.Fatalf("job %s read on B: %+v", job, j)
		}
	}
	for _, svc := range []*audience.Service{a, b} {
		dan := contactByEmail(t, svc, id, "dan@example.com")
		if v := dan.CustomFields[f.ID]; v.Text != "enterprise" {
			t.Fatalf("Dan's plan after five jobs = %+v, want the last acknowledged, enterprise", v)
		}
	}
	// Contact and list counts come from the engine: once B read the jobs
	// completed, B's counts are the store's.
	counts(t, st, b, id, l.ID)

	// An account another server created and wrote: once this server read
	// the job completed, it counts the account's contacts.
	other, err := a.CreateAccount(ctx, fmt.Sprintf("other-%d", time.Now().UnixNano()), "")
	if err != nil {
		t.Fatal(err)
	}
	otherList, err := a.CreateList(ctx, other.ID, "all")
	if err != nil {
		t.Fatal(err)
	}
	job, err := a.UpsertContacts(ctx, other.ID, []segmentd.ContactPatch{{Email: Ptr("x@example.com")}, {Email: Ptr("y@example.com")}}, []string{otherList.ID})
	if err != nil {
		t.Fatal(err)
	}
	if j := WaitJob(t, b, other.ID, job); j.Status != segmentd.JobCompleted {
		t.Fatalf("upsert job of the other account: %+v", j)
	}
	counts(t, st, b, other.ID, otherList.ID)

	// A snapshot of B, writes while B is down, and B restarts from it.
	if _, wrote, err := b.WriteSnapshot(ctx); err != nil || !wrote {
		t.Fatalf("WriteSnapshot: wrote %v, %v", wrote, err)
	}
	b.Close()
	if _, err := a.DeleteList(ctx, id, l.ID, false); err != nil {
		t.Fatal(err)
	}
	if _, err := a.UpdateSegment(ctx, id, seg.ID, nil, Ptr("SELECT contact_id, updated_at FROM contact_data WHERE plan = 'pro'")); err != nil {
		t.Fatal(err)
	}
	b2 := start(snapB)
	if _, ok := b2.SnapshotLoaded(); !ok {
		t.Fatal("B did not load its snapshot")
	}
	for _, svc := range []*audience.Service{a, b2} {
		if n := count(svc, seg.ID); n != 2 {
			t.Errorf("count of the edited segment = %d, want 2", n)
		}
		if n, err := svc.CCSegmentCount(ctx, id, cc.ID); err != nil || n != 0 {
			t.Errorf("count of the segment over the deleted list = %d, %v; want 0", n, err)
		}
	}
	// Both servers write at once, contacts and events, so that each
	// server's own writes come now just after its engine's point and now
	// after the other's; then both, and a server rebuilt from the store,
	// count every segment alike.
	var wg sync.WaitGroup
	for n, svc := range []*audience.Service{a, b2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				email := fmt.Sprintf("w%d-%d@example.com", n, i)
				p := "pro"
				if i%3 == 0 {
					p = "free"
				}
				job, err := svc.UpsertContacts(ctx, id, []segmentd.ContactPatch{{Email: &email, CustomFields: plan(p)}}, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := svc.AddEvents(ctx, id, []segmentd.Event{{Email: email, Type: "open", Timestamp: clock.Now(), SGEventID: email}}); err != nil {
					t.Error(err)
					return
				}
				if j := WaitJob(t, svc, id, job); j.Status != segmentd.JobCompleted {
					t.Errorf("job %s: %+v", job, j)
				}
			}
		}()
	}
	wg.Wait()
	c := start("")
	for _, segID := range []string{seg.ID, opened.ID} {
		want := count(c, segID)
		Poll(t, "both servers count the segment as a rebuild does", func() bool { return count(a, segID) == want && count(b2, segID) == want })
	}
	if n := count(c, opened.ID); n != 2+40 {
		t.Errorf("rebuilt opened count = %d, want 42", n)
	}
	counts(t, st, c, id, "")

	// Jobs accepted at once by one server all run: its queue of the
	// account keeps the store's job order (a later job queued ahead of an
	// earlier one waited for its turn forever).
	atOnce := make([]string, 16)
	for i := range atOnce {
		wg.Add(1)
		go func() {
			defer wg.Done()
			email := fmt.Sprintf("at-once-%d@example.com", i)
			job, err := a.UpsertContacts(ctx, id, []segmentd.ContactPatch{{Email: &email}}, nil)
			if err != nil {
				t.Error(err)
			}
			atOnce[i] = job
		}()
	}
	wg.Wait()
	for _, job := range atOnce {
		if job != "" {
			if j := WaitJob(t, a, id, job); j.Status != segmentd.JobCompleted {
				t.Errorf("job %s accepted at once with others: %+v", job, j)
			}
		}
	}
}

// counts checks that svc's contact count of acct, and its count of list
// (unless ""), are what the store counts.
func counts(t *testing.T, st SharedStore, svc *audience.Service, acct int64, list string) {
	t.Helper()
	ctx := context.Background()
	want, err := st.CountContacts(ctx, acct)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := svc.CountContacts(ctx, acct); err != nil || n != want {
		t.Fatalf("CountContacts = %d, %v; the store counts %d", n, err, want)
	}
	if list == "" {
		return
	}
	if want, err = st.CountListMembers(ctx, acct, list); err != nil {
		t.Fatal(err)
	}
	if n, err := svc.ListContactCount(ctx, acct, list); err != nil || n != want || n == 0 {
		t.Fatalf("ListContactCount = %d, %v; the store counts %d", n, err, want)
	}
}

// listSample is the emails of a list's sample through the Service, each
// contact checked to be on the list.
func listSample(t *testing.T, svc *audience.Service, acct int64, list string) []string {
	t.Helper()
	_, cs, err := svc.List(context.Background(), acct, list, true)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		if !slices.Contains(c.ListIDs, list) {
			t.Fatalf("%s in the sample of list %s is on %v", c.Email, list, c.ListIDs)
		}
		out = append(out, c.Email)
	}
	return out
}

// contactByEmail looks a contact up through the Service (with its segment
// ids, as the faces render it).
func contactByEmail(t *testing.T, svc *audience.Service, acct int64, email string) segmentd.Contact {
	t.Helper()
	_, found, err := svc.ContactsByEmails(context.Background(), acct, []string{email})
	if err != nil || len(found) != 1 {
		t.Fatalf("ContactsByEmails(%s) = %v, %v", email, found, err)
	}
	return found[email]
}
