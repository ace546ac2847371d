package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// SegmentsStore is a store that keeps contacts, lists and segments.
type SegmentsStore interface {
	segmentd.Store
	segmentd.SegmentStore
}

// RunSegments runs the segment-store contract. open must return a new,
// empty store.
func RunSegments(t *testing.T, open func(t *testing.T) SegmentsStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st SegmentsStore)
	}{
		{"CreateReadUpdate", testSegmentCRUD},
		{"NamesAndLimit", testSegmentNamesAndLimit},
		{"DeleteKeepsDetails", testSegmentDelete},
		{"Refreshes", testSegmentRefreshes},
		{"Isolation", testSegmentIsolation},
		{"DeleteListWithSegments", testDeleteListWithSegments},
		{"CatalogChanges", testCatalogChanges},
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

func testSegmentCRUD(t *testing.T, st SegmentsStore) {
	ctx := context.Background()
	in := newSegment("Gmail users")
	// A parent list must be a list of the account, checked in the insert's
	// transaction.
	in.ParentListIDs = []string{"0a5c4a6e-2a0b-4a53-9f5c-1b2c3d4e5f60"}
	if _, err := st.CreateSegment(ctx, 1, in, 10); segmentd.ErrorKindOf(err) != segmentd.KindInvalid || !strings.Contains(fmt.Sprint(err), "does not exist") {
		t.Fatalf("unknown parent list: err = %v, want invalid", err)
	}
	other := newAccount(t, st, "other-parent")
	if other == 1 {
		other = newAccount(t, st, "other-parent-2")
	}
	foreign := must[segmentd.List](t, "CreateList")(st.CreateList(ctx, other, "theirs", segT0))
	in.ParentListIDs = []string{foreign.ID}
	if _, err := st.CreateSegment(ctx, 1, in, 10); segmentd.ErrorKindOf(err) != segmentd.KindInvalid {
		t.Fatalf("another account's list as parent: err = %v, want invalid", err)
	}
	parent := must[segmentd.List](t, "CreateList")(st.CreateList(ctx, 1, "parent", segT0))
	in.ParentListIDs = []string{parent.ID}
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

func testSegmentNamesAndLimit(t *testing.T, st SegmentsStore) {
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

func testSegmentDelete(t *testing.T, st SegmentsStore) {
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

func testSegmentRefreshes(t *testing.T, st SegmentsStore) {
	ctx := context.Background()
	a := newSegment("Refreshed")
	if _, err := st.CreateSegment(ctx, 1, a, 10); err != nil {
		t.Fatal(err)
	}
	allowAll := func([]segmentd.Refresh) error { return nil }
	for _, at := range []time.Time{segT0, segT0.Add(3 * time.Hour)} {
		if err := st.RecordRefresh(ctx, 1, segmentd.Refresh{SegmentID: a.ID, At: at, TimeZone: "America/Chicago"}, segT0, allowAll); err != nil {
			t.Fatal(err)
		}
	}
	if err := st.RecordRefresh(ctx, 1, segmentd.Refresh{SegmentID: segmentd.NewID(), At: segT0}, segT0, allowAll); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("refresh of an unknown segment: err = %v", err)
	}
	// allow sees the refreshes since its cut, and a refusal stores nothing.
	refused := segmentd.Errorf(segmentd.KindRateLimited, "segment_id", "enough")
	var seen []segmentd.Refresh
	err := st.RecordRefresh(ctx, 1, segmentd.Refresh{SegmentID: a.ID, At: segT0.Add(4 * time.Hour)}, segT0.Add(time.Hour), func(past []segmentd.Refresh) error {
		seen = past
		return refused
	})
	if err != refused || len(seen) != 1 || !seen[0].At.Equal(segT0.Add(3*time.Hour)) {
		t.Fatalf("a refused refresh: err = %v, allow saw %+v; want the refusal after seeing the +3h refresh", err, seen)
	}
	rs, err := st.Refreshes(ctx, 1, segT0.Add(time.Hour))
	if err != nil || len(rs) != 1 || !rs[0].At.Equal(segT0.Add(3*time.Hour)) || rs[0].SegmentID != a.ID || rs[0].TimeZone != "America/Chicago" {
		t.Fatalf("Refreshes since +1h = %+v, %v", rs, err)
	}
	got, _ := st.Segment(ctx, 1, a.ID)
	if !got.LastRefreshedAt.Equal(segT0.Add(3 * time.Hour)) {
		t.Fatalf("LastRefreshedAt = %v", got.LastRefreshedAt)
	}
	if rr, ok := st.(segmentd.SegmentRefreshReader); ok {
		testSegmentWithRefreshes(t, st, rr, a.ID)
	}
}

// testSegmentWithRefreshes checks a SegmentRefreshReader against Segment
// and Refreshes: the same segment, and its own refreshes only, oldest
// first. a holds refreshes at segT0 and +3h (testSegmentRefreshes).
func testSegmentWithRefreshes(t *testing.T, st SegmentsStore, rr segmentd.SegmentRefreshReader, a string) {
	ctx := context.Background()
	b := newSegment("Refreshed too")
	if _, err := st.CreateSegment(ctx, 1, b, 10); err != nil {
		t.Fatal(err)
	}
	if err := st.RecordRefresh(ctx, 1, segmentd.Refresh{SegmentID: b.ID, At: segT0.Add(2 * time.Hour), TimeZone: "Europe/Paris"}, segT0, func([]segmentd.Refresh) error { return nil }); err != nil {
		t.Fatal(err)
	}
	want, _ := st.Segment(ctx, 1, a)
	for _, tc := range []struct {
		since time.Time
		want  []time.Time
	}{
		{segT0, []time.Time{segT0, segT0.Add(3 * time.Hour)}},
		{segT0.Add(time.Hour), []time.Time{segT0.Add(3 * time.Hour)}},
		{segT0.Add(4 * time.Hour), nil},
	} {
		seg, past, err := rr.SegmentWithRefreshes(ctx, 1, strings.ToUpper(a), tc.since)
		if err != nil || !reflect.DeepEqual(seg, want) {
			t.Fatalf("SegmentWithRefreshes(since %v) = %+v, %v; want %+v", tc.since, seg, err, want)
		}
		var at []time.Time
		for _, r := range past {
			if r.SegmentID != a || r.TimeZone != "America/Chicago" {
				t.Fatalf("SegmentWithRefreshes(since %v): refresh %+v is not the segment's", tc.since, r)
			}
			at = append(at, r.At)
		}
		if !slices.EqualFunc(at, tc.want, time.Time.Equal) {
			t.Fatalf("SegmentWithRefreshes(since %v): refreshes at %v, want %v", tc.since, at, tc.want)
		}
	}
	if _, _, err := rr.SegmentWithRefreshes(ctx, 2, a, segT0); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("SegmentWithRefreshes of another account's segment: err = %v", err)
	}
	if err := st.DeleteSegment(ctx, 1, b.ID, segT0.Add(5*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if seg, past, err := rr.SegmentWithRefreshes(ctx, 1, b.ID, segT0); err != nil || seg.Live() || len(past) != 1 {
		t.Fatalf("SegmentWithRefreshes of a deleted segment = %+v, %+v, %v; want it, deleted, with its refresh", seg, past, err)
	}
}

func testSegmentIsolation(t *testing.T, st SegmentsStore) {
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

// testDeleteListWithSegments: deleting a list deletes, in the same
// transaction, the live segments whose parent it was (docs/decisions.md
// §13), and nothing else: other segments, other lists, other accounts and
// the contacts stay; the list's deletion is in the change history as
// DeleteList's is.
func testDeleteListWithSegments(t *testing.T, st SegmentsStore) {
	acct := newAccount(t, st, "a")
	other := newAccount(t, st, "b")
	l := must[segmentd.List](t, "CreateList")(st.CreateList(ctx(t), acct, "l", now))
	keepList := must[segmentd.List](t, "CreateList")(st.CreateList(ctx(t), acct, "keep", now))
	res := upsert(t, st, acct, []string{l.ID}, segmentd.ContactPatch{Email: str("a@example.com")}, segmentd.ContactPatch{Email: str("b@example.com")})
	members := sortedCopy(res.Contacts[0].ID, res.Contacts[1].ID)
	create := func(acct int64, name, version string, parents ...string) segmentd.Segment {
		t.Helper()
		s := newSegment(name)
		s.QueryVersion, s.ParentListIDs = version, parents
		return must[segmentd.Segment](t, "CreateSegment")(st.CreateSegment(ctx(t), acct, s, 10))
	}
	child2, child1 := create(acct, "child 2.0", "2", l.ID), create(acct, "child v1", "", l.ID)
	free, sibling := create(acct, "no parent", "2"), create(acct, "other parent", "2", keepList.ID)
	gone := create(acct, "deleted before", "2", l.ID)
	noErr(t, "DeleteSegment", st.DeleteSegment(ctx(t), acct, gone.ID, segT0))
	// Another account's segment, on a list of its own, is not touched (a
	// segment cannot name another account's list: testSegmentCRUD).
	theirs := must[segmentd.List](t, "CreateList")(st.CreateList(ctx(t), other, "l", now))
	foreign := create(other, "foreign", "2", theirs.ID)
	mark := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t)))

	when := segT0.Add(5 * time.Hour)
	gotMembers, gotSegs, err := st.DeleteListWithSegments(ctx(t), acct, l.ID, when)
	noErr(t, "DeleteListWithSegments", err)
	if !slices.Equal(gotMembers, members) || !slices.Equal(gotSegs, sortedCopy(child2.ID, child1.ID)) {
		t.Fatalf("DeleteListWithSegments = %v, %v; want members %v, segments %v", gotMembers, gotSegs, members, sortedCopy(child2.ID, child1.ID))
	}
	for _, id := range []string{child2.ID, child1.ID} {
		got := must[segmentd.Segment](t, "Segment")(st.Segment(ctx(t), acct, id))
		if got.Live() || !got.DeletedAt.Equal(when) {
			t.Fatalf("segment %q of the deleted list = %+v, want deleted at %v", got.Name, got, when)
		}
	}
	if got := must[segmentd.Segment](t, "Segment")(st.Segment(ctx(t), acct, gone.ID)); !got.DeletedAt.Equal(segT0) {
		t.Fatalf("an already deleted segment was deleted again: DeletedAt %v, want %v", got.DeletedAt, segT0)
	}
	var live []string
	for _, s := range must[[]segmentd.Segment](t, "Segments")(st.Segments(ctx(t), acct)) {
		live = append(live, s.ID)
	}
	if want := []string{free.ID, sibling.ID}; !slices.Equal(sortedCopy(live...), sortedCopy(want...)) {
		t.Fatalf("live segments = %v, want %v", live, want)
	}
	if got := must[segmentd.Segment](t, "Segment")(st.Segment(ctx(t), other, foreign.ID)); !got.Live() {
		t.Fatalf("another account's segment was deleted: %+v", got)
	}
	_, err = st.List(ctx(t), acct, l.ID)
	wantKind(t, "List(deleted)", err, segmentd.KindNotFound)
	if n := must[int](t, "CountContacts")(st.CountContacts(ctx(t), acct)); n != 2 {
		t.Fatalf("CountContacts = %d, want 2: deleting a list keeps its contacts", n)
	}
	ch := changes(t, st, acct, mark.Seq(acct))
	if !reflect.DeepEqual(ch.DeletedLists, []string{l.ID}) {
		t.Fatalf("Changes after the delete = %+v, want deleted list [%s]", ch, l.ID)
	}

	// An unknown list deletes nothing.
	_, _, err = st.DeleteListWithSegments(ctx(t), acct, l.ID, when)
	wantKind(t, "DeleteListWithSegments(deleted list)", err, segmentd.KindNotFound)
	_, _, err = st.DeleteListWithSegments(ctx(t), other, keepList.ID, when)
	wantKind(t, "DeleteListWithSegments(another account's list)", err, segmentd.KindNotFound)
	if got := must[segmentd.Segment](t, "Segment")(st.Segment(ctx(t), acct, sibling.ID)); !got.Live() {
		t.Fatalf("a refused delete deleted segment %+v", got)
	}
	// A list without segments returns none.
	_, segs, err := st.DeleteListWithSegments(ctx(t), other, must[segmentd.List](t, "CreateList")(st.CreateList(ctx(t), other, "bare", now)).ID, when)
	if err != nil || len(segs) != 0 {
		t.Fatalf("DeleteListWithSegments(list without segments) = %v, %v", segs, err)
	}
}

// catalogStep checks that write, a write of the account's fields or
// segments, is in the change history as a catalog change after from, and
// returns the point it brings the history to.
func catalogStep(t *testing.T, st segmentd.Store, acct, from int64, what string, write func() error) int64 {
	t.Helper()
	noErr(t, what, write())
	ch := changes(t, st, acct, from)
	if !ch.Catalog || ch.Through <= from {
		t.Fatalf("Changes after %s = %+v, want a catalog change past %d", what, ch, from)
	}
	return ch.Through
}

// testCatalogChanges: writes of field definitions and segments are catalog
// changes in the history; contact writes are not.
func testCatalogChanges(t *testing.T, st SegmentsStore) {
	acct := newAccount(t, st, "a")
	upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("a@example.com")})
	from := changes(t, st, acct, 0).Through
	upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("b@example.com")})
	if ch := changes(t, st, acct, from); ch.Catalog {
		t.Fatalf("a contact write is a catalog change: %+v", ch)
	}
	from = changes(t, st, acct, 0).Through
	var f segmentd.FieldDefinition
	from = catalogStep(t, st, acct, from, "CreateFieldDefinition", func() (err error) {
		f, err = st.CreateFieldDefinition(ctx(t), acct, "plan", segmentd.FieldText, 10, segT0)
		return err
	})
	from = catalogStep(t, st, acct, from, "RenameFieldDefinition", func() error {
		_, err := st.RenameFieldDefinition(ctx(t), acct, f.ID, "tier")
		return err
	})
	from = catalogStep(t, st, acct, from, "DeleteFieldDefinition", func() error { return st.DeleteFieldDefinition(ctx(t), acct, f.ID) })
	seg := newSegment("s")
	from = catalogStep(t, st, acct, from, "CreateSegment", func() error {
		_, err := st.CreateSegment(ctx(t), acct, seg, 10)
		return err
	})
	seg.Name = "renamed"
	from = catalogStep(t, st, acct, from, "UpdateSegment", func() error {
		_, err := st.UpdateSegment(ctx(t), acct, seg)
		return err
	})
	catalogStep(t, st, acct, from, "DeleteSegment", func() error { return st.DeleteSegment(ctx(t), acct, seg.ID, segT0) })
}
