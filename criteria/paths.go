package criteria

import (
	"strconv"

	"github.com/segmentd/segmentd/query"
)

// Paths maps the expressions of stmt, the criteria's translation by
// Select, back to the JSON paths of the groups and conditions they stand
// for ("criteria", "criteria.group[1]", "criteria.group[1].group[0]"), so
// that an explanation of the query speaks in the document's terms.
//
// Select writes a group of n items as a left-nested chain of n-1 ANDs or
// ORs over their translations in order, each sub-group in parentheses;
// Paths walks the same shape (a test checks it covers every group and
// condition).
func (c *Criteria) Paths(stmt *query.SelectStmt) map[query.Expr]string {
	out := map[query.Expr]string{}
	groupPaths(c.root, stmt.Where, "criteria", out)
	return out
}

func groupPaths(g *group, x query.Expr, path string, out map[query.Expr]string) {
	out[x] = path
	ops := make([]query.Expr, len(g.items))
	for i := len(g.items) - 1; i > 0; i-- {
		b, ok := x.(*query.BinaryExpr)
		if !ok {
			return // not Select's shape: leave the rest unnamed
		}
		ops[i], x = b.Y, b.X
	}
	ops[0] = x
	for i, it := range g.items {
		ipath := path + ".group[" + strconv.Itoa(i) + "]"
		switch it := it.(type) {
		case *group:
			out[ops[i]] = ipath
			if p, ok := ops[i].(*query.ParenExpr); ok {
				groupPaths(it, p.X, ipath, out)
			}
		case *leaf:
			out[ops[i]] = it.path
			if p, ok := ops[i].(*query.ParenExpr); ok {
				out[p.X] = it.path
			}
		}
	}
}
