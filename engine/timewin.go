package engine

import (
	"container/heap"
	"math"
	"runtime"
	"slices"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/query"
)

// Time windows.
//
// A segment whose query reads the clock (NOW(), current_timestamp,
// timestampadd(…, current_timestamp)) can change membership with no write at
// all: a contact leaves "opened in the last 7 days" when its last open turns
// 7 days old. The engine keeps such segments exact without rescanning:
//
//   - When a contact is evaluated at time t, the engine also computes its
//     next wake: the earliest instant after t at which the result of any
//     time-dependent segment could differ for this contact. Between t and
//     the wake, every clock comparison of every such query keeps its truth
//     value, so the stored membership is exact for the whole interval.
//   - Wakes sit in a min-heap per account. Every read (Count, Members,
//     SegmentsOf, Search) and every write takes the request's now; first
//     the engine re-checks the contacts whose wake is due (≤ now) against
//     the time-dependent segments, at now, and schedules their next wake.
//     So reads are exact as of the request, and the work done is
//     proportional to the contacts whose result can actually have changed.
//     Advance(now) does the same for every account (e.g. from a ticker, to
//     keep reads cheap); moving the clock backwards re-evaluates the
//     time-dependent segments in full.
//
// Computing the wake. A clock comparison compares a now-side expression
// f(now) = AddDate(now, M months) + S ms with a value side w derived from one
// of the contact's time values v (created_at, updated_at, a Date custom
// field, an event timestamp, or a time literal of the query) by the query's
// own steps (w = v ± intervals). The comparison can only change where f(now)
// crosses w. For fixed-length units (S only) that is now = w − S, and with
// strict and non-strict operators the flip is at w − S or one millisecond
// later; both are candidates. Calendar months are not a constant shift
// (AddDate(Jan 31, 1 month) = Mar 3): within one UTC day, though, f(now) − now
// is constant, so the engine enumerates the few days around the crossing and
// takes, per day, its start and the exact crossing inside it. The candidate
// set is a superset of the flip points (every value against every shift, not
// only the pairs the query actually compares), which can only wake a contact
// early, never late. Forms it cannot invert (several calendar steps on the
// now side, the clock inside another function) make the segment "rescan":
// it is re-evaluated over all contacts whenever the clock moves.
//
// A read with a now earlier than what the account has already been brought
// to is answered as of the later time (requests race; the difference is the
// width of a race). Advance with an earlier time is a deliberate clock move
// (the dev-mode admin endpoint) and is honoured exactly.

const dayMS = 24 * 3600 * 1000

// noWake is the wake of a contact whose results cannot change with time.
const noWake = math.MaxInt64

// nextFlip returns the earliest candidate flip instant strictly after now
// for one value w (already shifted by a value-side chain) against the
// now-side expression s.
func nextFlip(w int64, s nowShift, now int64) int64 {
	best := int64(noWake)
	consider := func(c int64) {
		if c > now && c < best {
			best = c
		}
	}
	if s.months == 0 {
		c := w - s.pre - s.post
		consider(c)
		consider(c + 1)
		return best
	}
	// In terms of x = now + pre: AddDate(x, months) crosses u. Within one
	// UTC day of x, AddDate(x, months) - x is constant.
	u := w - s.post
	guess := addTime(u, -s.months, 0)
	start := floorDay(guess) - 5*dayMS
	for d := start; d <= start+10*dayMS; d += dayMS {
		delta := addTime(d, s.months, 0) - d
		consider(d - s.pre)
		x := u - delta
		if x >= d && x < d+dayMS {
			consider(x - s.pre)
			consider(x - s.pre + 1)
		}
	}
	return best
}

func floorDay(t int64) int64 {
	d := t / dayMS * dayMS
	if d > t {
		d -= dayMS
	}
	return d
}

// addTime is the query package's calendar arithmetic: AddDate in UTC,
// then a fixed number of ms.
func addTime(t, months, ms int64) int64 { return query.AddTime(t, months, ms) }

func applyChain(v int64, steps []shift) int64 {
	for _, s := range steps {
		v = addTime(v, s.months, s.ms)
	}
	return v
}

// timePlan is the union of the time shapes of an account's time-dependent
// segments.
type timePlan struct {
	nowShifts []nowShift
	recChains [][]shift
	consts    []int64

	// The contact values the clock can be compared with: only those some
	// time-dependent query names.
	created, updated, events bool
	dateSlots                []int
}

func (p *timePlan) add(a *analysis, ch need, cat *query.Catalog) {
	p.created = p.created || a.names["created_at"]
	p.updated = p.updated || a.names["updated_at"]
	p.events = p.events || ch.events
	fields := cat.CustomFields()
	for _, s := range ch.slots {
		if fields[s].Type == query.Date && !slices.Contains(p.dateSlots, s) {
			p.dateSlots = append(p.dateSlots, s)
		}
	}
	for _, s := range a.nowShifts {
		dup := false
		for _, h := range p.nowShifts {
			dup = dup || h == s
		}
		if !dup {
			p.nowShifts = append(p.nowShifts, s)
		}
	}
	for _, c := range a.recChains {
		dup := false
		for _, h := range p.recChains {
			dup = dup || equalChain(h, c)
		}
		if !dup {
			p.recChains = append(p.recChains, c)
		}
	}
	p.consts = append(p.consts, a.consts...)
}

func equalChain(a, b []shift) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// wake computes the next wake of a contact from its time values.
func (p *timePlan) wake(values []int64, now int64) int64 {
	best := int64(noWake)
	try := func(v int64) {
		for _, ch := range p.recChains {
			w := applyChain(v, ch)
			for _, s := range p.nowShifts {
				if c := nextFlip(w, s, now); c < best {
					best = c
				}
			}
		}
	}
	for _, v := range values {
		try(v)
	}
	for _, v := range p.consts {
		try(v)
	}
	return best
}

// timeChanged reports whether a change can move the contact's wake: only
// the time values the plan reads count.
func (d *delta) timeChanged(p *timePlan) bool {
	if d.all || d.created && p.created || d.updated && p.updated || d.events && p.events {
		return true
	}
	for _, s := range d.slots {
		if slices.Contains(p.dateSlots, s) {
			return true
		}
	}
	return false
}

type wakeEntry struct {
	at  int64
	idx uint32
}

// wakeHeap is a min-heap of wakes. Entries are not removed when a contact's
// wake changes; an entry whose time differs from the contact's current wake
// is stale and skipped when popped.
type wakeHeap []wakeEntry

func (h wakeHeap) Len() int           { return len(h) }
func (h wakeHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h wakeHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *wakeHeap) Push(x any)        { *h = append(*h, x.(wakeEntry)) }
func (h *wakeHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// schedule sets contact idx's wake.
func (a *account) schedule(idx uint32, at int64) {
	for uint32(len(a.wakeAt)) <= idx {
		a.wakeAt = append(a.wakeAt, noWake)
	}
	if a.wakeAt[idx] == at {
		return
	}
	a.wakeAt[idx] = at
	if at != noWake {
		heap.Push(&a.wakes, wakeEntry{at, idx})
		if len(a.wakes) > 2*int(a.live.GetCardinality())+1024 {
			a.compactWakes()
		}
	}
}

func (a *account) compactWakes() {
	h := a.wakes[:0]
	for i, at := range a.wakeAt {
		if at != noWake {
			h = append(h, wakeEntry{at, uint32(i)})
		}
	}
	a.wakes = h
	heap.Init(&a.wakes)
}

// due reports whether bringing the account to now would change anything.
func (a *account) due(now int64) bool {
	if now <= a.now {
		return false
	}
	if len(a.rescan) > 0 {
		return true
	}
	return len(a.wakes) > 0 && a.wakes[0].at <= now
}

// advance brings the time-dependent segments of the account to now (≥ a.now).
func (a *account) advance(now int64) {
	if now <= a.now {
		return
	}
	a.now = now
	// What changes now is the clock's doing, whatever write brought the
	// account here.
	cause := a.cause
	a.cause = segmentd.CauseClock
	defer func() { a.cause, a.stamp = cause, now }()
	a.stamp = now
	for _, s := range a.rescan {
		a.evaluate(s, now)
	}
	if len(a.tsegs) == 0 {
		a.wakes = a.wakes[:0]
		return
	}
	sc := &a.scratch
	for len(a.wakes) > 0 && a.wakes[0].at <= now {
		e := heap.Pop(&a.wakes).(wakeEntry)
		if int(e.idx) >= len(a.wakeAt) || a.wakeAt[e.idx] != e.at {
			continue // stale
		}
		a.wakeAt[e.idx] = noWake
		// Recording transitions, a contact is evaluated at each of its
		// wakes in turn, so that each change carries the instant it
		// happened at (docs/webhooks.md); otherwise once, at now: the
		// members come out the same, since nothing flips between a
		// contact's evaluation and its next wake.
		at := now
		if a.rec {
			at = e.at
		}
		a.stamp = at
		a.recheck(sc, e.idx, at, a.tsegs, a.tprogs, &a.need)
		a.schedule(e.idx, a.plan.wake(a.timeValues(&a.plan, e.idx, sc), at))
	}
}

// rewind moves the account's clock back to now: every time-dependent
// segment is evaluated afresh and every wake recomputed.
func (a *account) rewind(now int64) {
	a.now = now
	for _, s := range a.rescan {
		a.evaluate(s, now)
	}
	for _, s := range a.tsegs {
		a.evaluate(s, now)
	}
	a.rescheduleAll(now)
}

// rescheduleAll recomputes the wake of every live contact, split across
// the machine's cores for large accounts (each worker writes the wakes of
// its own contacts).
func (a *account) rescheduleAll(now int64) {
	a.wakes = a.wakes[:0]
	for i := range a.wakeAt {
		a.wakeAt[i] = noWake
	}
	if len(a.tsegs) == 0 {
		return
	}
	for len(a.wakeAt) < a.ids.len() {
		a.wakeAt = append(a.wakeAt, noWake)
	}
	all := a.live.ToArray()
	workers := max(1, min(runtime.GOMAXPROCS(0), len(all)/20000))
	inParts(all, workers, func(_ int, part []uint32) {
		sc := &scratch{}
		for _, idx := range part {
			a.wakeAt[idx] = a.plan.wake(a.timeValues(&a.plan, idx, sc), now)
		}
	})
	for _, idx := range all {
		if at := a.wakeAt[idx]; at != noWake {
			a.wakes = append(a.wakes, wakeEntry{at, idx})
		}
	}
	heap.Init(&a.wakes)
}
