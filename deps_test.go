package segmentd_test

import (
	"os/exec"
	"strings"
	"testing"
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
