package query

import (
	"math/bits"
	"time"
)

// Part is a checked query split for evaluating many contacts column by
// column (the engine's preview): AND, OR and NOT over conditions, each
// compiled on its own by the evaluator's code. SQL's three-valued AND and
// OR are associative and commutative and evaluation has no side effects,
// so combining the conditions' verdicts by them gives the query's verdict,
// whatever the order the conditions are evaluated in.
type Part struct {
	// Op is 0 for a condition, or '&', '|', '!'.
	Op    byte
	Parts []*Part
	ch    *Checked // a condition's own view of the query
}

// Split returns the query as Parts. AND and OR chains are flattened; a
// condition is anything else (a comparison, LIKE, IN, a condition on
// events, ...).
func (ch *Checked) Split() *Part {
	var split func(n *cnode) *Part
	split = func(n *cnode) *Part {
		switch n.k {
		case kAnd, kOr:
			p := &Part{Op: '&'}
			if n.k == kOr {
				p.Op = '|'
			}
			var add func(m *cnode)
			add = func(m *cnode) {
				if m.k == n.k {
					add(m.args[0])
					add(m.args[1])
					return
				}
				p.Parts = append(p.Parts, split(m))
			}
			add(n)
			return p
		case kNot:
			return &Part{Op: '!', Parts: []*Part{split(n.args[0])}}
		}
		return &Part{ch: &Checked{Query: ch.Query, catalog: ch.catalog, root: n, UsesEvents: ch.UsesEvents, UsesNow: ch.UsesNow}}
	}
	return split(ch.root)
}

// Checked returns a condition as a query of its own, for its Inputs and
// EventTypes.
func (p *Part) Checked() *Checked { return p.ch }

// TextField reports whether a condition reads one reserved text field and
// nothing else, and which: its verdict is then a function of that field's
// value alone.
func (p *Part) TextField() (TextField, bool) {
	in := p.ch.Inputs()
	if bits.OnesCount32(in.Text) != 1 || len(in.Custom) > 0 || in.ID || in.CreatedAt || in.UpdatedAt ||
		in.ListIDs || in.AlternateEmails || in.EmailDomains || in.Events {
		return 0, false
	}
	return TextField(bits.TrailingZeros32(in.Text)), true
}

// CondEval evaluates one condition for contact after contact at one time.
// It is not safe for concurrent use; make one per goroutine.
type CondEval struct {
	fn boolFn
	c  ctx
}

// Eval returns a condition's evaluator at now.
func (p *Part) Eval(now time.Time) *CondEval {
	e := &CondEval{fn: compileBool(p.ch.root)}
	e.c.now = now.UnixMilli()
	return e
}

// Eval returns the condition's verdict for r.
func (e *CondEval) Eval(r *Record) Truth {
	e.c.r, e.c.ev, e.c.maxTs, e.c.ixOK = r, [2]*Event{}, 0, false
	return Truth(e.fn(&e.c))
}

// CustomSlot reports whether a condition reads one custom field and
// nothing else, and its catalogue slot.
func (p *Part) CustomSlot() (int, bool) {
	in := p.ch.Inputs()
	if len(in.Custom) != 1 || in.Text != 0 || in.ID || in.CreatedAt || in.UpdatedAt ||
		in.ListIDs || in.AlternateEmails || in.EmailDomains || in.Events {
		return 0, false
	}
	return in.Custom[0], true
}

// ListsAny reports whether a condition is array_contains(list_ids, …) of
// constant list ids, and which: it is then true for exactly the contacts
// on any of those lists, and false for the others (containment is never
// unknown: see compileContains).
func (p *Part) ListsAny() ([]string, bool) {
	n := p.ch.root
	if n.k != kContains || n.f.kind != fkListIDs {
		return nil, false
	}
	var ids []string
	for _, a := range n.args {
		if a.k != kConst {
			return nil, false
		}
		if a.t != TNull {
			ids = append(ids, a.s)
		}
	}
	return ids, true
}
