package query

import (
	"math/rand/v2"
	"testing"
)

// TestFastLike checks the direct tests of common LIKE shapes against the
// general matcher, on patterns and subjects built from ASCII, multi-byte
// runes and stray continuation bytes.
func TestFastLike(t *testing.T) {
	alphabet := []string{"a", "b", "@", "%", "_", "é", "€", "\x82", "\xac", "\xe2", "\\"}
	rng := rand.New(rand.NewPCG(1, 2))
	word := func(n int) string {
		s := ""
		for range rng.IntN(n) {
			s += alphabet[rng.IntN(len(alphabet))]
		}
		return s
	}
	checked := 0
	for range 20000 {
		for _, lang := range []Lang{SGQL, SQL} {
			lp := compileLike(lang, word(6))
			if lp.fast == nil {
				continue
			}
			checked++
			for range 20 {
				s := word(8)
				if got, want := lp.fast(s), matchParts(lp.parts, s); got != want {
					t.Fatalf("pattern %q (%v) on %q: fast %v, general %v", lp.src, lang, s, got, want)
				}
			}
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d patterns took a fast path", checked)
	}
}
