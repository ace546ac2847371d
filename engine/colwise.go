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
	a   *account
	now time.Time
	n   int // the index space: every contact index is below it
}

// textOnly reports whether p is a condition on one reserved text field,
// one custom field, or list_ids alone: one evaluated column-wise.
func textOnly(p *query.Part) bool {
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
			it := l.bm.ManyIterator()
			buf := make([]uint32, 4096)
			for k := it.NextMany(buf); k > 0; k = it.NextMany(buf) {
				for _, idx := range buf[:k] {
					if int(idx) < cw.n {
						t.set(idx)
					}
				}
			}
		}
	}
	t.and(in)
	return t, t.clone()
}

// custom evaluates a condition on one custom field: once per distinct
// value for a Text field (dictionary-coded), else contact by contact on
// a record holding that value alone.
func (cw *colwise) custom(p *query.Part, slot int, in bitset) (t, n bitset) {
	t, n = newBitset(cw.n), newBitset(cw.n)
	col := cw.a.slotCols[slot]
	d := cw.a.dict
	ev := p.Eval(cw.now)
	r := query.Record{Custom: make([]query.Value, slot+1)}
	var memo []uint8
	if col.typ == query.Text {
		memo = make([]uint8, len(d.vals))
	}
	in.each(func(idx uint32) {
		var v uint8
		if memo != nil {
			var code uint32
			if int(idx) < len(col.codes) {
				code = col.codes[idx]
			}
			if v = memo[code]; v == 0 {
				r.Custom[slot] = col.get(idx, d)
				v = 1 + uint8(ev.Eval(&r))
				memo[code] = v
			}
		} else {
			r.Custom[slot] = col.get(idx, d)
			v = 1 + uint8(ev.Eval(&r))
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
