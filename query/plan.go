package query

import (
	"math/bits"
	"slices"
	"strings"
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
// events, ...), but that a condition on some event whose requirements
// include some that read no event (a JOIN's c.country = 'US') is the AND
// of those (true when they are true, else false) and the condition on
// the event without them (hoistable).
func (ch *Checked) Split() *Part {
	var split, leaf func(n *cnode) *Part
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
		case kExists:
			if free, rest, ok := hoistable(n); ok {
				ex := *n
				ex.args = []*cnode{rest}
				return &Part{Op: '&', Parts: []*Part{
					leaf(&cnode{k: kIsTrue, t: TBool, args: []*cnode{free}}),
					leaf(&ex),
				}}
			}
		}
		return leaf(n)
	}
	leaf = func(n *cnode) *Part {
		return &Part{ch: &Checked{Query: ch.Query, catalog: ch.catalog, root: n, UsesEvents: ch.UsesEvents, UsesNow: ch.UsesNow}}
	}
	return split(ch.root)
}

// hoistable splits the condition of "some event satisfies C" (an
// EXISTS, IN (SELECT …), a JOIN's WHERE) into the conjuncts of C that
// read nothing of an event (free: a JOIN's c.country = 'US') and the
// others (rest, nil when none); false when no conjunct is free. Free
// conjuncts are the same for every event of the contact, so the
// condition is "free IS TRUE AND some event satisfies rest": EXISTS is
// never unknown, and it is false when free is unknown. The engine can
// then decide each side by its own index instead of decoding every
// contact's events.
func hoistable(n *cnode) (free, rest *cnode, ok bool) {
	if n.args[0] == nil {
		return nil, nil, false
	}
	var fs, rs []*cnode
	for _, x := range conjuncts(n.args[0], nil) {
		if eventFree(x) {
			fs = append(fs, x)
		} else {
			rs = append(rs, x)
		}
	}
	if len(fs) == 0 {
		return nil, nil, false
	}
	return andOf(fs), andOf(rs), true
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

// LikeTest is a condition x [NOT] LIKE 'pattern' on one text field read
// as it is (see Part.Like).
type LikeTest struct {
	Not bool
	// Match reports whether a value matches the pattern; the field's
	// verdict is unknown when it is unset (""), else Match(v) != Not.
	Match func(v string) bool
	// Domain, when not "", is "@D" for a pattern '%@D' whose D holds no
	// '@' and no wildcard: a value matches exactly when it ends with
	// Domain, that is when its part from its last '@' on equals Domain
	// (D has no '@', so the '@' Domain starts with is the value's last).
	Domain string
	// Needles are strings that "\x00" + v + "\x00" contains for every
	// value v the pattern matches (necessary, not sufficient): its
	// literal parts, the first one prefixed with "\x00" when the pattern
	// starts with it and the last suffixed with "\x00" when it ends with
	// it. An index of the values' substrings can narrow the values to
	// test by Match to those holding every needle.
	Needles []string
	// Plain is set when the pattern is one literal with nothing around
	// it but '%' ('L', 'L%', '%L' or '%L%') and Match tests it byte by
	// byte: then a value v holding no zero byte matches exactly when
	// "\x00" + v + "\x00" holds Needles[0] (the only zero bytes being
	// the marks), so an index of short substrings can decide it alone.
	Plain bool
}

// Like reports whether a condition is x [NOT] LIKE 'pattern' with x a
// reserved text field or a custom Text field (not an expression over
// one), and returns its test, which gives the evaluator's verdicts.
func (p *Part) Like() (LikeTest, bool) {
	n := p.ch.root
	if p.Op != 0 || n.k != kLike || n.args[0].k != kField || n.args[0].t != TString {
		return LikeTest{}, false
	}
	if k := n.args[0].f.kind; k != fkText && k != fkCustom {
		return LikeTest{}, false
	}
	lt := LikeTest{Not: n.not, Match: n.like.match}
	ps := n.like.parts
	for i, p := range ps {
		if p.kind != 'l' {
			continue
		}
		s := p.s
		if i == 0 {
			s = "\x00" + s
		}
		if i == len(ps)-1 {
			s += "\x00"
		}
		lt.Needles = append(lt.Needles, s)
	}
	var kinds []byte
	zero := false // a literal holding a zero byte, which the marks could fake
	for _, p := range ps {
		kinds = append(kinds, p.kind)
		zero = zero || strings.IndexByte(p.s, 0) >= 0
	}
	switch string(kinds) {
	case "l", "l%", "%l", "%l%":
		lt.Plain = n.like.fast != nil && !zero
	}
	if ps := n.like.parts; len(ps) == 2 && ps[0].kind == '%' && ps[1].kind == 'l' &&
		ps[1].s[0] == '@' && !strings.Contains(ps[1].s[1:], "@") {
		lt.Domain = ps[1].s
	}
	return lt, true
}

// Latest describes a condition decided by the greatest timestamp among a
// contact's events of one type (see Part.Latest): false for a contact
// with no event of Type; else true when Op is 0, or when that timestamp
// Op Bound holds (false when NullBound). Never unknown.
type Latest struct {
	Type string
	// Types, when not empty, are the event types of a condition on some
	// event of any of them (event_type IN (…), or an OR of event_type =
	// …); Type is then "". Such a condition is true exactly when it is
	// for one of the types alone.
	Types     []string
	Op        Token // 0, LSS, LEQ, GTR or GEQ
	Bound     int64 // unix ms
	NullBound bool
	// Keys, when not empty, narrows the events to those of Type that
	// hold one of these values in one of these columns (a single send's
	// or a campaign's, as "singlesend_id = 'X'" or the criteria's
	// "(singlesend_id IN (…) OR marketing_campaign_id IN (…))" reads):
	// the greatest timestamp is then the greatest among a contact's
	// events of Type matching some key. Only a condition on some event
	// (not a last-event query) has keys, so the condition is true
	// exactly when it is for one of the keys alone.
	Keys []EventKey
	// Upper, when not 0 (LSS or LEQ), is a second requirement of the
	// same event (only in a condition on some event, not a last-event
	// query): its timestamp Upper UpperBound (never, when
	// UpperNull). The greatest timestamp alone then does not decide the
	// condition: some event must lie between both bounds.
	Upper      Token
	UpperBound int64
	UpperNull  bool
}

// EventKey is a value of an event's single send, automation, campaign
// or URL column: Col is "singlesend_id", "automation_id",
// "marketing_campaign_id" or "url"; Value "" stands for any value (the
// column IS NOT NULL, as the criteria's "any campaign" reads).
type EventKey struct {
	Col   string
	Value string
}

// Latest reports whether a condition, at now, is one of these shapes and
// reads nothing else of the contact:
//
//   - some event of type T exists (EXISTS, IN (SELECT …), a JOIN), with
//     at most one requirement event_timestamp > or >= a time that
//     depends on the clock alone (compileExists reads the group's
//     greatest timestamp for it), at most one on the event's single
//     send, automation, campaign or URL (eventKeys: then Keys), and at most
//     one event_timestamp < or <= such a time (then Upper); the type
//     may be one of several (then Types);
//   - a last-event query (GROUP BY … HAVING) whose WHERE is event_type = T
//     and whose HAVING is absent or MAX(event_timestamp) compared with
//     such a time (compileLastEvent reads the group's greatest timestamp).
func (p *Part) Latest(now time.Time) (Latest, bool) {
	n := p.ch.root
	if p.Op != 0 {
		return Latest{}, false
	}
	in := p.ch.Inputs()
	if in.Text != 0 || len(in.Custom) > 0 || in.CreatedAt || in.UpdatedAt || in.ListIDs ||
		in.AlternateEmails || in.EmailDomains || in.TagIDs {
		return Latest{}, false
	}
	bound := func(b *cnode) (Latest, bool) {
		if !clockOnly(b) {
			return Latest{}, false
		}
		v, ok := compileTime(b)(&ctx{now: now.UnixMilli(), r: &Record{}})
		return Latest{Bound: v, NullBound: !ok}, true
	}
	switch n.k {
	case kExists:
		if n.args[0] == nil {
			return Latest{}, false
		}
		typ, rest, ok := splitType(n.args[0], n.scope)
		var types []string
		if !ok {
			types, rest, ok = splitTypes(n.args[0], n.scope)
		}
		if !ok || len(rest) > 3 {
			return Latest{}, false
		}
		l := Latest{Type: typ, Types: types}
		for _, x := range rest {
			if op, b, ok := windowTest(x, n.scope); ok {
				lb, ok := bound(b)
				if !ok {
					return Latest{}, false
				}
				switch {
				case (op == GTR || op == GEQ) && l.Op == 0:
					l.Op, l.Bound, l.NullBound = op, lb.Bound, lb.NullBound
				case (op == LSS || op == LEQ) && l.Upper == 0:
					l.Upper, l.UpperBound, l.UpperNull = op, lb.Bound, lb.NullBound
				default:
					return Latest{}, false
				}
				continue
			}
			if keys, ok := eventKeys(x, n.scope, nil); ok && l.Keys == nil && len(keys) > 0 {
				l.Keys = keys
				continue
			}
			return Latest{}, false
		}
		return l, true
	case kLastEvent:
		if n.args[0] == nil {
			return Latest{}, false
		}
		typ, rest, ok := splitType(n.args[0], 0)
		if !ok || len(rest) > 0 {
			return Latest{}, false
		}
		h := n.args[1]
		if h == nil {
			return Latest{Type: typ}, true
		}
		if h.k != kCmp {
			return Latest{}, false
		}
		op, l, r := h.op, h.args[0], h.args[1]
		if r.k == kMaxTs {
			l, r = r, l
			op = map[Token]Token{LSS: GTR, LEQ: GEQ, GTR: LSS, GEQ: LEQ}[op]
		}
		if l.k != kMaxTs || r.t != TTime || op != LSS && op != LEQ && op != GTR && op != GEQ {
			return Latest{}, false
		}
		lt, ok := bound(r)
		lt.Type, lt.Op = typ, op
		return lt, ok
	}
	return Latest{}, false
}

// splitTypes finds a conjunct of cond that requires scope's event to
// have one of several types (typesTest), and returns them and the other
// conjuncts.
func splitTypes(cond *cnode, scope int) (types []string, rest []*cnode, ok bool) {
	cs := conjuncts(cond, nil)
	for i, x := range cs {
		if ts, ok := typesTest(x, scope, nil); ok && len(ts) > 0 {
			slices.Sort(ts)
			rest = append(append(rest, cs[:i]...), cs[i+1:]...)
			return slices.Compact(ts), rest, true
		}
	}
	return nil, cs, false
}

// typesTest appends to types those n requires of scope's event when n
// is event_type = a constant, event_type IN constants (a NULL among them
// matches no event), or an OR of those: n is then true for an event
// exactly when its type is one of types.
func typesTest(n *cnode, scope int, types []string) ([]string, bool) {
	switch n.k {
	case kOr:
		var ok bool
		if types, ok = typesTest(n.args[0], scope, types); !ok {
			return nil, false
		}
		return typesTest(n.args[1], scope, types)
	case kIn:
		if n.not || !isEvCol(n.args[0], ecType, scope) {
			return nil, false
		}
		for _, v := range n.args[1:] {
			switch {
			case v.k == kConst && v.t == TNull:
			case v.k == kConst && v.t == TString && v.s != "":
				types = append(types, v.s)
			default:
				return nil, false
			}
		}
		return types, true
	}
	t, ok := typeTest(n, scope)
	if !ok {
		return nil, false
	}
	return append(types, t), true
}

// clockOnly reports whether n reads nothing of a contact or its events:
// constants, the clock and arithmetic over them.
func clockOnly(n *cnode) bool {
	if n == nil {
		return true
	}
	switch n.k {
	case kField, kEvField, kMaxTs, kExists, kLastEvent, kContains:
		return false
	}
	for _, a := range n.args {
		if !clockOnly(a) {
			return false
		}
	}
	return true
}

// eventKeys appends to keys the values n requires of scope's event when n
// is an equality of its single send, automation, campaign or URL column with
// a constant, an IN of one over constants, such a column IS NOT NULL, or
// an OR of those: n is then
// true for an event exactly when one of the keys holds (a NULL or empty
// constant equals no event's value, which is never ""; an unset column
// makes the equality unknown, not true).
func eventKeys(n *cnode, scope int, keys []EventKey) ([]EventKey, bool) {
	col := func(x *cnode) (string, bool) {
		if x.k != kEvField || x.scope != scope {
			return "", false
		}
		switch x.ec {
		case ecSinglesendID, ecAutomationID, ecCampaignID, ecURL:
			return x.ec.name(), true
		}
		return "", false
	}
	add := func(c string, v *cnode) bool {
		if v.k != kConst || v.t != TString && v.t != TNull {
			return false
		}
		if v.t == TString && v.s != "" {
			keys = append(keys, EventKey{Col: c, Value: v.s})
		}
		return true
	}
	switch n.k {
	case kOr:
		var ok bool
		if keys, ok = eventKeys(n.args[0], scope, keys); !ok {
			return nil, false
		}
		return eventKeys(n.args[1], scope, keys)
	case kCmp:
		if n.op != EQL {
			return nil, false
		}
		l, r := n.args[0], n.args[1]
		c, ok := col(l)
		if !ok {
			l, r = r, l
			if c, ok = col(l); !ok {
				return nil, false
			}
		}
		return keys, add(c, r)
	case kIsNull:
		c, ok := col(n.args[0])
		if !ok || !n.not {
			return nil, false
		}
		return append(keys, EventKey{Col: c}), true
	case kIn:
		c, ok := col(n.args[0])
		if !ok || n.not {
			return nil, false
		}
		for _, v := range n.args[1:] {
			if !add(c, v) {
				return nil, false
			}
		}
		return keys, true
	}
	return nil, false
}
