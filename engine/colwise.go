package engine

import (
	"math/bits"
	"runtime"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/segmentd/segmentd/query"
)

// Column-wise evaluation, for a preview: the query split into AND, OR and
// NOT over conditions (query.Part), each condition evaluated by the
// evaluator's own code, over dense bitsets of the account's contact
// indexes. It is faster than evaluating the whole query contact by contact
// when some conditions read one reserved text field and nothing else: such
// a condition is evaluated once per distinct value (the column is
// dictionary-coded), not once per contact; and an AND (an OR) evaluates
// each next operand only for the contacts it has not yet found false
// (true), cheap operands first.
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
	a   *account
	now time.Time
	n   int // the index space: every contact index is below it
}

// textOnly reports whether p is a condition on one reserved text field.
func textOnly(p *query.Part) bool {
	if p.Op != 0 {
		return false
	}
	_, ok := p.TextField()
	return ok
}

// worthColwise reports whether column-wise evaluation can save work: some
// condition reads one reserved text field only.
func worthColwise(p *query.Part) bool {
	if textOnly(p) {
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
		kids := make([]*query.Part, 0, len(p.Parts))
		for _, k := range p.Parts { // cheap operands first
			if textOnly(k) {
				kids = append(kids, k)
			}
		}
		for _, k := range p.Parts {
			if !textOnly(k) {
				kids = append(kids, k)
			}
		}
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
	return cw.each(p, in)
}

// text evaluates a condition on reserved text field f once per distinct
// value among the contacts of in.
func (cw *colwise) text(p *query.Part, f query.TextField, in bitset) (t, n bitset) {
	t, n = newBitset(cw.n), newBitset(cw.n)
	col := cw.a.text[f]
	vals := cw.a.dict.vals
	memo := make([]uint8, len(vals)) // 0: not evaluated; else 1 + Truth
	ev := p.Eval(cw.now)
	var r query.Record
	in.each(func(idx uint32) {
		var code uint32
		if int(idx) < len(col) {
			code = col[idx]
		}
		v := memo[code]
		if v == 0 {
			r.Text[f] = vals[code]
			v = 1 + uint8(ev.Eval(&r))
			memo[code] = v
		}
		switch query.Truth(v - 1) {
		case query.True:
			t.set(idx)
			n.set(idx)
		case query.Unknown:
			n.set(idx)
		}
	})
	return t, n
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

// colwiseScan is scan's column-wise counterpart: the indexes of cands for
// which ch holds at now, ascending, and true; or false when column-wise
// evaluation would save nothing (then the caller scans).
func (a *account) colwiseScan(ch *query.Checked, cands *roaring.Bitmap, now int64) (*bitset, bool) {
	p := ch.Split()
	if !worthColwise(p) {
		return nil, false
	}
	cw := &colwise{a: a, now: unixMilli(now), n: len(a.created)}
	in := newBitset(cw.n)
	it := cands.ManyIterator()
	buf := make([]uint32, 4096)
	for k := it.NextMany(buf); k > 0; k = it.NextMany(buf) {
		for _, idx := range buf[:k] {
			if int(idx) < cw.n {
				in.set(idx)
			}
		}
	}
	t, _ := cw.eval(p, in)
	return &t, true
}
