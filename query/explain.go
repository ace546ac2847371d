package query

import (
	"strings"
	"time"
)

// Truth is a condition's value in SQL's three-valued logic.
type Truth uint8

const (
	False Truth = Truth(tFalse)
	True  Truth = Truth(tTrue)
	// Unknown: neither true nor false, because a value compared is NULL.
	Unknown Truth = Truth(tUnknown)
)

func (t Truth) String() string {
	switch t {
	case True:
		return "true"
	case False:
		return "false"
	}
	return "unknown"
}

// Clause is one node of an explained query: AND, OR or NOT over clauses,
// or a condition with the values of the contact it read.
type Clause struct {
	Op string // "AND", "OR", "NOT", or "" for a condition
	// Expr is the expression the clause was written as (nil for a clause
	// the checker made up, such as the event condition of a JOIN); Text
	// prints it, and Pos is where it starts.
	Expr    Expr
	Text    string
	Pos     Pos
	Verdict Truth
	Values  []Looked
	// Event is, for a condition on the contact's events, an event that
	// satisfies its inner condition (nil when none does); the children
	// are then explained against it.
	Event    *Event
	Children []*Clause
}

// Looked is a value a condition read: a contact field or an event column
// by name, and its value: nil (NULL), string, float64, []string, or a
// time.Time.
type Looked struct {
	Name  string
	Value any
}

// Explain evaluates the checked query for contact r at now, clause by
// clause. The top clause's verdict is exactly the query's: true when
// Program.Match is; each clause below is evaluated by the same compiled
// code as the whole query, on its own (AND and OR clauses are flattened,
// so "a AND b AND c" is one clause of three).
func Explain(ch *Checked, r *Record, now time.Time) *Clause {
	c := getCtx(r, now)
	defer putCtx(c)
	x := &explainer{lang: ch.Query.Lang, c: c}
	return x.clause(ch.root)
}

type explainer struct {
	lang Lang
	c    *ctx
}

func (x *explainer) clause(n *cnode) *Clause {
	cl := &Clause{Expr: n.src, Pos: n.pos, Verdict: Truth(compileBool(n)(x.c))}
	if n.src != nil {
		cl.Text = ExprString(x.lang, n.src)
		cl.Pos = n.src.Pos()
	}
	switch {
	case !written(n):
		// A clause the checker made up inside one the query wrote (IN
		// with '' reads as IN or IS NULL): one condition, as written.
		cl.Values = x.values(n, nil)
	case n.k == kAnd || n.k == kOr:
		cl.Op = "AND"
		if n.k == kOr {
			cl.Op = "OR"
		}
		for _, a := range x.operands(n.k, n, nil) {
			cl.Children = append(cl.Children, x.clause(a))
		}
	case n.k == kNot && n.args[0].k != kExists:
		cl.Op = "NOT"
		cl.Children = []*Clause{x.clause(n.args[0])}
	case n.k == kNot:
		// NOT IN (SELECT …): the event that keeps it from being true.
		x.exists(cl, n.args[0])
	case n.k == kExists:
		x.exists(cl, n)
	case n.k == kLastEvent:
		cl.Values = []Looked{{Name: "events", Value: float64(len(x.c.r.Events))}}
	default:
		cl.Values = x.values(n, nil)
	}
	if cl.Text == "" && (n.k == kExists || n.k == kLastEvent) {
		// The event condition of a JOIN: its WHERE, as written.
		cl.Text = "an event of the contact"
		if n.args[0] != nil && n.args[0].src != nil {
			cl.Text = ExprString(x.lang, n.args[0].src)
		}
	}
	if cl.Text == "" && cl.Op != "" {
		// WHERE and HAVING of one statement: the two, joined.
		var texts []string
		for _, k := range cl.Children {
			texts = append(texts, k.Text)
		}
		cl.Text = strings.Join(texts, " "+cl.Op+" ")
	}
	if cl.Text == "" && n.k == kConst {
		cl.Text = "TRUE" // a statement without WHERE
	}
	return cl
}

// written reports whether the operands of a logical clause n are
// expressions the query wrote (rather than ones the checker made up).
func written(n *cnode) bool {
	switch n.k {
	case kAnd, kOr, kNot:
		for _, a := range n.args {
			if a.src == nil && a.k != kExists {
				return false
			}
		}
	}
	return true
}

// operands flattens a chain of k (AND or OR) that the query wrote without
// parentheses.
func (x *explainer) operands(k kind, n *cnode, out []*cnode) []*cnode {
	for _, a := range n.args {
		if _, paren := a.src.(*ParenExpr); a.k == k && !paren {
			out = x.operands(k, a, out)
		} else {
			out = append(out, a)
		}
	}
	return out
}

// exists explains a condition on the contact's events: the first event
// (in the contact's order) that satisfies the inner condition becomes the
// clause's Event, and the inner condition is explained against it.
func (x *explainer) exists(cl *Clause, n *cnode) {
	cl.Values = []Looked{{Name: "events", Value: float64(len(x.c.r.Events))}}
	if n.args[0] == nil {
		return
	}
	cond := compileBool(n.args[0])
	evs := x.c.r.Events
	saved := x.c.ev[n.scope]
	defer func() { x.c.ev[n.scope] = saved }()
	for i := range evs {
		x.c.ev[n.scope] = &evs[i]
		if cond(x.c) == tTrue {
			cl.Event = &evs[i]
			cl.Children = []*Clause{x.clause(n.args[0])}
			return
		}
	}
}

// values returns the fields and event columns n reads, once each, with
// their values for the contact (event columns of the event in scope).
func (x *explainer) values(n *cnode, out []Looked) []Looked {
	if n == nil {
		return out
	}
	var l Looked
	switch n.k {
	case kField:
		l = Looked{Name: n.f.name, Value: x.value(n)}
	case kEvField:
		if x.c.ev[n.scope] == nil {
			return out
		}
		l = Looked{Name: n.ec.name(), Value: x.value(n)}
	case kExists, kLastEvent:
		return out
	case kContains:
		out = x.values(&cnode{k: kField, t: TArray, f: n.f}, out)
		for _, a := range n.args {
			out = x.values(a, out)
		}
		return out
	default:
		for _, a := range n.args {
			out = x.values(a, out)
		}
		return out
	}
	for _, o := range out {
		if o.Name == l.Name {
			return out
		}
	}
	return append(out, l)
}

func (x *explainer) value(n *cnode) any {
	switch n.t {
	case TArray:
		if a := arrayOf(n.f)(x.c); len(a) > 0 {
			return append([]string(nil), a...)
		}
	case TNumber:
		if v, ok := compileNum(n)(x.c); ok {
			return v
		}
	case TTime:
		if v, ok := compileTime(n)(x.c); ok {
			return time.UnixMilli(v).UTC()
		}
	default:
		if v, ok := compileStr(n)(x.c); ok {
			return v
		}
	}
	return nil
}

// EventColumns returns the columns of event_data a query may read, for a
// segment builder's completion.
func EventColumns() []string {
	var out []string
	for e := ecContactID; e <= ecURL; e++ {
		out = append(out, e.name())
	}
	return out
}
