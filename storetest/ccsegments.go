package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// CCSegmentsStore is a store that keeps contacts and Constant Contact
// segments (the catalog changes are in the contacts store's history).
type CCSegmentsStore interface {
	segmentd.Store
	segmentd.CCSegmentStore
}

// RunCCSegments runs the Constant Contact segment-store contract. open must
// return a new, empty store.
func RunCCSegments(t *testing.T, open func(t *testing.T) CCSegmentsStore) {
	t.Run("CatalogChanges", func(t *testing.T) { testCCCatalogChanges(t, open(t)) })
	tests := []struct {
		name string
		fn   func(t *testing.T, st segmentd.CCSegmentStore)
	}{
		{"CreateReadUpdate", testCCSegmentCRUD},
		{"SequentialIDs", testCCSegmentIDs},
		{"NamesAndLimit", testCCSegmentNamesAndLimit},
		{"DeleteKeepsDetails", testCCSegmentDelete},
		{"Paging", testCCSegmentPaging},
		{"Isolation", testCCSegmentIsolation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

// ccCriteria has the spacing and key order of a client's own text, which
// the store must keep byte for byte.
const ccCriteria = `{"version":"1.0.0", "criteria":{"type":"and","group":[{"source":"tracking","field":"opened","op":"contains-any","const_value":"last-n-campaigns","param":"5"}]}}`

// ccT0 has sub-millisecond digits: times read back are truncated to the
// millisecond.
var ccT0 = time.Date(2026, 4, 1, 9, 30, 0, 123456789, time.UTC)

func newCC(name string, at time.Time) segmentd.CCSegment {
	return segmentd.CCSegment{Name: name, Criteria: ccCriteria, CreatedAt: at, EditedAt: at}
}

func mustCreateCC(t *testing.T, st segmentd.CCSegmentStore, acct int64, s segmentd.CCSegment) segmentd.CCSegment {
	t.Helper()
	got, err := st.CreateCCSegment(context.Background(), acct, s, 100)
	if err != nil {
		t.Fatalf("CreateCCSegment(%q): %v", s.Name, err)
	}
	return got
}

func testCCSegmentCRUD(t *testing.T, st segmentd.CCSegmentStore) {
	ctx := context.Background()
	created := mustCreateCC(t, st, 1, newCC("Openers", ccT0))
	ms := ccT0.Truncate(time.Millisecond)
	if created.ID != 1 || !created.CreatedAt.Equal(ms) || !created.EditedAt.Equal(ms) || !created.Live() {
		t.Fatalf("created = %+v", created)
	}
	got, err := st.CCSegment(ctx, 1, created.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got != created || got.Criteria != ccCriteria {
		t.Fatalf("CCSegment = %+v, want %+v", got, created)
	}
	later := ccT0.Add(time.Hour)
	upd := got
	upd.Name, upd.Criteria, upd.EditedAt = "Openers (5)", `{"version":"1.0.0","criteria":{"type":"and","group":[]}}`, later
	upd.CreatedAt = time.Time{} // the store keeps its own
	out, err := st.UpdateCCSegment(ctx, 1, upd)
	if err != nil {
		t.Fatal(err)
	}
	if out.Name != upd.Name || out.Criteria != upd.Criteria || !out.EditedAt.Equal(later.Truncate(time.Millisecond)) || !out.CreatedAt.Equal(ms) {
		t.Fatalf("after update: %+v", out)
	}
	if again, _ := st.CCSegment(ctx, 1, created.ID); again != out {
		t.Fatalf("read after update = %+v, want %+v", again, out)
	}
	if _, err := st.CCSegment(ctx, 1, 99); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("unknown id: err = %v, want not found", err)
	}
	missing := newCC("x", ccT0)
	missing.ID = 99
	if _, err := st.UpdateCCSegment(ctx, 1, missing); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("update of an unknown id: err = %v, want not found", err)
	}
}

func testCCSegmentIDs(t *testing.T, st segmentd.CCSegmentStore) {
	ctx := context.Background()
	for i := int64(1); i <= 3; i++ {
		if s := mustCreateCC(t, st, 1, newCC(fmt.Sprint("s", i), ccT0)); s.ID != i {
			t.Fatalf("segment %d got id %d", i, s.ID)
		}
	}
	// Deleting the newest does not free its id.
	if err := st.DeleteCCSegment(ctx, 1, 3, ccT0); err != nil {
		t.Fatal(err)
	}
	if s := mustCreateCC(t, st, 1, newCC("s4", ccT0)); s.ID != 4 {
		t.Fatalf("after deleting id 3 the next id is %d, want 4", s.ID)
	}
	// Ids count per account.
	if s := mustCreateCC(t, st, 2, newCC("s1", ccT0)); s.ID != 1 {
		t.Fatalf("first segment of account 2 got id %d, want 1", s.ID)
	}
}

func testCCSegmentNamesAndLimit(t *testing.T, st segmentd.CCSegmentStore) {
	ctx := context.Background()
	a, err := st.CreateCCSegment(ctx, 1, newCC("Alpha", ccT0), 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateCCSegment(ctx, 1, newCC("ALPHA", ccT0), 2); segmentd.ErrorKindOf(err) != segmentd.KindConflict {
		t.Fatalf("duplicate name ignoring case: err = %v, want conflict", err)
	}
	b, err := st.CreateCCSegment(ctx, 1, newCC("Beta", ccT0), 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateCCSegment(ctx, 1, newCC("Gamma", ccT0), 2); segmentd.ErrorKindOf(err) != segmentd.KindInvalid {
		t.Fatalf("over the live limit: err = %v, want invalid", err)
	}
	b.Name = "alpha"
	if _, err := st.UpdateCCSegment(ctx, 1, b); segmentd.ErrorKindOf(err) != segmentd.KindConflict {
		t.Fatalf("rename onto another's name: err = %v, want conflict", err)
	}
	a.Name = "ALPHA" // a segment may change the case of its own name
	if _, err := st.UpdateCCSegment(ctx, 1, a); err != nil {
		t.Fatalf("rename to its own name in other case: %v", err)
	}
	// Deleting frees the name and a place under the limit.
	if err := st.DeleteCCSegment(ctx, 1, a.ID, ccT0); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateCCSegment(ctx, 1, newCC("alpha", ccT0), 2); err != nil {
		t.Fatalf("name of a deleted segment not freed: %v", err)
	}
}

func testCCSegmentDelete(t *testing.T, st segmentd.CCSegmentStore) {
	ctx := context.Background()
	a := mustCreateCC(t, st, 1, newCC("Doomed", ccT0))
	when := ccT0.Add(2 * time.Hour)
	if err := st.DeleteCCSegment(ctx, 1, a.ID, when); err != nil {
		t.Fatal(err)
	}
	got, err := st.CCSegment(ctx, 1, a.ID)
	if err != nil || got.Live() || !got.DeletedAt.Equal(when.Truncate(time.Millisecond)) || got.Name != "Doomed" || got.Criteria != ccCriteria {
		t.Fatalf("deleted segment = %+v, %v; want its details with DeletedAt", got, err)
	}
	if list, _ := st.CCSegments(ctx, 1, segmentd.CCSegmentPage{}); len(list) != 0 {
		t.Fatalf("deleted segment still listed: %+v", list)
	}
	if err := st.DeleteCCSegment(ctx, 1, a.ID, when); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("second delete: err = %v, want not found", err)
	}
	got.Name = "Back"
	if _, err := st.UpdateCCSegment(ctx, 1, got); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("update of a deleted segment: err = %v, want not found", err)
	}
}

func testCCSegmentPaging(t *testing.T, st segmentd.CCSegmentStore) {
	ctx := context.Background()
	// Edited at: c newest, then a and d at the same instant (id breaks the
	// tie, higher first), then b.
	mustCreateCC(t, st, 1, newCC("delta", ccT0.Add(2*time.Minute)))   // 1
	mustCreateCC(t, st, 1, newCC("Bravo", ccT0))                      // 2
	mustCreateCC(t, st, 1, newCC("charlie", ccT0.Add(5*time.Minute))) // 3
	mustCreateCC(t, st, 1, newCC("Alpha", ccT0.Add(2*time.Minute)))   // 4
	doomed := mustCreateCC(t, st, 1, newCC("aardvark", ccT0.Add(9*time.Minute)))
	if err := st.DeleteCCSegment(ctx, 1, doomed.ID, ccT0); err != nil {
		t.Fatal(err)
	}
	pages := func(order segmentd.CCSegmentOrder, limit int) [][]string {
		var out [][]string
		var after *segmentd.CCSegment
		for range 10 {
			page, err := st.CCSegments(ctx, 1, segmentd.CCSegmentPage{Order: order, After: after, Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				return out
			}
			var names []string
			for _, s := range page {
				names = append(names, s.Name)
			}
			out = append(out, names)
			after = &page[len(page)-1]
		}
		t.Fatal("paging does not end")
		return nil
	}
	for _, tt := range []struct {
		order segmentd.CCSegmentOrder
		limit int
		want  string
	}{
		{segmentd.CCByDate, 0, "[[charlie Alpha delta Bravo]]"},
		{segmentd.CCByDate, 3, "[[charlie Alpha delta] [Bravo]]"},
		{segmentd.CCByDate, 1, "[[charlie] [Alpha] [delta] [Bravo]]"},
		{segmentd.CCByName, 0, "[[Alpha Bravo charlie delta]]"},
		{segmentd.CCByName, 2, "[[Alpha Bravo] [charlie delta]]"},
	} {
		if got := fmt.Sprint(pages(tt.order, tt.limit)); got != tt.want {
			t.Errorf("order %d limit %d: pages %s, want %s", tt.order, tt.limit, got, tt.want)
		}
	}
}

func testCCSegmentIsolation(t *testing.T, st segmentd.CCSegmentStore) {
	ctx := context.Background()
	a := mustCreateCC(t, st, 1, newCC("Mine", ccT0))
	if _, err := st.CCSegment(ctx, 2, a.ID); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("account 2 reads account 1's segment: err = %v", err)
	}
	if list, _ := st.CCSegments(ctx, 2, segmentd.CCSegmentPage{}); len(list) != 0 {
		t.Fatalf("account 2 lists account 1's segments: %+v", list)
	}
	if err := st.DeleteCCSegment(ctx, 2, a.ID, ccT0); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("account 2 deletes account 1's segment: err = %v", err)
	}
	upd := a
	upd.Name = "Theirs"
	if _, err := st.UpdateCCSegment(ctx, 2, upd); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("account 2 updates account 1's segment: err = %v", err)
	}
	if _, err := st.CreateCCSegment(ctx, 2, newCC("Mine", ccT0), 10); err != nil {
		t.Fatalf("names are per account: %v", err)
	}
}

// testCCCatalogChanges: writes of Constant Contact segments are catalog
// changes in the history.
func testCCCatalogChanges(t *testing.T, st CCSegmentsStore) {
	acct := newAccount(t, st, "a")
	var seg segmentd.CCSegment
	from := catalogStep(t, st, acct, 0, "CreateCCSegment", func() (err error) {
		seg, err = st.CreateCCSegment(ctx(t), acct, newCC("one", ccT0), 10)
		return err
	})
	seg.Name = "two"
	from = catalogStep(t, st, acct, from, "UpdateCCSegment", func() error {
		_, err := st.UpdateCCSegment(ctx(t), acct, seg)
		return err
	})
	catalogStep(t, st, acct, from, "DeleteCCSegment", func() error { return st.DeleteCCSegment(ctx(t), acct, seg.ID, ccT0) })
}
