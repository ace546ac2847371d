package criteria

import (
	"strconv"
	"testing"
)

// Paths names every group and condition of every valid document: each
// leaf's path, and each group's unless it holds one item (whose
// expression is then the item's, named by the item's path).
func TestPathsCoverEveryNode(t *testing.T) {
	cat := testCatalog(t)
	for _, src := range readCases(t, "valid.txt") {
		c, err := Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		stmt, err := c.Select(cat, testCampaigns)
		if err != nil {
			t.Fatal(err)
		}
		named := map[string]bool{}
		for _, p := range c.Paths(stmt) {
			named[p] = true
		}
		var walk func(g *group, path string)
		walk = func(g *group, path string) {
			if len(g.items) > 1 && !named[path] {
				t.Errorf("%s: group %s is not named", src, path)
			}
			for i, it := range g.items {
				ipath := path + ".group[" + strconv.Itoa(i) + "]"
				switch it := it.(type) {
				case *group:
					walk(it, ipath)
				case *leaf:
					if it.path != ipath || !named[ipath] {
						t.Errorf("%s: condition %s (%s) is not named", src, ipath, it.path)
					}
				}
			}
		}
		walk(c.root, "criteria")
	}
}
