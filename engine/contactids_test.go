package engine

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/cputime"
	"github.com/segmentd/segmentd/query"
)

func TestParseUUID(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"0190b7a2-4c1d-7e3f-8a9b-0c1d2e3f4a5b", true},
		{"00000000-0000-0000-0000-000000000000", true},
		{"0190B7A2-4C1D-7E3F-8A9B-0C1D2E3F4A5B", false}, // would not print back the same
		{"0190b7a2-4c1d-7e3f-8a9b-0c1d2e3f4a5", false},
		{"0190b7a24c1d-7e3f-8a9b-0c1d2e3f4a5b-", false},
		{"0190b7a2-4c1d-7e3f-8a9b-0c1d2e3f4a5g", false},
		{"c01", false},
	} {
		u, ok := parseUUID(tc.in)
		if ok != tc.ok {
			t.Errorf("parseUUID(%q) ok = %v, want %v", tc.in, ok, tc.ok)
		}
		if ok && u.String() != tc.in {
			t.Errorf("parseUUID(%q).String() = %q", tc.in, u.String())
		}
	}
}

// TestContactIDs drives the id table with random sets and removes of UUID
// and other ids, reusing freed indexes as the engine does, and compares it
// (lookup, lookupMany and str) with a plain map every 97 steps.
func TestContactIDs(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var ids contactIDs
	want := map[string]uint32{}
	byIdx := map[uint32]string{}
	var free []uint32
	pool := make([]string, 3000)
	for i := range pool {
		if i%10 == 0 {
			pool[i] = fmt.Sprint("c", i)
			continue
		}
		var b [16]byte
		for j := range b {
			b[j] = byte(rng.IntN(4)) // few distinct bytes: many equal hashes' neighbours
		}
		b[15] = byte(i)
		b[14] = byte(i >> 8)
		pool[i] = segmentd.FormatUUID(b)
	}
	for step := range 50000 {
		id := pool[rng.IntN(len(pool))]
		if idx, ok := want[id]; ok {
			ids.remove(idx)
			delete(want, id)
			delete(byIdx, idx)
			free = append(free, idx)
		} else {
			idx := uint32(ids.len())
			if n := len(free); n > 0 && rng.IntN(2) == 0 {
				idx, free = free[n-1], free[:n-1]
			}
			ids.set(idx, id)
			want[id] = idx
			byIdx[idx] = id
		}
		if step%97 != 0 {
			continue
		}
		at := make([]int64, len(pool))
		ids.lookupMany(pool, at)
		for i, id := range pool {
			idx, ok := ids.lookup(id)
			widx, wok := want[id]
			if ok != wok || ok && idx != widx {
				t.Fatalf("step %d: lookup(%q) = %d, %v, want %d, %v", step, id, idx, ok, widx, wok)
			}
			if wat := int64(widx); !wok && at[i] != -1 || wok && at[i] != wat {
				t.Fatalf("step %d: lookupMany gave %q %d, want %d (known %v)", step, id, at[i], widx, wok)
			}
		}
		for idx, id := range byIdx {
			if got := ids.str(idx); got != id {
				t.Fatalf("step %d: str(%d) = %q, want %q", step, idx, got, id)
			}
		}
	}
	if ids.used+len(ids.odd) != len(want) {
		t.Fatalf("table holds %d ids, want %d", ids.used+len(ids.odd), len(want))
	}
}

// TestSnapshotContactIDs: a snapshot keeps UUID and other ids, free
// indexes included, and a load refuses one whose live contacts share an id.
func TestSnapshotContactIDs(t *testing.T) {
	e := New()
	var cs []segmentd.Contact
	for i := range 6 {
		id := fmt.Sprintf("0190b7a2-4c1d-7e3f-8a9b-%012x", i)
		if i%3 == 0 {
			id = fmt.Sprint("c", i)
		}
		cs = append(cs, segmentd.Contact{ID: id, Email: fmt.Sprintf("u%d@x.test", i)})
	}
	e.PutContacts(1, cs, base)
	e.DeleteContacts(1, []string{cs[1].ID, cs[3].ID}, base) // a UUID and another id
	e2, snap := roundTrip(t, e)
	ch := mustCheck(t, e2, 1, query.SGQL, "email LIKE '%@x.test'")
	got, n, _ := e2.Search(1, ch, -1, base)
	want := []string{cs[0].ID, cs[2].ID, cs[4].ID, cs[5].ID}
	if n != len(want) || !slices.Equal(got, want) {
		t.Fatalf("loaded contacts = %q, want %q", got, want)
	}
	e2.PutContacts(1, []segmentd.Contact{{ID: "c9"}, cs[1]}, base) // reuse the freed indexes
	if got := e2.Stats(1).Contacts; got != 6 {
		t.Fatalf("contacts after reuse = %d, want 6", got)
	}

	// Give contact 5 contact 4's id.
	u4, _ := parseUUID(cs[4].ID)
	u5, _ := parseUUID(cs[5].ID)
	bad := bytes.Clone(snap)
	i := bytes.Index(bad, u5[:])
	copy(bad[i:], u4[:])
	if err := New().ReadSnapshot(bytes.NewReader(bad)); err == nil {
		t.Fatal("a snapshot with two contacts of one id was loaded")
	}
}

// TestSnapshotEventsAppend: events added to a contact after a snapshot
// load are encoded after its last stored one, as in the engine that wrote
// the snapshot.
func TestSnapshotEventsAppend(t *testing.T) {
	e := buildWorld(t, 50, true)
	e2, _ := roundTrip(t, e)
	for i := range 50 {
		id := genContact(i, base).ID
		more := []query.Event{{Source: "mail", Type: "open", Timestamp: base.UnixMilli() - int64(i)}}
		e.AddEvents(1, id, more, base)
		e2.AddEvents(1, id, more, base)
	}
	a, a2 := e.get(1), e2.get(1)
	for i := range 50 {
		idx, _ := a.ids.lookup(genContact(i, base).ID)
		idx2, _ := a2.ids.lookup(genContact(i, base).ID)
		var ts, ts2 []int64
		for r := (eventReader{b: a.events[idx]}); r.skip(); {
			ts = append(ts, r.ts)
		}
		for r := (eventReader{b: a2.events[idx2]}); r.skip(); {
			ts2 = append(ts2, r.ts)
		}
		if !slices.Equal(ts, ts2) {
			t.Fatalf("contact %d: event times %v after the load, want %v", i, ts2, ts)
		}
	}
}

// roundTrip writes e's snapshot and loads it into a new engine, which it
// returns with the snapshot's bytes.
func roundTrip(t *testing.T, e *Engine) (*Engine, []byte) {
	t.Helper()
	var buf bytes.Buffer
	if err := e.WriteSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	e2 := New()
	if err := e2.ReadSnapshot(bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	return e2, buf.Bytes()
}

// BenchmarkLookupMany compares lookupMany with lookup one id after
// another over the ids of a million contacts, in the rebuild's random
// order, in pages of 50,000 (the rebuild's events page).
func BenchmarkLookupMany(b *testing.B) {
	const n, page = 1_000_000, 50_000
	var t contactIDs
	ids := make([]string, n)
	for i := range ids {
		ids[i] = genContact(i, base).ID
		t.set(uint32(i), ids[i])
	}
	rng := rand.New(rand.NewPCG(3, 4))
	pg := make([]string, page)
	for i := range pg {
		pg[i] = ids[rng.IntN(n)]
	}
	at := make([]int64, page)
	b.Run("one", func(b *testing.B) {
		c0 := cputime.Process()
		for b.Loop() {
			for i, id := range pg {
				idx, _ := t.lookup(id)
				at[i] = int64(idx)
			}
		}
		b.ReportMetric(float64((cputime.Process()-c0).Nanoseconds())/float64(b.N*page), "cpu-ns/id")
	})
	b.Run("many", func(b *testing.B) {
		c0 := cputime.Process()
		for b.Loop() {
			t.lookupMany(pg, at)
		}
		b.ReportMetric(float64((cputime.Process()-c0).Nanoseconds())/float64(b.N*page), "cpu-ns/id")
	})
}
