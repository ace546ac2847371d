package query

import "slices"

// EventTypes returns the event types whose events can change the query's
// result. Every event the query reads goes through an EXISTS over events or
// a MAX over a contact's events; when each of those requires its own event
// to have one type (a conjunct event_type = 'T', as the evaluator's
// splitType finds it), an event of any other type makes every such
// condition false, so adding or removing it leaves every contact's result
// as it was. all is true when an event of any type may matter; a query
// that reads no events returns neither types nor all.
//
// The engine uses it to re-check, when a contact gets events, only the
// segments those events can affect.
func (ch *Checked) EventTypes() (types []string, all bool) {
	var walk func(n *cnode)
	walk = func(n *cnode) {
		if n == nil || all {
			return
		}
		switch n.k {
		case kExists, kLastEvent:
			scope := n.scope
			if n.k == kLastEvent {
				scope = 0 // as compileLastEvent reads it
			}
			if n.args[0] == nil {
				all = true
				return
			}
			t, _, ok := splitType(n.args[0], scope)
			if !ok {
				all = true
				return
			}
			if !slices.Contains(types, t) {
				types = append(types, t)
			}
		case kConst, kNow, kField, kEvField, kNot, kAnd, kOr, kCmp, kIsNull, kIn, kLike, kBetween,
			kArith, kNeg, kConcat, kTimeAdd, kLower, kUpper, kLength, kContains, kMaxTs, kIsTrue:
		default:
			// A kind this walk does not know may read events its own way.
			all = true
			return
		}
		for _, a := range n.args {
			walk(a)
		}
	}
	walk(ch.root)
	if all {
		return nil, true
	}
	slices.Sort(types)
	return types, false
}
