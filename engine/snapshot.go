package engine

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/segmentd/segmentd/query"
)

// A snapshot is every account's index in a compact binary form, so that a
// restart loads it instead of rebuilding from the store (docs/snapshot.md).
// It holds the contacts (ids, dictionaries, columns, lists, tags, events) and each
// segment's members with what they were computed from; the segments
// themselves are loaded from the store again (PutSegments), which adopts
// the saved members of a segment whose query, parent list and field binding
// are unchanged and does not read the clock, and evaluates the others.
//
// The layout is versioned by the caller (audience.Service writes the file,
// its header and its checksum); this package writes only the payload.

// snapshotFormat names this payload layout; ReadSnapshot refuses others.
// (4: the tags' bitmaps after the lists'; 5: whether it has transition
// marks, and each account's after its id.)
const snapshotFormat = "segmentd-engine-5"

// savedSegment is a segment's state as a snapshot holds it, kept until
// PutSegments adopts or discards it.
type savedSegment struct {
	src, parent, sig string
	members          *roaring.Bitmap
	entries, exits   uint64
}

// WriteSnapshot writes every account's index to w, with no transition
// marks (WriteSnapshotMarked).
func (e *Engine) WriteSnapshot(w io.Writer) error { return e.WriteSnapshotMarked(w, nil) }

// WriteSnapshotMarked writes every account's index to w. Each account is
// read under its read lock, so reads go on while it is written; writes to
// that account wait. With mark set, each account's mark is mark's answer
// for it, asked under that lock, so while no transition of the account
// can be made (docs/webhooks.md, "Durability": the number of the last
// stored transition, when every transition the engine made is stored;
// -1: none).
func (e *Engine) WriteSnapshotMarked(w io.Writer, mark func(acct int64) int64) error {
	e.mu.Lock()
	ids := make([]int64, 0, len(e.accts))
	for id := range e.accts {
		ids = append(ids, id)
	}
	e.mu.Unlock()
	slices.Sort(ids)
	sw := &snapWriter{w: bufio.NewWriterSize(w, 1<<20)}
	sw.str(snapshotFormat)
	marked := uint64(0)
	if mark != nil {
		marked = 1
	}
	sw.uvarint(marked)
	sw.uvarint(uint64(len(ids)))
	for _, id := range ids {
		a := e.get(id)
		sw.varint(id)
		if a == nil { // dropped meanwhile: written empty
			sw.varint(-1)
			newAccount().writeTo(sw)
			continue
		}
		a.mu.RLock()
		m := int64(-1)
		if mark != nil {
			m = mark(id)
		}
		sw.varint(m)
		a.writeTo(sw)
		a.mu.RUnlock()
	}
	if sw.err != nil {
		return sw.err
	}
	return sw.w.Flush()
}

func (a *account) writeTo(w *snapWriter) {
	a.dict.writeTo(w)
	a.evDict.writeTo(w)
	a.ids.writeTo(w, a.live)
	w.u32s(a.free)
	for _, col := range a.text {
		w.u32s(col)
	}
	w.i64s(a.created)
	w.i64s(a.updated)

	alt := slices.Sorted(maps.Keys(a.alt))
	w.uvarint(uint64(len(alt)))
	for _, idx := range alt {
		w.uvarint(uint64(idx))
		w.strs(a.alt[idx])
	}

	w.uvarint(uint64(len(a.listOrder)))
	for _, l := range a.listOrder {
		w.str(l.id)
		w.bitmap(l.bm)
	}
	w.uvarint(uint64(len(a.tags.order)))
	for _, l := range a.tags.order {
		w.str(l.id)
		w.bitmap(l.bm)
	}

	w.uvarint(uint64(a.nEvents))
	w.uvarint(uint64(len(a.events)))
	for _, run := range a.events {
		w.uvarint(uint64(len(run)))
	}
	for _, run := range a.events {
		w.raw(run)
	}

	// The campaigns come from every event, those of unknown contacts
	// included, so they cannot be derived from the contacts' events.
	camps := slices.Sorted(maps.Keys(a.camps.first))
	w.uvarint(uint64(len(camps)))
	for _, id := range camps {
		w.str(id)
		w.varint(a.camps.first[id])
	}

	colIDs := slices.Sorted(maps.Keys(a.cols))
	w.uvarint(uint64(len(colIDs)))
	for _, id := range colIDs {
		c := a.cols[id]
		w.str(id)
		w.uvarint(uint64(c.typ))
		w.u32s(c.codes)
		w.f64s(c.nums)
		w.i64s(c.times)
	}

	segIDs := make([]string, 0, len(a.segs))
	for id, s := range a.segs {
		if s.prog != nil {
			segIDs = append(segIDs, id)
		}
	}
	slices.Sort(segIDs)
	w.uvarint(uint64(len(segIDs)))
	for _, id := range segIDs {
		s := a.segs[id]
		w.str(id)
		w.str(s.q.String())
		w.str(s.parent)
		w.str(s.sig)
		w.uvarint(s.entries)
		w.uvarint(s.exits)
		w.bitmap(s.members)
	}
}

// writeTo writes the ids: every index's 16 bytes (zero when free or odd),
// the live indexes, and the odd ids by index.
func (t *contactIDs) writeTo(w *snapWriter, live *roaring.Bitmap) {
	w.uvarint(uint64(len(t.uuids)))
	for i := range t.uuids {
		w.raw(t.uuids[i][:])
	}
	w.bitmap(live)
	odd := slices.Sorted(maps.Keys(t.odd))
	w.uvarint(uint64(len(odd)))
	for _, idx := range odd {
		w.uvarint(uint64(idx))
		w.str(t.odd[idx])
	}
}

// readIDs reads what contactIDs.writeTo wrote, and the free list after it,
// and checks that they agree: each index is live or free, and no two live
// ones share an id.
func (a *account) readIDs(r *snapReader) error {
	n := r.count(r.remaining() / 16)
	raw := r.raw(n * 16)
	t := &a.ids
	t.uuids = make([]uuid, n)
	for i := range t.uuids {
		copy(t.uuids[i][:], raw[i*16:])
	}
	a.live = r.bitmap()
	for range r.count(n) {
		idx, id := r.uvarint(), r.str()
		_, dupID := t.oddIdx[id]
		_, dupIdx := t.odd[uint32(idx)]
		if idx >= uint64(n) || !a.live.Contains(uint32(idx)) || t.uuids[idx] != (uuid{}) || dupID || dupIdx {
			return errors.New("engine snapshot: malformed contact ids")
		}
		t.setOdd(uint32(idx), id)
	}
	a.free = r.u32s(n)
	if r.err != nil {
		return r.err
	}
	if int(a.live.GetCardinality())+len(a.free) != n || !a.live.IsEmpty() && int(a.live.Maximum()) >= n {
		return errors.New("engine snapshot: live and free contacts do not match the ids")
	}
	for _, idx := range a.free {
		if int(idx) >= n || a.live.Contains(idx) {
			return errors.New("engine snapshot: a contact both live and free")
		}
	}
	t.reserve(n - len(a.free))
	it := a.live.Iterator()
	for it.HasNext() {
		idx := it.Next()
		if _, odd := t.odd[idx]; !odd && !t.index(idx) {
			return errors.New("engine snapshot: two contacts with one id")
		}
	}
	return nil
}

func (d *dict) writeTo(w *snapWriter) {
	w.strs(d.vals)
	w.u32s(d.refs)
}

// ReadSnapshot replaces the engine's accounts with those of a snapshot
// WriteSnapshot wrote. The fields, segments and anything written after the
// snapshot are the caller's to load next: SetFields, then PutSegments (which
// adopts the saved members it can), then the changes. On error the engine
// is left empty.
func (e *Engine) ReadSnapshot(r io.Reader) (err error) {
	sr := &snapReader{r: bufio.NewReaderSize(r, 1<<20)}
	if l, ok := r.(interface{ Len() int }); ok {
		sr.size = int64(l.Len())
	}
	accts := make(map[int64]*account)
	defer func() {
		if err == nil {
			err = sr.err
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if err != nil {
			e.accts = make(map[int64]*account)
			return
		}
		e.accts = accts
	}()
	if f := sr.str(); f != snapshotFormat {
		return fmt.Errorf("engine snapshot: format %q, want %q", f, snapshotFormat)
	}
	marked := sr.uvarint() == 1
	n := sr.count(1 << 20)
	marks := make(map[int64]int64, n)
	for range n {
		id := sr.varint()
		marks[id] = sr.varint()
		a := newAccount()
		if err := a.readFrom(sr); err != nil {
			return err
		}
		accts[id] = a
	}
	if !marked {
		marks = nil
	}
	e.marks.Store(&marks)
	return nil
}

// SnapshotMarks returns each account's transition mark as the snapshot
// the last ReadSnapshot read holds it (WriteSnapshotMarked; -1: none),
// or nil when it was written without marks (WriteSnapshot).
func (e *Engine) SnapshotMarks() map[int64]int64 {
	if m := e.marks.Load(); m != nil {
		return *m
	}
	return nil
}

func (a *account) readFrom(r *snapReader) error {
	if err := a.dict.readFrom(r); err != nil {
		return err
	}
	if err := a.evDict.readFrom(r); err != nil {
		return err
	}
	if err := a.readIDs(r); err != nil {
		return err
	}
	n := a.ids.len()
	for f := range a.text {
		col := r.u32s(n)
		if !validCodes(col, len(a.dict.vals)) {
			return errors.New("engine snapshot: text code out of range")
		}
		a.text[f] = col
		if f < numIdents {
			for idx, code := range col {
				if code != 0 {
					a.idents[f].Add(uint32(idx))
				}
			}
		}
	}
	a.created = r.i64s(n)
	a.updated = r.i64s(n)
	if len(a.created) != n || len(a.updated) != n {
		return errors.New("engine snapshot: time columns do not match the contacts")
	}

	for range r.count(n) {
		idx := r.uvarint()
		alt := r.strs()
		if idx >= uint64(n) {
			return errors.New("engine snapshot: alternate emails of an unknown contact")
		}
		a.alt[uint32(idx)] = alt
	}

	for range r.count(1 << 24) {
		l := &list{id: r.str(), bm: r.bitmap()}
		a.lists[l.id] = l
		a.listOrder = append(a.listOrder, l)
	}
	for range r.count(1 << 24) {
		l := &list{id: r.str(), bm: r.bitmap()}
		a.tags.byID[l.id] = l
		a.tags.order = append(a.tags.order, l)
	}

	a.nEvents = int(r.uvarint())
	runs := r.count(n)
	if runs != n {
		return errors.New("engine snapshot: event runs do not match the contacts")
	}
	lens := make([]int, runs)
	total := 0
	for i := range lens {
		lens[i] = int(r.uvarint())
		total += lens[i]
		if lens[i] < 0 || total > r.remaining() {
			return errors.New("engine snapshot: event runs longer than the snapshot")
		}
	}
	// One allocation holds every run; each run's capacity ends where the
	// next begins, so appending to one moves it out rather than overwriting.
	arena := r.raw(total)
	a.events, a.lastEv = make([][]byte, runs), make([]int64, runs)
	for i, l := range lens {
		if l > 0 {
			a.events[i] = arena[:l:l]
			a.lastEv[i] = lastTS(a.events[i])
			arena = arena[l:]
		}
	}

	for range r.count(1 << 24) {
		a.camps.note(r.str(), r.varint())
	}

	for range r.count(1 << 16) {
		id := r.str()
		c := &column{id: id, typ: query.FieldType(r.uvarint())}
		c.codes = r.u32s(n)
		c.nums = r.f64s(n)
		c.times = r.i64s(n)
		if !validCodes(c.codes, len(a.dict.vals)) {
			return errors.New("engine snapshot: custom text code out of range")
		}
		a.cols[id] = c
	}

	a.saved = make(map[string]*savedSegment)
	for range r.count(1 << 16) {
		id := r.str()
		s := &savedSegment{src: r.str(), parent: r.str(), sig: r.str()}
		s.entries, s.exits = r.uvarint(), r.uvarint()
		s.members = r.bitmap()
		a.saved[id] = s
	}
	return r.err
}

func (d *dict) readFrom(r *snapReader) error {
	d.vals = r.strs()
	d.refs = r.u32s(len(d.vals))
	if len(d.vals) == 0 || d.vals[0] != "" || len(d.refs) != len(d.vals) {
		if r.err != nil {
			return r.err
		}
		return errors.New("engine snapshot: malformed dictionary")
	}
	d.index = newDictIndex(len(d.vals))
	d.free, d.bytes = nil, 0
	for c, s := range d.vals[1:] {
		code := uint32(c + 1)
		if d.refs[code] == 0 {
			d.free = append(d.free, code)
			continue
		}
		d.index.put(s, code)
		d.bytes += allocSize(int64(len(s)))
	}
	return nil
}

func validCodes(codes []uint32, n int) bool {
	for _, c := range codes {
		if int(c) >= n {
			return false
		}
	}
	return true
}

// adopt gives s the members a snapshot saved for it when they are still
// right: same query, parent list and field binding, and a query that does
// not read the clock (those are evaluated at the load's time).
func (a *account) adopt(s *segment) bool {
	sv := a.saved[s.id]
	if sv == nil || s.usesNow || s.prog == nil || sv.src != s.q.String() || sv.parent != s.parent || sv.sig != s.sig {
		return false
	}
	s.members, s.entries, s.exits = sv.members, sv.entries, sv.exits
	return true
}

// snapWriter writes a snapshot's values; the first error sticks.
type snapWriter struct {
	w   *bufio.Writer
	buf []byte
	err error
}

func (w *snapWriter) raw(b []byte) {
	if w.err == nil {
		_, w.err = w.w.Write(b)
	}
}

func (w *snapWriter) uvarint(v uint64) {
	w.buf = binary.AppendUvarint(w.buf[:0], v)
	w.raw(w.buf)
}

func (w *snapWriter) varint(v int64) {
	w.buf = binary.AppendVarint(w.buf[:0], v)
	w.raw(w.buf)
}

func (w *snapWriter) str(s string) {
	w.uvarint(uint64(len(s)))
	if w.err == nil {
		_, w.err = w.w.WriteString(s)
	}
}

// strs writes the lengths first and then the bytes, so that a reader makes
// one allocation for all of them.
func (w *snapWriter) strs(ss []string) {
	w.uvarint(uint64(len(ss)))
	for _, s := range ss {
		w.uvarint(uint64(len(s)))
	}
	for _, s := range ss {
		if w.err == nil {
			_, w.err = w.w.WriteString(s)
		}
	}
}

// fixed writes n fixed-size little-endian values, encoded by put in chunks.
func (w *snapWriter) fixed(n, size int, put func(b []byte, i int)) {
	w.uvarint(uint64(n))
	const chunk = 8192
	if cap(w.buf) < chunk*8 {
		w.buf = make([]byte, chunk*8)
	}
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		b := w.buf[:(hi-lo)*size]
		for i := lo; i < hi; i++ {
			put(b[(i-lo)*size:], i)
		}
		w.raw(b)
	}
}

func (w *snapWriter) u32s(v []uint32) {
	w.fixed(len(v), 4, func(b []byte, i int) { binary.LittleEndian.PutUint32(b, v[i]) })
}

func (w *snapWriter) i64s(v []int64) {
	w.fixed(len(v), 8, func(b []byte, i int) { binary.LittleEndian.PutUint64(b, uint64(v[i])) })
}

func (w *snapWriter) f64s(v []float64) {
	w.fixed(len(v), 8, func(b []byte, i int) { binary.LittleEndian.PutUint64(b, math.Float64bits(v[i])) })
}

func (w *snapWriter) bitmap(bm *roaring.Bitmap) {
	if w.err != nil {
		return
	}
	w.uvarint(bm.GetSerializedSizeInBytes())
	if w.err == nil {
		_, w.err = bm.WriteTo(w.w)
	}
}

// snapReader reads what snapWriter wrote. The first error sticks and every
// later read returns zero values, so callers check r.err once at the end;
// lengths are bounded by what is left to read, so a damaged snapshot never
// makes it allocate more than the snapshot's size.
type snapReader struct {
	r    *bufio.Reader
	read int64 // bytes consumed
	size int64 // total, when known; 0: unknown
	err  error
}

func (r *snapReader) fail(err error) {
	if r.err == nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		r.err = fmt.Errorf("engine snapshot: %w", err)
	}
}

// remaining bounds a length read from the snapshot.
func (r *snapReader) remaining() int {
	if r.err != nil {
		return 0
	}
	if r.size > 0 {
		return int(r.size - r.read)
	}
	return math.MaxInt32
}

func (r *snapReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(byteCounter{r})
	if err != nil {
		r.fail(err)
	}
	return v
}

func (r *snapReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, err := binary.ReadVarint(byteCounter{r})
	if err != nil {
		r.fail(err)
	}
	return v
}

// count reads a length that must not exceed max.
func (r *snapReader) count(max int) int {
	n := r.uvarint()
	if n > uint64(max) || n > uint64(r.remaining()) {
		r.fail(fmt.Errorf("length %d out of range", n))
		return 0
	}
	return int(n)
}

func (r *snapReader) raw(n int) []byte {
	if r.err != nil || n > r.remaining() {
		r.fail(fmt.Errorf("length %d out of range", n))
		return nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r.r, b); err != nil {
		r.fail(err)
		return nil
	}
	r.read += int64(n)
	return b
}

func (r *snapReader) str() string {
	return string(r.raw(r.count(math.MaxInt32)))
}

func (r *snapReader) strs() []string {
	n := r.count(math.MaxInt32)
	lens := make([]int, n)
	total := 0
	for i := range lens {
		lens[i] = r.count(math.MaxInt32)
		total += lens[i]
	}
	all := string(r.raw(total))
	if r.err != nil {
		return nil
	}
	out := make([]string, n)
	for i, l := range lens {
		out[i], all = all[:l], all[l:]
	}
	return out
}

// fixed reads n fixed-size values (n at most max) with get.
func (r *snapReader) fixed(max, size int, get func(b []byte, n int)) {
	n := r.count(max)
	if n == 0 || n*size > r.remaining() {
		if n != 0 {
			r.fail(fmt.Errorf("%d values out of range", n))
		}
		return
	}
	get(r.raw(n*size), n)
}

func (r *snapReader) u32s(max int) []uint32 {
	var out []uint32
	r.fixed(max, 4, func(b []byte, n int) {
		out = make([]uint32, n)
		for i := range out {
			out[i] = binary.LittleEndian.Uint32(b[i*4:])
		}
	})
	return out
}

func (r *snapReader) i64s(max int) []int64 {
	var out []int64
	r.fixed(max, 8, func(b []byte, n int) {
		out = make([]int64, n)
		for i := range out {
			out[i] = int64(binary.LittleEndian.Uint64(b[i*8:]))
		}
	})
	return out
}

func (r *snapReader) f64s(max int) []float64 {
	var out []float64
	r.fixed(max, 8, func(b []byte, n int) {
		out = make([]float64, n)
		for i := range out {
			out[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[i*8:]))
		}
	})
	return out
}

func (r *snapReader) bitmap() *roaring.Bitmap {
	bm := roaring.New()
	b := r.raw(r.count(math.MaxInt32))
	if r.err != nil {
		return bm
	}
	if err := bm.UnmarshalBinary(b); err != nil {
		r.fail(err)
	}
	return bm
}

// byteCounter reads single bytes for binary.ReadUvarint, counting them.
type byteCounter struct{ r *snapReader }

func (c byteCounter) ReadByte() (byte, error) {
	b, err := c.r.r.ReadByte()
	if err == nil {
		c.r.read++
	}
	return b, err
}
