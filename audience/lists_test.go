package audience_test

import (
	"os"
	"slices"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/internal/facetest"
)

// Deleting a list deletes the SendGrid segments (v1 and 2.0) whose parent
// it was, in the store and in the engine (docs/decisions.md §13), and they
// stay deleted after a restart, whether the engine is loaded from a
// snapshot that still holds them or rebuilt from the store.
func TestDeleteListDeletesItsSegments(t *testing.T) {
	w, snap := snapshotWorld(t, 1)
	list, err := w.svc.CreateList(w.ctx, w.acct, "Newsletter")
	if err != nil {
		t.Fatal(err)
	}
	job, err := w.svc.UpsertContacts(w.ctx, w.acct, []segmentd.ContactPatch{
		{Email: facetest.Ptr("on@example.com"), Country: facetest.Ptr("US")},
	}, []string{list.ID})
	if err != nil {
		t.Fatal(err)
	}
	w.wait(job)
	create := func(name, q, version string, parents ...string) string {
		t.Helper()
		v, err := w.svc.CreateSegment(w.ctx, w.acct, name, q, version, parents)
		if err != nil {
			t.Fatal(err)
		}
		return v.ID
	}
	children := []string{
		create("listed", "SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'", "2", list.ID),
		create("listed v1", "country = 'US'", "", list.ID),
	}
	keep := create("everyone", "SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'", "2")
	if got := w.members.Count(w.acct, children[0], w.clock.Now()); got != 1 {
		t.Fatalf("the child segment has %d members before the delete, want 1", got)
	}
	// The snapshot holds the children and their members.
	if _, wrote, err := w.svc.WriteSnapshot(w.ctx); err != nil || !wrote {
		t.Fatalf("WriteSnapshot: wrote %v, %v", wrote, err)
	}
	if _, err := w.svc.DeleteList(w.ctx, w.acct, list.ID, false); err != nil {
		t.Fatal(err)
	}

	check := func(what string, svc *audience.Service, m engine.Membership) {
		t.Helper()
		for _, id := range children {
			if _, err := svc.Segment(w.ctx, w.acct, id, false); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
				t.Errorf("%s: segment %s: err = %v, want not found", what, id, err)
			}
		}
		views, err := svc.Segments(w.ctx, w.acct, audience.SegmentFilter{})
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range views {
			if slices.Contains(children, v.ID) {
				t.Errorf("%s: segment %s is still listed", what, v.ID)
			}
		}
		for _, st := range m.Stats(w.acct).Segments {
			if slices.Contains(children, st.ID) {
				t.Errorf("%s: the engine still holds segment %s", what, st.ID)
			}
		}
		_, c, err := svc.ContactsByEmails(w.ctx, w.acct, []string{"on@example.com"})
		if err != nil {
			t.Fatal(err)
		}
		if got := c["on@example.com"].SegmentIDs; !slices.Contains(got, keep) || slices.ContainsFunc(got, func(id string) bool { return slices.Contains(children, id) }) {
			t.Errorf("%s: segment_ids = %v, want %s and neither of %v", what, got, keep, children)
		}
	}
	check("after the delete", w.svc, w.members)

	svc, m := w.restart(snap)
	if _, ok := svc.SnapshotLoaded(); !ok {
		t.Fatal("the restart did not load the snapshot")
	}
	check("after a restart from the snapshot", svc, m)

	if err := os.Remove(snap); err != nil {
		t.Fatal(err)
	}
	svc, m = w.restart(snap)
	if _, ok := svc.SnapshotLoaded(); ok {
		t.Fatal("the restart loaded a snapshot that was removed")
	}
	check("after a rebuild", svc, m)
	for _, id := range children {
		if err := svc.DeleteSegment(w.ctx, w.acct, id); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
			t.Errorf("deleting segment %s again: err = %v, want not found", id, err)
		}
	}
}
