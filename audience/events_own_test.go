package audience

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/sqlite"
)

// TestEventGroupsAnsweredAfterEngine, on SQLite, a store of its own:
// concurrent webhook requests of one account, grouped by the store stage
// (writeEvents), are each answered once the engine holds their events,
// given by the engine stage while the store stage writes the next group,
// and the engine ends with every event once. cmd/segmentd's
// TestOwnEventsInOrder runs the same on PostgreSQL and Citus, shared
// stores, whose engine updates are applyOwn.
func TestEventGroupsAnsweredAfterEngine(t *testing.T) {
	ctx := context.Background()
	sq, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer sq.Close()
	acct, err := sq.CreateAccount(ctx, "acme", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	mem := engine.NewMembership()
	svc := New(sq, segmentd.SystemClock{}, slog.New(slog.DiscardHandler), Config{Segments: sq, Events: sq, Membership: mem})
	defer svc.Close()
	if err := svc.LoadMembership(ctx); err != nil {
		t.Fatal(err)
	}
	const contacts = 50
	patches := make([]segmentd.ContactPatch, contacts)
	for i := range patches {
		email := fmt.Sprintf("c%d@example.com", i)
		patches[i] = segmentd.ContactPatch{Email: &email}
	}
	id, err := svc.UpsertContacts(ctx, acct.ID, patches, nil)
	if err != nil {
		t.Fatal(err)
	}
	if j := waitJob(t, svc, acct.ID, id); j.Status != segmentd.JobCompleted {
		t.Fatalf("upsert: %+v", j)
	}

	const clients, requests, perRequest = 8, 25, 40
	now := time.Now().UTC()
	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range requests {
				evs := make([]segmentd.Event, perRequest)
				for i := range evs {
					evs[i] = segmentd.Event{Email: fmt.Sprintf("c%d@example.com", (c+r+i)%contacts), Type: "open",
						Timestamp: now, SGEventID: fmt.Sprintf("%d-%d-%d", c, r, i)}
				}
				res, err := svc.AddEvents(ctx, acct.ID, evs)
				if err == nil && res.Added != perRequest {
					err = fmt.Errorf("client %d request %d: %d added, want %d", c, r, res.Added, perRequest)
				}
				if err != nil {
					errs <- err
					return
				}
				// Answered: the engine holds the request's events.
				if _, _, n := mem.Counts(acct.ID); n < (r+1)*perRequest {
					errs <- fmt.Errorf("client %d request %d answered with %d events in the engine", c, r, n)
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
	if _, _, n := mem.Counts(acct.ID); n != clients*requests*perRequest {
		t.Fatalf("engine holds %d events, want %d", n, clients*requests*perRequest)
	}
}
