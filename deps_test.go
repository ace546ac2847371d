package segmentd_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/segmentd/segmentd"
)

// TestDomainImportsStandardLibraryOnly keeps the arrows pointing one way:
// the domain package must not depend on any store, face, engine or
// third-party module (docs/ARCHITECTURE.md).
func TestDomainImportsStandardLibraryOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/segmentd/segmentd" {
			t.Errorf("the domain package depends on %s", p)
		}
	}
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		id := segmentd.NewID()
		if !segmentd.IsUUID(id) || id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) || seen[id] {
			t.Fatalf("NewID = %q: not a fresh version-4 UUID", id)
		}
		seen[id] = true
	}
}
