package audience_test

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
	"github.com/segmentd/segmentd/internal/facetest"
	"github.com/segmentd/segmentd/sqlite"
)

// TestServiceAddEvents: events reach segment counts as soon as AddEvents
// returns, redeliveries change nothing, and a restart rebuilds the same
// counts from the stored events.
func TestServiceAddEvents(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "segmentd.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	start := func() *audience.Service {
		svc := audience.New(st, segmentd.SystemClock{}, slog.New(slog.DiscardHandler),
			audience.Config{Segments: st, Membership: engine.NewMembership(), Events: st})
		t.Cleanup(svc.Close)
		if err := svc.LoadMembership(ctx); err != nil {
			t.Fatal(err)
		}
		return svc
	}
	svc := start()
	acct, err := svc.EnsureDefaultAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ada, grace := "ada@example.com", "grace@example.com"
	if _, err := st.UpsertContacts(ctx, acct.ID, []segmentd.ContactPatch{{Email: &ada}, {Email: &grace}}, nil, now); err != nil {
		t.Fatal(err)
	}
	svc.Close()
	svc = start()
	seg, err := svc.CreateSegment(ctx, acct.ID, "opened", "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e "+
		"ON c.contact_id = e.contact_id WHERE e.event_type = 'open' AND e.event_timestamp > timestampadd(day, -30, current_timestamp)", "2", nil)
	if err != nil {
		t.Fatal(err)
	}
	count := func(svc *audience.Service) int {
		t.Helper()
		v, err := svc.Segment(ctx, acct.ID, seg.ID, false)
		if err != nil {
			t.Fatal(err)
		}
		return v.ContactsCount
	}
	if n := count(svc); n != 0 {
		t.Fatalf("count before events = %d", n)
	}
	batch := []segmentd.Event{
		{Email: "ADA@example.com", Type: "open", Timestamp: now.Add(-time.Hour), SGEventID: "e1"},
		{Email: grace, Type: "delivered", Timestamp: now.Add(-time.Hour), SGEventID: "e2"},
		{Email: "nobody@example.com", Type: "open", Timestamp: now, SGEventID: "e3"},
	}
	res, err := svc.AddEvents(ctx, acct.ID, batch)
	if err != nil {
		t.Fatal(err)
	}
	if res.Added != 3 || res.Unmatched != 1 {
		t.Fatalf("AddEvents = %+v", res)
	}
	if n := count(svc); n != 1 {
		t.Fatalf("count after an open = %d, want 1", n)
	}
	res, err = svc.AddEvents(ctx, acct.ID, batch)
	if err != nil || res.Duplicates != 3 || res.Added != 0 {
		t.Fatalf("redelivery: %+v, %v", res, err)
	}

	_, err = svc.AddEvents(ctx, acct.ID, []segmentd.Event{{Email: ada, Timestamp: now}})
	if segmentd.ErrorKindOf(err) != segmentd.KindInvalid {
		t.Fatalf("an event without a type: %v, want KindInvalid", err)
	}
	_, err = svc.AddEvents(ctx, acct.ID, make([]segmentd.Event, segmentd.MaxAddEvents+1))
	if segmentd.ErrorKindOf(err) != segmentd.KindTooLarge {
		t.Fatalf("an oversized batch: %v, want KindTooLarge", err)
	}

	svc.Close()
	if n := count(start()); n != 1 {
		t.Fatalf("count after a restart = %d, want 1", n)
	}
}

// TestPruneEvents: events older than the retention are deleted from every
// account, newer ones stay.
func TestPruneEvents(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	svc := audience.New(st, segmentd.SystemClock{}, slog.New(slog.DiscardHandler),
		audience.Config{Segments: st, Membership: engine.NewMembership(), Events: st})
	defer svc.Close()
	acct, err := svc.EnsureDefaultAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	evs := []segmentd.Event{
		{Email: "old@example.com", Type: "open", Timestamp: now.Add(-40 * 24 * time.Hour), SGEventID: "old"},
		{Email: "new@example.com", Type: "open", Timestamp: now.Add(-20 * 24 * time.Hour), SGEventID: "new"},
	}
	if _, err := svc.AddEvents(ctx, acct.ID, evs); err != nil {
		t.Fatal(err)
	}
	n, err := svc.PruneEvents(ctx, 30*24*time.Hour)
	if err != nil || n != 1 {
		t.Fatalf("PruneEvents = %d, %v; want 1", n, err)
	}
	left, _, err := st.ScanEvents(ctx, acct.ID, 0, 10)
	if err != nil || len(left) != 1 || left[0].SGEventID != "new" {
		t.Fatalf("events left = %+v, %v; want only the new one", left, err)
	}
}

// batchCounter is the SQLite store, counting the batches of each
// AddEventBatches call; its first call waits for gate.
type batchCounter struct {
	*sqlite.Store
	entered chan struct{}
	gate    chan struct{}
	mu      sync.Mutex
	calls   []int
}

func (b *batchCounter) AddEventBatches(ctx context.Context, acct int64, batches [][]segmentd.Event) ([]segmentd.EventsResult, error) {
	b.mu.Lock()
	b.calls = append(b.calls, len(batches))
	first := len(b.calls) == 1
	b.mu.Unlock()
	if first {
		close(b.entered)
		<-b.gate
	}
	return b.Store.AddEventBatches(ctx, acct, batches)
}

// TestServiceGroupsEventBatches: event batches queued while the worker
// stores another go into one transaction together, each answered with its
// own result (a redelivery in the group counted once), and the segments
// reflect all of them when each call returns.
func TestServiceGroupsEventBatches(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	store := &batchCounter{Store: st, entered: make(chan struct{}), gate: make(chan struct{})}
	svc := audience.New(st, segmentd.SystemClock{}, slog.New(slog.DiscardHandler),
		audience.Config{Segments: st, Membership: engine.NewMembership(), Events: store})
	defer svc.Close()
	acct, err := svc.EnsureDefaultAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	var patches []segmentd.ContactPatch
	for i := range 4 {
		email := fmt.Sprintf("c%d@example.com", i)
		patches = append(patches, segmentd.ContactPatch{Email: &email})
	}
	if _, err := st.UpsertContacts(ctx, acct.ID, patches, nil, now); err != nil {
		t.Fatal(err)
	}
	if err := svc.LoadMembership(ctx); err != nil {
		t.Fatal(err)
	}
	seg, err := svc.CreateSegment(ctx, acct.ID, "opened", "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e "+
		"ON c.contact_id = e.contact_id WHERE e.event_type = 'open'", "2", nil)
	if err != nil {
		t.Fatal(err)
	}
	open := func(i int, id string) []segmentd.Event {
		return []segmentd.Event{{Email: fmt.Sprintf("c%d@example.com", i), Type: "open", Timestamp: now, SGEventID: id}}
	}
	batches := [][]segmentd.Event{open(0, "a"), open(1, "dup"), open(2, "dup"), append(open(3, "d"), open(3, "d2")...)}
	results := make([]segmentd.EventsResult, len(batches))
	var wg sync.WaitGroup
	post := func(i int) {
		defer wg.Done()
		res, err := svc.AddEvents(ctx, acct.ID, batches[i])
		if err != nil {
			t.Error(err)
			return
		}
		results[i] = res
		v, err := svc.Segment(ctx, acct.ID, seg.ID, false)
		if err != nil || v.ContactsCount < 1 {
			t.Errorf("batch %d: count %d, %v after its AddEvents returned", i, v.ContactsCount, err)
		}
	}
	wg.Add(1)
	go post(0)
	<-store.entered // the worker holds batch 0
	for i := 1; i < len(batches); i++ {
		wg.Add(1)
		go post(i)
	}
	facetest.Poll(t, "the other batches queued", func() bool { return audience.QueuedJobs(svc) == len(batches)-1 })
	close(store.gate)
	wg.Wait()

	if want := []int{1, 3}; !slices.Equal(store.calls, want) {
		t.Fatalf("AddEventBatches calls took %v batches, want %v", store.calls, want)
	}
	var added, dups int
	for _, r := range results {
		added += r.Added
		dups += r.Duplicates
	}
	if added != 4 || dups != 1 || results[3].Added != 2 {
		t.Fatalf("results %+v: want 4 added, 1 duplicate, batch 3 adding 2", results)
	}
	v, err := svc.Segment(ctx, acct.ID, seg.ID, false)
	if err != nil || v.ContactsCount != 3 { // c1 or c2 sent the redelivered id
		t.Fatalf("count %d, %v; want 3", v.ContactsCount, err)
	}
}
