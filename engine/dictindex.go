package engine

import "hash/maphash"

// dictIndex finds a dictionary's codes by their strings (dict.index). A
// map[string]uint32 repeated each string's 16-byte header beside its code,
// about 37 bytes an entry with the map's slack; this table holds 8-byte
// slots, at most three quarters full: the low 32 bits of the string's hash
// (its home slot, and a filter before the strings are compared) and its
// code. Linear probing; a delete shifts the entries after it back, so no
// tombstones build up as values come and go.
type dictIndex struct {
	slots []uint64 // 0: empty; else hash<<32 | code (codes are never 0)
	n     int
	seed  maphash.Seed
}

func newDictIndex(n int) dictIndex {
	x := dictIndex{seed: maphash.MakeSeed()}
	x.slots = make([]uint64, indexSize(n))
	return x
}

// indexSize is the number of slots for n entries: a power of two, at
// least 8, with the entries at most three quarters of it.
func indexSize(n int) int {
	size := 8
	for size*3 < n*4 {
		size *= 2
	}
	return size
}

func (x *dictIndex) hash(s string) uint64 { return uint64(uint32(maphash.String(x.seed, s))) }

// get returns the code of s, vals being the dictionary's strings by code.
func (x *dictIndex) get(vals []string, s string) (uint32, bool) {
	if x.n == 0 {
		return 0, false
	}
	h := x.hash(s)
	mask := uint64(len(x.slots) - 1)
	for k := h & mask; ; k = (k + 1) & mask {
		v := x.slots[k]
		if v == 0 {
			return 0, false
		}
		if v>>32 == h && vals[uint32(v)] == s {
			return uint32(v), true
		}
	}
}

// find is get for a string about to be added when it is not held: it
// also returns s's hash and the empty slot its probe ended at, so that
// putAt adds it without hashing and probing again.
func (x *dictIndex) find(vals []string, s string) (c uint32, ok bool, h, k uint64) {
	h = x.hash(s)
	mask := uint64(len(x.slots) - 1)
	for k = h & mask; ; k = (k + 1) & mask {
		v := x.slots[k]
		if v == 0 {
			return 0, false, h, k
		}
		if v>>32 == h && vals[uint32(v)] == s {
			return uint32(v), true, h, k
		}
	}
}

// put adds s (not held) under code c.
func (x *dictIndex) put(s string, c uint32) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow()
	}
	x.insert(x.hash(s)<<32 | uint64(c))
	x.n++
}

// putAt adds a string not held under code c, h and k being its hash and
// empty slot as find returned them, the table unchanged since.
func (x *dictIndex) putAt(h, k uint64, c uint32) {
	if (x.n+1)*4 > len(x.slots)*3 {
		x.grow()
		x.insert(h<<32 | uint64(c))
	} else {
		x.slots[k] = h<<32 | uint64(c)
	}
	x.n++
}

// insert places slot value v at the first empty slot from its home.
func (x *dictIndex) insert(v uint64) {
	mask := uint64(len(x.slots) - 1)
	k := v >> 32 & mask
	for x.slots[k] != 0 {
		k = (k + 1) & mask
	}
	x.slots[k] = v
}

func (x *dictIndex) grow() {
	old := x.slots
	x.slots = make([]uint64, max(8, 2*len(old)))
	for _, v := range old {
		if v != 0 {
			x.insert(v)
		}
	}
}

// del removes s, held under code c.
func (x *dictIndex) del(s string, c uint32) {
	mask := uint64(len(x.slots) - 1)
	want := x.hash(s)<<32 | uint64(c)
	k := want >> 32 & mask
	for x.slots[k] != want {
		if x.slots[k] == 0 {
			return // not held
		}
		k = (k + 1) & mask
	}
	x.n--
	// Shift back each following entry of the run that may take the hole:
	// one whose home is not cyclically in (hole, its slot].
	hole := k
	for j := (k + 1) & mask; x.slots[j] != 0; j = (j + 1) & mask {
		home := x.slots[j] >> 32 & mask
		if (j-home)&mask >= (j-hole)&mask {
			x.slots[hole] = x.slots[j]
			hole = j
		}
	}
	x.slots[hole] = 0
}

// size is the table's heap bytes.
func (x *dictIndex) size() int64 { return int64(cap(x.slots)) * 8 }
