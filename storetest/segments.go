package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// RunSegments runs the segment-store contract. open must return a new,
// empty store that also implements segmentd.SegmentStore.
func RunSegments(t *testing.T, open func(t *testing.T) segmentd.SegmentStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st segmentd.SegmentStore)
	}{
		{"CreateReadUpdate", testSegmentCRUD},
		{"NamesAndLimit", testSegmentNamesAndLimit},
		{"DeleteKeepsDetails", testSegmentDelete},
		{"Refreshes", testSegmentRefreshes},
		{"Isolation", testSegmentIsolation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var segT0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newSegment(name string) segmentd.Segment {
	return segmentd.Segment{ID: segmentd.NewID(), Name: name, QueryDSL: "SELECT contact_id, updated_at FROM contact_data",
		QueryVersion: "2", CreatedAt: segT0, UpdatedAt: segT0}
}

func testSegmentCRUD(t *testing.T, st segmentd.SegmentStore) {
	ctx := context.Background()
	in := newSegment("Gmail users")
	in.ParentListIDs = []string{"0a5c4a6e-2a0b-4a53-9f5c-1b2c3d4e5f60"}
	created, err := st.CreateSegment(ctx, 1, in, 10)
	if err != nil {
		t.Fatal(err)
	}
	got, err := st.Segment(ctx, 1, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != in.Name || got.QueryDSL != in.QueryDSL || got.QueryVersion != "2" || !got.CreatedAt.Equal(segT0) ||
		len(got.ParentListIDs) != 1 || got.ParentListIDs[0] != in.ParentListIDs[0] || !got.Live() {
		t.Fatalf("Segment = %+v, want %+v", got, created)
	}
	got.Name = "Renamed"
	got.QueryDSL = "SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"
	got.UpdatedAt = segT0.Add(time.Hour)
	if _, err := st.UpdateSegment(ctx, 1, got); err != nil {
		t.Fatal(err)
	}
	again, _ := st.Segment(ctx, 1, in.ID)
	if again.Name != "Renamed" || again.QueryDSL != got.QueryDSL || !again.UpdatedAt.Equal(got.UpdatedAt) || !again.CreatedAt.Equal(segT0) {
		t.Fatalf("after update: %+v", again)
	}
	if _, err := st.Segment(ctx, 1, segmentd.NewID()); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("unknown segment: err = %v, want not found", err)
	}
	missing := newSegment("x")
	if _, err := st.UpdateSegment(ctx, 1, missing); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("update unknown: err = %v, want not found", err)
	}
	list, err := st.Segments(ctx, 1)
	if err != nil || len(list) != 1 || list[0].ID != in.ID {
		t.Fatalf("Segments = %+v, %v", list, err)
	}
}

func testSegmentNamesAndLimit(t *testing.T, st segmentd.SegmentStore) {
	ctx := context.Background()
	a := newSegment("Alpha")
	if _, err := st.CreateSegment(ctx, 1, a, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateSegment(ctx, 1, newSegment("ALPHA"), 2); segmentd.ErrorKindOf(err) != segmentd.KindConflict {
		t.Fatalf("duplicate name ignoring case: err = %v, want conflict", err)
	}
	b := newSegment("Beta")
	if _, err := st.CreateSegment(ctx, 1, b, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateSegment(ctx, 1, newSegment("Gamma"), 2); segmentd.ErrorKindOf(err) != segmentd.KindInvalid {
		t.Fatalf("over the live limit: err = %v, want invalid", err)
	}
	b.Name = "alpha"
	if _, err := st.UpdateSegment(ctx, 1, b); segmentd.ErrorKindOf(err) != segmentd.KindConflict {
		t.Fatalf("rename onto another's name: err = %v, want conflict", err)
	}
	// Deleting frees both the name and a place under the limit.
	if err := st.DeleteSegment(ctx, 1, a.ID, segT0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateSegment(ctx, 1, newSegment("alpha"), 2); err != nil {
		t.Fatalf("name of a deleted segment not freed: %v", err)
	}
}

func testSegmentDelete(t *testing.T, st segmentd.SegmentStore) {
	ctx := context.Background()
	a := newSegment("Doomed")
	if _, err := st.CreateSegment(ctx, 1, a, 10); err != nil {
		t.Fatal(err)
	}
	when := segT0.Add(2 * time.Hour)
	if err := st.DeleteSegment(ctx, 1, a.ID, when); err != nil {
		t.Fatal(err)
	}
	got, err := st.Segment(ctx, 1, a.ID)
	if err != nil || got.Live() || !got.DeletedAt.Equal(when) || got.Name != "Doomed" {
		t.Fatalf("deleted segment = %+v, %v; want its details with DeletedAt", got, err)
	}
	if list, _ := st.Segments(ctx, 1); len(list) != 0 {
		t.Fatalf("deleted segment still listed: %+v", list)
	}
	if err := st.DeleteSegment(ctx, 1, a.ID, when); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("second delete: err = %v, want not found", err)
	}
	got.Name = "Back"
	if _, err := st.UpdateSegment(ctx, 1, got); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("update of a deleted segment: err = %v, want not found", err)
	}
}

func testSegmentRefreshes(t *testing.T, st segmentd.SegmentStore) {
	ctx := context.Background()
	a := newSegment("Refreshed")
	if _, err := st.CreateSegment(ctx, 1, a, 10); err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{segT0, segT0.Add(3 * time.Hour)} {
		if err := st.RecordRefresh(ctx, 1, segmentd.Refresh{SegmentID: a.ID, At: at, TimeZone: "America/Chicago"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RecordRefresh(ctx, 1, segmentd.Refresh{SegmentID: segmentd.NewID(), At: segT0}); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("refresh of an unknown segment: err = %v", err)
	}
	rs, err := st.Refreshes(ctx, 1, segT0.Add(time.Hour))
	if err != nil || len(rs) != 1 || !rs[0].At.Equal(segT0.Add(3*time.Hour)) || rs[0].SegmentID != a.ID || rs[0].TimeZone != "America/Chicago" {
		t.Fatalf("Refreshes since +1h = %+v, %v", rs, err)
	}
	got, _ := st.Segment(ctx, 1, a.ID)
	if !got.LastRefreshedAt.Equal(segT0.Add(3 * time.Hour)) {
		t.Fatalf("LastRefreshedAt = %v", got.LastRefreshedAt)
	}
}

func testSegmentIsolation(t *testing.T, st segmentd.SegmentStore) {
	ctx := context.Background()
	a := newSegment("Mine")
	if _, err := st.CreateSegment(ctx, 1, a, 10); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Segment(ctx, 2, a.ID); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("account 2 reads account 1's segment: err = %v", err)
	}
	if list, _ := st.Segments(ctx, 2); len(list) != 0 {
		t.Fatalf("account 2 lists account 1's segments: %+v", list)
	}
	if err := st.DeleteSegment(ctx, 2, a.ID, segT0); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("account 2 deletes account 1's segment: err = %v", err)
	}
	if _, err := st.CreateSegment(ctx, 2, newSegment("Mine"), 10); err != nil {
		t.Fatalf("names are per account: %v", err)
	}
}
