package segmentd_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/engine"
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
	start := func() *segmentd.Service {
		svc := segmentd.NewService(st, segmentd.SystemClock{}, slog.New(slog.DiscardHandler),
			segmentd.Config{Segments: st, Membership: engine.NewMembership(), Events: st})
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
	count := func(svc *segmentd.Service) int {
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
	svc := segmentd.NewService(st, segmentd.SystemClock{}, slog.New(slog.DiscardHandler),
		segmentd.Config{Segments: st, Membership: engine.NewMembership(), Events: st})
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
