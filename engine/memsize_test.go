package engine

import (
	"slices"
	"testing"
)

// TestAllocSizeMatchesRuntime: append rounds a slice's capacity up to the
// allocation the runtime makes, so it tells allocSize's truth.
func TestAllocSizeMatchesRuntime(t *testing.T) {
	for n := 1; n <= 40000; n++ {
		want := int64(cap(slices.Grow([]byte(nil), n)))
		if got := allocSize(int64(n)); got != want {
			t.Fatalf("allocSize(%d) = %d, want %d", n, got, want)
		}
	}
}
