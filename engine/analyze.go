package engine

import (
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/segmentd/segmentd/query"
)

// shift is one time arithmetic step: AddDate(0, months, 0), then + ms, as
// the query package's addTime does it.
type shift struct{ months, ms int64 }

// nowShift is a clock expression: AddDate(now + pre ms, months) + post ms.
// With months == 0 it is now + pre + post.
type nowShift struct{ pre, months, post int64 }

// analysis is what the engine reads off a query's AST besides the program
// the query package compiles: which parts of a contact the query can look at
// (so a Record is materialised only as far as needed) and, for queries that
// use the clock, the shapes of the time expressions (so the engine knows when
// a contact's result can next change; see timewin.go).
//
// It never decides whether a contact matches: that is query.Program's job.
// It only has to over-approximate.
type analysis struct {
	names map[string]bool // lower-cased identifiers the query mentions

	// nowShifts are the now-side expressions, each collapsed to
	// AddDate(now + pre, months) + post.
	nowShifts []nowShift
	// recChains are the step sequences (innermost first) applied to
	// anything that is not the clock: fields, event columns, constants.
	// The empty chain (the value itself) is always present.
	recChains [][]shift
	// consts are the time literals of the query (TIMESTAMP '…' and string
	// literals that read as times), which the clock may be compared with.
	consts []int64

	// invertible is false when the clock appears in a form the engine
	// cannot predict (several calendar steps on the now side, or now
	// inside a function other than timestampadd); such a segment is
	// re-evaluated in full whenever the clock moves.
	invertible bool
}

func analyze(q *query.Query) *analysis {
	a := &analysis{names: make(map[string]bool), invertible: true, recChains: [][]shift{nil}}
	if q.Stmt != nil {
		a.stmt(q.Stmt)
	} else {
		a.expr(q.Expr)
	}
	return a
}

func (a *analysis) stmt(s *query.SelectStmt) {
	if s == nil {
		return
	}
	for _, it := range s.Items {
		a.expr(it.X)
	}
	for _, j := range s.Joins {
		a.expr(j.On)
	}
	a.expr(s.Where)
	for _, g := range s.GroupBy {
		a.expr(g)
	}
	a.expr(s.Having)
}

func isNowCall(e query.Expr) bool {
	c, ok := e.(*query.CallExpr)
	if !ok {
		return false
	}
	n := strings.ToLower(c.Fun.Name)
	return n == "now" || n == "current_timestamp"
}

func (a *analysis) expr(e query.Expr) {
	switch x := e.(type) {
	case nil:
	case *query.ParenExpr:
		a.expr(x.X)
	case *query.BinaryExpr:
		if _, ok := intervalOf(x.Y); ok && (x.Op == query.ADD || x.Op == query.SUB) {
			a.chain(x)
			return
		}
		if _, ok := intervalOf(x.X); ok && x.Op == query.ADD {
			a.chain(x)
			return
		}
		a.expr(x.X)
		a.expr(x.Y)
	case *query.UnaryExpr:
		a.expr(x.X)
	case *query.CallExpr:
		switch strings.ToLower(x.Fun.Name) {
		case "now", "current_timestamp", "timestampadd":
			a.chain(x)
			return
		}
		for _, arg := range x.Args {
			if containsNow(arg) {
				a.invertible = false
			}
			a.expr(arg)
		}
	case *query.BetweenExpr:
		a.expr(x.X)
		a.expr(x.Lo)
		a.expr(x.Hi)
	case *query.InExpr:
		a.expr(x.X)
		for _, y := range x.List {
			a.expr(y)
		}
		a.stmt(x.Select)
	case *query.LikeExpr:
		a.expr(x.X)
		a.expr(x.Pattern)
	case *query.IsNullExpr:
		a.expr(x.X)
	case *query.Ident:
		a.names[strings.ToLower(x.Name)] = true
	case *query.SelectorExpr:
		a.names[strings.ToLower(x.Sel.Name)] = true
	case *query.BasicLit:
		if x.Kind == query.STRING {
			if ms, ok := query.ParseTime(x.Value); ok {
				a.consts = append(a.consts, ms)
			}
		}
	case *query.TimestampLit:
		if ms, ok := query.ParseTime(x.Value.Value); ok {
			a.consts = append(a.consts, ms)
		}
	case *query.ArrayLit:
		for _, y := range x.Elems {
			a.expr(y)
		}
	}
}

// chain records a time expression built of interval arithmetic and
// timestampadd around a base, then walks the base.
func (a *analysis) chain(e query.Expr) {
	var outer []shift // outermost first
	for {
		switch x := e.(type) {
		case *query.ParenExpr:
			e = x.X
			continue
		case *query.BinaryExpr:
			if s, ok := intervalOf(x.Y); ok && (x.Op == query.ADD || x.Op == query.SUB) {
				if x.Op == query.SUB {
					s = shift{-s.months, -s.ms}
				}
				outer = append(outer, s)
				e = x.X
				continue
			}
			if s, ok := intervalOf(x.X); ok && x.Op == query.ADD {
				outer = append(outer, s)
				e = x.Y
				continue
			}
		case *query.CallExpr:
			if strings.EqualFold(x.Fun.Name, "timestampadd") && len(x.Args) == 3 {
				if s, ok := timestampaddShift(x); ok {
					outer = append(outer, s)
					e = x.Args[2]
					continue
				}
			}
		}
		break
	}
	steps := make([]shift, len(outer)) // innermost first
	for i, s := range outer {
		steps[len(outer)-1-i] = s
	}
	if isNowCall(e) {
		var ns nowShift
		for _, s := range steps {
			switch {
			case s.months != 0 && ns.months != 0:
				a.invertible = false // two calendar steps
			case s.months != 0:
				ns.months = s.months
			case ns.months == 0:
				ns.pre += s.ms
			default:
				ns.post += s.ms
			}
		}
		a.addNow(ns)
		return
	}
	if len(steps) > 0 {
		a.recChains = append(a.recChains, steps)
	}
	a.expr(e)
}

func (a *analysis) addNow(s nowShift) {
	for _, have := range a.nowShifts {
		if have == s {
			return
		}
	}
	a.nowShifts = append(a.nowShifts, s)
}

func containsNow(e query.Expr) bool {
	found := false
	var walk func(e query.Expr)
	walk = func(e query.Expr) {
		if found || e == nil {
			return
		}
		switch x := e.(type) {
		case *query.CallExpr:
			if isNowCall(x) {
				found = true
				return
			}
			for _, y := range x.Args {
				walk(y)
			}
		case *query.ParenExpr:
			walk(x.X)
		case *query.BinaryExpr:
			walk(x.X)
			walk(x.Y)
		case *query.UnaryExpr:
			walk(x.X)
		}
	}
	walk(e)
	return found
}

// intervalOf reads INTERVAL n unit (possibly negated or parenthesised).
func intervalOf(e query.Expr) (shift, bool) {
	switch x := e.(type) {
	case *query.ParenExpr:
		return intervalOf(x.X)
	case *query.UnaryExpr:
		if x.Op == query.SUB {
			s, ok := intervalOf(x.X)
			return shift{-s.months, -s.ms}, ok
		}
	case *query.IntervalLit:
		if x.Value == nil || x.Unit == nil {
			return shift{}, false
		}
		return unitShift(x.Unit.Name, x.Value.Value, false)
	}
	return shift{}, false
}

func timestampaddShift(c *query.CallExpr) (shift, bool) {
	u, ok := c.Args[0].(*query.Ident)
	if !ok {
		return shift{}, false
	}
	neg := false
	nx := c.Args[1]
	if un, ok := nx.(*query.UnaryExpr); ok && un.Op == query.SUB {
		neg, nx = true, un.X
	}
	lit, ok := nx.(*query.BasicLit)
	if !ok {
		return shift{}, false
	}
	return unitShift(u.Name, lit.Value, neg)
}

// unitShift reads n units as a shift, in the query package's units
// (query.IntervalUnit).
func unitShift(unit, num string, neg bool) (shift, bool) {
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return shift{}, false
	}
	if neg {
		n = -n
	}
	ms, months, ok := query.IntervalUnit(unit)
	if !ok {
		return shift{}, false
	}
	return shift{months: n * months, ms: n * ms}, true
}

// need says which parts of a contact the programs of an account can read,
// so materialising a Record skips the rest.
type need struct {
	id, lists, alternates, domains, events bool
	tags                                   bool
	created, updated                       bool
	// evCols are the event columns beyond the timestamp that are read
	// (evSource…evURL bits).
	evCols uint8
	// evOnly says that only events of the types in evTypes can change the
	// result (query.Checked.EventTypes): a record then holds only those,
	// and the others are skipped undecoded. Otherwise every event is read.
	evOnly  bool
	evTypes []string
	// text are the reserved text fields read (bit f for query.TextField f).
	text  uint32
	slots []int // custom field slots, sorted
}

const (
	evSource     = query.EventSource
	evType       = query.EventType
	evSinglesend = query.EventSinglesendID
	evAutomation = query.EventAutomationID
	evCampaign   = query.EventCampaignID
	evURL        = query.EventURL
)

func (n *need) merge(o need) {
	n.id = n.id || o.id
	n.lists = n.lists || o.lists
	n.tags = n.tags || o.tags
	n.alternates = n.alternates || o.alternates
	n.domains = n.domains || o.domains
	n.mergeEvents(o)
	n.events = n.events || o.events
	n.created = n.created || o.created
	n.updated = n.updated || o.updated
	n.evCols |= o.evCols
	n.text |= o.text
	for _, s := range o.slots {
		i := sort.SearchInts(n.slots, s)
		if i == len(n.slots) || n.slots[i] != s {
			n.slots = append(n.slots, 0)
			copy(n.slots[i+1:], n.slots[i:])
			n.slots[i] = s
		}
	}
}

// mergeEvents merges o's event types into n's (before n.events is).
func (n *need) mergeEvents(o need) {
	switch {
	case !o.events:
	case !n.events:
		n.evOnly, n.evTypes = o.evOnly, slices.Clone(o.evTypes)
	case !n.evOnly || !o.evOnly:
		n.evOnly, n.evTypes = false, nil
	default:
		for _, t := range o.evTypes {
			if !slices.Contains(n.evTypes, t) {
				n.evTypes = append(n.evTypes, t)
			}
		}
	}
}

// needOf derives the parts of a contact a checked query can read, from
// the query package's own account of its inputs.
func needOf(ch *query.Checked) need {
	in := ch.Inputs()
	var types []string
	var all bool
	if in.Events {
		types, all = ch.EventTypes()
	}
	return need{
		evOnly:     in.Events && !all,
		evTypes:    types,
		id:         in.ID,
		lists:      in.ListIDs,
		tags:       in.TagIDs,
		alternates: in.AlternateEmails,
		domains:    in.EmailDomains,
		events:     in.Events,
		created:    in.CreatedAt,
		updated:    in.UpdatedAt,
		evCols:     in.EventColumns,
		text:       in.Text,
		slots:      in.Custom,
	}
}

// binding is the custom fields a query's names resolve to in a catalogue
// (id and type per name). If a catalogue change leaves it unchanged, the
// query means the same thing and its members need no re-evaluation.
func binding(a *analysis, cat *query.Catalog) string {
	names := slices.Sorted(maps.Keys(a.names))
	fields := cat.CustomFields()
	var b strings.Builder
	for _, n := range names {
		if slot, ok := cat.Slot(n); ok {
			b.WriteString(n)
			b.WriteByte('=')
			b.WriteString(fields[slot].ID)
			b.WriteByte('/')
			b.WriteString(fields[slot].Type.String())
			b.WriteByte(';')
		}
	}
	return b.String()
}
