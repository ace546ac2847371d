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
		{pkg: "internal/jsonenc", forbidden: noIO},
		{pkg: "internal/snapshot", allowed: []string{".", "internal/fsync"}},
		{pkg: "internal/journal", allowed: []string{"internal/fsync"}, forbidden: noIO},
		{pkg: "internal/fsync", forbidden: noIO},
		{pkg: "internal/eventblock", allowed: []string{"."}, forbidden: noIO},
		{pkg: "examples/receiver"}, // copied into others' projects: the standard library only
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

// TestConfined: a third-party library is imported by the one package
// that owns it (its tests included); everything else reaches it through
// that package. The PostgreSQL driver belongs to the PostgreSQL store, the
// Prometheus client library to internal/metrics; Prometheus's text parser
// (prometheus/common, client_model) may be imported by tests as well, to
// read /metrics as a scraper does. The browser driver chromedp belongs to
// cmd/segmentd's tests alone (the console's browser tests), never to the
// binary.
func TestConfined(t *testing.T) {
	const module = "github.com/segmentd/segmentd/"
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}|{{join .Imports \" \"}}|{{join .TestImports \" \"}} {{join .XTestImports \" \"}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, tt := range []struct {
		prefix string
		owner  string
		tests  bool // tests of any package may import it too
		// testOnly: the owner may import it from its tests only.
		testOnly bool
	}{
		{prefix: "github.com/jackc/pgx/", owner: module + "postgres"},
		{prefix: "github.com/prometheus/client_golang/", owner: module + "internal/metrics"},
		{prefix: "github.com/prometheus/", owner: module + "internal/metrics", tests: true},
		{prefix: "github.com/chromedp/", owner: module + "cmd/segmentd", testOnly: true},
	} {
		n := 0
		for line := range strings.Lines(string(out)) {
			fields := strings.Split(strings.TrimSpace(line), "|")
			if len(fields) != 3 {
				continue
			}
			n++
			pkg := fields[0]
			check := strings.Fields(fields[1])
			if !tt.tests {
				check = append(check, strings.Fields(fields[2])...)
			}
			for _, imp := range check {
				if strings.HasPrefix(imp, tt.prefix) && pkg != tt.owner {
					t.Errorf("%s imports %s: only %s may", pkg, imp, tt.owner)
				}
			}
			for _, imp := range strings.Fields(fields[1]) {
				if tt.testOnly && strings.HasPrefix(imp, tt.prefix) && pkg == tt.owner {
					t.Errorf("%s imports %s outside its tests", pkg, imp)
				}
			}
		}
		if n < 10 {
			t.Fatalf("go list named only %d packages:\n%s", n, out)
		}
	}
}
