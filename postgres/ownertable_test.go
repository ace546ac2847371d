package postgres

import (
	"fmt"
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

// TestOwnersCompact: an upsert that gives 2,000 of an account's 3,000
// remembered emails new owners leaves 2,000 dead texts, which compact
// drops: the count towards maxOwners and the text are those of the 3,000
// live entries again, and every email gives its new owner.
func TestOwnersCompact(t *testing.T) {
	var o owners
	const acct = 7
	own := func(gen string) []ownedEmail {
		var ws []ownedEmail
		for i := range 3000 {
			g := "a"
			if i < 2000 {
				g = gen
			}
			ws = append(ws, ownedEmail{email: fmt.Sprintf("c%d@example.com", i), id: fmt.Sprintf("%s-%d", g, i), sole: true})
		}
		return ws
	}
	o.wrote(acct, 1, true, nil, own("a"))
	o.wrote(acct, 2, false, nil, own("b"))
	a := o.accts[acct]
	live := 0
	for _, w := range own("b") {
		live += len(w.email) + len(w.id)
	}
	if o.n != 3000 || a.dead != 0 || a.tab.n != 3000 || len(a.text) != live || !a.complete {
		t.Fatalf("after compaction: %d counted, %d dead, %d entries, %d bytes of text (want 3000, 0, 3000, %d), complete %v",
			o.n, a.dead, a.tab.n, len(a.text), live, a.complete)
	}
	var emails []string
	for _, w := range own("b") {
		emails = append(emails, w.email)
	}
	got := o.known(acct, 2, emails)
	for i, w := range own("b") {
		if got[i] == nil || *got[i] != w.id {
			t.Fatalf("%s: owner %v, want %s", w.email, got[i], w.id)
		}
	}
}
