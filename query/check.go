package query

import (
	"math"
	"strconv"
	"strings"
)

// Checked is a query resolved against a Catalog: every name bound to a field
// or event column, every expression typed. It is what Compile and
// GenerateSQL consume, and it is immutable.
type Checked struct {
	Query   *Query
	catalog *Catalog
	root    *cnode
	// UsesEvents reports whether the query looks at engagement events.
	UsesEvents bool
	// UsesNow reports whether the result depends on the clock (NOW(),
	// current_timestamp), so membership must be re-checked as time passes.
	UsesNow bool
}

// kind is the operation of a checked node.
type kind uint8

const (
	kConst     kind = iota // typed constant (TNull: NULL)
	kNow                   // NOW(), current_timestamp
	kField                 // contact field
	kEvField               // event column of an event scope
	kNot                   // args[0]
	kAnd                   // args[0], args[1]
	kOr                    // args[0], args[1]
	kCmp                   // op, args[0], args[1]
	kIsNull                // not, args[0]
	kIn                    // not, args[0] IN args[1:]
	kLike                  // not, args[0], like
	kBetween               // not, args[0..2]
	kArith                 // op (+ - * / %), NUMBER args[0], args[1]
	kNeg                   // -args[0]
	kConcat                // args...
	kTimeAdd               // args[0] + months + ms
	kLower                 // args[0]
	kUpper                 // args[0]
	kLength                // args[0]
	kContains              // array field f holds any of args
	kExists                // some event in scope satisfies args[0] (nil: any event)
	kLastEvent             // events in scope satisfying args[0] exist and args[1] holds of them
	kMaxTs                 // MAX(event_timestamp) of the scope's group
	kIsTrue                // args[0] IS TRUE (Split's conditions hoisted out of an EXISTS)
)

// cnode is a node of the checked tree.
type cnode struct {
	k     kind
	t     Type
	pos   Pos
	op    Token
	not   bool
	args  []*cnode
	f     fieldRef
	ec    eventCol
	scope int
	// constants
	s  string
	n  float64
	ms int64 // TTime: unix ms; TInterval: fixed part
	b  bool
	// kTimeAdd and TInterval constants
	months int64
	like   *likePattern
	// src is the expression the node was checked from (nil for nodes the
	// checker makes up), for Explain.
	src Expr
}

type checker struct {
	cat  *Catalog
	lang Lang
	tags bool // Query.Tags: tag_ids is a column
	err  *Error

	// SQL name scopes.
	contactQual map[string]bool // qualifiers naming contact_data
	evScopes    []evScope       // active event scopes, outermost first
	maxAlias    string          // alias of MAX(...) in the select list
	inHaving    bool
	inSub       bool
	// SGQL: the event scope is active inside an engagement group.
	sgqlEvents bool
	usesEvents bool
	usesNow    bool
}

type evScope struct {
	quals map[string]bool
	index int
}

// Check resolves and type-checks q against cat. The error, if any, is an
// *Error carrying the position of the offending token. An SGQL query checks
// the same way for a v1 segment and for contacts search: both take the
// engagement pseudo-fields (docs/decisions.md §6).
func Check(q *Query, cat *Catalog) (ch *Checked, err error) {
	c := &checker{cat: cat, lang: q.Lang, tags: q.Tags}
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(bailout); !ok {
				panic(r)
			}
			ch, err = nil, c.err
		}
	}()
	var root *cnode
	if q.Lang == SQL {
		if q.Stmt == nil {
			c.errorf(Pos{}, "empty query")
		}
		root = c.stmt(q.Stmt)
	} else {
		if q.Expr == nil {
			c.errorf(Pos{}, "empty query")
		}
		root = c.sgqlRoot(q.Expr)
	}
	return &Checked{Query: q, catalog: cat, root: root, UsesEvents: c.usesEvents, UsesNow: c.usesNow}, nil
}

func (c *checker) errorf(pos Pos, format string, args ...any) {
	c.err = errorf(pos, format, args...)
	panic(bailout{})
}

// lookup resolves a contact field: tag_ids when the query takes it
// (Query.Tags), else the catalogue's reserved and custom fields.
func (c *checker) lookup(name string) (fieldRef, bool) {
	if c.tags && strings.EqualFold(name, "tag_ids") {
		return fieldRef{kind: fkTagIDs, typ: TArray, name: "tag_ids"}, true
	}
	return c.cat.lookup(name)
}

func (c *checker) cond(x *cnode, what string) *cnode {
	if x.t != TBool && x.t != TNull {
		c.errorf(x.pos, "%s must be a condition, found %s", what, x.t)
	}
	return x
}

// ---- SGQL engagement groups ----

func isEventPseudo(name string) bool {
	switch strings.ToLower(name) {
	case "event_source", "event_type", "event_timestamp":
		return true
	}
	return false
}

func hasEvent(x Expr) bool {
	found := false
	walkExpr(x, func(e Expr) {
		if id, ok := e.(*Ident); ok && isEventPseudo(id.Name) {
			found = true
		}
	})
	return found
}

// bareEvent reports whether an engagement field is reachable from x through
// AND, OR and NOT without passing a parenthesised group.
func bareEvent(x Expr) bool {
	switch x := x.(type) {
	case *ParenExpr:
		return false
	case *BinaryExpr:
		if x.Op == AND || x.Op == OR {
			return bareEvent(x.X) || bareEvent(x.Y)
		}
	case *UnaryExpr:
		if x.Op == NOT {
			return bareEvent(x.X)
		}
	}
	return hasEvent(x)
}

// sgqlRoot checks an SGQL predicate. The engagement pseudo-fields
// (event_source, event_type, event_timestamp) are not columns of the
// contact: docs/decisions.md §6 reads a parenthesised group that uses them as
// "some event of this contact satisfies the group". The group is the
// outermost parenthesised condition around them; when one is used outside
// any parentheses, the whole query is the group.
func (c *checker) sgqlRoot(x Expr) *cnode {
	if bareEvent(x) {
		return c.cond(c.eventGroup(x), "query")
	}
	return c.cond(c.groupify(x), "query")
}

func (c *checker) eventGroup(x Expr) *cnode {
	c.sgqlEvents = true
	c.usesEvents = true
	inner := c.cond(c.expr(x), "engagement group")
	c.sgqlEvents = false
	return &cnode{k: kExists, t: TBool, pos: x.Pos(), args: []*cnode{inner}, src: x}
}

func (c *checker) groupify(x Expr) *cnode {
	if !hasEvent(x) {
		return c.expr(x)
	}
	switch x := x.(type) {
	case *ParenExpr:
		return c.eventGroup(x.X)
	case *BinaryExpr:
		if x.Op == AND || x.Op == OR {
			l := c.cond(c.groupify(x.X), "operand of "+x.Op.String())
			r := c.cond(c.groupify(x.Y), "operand of "+x.Op.String())
			n := c.logical(x.Op, x.OpPos, l, r)
			n.src = x
			return n
		}
	case *UnaryExpr:
		if x.Op == NOT {
			n := c.not(x.OpPos, c.groupify(x.X))
			n.src = x
			return n
		}
	}
	return c.expr(x)
}

// ---- Segments 2.0 statements ----

func (c *checker) tableName(id *Ident) string {
	name := strings.ToLower(id.Name)
	if name != "contact_data" && name != "event_data" {
		c.errorf(id.Pos(), "illegal table name: '%s'", Clip(id.Name))
	}
	return name
}

func quals(t *TableRef) map[string]bool {
	m := map[string]bool{strings.ToLower(t.Name.Name): true}
	if t.Alias != nil {
		m[strings.ToLower(t.Alias.Name)] = true
	}
	return m
}

func (c *checker) stmt(s *SelectStmt) *cnode {
	from := c.tableName(s.From.Name)
	for _, j := range s.Joins {
		c.tableName(j.Table.Name)
	}
	if from != "contact_data" {
		c.errorf(s.From.Pos(), "FROM must name contact_data (event_data can only be joined)")
	}
	c.contactQual = quals(s.From)
	if len(s.Joins) > 1 {
		c.errorf(s.Joins[1].Pos(), "only one JOIN is supported")
	}
	joined := len(s.Joins) == 1
	if joined {
		j := s.Joins[0]
		if strings.ToLower(j.Table.Name.Name) != "event_data" {
			c.errorf(j.Table.Pos(), "only event_data can be joined to contact_data")
		}
		q := quals(j.Table)
		for k := range q {
			if c.contactQual[k] {
				c.errorf(j.Table.Pos(), "duplicate table alias '%s'", Clip(k))
			}
		}
		c.evScopes = []evScope{{quals: q, index: 0}}
		c.usesEvents = true
		c.joinCond(j.On)
	}

	// Select list: exactly contact_id, updated_at, plus MAX(event_timestamp)
	// [AS alias] in a last-event query (SendGrid: "aggregate function MAX
	// and its alias can be selected").
	var hasMax bool
	for i, it := range s.Items {
		if call, ok := it.X.(*CallExpr); ok && strings.EqualFold(call.Fun.Name, "max") && i == 2 {
			c.maxArg(call)
			hasMax = true
			if it.Alias != nil {
				c.maxAlias = strings.ToLower(it.Alias.Name)
			}
			continue
		}
		x := c.expr(it.X)
		want := fkID
		if i == 1 {
			want = fkUpdatedAt
		}
		if i > 1 || x.k != kField || x.f.kind != want || it.Alias != nil {
			c.errorf(it.Pos(), "select list must be contact_id, updated_at")
		}
	}
	if len(s.Items) < 2 {
		c.errorf(s.Pos(), "select list must be contact_id, updated_at")
	}
	if hasMax && len(s.GroupBy) == 0 {
		c.errorf(s.Items[2].Pos(), "MAX requires GROUP BY contact_id")
	}

	var where *cnode
	if s.Where != nil {
		where = c.cond(c.expr(s.Where), "WHERE clause")
	}
	if len(s.GroupBy) == 0 {
		if joined {
			return &cnode{k: kExists, t: TBool, pos: s.Joins[0].Pos(), args: []*cnode{where}}
		}
		if where == nil {
			return &cnode{k: kConst, t: TBool, b: true, pos: s.Pos()}
		}
		return where
	}

	// GROUP BY: contact columns only, contact_id among them.
	hasID := false
	for _, g := range s.GroupBy {
		x := c.expr(g)
		if x.k != kField {
			c.errorf(g.Pos(), "GROUP BY accepts contact_data columns only")
		}
		if x.f.kind == fkID {
			hasID = true
		}
	}
	if !hasID {
		c.errorf(s.GroupBy[0].Pos(), "GROUP BY must include contact_id")
	}
	var having *cnode
	if s.Having != nil {
		c.inHaving = true
		having = c.cond(c.expr(s.Having), "HAVING clause")
		c.inHaving = false
	}
	if !joined {
		// Grouping contacts by their own id changes nothing.
		switch {
		case where == nil && having == nil:
			return &cnode{k: kConst, t: TBool, b: true, pos: s.Pos()}
		case where == nil:
			return having
		case having == nil:
			return where
		}
		return c.logical(AND, s.Having.Pos(), where, having)
	}
	return &cnode{k: kLastEvent, t: TBool, pos: s.Joins[0].Pos(), args: []*cnode{where, having}}
}

func (c *checker) joinCond(on Expr) {
	if id, ok := on.(*Ident); ok && strings.EqualFold(id.Name, "contact_id") {
		return
	}
	if b, ok := on.(*BinaryExpr); ok && b.Op == EQL {
		l, r := c.expr(b.X), c.expr(b.Y)
		isC := func(x *cnode) bool { return x.k == kField && x.f.kind == fkID }
		isE := func(x *cnode) bool { return x.k == kEvField && x.ec == ecContactID }
		if isC(l) && isE(r) || isE(l) && isC(r) {
			return
		}
	}
	c.errorf(on.Pos(), "JOIN must be ON contact_id")
}

func (c *checker) maxArg(call *CallExpr) *cnode {
	if len(c.evScopes) == 0 {
		c.errorf(call.Pos(), "MAX needs event_data joined")
	}
	if len(call.Args) != 1 {
		c.errorf(call.Pos(), "function MAX expects 1 argument, found %d", len(call.Args))
	}
	saved := c.inHaving
	c.inHaving = false
	x := c.expr(call.Args[0])
	c.inHaving = saved
	if x.k != kEvField || x.ec != ecTimestamp || x.scope != 0 {
		c.errorf(call.Args[0].Pos(), "MAX accepts only the joined event_timestamp")
	}
	return &cnode{k: kMaxTs, t: TTime, pos: call.Pos()}
}

// subquery checks x [NOT] IN (SELECT contact_id FROM event_data [WHERE p]):
// true when some event of the contact satisfies p.
func (c *checker) subquery(in *InExpr) *cnode {
	if c.inSub {
		c.errorf(in.Select.Pos(), "nested sub-queries are not supported")
	}
	x := c.expr(in.X)
	if x.k != kField || x.f.kind != fkID {
		c.errorf(in.X.Pos(), "IN (SELECT ...) must test contact_id")
	}
	s := in.Select
	if c.tableName(s.From.Name) != "event_data" {
		c.errorf(s.From.Pos(), "a sub-query must select from event_data")
	}
	if len(s.Joins) > 0 {
		c.errorf(s.Joins[0].Pos(), "JOIN is not supported in a sub-query")
	}
	if len(s.GroupBy) > 0 {
		c.errorf(s.GroupBy[0].Pos(), "GROUP BY is not supported in a sub-query")
	}
	c.inSub = true
	saved := c.evScopes
	c.evScopes = append(append([]evScope(nil), saved...), evScope{quals: quals(s.From), index: len(saved)})
	c.usesEvents = true
	defer func() { c.evScopes = saved; c.inSub = false }()
	if len(s.Items) != 1 || s.Items[0].Alias != nil {
		c.errorf(s.Pos(), "a sub-query must select contact_id")
	}
	if it := c.expr(s.Items[0].X); it.k != kEvField || it.ec != ecContactID || it.scope != len(saved) {
		c.errorf(s.Items[0].Pos(), "a sub-query must select contact_id")
	}
	var where *cnode
	if s.Where != nil {
		where = c.cond(c.expr(s.Where), "WHERE clause")
	}
	ex := &cnode{k: kExists, t: TBool, pos: in.OpPos, scope: len(saved), args: []*cnode{where}}
	if in.Not {
		return &cnode{k: kNot, t: TBool, pos: in.OpPos, args: []*cnode{ex}}
	}
	return ex
}

// ---- names ----

func (c *checker) column(qual *Ident, id *Ident) *cnode {
	name := strings.ToLower(id.Name)
	if c.lang == SGQL {
		if qual != nil {
			c.errorf(qual.Pos(), "unknown column '%s.%s'", Clip(qual.Name), Clip(id.Name))
		}
		if isEventPseudo(name) {
			if !c.sgqlEvents {
				c.errorf(id.Pos(), "engagement field '%s' must be inside a parenthesised condition", Clip(id.Name))
			}
			ec, _ := eventColByName(name)
			return &cnode{k: kEvField, t: eventType(ec), pos: id.Pos(), ec: ec}
		}
		f, ok := c.lookup(name)
		if !ok {
			c.errorf(id.Pos(), "unknown column '%s'", Clip(id.Name))
		}
		if f.kind == fkNotQueryable {
			c.errorf(id.Pos(), "column '%s' is not supported in queries", Clip(id.Name))
		}
		return &cnode{k: kField, t: f.typ, pos: id.Pos(), f: f}
	}

	if qual != nil {
		q := strings.ToLower(qual.Name)
		for i := len(c.evScopes) - 1; i >= 0; i-- {
			if c.evScopes[i].quals[q] {
				return c.eventColumn(c.evScopes[i].index, id)
			}
		}
		if c.contactQual[q] {
			return c.contactColumn(id)
		}
		c.errorf(qual.Pos(), "unknown table or alias '%s'", Clip(qual.Name))
	}
	// Unqualified: the innermost table that has the column, as SQL resolves
	// names. contact_id names the contact at the top level: the join makes
	// the two equal, and SendGrid's own grammar writes "ON contact_id".
	if name == "contact_id" {
		if c.inSub {
			return c.eventColumn(c.evScopes[len(c.evScopes)-1].index, id)
		}
		return c.contactColumn(id)
	}
	_, isEv := eventColByName(name)
	_, isC := c.lookup(name)
	if c.inSub && isEv {
		return c.eventColumn(c.evScopes[len(c.evScopes)-1].index, id)
	}
	if isEv && len(c.evScopes) > 0 {
		if isC {
			c.errorf(id.Pos(), "ambiguous column name: '%s'", Clip(id.Name))
		}
		return c.eventColumn(c.evScopes[0].index, id)
	}
	if !isC && c.inSub {
		c.errorf(id.Pos(), "illegal column name: '%s' referenced for table: 'event_data'", Clip(id.Name))
	}
	return c.contactColumn(id)
}

func eventType(ec eventCol) Type {
	if ec == ecTimestamp {
		return TTime
	}
	return TString
}

func (c *checker) contactColumn(id *Ident) *cnode {
	f, ok := c.lookup(id.Name)
	if !ok || f.kind == fkNotQueryable {
		c.errorf(id.Pos(), "illegal column name: '%s' referenced for table: 'contact_data'", Clip(id.Name))
	}
	return &cnode{k: kField, t: f.typ, pos: id.Pos(), f: f}
}

func (c *checker) eventColumn(scope int, id *Ident) *cnode {
	ec, ok := eventColByName(strings.ToLower(id.Name))
	if !ok {
		c.errorf(id.Pos(), "illegal column name: '%s' referenced for table: 'event_data'", Clip(id.Name))
	}
	if c.inHaving && scope == 0 {
		c.errorf(id.Pos(), "event_data column '%s' must be inside MAX() in HAVING", Clip(id.Name))
	}
	return &cnode{k: kEvField, t: eventType(ec), pos: id.Pos(), ec: ec, scope: scope}
}

// ---- expressions ----

// expr checks x and remembers it as the node's source: a parenthesised
// expression claims the node of its contents, so that Explain keeps the
// groups the query was written with.
func (c *checker) expr(x Expr) *cnode {
	n := c.expr1(x)
	if _, paren := x.(*ParenExpr); paren || n.src == nil {
		n.src = x
	}
	return n
}

func (c *checker) expr1(x Expr) *cnode {
	switch x := x.(type) {
	case *Ident:
		if c.inHaving && c.maxAlias != "" && strings.EqualFold(x.Name, c.maxAlias) {
			return &cnode{k: kMaxTs, t: TTime, pos: x.Pos()}
		}
		return c.column(nil, x)
	case *SelectorExpr:
		return c.column(x.X, x.Sel)
	case *BasicLit:
		if x.Kind == STRING {
			return &cnode{k: kConst, t: TString, pos: x.Pos(), s: x.Value}
		}
		v, err := strconv.ParseFloat(x.Value, 64)
		if err != nil || math.IsInf(v, 0) {
			c.errorf(x.Pos(), "number out of range: %s", Clip(x.Value))
		}
		return &cnode{k: kConst, t: TNumber, pos: x.Pos(), n: v}
	case *BoolLit:
		return &cnode{k: kConst, t: TBool, pos: x.Pos(), b: x.Value}
	case *NullLit:
		return &cnode{k: kConst, t: TNull, pos: x.Pos()}
	case *TimestampLit:
		ms, ok := ParseTime(x.Value.Value)
		if !ok {
			c.errorf(x.Value.Pos(), "invalid timestamp %s: want RFC 3339 or YYYY-MM-DD", quoteString(Clip(x.Value.Value)))
		}
		return &cnode{k: kConst, t: TTime, pos: x.Pos(), ms: ms}
	case *IntervalLit:
		return c.interval(x.Unit, x.Value.Value, x.Value.Pos(), x.Pos(), false)
	case *ArrayLit:
		c.errorf(x.Pos(), "an array literal is only allowed as the second argument of array_contains")
	case *ParenExpr:
		return c.expr(x.X)
	case *UnaryExpr:
		if x.Op == NOT {
			return c.not(x.OpPos, c.expr(x.X))
		}
		return c.neg(x.OpPos, c.expr(x.X))
	case *BinaryExpr:
		switch x.Op {
		case AND, OR:
			l := c.cond(c.expr(x.X), "operand of "+x.Op.String())
			r := c.cond(c.expr(x.Y), "operand of "+x.Op.String())
			return c.logical(x.Op, x.OpPos, l, r)
		case ADD, SUB, MUL, QUO, REM:
			return c.arith(x.Op, x.OpPos, c.expr(x.X), c.expr(x.Y))
		}
		return c.compare(x.Op, x.OpPos, c.expr(x.X), c.expr(x.Y))
	case *LikeExpr:
		return c.likeExpr(x)
	case *InExpr:
		if x.Select != nil {
			return c.subquery(x)
		}
		return c.inList(x)
	case *BetweenExpr:
		l := c.expr(x.X)
		lo := c.unify(BETWEEN, x.OpPos, l, c.expr(x.Lo))
		hi := c.unify(BETWEEN, x.OpPos, l, c.expr(x.Hi))
		if l.t == TBool {
			c.incompatible(BETWEEN, x.OpPos, l, lo)
		}
		return &cnode{k: kBetween, t: TBool, pos: x.OpPos, not: x.Not, args: []*cnode{l, lo, hi}}
	case *IsNullExpr:
		return &cnode{k: kIsNull, t: TBool, pos: x.OpPos, not: x.Not, args: []*cnode{c.expr(x.X)}}
	case *CallExpr:
		return c.call(x)
	}
	c.errorf(x.Pos(), "unexpected expression")
	return nil
}

func (c *checker) not(pos Pos, x *cnode) *cnode {
	if x.t != TBool && x.t != TNull {
		c.errorf(pos, "operator NOT is incompatible with %s", x.t)
	}
	return &cnode{k: kNot, t: TBool, pos: pos, args: []*cnode{x}}
}

func (c *checker) logical(op Token, pos Pos, l, r *cnode) *cnode {
	k := kAnd
	if op == OR {
		k = kOr
	}
	return &cnode{k: k, t: TBool, pos: pos, args: []*cnode{l, r}}
}

func (c *checker) neg(pos Pos, x *cnode) *cnode {
	switch x.t {
	case TNull:
		return x
	case TNumber:
		if x.k == kConst {
			return &cnode{k: kConst, t: TNumber, pos: pos, n: -x.n}
		}
		return &cnode{k: kNeg, t: TNumber, pos: pos, args: []*cnode{x}}
	case TInterval:
		return &cnode{k: kConst, t: TInterval, pos: pos, ms: -x.ms, months: -x.months}
	}
	c.errorf(pos, "operator - is incompatible with %s", x.t)
	return nil
}

func (c *checker) interval(u *Ident, num string, numPos, pos Pos, negative bool) *cnode {
	un, ok := lookupUnit(u.Name)
	if !ok {
		c.errorf(u.Pos(), "unknown time unit '%s'", Clip(u.Name))
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n > un.max {
		c.errorf(numPos, "interval out of range: %s %s (limit %d)", Clip(num), un.name, un.max)
	}
	if negative {
		n = -n
	}
	return &cnode{k: kConst, t: TInterval, pos: pos, ms: n * un.ms, months: n * un.months}
}

func (c *checker) incompatible(op Token, pos Pos, l, r *cnode) {
	name := op.String()
	c.errorf(pos, "operator %s is incompatible with %s, %s", name, l.t, r.t)
}

// unify checks that r can be compared with l and returns r, converted when
// it is a string literal compared with a date/time: docs/decisions.md §7 reads
// such a literal as RFC 3339 or YYYY-MM-DD.
func (c *checker) unify(op Token, pos Pos, l, r *cnode) *cnode {
	if l.t == TTime && r.t == TString && r.k == kConst {
		ms, ok := ParseTime(r.s)
		if !ok {
			c.errorf(r.pos, "invalid timestamp %s: want RFC 3339 or YYYY-MM-DD", quoteString(Clip(r.s)))
		}
		return &cnode{k: kConst, t: TTime, pos: r.pos, ms: ms}
	}
	if l.t == TString && r.t == TString && r.k == kConst && l.k == kEvField && l.ec == ecType {
		return &cnode{k: kConst, t: TString, pos: r.pos, s: NormalizeEventType(r.s)}
	}
	if l.t == TArray || r.t == TArray || l.t == TInterval || r.t == TInterval {
		c.incompatible(op, pos, l, r)
	}
	if l.t == r.t || l.t == TNull || r.t == TNull {
		return r
	}
	c.incompatible(op, pos, l, r)
	return nil
}

func isEmptyString(x *cnode) bool { return x.k == kConst && x.t == TString && x.s == "" }

func (c *checker) compare(op Token, pos Pos, l, r *cnode) *cnode {
	if l.t == TString && r.t == TTime && l.k == kConst {
		l = c.unify(op, pos, r, l)
	} else if l.t == TString && r.t == TString && l.k == kConst && r.k == kEvField && r.ec == ecType {
		l = c.unify(op, pos, r, l)
	} else {
		r = c.unify(op, pos, l, r)
	}
	if l.t == TBool && op != EQL && op != NEQ {
		c.incompatible(op, pos, l, r)
	}
	// An empty text value is NULL (docs/decisions.md §7), so "x = ''" asks
	// whether x is unset, and "x != ''" whether it is set.
	if (op == EQL || op == NEQ) && (isEmptyString(r) && l.t == TString || isEmptyString(l) && r.t == TString) {
		x := l
		if isEmptyString(l) {
			x = r
		}
		return &cnode{k: kIsNull, t: TBool, pos: pos, not: op == NEQ, args: []*cnode{x}}
	}
	return &cnode{k: kCmp, t: TBool, pos: pos, op: op, args: []*cnode{l, r}}
}

func (c *checker) arith(op Token, pos Pos, l, r *cnode) *cnode {
	switch {
	case l.t == TTime && r.t == TInterval && (op == ADD || op == SUB):
		return c.timeAdd(pos, l, r, op == SUB)
	case l.t == TInterval && r.t == TTime && op == ADD:
		return c.timeAdd(pos, r, l, false)
	case l.t == TString && r.t == TString && op == ADD:
		return &cnode{k: kConcat, t: TString, pos: pos, args: []*cnode{l, r}}
	case l.t == TNumber && r.t == TNumber:
		return &cnode{k: kArith, t: TNumber, pos: pos, op: op, args: []*cnode{l, r}}
	case l.t == TNull && (r.t == TNumber || r.t == TNull) || r.t == TNull && l.t == TNumber:
		return &cnode{k: kConst, t: TNull, pos: pos}
	}
	c.incompatible(op, pos, l, r)
	return nil
}

func (c *checker) timeAdd(pos Pos, t, iv *cnode, negate bool) *cnode {
	months, ms := iv.months, iv.ms
	if negate {
		months, ms = -months, -ms
	}
	return &cnode{k: kTimeAdd, t: TTime, pos: pos, months: months, ms: ms, args: []*cnode{t}}
}

func (c *checker) likeExpr(x *LikeExpr) *cnode {
	l := c.expr(x.X)
	p := c.expr(x.Pattern)
	if l.t != TString && l.t != TNull || p.t != TString {
		c.incompatible(LIKE, x.OpPos, l, p)
	}
	if p.k != kConst {
		c.errorf(x.Pattern.Pos(), "LIKE pattern must be a string literal")
	}
	return &cnode{k: kLike, t: TBool, pos: x.OpPos, not: x.Not, args: []*cnode{l}, like: compileLike(c.lang, p.s)}
}

func (c *checker) inList(x *InExpr) *cnode {
	l := c.expr(x.X)
	if l.t == TBool {
		c.errorf(x.OpPos, "operator IN is incompatible with %s", l.t)
	}
	args := []*cnode{l}
	hasEmpty := false
	for _, e := range x.List {
		r := c.unify(IN, x.OpPos, l, c.expr(e))
		if isEmptyString(r) && l.t == TString {
			hasEmpty = true // '' is NULL: see compare
			continue
		}
		args = append(args, r)
	}
	in := &cnode{k: kIn, t: TBool, pos: x.OpPos, not: x.Not, args: args}
	if !hasEmpty {
		return in
	}
	isNull := &cnode{k: kIsNull, t: TBool, pos: x.OpPos, not: x.Not, args: []*cnode{l}}
	if len(args) == 1 {
		return isNull
	}
	if x.Not {
		return c.logical(AND, x.OpPos, isNull, in)
	}
	return c.logical(OR, x.OpPos, isNull, in)
}

func (c *checker) arity(call *CallExpr, name string, n int) {
	if len(call.Args) != n {
		s := "s"
		if n == 1 {
			s = ""
		}
		c.errorf(call.Pos(), "function %s expects %d argument%s, found %d", name, n, s, len(call.Args))
	}
}

func (c *checker) stringArg(name string, x *cnode) *cnode {
	if x.t != TString && x.t != TNull {
		c.errorf(x.pos, "function %s expects a STRING argument, found %s", name, x.t)
	}
	return x
}

func (c *checker) arrayField(name string, arg Expr) *cnode {
	a := c.expr(arg)
	if a.k != kField || a.t != TArray {
		c.errorf(arg.Pos(), "function %s expects an array field (list_ids, alternate_emails, email_domains) as its first argument, found %s", name, a.t)
	}
	return a
}

func (c *checker) call(x *CallExpr) *cnode {
	name := strings.ToUpper(x.Fun.Name)
	pos := x.Pos()
	if c.lang == SGQL {
		switch name {
		case "CONTAINS":
			c.arity(x, name, 2)
			a := c.arrayField(name, x.Args[0])
			v := c.stringArg(name, c.expr(x.Args[1]))
			return &cnode{k: kContains, t: TBool, pos: pos, f: a.f, args: []*cnode{v}}
		case "CONCAT":
			if len(x.Args) == 0 {
				c.errorf(pos, "function CONCAT expects at least 1 argument, found 0")
			}
			n := &cnode{k: kConcat, t: TString, pos: pos}
			for _, a := range x.Args {
				n.args = append(n.args, c.stringArg(name, c.expr(a)))
			}
			return n
		case "LENGTH":
			c.arity(x, name, 1)
			return &cnode{k: kLength, t: TNumber, pos: pos, args: []*cnode{c.stringArg(name, c.expr(x.Args[0]))}}
		case "LOWER":
			c.arity(x, name, 1)
			return &cnode{k: kLower, t: TString, pos: pos, args: []*cnode{c.stringArg(name, c.expr(x.Args[0]))}}
		case "NOW":
			c.arity(x, name, 0)
			c.usesNow = true
			return &cnode{k: kNow, t: TTime, pos: pos}
		}
		c.errorf(pos, "unsupported function: '%s'", Clip(name))
	}
	switch name {
	case "ARRAY_CONTAINS":
		c.arity(x, name, 2)
		a := c.arrayField(name, x.Args[0])
		arr, ok := x.Args[1].(*ArrayLit)
		if !ok || len(arr.Elems) == 0 {
			c.errorf(x.Args[1].Pos(), "function ARRAY_CONTAINS expects a non-empty array literal ['v', ...] as its second argument")
		}
		n := &cnode{k: kContains, t: TBool, pos: pos, f: a.f}
		for _, e := range arr.Elems {
			n.args = append(n.args, c.stringArg(name, c.expr(e)))
		}
		return n
	case "TIMESTAMPADD":
		c.arity(x, name, 3)
		u, ok := x.Args[0].(*Ident)
		if !ok {
			c.errorf(x.Args[0].Pos(), "function TIMESTAMPADD expects a time unit (second, minute, hour, day, week, month, year) as its first argument")
		}
		neg := false
		nx := x.Args[1]
		if un, ok := nx.(*UnaryExpr); ok && un.Op == SUB {
			neg, nx = true, un.X
		}
		lit, ok := nx.(*BasicLit)
		if !ok || lit.Kind != INT {
			c.errorf(x.Args[1].Pos(), "function TIMESTAMPADD expects an integer literal as its second argument")
		}
		iv := c.interval(u, lit.Value, lit.Pos(), pos, neg)
		t := c.expr(x.Args[2])
		if t.t != TTime {
			c.errorf(x.Args[2].Pos(), "function TIMESTAMPADD expects a DATETIME as its third argument, found %s", t.t)
		}
		return c.timeAdd(pos, t, iv, false)
	case "CURRENT_TIMESTAMP":
		c.arity(x, name, 0)
		c.usesNow = true
		return &cnode{k: kNow, t: TTime, pos: pos}
	case "LOWER", "UPPER":
		c.arity(x, name, 1)
		k := kLower
		if name == "UPPER" {
			k = kUpper
		}
		return &cnode{k: k, t: TString, pos: pos, args: []*cnode{c.stringArg(name, c.expr(x.Args[0]))}}
	case "MAX":
		if !c.inHaving {
			c.errorf(pos, "MAX is only allowed in the select list and HAVING")
		}
		return c.maxArg(x)
	}
	c.errorf(pos, "unsupported SQL function: '%s'", Clip(name))
	return nil
}

// walkExpr calls fn for x and every expression below it, sub-queries included.
func walkExpr(x Expr, fn func(Expr)) {
	if x == nil {
		return
	}
	fn(x)
	switch x := x.(type) {
	case *SelectorExpr:
		walkExpr(x.X, fn)
		walkExpr(x.Sel, fn)
	case *TimestampLit:
		walkExpr(x.Value, fn)
	case *IntervalLit:
		walkExpr(x.Value, fn)
		walkExpr(x.Unit, fn)
	case *ArrayLit:
		for _, e := range x.Elems {
			walkExpr(e, fn)
		}
	case *ParenExpr:
		walkExpr(x.X, fn)
	case *UnaryExpr:
		walkExpr(x.X, fn)
	case *BinaryExpr:
		walkExpr(x.X, fn)
		walkExpr(x.Y, fn)
	case *LikeExpr:
		walkExpr(x.X, fn)
		walkExpr(x.Pattern, fn)
	case *BetweenExpr:
		walkExpr(x.X, fn)
		walkExpr(x.Lo, fn)
		walkExpr(x.Hi, fn)
	case *IsNullExpr:
		walkExpr(x.X, fn)
	case *InExpr:
		walkExpr(x.X, fn)
		for _, e := range x.List {
			walkExpr(e, fn)
		}
		if x.Select != nil {
			walkStmt(x.Select, fn)
		}
	case *CallExpr:
		walkExpr(x.Fun, fn)
		for _, e := range x.Args {
			walkExpr(e, fn)
		}
	}
}

func walkStmt(s *SelectStmt, fn func(Expr)) {
	for _, it := range s.Items {
		walkExpr(it.X, fn)
	}
	for _, j := range s.Joins {
		walkExpr(j.On, fn)
	}
	walkExpr(s.Where, fn)
	for _, g := range s.GroupBy {
		walkExpr(g, fn)
	}
	walkExpr(s.Having, fn)
}
