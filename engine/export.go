package engine

import (
	"bytes"
	"slices"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2"

	"github.com/segmentd/segmentd"
)

// SelectForExport implements segmentd.Membership: the selected contacts'
// ids are copied out (16 bytes each, plus their index) and the bitmaps of
// every list and live segment are cloned, all under the account's read
// lock, so the selection stays as it was however the account changes
// while the export is written. A million selected contacts hold about 20
// MB; the clones are compressed bitmaps.
func (m Membership) SelectForExport(acct int64, q segmentd.ExportQuery, now time.Time) segmentd.ExportSelection {
	a := m.Engine.reader(acct, now)
	if a == nil {
		return &exportSelection{}
	}
	defer a.mu.RUnlock()
	var chosen *roaring.Bitmap
	if len(q.ListIDs) == 0 && len(q.SegmentIDs) == 0 && len(q.TagIDs) == 0 && len(q.ContactIDs) == 0 {
		chosen = a.live
	} else {
		var parts []*roaring.Bitmap
		for _, id := range q.ListIDs {
			if l := a.lists[id]; l != nil {
				parts = append(parts, l.bm)
			}
		}
		for _, id := range q.SegmentIDs {
			if s := a.segs[id]; s != nil && s.members != nil {
				parts = append(parts, s.members)
			}
		}
		for _, id := range q.TagIDs {
			if t := a.tags.byID[id]; t != nil {
				parts = append(parts, t.bm)
			}
		}
		if named := a.indexes(q.ContactIDs); !named.IsEmpty() {
			parts = append(parts, named)
		}
		chosen = roaring.FastOr(parts...)
	}
	if out := a.indexes(q.Exclude); !out.IsEmpty() {
		chosen = roaring.AndNot(chosen, out)
	}

	sel := &exportSelection{entries: make([]exportEntry, 0, chosen.GetCardinality())}
	it := chosen.Iterator()
	for it.HasNext() {
		idx := it.Next()
		e := exportEntry{idx: idx, odd: -1}
		if id, ok := a.ids.odd[idx]; ok {
			e.odd = int32(len(sel.odd))
			sel.odd = append(sel.odd, id)
		} else {
			e.u = a.ids.uuids[idx]
		}
		sel.entries = append(sel.entries, e)
	}
	// Store-issued ids are version 7 UUIDs, so index order is close to id
	// order and the sort has little to do.
	slices.SortFunc(sel.entries, func(x, y exportEntry) int {
		if x.odd < 0 && y.odd < 0 {
			// Lowercase hex sorts as its bytes do.
			return bytes.Compare(x.u[:], y.u[:])
		}
		return strings.Compare(sel.id(&x), sel.id(&y))
	})

	for _, l := range a.lists {
		sel.lists = append(sel.lists, frozenSet{id: l.id, bm: l.bm.Clone()})
	}
	slices.SortFunc(sel.lists, func(x, y frozenSet) int { return strings.Compare(x.id, y.id) })
	for _, s := range a.active { // by id
		sel.segs = append(sel.segs, frozenSet{id: s.id, bm: s.members.Clone()})
	}
	return sel
}

// indexes are the indexes of the live contacts among ids.
func (a *account) indexes(ids []string) *roaring.Bitmap {
	bm := roaring.New()
	for _, id := range ids {
		if idx, ok := a.ids.lookup(id); ok && a.live.Contains(idx) {
			bm.Add(idx)
		}
	}
	return bm
}

// exportSelection implements segmentd.ExportSelection.
type exportSelection struct {
	entries []exportEntry // by id
	odd     []string      // ids that are not canonical UUIDs
	lists   []frozenSet   // by id
	segs    []frozenSet   // by id
}

// exportEntry is one selected contact: its id and its index when selected.
type exportEntry struct {
	u   uuid
	idx uint32
	odd int32 // position in odd, or -1 for a UUID id
}

type frozenSet struct {
	id string
	bm *roaring.Bitmap
}

func (s *exportSelection) id(e *exportEntry) string {
	if e.odd >= 0 {
		return s.odd[e.odd]
	}
	return e.u.String()
}

func (s *exportSelection) Len() int        { return len(s.entries) }
func (s *exportSelection) ID(i int) string { return s.id(&s.entries[i]) }

func (s *exportSelection) Lists(i int) []string    { return s.in(s.lists, s.entries[i].idx) }
func (s *exportSelection) Segments(i int) []string { return s.in(s.segs, s.entries[i].idx) }

func (s *exportSelection) in(sets []frozenSet, idx uint32) []string {
	var out []string
	for _, set := range sets {
		if set.bm.Contains(idx) {
			out = append(out, set.id)
		}
	}
	return out
}
