package engine

import (
	"math"
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

// gramCand is gramCands' answer: the candidates (nil for none), and
// whether they are exactly the matches.
type gramCand struct {
	bm    *roaring.Bitmap
	exact bool
}

// gramCands returns the candidates of email LIKE p, found once per
// evaluation: those of plainCandidates, which are exactly the matches,
// or else gramCandidates'.
func (cw *colwise) gramCands(p *query.Part, lt query.LikeTest) (bm *roaring.Bitmap, exact, ok bool) {
	if c, ok := cw.cands[p]; ok {
		return c.bm, c.exact, c.bm != nil
	}
	var c gramCand
	if lt.Plain && len(lt.Needles[0]) <= 3 {
		c.bm, c.exact = plainCandidates(lt.Needles[0], cw.a.emailGrams())
	}
	if !c.exact {
		c.bm, _ = gramCandidates(lt.Needles, cw.n, cw.a.emailGrams)
	}
	if cw.cands == nil {
		cw.cands = make(map[*query.Part]gramCand)
	}
	cw.cands[p] = c
	return c.bm, c.exact, c.bm != nil
}

// plainCandidates returns the contacts whose email matches a plain
// pattern (query.LikeTest.Plain) of needle nd, of at most three bytes
// ('a%' is "\x00a", '%@%' "@", '%ab' "ab\x00"): those holding a
// trigram that holds nd. That is exact: every byte of "\x00" + email +
// "\x00" but the marks is the middle byte of one of its trigrams, so a
// needle of one byte lies in a trigram whenever the email holds it, and
// one of two or three bytes too (the padded email is three bytes at
// least). False when some email holds a zero byte (some trigram's
// middle byte is zero), which could fake a mark: the caller then tests
// the candidates. The work is a pass over the trigrams and the union of
// those that hold nd, whatever the number of matches.
func plainCandidates(nd string, g *gramIndex) (*roaring.Bitmap, bool) {
	var bms []*roaring.Bitmap
	pair := uint32(0)
	if len(nd) >= 2 {
		pair = uint32(nd[0])<<8 | uint32(nd[1])
	}
	for k, bm := range g.post {
		if k>>8&0xff == 0 {
			return nil, false
		}
		var hit bool
		switch len(nd) {
		case 1:
			hit = byte(k>>8) == nd[0]
		case 2:
			hit = k>>8 == pair || k&0xffff == pair
		case 3:
			hit = k == pair<<8|uint32(nd[2])
		}
		if hit {
			bms = append(bms, bm)
		}
	}
	switch len(bms) {
	case 0:
		return roaring.New(), true
	case 1:
		return bms[0], true // only read
	}
	return roaring.FastOr(bms...), true
}

// maxPairCands is the share of an account's contacts beyond which the
// candidates of a two-byte needle are not worth collecting: the pattern
// is decided per distinct value instead.
const maxPairCands = 4

// gramCandidates returns the contacts whose value may match a pattern
// of needles (query.LikeTest.Needles), from a trigram index (got from
// grams, which builds it on first use): those holding every trigram of
// the needles of three bytes or more; or, when there is none, those
// holding, for the two-byte needle of fewest, a trigram that contains
// that needle ("\x00a" of 'a%', "@x" of '%@x%'): the padded value is
// three bytes at least, so each of its two-byte substrings lies in one
// of its trigrams. False when no needle has two bytes or more, or a
// two-byte needle's trigrams reach more than 1/maxPairCands of n
// contacts (and more than 1,024: below that either way is cheap).
func gramCandidates(needles []string, n int, grams func() *gramIndex) (*roaring.Bitmap, bool) {
	keys := needleGrams(needles)
	var pairs []string
	for _, nd := range needles {
		if len(nd) == 2 {
			pairs = append(pairs, nd)
		}
	}
	if len(keys) == 0 && len(pairs) == 0 {
		return nil, false
	}
	g := grams()
	if len(keys) == 0 {
		var best []*roaring.Bitmap
		bestN := uint64(math.MaxUint64)
		for _, nd := range pairs {
			var bms []*roaring.Bitmap
			var sum uint64
			for b := range 256 {
				for _, k := range [2]uint32{uint32(nd[0])<<16 | uint32(nd[1])<<8 | uint32(b), uint32(b)<<16 | uint32(nd[0])<<8 | uint32(nd[1])} {
					if bm := g.post[k]; bm != nil {
						bms = append(bms, bm)
						sum += bm.GetCardinality()
					}
				}
			}
			if sum < bestN {
				best, bestN = bms, sum
			}
		}
		if bestN > uint64(max(n/maxPairCands, 1024)) {
			return nil, false
		}
		return roaring.FastOr(best...), true
	}
	bms := make([]*roaring.Bitmap, 0, len(keys))
	for _, k := range keys {
		bm := g.post[k]
		if bm == nil {
			return roaring.New(), true // no value holds it: none matches
		}
		bms = append(bms, bm)
	}
	slices.SortFunc(bms, func(x, y *roaring.Bitmap) int { return int(x.GetCardinality()) - int(y.GetCardinality()) })
	if len(bms) == 1 {
		return bms[0], true // only read
	}
	bm := roaring.And(bms[0], bms[1])
	for _, o := range bms[2:] {
		bm.And(o)
	}
	return bm, true
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
// the trigram index: the candidates (gramCands) are tested by the
// pattern's matcher unless they are exact, the others do not match. False when the index
// cannot narrow the pattern, for the caller to decide per distinct value
// instead.
func (cw *colwise) byGrams(p *query.Part, lt query.LikeTest, in bitset) (t, n bitset, ok bool) {
	bm, exact, ok := cw.gramCands(p, lt)
	if !ok {
		return nil, nil, false
	}
	// cand: the candidates among in, then those whose email matches. An
	// unset email ("", code 0) matches no pattern holding a literal, so
	// the matches all have an email.
	cand := cw.newBits()
	bm.WriteDenseTo(cand)
	set := cw.dense(cw.a.idents[query.FieldEmail]) // the contacts with an email
	unset := p.Eval(cw.now).Eval(&query.Record{})
	col, vals := cw.a.text[query.FieldEmail], cw.a.dict.vals
	n = cw.newBits()
	cw.split(len(cand), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			c := cand[i] & in[i]
			for w := c; w != 0 && !exact; w &= w - 1 {
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
