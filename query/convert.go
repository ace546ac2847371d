package query

import (
	"fmt"
	"strings"
)

// ConvertV1 rewrites a Segments v1 SGQL query, with its optional parent list,
// as an equivalent Segments 2.0 SQL query (docs/decisions.md §10, `segmentd
// migrate-v1`). The rules, documented in docs/query-language.md:
//
//   - the predicate becomes the WHERE of SELECT c.contact_id, c.updated_at
//     FROM contact_data AS c, with every field qualified by c;
//   - parent_list_id X adds array_contains(c.list_ids, ['X']) AND (...),
//     SendGrid's own definition of parent_list_id;
//   - each engagement group becomes c.contact_id IN (SELECT e.contact_id
//     FROM event_data AS e WHERE ...);
//   - CONTAINS(a, v) becomes array_contains(c.a, [v]); NOW() becomes
//     current_timestamp; t ± INTERVAL n unit becomes timestampadd(unit, ±n, t);
//   - LIKE patterns are re-escaped ('_' and a literal '%' are wildcards in
//     SQL but not in SGQL).
//
// CONCAT(a, b) becomes (a + b). LENGTH has no Segments 2.0 equivalent and
// is reported as an error.
func ConvertV1(q *Query, cat *Catalog, parentListID string) (*Query, error) {
	if q.Lang != SGQL {
		return nil, &Error{Msg: "migrate-v1 needs an SGQL query"}
	}
	if _, err := Check(q, cat); err != nil {
		return nil, err
	}
	cv := &converter{}
	var where Expr
	var err error
	func() {
		defer func() {
			if r := recover(); r != nil {
				e, ok := r.(*Error)
				if !ok {
					panic(r)
				}
				err = e
			}
		}()
		if bareEvent(q.Expr) {
			where = cv.group(q.Expr)
		} else {
			where = cv.groupify(q.Expr)
		}
	}()
	if err != nil {
		return nil, err
	}
	if parentListID != "" {
		pl := &CallExpr{Fun: &Ident{Name: "array_contains"}, Args: []Expr{
			cCol("list_ids"), &ArrayLit{Elems: []Expr{&BasicLit{Kind: STRING, Value: parentListID}}},
		}}
		if _, isParen := where.(*ParenExpr); !isParen {
			where = &ParenExpr{X: where}
		}
		where = &BinaryExpr{X: pl, Op: AND, Y: where}
	}
	stmt := &SelectStmt{
		Items: []*SelectItem{{X: cCol("contact_id")}, {X: cCol("updated_at")}},
		From:  &TableRef{Name: &Ident{Name: "contact_data"}, Alias: &Ident{Name: "c"}},
		Where: where,
	}
	out := &Query{Lang: SQL, Stmt: stmt}
	// Round-trip through the text so the result carries positions and is
	// exactly what a client would send, and check it like one.
	res, err := ParseSQL(out.String())
	if err != nil {
		return nil, err
	}
	if _, err := Check(res, cat); err != nil {
		return nil, err
	}
	return res, nil
}

func cCol(name string) Expr { return &SelectorExpr{X: &Ident{Name: "c"}, Sel: &Ident{Name: name}} }

type converter struct {
	inEvents bool
}

func (cv *converter) group(x Expr) Expr {
	cv.inEvents = true
	inner := cv.expr(x)
	cv.inEvents = false
	sub := &SelectStmt{
		Items: []*SelectItem{{X: &SelectorExpr{X: &Ident{Name: "e"}, Sel: &Ident{Name: "contact_id"}}}},
		From:  &TableRef{Name: &Ident{Name: "event_data"}, Alias: &Ident{Name: "e"}},
		Where: inner,
	}
	return &InExpr{X: cCol("contact_id"), Select: sub}
}

func (cv *converter) groupify(x Expr) Expr {
	if !hasEvent(x) {
		return cv.expr(x)
	}
	switch x := x.(type) {
	case *ParenExpr:
		return cv.group(x.X)
	case *BinaryExpr:
		if x.Op == AND || x.Op == OR {
			return &BinaryExpr{X: cv.groupify(x.X), Op: x.Op, Y: cv.groupify(x.Y)}
		}
	case *UnaryExpr:
		if x.Op == NOT {
			return &UnaryExpr{Op: NOT, X: cv.groupify(x.X)}
		}
	}
	return cv.expr(x)
}

func unsupported(pos Pos, what string) {
	panic(errorf(pos, "cannot convert to Segments 2.0 SQL: %s has no equivalent", what))
}

func (cv *converter) list(xs []Expr) []Expr {
	out := make([]Expr, len(xs))
	for i, x := range xs {
		out[i] = cv.expr(x)
	}
	return out
}

// sqlPattern re-escapes an SGQL LIKE pattern for SQL: SGQL's only wildcard
// is '%', '%%' is a literal percent sign and '_' is literal.
func sqlPattern(p string) string {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '%' && i+1 < len(p) && p[i+1] == '%':
			b.WriteString(`\%`)
			i++
		case c == '%':
			b.WriteByte('%')
		case c == '_' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func (cv *converter) expr(x Expr) Expr {
	switch x := x.(type) {
	case *Ident:
		if cv.inEvents && isEventPseudo(x.Name) {
			return &SelectorExpr{X: &Ident{Name: "e"}, Sel: &Ident{Name: strings.ToLower(x.Name)}}
		}
		return &SelectorExpr{X: &Ident{Name: "c"}, Sel: &Ident{Name: x.Name, Quote: x.Quote}}
	case *BasicLit, *BoolLit, *NullLit, *TimestampLit:
		return x
	case *ParenExpr:
		return &ParenExpr{X: cv.expr(x.X)}
	case *UnaryExpr:
		return &UnaryExpr{Op: x.Op, X: cv.expr(x.X)}
	case *BinaryExpr:
		if iv, ok := x.Y.(*IntervalLit); ok && (x.Op == ADD || x.Op == SUB) {
			return timestampadd(iv, x.Op == SUB, cv.expr(x.X))
		}
		if iv, ok := x.X.(*IntervalLit); ok && x.Op == ADD {
			return timestampadd(iv, false, cv.expr(x.Y))
		}
		if iv, ok := unparen(x.Y).(*IntervalLit); ok && (x.Op == ADD || x.Op == SUB) {
			return timestampadd(iv, x.Op == SUB, cv.expr(x.X))
		}
		return &BinaryExpr{X: cv.expr(x.X), Op: x.Op, Y: cv.expr(x.Y)}
	case *LikeExpr:
		pat := x.Pattern
		if lit, ok := pat.(*BasicLit); ok && lit.Kind == STRING {
			pat = &BasicLit{Kind: STRING, Value: sqlPattern(lit.Value)}
		}
		return &LikeExpr{X: cv.expr(x.X), Not: x.Not, Pattern: pat}
	case *InExpr:
		return &InExpr{X: cv.expr(x.X), Not: x.Not, List: cv.list(x.List)}
	case *BetweenExpr:
		return &BetweenExpr{X: cv.expr(x.X), Not: x.Not, Lo: cv.expr(x.Lo), Hi: cv.expr(x.Hi)}
	case *IsNullExpr:
		return &IsNullExpr{X: cv.expr(x.X), Not: x.Not}
	case *IntervalLit:
		unsupported(x.Pos(), "an INTERVAL outside time arithmetic")
	case *CallExpr:
		switch strings.ToUpper(x.Fun.Name) {
		case "CONTAINS":
			return &CallExpr{Fun: &Ident{Name: "array_contains"}, Args: []Expr{
				cv.expr(x.Args[0]), &ArrayLit{Elems: []Expr{cv.expr(x.Args[1])}},
			}}
		case "NOW":
			return &CallExpr{Fun: &Ident{Name: "current_timestamp"}, NoParens: true}
		case "LOWER":
			return &CallExpr{Fun: &Ident{Name: "lower"}, Args: cv.list(x.Args)}
		case "CONCAT":
			// Segments 2.0 has no CONCAT; segmentd's SQL reads string + string
			// as concatenation, as SGQL does.
			var sum Expr
			for _, a := range cv.list(x.Args) {
				if sum == nil {
					sum = a
				} else {
					sum = &BinaryExpr{X: sum, Op: ADD, Y: a}
				}
			}
			return &ParenExpr{X: sum}
		}
		unsupported(x.Pos(), fmt.Sprintf("function %s", Clip(strings.ToUpper(x.Fun.Name))))
	}
	unsupported(x.Pos(), fmt.Sprintf("%T", x))
	return nil
}

func unparen(x Expr) Expr {
	for {
		p, ok := x.(*ParenExpr)
		if !ok {
			return x
		}
		x = p.X
	}
}

func timestampadd(iv *IntervalLit, negate bool, t Expr) Expr {
	var n Expr = &BasicLit{Kind: INT, Value: iv.Value.Value}
	if negate {
		n = &UnaryExpr{Op: SUB, X: n}
	}
	u, _ := lookupUnit(iv.Unit.Name)
	return &CallExpr{Fun: &Ident{Name: "timestampadd"}, Args: []Expr{&Ident{Name: u.name}, n, t}}
}
