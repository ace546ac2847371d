package query

import (
	"strings"
)

// String prints q as query text of its own dialect. Parsing the result gives
// back the same AST (positions aside).
func (q *Query) String() string {
	p := printer{lang: q.Lang}
	if q.Stmt != nil {
		p.stmt(q.Stmt)
	} else if q.Expr != nil {
		p.expr(q.Expr, precLowest)
	}
	return p.b.String()
}

// ExprString prints an expression as query text of dialect lang.
func ExprString(lang Lang, x Expr) string {
	p := printer{lang: lang}
	p.expr(x, precLowest)
	return p.b.String()
}

type printer struct {
	lang Lang
	b    strings.Builder
}

// quoteString renders s as a single-quoted literal with backslash escapes,
// which both dialects read back unchanged.
func quoteString(s string) string {
	var b strings.Builder
	b.WriteByte('\'')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\'')
	return b.String()
}

func isPlainIdent(lang Lang, s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isLetter(s[i]) && !isDigit(s[i]) {
			return false
		}
	}
	return keywordToken(lang, s) == IDENT
}

func (p *printer) ident(id *Ident) {
	q := id.Quote
	if q == 0 && !isPlainIdent(p.lang, id.Name) {
		q = '`'
	}
	if q != 0 && p.lang == SQL {
		q = '"'
	} else if q != 0 && p.lang == SGQL {
		q = '`'
	}
	if q != 0 {
		p.b.WriteByte(q)
		p.b.WriteString(id.Name)
		p.b.WriteByte(q)
		return
	}
	p.b.WriteString(id.Name)
}

func exprPrec(x Expr) int {
	switch x := x.(type) {
	case *BinaryExpr:
		return x.Op.precedence()
	case *UnaryExpr:
		if x.Op == NOT {
			return precNot
		}
		return precUnary
	case *LikeExpr, *InExpr, *BetweenExpr, *IsNullExpr:
		return precCmp
	}
	return precPrimary
}

func (p *printer) not(not bool) {
	if not {
		p.b.WriteString(" NOT")
	}
}

// expr prints x; when x binds more loosely than prec it is parenthesised,
// which only happens for ASTs built by code (the parser keeps ParenExpr).
func (p *printer) expr(x Expr, prec int) {
	if exprPrec(x) < prec {
		p.b.WriteByte('(')
		defer p.b.WriteByte(')')
	}
	switch x := x.(type) {
	case *Ident:
		p.ident(x)
	case *SelectorExpr:
		p.ident(x.X)
		p.b.WriteByte('.')
		p.ident(x.Sel)
	case *BasicLit:
		if x.Kind == STRING {
			p.b.WriteString(quoteString(x.Value))
		} else {
			p.b.WriteString(x.Value)
		}
	case *BoolLit:
		if x.Value {
			p.b.WriteString("TRUE")
		} else {
			p.b.WriteString("FALSE")
		}
	case *NullLit:
		p.b.WriteString("NULL")
	case *TimestampLit:
		p.b.WriteString("TIMESTAMP ")
		p.b.WriteString(quoteString(x.Value.Value))
	case *IntervalLit:
		p.b.WriteString("INTERVAL ")
		p.b.WriteString(x.Value.Value)
		p.b.WriteByte(' ')
		p.ident(x.Unit)
	case *ArrayLit:
		p.b.WriteByte('[')
		p.list(x.Elems)
		p.b.WriteByte(']')
	case *ParenExpr:
		p.b.WriteByte('(')
		p.expr(x.X, precLowest)
		p.b.WriteByte(')')
	case *UnaryExpr:
		if x.Op == NOT {
			p.b.WriteString("NOT ")
			p.expr(x.X, precNot)
			return
		}
		p.b.WriteByte('-')
		// "--" would read as two minus signs anyway, but a space keeps the
		// text unambiguous to people used to SQL comments.
		var sub printer
		sub.lang = p.lang
		sub.expr(x.X, precUnary)
		if strings.HasPrefix(sub.b.String(), "-") {
			p.b.WriteByte(' ')
		}
		p.b.WriteString(sub.b.String())
	case *BinaryExpr:
		prec := x.Op.precedence()
		lp, rp := prec, prec+1
		switch {
		case prec == precCmp:
			lp, rp = precAdd, precAdd
		case x.Op == AND:
			rp = precNot
		}
		p.expr(x.X, lp)
		p.b.WriteByte(' ')
		p.b.WriteString(x.Op.String())
		p.b.WriteByte(' ')
		p.expr(x.Y, rp)
	case *LikeExpr:
		p.expr(x.X, precAdd)
		p.not(x.Not)
		p.b.WriteString(" LIKE ")
		p.expr(x.Pattern, precAdd)
	case *BetweenExpr:
		p.expr(x.X, precAdd)
		p.not(x.Not)
		p.b.WriteString(" BETWEEN ")
		p.expr(x.Lo, precAdd)
		p.b.WriteString(" AND ")
		p.expr(x.Hi, precAdd)
	case *IsNullExpr:
		p.expr(x.X, precAdd)
		p.b.WriteString(" IS")
		p.not(x.Not)
		p.b.WriteString(" NULL")
	case *InExpr:
		p.expr(x.X, precAdd)
		p.not(x.Not)
		p.b.WriteString(" IN (")
		if x.Select != nil {
			p.stmt(x.Select)
		} else {
			p.list(x.List)
		}
		p.b.WriteByte(')')
	case *CallExpr:
		p.b.WriteString(x.Fun.Name)
		if !x.NoParens {
			p.b.WriteByte('(')
			p.list(x.Args)
			p.b.WriteByte(')')
		}
	}
}

func (p *printer) list(xs []Expr) {
	for i, x := range xs {
		if i > 0 {
			p.b.WriteString(", ")
		}
		p.expr(x, precLowest)
	}
}

func (p *printer) table(t *TableRef) {
	p.ident(t.Name)
	if t.Alias != nil {
		p.b.WriteString(" AS ")
		p.ident(t.Alias)
	}
}

func (p *printer) stmt(s *SelectStmt) {
	p.b.WriteString("SELECT ")
	for i, it := range s.Items {
		if i > 0 {
			p.b.WriteString(", ")
		}
		p.expr(it.X, precLowest)
		if it.Alias != nil {
			p.b.WriteString(" AS ")
			p.ident(it.Alias)
		}
	}
	p.b.WriteString(" FROM ")
	p.table(s.From)
	for _, j := range s.Joins {
		if j.Inner {
			p.b.WriteString(" INNER")
		}
		p.b.WriteString(" JOIN ")
		p.table(j.Table)
		p.b.WriteString(" ON ")
		p.expr(j.On, precLowest)
	}
	if s.Where != nil {
		p.b.WriteString(" WHERE ")
		p.expr(s.Where, precLowest)
	}
	if len(s.GroupBy) > 0 {
		p.b.WriteString(" GROUP BY ")
		p.list(s.GroupBy)
		if s.Having != nil {
			p.b.WriteString(" HAVING ")
			p.expr(s.Having, precLowest)
		}
	}
}
