package engine

import (
	"slices"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/segmentd/segmentd"
)

// Constant Contact's taggings (segmentd.Contact.TagIDs): one bitmap of
// contacts per tag, as lists have, which the tag_ids column of criteria
// queries reads (query.Record.TagIDs) and from which a tag's
// contacts_count is answered. A tag is forgotten when its last contact
// leaves it, and the engine never learns of a tag on nobody.

// tagSets are an account's tags with their contacts.
type tagSets struct {
	byID  map[string]*list
	order []*list // by id
	dirty bool    // a set may have emptied: prune
}

func newTagSets() tagSets { return tagSets{byID: make(map[string]*list)} }

// get returns tag id's set, creating it.
func (t *tagSets) get(id string) *list {
	if l, ok := t.byID[id]; ok {
		return l
	}
	id = strings.Clone(id) // not the caller's buffer, as account.list
	l := &list{id: id, bm: roaring.New()}
	t.byID[id] = l
	i, _ := slices.BinarySearchFunc(t.order, id, func(l *list, id string) int {
		switch {
		case l.id < id:
			return -1
		case l.id > id:
			return 1
		}
		return 0
	})
	t.order = slices.Insert(t.order, i, l)
	return l
}

// write makes contact idx's tags exactly ids and reports whether they
// changed. fresh says idx was just allocated (so it has no tag).
func (t *tagSets) write(idx uint32, ids []string, fresh bool) bool {
	changed := false
	if !fresh {
		for _, l := range t.order {
			if l.bm.Contains(idx) && !slices.Contains(ids, l.id) {
				l.bm.Remove(idx)
				changed = true
				t.dirty = t.dirty || l.bm.IsEmpty()
			}
		}
	}
	for _, id := range ids {
		if t.get(id).bm.CheckedAdd(idx) {
			changed = true
		}
	}
	return changed
}

// drop takes contact idx off every tag.
func (t *tagSets) drop(idx uint32) {
	for _, l := range t.order {
		if l.bm.CheckedRemove(idx) && l.bm.IsEmpty() {
			t.dirty = true
		}
	}
}

// of appends contact idx's tag ids, sorted, to dst.
func (t *tagSets) of(idx uint32, dst []string) []string {
	for _, l := range t.order {
		if l.bm.Contains(idx) {
			dst = append(dst, l.id)
		}
	}
	return dst
}

// prune forgets the tags nobody has any more.
func (t *tagSets) prune() {
	if !t.dirty {
		return
	}
	t.dirty = false
	t.order = slices.DeleteFunc(t.order, func(l *list) bool {
		if l.bm.IsEmpty() {
			delete(t.byID, l.id)
			return true
		}
		return false
	})
}

// TagCount returns the number of contacts that have a tag (0 for a tag
// nobody has, or an unknown one).
func (e *Engine) TagCount(acct int64, tagID string) int {
	a := e.get(acct)
	if a == nil {
		return 0
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if l := a.tags.byID[tagID]; l != nil {
		return int(l.bm.GetCardinality())
	}
	return 0
}

// TaggedContacts returns up to limit ids of the contacts that have any
// of tagIDs, from the offset-th in the engine's index order, and how many
// there are in all (GET /v3/contacts?tags=).
func (e *Engine) TaggedContacts(acct int64, tagIDs []string, offset, limit int) ([]string, int) {
	a := e.get(acct)
	if a == nil {
		return nil, 0
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	bm := roaring.New()
	for _, id := range tagIDs {
		if l := a.tags.byID[id]; l != nil {
			bm.Or(l.bm)
		}
	}
	total := int(bm.GetCardinality())
	if offset < 0 || offset >= total || limit <= 0 {
		return nil, total
	}
	first, err := bm.Select(uint32(offset))
	if err != nil {
		return nil, total
	}
	out := make([]string, 0, min(limit, total-offset))
	it := bm.Iterator()
	it.AdvanceIfNeeded(first)
	for it.HasNext() && len(out) < limit {
		out = append(out, a.ids.str(it.Next()))
	}
	return out, total
}

// RemoveTag takes every contact off a tag (the tag was deleted) and
// re-checks them.
func (e *Engine) RemoveTag(acct int64, tagID string, now time.Time) {
	a := e.writerFor(acct, segmentd.CauseContact)
	defer e.release(a)
	ms := a.clock(now)
	l := a.tags.byID[tagID]
	if l == nil {
		return
	}
	idxs := l.bm.ToArray()
	l.bm.Clear()
	a.tags.dirty = true
	a.tags.prune()
	d := delta{tags: true}
	for _, idx := range idxs {
		a.touched(idx, ms, &d)
	}
}
