package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segmentd/segmentd/storetest"
)

func TestEventContract(t *testing.T) {
	storetest.RunEvents(t, func(t *testing.T) storetest.EventsStore {
		st, err := Open(context.Background(), filepath.Join(t.TempDir(), "segmentd.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	})
}

// TestEventQueryPlans checks that the event statements probe indexes rather
// than scan an account's events (ten million at the benchmark's size).
func TestEventQueryPlans(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	for _, q := range []string{qEventsKnown, qContactIDsByEmail, qEventsLastSeq, qEventsUnattached, qAttachEvents, qScanEvents, qEventsFirstSeq, qPruneEvents} {
		args := make([]any, strings.Count(q, "?"))
		rows, err := s.read.Query("EXPLAIN QUERY PLAN "+q, args...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		for _, step := range plan {
			scan := strings.HasPrefix(step, "SCAN ") && !strings.Contains(step, "VIRTUAL TABLE")
			if scan || strings.Contains(step, "TEMP B-TREE") {
				t.Errorf("query %s\nhas plan step %q (whole plan %q)", q, step, plan)
			}
		}
		t.Logf("%s\n  %q", q, plan)
	}
}
