package query

import (
	"fmt"
	"strings"
)

// Dump renders the AST of q as an indented tree, one node per line, for
// golden files and debugging. With positions false it omits source
// positions, so two parses of equivalent text dump alike.
func Dump(q *Query, positions bool) string {
	d := dumper{pos: positions}
	d.line(0, q.Pos(), "Query %s", q.Lang)
	if q.Stmt != nil {
		d.stmt(1, q.Stmt)
	} else if q.Expr != nil {
		d.expr(1, q.Expr)
	}
	return d.b.String()
}

type dumper struct {
	pos bool
	b   strings.Builder
}

func (d *dumper) line(depth int, pos Pos, format string, args ...any) {
	d.b.WriteString(strings.Repeat("  ", depth))
	fmt.Fprintf(&d.b, format, args...)
	if d.pos {
		d.b.WriteString(" @")
		d.b.WriteString(pos.String())
	}
	d.b.WriteByte('\n')
}

func notStr(not bool) string {
	if not {
		return "NOT "
	}
	return ""
}

func identStr(id *Ident) string {
	if id.Quote != 0 {
		return fmt.Sprintf("%c%s%c", id.Quote, id.Name, id.Quote)
	}
	return id.Name
}

func (d *dumper) expr(n int, x Expr) {
	switch x := x.(type) {
	case *Ident:
		d.line(n, x.Pos(), "Ident %s", identStr(x))
	case *SelectorExpr:
		d.line(n, x.Pos(), "Column %s.%s", identStr(x.X), identStr(x.Sel))
	case *BasicLit:
		if x.Kind == STRING {
			d.line(n, x.Pos(), "String %q", x.Value)
		} else {
			d.line(n, x.Pos(), "Number %s", x.Value)
		}
	case *BoolLit:
		d.line(n, x.Pos(), "Bool %t", x.Value)
	case *NullLit:
		d.line(n, x.Pos(), "Null")
	case *TimestampLit:
		d.line(n, x.Pos(), "Timestamp %q", x.Value.Value)
	case *IntervalLit:
		d.line(n, x.Pos(), "Interval %s %s", x.Value.Value, identStr(x.Unit))
	case *ArrayLit:
		d.line(n, x.Pos(), "Array")
		for _, e := range x.Elems {
			d.expr(n+1, e)
		}
	case *ParenExpr:
		d.line(n, x.Pos(), "Paren")
		d.expr(n+1, x.X)
	case *UnaryExpr:
		d.line(n, x.Pos(), "Unary %s", x.Op)
		d.expr(n+1, x.X)
	case *BinaryExpr:
		d.line(n, x.OpPos, "Binary %s", x.Op)
		d.expr(n+1, x.X)
		d.expr(n+1, x.Y)
	case *LikeExpr:
		d.line(n, x.OpPos, "%sLike", notStr(x.Not))
		d.expr(n+1, x.X)
		d.expr(n+1, x.Pattern)
	case *BetweenExpr:
		d.line(n, x.OpPos, "%sBetween", notStr(x.Not))
		d.expr(n+1, x.X)
		d.expr(n+1, x.Lo)
		d.expr(n+1, x.Hi)
	case *IsNullExpr:
		d.line(n, x.OpPos, "Is%sNull", strings.TrimSpace(" "+notStr(x.Not)))
		d.expr(n+1, x.X)
	case *InExpr:
		d.line(n, x.OpPos, "%sIn", notStr(x.Not))
		d.expr(n+1, x.X)
		if x.Select != nil {
			d.stmt(n+1, x.Select)
		}
		for _, e := range x.List {
			d.expr(n+1, e)
		}
	case *CallExpr:
		paren := ""
		if x.NoParens {
			paren = " (no parens)"
		}
		d.line(n, x.Pos(), "Call %s%s", x.Fun.Name, paren)
		for _, e := range x.Args {
			d.expr(n+1, e)
		}
	default:
		d.line(n, Pos{}, "?%T", x)
	}
}

func (d *dumper) table(n int, label string, t *TableRef) {
	alias := ""
	if t.Alias != nil {
		alias = " AS " + identStr(t.Alias)
	}
	d.line(n, t.Pos(), "%s %s%s", label, identStr(t.Name), alias)
}

func (d *dumper) stmt(n int, s *SelectStmt) {
	d.line(n, s.Pos(), "Select")
	for _, it := range s.Items {
		if it.Alias != nil {
			d.line(n+1, it.Pos(), "Item AS %s", identStr(it.Alias))
		} else {
			d.line(n+1, it.Pos(), "Item")
		}
		d.expr(n+2, it.X)
	}
	d.table(n+1, "From", s.From)
	for _, j := range s.Joins {
		inner := ""
		if j.Inner {
			inner = "Inner"
		}
		d.table(n+1, inner+"Join", j.Table)
		d.line(n+2, j.On.Pos(), "On")
		d.expr(n+3, j.On)
	}
	if s.Where != nil {
		d.line(n+1, s.Where.Pos(), "Where")
		d.expr(n+2, s.Where)
	}
	if len(s.GroupBy) > 0 {
		d.line(n+1, s.GroupBy[0].Pos(), "GroupBy")
		for _, g := range s.GroupBy {
			d.expr(n+2, g)
		}
		if s.Having != nil {
			d.line(n+1, s.Having.Pos(), "Having")
			d.expr(n+2, s.Having)
		}
	}
}
