package engine

import (
	"math/bits"
	"runtime"
	"slices"
	"sync"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/segmentd/segmentd/query"
)

// The email trigram index, a derived index (derived.go): for each
// trigram (three consecutive bytes) of "\x00" + email + "\x00", the
// contacts whose email holds it. A LIKE on the email other than
// '%@domain' (a prefix, an infix, any pattern with a literal of three
// bytes, counting the start and the end as "\x00") then tests only the
// contacts whose email holds every trigram of the pattern's needles
// (query.LikeTest.Needles), instead of every distinct email: emails are
// mostly distinct, so deciding such a LIKE once per distinct value is
// deciding it once per contact.
type gramIndex struct {
	post map[uint32]*roaring.Bitmap
}

// gramChunk is how many contacts the build collects at a time: one
// roaring container's range, so the postings grow by whole containers.
const gramChunk = 1 << 16

// eachGram calls f with each trigram of "\x00" + v + "\x00"; v is not "".
func eachGram(v string, f func(g uint32)) {
	g := uint32(v[0]) // "\x00", v[0]
	for i := 1; i < len(v); i++ {
		g = g<<8&0xffffff | uint32(v[i])
		f(g)
	}
	f(g << 8 & 0xffffff) // v's last two bytes (or "\x00" and v), "\x00"
}

// needleGrams returns the trigrams of the needles (each taken as it is:
// its "\x00" marks are bytes of it).
func needleGrams(needles []string) []uint32 {
	var out []uint32
	for _, nd := range needles {
		for i := 0; i+3 <= len(nd); i++ {
			out = append(out, uint32(nd[i])<<16|uint32(nd[i+1])<<8|uint32(nd[i+2]))
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// change moves contact idx from the postings of email old to those of
// email new ("" for none). The caller holds the write lock.
func (g *gramIndex) change(idx uint32, old, new string) {
	if old == new {
		return
	}
	if old != "" {
		eachGram(old, func(k uint32) {
			if bm := g.post[k]; bm != nil {
				bm.Remove(idx)
				if bm.IsEmpty() {
					delete(g.post, k)
				}
			}
		})
	}
	if new != "" {
		eachGram(new, func(k uint32) {
			bm := g.post[k]
			if bm == nil {
				bm = roaring.New()
				g.post[k] = bm
			}
			bm.Add(idx)
		})
	}
}

// emailGrams returns the account's email trigram index, building it
// first if no preview has (the contacts split in ranges across the
// machine's cores, whose postings are then merged). The caller holds the
// read lock.
func (a *account) emailGrams() *gramIndex {
	a.der.mu.Lock()
	defer a.der.mu.Unlock()
	if a.der.grams != nil {
		return a.der.grams
	}
	col := a.text[query.FieldEmail]
	workers := runtime.GOMAXPROCS(0)
	if len(col) < 4*gramChunk {
		workers = 1
	}
	a.der.grams = &gramIndex{post: gramsOf(col, a.dict.vals, workers)}
	return a.der.grams
}

// gramsOf returns the postings of the emails of col (codes into vals),
// built by workers goroutines over ranges of the contacts.
func gramsOf(col []uint32, vals []string, workers int) map[uint32]*roaring.Bitmap {
	per := (len(col)/gramChunk/workers + 1) * gramChunk
	parts := make([]map[uint32]*roaring.Bitmap, workers)
	var wg sync.WaitGroup
	for w := range parts {
		lo, hi := min(w*per, len(col)), min((w+1)*per, len(col))
		wg.Go(func() { parts[w] = buildGrams(col[lo:hi], uint32(lo), vals) })
	}
	wg.Wait()
	post := parts[0]
	for _, part := range parts[1:] {
		for k, bm := range part {
			if p := post[k]; p != nil {
				p.Or(bm)
			} else {
				post[k] = bm
			}
		}
	}
	for _, bm := range post {
		bm.RunOptimize()
	}
	return post
}

// buildGrams returns the postings of the emails of col, the contacts
// from base on, a chunk of gramChunk contacts at a time.
func buildGrams(col []uint32, base uint32, vals []string) map[uint32]*roaring.Bitmap {
	post := make(map[uint32]*roaring.Bitmap)
	lists := make(map[uint32][]uint32)
	flush := func() {
		for k, l := range lists {
			if len(l) == 0 {
				continue
			}
			bm := post[k]
			if bm == nil {
				bm = roaring.New()
				post[k] = bm
			}
			bm.AddMany(l)
			lists[k] = l[:0]
		}
	}
	for i, code := range col {
		if i%gramChunk == 0 {
			flush()
		}
		if code == 0 {
			continue
		}
		idx := base + uint32(i)
		eachGram(vals[code], func(k uint32) {
			l := lists[k]
			if n := len(l); n == 0 || l[n-1] != idx {
				lists[k] = append(l, idx)
			}
		})
	}
	flush()
	return post
}

// size estimates the index's heap bytes.
func (g *gramIndex) size() int64 {
	b := int64(len(g.post)) * mapEntryBytes(4+8)
	for _, bm := range g.post {
		b += int64(bm.GetSizeInBytes()) + 48
	}
	return b
}

// byGrams evaluates email [NOT] LIKE pattern for the contacts of in from
// the trigram index: the contacts whose email holds every trigram of the
// pattern's needles are tested by the pattern's matcher, the others do
// not match. False when the needles hold no trigram (a pattern such as
// '%a%' or '_@%'), for the caller to decide per distinct value instead.
func (cw *colwise) byGrams(p *query.Part, lt query.LikeTest, in bitset) (t, n bitset, ok bool) {
	keys := needleGrams(lt.Needles)
	if len(keys) == 0 {
		return nil, nil, false
	}
	g := cw.a.emailGrams()
	bms := make([]*roaring.Bitmap, 0, len(keys))
	for _, k := range keys {
		bm := g.post[k]
		if bm == nil {
			bms = nil // no email holds it: none matches
			break
		}
		bms = append(bms, bm)
	}
	// cand: the candidates among in, then those whose email matches. An
	// unset email ("", code 0) matches no pattern holding a literal, so
	// the matches all have an email.
	cand := newBitset(cw.n)
	if len(bms) > 0 {
		slices.SortFunc(bms, func(x, y *roaring.Bitmap) int { return int(x.GetCardinality()) - int(y.GetCardinality()) })
		bm := bms[0]
		if len(bms) > 1 {
			bm = roaring.And(bms[0], bms[1])
			for _, o := range bms[2:] {
				bm.And(o)
			}
		}
		bm.WriteDenseTo(cand)
	}
	set := cw.dense(cw.a.idents[query.FieldEmail]) // the contacts with an email
	unset := p.Eval(cw.now).Eval(&query.Record{})
	col, vals := cw.a.text[query.FieldEmail], cw.a.dict.vals
	n = newBitset(cw.n)
	cw.split(len(cand), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			c := cand[i] & in[i]
			for w := c; w != 0; w &= w - 1 {
				b := bits.TrailingZeros64(w)
				if idx := i*64 + b; idx >= len(col) || !lt.Match(vals[col[idx]]) {
					c &^= 1 << b
				}
			}
			tw := c
			if lt.Not {
				tw = in[i] & set[i] &^ c
			}
			nw := tw
			switch u := in[i] &^ set[i]; unset {
			case query.True:
				tw |= u
				nw |= u
			case query.Unknown:
				nw |= u
			}
			cand[i], n[i] = tw, nw
		}
	})
	return cand, n, true
}
