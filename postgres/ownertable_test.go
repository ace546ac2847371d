package postgres

import (
	"math/rand/v2"
	"testing"
)

// The owners' table against a Go map, through inserts and removals with
// growth: hashes from a narrow range (neighbouring home slots, long runs
// that wrap around the table's end) and from a wide one. Every entry
// inserted and not removed is found with its value, no other is.
func TestOwnerTable(t *testing.T) {
	for _, narrow := range []bool{true, false} {
		rng := rand.New(rand.NewPCG(1, 7))
		hash := func(i uint64) uint64 {
			if narrow {
				return i
			}
			return i * 0x9e3779b97f4a7c15
		}
		tab := newOwnerTable(0)
		want := map[uint64]uint32{}
		for step := range 20000 {
			h := hash(rng.Uint64N(40))
			if !narrow {
				h = hash(rng.Uint64N(5000))
			}
			if rng.IntN(3) == 0 {
				tab.remove(h)
				delete(want, h)
			} else if _, ok := tab.get(h); !ok {
				tab.insert(h, ownerEntry{off: uint32(step), email: 1})
				want[h] = uint32(step)
			}
			if tab.n != len(want) {
				t.Fatalf("narrow %v, step %d: %d entries, want %d", narrow, step, tab.n, len(want))
			}
			if step%97 != 0 {
				continue
			}
			for h, off := range want {
				if e, ok := tab.get(h); !ok || e.off != off {
					t.Fatalf("narrow %v, step %d: hash %x gives %+v %v, want off %d", narrow, step, h, e, ok, off)
				}
			}
			for i := range uint64(5000) {
				if _, in := want[hash(i)]; !in {
					if e, ok := tab.get(hash(i)); ok {
						t.Fatalf("narrow %v, step %d: hash %x not inserted or removed, found: %+v", narrow, step, hash(i), e)
					}
				}
			}
		}
		if len(tab.slots) < 8 || tab.n*4 > len(tab.slots)*3 {
			t.Fatalf("narrow %v: %d entries in %d slots", narrow, tab.n, len(tab.slots))
		}
	}
}
