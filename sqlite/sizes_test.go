package sqlite

import (
	"slices"
	"testing"
)

// TestSizes checks that the breakdown names segmentd's tables and indexes,
// largest first, and that with the free pages it adds up to the database's
// pages.
func TestSizes(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	fill(t, s)
	sizes, err := s.Sizes(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if len(sizes) < 2 || sizes[len(sizes)-1].Table != FreePages {
		t.Fatalf("Sizes = %v, want rows ending with %q", sizes, FreePages)
	}
	var pages, pageSize int64
	if err := s.read.QueryRow("SELECT page_count, page_size FROM pragma_page_count(), pragma_page_size()").Scan(&pages, &pageSize); err != nil {
		t.Fatal(err)
	}
	var sum int64
	seen := map[TableSize]bool{}
	for i, r := range sizes {
		if r.Bytes < 0 || r.Bytes%pageSize != 0 {
			t.Errorf("%+v: bytes not a whole number of %d-byte pages", r, pageSize)
		}
		if i > 0 && i < len(sizes)-1 && r.Bytes > sizes[i-1].Bytes {
			t.Errorf("%+v after %+v: not largest first", r, sizes[i-1])
		}
		sum += r.Bytes
		seen[TableSize{Table: r.Table, Index: r.Index}] = true
	}
	if sum != pages*pageSize {
		t.Errorf("the rows add up to %d bytes, the database has %d pages of %d (%d bytes)", sum, pages, pageSize, pages*pageSize)
	}
	for _, want := range []TableSize{{Table: "contacts"}, {Table: "contacts", Index: "contacts_email"}, {Table: "list_members"}, {Table: "event_rows", Index: "events_unattached"}} {
		if !seen[want] {
			t.Errorf("no row for %+v in %v", want, sizes)
		}
	}
	if i := slices.IndexFunc(sizes, func(r TableSize) bool { return r.Table == "contacts" && r.Index == "" }); i < 0 || sizes[i].Bytes == 0 {
		t.Errorf("the contacts table takes no space: %v", sizes)
	}
}
