package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestDictIndex: strings added, removed and added again in a random order,
// through a small table that grows: each lookup answers what a map does,
// and a delete leaves every other string findable (the back shift).
func TestDictIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := newDictIndex(0)
	vals := []string{""}
	want := map[string]uint32{}
	var free []uint32
	for step := range 20000 {
		s := fmt.Sprintf("v%d", rng.IntN(3000))
		if c, ok := want[s]; ok && rng.IntN(2) == 0 {
			x.del(s, c)
			delete(want, s)
			vals[c] = ""
			free = append(free, c)
		} else if !ok {
			var c uint32
			if n := len(free); n > 0 {
				c, free = free[n-1], free[:n-1]
				vals[c] = s
			} else {
				c = uint32(len(vals))
				vals = append(vals, s)
			}
			x.put(s, c)
			want[s] = c
		}
		if step%500 != 0 {
			continue
		}
		if x.n != len(want) {
			t.Fatalf("step %d: %d held, want %d", step, x.n, len(want))
		}
		for i := range 3100 {
			s := fmt.Sprintf("v%d", i)
			c, ok := x.get(vals, s)
			if wc, wok := want[s]; ok != wok || c != wc {
				t.Fatalf("step %d: %s → %d %v, want %d %v", step, s, c, ok, wc, wok)
			}
		}
	}
	if len(x.slots)*3 < x.n*4 {
		t.Fatalf("%d entries in %d slots", x.n, len(x.slots))
	}
}
