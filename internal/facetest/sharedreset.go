package facetest

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/engine"
)

// RunSharedReset runs two Services over one store, as two servers over
// one database, and resets and then deletes an account on one of them
// (the control plane, docs/admin.md): the other server's engine drops
// what it held of the account, takes what is written after the reset
// (event numbers starting again included), and forgets the account once
// it is deleted; another account is untouched throughout, and a reset
// waits for the account's jobs accepted before it.
func RunSharedReset(t *testing.T, st SharedStore) {
	ctx := context.Background()
	clock := segmentd.NewDevClock()
	clock.Set(time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC))
	start := func() (*audience.Service, engine.Membership) {
		m := engine.NewMembership()
		svc := audience.New(st, clock, slog.New(slog.DiscardHandler), audience.Config{
			Segments: st, CCSegments: st, Events: st, Membership: m,
			Shared: true, FollowInterval: 5 * time.Millisecond, Jobs: st,
		})
		t.Cleanup(svc.Close)
		if err := svc.LoadMembership(ctx); err != nil {
			t.Fatal(err)
		}
		return svc, m
	}
	a, ma := start()
	b, mb := start()
	for _, name := range []string{"target", "keep"} {
		if _, err := a.CreateAccount(ctx, name, ""); err != nil {
			t.Fatal(err)
		}
	}
	acct := func(name string) int64 {
		t.Helper()
		x, err := a.AccountByName(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		return x.ID
	}
	target, keep := acct("target"), acct("keep")
	upsert := func(svc *audience.Service, id int64, emails ...string) {
		t.Helper()
		var ps []segmentd.ContactPatch
		for _, e := range emails {
			ps = append(ps, segmentd.ContactPatch{Email: Ptr(e), Country: Ptr("US")})
		}
		job, err := svc.UpsertContacts(ctx, id, ps, nil)
		if err != nil {
			t.Fatal(err)
		}
		if j := WaitJob(t, svc, id, job); j.Status != segmentd.JobCompleted {
			t.Fatalf("upsert job: %+v", j)
		}
	}
	const usQuery = "SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"
	const openedQuery = "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open'"
	segs := map[int64][2]string{}
	for _, id := range []int64{target, keep} {
		if _, err := a.CreateField(ctx, id, "plan", segmentd.FieldText); err != nil {
			t.Fatal(err)
		}
		us, err := a.CreateSegment(ctx, id, "US", usQuery, "2", nil)
		if err != nil {
			t.Fatal(err)
		}
		opened, err := a.CreateSegment(ctx, id, "opened", openedQuery, "2", nil)
		if err != nil {
			t.Fatal(err)
		}
		segs[id] = [2]string{us.ID, opened.ID}
		upsert(a, id, "ada@example.com", "bob@example.com", "cy@example.com")
		var evs []segmentd.Event
		for i, e := range []string{"ada@example.com", "bob@example.com", "cy@example.com", "ada@example.com"} {
			evs = append(evs, segmentd.Event{Email: e, Type: "open", Timestamp: clock.Now(), SGEventID: fmt.Sprintf("%d-%d", id, i)})
		}
		if _, err := a.AddEvents(ctx, id, evs); err != nil {
			t.Fatal(err)
		}
	}
	count := func(svc *audience.Service, id int64, segID string) int {
		t.Helper()
		v, err := svc.Segment(ctx, id, segID, false)
		if err != nil {
			t.Fatal(err)
		}
		return v.ContactsCount
	}
	Poll(t, "B holds both accounts", func() bool {
		return count(b, target, segs[target][1]) == 3 && count(b, keep, segs[keep][1]) == 3 && mb.Stats(target).Events == 4
	})

	// Jobs B accepted just before A's reset apply before it: the reset
	// leaves nothing of them.
	var jobs []string
	for i := range 3 {
		job, err := b.UpsertContacts(ctx, target, []segmentd.ContactPatch{{Email: Ptr(fmt.Sprintf("late%d@example.com", i))}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		jobs = append(jobs, job)
	}
	if _, err := a.ResetAccount(ctx, "target"); err != nil {
		t.Fatal(err)
	}
	if n, err := a.CountContacts(ctx, target); err != nil || n != 0 {
		t.Fatalf("contacts after the reset: %d, %v; want 0", n, err)
	}
	for _, job := range jobs {
		if _, err := b.Job(ctx, target, job); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
			t.Fatalf("job %s accepted before the reset: %v, want not found", job, err)
		}
	}
	if st := ma.Stats(target); st.Contacts != 0 || st.Events != 0 {
		t.Fatalf("A's engine holds %+v of the account it reset", st)
	}
	if _, err := a.Segment(ctx, target, segs[target][0], false); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("a segment from before the reset: %v, want not found", err)
	}
	Poll(t, "B drops the reset account", func() bool {
		st := mb.Stats(target)
		return st.Contacts == 0 && st.Events == 0
	})
	if n := count(b, keep, segs[keep][1]); n != 3 {
		t.Fatalf("the other account's count on B after the reset = %d, want 3", n)
	}

	// Written on B after the reset: one contact, one event (the account's
	// event numbers start again in some stores); A takes them.
	opened, err := b.CreateSegment(ctx, target, "opened", openedQuery, "2", nil)
	if err != nil {
		t.Fatal(err)
	}
	upsert(b, target, "dee@example.com")
	if _, err := b.AddEvents(ctx, target, []segmentd.Event{{Email: "dee@example.com", Type: "open", Timestamp: clock.Now(), SGEventID: "after"}}); err != nil {
		t.Fatal(err)
	}
	if n := count(b, target, opened.ID); n != 1 {
		t.Fatalf("B's opened count after the reset = %d, want 1", n)
	}
	Poll(t, "A takes what B wrote after the reset", func() bool {
		return count(a, target, opened.ID) == 1 && ma.Stats(target).Contacts == 1 && ma.Stats(target).Events == 1
	})

	// A deletes the account: B forgets it.
	if _, err := a.DeleteAccount(ctx, "target"); err != nil {
		t.Fatal(err)
	}
	if st := ma.Stats(target); st.Contacts != 0 || st.Events != 0 {
		t.Fatalf("A's engine holds %+v of the account it deleted", st)
	}
	Poll(t, "B forgets the deleted account", func() bool { st := mb.Stats(target); return st.Contacts == 0 && st.Events == 0 && st.Bytes == 0 })
	if n := count(b, keep, segs[keep][0]); n != 3 {
		t.Fatalf("the other account's count on B after the deletion = %d, want 3", n)
	}
	c, _ := start()
	for _, svc := range []*audience.Service{a, b, c} {
		if n := count(svc, keep, segs[keep][1]); n != 3 {
			t.Fatalf("the other account's opened count = %d, want 3", n)
		}
	}
}
