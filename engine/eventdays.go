package engine

import (
	"math"
	"runtime"
	"slices"
	"sort"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/segmentd/segmentd/query"
)

// Event day indexes: per event type a preview has asked about, the
// type's events by UTC day, each as its contact and its time within the
// day, so that "some event of type T between two times" is decided by
// the events in the window rather than by every contact: the days wholly
// inside the window give their contacts as they are, the (at most two)
// days at its edges are tested event by event on their times. A derived
// index (derived.go): built by the first preview that needs it (one
// decoding pass over the events), then kept in step by every write.
//
// A write appends the events it adds. A contact whose events change
// otherwise (deleted, its index reused, its events reset) is marked
// stale: its entries are ignored and its events read instead, until
// stale contacts are many enough (staleLimit) for the next preview to
// compact the index (a copy without their entries, their current events
// added). Pruning drops the entries before the cut (pruneDays), which
// are exactly the events pruned.

// maxDayBytes bounds an account's day indexes (8 bytes per event of the
// types indexed): past it the least recently used go first, and a type
// whose index alone would exceed it is not indexed.
const maxDayBytes = 64 << 20

// dayEntry is an event of a day bucket: its contact and its time as
// milliseconds since the bucket's start.
type dayEntry struct{ off, idx uint32 }

type dayBucket struct {
	day  int64 // dayNumber of its events' times
	ents []dayEntry
}

// dayIndex is one event type's day buckets, ascending by day.
type dayIndex struct {
	buckets []*dayBucket
	entries int
	stale   *roaring.Bitmap // contacts whose entries are not to be trusted
	used    uint64          // derived.clock at its last use
}

// dayNumber returns the number of the UTC day of unix ms ts.
func dayNumber(ts int64) int64 {
	d := ts / dayMS
	if ts%dayMS < 0 {
		d--
	}
	return d
}

// add records an event of the index's type at ts for contact idx, and
// reports whether the index grew in bytes. Its offset is ts less its
// day's start, in wrapping arithmetic: exact even for the days whose
// start int64 cannot hold (the reverse is exact too).
func (x *dayIndex) add(idx uint32, ts int64) bool {
	d := dayNumber(ts)
	var b *dayBucket
	if n := len(x.buckets); n > 0 && x.buckets[n-1].day == d { // most events are of the last day
		b = x.buckets[n-1]
	} else {
		i := sort.Search(len(x.buckets), func(i int) bool { return x.buckets[i].day >= d })
		if i == len(x.buckets) || x.buckets[i].day != d {
			x.buckets = slices.Insert(x.buckets, i, &dayBucket{day: d})
		}
		b = x.buckets[i]
	}
	c := cap(b.ents)
	b.ents = append(b.ents, dayEntry{off: uint32(ts - d*dayMS), idx: idx})
	x.entries++
	return cap(b.ents) != c
}

// size returns the index's heap bytes.
func (x *dayIndex) size() int64 {
	b := int64(cap(x.buckets))*8 + 64 + int64(x.stale.GetSizeInBytes())
	for _, bk := range x.buckets {
		b += int64(cap(bk.ents))*8 + 48
	}
	return b
}

// staleLimit is how many stale contacts an index of n entries bears
// before the next preview compacts it: reading theirs costs about what
// the entries of one day do.
func staleLimit(n int) uint64 { return 16 + uint64(n)/256 }

// daysOf returns the day index of event type typ, building it first
// when build is set and no preview has (compacting it when its stale
// contacts are many); false when there is none, or it would exceed
// maxDayBytes. The caller holds the read lock.
func (a *account) daysOf(typ string, build bool) (*dayIndex, bool) {
	a.der.mu.Lock()
	defer a.der.mu.Unlock()
	d := &a.der
	d.clock++
	if d.dayTooBig[typ] {
		return nil, false
	}
	x := d.days[typ]
	if x != nil && x.stale.GetCardinality() > staleLimit(x.entries) {
		x = a.compactDays(typ, x)
		d.days[typ] = x
	}
	if x == nil && !build {
		return nil, false
	}
	if x != nil && x.size() > d.dayLimit() { // grown past the bound alone
		delete(d.days, typ)
		x = nil
	}
	if x == nil {
		x = &dayIndex{stale: roaring.New()}
		if code, ok := a.evDict.code(typ); ok {
			var ev event
			for idx, run := range a.events {
				er := eventReader{b: run}
				for er.next(&ev) {
					if ev.typ == code {
						x.add(uint32(idx), ev.ts)
					}
				}
			}
		}
		if x.size() > d.dayLimit() {
			if d.dayTooBig == nil {
				d.dayTooBig = make(map[string]bool)
			}
			d.dayTooBig[typ] = true
			return nil, false
		}
		if d.days == nil {
			d.days = make(map[string]*dayIndex)
		}
		d.days[typ] = x
		d.evictDays(x)
	}
	x.used = d.clock
	return x, true
}

// compactDays returns a copy of x without the entries of its stale
// contacts and with their current events of type typ. Previews that
// still read x keep reading it unchanged.
func (a *account) compactDays(typ string, x *dayIndex) *dayIndex {
	y := &dayIndex{stale: roaring.New(), buckets: make([]*dayBucket, 0, len(x.buckets))}
	for _, b := range x.buckets {
		nb := &dayBucket{day: b.day, ents: make([]dayEntry, 0, len(b.ents))}
		for _, e := range b.ents {
			if !x.stale.Contains(e.idx) {
				nb.ents = append(nb.ents, e)
			}
		}
		y.buckets = append(y.buckets, nb)
		y.entries += len(nb.ents)
	}
	if code, ok := a.evDict.code(typ); ok {
		var ev event
		it := x.stale.Iterator()
		for it.HasNext() {
			idx := it.Next()
			if int(idx) >= len(a.events) {
				continue
			}
			er := eventReader{b: a.events[idx]}
			for er.next(&ev) {
				if ev.typ == code {
					y.add(idx, ev.ts)
				}
			}
		}
	}
	return y
}

// dayLimit is the bound of the account's day indexes: maxDayBytes, or
// dayMax when set (by tests).
func (d *derived) dayLimit() int64 {
	if d.dayMax > 0 {
		return d.dayMax
	}
	return maxDayBytes
}

// evictDays drops the least recently used day indexes but keep while
// they exceed maxDayBytes together. The caller holds der.mu or the write
// lock.
func (d *derived) evictDays(keep *dayIndex) {
	for {
		var total int64
		var oldest *dayIndex
		var otyp string
		for typ, x := range d.days {
			total += x.size()
			if x != keep && (oldest == nil || x.used < oldest.used) {
				oldest, otyp = x, typ
			}
		}
		if total <= d.dayLimit() || oldest == nil {
			return
		}
		delete(d.days, otyp)
	}
}

// pruneDays drops the entries of events before cut (unix ms), as
// PruneEvents drops the events. The caller holds the write lock.
func (d *derived) pruneDays(cut int64) {
	cd := dayNumber(cut)
	for _, x := range d.days {
		i := sort.Search(len(x.buckets), func(i int) bool { return x.buckets[i].day >= cd })
		for _, b := range x.buckets[:i] {
			x.entries -= len(b.ents)
		}
		x.buckets = slices.Delete(x.buckets, 0, i)
		if len(x.buckets) > 0 && x.buckets[0].day == cd {
			b := x.buckets[0]
			start := cd * dayMS
			n := len(b.ents)
			b.ents = slices.DeleteFunc(b.ents, func(e dayEntry) bool { return start+int64(e.off) < cut })
			x.entries -= n - len(b.ents)
		}
	}
}

// dayEvent keeps the day indexes in step with event of type typ at ts
// added to contact idx. The caller holds the write lock.
func (d *derived) dayEvent(idx uint32, typ string, ts int64) {
	if x := d.days[typ]; x != nil && x.add(idx, ts) {
		d.evictDays(nil) // if the indexes grew past their bound
	}
}

// dayStale marks contact idx stale in every day index: its events
// changed other than by an addition or a prune. The caller holds the
// write lock.
func (d *derived) dayStale(idx uint32) {
	for _, x := range d.days {
		x.stale.Add(idx)
	}
}

// eventRange returns the timestamps [lo, hi] of the events l asks for
// some of (Op and Upper bounds; lo > hi for none). Unlike latestRange it
// has no marker to keep out: an event at math.MinInt64 counts.
func eventRange(l query.Latest) (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	switch {
	case l.Op != 0 && l.NullBound, l.Upper != 0 && l.UpperNull,
		l.Op == query.GTR && l.Bound == math.MaxInt64, l.Upper == query.LSS && l.UpperBound == math.MinInt64:
		return 0, -1
	}
	switch l.Op {
	case query.GTR:
		lo = l.Bound + 1
	case query.GEQ:
		lo = l.Bound
	}
	switch l.Upper {
	case query.LSS:
		hi = l.UpperBound - 1
	case query.LEQ:
		hi = l.UpperBound
	}
	return lo, hi
}

// window returns the buckets of x that may hold events in [lo,
// hi] and how many entries they hold.
func (x *dayIndex) window(lo, hi int64) ([]*dayBucket, int) {
	dlo, dhi := dayNumber(lo), dayNumber(hi)
	i := sort.Search(len(x.buckets), func(i int) bool { return x.buckets[i].day >= dlo })
	j := i
	n := 0
	for j < len(x.buckets) && x.buckets[j].day <= dhi {
		n += len(x.buckets[j].ents)
		j++
	}
	return x.buckets[i:j], n
}

// byDays evaluates "some event of code's type at lo <= ts <= hi" for the
// contacts of in from day index x, whose buckets bs are those the
// window meets: every entry of a bucket strictly inside the window
// counts, those of the edge buckets by their time; then each stale
// contact of in has its events read. Never unknown.
func (cw *colwise) byDays(x *dayIndex, bs []*dayBucket, entries int, code uint32, lo, hi int64, in bitset) (t, n bitset) {
	dlo, dhi := dayNumber(lo), dayNumber(hi)
	fill := func(t bitset, bs []*dayBucket) {
		for _, b := range bs {
			if b.day > dlo && b.day < dhi {
				for _, e := range b.ents {
					if int(e.idx>>6) < len(t) {
						t[e.idx>>6] |= 1 << (e.idx & 63)
					}
				}
				continue
			}
			start := b.day * dayMS // wrapping, as add's offsets
			for _, e := range b.ents {
				if ts := start + int64(e.off); lo <= ts && ts <= hi && int(e.idx>>6) < len(t) {
					t[e.idx>>6] |= 1 << (e.idx & 63)
				}
			}
		}
	}
	t = cw.newBits()
	workers := runtime.GOMAXPROCS(0)
	if entries < 1<<16 || workers < 2 {
		fill(t, bs)
	} else {
		// Each worker fills its own bitset from a share of the buckets
		// holding about as many entries.
		parts := make([]bitset, workers)
		var wg sync.WaitGroup
		from, acc := 0, 0
		for w := range workers {
			to := from
			for to < len(bs) && (w == workers-1 || acc < (w+1)*entries/workers) {
				acc += len(bs[to].ents)
				to++
			}
			part := bs[from:to]
			parts[w] = cw.newBits()
			wg.Go(func() { fill(parts[w], part) })
			from = to
		}
		wg.Wait()
		for _, p := range parts {
			t.or(p)
		}
	}
	t.and(in)
	if !x.stale.IsEmpty() {
		var ev event
		it := x.stale.Iterator()
		for it.HasNext() {
			idx := it.Next()
			if int(idx>>6) >= len(in) || in[idx>>6]&(1<<(idx&63)) == 0 {
				continue
			}
			t[idx>>6] &^= 1 << (idx & 63)
			er := eventReader{b: cw.a.events[idx]}
			for er.next(&ev) {
				if ev.typ == code && lo <= ev.ts && ev.ts <= hi {
					t[idx>>6] |= 1 << (idx & 63)
					break
				}
			}
		}
	}
	return t, cw.cloneBits(t)
}
