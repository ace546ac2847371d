package postgres

// ownerTable holds an account's remembered owners (accountOwners) by
// their email's hash: open addressing with linear probing, each entry in
// its slot. A lookup reads the slot's cache line and then the email's
// text to compare; with a Go map from the hash to an index into a slice
// of entries it read three places, each a cache miss in a million
// emails, and the lookups of an event batch or a membership-only upsert
// were a fifth of the server's CPU over the realistic bench's events
// (docs/postgres.md, "Session 19: the store stage's own work"). A slot is 16
// bytes; the table is kept at most three quarters full.
type ownerTable struct {
	slots []ownerSlot // a power of two of them, or none
	n     int         // the slots in use
}

type ownerSlot struct {
	h uint64
	e ownerEntry // e.email == 0: the slot is free
}

// newOwnerTable returns a table with room for n entries.
func newOwnerTable(n int) ownerTable {
	size := 8
	for size*3 < n*4 {
		size *= 2
	}
	return ownerTable{slots: make([]ownerSlot, size)}
}

// find returns the slot of hash h and true, or the free slot where the
// probe for h ended and false.
func (t *ownerTable) find(h uint64) (int, bool) {
	mask := uint64(len(t.slots) - 1)
	for i := h & mask; ; i = (i + 1) & mask {
		s := &t.slots[i]
		if s.e.email == 0 {
			return int(i), false
		}
		if s.h == h {
			return int(i), true
		}
	}
}

// get returns the entry of hash h.
func (t *ownerTable) get(h uint64) (ownerEntry, bool) {
	if len(t.slots) == 0 {
		return ownerEntry{}, false
	}
	i, ok := t.find(h)
	return t.slots[i].e, ok
}

// insert adds e under hash h, which no entry has; e.email is not 0.
func (t *ownerTable) insert(h uint64, e ownerEntry) {
	if (t.n+1)*4 > len(t.slots)*3 {
		t.grow()
	}
	i, _ := t.find(h)
	t.slots[i] = ownerSlot{h: h, e: e}
	t.n++
}

func (t *ownerTable) grow() {
	old := t.slots
	t.slots = make([]ownerSlot, max(8, 2*len(old)))
	for _, s := range old {
		if s.e.email != 0 {
			i, _ := t.find(s.h)
			t.slots[i] = s
		}
	}
}

// remove frees the entry of hash h, if any: the entries after it in its
// run that probed past it move back, so that every entry stays reachable
// from its hash's slot without a marker of removal.
func (t *ownerTable) remove(h uint64) {
	if len(t.slots) == 0 {
		return
	}
	i, ok := t.find(h)
	if !ok {
		return
	}
	mask := len(t.slots) - 1
	for j := i; ; {
		t.slots[i] = ownerSlot{}
		for {
			j = (j + 1) & mask
			if t.slots[j].e.email == 0 {
				t.n--
				return
			}
			// The entry at j stays unless its home slot k is not
			// cyclically within (i, j]: then it moves to i.
			k := int(t.slots[j].h) & mask
			if i <= j && (i < k && k <= j) || i > j && (i < k || k <= j) {
				continue
			}
			break
		}
		t.slots[i] = t.slots[j]
		i = j
	}
}
