package query

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Dialect is the seam between SQL stores. Everything that differs between
// SQLite and PostgreSQL goes through it; the rest of the generator is shared.
// It is sealed: dialects live in this package, next to the generator they
// must agree with.
type Dialect interface {
	// placeholder is the text of the n-th (1-based) bound parameter, whose
	// value is v (a string, float64, int64 or int).
	placeholder(n int, v any) string
	// null is the NULL constant.
	null(g *sqlGen) string
	// customField reads custom field id of contact row c with type t.
	customField(g *sqlGen, id string, t FieldType) string
	// jsonArray is a FROM item over the JSON array column col, aliased j
	// with the element text in column value.
	jsonArray(col string) string
	// like tests x against a case-sensitive LIKE pattern.
	like(g *sqlGen, x string, lp *likePattern, not bool) string
	// addMonths adds a constant number of calendar months to a time in
	// unix ms.
	addMonths(g *sqlGen, x func() string, months int64) string
	// caseFold applies ASCII lower() or upper().
	caseFold(x string, upper bool) string
	// textOrder makes x, a string, compare byte-wise in < <= > >= and
	// BETWEEN.
	textOrder(x string) string
	// indexAt is the 1-based position of the first '@' in x, 0 if none.
	indexAt(x string) string
	// account is the account id a subquery's rows are restricted to.
	account(g *sqlGen) string
	// listIn restricts list_members m to the lists whose ids lists binds
	// (a comma-separated list of values).
	listIn(g *sqlGen, lists func() string) string
	// memberContact is the contact's id (c.id) as list_members keeps it.
	memberContact() string
	// anyList is what restricts list_members m to the contact's
	// memberships of any list, after membersOf: "" when membersOf is a
	// range of the table's key.
	anyList(g *sqlGen) string
	// lastEvent is a last-event condition: some event of the contact
	// satisfies where (events scope 0, "" for none), and having ("" for
	// none) holds with maxTimestamp the greatest timestamp of those events.
	lastEvent(g *sqlGen, where, having string) string
	// maxTimestamp is that greatest timestamp in having.
	maxTimestamp() string
	// divide divides as floating point; division by zero is NULL.
	divide(a, b string) string
	// remainder is a % b on the operands truncated to integers; % 0 is NULL
	// (see arith).
	remainder(a, b string) string
}

type sqliteDialect struct{}

// SQLite returns the dialect of the embedded SQLite store (modernc.org/sqlite).
func SQLite() Dialect { return sqliteDialect{} }

func (sqliteDialect) placeholder(int, any) string { return "?" }

func (sqliteDialect) null(g *sqlGen) string { return g.bind(nil) }

func (sqliteDialect) customField(g *sqlGen, id string, t FieldType) string {
	e := "json_extract(c.custom_fields, " + g.bind("$."+strconv.Quote(id)) + ")"
	if t == Text {
		// An empty text value is NULL (docs/decisions.md §7).
		return "NULLIF(" + e + ", '')"
	}
	return e
}

func (sqliteDialect) jsonArray(col string) string { return "json_each(" + col + ") AS j" }

// SQLite's LIKE ignores ASCII case; GLOB does not, so case-sensitive LIKE is
// rendered as GLOB with the pattern translated.
func (sqliteDialect) like(g *sqlGen, x string, lp *likePattern, not bool) string {
	op := " GLOB "
	if not {
		op = " NOT GLOB "
	}
	return "(" + x + op + g.bind(lp.glob()) + ")"
}

func (sqliteDialect) addMonths(g *sqlGen, x func() string, months int64) string {
	mod := fmt.Sprintf("%+d months", months)
	// Arguments bind in text order.
	a := x()
	m := g.bind(mod)
	b := x()
	return "(CAST(strftime('%s', " + a + " / 1000, 'unixepoch', " + m + ") AS INTEGER) * 1000 + " + b + " % 1000)"
}

func (sqliteDialect) caseFold(x string, upper bool) string {
	if upper {
		return "upper(" + x + ")"
	}
	return "lower(" + x + ")"
}

// SQLite's default collation, BINARY, compares bytes.
// account is the contact's: a ? cannot be reused.
func (sqliteDialect) account(*sqlGen) string { return "c.account_id" }

// listIn: the SQLite store's list_members names a list by its number
// (lists.num), not its id. The account is bound again, not read from the
// row, so that the subquery is evaluated once.
func (sqliteDialect) listIn(g *sqlGen, lists func() string) string {
	acct := g.bind(g.acctID)
	return "m.list_num IN (SELECT num FROM lists WHERE account_id = " + acct + " AND id IN (" + lists() + "))"
}

func (sqliteDialect) memberContact() string { return "c.id" }

// anyList: the SQLite store's list_members is keyed by (account, list
// number, contact), so the contact's memberships are one seek per list of
// the account.
func (sqliteDialect) anyList(g *sqlGen) string {
	return " AND m.list_num IN (SELECT num FROM lists WHERE account_id = " + g.bind(g.acctID) + ")"
}

func (sqliteDialect) lastEvent(g *sqlGen, where, having string) string {
	s := "EXISTS (" + g.eventsFrom(0)
	if where != "" {
		s += " AND " + where
	}
	if having != "" {
		s += " GROUP BY e0.contact_id HAVING " + having
	}
	return s + ")"
}

func (sqliteDialect) maxTimestamp() string { return "MAX(e0.event_timestamp)" }

func (sqliteDialect) textOrder(x string) string { return x }

func (sqliteDialect) indexAt(x string) string { return "instr(" + x + ", '@')" }

// SQLite's / and % answer NULL for a zero divisor, and its % truncates REAL
// operands to integers, which is what arith copies.
func (sqliteDialect) divide(a, b string) string {
	return "(CAST(" + a + " AS REAL) / " + b + ")"
}

func (sqliteDialect) remainder(a, b string) string { return "(" + a + " % " + b + ")" }

// Statement is generated SQL with its bound arguments.
type Statement struct {
	SQL  string
	Args []any
}

// SQLOptions are the inputs of GenerateSQL besides the query.
type SQLOptions struct {
	AccountID int64
	// Now is the evaluation time of NOW() and current_timestamp.
	Now time.Time
	// ParentListID, if set, restricts the result to members of that list
	// (Segments 2.0 parent_list_ids, v1 parent_list_id).
	ParentListID string
}

// GenerateSQL translates a checked query into one statement selecting the
// ids of the matching contacts of one account from the store schema
// (sqlite/migrations/0001_init.sql). Every value is a bound parameter; the
// only identifiers are the schema's own, so no text of the query reaches the
// SQL.
func GenerateSQL(ch *Checked, d Dialect, opt SQLOptions) Statement {
	g := &sqlGen{d: d, now: opt.Now.UnixMilli(), acctID: opt.AccountID}
	var b strings.Builder
	b.WriteString("SELECT c.id FROM contacts AS c WHERE c.account_id = ")
	g.acct = g.bind(opt.AccountID)
	b.WriteString(g.acct)
	if opt.ParentListID != "" {
		b.WriteString(" AND EXISTS (SELECT 1 FROM list_members AS m WHERE " + g.membersOf() + " AND ")
		b.WriteString(g.d.listIn(g, func() string { return g.bind(opt.ParentListID) }))
		b.WriteString(")")
	}
	b.WriteString(" AND ")
	b.WriteString(g.boolean(ch.root))
	return Statement{SQL: b.String(), Args: g.args}
}

type sqlGen struct {
	d    Dialect
	now  int64
	args []any
	// acct is the placeholder of the account id, acctID its value.
	acct   string
	acctID int64
}

func (g *sqlGen) bind(v any) string {
	g.args = append(g.args, v)
	return g.d.placeholder(len(g.args), v)
}

func sqlOp(op Token) string {
	switch op {
	case EQL:
		return "="
	case NEQ:
		return "<>"
	case LSS:
		return "<"
	case LEQ:
		return "<="
	case GTR:
		return ">"
	case GEQ:
		return ">="
	case ADD:
		return "+"
	case SUB:
		return "-"
	case MUL:
		return "*"
	case QUO:
		return "/"
	case REM:
		return "%"
	}
	panic("query: sqlOp: unexpected operator")
}

func evAlias(scope int) string { return "e" + strconv.Itoa(scope) }

func (g *sqlGen) eventsFrom(scope int) string {
	return "SELECT 1 FROM events AS " + evAlias(scope) + " WHERE " + g.eventsOf(scope)
}

// eventsOf restricts the events of scope to the contact's.
func (g *sqlGen) eventsOf(scope int) string {
	a := evAlias(scope)
	return a + ".account_id = " + g.d.account(g) + " AND " + a + ".contact_id = c.id"
}

// taggingsOf restricts contact_tags ct to the contact's taggings.
func (g *sqlGen) taggingsOf() string {
	return "ct.account_id = " + g.d.account(g) + " AND ct.contact_id = c.id"
}

// membersOf restricts list_members m to the contact's memberships.
func (g *sqlGen) membersOf() string {
	return "m.account_id = " + g.d.account(g) + " AND m.contact_id = " + g.d.memberContact()
}

func (g *sqlGen) boolean(n *cnode) string {
	switch n.k {
	case kConst:
		if n.t == TNull {
			return g.d.null(g)
		}
		if n.b {
			return "(1 = " + g.bind(1) + ")"
		}
		return "(1 = " + g.bind(0) + ")"
	case kNot:
		return "(NOT " + g.boolean(n.args[0]) + ")"
	case kAnd:
		return "(" + g.boolean(n.args[0]) + " AND " + g.boolean(n.args[1]) + ")"
	case kOr:
		return "(" + g.boolean(n.args[0]) + " OR " + g.boolean(n.args[1]) + ")"
	case kCmp:
		l := g.ordered(n.args[0], n.op)
		return "(" + l + " " + sqlOp(n.op) + " " + g.ordered(n.args[1], n.op) + ")"
	case kIsNull:
		x := n.args[0]
		if x.k == kField && x.t == TArray {
			e := g.arrayEmpty(x.f)
			if n.not {
				return "(NOT " + e + ")"
			}
			return e
		}
		if n.not {
			return "(" + g.value(x) + " IS NOT NULL)"
		}
		return "(" + g.value(x) + " IS NULL)"
	case kIn:
		var b strings.Builder
		b.WriteString("(")
		b.WriteString(g.value(n.args[0]))
		if n.not {
			b.WriteString(" NOT")
		}
		b.WriteString(" IN (")
		for i, a := range n.args[1:] {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(g.value(a))
		}
		b.WriteString("))")
		return b.String()
	case kLike:
		return g.d.like(g, g.value(n.args[0]), n.like, n.not)
	case kBetween:
		not := ""
		if n.not {
			not = " NOT"
		}
		x := g.ordered(n.args[0], LSS)
		lo := g.ordered(n.args[1], LSS)
		return "(" + x + not + " BETWEEN " + lo + " AND " + g.ordered(n.args[2], LSS) + ")"
	case kContains:
		return g.contains(n)
	case kExists:
		s := "EXISTS (" + g.eventsFrom(n.scope)
		if n.args[0] != nil {
			s += " AND " + g.boolean(n.args[0])
		}
		return s + ")"
	case kLastEvent:
		var where, having string
		if n.args[0] != nil {
			where = g.boolean(n.args[0])
		}
		if n.args[1] != nil {
			having = g.boolean(n.args[1])
		}
		return g.d.lastEvent(g, where, having)
	}
	return g.value(n)
}

func (g *sqlGen) arrayEmpty(f fieldRef) string {
	switch f.kind {
	case fkListIDs:
		return "(NOT EXISTS (SELECT 1 FROM list_members AS m WHERE " + g.membersOf() + g.d.anyList(g) + "))"
	case fkTagIDs:
		return "(NOT EXISTS (SELECT 1 FROM contact_tags AS ct WHERE " + g.taggingsOf() + "))"
	case fkAltEmails:
		return "(NOT EXISTS (SELECT 1 FROM " + g.d.jsonArray("c.alternate_emails") + "))"
	}
	return "(NOT EXISTS (SELECT 1 WHERE " + g.d.indexAt("c.email") + " > 0) AND NOT EXISTS (SELECT 1 FROM " +
		g.d.jsonArray("c.alternate_emails") + " WHERE " + g.d.indexAt("j.value") + " > 0))"
}

func (g *sqlGen) valueList(args []*cnode) string {
	parts := make([]string, len(args))
	for i, a := range args {
		parts[i] = g.value(a)
	}
	return strings.Join(parts, ", ")
}

// ordered is the value of n as an operand of op: a string compared for
// order compares byte-wise, as strings.Compare does in the evaluator.
func (g *sqlGen) ordered(n *cnode, op Token) string {
	v := g.value(n)
	if n.t == TString && op != EQL && op != NEQ {
		return g.d.textOrder(v)
	}
	return v
}

// contains is true when the array holds any of the values, never NULL.
func (g *sqlGen) contains(n *cnode) string {
	switch n.f.kind {
	case fkListIDs:
		return "EXISTS (SELECT 1 FROM list_members AS m WHERE " + g.membersOf() + " AND " +
			g.d.listIn(g, func() string { return g.valueList(n.args) }) + ")"
	case fkTagIDs:
		return "EXISTS (SELECT 1 FROM contact_tags AS ct WHERE " + g.taggingsOf() + " AND ct.tag_id IN (" + g.valueList(n.args) + "))"
	case fkAltEmails:
		return "EXISTS (SELECT 1 FROM " + g.d.jsonArray("c.alternate_emails") + " WHERE j.value IN (" + g.valueList(n.args) + "))"
	}
	at := g.d.indexAt("c.email")
	a := "EXISTS (SELECT 1 WHERE " + at + " > 0 AND substr(c.email, " + at + " + 1) IN (" + g.valueList(n.args) + "))"
	at = g.d.indexAt("j.value")
	b := "EXISTS (SELECT 1 FROM " + g.d.jsonArray("c.alternate_emails") + " WHERE " + at + " > 0 AND substr(j.value, " + at + " + 1) IN (" + g.valueList(n.args) + "))"
	return "(" + a + " OR " + b + ")"
}

// foldTime evaluates a time expression that does not depend on the row.
func (g *sqlGen) foldTime(n *cnode) (int64, bool) {
	switch n.k {
	case kConst:
		return n.ms, n.t == TTime
	case kNow:
		return g.now, true
	case kTimeAdd:
		if t, ok := g.foldTime(n.args[0]); ok {
			return addTime(t, n.months, n.ms), true
		}
	}
	return 0, false
}

func (g *sqlGen) value(n *cnode) string {
	switch n.k {
	case kConst:
		switch n.t {
		case TNull:
			return g.d.null(g)
		case TString:
			return g.bind(n.s)
		case TNumber:
			return g.bind(n.n)
		case TTime:
			return g.bind(n.ms)
		}
		return g.boolean(n)
	case kNow:
		return g.bind(g.now)
	case kField:
		switch n.f.kind {
		case fkText:
			return "c." + n.f.text.Name()
		case fkID:
			return "c.id"
		case fkCreatedAt:
			return "c.created_at"
		case fkUpdatedAt:
			return "c.updated_at"
		case fkCustom:
			ft := Text
			switch n.t {
			case TNumber:
				ft = Number
			case TTime:
				ft = Date
			}
			return g.d.customField(g, n.f.id, ft)
		}
	case kEvField:
		return evAlias(n.scope) + "." + n.ec.name()
	case kMaxTs:
		return g.d.maxTimestamp()
	case kArith:
		a := g.value(n.args[0])
		b := g.value(n.args[1])
		switch n.op {
		case QUO:
			return g.d.divide(a, b)
		case REM:
			return g.d.remainder(a, b)
		}
		return "(" + a + " " + sqlOp(n.op) + " " + b + ")"
	case kNeg:
		return "(- " + g.value(n.args[0]) + ")"
	case kConcat:
		parts := make([]string, len(n.args))
		for i, a := range n.args {
			parts[i] = g.value(a)
		}
		return "(" + strings.Join(parts, " || ") + ")"
	case kLower, kUpper:
		return g.d.caseFold(g.value(n.args[0]), n.k == kUpper)
	case kLength:
		return "length(" + g.value(n.args[0]) + ")"
	case kTimeAdd:
		if t, ok := g.foldTime(n); ok {
			return g.bind(t)
		}
		x := func() string { return g.value(n.args[0]) }
		s := ""
		if n.months != 0 {
			s = g.d.addMonths(g, x, n.months)
		} else {
			s = x()
		}
		if n.ms != 0 {
			s = "(" + s + " + " + g.bind(n.ms) + ")"
		}
		return s
	}
	// A condition used as a value (TRUE = (a = b)).
	return g.boolean(n)
}
