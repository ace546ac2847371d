package postgres

import (
	"fmt"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// TestSizes checks that the breakdown names segmentd's tables and indexes,
// largest first, that Size is its sum, and that the tables written to take
// space: on Citus on the workers, where the shards are.
func TestSizes(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := t.Context()
		s := openFresh(t, srv)
		now := time.Now()
		a, err := s.CreateAccount(ctx, "acme", 0, now)
		if err != nil {
			t.Fatal(err)
		}
		var ps []segmentd.ContactPatch
		var evs []segmentd.Event
		for i := range 200 {
			email := fmt.Sprintf("c%03d@example.com", i)
			ps = append(ps, segmentd.ContactPatch{Email: &email})
			evs = append(evs, segmentd.Event{Email: email, Type: "open", Timestamp: now, SGEventID: fmt.Sprint("e", i)})
		}
		if _, err := s.UpsertContacts(ctx, a.ID, ps, nil, now); err != nil {
			t.Fatal(err)
		}
		if _, err := s.AddEvents(ctx, a.ID, evs); err != nil {
			t.Fatal(err)
		}
		sizes, err := s.Sizes(ctx)
		if err != nil {
			t.Fatal(err)
		}
		index := "contacts_email"
		if srv == citusServer {
			index = CitusIndexes
		}
		var sum int64
		got := map[TableSize]int64{}
		for i, r := range sizes {
			if r.Bytes < 0 || i > 0 && r.Bytes > sizes[i-1].Bytes {
				t.Errorf("%+v after %+v: not largest first, or negative", r, sizes[max(i-1, 0)])
			}
			sum += r.Bytes
			got[TableSize{Table: r.Table, Index: r.Index}] = r.Bytes
		}
		for _, want := range []TableSize{{Table: "contacts"}, {Table: "contacts", Index: index}, {Table: "events"}, {Table: "accounts"}} {
			if got[want] <= 0 {
				t.Errorf("%+v: %d bytes, want more than nothing (rows: %v)", want, got[want], sizes)
			}
		}
		if total, err := s.Size(ctx); err != nil || total != sum {
			t.Errorf("Size = %d, %v; want the rows' sum %d", total, err, sum)
		}
	})
}
