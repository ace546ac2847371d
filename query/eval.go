package query

import (
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Record is one contact as the evaluator sees it. Field names were resolved
// to slots when the query was compiled, so evaluation indexes arrays and
// never looks a name up. Text values are stored as written (emails
// lower-cased by the writer); "" means unset, which queries see as NULL.
type Record struct {
	ID        string
	Text      [NumTextFields]string
	CreatedAt int64 // unix ms, UTC
	UpdatedAt int64

	ListIDs         []string
	TagIDs          []string // Constant Contact's tags (Query.Tags)
	AlternateEmails []string
	// EmailDomains is derived: see EmailDomains. The writer fills it.
	EmailDomains []string

	// Custom holds custom field values by Catalog slot; it may be shorter
	// than the catalogue (missing slots are unset).
	Custom []Value

	// Events are the contact's engagement events, in any order.
	Events []Event
}

// Value is a custom field value. The zero Value is unset.
type Value struct {
	Kind FieldType // 0 when unset
	Str  string    // Text
	Num  float64   // Number
	Time int64     // Date, unix ms
}

// TextValue, NumberValue and DateValue build set values.
func TextValue(s string) Value {
	if s == "" {
		return Value{}
	}
	return Value{Kind: Text, Str: s}
}
func NumberValue(n float64) Value { return Value{Kind: Number, Num: n} }
func DateValue(ms int64) Value    { return Value{Kind: Date, Time: ms} }

// Event is one engagement event (the event_data columns of
// docs/decisions.md §5).
type Event struct {
	Source              string // "mail"
	Type                string // normalised, see NormalizeEventType
	Timestamp           int64  // unix ms, UTC
	SinglesendID        string
	AutomationID        string
	MarketingCampaignID string
	URL                 string
}

// EmailDomains derives email_domains: the domain part (after the first '@')
// of the email and of each alternate email, without duplicates.
func EmailDomains(email string, alternates []string) []string {
	var out []string
	add := func(e string) {
		i := strings.IndexByte(e, '@')
		if i < 0 {
			return
		}
		d := e[i+1:]
		for _, o := range out {
			if o == d {
				return
			}
		}
		out = append(out, d)
	}
	add(email)
	for _, a := range alternates {
		add(a)
	}
	return out
}

// tri is SQL's three-valued truth.
type tri uint8

const (
	tFalse tri = iota
	tTrue
	tUnknown
)

func triOf(b bool) tri {
	if b {
		return tTrue
	}
	return tFalse
}

// ctx is the evaluation state of one Match or MatchAll call. Contexts are
// pooled: the event index's buffers are reused from call to call.
type ctx struct {
	r     *Record
	now   int64
	ev    [2]*Event
	maxTs int64

	// ix groups r.Events by type; built on first use in a call (ixOK) and
	// then shared by every program of that call.
	ix   evIndex
	ixOK bool
}

var ctxPool = sync.Pool{New: func() any { return new(ctx) }}

func getCtx(r *Record, now time.Time) *ctx {
	c := ctxPool.Get().(*ctx)
	c.r, c.now, c.ev, c.maxTs, c.ixOK = r, now.UnixMilli(), [2]*Event{}, 0, false
	return c
}

func putCtx(c *ctx) {
	c.r, c.ev = nil, [2]*Event{}
	ctxPool.Put(c)
}

// evIndex is a contact's events grouped by type: perm lists event
// positions group after group, and each group knows its range in perm and
// the least and greatest timestamp of its events.
type evIndex struct {
	groups []evGroup
	perm   []int32
	gid    []int32
}

type evGroup struct {
	typ      string
	min, max int64
	start, n int32
}

// index returns the contact's events grouped by type, building it once per
// call.
func (c *ctx) index() *evIndex {
	if c.ixOK {
		return &c.ix
	}
	c.ixOK = true
	ix := &c.ix
	evs := c.r.Events
	ix.groups = ix.groups[:0]
	if cap(ix.gid) < len(evs) {
		ix.gid = make([]int32, len(evs))
		ix.perm = make([]int32, len(evs))
	}
	gid, perm := ix.gid[:len(evs)], ix.perm[:len(evs)]
	for i := range evs {
		e := &evs[i]
		g := ix.find(e.Type)
		if g < 0 {
			g = len(ix.groups)
			ix.groups = append(ix.groups, evGroup{typ: e.Type, min: e.Timestamp, max: e.Timestamp})
		}
		gr := &ix.groups[g]
		gr.min = min(gr.min, e.Timestamp)
		gr.max = max(gr.max, e.Timestamp)
		gr.n++
		gid[i] = int32(g)
	}
	var start int32
	for g := range ix.groups {
		ix.groups[g].start = start
		start += ix.groups[g].n
		ix.groups[g].n = 0
	}
	for i, g := range gid {
		gr := &ix.groups[g]
		perm[gr.start+gr.n] = int32(i)
		gr.n++
	}
	return ix
}

// find returns the group of events of type t, or -1.
func (ix *evIndex) find(t string) int {
	for g := range ix.groups {
		if ix.groups[g].typ == t {
			return g
		}
	}
	return -1
}

type (
	boolFn func(*ctx) tri
	strFn  func(*ctx) (string, bool)
	numFn  func(*ctx) (float64, bool)
	timeFn func(*ctx) (int64, bool)
)

// Program is a compiled query: a closure tree over a Record. It is safe for
// concurrent use.
type Program struct {
	fn boolFn
}

// Compile turns a checked query into a Program.
func Compile(ch *Checked) *Program {
	return &Program{fn: compileBool(ch.root)}
}

// Match reports whether the contact is in the segment at time now.
func (p *Program) Match(r *Record, now time.Time) bool {
	c := getCtx(r, now)
	m := p.fn(c) == tTrue
	putCtx(c)
	return m
}

// MatchAll evaluates several programs against one contact, writing the
// results to out (len(out) >= len(progs)). It shares one evaluation state,
// which is how the engine re-checks every segment when a contact changes.
//
// Work on the contact's events is shared too: the first program that looks
// events up by type groups them once (see evIndex), and every later program
// of the call reuses the grouping.
func MatchAll(progs []*Program, r *Record, now time.Time, out []bool) {
	c := getCtx(r, now)
	for i, p := range progs {
		c.ev = [2]*Event{}
		out[i] = p.fn(c) == tTrue
	}
	putCtx(c)
}

func compileBool(n *cnode) boolFn {
	switch n.k {
	case kConst:
		v := tUnknown
		if n.t == TBool {
			v = triOf(n.b)
		}
		return func(*ctx) tri { return v }
	case kNot:
		return negate(compileBool(n.args[0]))
	case kAnd:
		return junction(compileBool(n.args[0]), compileBool(n.args[1]), tFalse)
	case kOr:
		return junction(compileBool(n.args[0]), compileBool(n.args[1]), tTrue)
	case kCmp:
		return compileCmp(n)
	case kIsNull:
		isNull := compileIsNull(n.args[0])
		if n.not {
			return func(c *ctx) tri { return triOf(!isNull(c)) }
		}
		return func(c *ctx) tri { return triOf(isNull(c)) }
	case kIn:
		return compileIn(n)
	case kLike:
		x := compileStr(n.args[0])
		lp, not := n.like, n.not
		return func(c *ctx) tri {
			s, ok := x(c)
			if !ok {
				return tUnknown
			}
			return triOf(lp.match(s) != not)
		}
	case kBetween:
		lo := compileCmp(&cnode{k: kCmp, op: GEQ, args: []*cnode{n.args[0], n.args[1]}})
		hi := compileCmp(&cnode{k: kCmp, op: LEQ, args: []*cnode{n.args[0], n.args[2]}})
		between := junction(lo, hi, tFalse)
		if n.not {
			return negate(between)
		}
		return between
	case kContains:
		return compileContains(n)
	case kExists:
		return compileExists(n)
	case kLastEvent:
		return compileLastEvent(n)
	case kIsTrue:
		x := compileBool(n.args[0])
		return func(c *ctx) tri { return triOf(x(c) == tTrue) }
	}
	panic("query: compileBool: unexpected node")
}

// negate is NOT in SQL's three-valued logic: unknown stays unknown.
func negate(x boolFn) boolFn {
	return func(c *ctx) tri {
		switch x(c) {
		case tTrue:
			return tFalse
		case tFalse:
			return tTrue
		}
		return tUnknown
	}
}

// junction is AND (dominant tFalse) or OR (dominant tTrue) in SQL's
// three-valued logic: the dominant value wins, y is not evaluated when x
// already has it, and the other definite value needs both sides.
func junction(x, y boolFn, dominant tri) boolFn {
	other := tTrue
	if dominant == tTrue {
		other = tFalse
	}
	return func(c *ctx) tri {
		a := x(c)
		if a == dominant {
			return dominant
		}
		b := y(c)
		if b == dominant {
			return dominant
		}
		if a == other && b == other {
			return other
		}
		return tUnknown
	}
}

// compileIsNull returns a test for NULL. Unset text, an empty array and a
// contact without the custom field are NULL.
func compileIsNull(n *cnode) func(*ctx) bool {
	if n.k == kField && n.t == TArray {
		arr := arrayOf(n.f)
		return func(c *ctx) bool { return len(arr(c)) == 0 }
	}
	switch n.t {
	case TNull:
		return func(*ctx) bool { return true }
	case TBool:
		b := compileBool(n)
		return func(c *ctx) bool { return b(c) == tUnknown }
	case TNumber:
		f := compileNum(n)
		return func(c *ctx) bool { _, ok := f(c); return !ok }
	case TTime:
		f := compileTime(n)
		return func(c *ctx) bool { _, ok := f(c); return !ok }
	}
	f := compileStr(n)
	return func(c *ctx) bool { _, ok := f(c); return !ok }
}

func arrayOf(f fieldRef) func(*ctx) []string {
	switch f.kind {
	case fkListIDs:
		return func(c *ctx) []string { return c.r.ListIDs }
	case fkTagIDs:
		return func(c *ctx) []string { return c.r.TagIDs }
	case fkAltEmails:
		return func(c *ctx) []string { return c.r.AlternateEmails }
	}
	return func(c *ctx) []string { return c.r.EmailDomains }
}

func compileContains(n *cnode) boolFn {
	arr := arrayOf(n.f)
	if len(n.args) == 1 && n.args[0].k == kConst {
		if n.args[0].t == TNull {
			return func(*ctx) tri { return tFalse }
		}
		v := n.args[0].s
		return func(c *ctx) tri {
			for _, s := range arr(c) {
				if s == v {
					return tTrue
				}
			}
			return tFalse
		}
	}
	vals := make([]strFn, len(n.args))
	for i, a := range n.args {
		vals[i] = compileStr(a)
	}
	// Containment is never unknown: a NULL value is simply not held.
	return func(c *ctx) tri {
		a := arr(c)
		for _, v := range vals {
			s, ok := v(c)
			if !ok {
				continue
			}
			for _, e := range a {
				if e == s {
					return tTrue
				}
			}
		}
		return tFalse
	}
}

// conjuncts appends the operands of a tree of ANDs (n itself when it is
// not an AND).
func conjuncts(n *cnode, out []*cnode) []*cnode {
	if n.k == kAnd {
		return conjuncts(n.args[1], conjuncts(n.args[0], out))
	}
	return append(out, n)
}

// andOf rebuilds a conjunction (nil when cs is empty). Three-valued AND is
// associative and commutative, and evaluation has no side effects, so the
// shape does not change the result.
func andOf(cs []*cnode) *cnode {
	if len(cs) == 0 {
		return nil
	}
	x := cs[0]
	for _, y := range cs[1:] {
		x = &cnode{k: kAnd, t: TBool, args: []*cnode{x, y}}
	}
	return x
}

// isEvCol reports whether n is event column ec of scope.
func isEvCol(n *cnode, ec eventCol, scope int) bool {
	return n.k == kEvField && n.ec == ec && n.scope == scope
}

// typeTest reads "event_type = 'T'" (either way round) on scope's event.
func typeTest(n *cnode, scope int) (string, bool) {
	if n.k != kCmp || n.op != EQL {
		return "", false
	}
	l, r := n.args[0], n.args[1]
	if isEvCol(r, ecType, scope) {
		l, r = r, l
	}
	if !isEvCol(l, ecType, scope) || r.k != kConst || r.t != TString || r.s == "" {
		return "", false
	}
	return r.s, true
}

// splitType finds a conjunct of cond that requires scope's event to have
// one type, and returns the type and the other conjuncts. An event of
// another type makes that conjunct, hence cond, not true; an event of that
// type makes it true, so cond reduces to the rest.
func splitType(cond *cnode, scope int) (typ string, rest []*cnode, ok bool) {
	cs := conjuncts(cond, nil)
	for i, x := range cs {
		if t, ok := typeTest(x, scope); ok {
			rest = append(append(rest, cs[:i]...), cs[i+1:]...)
			return t, rest, true
		}
	}
	return "", cs, false
}

// eventFree reports whether n reads nothing of any event (no event column,
// MAX, or nested event condition): its value is the same for every event.
func eventFree(n *cnode) bool {
	if n == nil {
		return true
	}
	switch n.k {
	case kEvField, kMaxTs, kExists, kLastEvent:
		return false
	}
	for _, a := range n.args {
		if !eventFree(a) {
			return false
		}
	}
	return true
}

// windowTest reads "event_timestamp op bound" (either way round) on scope's
// event, with op an ordering and bound free of events. It returns the
// operator as if the timestamp were on the left.
func windowTest(n *cnode, scope int) (Token, *cnode, bool) {
	if n.k != kCmp {
		return 0, nil, false
	}
	op, l, r := n.op, n.args[0], n.args[1]
	if isEvCol(r, ecTimestamp, scope) {
		l, r = r, l
		switch op {
		case LSS:
			op = GTR
		case LEQ:
			op = GEQ
		case GTR:
			op = LSS
		case GEQ:
			op = LEQ
		}
	}
	switch op {
	case LSS, LEQ, GTR, GEQ:
	default:
		return 0, nil, false
	}
	if !isEvCol(l, ecTimestamp, scope) || r.t != TTime || !eventFree(r) {
		return 0, nil, false
	}
	return op, r, true
}

// compileExists compiles "some event of the contact satisfies cond". When
// cond requires one event type, only that type's events are visited (the
// grouping is built once per MatchAll call and shared); when what remains
// is one comparison of the event timestamp with an event-free bound, the
// answer is read off the group's least or greatest timestamp: some event
// has ts > b exactly when the greatest one does, and ts < b when the least
// one does.
func compileExists(n *cnode) boolFn {
	scope := n.scope
	if n.args[0] == nil {
		return func(c *ctx) tri { return triOf(len(c.r.Events) > 0) }
	}
	typ, rest, typed := splitType(n.args[0], scope)
	if len(rest) == 1 {
		if op, b, ok := windowTest(rest[0], scope); ok {
			bound := compileTime(b)
			greatest := op == GTR || op == GEQ
			return func(c *ctx) tri {
				ix := c.index()
				var v int64
				if typed {
					g := ix.find(typ)
					if g < 0 {
						return tFalse
					}
					if greatest {
						v = ix.groups[g].max
					} else {
						v = ix.groups[g].min
					}
				} else {
					if len(ix.groups) == 0 {
						return tFalse
					}
					v = ix.groups[0].min
					if greatest {
						v = ix.groups[0].max
					}
					for _, g := range ix.groups[1:] {
						if greatest {
							v = max(v, g.max)
						} else {
							v = min(v, g.min)
						}
					}
				}
				t, ok := bound(c)
				if !ok {
					return tFalse
				}
				switch op {
				case GTR:
					return triOf(v > t)
				case GEQ:
					return triOf(v >= t)
				case LSS:
					return triOf(v < t)
				}
				return triOf(v <= t)
			}
		}
	}
	if typed {
		var cond boolFn
		if x := andOf(rest); x != nil {
			cond = compileBool(x)
		}
		return func(c *ctx) tri {
			ix := c.index()
			g := ix.find(typ)
			if g < 0 {
				return tFalse
			}
			if cond == nil {
				return tTrue
			}
			evs := c.r.Events
			gr := &ix.groups[g]
			saved := c.ev[scope]
			for _, i := range ix.perm[gr.start : gr.start+gr.n] {
				c.ev[scope] = &evs[i]
				if cond(c) == tTrue {
					c.ev[scope] = saved
					return tTrue
				}
			}
			c.ev[scope] = saved
			return tFalse
		}
	}
	cond := compileBool(n.args[0])
	return func(c *ctx) tri {
		evs := c.r.Events
		saved := c.ev[scope]
		for i := range evs {
			c.ev[scope] = &evs[i]
			if cond(c) == tTrue {
				c.ev[scope] = saved
				return tTrue
			}
		}
		c.ev[scope] = saved
		return tFalse
	}
}

// compileLastEvent compiles a last-event query: the contact's events that
// satisfy WHERE exist, and HAVING holds of their greatest timestamp. A
// WHERE that requires one event type visits only that type's events; one
// that requires nothing else reads the group's greatest timestamp.
func compileLastEvent(n *cnode) boolFn {
	var having boolFn
	if n.args[1] != nil {
		having = compileBool(n.args[1])
	}
	finish := func(c *ctx, found bool, max int64) tri {
		if !found {
			return tFalse
		}
		if having == nil {
			return tTrue
		}
		savedMax := c.maxTs
		c.maxTs = max
		r := having(c)
		c.maxTs = savedMax
		return triOf(r == tTrue)
	}
	if n.args[0] != nil {
		if typ, rest, ok := splitType(n.args[0], 0); ok {
			var where boolFn
			if x := andOf(rest); x != nil {
				where = compileBool(x)
			}
			return func(c *ctx) tri {
				ix := c.index()
				g := ix.find(typ)
				if g < 0 {
					return tFalse
				}
				gr := &ix.groups[g]
				if where == nil {
					return finish(c, true, gr.max)
				}
				evs := c.r.Events
				found := false
				var max int64
				saved := c.ev[0]
				for _, i := range ix.perm[gr.start : gr.start+gr.n] {
					c.ev[0] = &evs[i]
					if where(c) == tTrue {
						if !found || evs[i].Timestamp > max {
							max = evs[i].Timestamp
						}
						found = true
					}
				}
				c.ev[0] = saved
				return finish(c, found, max)
			}
		}
	}
	var where boolFn
	if n.args[0] != nil {
		where = compileBool(n.args[0])
	}
	return func(c *ctx) tri {
		evs := c.r.Events
		found := false
		var max int64
		saved := c.ev[0]
		for i := range evs {
			c.ev[0] = &evs[i]
			if where == nil || where(c) == tTrue {
				if !found || evs[i].Timestamp > max {
					max = evs[i].Timestamp
				}
				found = true
			}
		}
		c.ev[0] = saved
		return finish(c, found, max)
	}
}

// compareOrdered compares two numbers or two times; an unset side makes the
// comparison unknown.
func compareOrdered[T int64 | float64](op Token, x, y func(*ctx) (T, bool)) func(*ctx) tri {
	return func(c *ctx) tri {
		a, ok := x(c)
		if !ok {
			return tUnknown
		}
		b, ok := y(c)
		if !ok {
			return tUnknown
		}
		switch {
		case a < b:
			return cmpResult(op, -1)
		case a > b:
			return cmpResult(op, 1)
		}
		return cmpResult(op, 0)
	}
}

func cmpResult(op Token, d int) tri {
	switch op {
	case EQL:
		return triOf(d == 0)
	case NEQ:
		return triOf(d != 0)
	case LSS:
		return triOf(d < 0)
	case LEQ:
		return triOf(d <= 0)
	case GTR:
		return triOf(d > 0)
	}
	return triOf(d >= 0)
}

func compileCmp(n *cnode) boolFn {
	l, r := n.args[0], n.args[1]
	op := n.op
	if l.t == TNull || r.t == TNull {
		return func(*ctx) tri { return tUnknown }
	}
	switch l.t {
	case TString:
		// Fast path: a reserved text field against a literal.
		if l.k == kField && l.f.kind == fkText && r.k == kConst {
			slot, v := l.f.text, r.s
			if op == EQL {
				return func(c *ctx) tri {
					s := c.r.Text[slot]
					if s == "" {
						return tUnknown
					}
					return triOf(s == v)
				}
			}
			return func(c *ctx) tri {
				s := c.r.Text[slot]
				if s == "" {
					return tUnknown
				}
				return cmpResult(op, strings.Compare(s, v))
			}
		}
		// Fast path: an event column equal to a literal.
		if l.k == kEvField && l.ec != ecContactID && r.k == kConst && op == EQL {
			if f := evColEq(l.ec, l.scope, r.s); f != nil {
				return f
			}
		}
		x, y := compileStr(l), compileStr(r)
		return func(c *ctx) tri {
			a, ok := x(c)
			if !ok {
				return tUnknown
			}
			b, ok := y(c)
			if !ok {
				return tUnknown
			}
			return cmpResult(op, strings.Compare(a, b))
		}
	case TNumber:
		return compareOrdered(op, compileNum(l), compileNum(r))
	case TTime:
		return compareOrdered(op, compileTime(l), compileTime(r))
	case TBool:
		x, y := compileBool(l), compileBool(r)
		return func(c *ctx) tri {
			a, b := x(c), y(c)
			if a == tUnknown || b == tUnknown {
				return tUnknown
			}
			if op == EQL {
				return triOf(a == b)
			}
			return triOf(a != b)
		}
	}
	panic("query: compileCmp: unexpected type")
}

// evColEq compiles "event column ec of scope = v" (v a literal): unknown
// when the column is unset, as compileStr reads it.
func evColEq(ec eventCol, scope int, v string) boolFn {
	eq := func(s string) tri {
		if s == "" {
			return tUnknown
		}
		return triOf(s == v)
	}
	switch ec {
	case ecSource:
		return func(c *ctx) tri { return eq(c.ev[scope].Source) }
	case ecType:
		return func(c *ctx) tri { return eq(c.ev[scope].Type) }
	case ecSinglesendID:
		return func(c *ctx) tri { return eq(c.ev[scope].SinglesendID) }
	case ecAutomationID:
		return func(c *ctx) tri { return eq(c.ev[scope].AutomationID) }
	case ecCampaignID:
		return func(c *ctx) tri { return eq(c.ev[scope].MarketingCampaignID) }
	case ecURL:
		return func(c *ctx) tri { return eq(c.ev[scope].URL) }
	}
	return nil
}

// compileIn follows SQL: true if x equals an element; otherwise unknown if x
// or an element is NULL; otherwise false. NOT IN negates that.
func compileIn(n *cnode) boolFn {
	x := n.args[0]
	elems := n.args[1:]
	var eq []boolFn
	for _, e := range elems {
		eq = append(eq, compileCmp(&cnode{k: kCmp, op: EQL, args: []*cnode{x, e}}))
	}
	not := n.not
	return func(c *ctx) tri {
		res := tFalse
	loop:
		for _, f := range eq {
			switch f(c) {
			case tTrue:
				res = tTrue
				break loop
			case tUnknown:
				res = tUnknown
			}
		}
		if not {
			switch res {
			case tTrue:
				return tFalse
			case tFalse:
				return tTrue
			}
		}
		return res
	}
}

func compileStr(n *cnode) strFn {
	switch n.k {
	case kConst:
		if n.t == TNull {
			return func(*ctx) (string, bool) { return "", false }
		}
		v := n.s
		return func(*ctx) (string, bool) { return v, true }
	case kField:
		switch n.f.kind {
		case fkText:
			slot := n.f.text
			return func(c *ctx) (string, bool) {
				s := c.r.Text[slot]
				return s, s != ""
			}
		case fkID:
			return func(c *ctx) (string, bool) { return c.r.ID, c.r.ID != "" }
		case fkCustom:
			slot := n.f.slot
			return func(c *ctx) (string, bool) {
				if slot >= len(c.r.Custom) {
					return "", false
				}
				v := &c.r.Custom[slot]
				return v.Str, v.Kind == Text && v.Str != ""
			}
		}
	case kEvField:
		scope, ec := n.scope, n.ec
		return func(c *ctx) (string, bool) {
			e := c.ev[scope]
			var s string
			switch ec {
			case ecContactID:
				s = c.r.ID
			case ecSource:
				s = e.Source
			case ecType:
				s = e.Type
			case ecSinglesendID:
				s = e.SinglesendID
			case ecAutomationID:
				s = e.AutomationID
			case ecCampaignID:
				s = e.MarketingCampaignID
			case ecURL:
				s = e.URL
			}
			return s, s != ""
		}
	case kConcat:
		parts := make([]strFn, len(n.args))
		for i, a := range n.args {
			parts[i] = compileStr(a)
		}
		return func(c *ctx) (string, bool) {
			var b strings.Builder
			for _, p := range parts {
				s, ok := p(c)
				if !ok {
					return "", false
				}
				b.WriteString(s)
			}
			return b.String(), true
		}
	case kLower, kUpper:
		x := compileStr(n.args[0])
		upper := n.k == kUpper
		return func(c *ctx) (string, bool) {
			s, ok := x(c)
			if !ok {
				return "", false
			}
			return asciiCase(s, upper), true
		}
	}
	panic("query: compileStr: unexpected node")
}

// asciiCase folds ASCII letters only, as SQLite's lower() and upper() do, so
// the evaluator and every SQL translation agree on non-ASCII text.
func asciiCase(s string, upper bool) string {
	lo, hi := byte('A'), byte('Z')
	if upper {
		lo, hi = 'a', 'z'
	}
	i := 0
	for i < len(s) && (s[i] < lo || s[i] > hi) {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if b[i] >= lo && b[i] <= hi {
			b[i] ^= 0x20
		}
	}
	return string(b)
}

func compileNum(n *cnode) numFn {
	switch n.k {
	case kConst:
		if n.t == TNull {
			return func(*ctx) (float64, bool) { return 0, false }
		}
		v := n.n
		return func(*ctx) (float64, bool) { return v, true }
	case kField:
		slot := n.f.slot
		return func(c *ctx) (float64, bool) {
			if slot >= len(c.r.Custom) {
				return 0, false
			}
			v := &c.r.Custom[slot]
			return v.Num, v.Kind == Number
		}
	case kNeg:
		x := compileNum(n.args[0])
		return func(c *ctx) (float64, bool) { v, ok := x(c); return -v, ok }
	case kLength:
		x := compileStr(n.args[0])
		return func(c *ctx) (float64, bool) {
			s, ok := x(c)
			return float64(utf8.RuneCountInString(s)), ok
		}
	case kArith:
		x, y := compileNum(n.args[0]), compileNum(n.args[1])
		op := n.op
		return func(c *ctx) (float64, bool) {
			a, ok := x(c)
			if !ok {
				return 0, false
			}
			b, ok := y(c)
			if !ok {
				return 0, false
			}
			return arith(op, a, b)
		}
	}
	panic("query: compileNum: unexpected node")
}

// arith is the numeric arithmetic of both dialects. Division by zero is
// NULL, as in SQLite; % truncates both operands to integers first, as
// SQLite does.
func arith(op Token, a, b float64) (float64, bool) {
	switch op {
	case ADD:
		return a + b, true
	case SUB:
		return a - b, true
	case MUL:
		return a * b, true
	case QUO:
		if b == 0 {
			return 0, false
		}
		return a / b, true
	}
	ia, ib := truncInt(a), truncInt(b)
	if ib == 0 {
		return 0, false
	}
	if ib == -1 {
		return 0, true
	}
	return float64(ia % ib), true
}

func truncInt(f float64) int64 {
	if f >= math.MaxInt64 {
		return math.MaxInt64
	}
	if f <= math.MinInt64 {
		return math.MinInt64
	}
	return int64(f)
}

func compileTime(n *cnode) timeFn {
	switch n.k {
	case kConst:
		if n.t == TNull {
			return func(*ctx) (int64, bool) { return 0, false }
		}
		v := n.ms
		return func(*ctx) (int64, bool) { return v, true }
	case kNow:
		return func(c *ctx) (int64, bool) { return c.now, true }
	case kMaxTs:
		return func(c *ctx) (int64, bool) { return c.maxTs, true }
	case kField:
		switch n.f.kind {
		case fkCreatedAt:
			return func(c *ctx) (int64, bool) { return c.r.CreatedAt, true }
		case fkUpdatedAt:
			return func(c *ctx) (int64, bool) { return c.r.UpdatedAt, true }
		}
		slot := n.f.slot
		return func(c *ctx) (int64, bool) {
			if slot >= len(c.r.Custom) {
				return 0, false
			}
			v := &c.r.Custom[slot]
			return v.Time, v.Kind == Date
		}
	case kEvField:
		scope := n.scope
		return func(c *ctx) (int64, bool) { return c.ev[scope].Timestamp, true }
	case kTimeAdd:
		x := compileTime(n.args[0])
		months, ms := n.months, n.ms
		return func(c *ctx) (int64, bool) {
			t, ok := x(c)
			if !ok {
				return 0, false
			}
			return addTime(t, months, ms), true
		}
	}
	panic("query: compileTime: unexpected node")
}
