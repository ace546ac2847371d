package audience

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"slices"
	"sort"
	"strings"

	"github.com/segmentd/segmentd"
)

// An export's input (segmentd.Export.Input): what a server needs to write
// an export another server accepted, stored with it in a store several
// servers share (segmentd.ExportTaker). It holds the file format's
// description (the account's fields when the export was accepted, and the
// columns the request chose) and the frozen selection: the selected
// contacts' ids in the order they are written, and for each list and
// segment the positions, among them, of the contacts it held. So the
// server that takes the export over writes the same contacts with the
// same memberships as the one that accepted it would have.
//
// The encoding, after a version byte:
//
//	columns:   uvarint count+1 (0: nil), then each as a string
//	fields:    uvarint count, then each as id, name, type (strings) and a flags byte
//	contacts:  uvarint count, then each id as 0 and its 16 bytes (a
//	           canonical UUID) or 1 and a string
//	sets:      uvarint count, then each as its kind (0 list, 1 segment), its
//	           id (a string), uvarint count and its positions, each the
//	           uvarint gap from the previous one (the first from -1)
//
// A string is a uvarint length and its bytes. A million selected contacts
// take about 17 MB, and a list or segment about a byte per member.

const exportInputVersion = 1

const (
	fieldReadOnly = 1 << iota
	fieldReserved
)

// encodeExportInput encodes an export's input.
func encodeExportInput(fields []segmentd.FieldDefinition, columns []string, sel segmentd.ExportSelection) []byte {
	b := []byte{exportInputVersion}
	if columns == nil {
		b = binary.AppendUvarint(b, 0)
	} else {
		b = binary.AppendUvarint(b, uint64(len(columns))+1)
		for _, c := range columns {
			b = appendString(b, c)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(fields)))
	for _, f := range fields {
		b = appendString(appendString(appendString(b, f.ID), f.Name), string(f.Type))
		var flags byte
		if f.ReadOnly {
			flags |= fieldReadOnly
		}
		if f.Reserved {
			flags |= fieldReserved
		}
		b = append(b, flags)
	}
	n := sel.Len()
	b = binary.AppendUvarint(b, uint64(n))
	type set struct {
		kind byte
		pos  []uint32
	}
	sets := map[string]*set{}
	add := func(kind byte, ids []string, i int) {
		for _, id := range ids {
			st := sets[id]
			if st == nil {
				st = &set{kind: kind}
				sets[id] = st
			}
			st.pos = append(st.pos, uint32(i))
		}
	}
	for i := range n {
		id := sel.ID(i)
		if u, ok := canonicalUUID(id); ok {
			b = append(append(b, 0), u[:]...)
		} else {
			b = appendString(append(b, 1), id)
		}
		add(0, sel.Lists(i), i)
		add(1, sel.Segments(i), i)
	}
	ids := make([]string, 0, len(sets))
	for id := range sets {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	b = binary.AppendUvarint(b, uint64(len(ids)))
	for _, id := range ids {
		st := sets[id]
		b = appendString(append(b, st.kind), id)
		b = binary.AppendUvarint(b, uint64(len(st.pos)))
		prev := int64(-1)
		for _, p := range st.pos {
			b = binary.AppendUvarint(b, uint64(int64(p)-prev))
			prev = int64(p)
		}
	}
	return b
}

// canonicalUUID is id's 16 bytes when id is a UUID in lowercase canonical
// form (which the store issues), so that it reads back the same.
func canonicalUUID(id string) ([16]byte, bool) {
	var u [16]byte
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' || strings.ToLower(id) != id {
		return u, false
	}
	h := id[0:8] + id[9:13] + id[14:18] + id[19:23] + id[24:36]
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, false
	}
	return u, true
}

func appendString(b []byte, s string) []byte {
	return append(binary.AppendUvarint(b, uint64(len(s))), s...)
}

var errExportInput = errors.New("audience: an export's stored input is malformed")

// inputReader reads an export's input; the first error sticks.
type inputReader struct {
	b   []byte
	err error
}

func (r *inputReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errExportInput
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *inputReader) bytes(n uint64) []byte {
	if r.err != nil {
		return nil
	}
	if n > uint64(len(r.b)) {
		r.err = errExportInput
		return nil
	}
	out := r.b[:n]
	r.b = r.b[n:]
	return out
}

func (r *inputReader) byte() byte {
	if b := r.bytes(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *inputReader) string() string { return string(r.bytes(r.uvarint())) }

// count reads a count of items that take at least min bytes each, so
// that a malformed count cannot make a huge allocation.
func (r *inputReader) count(min int) int {
	n := r.uvarint()
	if r.err == nil && n > uint64(len(r.b)/min) {
		r.err = errExportInput
	}
	if r.err != nil {
		return 0
	}
	return int(n)
}

// decodeExportInput reads what encodeExportInput wrote.
func decodeExportInput(b []byte) (fields []segmentd.FieldDefinition, columns []string, sel segmentd.ExportSelection, err error) {
	r := &inputReader{b: b}
	if r.byte() != exportInputVersion {
		return nil, nil, nil, errExportInput
	}
	if nc := r.uvarint(); nc > 0 {
		if nc-1 > uint64(len(r.b)) {
			return nil, nil, nil, errExportInput
		}
		columns = make([]string, 0, nc-1)
		for range nc - 1 {
			columns = append(columns, r.string())
		}
	}
	nf := r.count(4)
	fields = make([]segmentd.FieldDefinition, 0, nf)
	for range nf {
		f := segmentd.FieldDefinition{ID: r.string(), Name: r.string(), Type: segmentd.FieldType(r.string())}
		flags := r.byte()
		f.ReadOnly, f.Reserved = flags&fieldReadOnly != 0, flags&fieldReserved != 0
		fields = append(fields, f)
	}
	s := &storedSelection{}
	n := r.count(2)
	s.entries = make([]storedEntry, n)
	for i := range s.entries {
		e := &s.entries[i]
		e.odd = -1
		switch r.byte() {
		case 0:
			copy(e.u[:], r.bytes(16))
		case 1:
			e.odd = int32(len(s.odd))
			s.odd = append(s.odd, r.string())
		default:
			r.err = errExportInput
		}
	}
	ns := r.count(3)
	for range ns {
		kind, id := r.byte(), r.string()
		np := r.count(1)
		set := positionSet{id: id, pos: make([]uint32, 0, np)}
		p := int64(-1)
		for range np {
			p += int64(r.uvarint())
			if p < 0 || p >= int64(n) {
				r.err = errExportInput
				break
			}
			set.pos = append(set.pos, uint32(p))
		}
		switch kind {
		case 0:
			s.lists = append(s.lists, set)
		case 1:
			s.segs = append(s.segs, set)
		default:
			r.err = errExportInput
		}
	}
	if r.err != nil || len(r.b) > 0 {
		return nil, nil, nil, errExportInput
	}
	return fields, columns, s, nil
}

// storedSelection is an export's selection read from its input; it
// implements segmentd.ExportSelection.
type storedSelection struct {
	entries []storedEntry
	odd     []string      // ids that are not canonical UUIDs
	lists   []positionSet // by id
	segs    []positionSet // by id
}

type storedEntry struct {
	u   [16]byte
	odd int32 // position in odd, or -1 for a UUID id
}

// positionSet is a list or segment: the positions of its members in the
// selection, ascending.
type positionSet struct {
	id  string
	pos []uint32
}

func (s *storedSelection) Len() int { return len(s.entries) }

func (s *storedSelection) ID(i int) string {
	if e := &s.entries[i]; e.odd >= 0 {
		return s.odd[e.odd]
	}
	return segmentd.FormatUUID(s.entries[i].u)
}

func (s *storedSelection) Lists(i int) []string    { return setsHolding(s.lists, uint32(i)) }
func (s *storedSelection) Segments(i int) []string { return setsHolding(s.segs, uint32(i)) }

// setsHolding are the ids of the sets that hold position i.
func setsHolding(sets []positionSet, i uint32) []string {
	var out []string
	for _, set := range sets {
		k := sort.Search(len(set.pos), func(k int) bool { return set.pos[k] >= i })
		if k < len(set.pos) && set.pos[k] == i {
			out = append(out, set.id)
		}
	}
	return out
}
