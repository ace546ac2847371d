package bench

import (
	"strings"
	"testing"
)

func TestBenchGenDeterministic(t *testing.T) {
	g := benchGen{contacts: 100}
	if a, b := g.email(5), g.email(5); a != b || !strings.HasPrefix(a, "user5@") {
		t.Fatalf("email(5) = %q, %q", a, b)
	}
}
