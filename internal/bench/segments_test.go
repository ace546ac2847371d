package bench

import (
	"strings"
	"testing"
)

func TestGenEmailDeterministic(t *testing.T) {
	if a, b := genEmail(5), genEmail(5); a != b || !strings.HasPrefix(a, "user5@") {
		t.Fatalf("email(5) = %q, %q", a, b)
	}
}
