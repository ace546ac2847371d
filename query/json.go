package query

import (
	"encoding/json"
	"strings"
)

// JSON renders q as query_json, segmentd's documented AST format
// (docs/query-json.schema.json). Its top level follows the skeleton of
// SendGrid's legacy segment_query_json, {"contacts": NODE}, with
// NODE = {"op", "l", "r"} for operators and LEAF = {"t", "v"} (plus "args"
// for calls) for operands.
func JSON(q *Query) ([]byte, error) {
	return json.Marshal(QueryJSON(q))
}

// QueryJSON returns the query_json value of q, ready for encoding/json.
func QueryJSON(q *Query) map[string]any {
	top := map[string]any{"dialect": q.Lang.String()}
	if q.Stmt != nil {
		sel := stmtJSON(q.Stmt)
		delete(sel, "where")
		top["select"] = sel
		if q.Stmt.Where != nil {
			top["contacts"] = exprJSON(q.Stmt.Where)
		} else {
			top["contacts"] = nil
		}
	} else {
		top["contacts"] = exprJSON(q.Expr)
	}
	return top
}

func leaf(t string, v any, pos Pos) map[string]any {
	m := map[string]any{"t": t, "pos": pos.String()}
	if v != nil {
		m["v"] = v
	}
	return m
}

func op(o string, pos Pos, l, r any) map[string]any {
	m := map[string]any{"op": o, "pos": pos.String(), "l": l}
	if r != nil {
		m["r"] = r
	}
	return m
}

func notOp(not bool, o string) string {
	if not {
		return "NOT " + o
	}
	return o
}

func identJSON(id *Ident, table *Ident) map[string]any {
	m := leaf("field", id.Name, id.Pos())
	if id.Quote != 0 {
		m["quoted"] = true
	}
	if table != nil {
		m["table"] = table.Name
		m["pos"] = table.Pos().String()
	}
	return m
}

func listJSON(xs []Expr) []any {
	out := make([]any, len(xs))
	for i, x := range xs {
		out[i] = exprJSON(x)
	}
	return out
}

func exprJSON(x Expr) any {
	switch x := x.(type) {
	case *Ident:
		return identJSON(x, nil)
	case *SelectorExpr:
		return identJSON(x.Sel, x.X)
	case *BasicLit:
		if x.Kind == STRING {
			return leaf("string", x.Value, x.Pos())
		}
		return leaf("number", x.Value, x.Pos())
	case *BoolLit:
		if x.Value {
			return leaf("bool", "true", x.Pos())
		}
		return leaf("bool", "false", x.Pos())
	case *NullLit:
		return leaf("null", nil, x.Pos())
	case *TimestampLit:
		return leaf("timestamp", x.Value.Value, x.Pos())
	case *IntervalLit:
		m := leaf("interval", x.Value.Value, x.Pos())
		m["unit"] = x.Unit.Name
		return m
	case *ArrayLit:
		return leaf("array", listJSON(x.Elems), x.Pos())
	case *ParenExpr:
		return op("PAREN", x.Pos(), exprJSON(x.X), nil)
	case *UnaryExpr:
		if x.Op == NOT {
			return op("NOT", x.OpPos, exprJSON(x.X), nil)
		}
		return op("NEG", x.OpPos, exprJSON(x.X), nil)
	case *BinaryExpr:
		return op(x.Op.String(), x.OpPos, exprJSON(x.X), exprJSON(x.Y))
	case *LikeExpr:
		return op(notOp(x.Not, "LIKE"), x.OpPos, exprJSON(x.X), exprJSON(x.Pattern))
	case *BetweenExpr:
		return op(notOp(x.Not, "BETWEEN"), x.OpPos, exprJSON(x.X),
			leaf("range", []any{exprJSON(x.Lo), exprJSON(x.Hi)}, x.Lo.Pos()))
	case *IsNullExpr:
		o := "IS NULL"
		if x.Not {
			o = "IS NOT NULL"
		}
		return op(o, x.OpPos, exprJSON(x.X), nil)
	case *InExpr:
		var r map[string]any
		if x.Select != nil {
			r = leaf("select", stmtJSON(x.Select), x.Select.Pos())
		} else {
			r = leaf("list", listJSON(x.List), x.List[0].Pos())
		}
		return op(notOp(x.Not, "IN"), x.OpPos, exprJSON(x.X), r)
	case *CallExpr:
		m := leaf("call", strings.ToUpper(x.Fun.Name), x.Pos())
		m["args"] = listJSON(x.Args)
		if x.NoParens {
			m["parens"] = false
		}
		return m
	}
	return nil
}

func tableJSON(t *TableRef) map[string]any {
	m := map[string]any{"table": t.Name.Name, "pos": t.Pos().String()}
	if t.Alias != nil {
		m["alias"] = t.Alias.Name
	}
	return m
}

func stmtJSON(s *SelectStmt) map[string]any {
	m := map[string]any{"pos": s.Pos().String(), "from": tableJSON(s.From)}
	var cols []any
	for _, it := range s.Items {
		c := map[string]any{"expr": exprJSON(it.X)}
		if it.Alias != nil {
			c["alias"] = it.Alias.Name
		}
		cols = append(cols, c)
	}
	m["columns"] = cols
	if len(s.Joins) > 0 {
		var js []any
		for _, j := range s.Joins {
			jm := tableJSON(j.Table)
			jm["inner"] = j.Inner
			jm["on"] = exprJSON(j.On)
			js = append(js, jm)
		}
		m["joins"] = js
	}
	if s.Where != nil {
		m["where"] = exprJSON(s.Where)
	}
	if len(s.GroupBy) > 0 {
		m["group_by"] = listJSON(s.GroupBy)
		if s.Having != nil {
			m["having"] = exprJSON(s.Having)
		}
	}
	return m
}
