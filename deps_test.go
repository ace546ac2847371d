package segmentd_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/segmentd/segmentd"
)

// TestImports keeps the arrows pointing one way (docs/ARCHITECTURE.md):
// each package listed may depend, directly or not, on the standard library
// and on the module packages named beside it, and on nothing else; the
// domain package and the query language never reach HTTP or database/sql,
// even through the standard library.
func TestImports(t *testing.T) {
	const module = "github.com/segmentd/segmentd"
	noIO := []string{"net/http", "database/sql"}
	for _, tt := range []struct {
		pkg       string   // relative to the module root
		allowed   []string // module packages, relative to the module root
		forbidden []string // standard packages it must not reach either
	}{
		{pkg: ".", forbidden: noIO},
		{pkg: "query", forbidden: noIO},
		{pkg: "criteria", allowed: []string{"query", "internal/jsoncheck"}, forbidden: noIO},
		{pkg: "internal/jsoncheck", forbidden: noIO},
		{pkg: "internal/snapshot", allowed: []string{"."}},
		{pkg: "internal/journal", forbidden: noIO},
	} {
		t.Run(tt.pkg, func(t *testing.T) {
			path := module
			if tt.pkg != "." {
				path += "/" + tt.pkg
			}
			out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", "./"+tt.pkg).Output()
			if err != nil {
				t.Fatalf("go list: %v", err)
			}
			allowed := map[string]bool{path: true}
			for _, a := range tt.allowed {
				allowed[strings.TrimSuffix(module+"/"+a, "/.")] = true
			}
			n := 0
			for line := range strings.Lines(string(out)) {
				dep, standard, _ := strings.Cut(strings.TrimSpace(line), " ")
				n++
				switch {
				case slices.Contains(tt.forbidden, dep):
					t.Errorf("%s depends on %s", tt.pkg, dep)
				case standard != "true" && !allowed[dep]:
					t.Errorf("%s depends on %s", tt.pkg, dep)
				}
			}
			if n < 5 {
				t.Fatalf("go list named only %d packages:\n%s", n, out)
			}
		})
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

// TestPgxConfined: the PostgreSQL driver is imported by the PostgreSQL
// store alone (its tests included); everything else reaches the database
// through the store interfaces.
func TestPgxConfined(t *testing.T) {
	const owner = "github.com/segmentd/segmentd/postgres"
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}} {{join .Imports \" \"}} {{join .TestImports \" \"}} {{join .XTestImports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	n := 0
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		n++
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, "github.com/jackc/pgx/") && fields[0] != owner {
				t.Errorf("%s imports %s: only %s may", fields[0], imp, owner)
			}
		}
	}
	if n < 10 {
		t.Fatalf("go list named only %d packages:\n%s", n, out)
	}
}
