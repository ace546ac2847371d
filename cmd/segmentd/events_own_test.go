package main

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/postgres"
)

// readBackStore is the PostgreSQL store counting the events its change
// history hands out (Changes): what the engine's catch-ups read back.
type readBackStore struct {
	*postgres.Store
	events atomic.Int64
}

func (s *readBackStore) Changes(ctx context.Context, acct int64, after, afterEvent int64, eventLimit int) (segmentd.AccountChanges, error) {
	ch, err := s.Store.Changes(ctx, acct, after, afterEvent, eventLimit)
	s.events.Add(int64(len(ch.Events)))
	return ch, err
}

// TestOwnEventsInOrder, on PostgreSQL and Citus: concurrent webhook
// requests of one account, their owners found on their own goroutines
// (postgres.Store.PrepareEvents), reach the engine from memory, each
// group's by the engine stage's applyOwn, in the order the groups took
// their change numbers, while the store stage writes the next group. A
// group given out of order, or caught up by the follower (woken by each
// batch's notification, and polling every 2 ms) ahead of its engine
// update, is read back from the change history: none is. Every request
// is answered once the engine holds its events, with the contact each
// email names, and a redelivered request adds nothing.
func TestOwnEventsInOrder(t *testing.T) {
	eachDatabase(t, func(t *testing.T, su storeUnderTest) {
		pg, err := postgres.Open(context.Background(), su.url, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer pg.Close()
		// The follower runs until ctx ends.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		st := &readBackStore{Store: pg}
		mem := engine.NewMembership()
		svc := audience.New(st, segmentd.SystemClock{}, slog.New(slog.DiscardHandler), audience.Config{
			Segments: pg, Events: st, Membership: mem, Shared: true, Notifier: pg, Jobs: pg,
			FollowInterval: 2 * time.Millisecond, JobLease: 30 * time.Second})
		defer svc.Close()
		acct, err := pg.CreateAccount(ctx, "acme", 0, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		const contacts = 50
		patches := make([]segmentd.ContactPatch, contacts)
		for i := range patches {
			email := fmt.Sprintf("c%d@example.com", i)
			patches[i] = segmentd.ContactPatch{Email: &email}
		}
		res, err := pg.UpsertContacts(ctx, acct.ID, patches, nil, time.Now())
		if err != nil || len(res.Contacts) != contacts {
			t.Fatalf("upsert: %v %+v", err, res.Errors)
		}
		owner := map[string]string{}
		for _, c := range res.Contacts {
			owner[c.Email] = c.ID
		}
		if err := svc.LoadMembership(ctx); err != nil {
			t.Fatal(err)
		}
		st.events.Store(0)

		const clients, requests, perRequest = 6, 20, 40
		now := time.Now().UTC()
		batch := func(c, r int) []segmentd.Event {
			evs := make([]segmentd.Event, perRequest)
			for i := range evs {
				evs[i] = segmentd.Event{Email: fmt.Sprintf("C%d@example.com", (c+r+i)%contacts), Type: "open",
					Timestamp: now, SGEventID: fmt.Sprintf("%d-%d-%d", c, r, i)}
			}
			return evs
		}
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range requests {
					res, err := svc.AddEvents(ctx, acct.ID, batch(c, r))
					if err == nil && res.Added != perRequest {
						err = fmt.Errorf("client %d request %d: %d added, want %d", c, r, res.Added, perRequest)
					}
					for i, ev := range res.Events {
						if err == nil && ev.ContactID != owner[ev.Email] {
							err = fmt.Errorf("client %d request %d: event %d of %s went to %q, want %q", c, r, i, ev.Email, ev.ContactID, owner[ev.Email])
						}
					}
					// Answered: the engine holds the request's events.
					if _, _, n := mem.Counts(acct.ID); err == nil && n < (r+1)*perRequest {
						err = fmt.Errorf("client %d request %d answered with %d events in the engine", c, r, n)
					}
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		const total = clients * requests * perRequest
		if _, _, n := mem.Counts(acct.ID); n != total {
			t.Fatalf("engine holds %d events, want %d", n, total)
		}
		if n := st.events.Load(); n != 0 {
			t.Fatalf("catch-ups read %d events back from the history; want none of this server's own", n)
		}
		// A redelivered request: nothing added, nothing more in the engine.
		if res, err := svc.AddEvents(ctx, acct.ID, batch(0, 0)); err != nil || res.Added != 0 || res.Duplicates != perRequest {
			t.Fatalf("redelivered: %v %+v", err, res)
		}
		if _, _, n := mem.Counts(acct.ID); n != total {
			t.Fatalf("engine holds %d events after a redelivery, want %d", n, total)
		}
	})
}
