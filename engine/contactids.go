package engine

import "encoding/binary"

// contactIDs maps an account's contact ids to their dense indexes and back.
//
// Contact ids are UUIDs (the store issues version 7 ones), so each is held
// as its 16 bytes: as a string it took 48 bytes of data (36 rounded up by
// the allocator) plus a 16-byte header, and a Go map keyed by it about 35
// bytes more. The way back from an id is an open-addressing hash table
// (linear probing) of indexes over those bytes: 4 bytes a slot, at most
// three quarters full. An id that is not a UUID in canonical lowercase form
// (tests use short ones) keeps its string in two small side maps.
type contactIDs struct {
	uuids []uuid   // by index; zero for a free index or an odd id
	slots []uint32 // index+1 of each UUID id, 0 when empty; a power of 2 long
	used  int      // non-empty slots

	odd      map[uint32]string // ids that are not canonical UUIDs, by index
	oddIdx   map[string]uint32
	oddBytes int64 // their heap bytes, as the allocator rounds them
}

type uuid [16]byte

// parseUUID returns the bytes of a UUID in canonical lowercase form, the
// form FormatUUID prints back (so the id round-trips exactly).
func parseUUID(s string) (uuid, bool) {
	var u uuid
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, false
	}
	// A table of each byte's value; a rebuild parses every event's
	// contact id, and a branch per character was a tenth of its intake.
	for j, i := range uuidHexAt {
		hi, lo := hexValue[s[i]], hexValue[s[i+1]]
		if hi|lo > 0xf {
			return u, false
		}
		u[j] = hi<<4 | lo
	}
	return u, true
}

// uuidHexAt are where each byte's two digits start in a UUID's text.
var uuidHexAt = [16]int{0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34}

// hexValue is each byte's value as a lowercase hex digit, 0xff for a byte
// that is not one.
var hexValue = func() (t [256]byte) {
	for c := range t {
		switch {
		case '0' <= c && c <= '9':
			t[c] = byte(c - '0')
		case 'a' <= c && c <= 'f':
			t[c] = byte(c - 'a' + 10)
		default:
			t[c] = 0xff
		}
	}
	return t
}()

func (u *uuid) String() string {
	const digits = "0123456789abcdef"
	var b [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = digits[c>>4], digits[c&15]
		j += 2
	}
	return string(b[:])
}

// hash mixes both halves (a version 7 UUID's time in the first, its random
// bits in the second) with MurmurHash3's finaliser.
func (u *uuid) hash() uint64 {
	h := binary.LittleEndian.Uint64(u[:8]) ^ binary.LittleEndian.Uint64(u[8:])*0x9e3779b97f4a7c15
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	return h ^ h>>33
}

// len is the number of indexes, free ones included.
func (t *contactIDs) len() int { return len(t.uuids) }

// lookup returns the index of id.
func (t *contactIDs) lookup(id string) (uint32, bool) {
	u, ok := parseUUID(id)
	if !ok {
		idx, ok := t.oddIdx[id]
		return idx, ok
	}
	i, ok := t.find(&u)
	if !ok {
		return 0, false
	}
	return t.slots[i] - 1, true
}

// find returns the slot holding u, or the empty slot ending its probe.
func (t *contactIDs) find(u *uuid) (int, bool) {
	if len(t.slots) == 0 {
		return 0, false
	}
	return t.findFrom(u, int(u.hash())&(len(t.slots)-1))
}

// findFrom is find with the probe starting at slot i.
func (t *contactIDs) findFrom(u *uuid, i int) (int, bool) {
	mask := len(t.slots) - 1
	for ; ; i = (i + 1) & mask {
		s := t.slots[i]
		if s == 0 {
			return i, false
		}
		if t.uuids[s-1] == *u {
			return i, true
		}
	}
}

// lookupGroup is how many ids lookupMany looks up side by side.
const lookupGroup = 8

// lookupMany sets at[i] to the index of ids[i], or -1 for an unknown id.
// It is lookup for many ids, faster: at a million contacts the table is
// far larger than the caches, and a lookup is two trips to memory (its
// slot, then the UUID the slot names). lookupMany makes the trips of
// lookupGroup ids side by side (each step's loads do not depend on each
// other, so the processor overlaps them) instead of one after another.
func (t *contactIDs) lookupMany(ids []string, at []int64) {
	var us [lookupGroup]uuid
	var pos [lookupGroup]int
	var slot [lookupGroup]uint32
	mask := len(t.slots) - 1
	for start := 0; start < len(ids); start += lookupGroup {
		n := min(lookupGroup, len(ids)-start)
		for k := range n {
			u, ok := parseUUID(ids[start+k])
			if !ok || len(t.slots) == 0 {
				at[start+k], pos[k] = -1, -1
				if idx, ok := t.oddIdx[ids[start+k]]; ok {
					at[start+k] = int64(idx)
				}
				continue
			}
			us[k], pos[k] = u, int(u.hash())&mask
		}
		for k := range n {
			if pos[k] >= 0 {
				slot[k] = t.slots[pos[k]]
			}
		}
		for k := range n {
			switch s := slot[k]; {
			case pos[k] < 0:
			case s == 0:
				at[start+k] = -1
			case t.uuids[s-1] == us[k]:
				at[start+k] = int64(s - 1)
			default: // another id in the slot: probe on
				if i, ok := t.findFrom(&us[k], (pos[k]+1)&mask); ok {
					at[start+k] = int64(t.slots[i] - 1)
				} else {
					at[start+k] = -1
				}
			}
		}
	}
}

// set gives id to index idx, which is free or the next new one (len()).
// The id must not be held by another index.
func (t *contactIDs) set(idx uint32, id string) {
	u, ok := parseUUID(id)
	if int(idx) == len(t.uuids) {
		t.uuids = append(t.uuids, uuid{})
	}
	if !ok {
		t.setOdd(idx, id)
		return
	}
	t.uuids[idx] = u
	t.index(idx)
}

// index enters index idx's UUID in the table. It reports false, and
// enters nothing, when another index holds the same UUID.
func (t *contactIDs) index(idx uint32) bool {
	if (t.used+1)*4 > len(t.slots)*3 {
		t.rehash(max(64, 2*len(t.slots)))
	}
	i, dup := t.find(&t.uuids[idx])
	if dup {
		return false
	}
	t.slots[i] = idx + 1
	t.used++
	return true
}

func (t *contactIDs) setOdd(idx uint32, id string) {
	if t.odd == nil {
		t.odd, t.oddIdx = make(map[uint32]string), make(map[string]uint32)
	}
	t.odd[idx], t.oddIdx[id] = id, idx
	t.oddBytes += oddIDBytes(id)
}

// reserve sizes the table for n ids, as a snapshot load knows them.
func (t *contactIDs) reserve(n int) {
	size := 64
	for size*3 < n*4 {
		size *= 2
	}
	if size > len(t.slots) {
		t.rehash(size)
	}
}

func (t *contactIDs) rehash(size int) {
	old := t.slots
	t.slots = make([]uint32, size)
	mask := size - 1
	for _, s := range old {
		if s == 0 {
			continue
		}
		i := int(t.uuids[s-1].hash()) & mask
		for t.slots[i] != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = s
	}
}

// remove frees index idx's id.
func (t *contactIDs) remove(idx uint32) {
	if id, ok := t.odd[idx]; ok {
		delete(t.odd, idx)
		delete(t.oddIdx, id)
		t.oddBytes -= oddIDBytes(id)
		return
	}
	i, ok := t.find(&t.uuids[idx])
	if !ok {
		return
	}
	// Backward-shift deletion: move up each later entry of the probe run
	// whose home slot is not between the hole and it, so that no lookup
	// stops early at the hole.
	mask := len(t.slots) - 1
	for j := (i + 1) & mask; t.slots[j] != 0; j = (j + 1) & mask {
		home := int(t.uuids[t.slots[j]-1].hash()) & mask
		if (j-home)&mask >= (j-i)&mask {
			t.slots[i] = t.slots[j]
			i = j
		}
	}
	t.slots[i] = 0
	t.used--
	t.uuids[idx] = uuid{}
}

// str returns index idx's id. idx must be live: a free one reads as the
// nil UUID.
func (t *contactIDs) str(idx uint32) string {
	if id, ok := t.odd[idx]; ok {
		return id
	}
	return t.uuids[idx].String()
}

// size is the heap the table holds.
func (t *contactIDs) size() int64 {
	return int64(cap(t.uuids))*16 + int64(cap(t.slots))*4 + t.oddBytes
}

// oddIDBytes is what an odd id costs: its string and an entry in each side
// map.
func oddIDBytes(id string) int64 {
	return allocSize(int64(len(id))) + 2*mapEntryBytes(24)
}
