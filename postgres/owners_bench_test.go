package postgres

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkOwnersResolve: an event batch's owner lookups (resolve) of
// 1,000 random emails of an account whose million owners are remembered,
// the realistic bench's size.
func BenchmarkOwnersResolve(b *testing.B) {
	const n = 1_000_000
	var o owners
	found := make(map[string]string, n)
	emails := make([]string, n)
	for i := range emails {
		emails[i] = fmt.Sprintf("contact%07d@example.com", i)
		found[emails[i]] = fmt.Sprintf("0190e5a2-7c41-7000-8000-%012d", i)
	}
	o.learn(1, 1, found)
	rng := rand.New(rand.NewPCG(1, 2))
	batch := make([]string, 1000)
	b.ResetTimer()
	for b.Loop() {
		for i := range batch {
			batch[i] = emails[rng.IntN(n)]
		}
		if _, ids, known, _, _ := o.resolve(1, batch); !known || ids[0] == "" {
			b.Fatal("not remembered")
		}
	}
}
