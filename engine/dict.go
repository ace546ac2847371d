package engine

import "strings"

// dict interns the strings of one account: every text column, custom text
// value and event string is a uint32 code into it. Code 0 is "" (unset).
// Entries are reference counted so a value nobody holds any more is
// forgotten and its code reused: the dictionary stays bounded by the live
// data, not by the history of writes.
type dict struct {
	vals  []string
	refs  []uint32
	index dictIndex
	free  []uint32
	bytes int64 // heap of the strings in vals, as allocSize rounds them

	// recent caches codes of recently acquired strings, by a cheap hash
	// of their length and end bytes: event types, sources and campaign
	// ids repeat from one event to the next, and a hit skips hashing the
	// string for the index. An entry is checked against vals, so one made
	// stale by a release (the code freed or reused) simply misses.
	recent [256]uint32
}

func newDict() *dict {
	return &dict{vals: []string{""}, refs: []uint32{0}, index: newDictIndex(0)}
}

// acquire returns the code of s, taking one reference to it.
func (d *dict) acquire(s string) uint32 {
	if s == "" {
		return 0
	}
	slot := (uint(len(s)) + uint(s[0])*7 + uint(s[len(s)-1])*31) & 255
	if c := d.recent[slot]; c != 0 && d.vals[c] == s {
		d.refs[c]++
		return c
	}
	// One probe of the index: a new value (an email, in a rebuild nearly
	// every one) is put where its search ended.
	c, ok, h, k := d.index.find(d.vals, s)
	if ok {
		d.refs[c]++
		d.recent[slot] = c
		return c
	}
	// Clone so the dictionary never pins the caller's (possibly large)
	// decoding buffer.
	s = strings.Clone(s)
	if n := len(d.free); n > 0 {
		c = d.free[n-1]
		d.free = d.free[:n-1]
		d.vals[c], d.refs[c] = s, 1
	} else {
		c = uint32(len(d.vals))
		d.vals = append(d.vals, s)
		d.refs = append(d.refs, 1)
	}
	d.index.putAt(h, k, c)
	d.recent[slot] = c
	d.bytes += allocSize(int64(len(s)))
	return c
}

// release drops one reference to code c.
func (d *dict) release(c uint32) {
	if c == 0 {
		return
	}
	d.refs[c]--
	if d.refs[c] == 0 {
		s := d.vals[c]
		d.index.del(s, c)
		d.bytes -= allocSize(int64(len(s)))
		d.vals[c] = ""
		d.free = append(d.free, c)
	}
}

// replace swaps the value held under *code for s, keeping references right.
func (d *dict) replace(code *uint32, s string) {
	if d.vals[*code] == s {
		return
	}
	// Acquire before releasing, so a changed value never reuses the code
	// it replaces: callers detect changes by comparing codes.
	c := d.acquire(s)
	d.release(*code)
	*code = c
}

func (d *dict) str(c uint32) string { return d.vals[c] }

// code returns the code of s, without taking a reference, and whether s is
// held.
func (d *dict) code(s string) (uint32, bool) { return d.index.get(d.vals, s) }

// size estimates the dictionary's heap bytes: string data and headers, the
// reference counts and the index.
func (d *dict) size() int64 {
	return d.bytes + int64(cap(d.vals))*16 + int64(cap(d.refs))*4 + int64(cap(d.free))*4 + d.index.size()
}
