package engine

import (
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
// (the columns are dictionary-coded), not once per contact; one on a
// Number or Date field on a record holding that value alone; and
// array_contains(list_ids, […]) is the union of the lists' bitmaps. An AND
// (an OR) evaluates each next operand only for the contacts it has not
// yet found false (true), column conditions first.
//
// A set of contacts is held as two bitsets, t (the query is true) and n
// (not false: true or unknown), t ⊆ n. Then AND is t = ∧tᵢ, n = ∧nᵢ; OR is
// t = ∨tᵢ, n = ∨nᵢ; NOT is t = ¬n, n = ¬t: SQL's three-valued logic.

type bitset []uint64

func newBitset(n int) bitset { return make(bitset, (n+63)/64) }

func (b bitset) set(i uint32) { b[i>>6] |= 1 << (i & 63) }

func (b bitset) clone() bitset { return append(bitset(nil), b...) }

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
	n     int        // the index space: every contact index is below it
	memos *sync.Pool // of *[]uint8
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
// one custom field, or list_ids alone: one evaluated column-wise.
func columnar(p *query.Part) bool {
	if p.Op != 0 {
		return false
	}
	if _, ok := p.TextField(); ok {
		return true
	}
	if _, ok := p.ListsAny(); ok {
		return true
	}
	_, ok := p.CustomSlot()
	return ok
}

// worthColwise reports whether column-wise evaluation can save work: some
// condition is evaluated column-wise.
func worthColwise(p *query.Part) bool {
	if columnar(p) {
		return true
	}
	for _, k := range p.Parts {
		if worthColwise(k) {
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
		cur := in.clone()
		if p.Op == '&' {
			t, n = in.clone(), in.clone()
		} else {
			t, n = newBitset(cw.n), newBitset(cw.n)
		}
		for _, k := range kids {
			kt, kn := cw.eval(k, cur)
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
		t, n = in.clone(), in.clone()
		t.andNot(kn)
		n.andNot(kt)
		return t, n
	}
	if f, ok := p.TextField(); ok {
		return cw.text(p, f, in)
	}
	if ids, ok := p.ListsAny(); ok {
		return cw.lists(ids, in)
	}
	if slot, ok := p.CustomSlot(); ok && slot < len(cw.a.slotCols) {
		return cw.custom(p, slot, in)
	}
	return cw.each(p, in)
}

// lists is array_contains(list_ids, ids): the contacts of in on any of
// the lists.
func (cw *colwise) lists(ids []string, in bitset) (t, n bitset) {
	t = newBitset(cw.n)
	for _, id := range ids {
		if l := cw.a.lists[id]; l != nil {
			t.or(cw.dense(l.bm))
		}
	}
	t.and(in)
	return t, t.clone()
}

// custom evaluates a condition on one custom field: once per distinct
// value for a Text field (dictionary-coded), else contact by contact on
// a record holding that value alone.
func (cw *colwise) custom(p *query.Part, slot int, in bitset) (t, n bitset) {
	col := cw.a.slotCols[slot]
	d := cw.a.dict
	return cw.byWords(p, in, col.typ == query.Text, func(r *query.Record, idx uint32) uint32 {
		if len(r.Custom) <= slot {
			r.Custom = make([]query.Value, slot+1)
		}
		r.Custom[slot] = col.get(idx, d)
		if col.typ == query.Text && int(idx) < len(col.codes) {
			return col.codes[idx]
		}
		return 0
	})
}

// text evaluates a condition on reserved text field f once per distinct
// value among the contacts of in.
func (cw *colwise) text(p *query.Part, f query.TextField, in bitset) (t, n bitset) {
	col := cw.a.text[f]
	vals := cw.a.dict.vals
	return cw.byWords(p, in, true, func(r *query.Record, idx uint32) uint32 {
		var code uint32
		if int(idx) < len(col) {
			code = col[idx]
		}
		r.Text[f] = vals[code]
		return code
	})
}

// byWords evaluates a condition that reads one column for the contacts
// of in: load puts contact idx's value in a record and returns its
// dictionary code; with memo, the verdict is evaluated once per code
// (code 0, unset, included). Large sets are split across the machine's
// cores by ranges of words, each worker with its own memo and writing
// only its own words of t and n.
func (cw *colwise) byWords(p *query.Part, in bitset, memo bool, load func(r *query.Record, idx uint32) uint32) (t, n bitset) {
	t, n = newBitset(cw.n), newBitset(cw.n)
	run := func(lo, hi int) {
		var m []uint8 // 0: not evaluated; else 1 + Truth
		if memo {
			var release func()
			m, release = cw.memo(len(cw.a.dict.vals))
			defer release()
		}
		ev := p.Eval(cw.now)
		var r query.Record
		for i := lo; i < hi; i++ {
			var tw, nw uint64 // word i of t and n
			for w := in[i]; w != 0; w &= w - 1 {
				bit := bits.TrailingZeros64(w)
				idx := uint32(i*64 + bit)
				var v uint8
				if m != nil {
					code := load(&r, idx)
					if v = m[code]; v == 0 {
						v = 1 + uint8(ev.Eval(&r))
						m[code] = v
					}
				} else {
					load(&r, idx)
					v = 1 + uint8(ev.Eval(&r))
				}
				switch query.Truth(v - 1) {
				case query.True:
					tw |= 1 << bit
					nw |= 1 << bit
				case query.Unknown:
					nw |= 1 << bit
				}
			}
			t[i], n[i] = tw, nw
		}
	}
	workers := runtime.GOMAXPROCS(0)
	if cw.n < 100_000 || workers < 2 {
		run(0, len(in))
		return t, n
	}
	chunk := (len(in) + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range workers {
		lo := min(w*chunk, len(in))
		hi := min(lo+chunk, len(in))
		wg.Go(func() { run(lo, hi) })
	}
	wg.Wait()
	return t, n
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
	var codes func(idx uint32) uint32
	if f, ok := p.TextField(); ok {
		col := cw.a.text[f]
		codes = func(idx uint32) uint32 {
			if int(idx) < len(col) {
				return col[idx]
			}
			return 0
		}
	} else if slot, ok := p.CustomSlot(); ok && slot < len(cw.a.slotCols) && cw.a.slotCols[slot].typ == query.Text {
		col := cw.a.slotCols[slot].codes
		codes = func(idx uint32) uint32 {
			if int(idx) < len(col) {
				return col[idx]
			}
			return 0
		}
	}
	if codes == nil || cw.n == 0 {
		return costSample + 1
	}
	seen := make(map[uint32]bool, costSample)
	for i := range costSample {
		seen[codes(uint32(i*cw.n/costSample))] = true
	}
	return len(seen)
}

// each evaluates a condition contact by contact, materialising only what
// it reads, split across the machine's cores when there are many.
func (cw *colwise) each(p *query.Part, in bitset) (t, n bitset) {
	t, n = newBitset(cw.n), newBitset(cw.n)
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
		ts[w], ns[w] = newBitset(cw.n), newBitset(cw.n)
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
	b := newBitset(cw.n)
	copy(b, bm.ToDense())
	return b
}

// colwiseScan is scan's column-wise counterpart: the indexes of cands for
// which ch holds at now, ascending, and true; or false when column-wise
// evaluation would save nothing (then the caller scans).
func (a *account) colwiseScan(ch *query.Checked, cands *roaring.Bitmap, now int64, memos *sync.Pool) (*bitset, bool) {
	p := ch.Split()
	if !worthColwise(p) {
		return nil, false
	}
	cw := &colwise{a: a, now: unixMilli(now), n: len(a.created), memos: memos}
	in := cw.dense(cands)
	t, _ := cw.eval(p, in)
	return &t, true
}
