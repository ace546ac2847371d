package sqlite

import "hash/maphash"

// ownerTable is one account's remembered emails (eventCache.emails): what
// each email names. A map of strings held about 120 bytes an email at a
// million contacts (the map's slot with the string's header and the
// 17-byte owner, the email allocated on its own, the map's growth); the
// table keeps the emails' bytes one after another in one array and finds
// them by an open-addressed index of their hashes, about 60 bytes an
// email (docs/events.md, "Memory"). A lookup compares the email's bytes,
// so it is exact whatever the hashes.
type ownerTable struct {
	text  []byte     // the emails, one after another
	ends  []uint32   // entry i's email is text[ends[i-1]:ends[i]] (from 0 for the first)
	ids   [][16]byte // entry i's owner, when has[i]
	has   []bool     // whether entry i's email names a contact
	sole  []bool     // whether it is the owner's email and the owner has no other identifier
	slots []uint64   // the index: 0 empty, else the hash's top 32 bits and entry + 1
	seed  maphash.Seed
}

// newOwnerTable returns an empty table.
func newOwnerTable() *ownerTable { return &ownerTable{seed: maphash.MakeSeed()} }

// len is how many emails t holds (0 for nil).
func (t *ownerTable) len() int {
	if t == nil {
		return 0
	}
	return len(t.ends)
}

// email is entry i's email.
func (t *ownerTable) email(i int) []byte {
	start := uint32(0)
	if i > 0 {
		start = t.ends[i-1]
	}
	return t.text[start:t.ends[i]]
}

// find returns the slot of email: the one that holds it, or the empty one
// where it goes, and whether it is held. t.slots is not empty.
func (t *ownerTable) find(email string, h uint64) (int, bool) {
	mask := uint64(len(t.slots) - 1)
	tag := h >> 32 << 32
	for k := h & mask; ; k = (k + 1) & mask {
		v := t.slots[k]
		if v == 0 {
			return int(k), false
		}
		if v>>32<<32 == tag && string(t.email(int(uint32(v))-1)) == email {
			return int(k), true
		}
	}
}

// get returns what email names and whether t holds it.
func (t *ownerTable) get(email string) (emailOwner, bool) {
	if t.len() == 0 {
		return emailOwner{}, false
	}
	k, ok := t.find(email, maphash.String(t.seed, email))
	if !ok {
		return emailOwner{}, false
	}
	i := int(uint32(t.slots[k])) - 1
	return emailOwner{id: t.ids[i], has: t.has[i], sole: t.sole[i]}, true
}

// set makes email name o, and reports whether email is new to t. The
// email's bytes are copied.
func (t *ownerTable) set(email string, o emailOwner) bool {
	if (len(t.ends)+1)*4 > len(t.slots)*3 {
		t.reindex(max(64, 2*len(t.slots)))
	}
	h := maphash.String(t.seed, email)
	k, ok := t.find(email, h)
	if ok {
		i := int(uint32(t.slots[k])) - 1
		t.ids[i], t.has[i], t.sole[i] = o.id, o.has, o.sole
		return false
	}
	t.text = append(t.text, email...)
	t.ends = append(t.ends, uint32(len(t.text)))
	t.ids = append(t.ids, o.id)
	t.has = append(t.has, o.has)
	t.sole = append(t.sole, o.sole)
	t.slots[k] = h>>32<<32 | uint64(len(t.ends))
	return true
}

// truncate keeps the first n emails of t and forgets the others.
func (t *ownerTable) truncate(n int) {
	if n >= t.len() {
		return
	}
	end := uint32(0)
	if n > 0 {
		end = t.ends[n-1]
	}
	t.text, t.ends, t.ids, t.has, t.sole = t.text[:end], t.ends[:n], t.ids[:n], t.has[:n], t.sole[:n]
	t.reindex(len(t.slots))
}

// reindex builds the index again with size slots (a power of two, more
// than the entries).
func (t *ownerTable) reindex(size int) {
	if len(t.slots) == size {
		clear(t.slots)
	} else {
		t.slots = make([]uint64, size)
	}
	mask := uint64(size - 1)
	for i := range t.ends {
		h := maphash.Bytes(t.seed, t.email(i))
		k := h & mask
		for t.slots[k] != 0 {
			k = (k + 1) & mask
		}
		t.slots[k] = h>>32<<32 | uint64(i+1)
	}
}
