package query

import (
	"fmt"
	"slices"
	"strings"
)

// ParseSGQL parses an SGQL predicate (Segments v1 query_dsl, contacts search).
func ParseSGQL(src string) (*Query, error) { return Parse(SGQL, src) }

// ParseSQL parses a Segments 2.0 SQL statement.
func ParseSQL(src string) (*Query, error) { return Parse(SQL, src) }

// Parse parses src in dialect lang. The error, if any, is an *Error.
func Parse(lang Lang, src string) (*Query, error) {
	if len(src) > MaxQueryLength {
		return nil, &Error{Msg: fmt.Sprintf("query too long: %d bytes (limit %d)", len(src), MaxQueryLength)}
	}
	var p parser
	p.init(src, lang)
	q := p.parseQuery()
	if p.err != nil {
		return nil, p.err
	}
	q.Nodes = p.nodes
	return q, nil
}

// bailout is the panic value used to unwind the parser at the first error,
// as go/parser does.
type bailout struct{}

type parser struct {
	sc   Scanner
	lang Lang

	pos Pos
	tok Token
	lit string
	qch byte // quote of the current STRING or IDENT

	err   *Error
	depth int
	nodes int
}

func (p *parser) init(src string, lang Lang) {
	p.lang = lang
	p.sc.Init(src, lang)
}

func (p *parser) next() {
	p.pos, p.tok, p.lit = p.sc.Scan()
	p.qch = p.sc.litQuote
	if p.tok == ILLEGAL {
		p.err = p.sc.Err()
		panic(bailout{})
	}
}

func (p *parser) errorAt(pos Pos, format string, args ...any) {
	p.err = errorf(pos, format, args...)
	panic(bailout{})
}

// found describes the current token for "expected X, found Y" messages.
func (p *parser) found() string {
	switch p.tok {
	case EOF:
		return "end of query"
	case IDENT:
		return "'" + Clip(p.lit) + "'"
	case INT, FLOAT:
		return Clip(p.lit)
	case STRING:
		return "string " + quoteString(Clip(p.lit))
	}
	if p.tok.IsKeyword() {
		return strings.ToUpper(p.lit)
	}
	return "'" + p.tok.String() + "'"
}

func (p *parser) expect(tok Token, what string) Pos {
	pos := p.pos
	if p.tok != tok {
		p.errorAt(pos, "expected %s, found %s", what, p.found())
	}
	p.next()
	return pos
}

// node counts one AST node against MaxNodes.
func (p *parser) node() {
	p.nodes++
	if p.nodes > MaxNodes {
		p.errorAt(p.pos, "query too large: more than %d nodes", MaxNodes)
	}
}

func (p *parser) enter() {
	p.depth++
	if p.depth > MaxDepth {
		p.errorAt(p.pos, "query nested too deeply (limit %d levels)", MaxDepth)
	}
}

func (p *parser) leave() { p.depth-- }

func (p *parser) parseQuery() (q *Query) {
	q = &Query{Lang: p.lang}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(bailout); !ok {
				panic(r)
			}
			q = nil
		}
	}()
	p.next()
	if p.lang == SQL {
		q.Stmt = p.parseSelect()
	} else {
		if p.tok == EOF {
			p.errorAt(p.pos, "empty query")
		}
		q.Expr = p.parseExpr()
	}
	if p.tok != EOF {
		p.errorAt(p.pos, "expected end of query, found %s", p.found())
	}
	return q
}

func (p *parser) parseIdent() *Ident {
	if p.tok != IDENT {
		p.errorAt(p.pos, "expected identifier, found %s", p.found())
	}
	p.node()
	id := &Ident{NamePos: p.pos, Name: p.lit, Quote: p.qch}
	p.next()
	return id
}

// parseColumn parses ident ['.' ident].
func (p *parser) parseColumn() Expr {
	id := p.parseIdent()
	if p.tok == PERIOD {
		p.next()
		sel := p.parseIdent()
		p.node()
		return &SelectorExpr{X: id, Sel: sel}
	}
	return id
}

func (p *parser) parseSelect() *SelectStmt {
	p.node()
	s := &SelectStmt{Select: p.expect(SELECT, "SELECT")}
	for {
		p.node()
		item := &SelectItem{X: p.parseExpr()}
		if p.tok == AS {
			p.next()
			item.Alias = p.parseIdent()
		} else if p.tok == IDENT {
			p.notSQLKeyword()
			item.Alias = p.parseIdent()
		}
		s.Items = append(s.Items, item)
		if p.tok != COMMA {
			break
		}
		p.next()
	}
	p.expect(FROM, "FROM")
	s.From = p.parseTableRef()
	for p.tok == JOIN || p.tok == INNER {
		p.node()
		j := &Join{JoinPos: p.pos}
		if p.tok == INNER {
			j.Inner = true
			p.next()
		}
		p.expect(JOIN, "JOIN")
		j.Table = p.parseTableRef()
		p.expect(ON, "ON")
		j.On = p.parseExpr()
		s.Joins = append(s.Joins, j)
	}
	if p.tok == WHERE {
		p.next()
		s.Where = p.parseExpr()
	}
	if p.tok == GROUP {
		p.next()
		p.expect(BY, "BY")
		for {
			s.GroupBy = append(s.GroupBy, p.parseColumn())
			if p.tok != COMMA {
				break
			}
			p.next()
		}
		if p.tok == HAVING {
			p.next()
			s.Having = p.parseExpr()
		}
	}
	return s
}

func (p *parser) parseTableRef() *TableRef {
	p.node()
	t := &TableRef{Name: p.parseIdent()}
	if p.tok == AS {
		p.next()
		t.Alias = p.parseIdent()
	} else if p.tok == IDENT {
		p.notSQLKeyword()
		t.Alias = p.parseIdent()
	}
	return t
}

// notSQLKeyword rejects, where an implicit alias could stand, the SQL words
// that Segments 2.0 does not support, so that "FROM contact_data LEFT JOIN"
// is not read as the alias LEFT. They stay usable as names elsewhere.
func (p *parser) notSQLKeyword() {
	if p.qch != 0 {
		return
	}
	switch strings.ToUpper(p.lit) {
	case "LEFT", "RIGHT", "FULL", "OUTER", "CROSS", "NATURAL", "ORDER", "LIMIT", "OFFSET",
		"UNION", "EXCEPT", "INTERSECT", "QUALIFY", "WINDOW", "USING":
		p.errorAt(p.pos, "unsupported SQL keyword: %s", strings.ToUpper(p.lit))
	}
}

func (p *parser) parseExpr() Expr { return p.parseOr() }

// Chains of AND, OR and arithmetic are loops, not recursion, so they do not
// count against MaxDepth; only nesting (parentheses, NOT, unary minus,
// argument lists, sub-queries) does.
func (p *parser) parseOr() Expr  { return p.parseChain(p.parseAnd, OR) }
func (p *parser) parseAnd() Expr { return p.parseChain(p.parseNot, AND) }

// parseChain parses operands joined by any of ops, left-associative.
func (p *parser) parseChain(operand func() Expr, ops ...Token) Expr {
	x := operand()
	for slices.Contains(ops, p.tok) {
		p.node()
		op, pos := p.tok, p.pos
		p.next()
		x = &BinaryExpr{X: x, OpPos: pos, Op: op, Y: operand()}
	}
	return x
}

func (p *parser) parseNot() Expr { return p.parsePrefix(NOT, p.parseNot, p.parsePred) }

// parsePrefix parses op applied to what self parses, or else what operand
// parses. Each op nests one level deeper (MaxDepth).
func (p *parser) parsePrefix(op Token, self, operand func() Expr) Expr {
	if p.tok != op {
		return operand()
	}
	p.node()
	pos := p.pos
	p.next()
	p.enter()
	defer p.leave()
	return &UnaryExpr{OpPos: pos, Op: op, X: self()}
}

func (p *parser) parsePred() Expr {
	x := p.parseSum()
	pos := p.pos
	switch p.tok {
	case EQL, NEQ, LSS, LEQ, GTR, GEQ:
		p.node()
		op := p.tok
		p.next()
		return &BinaryExpr{X: x, OpPos: pos, Op: op, Y: p.parseSum()}
	case IS:
		p.node()
		p.next()
		not := false
		if p.tok == NOT {
			not = true
			p.next()
		}
		p.expect(NULL, "NULL")
		return &IsNullExpr{X: x, OpPos: pos, Not: not}
	}
	not := false
	if p.tok == NOT {
		not = true
		p.next()
		if p.tok != LIKE && p.tok != IN && p.tok != BETWEEN {
			p.errorAt(p.pos, "expected LIKE, IN or BETWEEN, found %s", p.found())
		}
	}
	switch p.tok {
	case LIKE:
		p.node()
		p.next()
		return &LikeExpr{X: x, OpPos: pos, Not: not, Pattern: p.parseSum()}
	case BETWEEN:
		p.node()
		p.next()
		lo := p.parseSum()
		p.expect(AND, "AND")
		hi := p.parseSum()
		return &BetweenExpr{X: x, OpPos: pos, Not: not, Lo: lo, Hi: hi}
	case IN:
		p.node()
		p.next()
		in := &InExpr{X: x, OpPos: pos, Not: not}
		p.expect(LPAREN, "'('")
		p.enter()
		if p.tok == SELECT {
			in.Select = p.parseSelect()
		} else {
			in.List = p.parseExprList(RPAREN)
			if len(in.List) == 0 {
				p.errorAt(p.pos, "expected expression, found %s", p.found())
			}
		}
		p.leave()
		p.expect(RPAREN, "')'")
		return in
	}
	return x
}

func (p *parser) parseExprList(end Token) []Expr {
	var list []Expr
	if p.tok == end {
		return list
	}
	for {
		list = append(list, p.parseExpr())
		if p.tok != COMMA {
			return list
		}
		p.next()
	}
}

func (p *parser) parseSum() Expr     { return p.parseChain(p.parseProduct, ADD, SUB) }
func (p *parser) parseProduct() Expr { return p.parseChain(p.parseUnary, MUL, QUO, REM) }

func (p *parser) parseUnary() Expr { return p.parsePrefix(SUB, p.parseUnary, p.parsePrimary) }

func (p *parser) parseString() *BasicLit {
	if p.tok != STRING {
		p.errorAt(p.pos, "expected string, found %s", p.found())
	}
	p.node()
	lit := &BasicLit{ValuePos: p.pos, Kind: STRING, Value: p.lit}
	p.next()
	return lit
}

func (p *parser) parsePrimary() Expr {
	pos := p.pos
	switch p.tok {
	case INT, FLOAT, STRING:
		p.node()
		lit := &BasicLit{ValuePos: pos, Kind: p.tok, Value: p.lit}
		p.next()
		return lit
	case TRUE, FALSE:
		p.node()
		v := p.tok == TRUE
		p.next()
		return &BoolLit{ValuePos: pos, Value: v}
	case NULL:
		p.node()
		p.next()
		return &NullLit{NullPos: pos}
	case TIMESTAMP:
		p.node()
		p.next()
		return &TimestampLit{TimestampPos: pos, Value: p.parseString()}
	case INTERVAL:
		if p.lang == SQL {
			p.errorAt(pos, "INTERVAL is not supported in Segments 2.0 SQL; use timestampadd(unit, n, ts)")
		}
		p.node()
		p.next()
		if p.tok != INT {
			p.errorAt(p.pos, "expected integer, found %s", p.found())
		}
		p.node()
		n := &BasicLit{ValuePos: p.pos, Kind: INT, Value: p.lit}
		p.next()
		return &IntervalLit{IntervalPos: pos, Value: n, Unit: p.parseIdent()}
	case LPAREN:
		p.node()
		p.next()
		p.enter()
		x := p.parseExpr()
		p.leave()
		p.expect(RPAREN, "')'")
		return &ParenExpr{Lparen: pos, X: x}
	case LBRACK:
		if p.lang != SQL {
			break
		}
		p.node()
		p.next()
		p.enter()
		elems := p.parseExprList(RBRACK)
		p.leave()
		p.expect(RBRACK, "']'")
		return &ArrayLit{Lbrack: pos, Elems: elems}
	case IDENT:
		id := p.parseIdent()
		if p.tok == LPAREN && id.Quote == 0 {
			p.node()
			p.next()
			p.enter()
			args := p.parseExprList(RPAREN)
			p.leave()
			p.expect(RPAREN, "')'")
			return &CallExpr{Fun: id, Args: args}
		}
		if p.lang == SQL && id.Quote == 0 && strings.EqualFold(id.Name, "current_timestamp") {
			p.node()
			return &CallExpr{Fun: id, NoParens: true}
		}
		if p.tok == PERIOD {
			p.next()
			sel := p.parseIdent()
			p.node()
			return &SelectorExpr{X: id, Sel: sel}
		}
		return id
	}
	p.errorAt(pos, "expected expression, found %s", p.found())
	return nil
}
