package engine

import (
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/segmentd/segmentd/query"
)

// Column-wise evaluation, for a preview: the query split into AND, OR and
// NOT over conditions (query.Part), each condition evaluated by the
// evaluator's own code, over dense bitsets of the account's contact
// indexes. It is faster than evaluating the whole query contact by contact
// when some conditions read one column and nothing else: a condition on
// one reserved or custom text field is evaluated once per distinct value
// (the columns are dictionary-coded; a LIKE by the pattern's own matcher,
// and email LIKE '%@D' once per distinct email domain), not once per
// contact; one on a Number or Date field once per distinct value as far
// as a small cache of values holds them; array_contains(list_ids, […]) is
// the union of the lists' bitmaps; and a condition decided by a contact's
// latest event of one type (query.Latest) is a comparison per contact
// with that type's latest-event array. The email domains and the
// latest-event arrays are derived indexes (derived.go). An AND (an OR)
// evaluates each next operand only for the contacts it has not yet found
// false (true), column conditions first.
//
// A set of contacts is held as two bitsets, t (the query is true) and n
// (not false: true or unknown), t ⊆ n. Then AND is t = ∧tᵢ, n = ∧nᵢ; OR is
// t = ∨tᵢ, n = ∨nᵢ; NOT is t = ¬n, n = ¬t: SQL's three-valued logic.

type bitset []uint64

func (b bitset) set(i uint32) { b[i>>6] |= 1 << (i & 63) }

func (b bitset) and(o bitset) {
	for i := range b {
		b[i] &= o[i]
	}
}

func (b bitset) or(o bitset) {
	for i := range b {
		b[i] |= o[i]
	}
}

func (b bitset) andNot(o bitset) {
	for i := range b {
		b[i] &^= o[i]
	}
}

func (b bitset) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// each calls f with every index in b, ascending.
func (b bitset) each(f func(idx uint32)) {
	for i, w := range b {
		for w != 0 {
			f(uint32(i*64 + bits.TrailingZeros64(w)))
			w &= w - 1
		}
	}
}

// first returns up to limit indexes of b, ascending.
func (b bitset) first(limit int) []uint32 {
	var out []uint32
	for i, w := range b {
		for w != 0 && len(out) < limit {
			out = append(out, uint32(i*64+bits.TrailingZeros64(w)))
			w &= w - 1
		}
	}
	return out
}

// colwise is one column-wise evaluation over an account read-locked by
// the caller.
type colwise struct {
	a     *account
	now   time.Time
	n     int                      // the index space: every contact index is below it
	memos *sync.Pool               // of *[]uint8
	bits  *sync.Pool               // of *bitset
	mu    sync.Mutex               // guards held
	held  []bitset                 // taken from bits, to give back
	codes map[*query.Part]*coded   // codedOf's answers, nil for none
	cands map[*query.Part]gramCand // gramCands' answers
}

// newBits returns a zeroed bitset of cw.n bits. Bitsets are taken from
// the engine's pool and given back when the evaluation is over (done):
// at a million contacts each is 125 KB, which the runtime would
// otherwise hand back to the system and fault in again preview after
// preview.
func (cw *colwise) newBits() bitset {
	words := (cw.n + 63) / 64
	var b bitset
	if p, _ := cw.bits.Get().(*bitset); p != nil && cap(*p) >= words {
		b = (*p)[:words]
		clear(b)
	} else {
		b = make(bitset, words)
	}
	cw.mu.Lock()
	cw.held = append(cw.held, b)
	cw.mu.Unlock()
	return b
}

// cloneBits returns a copy of b from the pool.
func (cw *colwise) cloneBits(b bitset) bitset {
	c := cw.newBits()
	copy(c, b)
	return c
}

// done gives every bitset of the evaluation back to the pool.
func (cw *colwise) done() {
	for _, b := range cw.held {
		cw.bits.Put(&b)
	}
	cw.held = nil
}

// memo returns a zeroed verdict buffer of n entries, and its release.
func (cw *colwise) memo(n int) ([]uint8, func()) {
	p, _ := cw.memos.Get().(*[]uint8)
	if p == nil || cap(*p) < n {
		b := make([]uint8, n)
		p = &b
	}
	m := (*p)[:n]
	return m, func() {
		clear(m)
		*p = m
		cw.memos.Put(p)
	}
}

// columnar reports whether p is a condition on one reserved text field,
// one custom field, list_ids alone, or the latest event of one type: one
// evaluated column-wise.
func columnar(p *query.Part, now time.Time) bool {
	if p.Op != 0 {
		return false
	}
	if _, ok := p.TextField(); ok {
		return true
	}
	if _, ok := p.ListsAny(); ok {
		return true
	}
	if _, ok := p.Latest(now); ok {
		return true
	}
	_, ok := p.CustomSlot()
	return ok
}

// worthColwise reports whether column-wise evaluation can save work: some
// condition is evaluated column-wise.
func worthColwise(p *query.Part, now time.Time) bool {
	if columnar(p, now) {
		return true
	}
	for _, k := range p.Parts {
		if worthColwise(k, now) {
			return true
		}
	}
	return false
}

// eval evaluates p for the contacts of in, returning t and n within in.
func (cw *colwise) eval(p *query.Part, in bitset) (t, n bitset) {
	switch p.Op {
	case '&', '|':
		// Cheap operands first: they leave fewer contacts for the rest.
		kids := slices.Clone(p.Parts)
		costs := make(map[*query.Part]int, len(kids))
		for _, k := range kids {
			costs[k] = cw.cost(k)
		}
		slices.SortStableFunc(kids, func(x, y *query.Part) int { return costs[x] - costs[y] })
		// The operands decided by a coded column are evaluated together
		// in one pass, where the first of them comes.
		var group []*coded
		for _, k := range kids {
			if c := cw.codedOf(k); c != nil {
				group = append(group, c)
			}
		}
		if len(group) == len(kids) {
			return cw.fused(p.Op, group, in)
		}
		cur := cw.cloneBits(in)
		if p.Op == '&' {
			t, n = cw.cloneBits(in), cw.cloneBits(in)
		} else {
			t, n = cw.newBits(), cw.newBits()
		}
		for _, k := range kids {
			var kt, kn bitset
			if c := cw.codedOf(k); c != nil {
				if group == nil {
					continue // evaluated with the first
				}
				kt, kn = cw.fused(p.Op, group, cur)
				group = nil
			} else {
				kt, kn = cw.eval(k, cur)
			}
			if p.Op == '&' {
				t.and(kt)
				n.and(kn)
				cur.and(kn) // no need to look further at the false ones
			} else {
				t.or(kt)
				n.or(kn)
				cur.andNot(kt) // nor at the true ones
			}
		}
		return t, n
	case '!':
		kt, kn := cw.eval(p.Parts[0], in)
		t, n = cw.cloneBits(in), cw.cloneBits(in)
		t.andNot(kn)
		n.andNot(kt)
		return t, n
	}
	if c := cw.codedOf(p); c != nil {
		return cw.fused('&', []*coded{c}, in)
	}
	if f, ok := p.TextField(); ok && f == query.FieldEmail {
		if lt, ok := p.Like(); ok {
			if t, n, ok := cw.byGrams(p, lt, in); ok {
				return t, n
			}
		}
	}
	if ids, ok := p.ListsAny(); ok {
		return cw.lists(ids, in)
	}
	if l, ok := p.Latest(cw.now); ok {
		if t, n, ok := cw.latestPart(l, in); ok {
			return t, n
		}
	}
	if slot, ok := p.CustomSlot(); ok && slot < len(cw.a.slotCols) {
		return cw.custom(p, slot, in)
	}
	return cw.each(p, in)
}

// latestPart evaluates a condition on events that query.Latest reads:
// one on several types as the OR of the same on each; one with keys by
// the keyed latest events; a window by the day index or the earliest and
// latest arrays; any other by the day index or the latest array. False
// when the index it needs cannot be had.
func (cw *colwise) latestPart(l query.Latest, in bitset) (t, n bitset, ok bool) {
	if len(l.Types) > 0 {
		t = cw.newBits()
		rest := cw.cloneBits(in) // the contacts not yet found true
		for _, typ := range l.Types {
			one := l
			one.Type, one.Types = typ, nil
			kt, _, ok := cw.latestPart(one, rest)
			if !ok {
				return nil, nil, false
			}
			t.or(kt)
			rest.andNot(kt)
		}
		return t, cw.cloneBits(t), true
	}
	switch {
	case len(l.Keys) > 0:
		if maps, ok := cw.keyedOf(l); ok {
			t, n = cw.keyed(l, maps, in)
			return t, n, true
		}
	case l.Upper != 0:
		return cw.window(l, in)
	default:
		if t, n, ok := cw.sinceByDays(l, in); ok {
			return t, n, true
		}
		if max, ok := cw.a.latestOf(l.Type); ok {
			t, n = cw.latest(l, max, in)
			return t, n, true
		}
	}
	return nil, nil, false
}

// coded is a condition whose verdict is a function of one coded column:
// a dictionary-coded text column, the email domains, or a value-coded
// Number or Date column (derived.go). Its codes are c32 or c16 (0 past
// their end), below ncodes; newVerdict makes, per worker, the verdict of
// a code (verdicts).
type coded struct {
	c32        []uint32
	c16        []uint16
	ncodes     int
	newVerdict func() func(code uint32) query.Truth
}

// codedOf returns p as a coded condition, or nil when it is not one: a
// condition on one reserved text field (but for an email LIKE the
// trigram index narrows, and email LIKE '%@D', decided by the email
// domains), or on one custom field, Text or value-coded.
func (cw *colwise) codedOf(p *query.Part) *coded {
	if c, ok := cw.codes[p]; ok {
		return c
	}
	c := cw.makeCoded(p)
	if cw.codes == nil {
		cw.codes = make(map[*query.Part]*coded)
	}
	cw.codes[p] = c
	return c
}

func (cw *colwise) makeCoded(p *query.Part) *coded {
	if p.Op != 0 {
		return nil
	}
	d := cw.a.dict
	if f, ok := p.TextField(); ok {
		if lt, ok := p.Like(); ok && f == query.FieldEmail {
			if lt.Domain != "" {
				dc := cw.a.emailDomains()
				// A domain key is "@D" or "-" (no '@'), so the pattern's
				// match of the key is the email's: both end with
				// lt.Domain or neither.
				return &coded{c32: dc.codes, ncodes: len(dc.dict.vals), newVerdict: cw.verdicts(p, nil, dc.dict.vals)}
			}
			if _, _, ok := cw.gramCands(p, lt); ok {
				return nil // byGrams
			}
		}
		vals := d.vals
		return &coded{c32: cw.a.text[f], ncodes: len(vals), newVerdict: cw.verdicts(p, func(r *query.Record, code uint32) {
			r.Text[f] = vals[code]
		}, vals)}
	}
	slot, ok := p.CustomSlot()
	if !ok || slot >= len(cw.a.slotCols) {
		return nil
	}
	col := cw.a.slotCols[slot]
	load := func(r *query.Record, v query.Value) {
		if len(r.Custom) <= slot {
			r.Custom = make([]query.Value, slot+1)
		}
		r.Custom[slot] = v
	}
	if col.typ == query.Text {
		return &coded{c32: col.codes, ncodes: len(d.vals), newVerdict: cw.verdicts(p, func(r *query.Record, code uint32) {
			v := query.Value{}
			if code != 0 {
				v = query.Value{Kind: query.Text, Str: d.str(code)}
			}
			load(r, v)
		}, d.vals)}
	}
	vc, ok := cw.a.valuesOf(col)
	if !ok {
		return nil
	}
	return &coded{c16: vc.codes, ncodes: len(vc.keys), newVerdict: cw.verdicts(p, func(r *query.Record, code uint32) {
		v := query.Value{}
		if code != 0 {
			v = keyValue(col.typ, vc.keys[code])
		}
		load(r, v)
	}, nil)}
}

// fused evaluates coded conditions cs, their AND (op '&') or OR ('|'),
// for the contacts of in in one pass: word by word, each condition for
// the contacts the ones before it have not decided, its verdicts kept
// in a table of one byte per code (byte), each worker's verdict called
// once per code it meets.
func (cw *colwise) fused(op byte, cs []*coded, in bitset) (t, n bitset) {
	t, n = cw.newBits(), cw.newBits()
	cw.split(len(in), func(lo, hi int) {
		runs := make([]codedRun, len(cs))
		for j, c := range cs {
			m, release := cw.memo(c.ncodes)
			defer release()
			runs[j] = codedRun{coded: c, m: m, verdict: c.newVerdict()}
		}
		for i := lo; i < hi; i++ {
			w := in[i]
			if w == 0 {
				continue
			}
			tw, nw := uint64(0), uint64(0)
			if op == '&' {
				tw, nw = w, w
			}
			for j := range runs {
				mask := w &^ tw // OR: the contacts not yet true
				if op == '&' {
					mask = nw // AND: those not yet false
				}
				if mask == 0 {
					break
				}
				rt, rn := runs[j].word(i, mask)
				if op == '&' {
					tw &= rt
					nw &= rn
				} else {
					tw |= rt & w
					nw |= rn & w
				}
			}
			t[i], n[i] = tw, nw
		}
	})
	return t, n
}

// codedRun is one worker's evaluation of a coded condition: its verdict
// by code, the table m of one byte per code (0 not yet asked, else
// memoSeen, with memoT when true and memoN when not false).
type codedRun struct {
	*coded
	m       []uint8
	verdict func(code uint32) query.Truth
}

func (r *codedRun) look(c uint32) uint8 {
	v := uint8(memoSeen)
	switch r.verdict(c) {
	case query.True:
		v |= memoT | memoN
	case query.Unknown:
		v |= memoN
	}
	r.m[c] = v
	return v
}

// word returns the verdicts (t and n bits) of word i's contacts, exact
// for those of mask.
func (r *codedRun) word(i int, mask uint64) (t, n uint64) {
	if r.c16 != nil {
		return wordOf(r, r.c16, i*64, mask)
	}
	return wordOf(r, r.c32, i*64, mask)
}

// wordOf is codedRun.word over codes col. A word of mostly wanted
// contacts reads its 64 consecutive codes without branching on the bits.
func wordOf[C uint16 | uint32](r *codedRun, col []C, base int, mask uint64) (t, n uint64) {
	m := r.m
	if base+64 <= len(col) && bits.OnesCount64(mask) > 16 {
		// Eight verdict bytes at a time into x, whose bytes' memoT (and
		// memoN) bits one multiplication gathers into eight bits.
		const lsb, gather = 0x0101010101010101, 0x0102040810204080
		cs := col[base : base+64]
		for g := 0; g < 64; g += 8 {
			var x uint64
			for k, c := range cs[g : g+8] {
				v := m[c]
				if v == 0 {
					v = r.look(uint32(c))
				}
				x |= uint64(v) << (8 * k)
			}
			t |= (x >> 1 & lsb) * gather >> 56 << g
			n |= (x >> 2 & lsb) * gather >> 56 << g
		}
		return t, n
	}
	for w := mask; w != 0; w &= w - 1 {
		b := bits.TrailingZeros64(w)
		var c uint32
		if base+b < len(col) {
			c = uint32(col[base+b])
		}
		v := m[c]
		if v == 0 {
			v = r.look(c)
		}
		t |= uint64(v>>1&1) << b
		n |= uint64(v>>2&1) << b
	}
	return t, n
}

// lists is array_contains(list_ids, ids): the contacts of in on any of
// the lists.
func (cw *colwise) lists(ids []string, in bitset) (t, n bitset) {
	t = cw.newBits()
	for _, id := range ids {
		if l := cw.a.lists[id]; l != nil {
			t.or(cw.dense(l.bm))
		}
	}
	t.and(in)
	return t, cw.cloneBits(t)
}

// custom evaluates a condition on one custom Number or Date field that
// is not value-coded (derived.go: it has too many distinct values)
// contact by contact on a record holding that value alone, its verdict
// cached by the value.
func (cw *colwise) custom(p *query.Part, slot int, in bitset) (t, n bitset) {
	col := cw.a.slotCols[slot]
	d := cw.a.dict
	// The verdict of each value seen is cached by the value's bits (those
	// of the unset marker for an unset one).
	key := func(idx uint32) uint64 {
		if k, ok := valueKey(col, idx); ok {
			return k
		}
		return unsetNumBits
	}
	return cw.byValues(p, in, key, func(r *query.Record, idx uint32) {
		if len(r.Custom) <= slot {
			r.Custom = make([]query.Value, slot+1)
		}
		r.Custom[slot] = col.get(idx, d)
	})
}

// verdicts returns, for a coded condition, a maker of a condition's verdict by
// dictionary code: for a LIKE, the pattern's match of vals[code]; for
// anything else the evaluator's verdict on a record into which load
// put the code's value alone (a record left empty without load). Code
// 0, unset, always goes to the evaluator.
func (cw *colwise) verdicts(p *query.Part, load func(r *query.Record, code uint32), vals []string) func() func(code uint32) query.Truth {
	lt, like := p.Like()
	return func() func(code uint32) query.Truth {
		ev := p.Eval(cw.now)
		var r query.Record
		return func(code uint32) query.Truth {
			if code != 0 && like {
				if lt.Match(vals[code]) != lt.Not {
					return query.True
				}
				return query.False
			}
			if load != nil {
				load(&r, code)
			}
			return ev.Eval(&r)
		}
	}
}

// Bits of a coded condition's verdict table entry.
const (
	memoSeen = 1 << iota
	memoT
	memoN
)

// latest evaluates a condition decided by each contact's latest event of
// one type (query.Latest) from that type's array (derived.go): a
// comparison per contact, never unknown.
func (cw *colwise) latest(l query.Latest, latest []int64, in bitset) (t, n bitset) {
	lo, hi := latestRange(l)
	t = cw.newBits()
	cw.split(len(in), func(from, to int) {
		for i := from; i < to; i++ {
			w := in[i]
			if w == 0 {
				continue
			}
			base := i * 64
			var tw uint64
			if base+64 <= len(latest) {
				for b, v := range latest[base : base+64] {
					if lo <= v && v <= hi {
						tw |= 1 << b
					}
				}
			} else {
				for b := range 64 {
					if base+b < len(latest) && lo <= latest[base+b] && latest[base+b] <= hi {
						tw |= 1 << b
					}
				}
			}
			t[i] = tw & w
		}
	})
	return t, cw.cloneBits(t)
}

// window evaluates a condition on some event of one type between two
// bounds (query.Latest with Upper) from that type's day index
// (eventdays.go) when the window holds at most dayShare events per
// contact, else from its earliest and latest arrays (derived.go): with
// E and L a contact's least and greatest
// timestamps of the type, it is false without such an event, or when L
// is below the window or E above it; true when E or L is inside it; and
// only when E is below it and L above it are the contact's events read.
// Never unknown. False when an array cannot be had.
func (cw *colwise) window(l query.Latest, in bitset) (t, n bitset, ok bool) {
	code, known := cw.a.evDict.code(l.Type)
	if dlo, dhi := eventRange(l); dlo > dhi || !known { // none, or no event of the type
		return cw.newBits(), cw.newBits(), true
	} else if x, ok := cw.a.daysOf(l.Type, true); ok {
		// The events in the window, if they are fewer than dayShare per
		// contact; else the arrays.
		if bs, entries := x.window(dlo, dhi); entries <= cw.n*dayShare {
			t, n = cw.byDays(x, bs, entries, code, dlo, dhi, in)
			return t, n, true
		}
	}
	latest, ok := cw.a.latestOf(l.Type)
	if !ok {
		return nil, nil, false
	}
	earliest, ok := cw.a.earliestOf(l.Type)
	if !ok {
		return nil, nil, false
	}
	lo, hi := latestRange(query.Latest{Op: l.Op, Bound: l.Bound, NullBound: l.NullBound})
	switch {
	case l.UpperNull, l.Upper == query.LSS && l.UpperBound <= lo:
		hi = lo - 1
	case l.Upper == query.LSS:
		hi = min(hi, l.UpperBound-1)
	case l.Upper == query.LEQ:
		hi = min(hi, l.UpperBound)
	}
	t = cw.newBits()
	if lo > hi {
		return t, cw.newBits(), true
	}
	span := min(len(latest), len(earliest)) // past it, no event of the type
	cw.split(len(in), func(from, to int) {
		var ev event
		for i := from; i < to; i++ {
			w := in[i]
			base := i * 64
			if base >= span {
				break
			}
			// tw: the contacts decided true; amb: those whose events are
			// to be read. noEvent is below lo, so last >= lo has one.
			var tw, amb uint64
			end := min(base+64, span)
			for b, last := range latest[base:end] {
				first := earliest[base+b]
				if last >= lo && first <= hi {
					if first >= lo || last <= hi {
						tw |= 1 << b
					} else {
						amb |= 1 << b
					}
				}
			}
			tw &= w
			for a := amb & w; a != 0; a &= a - 1 {
				b := bits.TrailingZeros64(a)
				er := eventReader{b: cw.a.events[base+b]}
				for er.next(&ev) {
					if ev.typ == code && lo <= ev.ts && ev.ts <= hi {
						tw |= 1 << b
						break
					}
				}
			}
			t[i] = tw
		}
	})
	return t, cw.cloneBits(t), true
}

// dayShare is how many events of a window per contact of the account
// the day index reads at most, rather than the earliest and latest arrays
// (two reads per contact, and the events of the contacts they leave
// undecided).
const dayShare = 1

// sinceByDays evaluates a condition on some event of one type since a
// time (or at any time; query.Latest without Upper or Keys, or a
// last-event query on MAX(event_timestamp) > or >= a time, which is the
// same) from the type's day index, if a preview has built one and the
// window holds fewer events than sinceShare per contact; false
// otherwise.
func (cw *colwise) sinceByDays(l query.Latest, in bitset) (t, n bitset, ok bool) {
	if l.Op == query.LSS || l.Op == query.LEQ {
		return nil, nil, false // MAX(event_timestamp) < a time: not "some event"
	}
	lo, hi := eventRange(l)
	code, known := cw.a.evDict.code(l.Type)
	if !known {
		return nil, nil, false
	}
	x, ok := cw.a.daysOf(l.Type, false)
	if !ok {
		return nil, nil, false
	}
	bs, entries := x.window(lo, hi)
	if entries > cw.n/sinceShare {
		return nil, nil, false
	}
	t, n = cw.byDays(x, bs, entries, code, lo, hi, in)
	return t, n, true
}

// sinceShare: a window since a time is read from the day index when
// it holds at most one event per sinceShare contacts; the latest array
// is one sequential read per contact.
const sinceShare = 4

// latestRange returns the greatest timestamps [lo, hi] for which l holds;
// noEvent is below lo.
func latestRange(l query.Latest) (lo, hi int64) {
	lo, hi = int64(noEvent)+1, int64(math.MaxInt64)
	switch {
	case l.Op != 0 && l.NullBound:
		hi = lo - 1
	case l.Op == query.GTR && l.Bound == math.MaxInt64, l.Op == query.LSS && l.Bound <= lo:
		hi = lo - 1
	case l.Op == query.GTR:
		lo = max(lo, l.Bound+1)
	case l.Op == query.GEQ:
		lo = max(lo, l.Bound)
	case l.Op == query.LSS:
		hi = l.Bound - 1
	case l.Op == query.LEQ:
		hi = l.Bound
	}
	return lo, hi
}

// keyedOf returns the keyed latest-event column of each of l's keys
// (derived.go); false when one cannot be trusted.
func (cw *colwise) keyedOf(l query.Latest) ([]map[uint32]keySpan, bool) {
	maps := make([]map[uint32]keySpan, len(l.Keys))
	for i, k := range l.Keys {
		m, ok := cw.a.keyedOf(l.Type, k)
		if !ok {
			return nil, false
		}
		maps[i] = m
	}
	return maps, true
}

// keyed evaluates a condition on some event of one type holding one of
// several keys, since an optional bound and before an optional one
// (query.Latest with Keys): an event matches the condition exactly when
// it matches it for one of the keys, so it is true for the contacts of
// in with, under some key, their least or greatest timestamp in the
// window; false for those whose timestamps under every key are all
// before it or all after it; and only for those whose least is before
// it and greatest after it are the events read. Never unknown. Its
// work is the number of contacts with such events, not the account's.
func (cw *colwise) keyed(l query.Latest, maps []map[uint32]keySpan, in bitset) (t, n bitset) {
	lo, hi := eventRange(l)
	t = cw.newBits()
	var amb bitset
	for _, m := range maps {
		for idx, v := range m {
			if v.most < lo || v.least > hi || int(idx>>6) >= len(in) || in[idx>>6]&(1<<(idx&63)) == 0 {
				continue
			}
			if lo <= v.least && v.least <= hi || lo <= v.most && v.most <= hi {
				t.set(idx)
				continue
			}
			if amb == nil {
				amb = cw.newBits()
			}
			amb.set(idx)
		}
	}
	if amb != nil {
		amb.andNot(t)
		match := cw.keyMatch(l)
		var ev event
		amb.each(func(idx uint32) {
			er := eventReader{b: cw.a.events[idx]}
			for er.next(&ev) {
				if lo <= ev.ts && ev.ts <= hi && match(&ev) {
					t.set(idx)
					return
				}
			}
		})
	}
	return t, cw.cloneBits(t)
}

// keyMatch returns whether an event is of l's type and holds one of its
// keys.
func (cw *colwise) keyMatch(l query.Latest) func(ev *event) bool {
	d := cw.a.evDict
	typ, ok := d.code(l.Type)
	if !ok {
		return func(*event) bool { return false }
	}
	type key struct {
		col  string
		code uint32 // 0: any value
	}
	var keys []key
	for _, k := range l.Keys {
		code, ok := d.code(k.Value)
		switch {
		case k.Value == "":
			code = 0
		case !ok:
			continue // a value no event holds
		}
		keys = append(keys, key{k.Col, code})
	}
	return func(ev *event) bool {
		if ev.typ != typ {
			return false
		}
		for _, k := range keys {
			if v := ev.keyCode(k.col); v != 0 && (k.code == 0 || v == k.code) {
				return true
			}
		}
		return false
	}
}

// valueCache is how many verdicts byValues keeps per worker, by value.
const valueCache = 4096

// byValues evaluates a condition that reads one column for the contacts
// of in, whose verdict is a function of the contact's value (key(idx)
// tells values apart, bit for bit): load puts contact idx's value in a
// record for the evaluator, whose verdict is cached by key in a
// direct-mapped table of valueCache entries, so a column of few distinct
// values (a score, a birthday) is evaluated about once per value, and
// one of many no slower than contact by contact.
func (cw *colwise) byValues(p *query.Part, in bitset, key func(idx uint32) uint64, load func(r *query.Record, idx uint32)) (t, n bitset) {
	t, n = cw.newBits(), cw.newBits()
	cw.split(len(in), func(lo, hi int) {
		ev := p.Eval(cw.now)
		var r query.Record
		type entry struct {
			key uint64
			v   uint8 // 0 empty, else memoSeen|memoT|memoN as byCodes
		}
		cache := make([]entry, valueCache)
		for i := lo; i < hi; i++ {
			var tw, nw uint64 // word i of t and n
			for w := in[i]; w != 0; w &= w - 1 {
				bit := bits.TrailingZeros64(w)
				idx := uint32(i*64 + bit)
				k := key(idx)
				e := &cache[(k^k>>29^k>>43)*0x9e3779b97f4a7c15>>52]
				if e.v == 0 || e.key != k {
					load(&r, idx)
					e.key, e.v = k, memoSeen
					switch ev.Eval(&r) {
					case query.True:
						e.v |= memoT | memoN
					case query.Unknown:
						e.v |= memoN
					}
				}
				tw |= uint64(e.v>>1&1) << bit
				nw |= uint64(e.v>>2&1) << bit
			}
			t[i], n[i] = tw, nw
		}
	})
	return t, n
}

// split runs f over ranges of words [0, words), split across the
// machine's cores when the index space is large, each range once; f
// writes only its own words.
func (cw *colwise) split(words int, f func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if cw.n < 100_000 || workers < 2 {
		f(0, words)
		return
	}
	chunk := (words + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range workers {
		lo := min(w*chunk, words)
		hi := min(lo+chunk, words)
		wg.Go(func() { f(lo, hi) })
	}
	wg.Wait()
}

// costSample is how many contacts cost looks at.
const costSample = 256

// cost estimates the work of evaluating p per contact, relative to the
// other operands of its AND or OR: a list condition costs nothing; a text
// column condition the number of distinct values among costSample
// contacts spread over the index (it is evaluated once per value); any
// other condition more than the most a text column can cost.
func (cw *colwise) cost(p *query.Part) int {
	if p.Op != 0 {
		total := 0
		for _, k := range p.Parts {
			total += cw.cost(k)
		}
		return total
	}
	if _, ok := p.ListsAny(); ok {
		return 0
	}
	if _, ok := p.Latest(cw.now); ok {
		return 0
	}
	c := cw.codedOf(p)
	if cw.cands[p].bm != nil {
		return 1 // an email LIKE the trigram index narrows: its candidates only
	}
	if c == nil || cw.n == 0 {
		return costSample + 1
	}
	seen := make(map[uint32]bool, costSample)
	for i := range costSample {
		idx := i * cw.n / costSample
		var code uint32
		switch {
		case idx < len(c.c32):
			code = c.c32[idx]
		case idx < len(c.c16):
			code = uint32(c.c16[idx])
		}
		seen[code] = true
	}
	return len(seen)
}

// each evaluates a condition contact by contact, materialising only what
// it reads, split across the machine's cores when there are many.
func (cw *colwise) each(p *query.Part, in bitset) (t, n bitset) {
	t, n = cw.newBits(), cw.newBits()
	nd := needOf(p.Checked())
	var idxs []uint32
	in.each(func(idx uint32) { idxs = append(idxs, idx) })
	run := func(part []uint32, t, n bitset) {
		sc := cw.a.scanScratch(&nd)
		ev := p.Eval(cw.now)
		for _, idx := range part {
			switch ev.Eval(cw.a.record(idx, sc, &nd)) {
			case query.True:
				t.set(idx)
				n.set(idx)
			case query.Unknown:
				n.set(idx)
			}
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if len(idxs) < 20000 || workers < 2 {
		run(idxs, t, n)
		return t, n
	}
	ts, ns := make([]bitset, workers), make([]bitset, workers)
	inParts(idxs, workers, func(w int, part []uint32) {
		ts[w], ns[w] = cw.newBits(), cw.newBits()
		run(part, ts[w], ns[w])
	})
	for w := range workers {
		t.or(ts[w])
		n.or(ns[w])
	}
	return t, n
}

// dense returns bm (whose indexes are all below cw.n) as a bitset.
func (cw *colwise) dense(bm *roaring.Bitmap) bitset {
	b := cw.newBits()
	bm.WriteDenseTo(b)
	return b
}

// colwiseScan is scan's column-wise counterpart: the number of cands
// for which ch holds at now, the first limit of them (ascending), and
// true; or false when column-wise evaluation would save nothing (then
// the caller scans). memos and bits are the engine's pools.
func (a *account) colwiseScan(ch *query.Checked, cands *roaring.Bitmap, now int64, limit int, memos, bits *sync.Pool) ([]uint32, int, bool) {
	p := ch.Split()
	if !worthColwise(p, unixMilli(now)) {
		return nil, 0, false
	}
	cw := &colwise{a: a, now: unixMilli(now), n: len(a.created), memos: memos, bits: bits}
	defer cw.done()
	in := cw.dense(cands)
	t, _ := cw.eval(p, in)
	return t.first(limit), t.count(), true
}
