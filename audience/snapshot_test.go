package audience_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/engine"
)

// snapshotWorld is a world whose Service keeps events and an engine
// snapshot file.
func snapshotWorld(t *testing.T, seed uint64) (*world, string) {
	snap := filepath.Join(t.TempDir(), "engine.snap")
	w := newWorldWith(t, seed, func(c *audience.Config) {
		c.Events, c.SnapshotPath = c.Segments.(segmentd.EventStore), snap
		c.CCSegments = c.Segments.(segmentd.CCSegmentStore)
	})
	// A Constant Contact segment over the newest campaigns: its campaigns
	// come from every event, those of unknown emails included, so the
	// snapshot must carry them.
	if _, err := w.svc.CreateCCSegment(w.ctx, w.acct, "opened recent", snapshotCriteria); err != nil {
		t.Fatal(err)
	}
	// Engagement segments: one reads the clock (evaluated at load), one
	// does not (its saved members are reused).
	for i, q := range []string{
		"SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' AND e.event_timestamp > timestampadd(day, -3, current_timestamp)",
		"SELECT contact_id, updated_at FROM contact_data WHERE contact_id NOT IN (SELECT contact_id FROM event_data WHERE event_type = 'click')",
	} {
		v, err := w.svc.CreateSegment(w.ctx, w.acct, fmt.Sprint("events ", i), q, "2", nil)
		if err != nil {
			t.Fatal(err)
		}
		w.segments[v.ID] = v.Segment
	}
	return w, snap
}

// snapshotCriteria is the Constant Contact segment of snapshotWorld, whose
// engine id is ccSegmentID.
const (
	snapshotCriteria = `{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"tracking","field":"opened","op":"contains-any","const_value":"last-n-campaigns","param":"2"}]}}`
	ccSegmentID      = "cc:1"
)

// eventStep stores a batch of events, some for addresses that are not
// contacts yet (they are attached when such a contact is written).
func (w *world) eventStep() string {
	var evs []segmentd.Event
	for i := 0; i < 1+w.rng.IntN(8); i++ {
		evs = append(evs, segmentd.Event{
			Email:        fmt.Sprintf("p%02d@%s", w.rng.IntN(50), w.pick("gmail.com", "example.org", "yahoo.com")),
			Type:         w.pick("open", "click", "delivered"),
			Timestamp:    w.clock.Now().Add(-time.Duration(w.rng.IntN(6*24)) * time.Hour),
			SinglesendID: w.pick("", "ss1", "ss2", "ss3", "ss4"),
		})
	}
	if _, err := w.svc.AddEvents(w.ctx, w.acct, evs); err != nil {
		w.t.Fatal(err)
	}
	return fmt.Sprintf("%d events", len(evs))
}

// restart opens a new Service with a new engine on the world's store, as a
// process started after a crash would, and loads its engine.
func (w *world) restart(snapshotPath string) (*audience.Service, engine.Membership) {
	w.t.Helper()
	m := engine.NewMembership()
	svc := audience.New(w.store, w.clock, slog.New(slog.NewTextHandler(io.Discard, nil)),
		audience.Config{Segments: w.store, CCSegments: w.store, Membership: m, Events: w.store, SnapshotPath: snapshotPath})
	w.t.Cleanup(svc.Close)
	if _, err := svc.PruneEvents(w.ctx, segmentd.DefaultEventRetention); err != nil {
		w.t.Fatal(err)
	}
	if err := svc.LoadMembership(w.ctx); err != nil {
		w.t.Fatal(err)
	}
	return svc, m
}

// sameMembers fails unless two engines agree on every live segment.
func (w *world) sameMembers(what string, got, want engine.Membership) {
	w.t.Helper()
	now := w.clock.Now()
	queries := map[string]string{ccSegmentID: snapshotCriteria}
	for id, seg := range w.segments {
		queries[id] = seg.QueryDSL
	}
	for id, q := range queries {
		g, x := got.Members(w.acct, id, -1, now), want.Members(w.acct, id, -1, now)
		slices.Sort(g)
		slices.Sort(x)
		if !slices.Equal(g, x) || got.Count(w.acct, id, now) != len(x) {
			w.t.Fatalf("%s: segment %q: %d members from the snapshot, %d from a full rebuild", what, q, len(g), len(x))
		}
	}
}

// TestSnapshotExact takes engine snapshots between random writes (upserts,
// deletes, list and field changes, events, segment edits, clock moves),
// then "crashes" (the Service is abandoned without a final snapshot) and
// loads a new engine from the last snapshot plus the store's later changes.
// Every segment's members must equal a full rebuild's and the Go
// evaluator's, and the restored engine must stay exact through further
// writes.
func TestSnapshotExact(t *testing.T) {
	seeds := []uint64{11, 12, 13}
	steps := 90
	if testing.Short() {
		seeds, steps = seeds[:1], 40
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			w, snap := snapshotWorld(t, seed)
			var history []string
			snapshots := 0
			for i := 0; i < steps; i++ {
				var what string
				switch n := w.rng.IntN(10); {
				case n < 2:
					what = w.eventStep()
				case n < 3:
					_, wrote, err := w.svc.WriteSnapshot(w.ctx)
					if err != nil {
						t.Fatal(err)
					}
					snapshots++
					what = fmt.Sprintf("snapshot (written: %v)", wrote)
				default:
					what = w.step()
				}
				history = append(history, what)
			}
			if snapshots == 0 {
				if _, _, err := w.svc.WriteSnapshot(w.ctx); err != nil {
					t.Fatal(err)
				}
			}
			// Writes after the last snapshot, of every kind, that only the
			// store knows of when the process dies.
			for range 15 {
				history = append(history, w.eventStep(), w.step())
			}
			what := "restart; history:\n  " + strings.Join(history, "\n  ")

			svc, restored := w.restart(snap)
			if _, ok := svc.SnapshotLoaded(); !ok {
				t.Fatalf("the restart did not load the snapshot")
			}
			_, rebuilt := w.restart("")
			w.sameMembers(what, restored, rebuilt)
			w.svc, w.members = svc, restored
			w.verify(what)
			for i := range 20 {
				step := w.step()
				w.verify(fmt.Sprintf("step %d (%s) after the %s", i, step, what))
			}
		})
	}
}

// TestSnapshotUnusable: a damaged, truncated or foreign snapshot is not
// used (the engine is rebuilt from the store, and the file removed), and a
// good one is.
func TestSnapshotUnusable(t *testing.T) {
	w, snap := snapshotWorld(t, 7)
	for range 30 {
		w.step()
		w.eventStep()
	}
	if _, wrote, err := w.svc.WriteSnapshot(w.ctx); err != nil || !wrote {
		t.Fatalf("WriteSnapshot = %v, %v", wrote, err)
	}
	if _, wrote, err := w.svc.WriteSnapshot(w.ctx); err != nil || wrote {
		t.Fatalf("WriteSnapshot with nothing new = %v, %v; want no write", wrote, err)
	}
	good, err := os.ReadFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	_, rebuilt := w.restart("")
	flip := bytes.Clone(good)
	flip[len(flip)/2] ^= 0x40
	for _, tc := range []struct {
		name   string
		data   []byte
		usable bool
	}{
		{"good", good, true},
		{"bit flipped", flip, false},
		{"truncated", good[:len(good)*2/3], false},
		{"empty", nil, false},
		{"other store", bytes.Replace(good, []byte(mustMark(t, w).StoreID), []byte(strings.Repeat("0", len(mustMark(t, w).StoreID))), 1), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(snap, tc.data, 0o600); err != nil {
				t.Fatal(err)
			}
			svc, m := w.restart(snap)
			if _, ok := svc.SnapshotLoaded(); ok != tc.usable {
				t.Fatalf("snapshot loaded: %v, want %v", ok, tc.usable)
			}
			if _, err := os.Stat(snap); tc.usable == os.IsNotExist(err) {
				t.Fatalf("after the load, the file exists: %v; want %v", err == nil, tc.usable)
			}
			w.sameMembers(tc.name, m, rebuilt)
		})
	}
}

func mustMark(t *testing.T, w *world) segmentd.ChangeMark {
	m, err := w.store.ChangeMark(w.ctx)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
