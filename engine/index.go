package engine

import (
	"encoding/binary"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/query"
)

// This file is an account's index beyond its custom-field columns
// (columns.go): the per-contact event encoding, list bitmaps, and the
// write, delete and record paths that keep them and the columns in step.

// Events are stored per contact as one byte string, each event a run of
// varints: the timestamp as a zigzag delta from the previous event's, one
// byte saying which of type, source, singlesend, automation, campaign and
// URL are set, then the codes of the set ones in the account's event
// dictionary (separate from the contact dictionary, so its few values get
// one-byte codes). Ten events of the benchmark world take about 100 bytes
// instead of 320 as structs.
type event struct {
	ts                          int64
	typ, src, ss, auto, camp, u uint32
}

// appendEvent encodes ev after an event with timestamp prev.
func appendEvent(b []byte, prev int64, ev *event) []byte {
	b = binary.AppendVarint(b, ev.ts-prev)
	codes := [...]uint32{ev.typ, ev.src, ev.ss, ev.auto, ev.camp, ev.u}
	var set byte
	for i, c := range codes {
		if c != 0 {
			set |= 1 << i
		}
	}
	b = append(b, set)
	for _, c := range codes {
		if c != 0 {
			b = binary.AppendUvarint(b, uint64(c))
		}
	}
	return b
}

// eventReader decodes a contact's events in order.
type eventReader struct {
	b  []byte
	ts int64
}

func (r *eventReader) next(ev *event) bool {
	if len(r.b) == 0 {
		return false
	}
	d, n := binary.Varint(r.b)
	r.ts += d
	ev.ts = r.ts
	set := r.b[n]
	r.b = r.b[n+1:]
	for i, p := range [...]*uint32{&ev.typ, &ev.src, &ev.ss, &ev.auto, &ev.camp, &ev.u} {
		if set&(1<<i) == 0 {
			*p = 0
			continue
		}
		if b := r.b[0]; b < 0x80 { // most codes fit one byte
			*p = uint32(b)
			r.b = r.b[1:]
			continue
		}
		c, n := binary.Uvarint(r.b)
		r.b = r.b[n:]
		*p = uint32(c)
	}
	return true
}

// skip moves past one event, decoding only its timestamp (r.ts): cheaper
// than next where only timestamps are wanted (timeValues), which at
// a hundred events a contact is most of a webhook batch's engine time.
func (r *eventReader) skip() bool {
	if len(r.b) == 0 {
		return false
	}
	d, n := binary.Varint(r.b)
	r.ts += d
	set := r.b[n]
	r.b = r.b[n+1:]
	for k := bits.OnesCount8(set); k > 0; k-- {
		i := 0
		for r.b[i] >= 0x80 {
			i++
		}
		r.b = r.b[i+1:]
	}
	return true
}

// typ returns the type code of the next event without moving past it (0
// if it has none).
func (r *eventReader) typ() uint32 {
	_, n := binary.Varint(r.b)
	if r.b[n]&1 == 0 {
		return 0
	}
	c, _ := binary.Uvarint(r.b[n+1:])
	return uint32(c)
}

// lastTS returns the timestamp of the last event of an encoded run.
func lastTS(b []byte) int64 {
	r := eventReader{b: b}
	for r.skip() {
	}
	return r.ts
}

// list is one contact list's members.
type list struct {
	id string
	bm *roaring.Bitmap
}

// scratch is the reusable state of evaluating contacts one at a time. The
// writer owns the account's; each concurrent reader makes its own.
type scratch struct {
	rec   query.Record
	out   []bool
	times []int64
	types []uint32 // the codes of a need's evTypes (record)
	// cursors, when set, walk the lists (in listOrder) alongside a scan
	// that visits indexes in ascending order: a merge instead of a
	// bitmap lookup per list per contact.
	cursors []listCursor
}

type listCursor struct {
	it   roaring.IntPeekable
	cur  uint32
	done bool
}

func (a *account) listCursors() []listCursor {
	cs := make([]listCursor, len(a.listOrder))
	for i, l := range a.listOrder {
		cs[i].it = l.bm.Iterator()
		cs[i].done = !cs[i].it.HasNext()
		if !cs[i].done {
			cs[i].cur = cs[i].it.PeekNext()
		}
	}
	return cs
}

// at reports whether the cursor's list holds idx; idx must not decrease
// from one call to the next.
func (c *listCursor) at(idx uint32) bool {
	if c.done {
		return false
	}
	if c.cur < idx {
		c.it.AdvanceIfNeeded(idx)
		if !c.it.HasNext() {
			c.done = true
			return false
		}
		c.cur = c.it.PeekNext()
	}
	return c.cur == idx
}

// contactText returns c's reserved text fields in query.Record.Text order.
func contactText(c *segmentd.Contact) [query.NumTextFields]string {
	var t [query.NumTextFields]string
	t[query.FieldEmail] = c.Email
	t[query.FieldPhoneNumberID] = c.PhoneNumberID
	t[query.FieldExternalID] = c.ExternalID
	t[query.FieldAnonymousID] = c.AnonymousID
	t[query.FieldFirstName] = c.FirstName
	t[query.FieldLastName] = c.LastName
	t[query.FieldAddressLine1] = c.AddressLine1
	t[query.FieldAddressLine2] = c.AddressLine2
	t[query.FieldCity] = c.City
	t[query.FieldStateProvinceRegion] = c.StateProvinceRegion
	t[query.FieldPostalCode] = c.PostalCode
	t[query.FieldCountry] = c.Country
	t[query.FieldPhoneNumber] = c.PhoneNumber
	t[query.FieldWhatsapp] = c.WhatsApp
	t[query.FieldLine] = c.Line
	t[query.FieldFacebook] = c.Facebook
	t[query.FieldUniqueName] = c.UniqueName
	return t
}

// alloc gives a contact id a dense index, reusing a freed one first.
func (a *account) alloc(id string) uint32 {
	var idx uint32
	if n := len(a.free); n > 0 {
		idx = a.free[n-1]
		a.free = a.free[:n-1]
	} else {
		idx = uint32(a.ids.len())
		a.created = append(a.created, 0)
		a.updated = append(a.updated, 0)
		a.events = append(a.events, nil)
		a.lastEv = append(a.lastEv, 0)
	}
	a.ids.set(idx, id)
	a.live.Add(idx)
	return idx
}

// delta is what a write changed in a contact: the inputs a query can read.
// A segment none of whose inputs changed keeps its result (its time
// dependence is the wakes' business), so only the affected segments are
// re-checked.
type delta struct {
	all                                  bool // a new contact: everything
	text                                 uint32
	created, updated, alt, lists, events bool
	tags                                 bool  // Constant Contact's taggings
	slots                                []int // changed custom slots, ascending
}

// affects reports whether a query that reads n can see the change.
func (d *delta) affects(n *need) bool {
	if d.all || n.text&d.text != 0 || d.lists && n.lists || d.tags && n.tags || d.events && n.events ||
		d.alt && (n.alternates || n.domains) || d.created && n.created || d.updated && n.updated {
		return true
	}
	for _, s := range d.slots {
		for _, t := range n.slots {
			if s == t {
				return true
			}
		}
	}
	return false
}

// write stores the full state of contact c at index idx and records in d
// what changed. fresh says idx was just allocated (so it is on no list);
// keepLists that c.ListIDs are lists to join, the contact staying on the
// others (PutContactsAddingLists).
func (a *account) write(idx uint32, c *segmentd.Contact, fresh, keepLists bool, d *delta) {
	d.text, d.created, d.updated, d.alt, d.lists, d.events, d.tags = 0, false, false, false, false, false, false
	d.slots = d.slots[:0]
	t := contactText(c)
	for f := range t {
		col := a.text[f]
		if int(idx) >= len(col) {
			if t[f] == "" {
				continue
			}
			// A text column is allocated when a contact first sets it:
			// most accounts leave most reserved fields empty.
			col = append(col, make([]uint32, int(idx)+1-len(col))...)
			a.text[f] = col
		}
		old := col[idx]
		oldStr := a.dict.vals[old] // before replace may release it
		a.dict.replace(&col[idx], t[f])
		if col[idx] != old {
			d.text |= 1 << f
			if query.TextField(f) == query.FieldEmail && a.der.domains != nil {
				a.der.domains.set(idx, t[f])
			}
			if query.TextField(f) == query.FieldEmail && a.der.grams != nil {
				a.der.grams.change(idx, oldStr, t[f])
			}
			if f < numIdents {
				if col[idx] != 0 {
					a.idents[f].Add(idx)
				} else {
					a.idents[f].Remove(idx)
				}
			}
		}
	}
	if ms := c.CreatedAt.UnixMilli(); ms != a.created[idx] {
		a.created[idx], d.created = ms, true
	}
	if ms := c.UpdatedAt.UnixMilli(); ms != a.updated[idx] {
		a.updated[idx], d.updated = ms, true
	}
	if !slices.Equal(a.alt[idx], c.AlternateEmails) {
		d.alt = true
		if len(c.AlternateEmails) > 0 {
			alt := make([]string, len(c.AlternateEmails))
			for i, e := range c.AlternateEmails {
				alt[i] = strings.Clone(e) // not a slice of the job's input (see list)
			}
			a.alt[idx] = alt
		} else {
			delete(a.alt, idx)
		}
	}
	for slot, col := range a.slotCols {
		before := col.get(idx, a.dict)
		v, ok := c.CustomFields[col.id]
		col.set(idx, v, ok, a.dict)
		if col.get(idx, a.dict) != before {
			d.slots = append(d.slots, slot)
		}
	}
	if len(d.slots) > 0 && len(a.der.values) > 0 {
		a.derivedValues(idx)
	}
	// Lists: leave the ones not named (unless keepLists), join the named ones.
	for _, l := range a.listOrder {
		if fresh || keepLists {
			break
		}
		if l.bm.Contains(idx) && !slices.Contains(c.ListIDs, l.id) {
			l.bm.Remove(idx)
			d.lists = true
			if l.bm.IsEmpty() {
				a.listsDirty = true
			}
		}
	}
	for _, id := range c.ListIDs {
		if a.list(id).bm.CheckedAdd(idx) {
			d.lists = true
		}
	}
	d.tags = a.tags.write(idx, c.TagIDs, fresh)
}

// list returns list id, creating it.
func (a *account) list(id string) *list {
	if l, ok := a.lists[id]; ok {
		return l
	}
	// Cloned: an id a job's input gave is a slice of the whole input
	// record (up to a request's 6 MB), which a list kept for good pinned
	// (at 1M contacts, 138 MB of the realistic load's live heap).
	id = strings.Clone(id)
	l := &list{id: id, bm: roaring.New()}
	a.lists[id] = l
	i := 0
	for i < len(a.listOrder) && a.listOrder[i].id < id {
		i++
	}
	a.listOrder = append(a.listOrder, nil)
	copy(a.listOrder[i+1:], a.listOrder[i:])
	a.listOrder[i] = l
	return l
}

// pruneLists forgets lists nobody is on any more.
func (a *account) pruneLists() {
	if !a.listsDirty {
		return
	}
	a.listsDirty = false
	keep := a.listOrder[:0]
	for _, l := range a.listOrder {
		if l.bm.IsEmpty() {
			delete(a.lists, l.id)
			continue
		}
		keep = append(keep, l)
	}
	for i := len(keep); i < len(a.listOrder); i++ {
		a.listOrder[i] = nil
	}
	a.listOrder = keep
}

// drop removes contact idx from every structure and frees its index.
func (a *account) drop(idx uint32) {
	for _, s := range a.active {
		if s.members.CheckedRemove(idx) {
			s.exits++
			a.note(s, idx, false)
		}
	}
	for _, l := range a.listOrder {
		if l.bm.CheckedRemove(idx) && l.bm.IsEmpty() {
			a.listsDirty = true
		}
	}
	a.tags.drop(idx)
	if email := a.text[query.FieldEmail]; a.der.grams != nil && int(idx) < len(email) {
		a.der.grams.change(idx, a.dict.vals[email[idx]], "")
	}
	for _, col := range a.text {
		if int(idx) < len(col) {
			a.dict.release(col[idx])
			col[idx] = 0
		}
	}
	for _, bm := range a.idents {
		bm.Remove(idx)
	}
	for _, col := range a.slotCols {
		col.clear(idx, a.dict)
	}
	a.derivedValues(idx)
	delete(a.alt, idx)
	er := eventReader{b: a.events[idx]}
	var ev event
	for er.next(&ev) {
		a.releaseEvent(ev)
		a.nEvents--
	}
	a.events[idx], a.lastEv[idx] = nil, 0
	a.derivedReset(idx)
	if a.der.domains != nil {
		a.der.domains.set(idx, "")
	}
	a.created[idx], a.updated[idx] = 0, 0
	if int(idx) < len(a.wakeAt) {
		a.wakeAt[idx] = noWake
	}
	a.ids.remove(idx)
	a.live.Remove(idx)
	a.free = append(a.free, idx)
}

// addEvents appends events to contact idx's run, growing it by a quarter
// at a time so the slack stays small.
func (a *account) addEvents(idx uint32, evs []query.Event) {
	b := a.events[idx]
	prev := a.lastEv[idx]
	buf := a.evBuf[:0]
	defer func() { a.evBuf = buf[:0] }()
	for i := range evs {
		ev := a.encodeEvent(&evs[i])
		buf = appendEvent(buf, prev, &ev)
		prev = ev.ts
	}
	a.lastEv[idx] = prev
	a.derivedEvents(idx, evs)
	if len(b) == 0 {
		// A contact's first events (all of them, when rebuilding) get an
		// exact allocation; later ones grow the run by a quarter.
		a.events[idx] = append([]byte(nil), buf...)
		a.nEvents += len(evs)
		return
	}
	if len(b)+len(buf) > cap(b) && a.loading {
		// A rebuild adds a contact's events a page at a time: doubling
		// moves a run about log2 of its events times where a quarter
		// moved it at nearly every event (packEvents takes the slack
		// back).
		a.events[idx] = append(b, buf...)
		a.nEvents += len(evs)
		return
	}
	if len(b)+len(buf) > cap(b) {
		nb := make([]byte, len(b), (len(b)+len(buf))*5/4)
		copy(nb, b)
		b = nb
	}
	a.events[idx] = append(b, buf...)
	a.nEvents += len(evs)
}

// pruneEvents drops contact idx's events older than cut (unix ms) and
// reports whether it dropped any.
func (a *account) pruneEvents(idx uint32, cut int64) bool {
	er := eventReader{b: a.events[idx]}
	var ev event
	old := false
	for er.next(&ev) {
		if ev.ts < cut {
			old = true
			break
		}
	}
	if !old {
		return false
	}
	var kept []byte
	prev := int64(0)
	er = eventReader{b: a.events[idx]}
	for er.next(&ev) {
		if ev.ts < cut {
			a.releaseEvent(ev)
			a.nEvents--
			continue
		}
		kept = appendEvent(kept, prev, &ev)
		prev = ev.ts
	}
	a.events[idx], a.lastEv[idx] = slices.Clip(kept), prev
	a.derivedPruned(idx)
	return true
}

func (a *account) encodeEvent(e *query.Event) event {
	d := a.evDict
	return event{
		ts:   e.Timestamp,
		typ:  d.acquire(e.Type),
		src:  d.acquire(e.Source),
		ss:   d.acquire(e.SinglesendID),
		auto: d.acquire(e.AutomationID),
		camp: d.acquire(e.MarketingCampaignID),
		u:    d.acquire(e.URL),
	}
}

func (a *account) releaseEvent(ev event) {
	d := a.evDict
	d.release(ev.typ)
	d.release(ev.src)
	d.release(ev.ss)
	d.release(ev.auto)
	d.release(ev.camp)
	d.release(ev.u)
}

// record materialises contact idx into sc.rec, filling only what n says the
// programs can read. Buffers are reused: the result is valid until the next
// call with the same scratch.
func (a *account) record(idx uint32, sc *scratch, n *need) *query.Record {
	r := &sc.rec
	d := a.dict
	if n.id {
		r.ID = a.ids.str(idx)
	} else {
		r.ID = ""
	}
	for f := range r.Text {
		if n.text&(1<<f) != 0 && int(idx) < len(a.text[f]) {
			r.Text[f] = d.vals[a.text[f][idx]]
		} else {
			r.Text[f] = ""
		}
	}
	r.CreatedAt = a.created[idx]
	r.UpdatedAt = a.updated[idx]
	if n.lists {
		r.ListIDs = r.ListIDs[:0]
		if sc.cursors != nil {
			for i := range sc.cursors {
				if sc.cursors[i].at(idx) {
					r.ListIDs = append(r.ListIDs, a.listOrder[i].id)
				}
			}
		} else {
			for _, l := range a.listOrder {
				if l.bm.Contains(idx) {
					r.ListIDs = append(r.ListIDs, l.id)
				}
			}
		}
	} else {
		r.ListIDs = nil
	}
	if n.tags {
		r.TagIDs = a.tags.of(idx, r.TagIDs[:0])
	} else {
		r.TagIDs = nil
	}
	if n.alternates || n.domains {
		r.AlternateEmails = a.alt[idx]
	} else {
		r.AlternateEmails = nil
	}
	if n.domains {
		r.EmailDomains = query.EmailDomains(r.Text[query.FieldEmail], r.AlternateEmails)
	} else {
		r.EmailDomains = nil
	}
	if len(r.Custom) != len(a.slotCols) {
		r.Custom = make([]query.Value, len(a.slotCols))
	}
	for _, s := range n.slots {
		if s < len(a.slotCols) {
			r.Custom[s] = a.slotCols[s].get(idx, d)
		}
	}
	if n.events {
		r.Events = r.Events[:0]
		er := eventReader{b: a.events[idx]}
		var ev event
		cols := n.evCols
		ed := a.evDict.vals
		var types []uint32
		if n.evOnly {
			types = sc.types[:0]
			for _, t := range n.evTypes {
				if c, ok := a.evDict.code(t); ok {
					types = append(types, c)
				}
			}
			sc.types = types
		}
		for {
			if n.evOnly && len(er.b) > 0 && !slices.Contains(types, er.typ()) {
				er.skip()
				continue
			}
			if !er.next(&ev) {
				break
			}
			e := query.Event{Timestamp: ev.ts}
			if cols&evType != 0 {
				e.Type = ed[ev.typ]
			}
			if cols&evSource != 0 {
				e.Source = ed[ev.src]
			}
			if cols&(evSinglesend|evAutomation|evCampaign|evURL) != 0 {
				e.SinglesendID = ed[ev.ss]
				e.AutomationID = ed[ev.auto]
				e.MarketingCampaignID = ed[ev.camp]
				e.URL = ed[ev.u]
			}
			r.Events = append(r.Events, e)
		}
	} else {
		r.Events = nil
	}
	return r
}

// timeValues lists contact idx's time values that the plan's queries can
// compare the clock with.
func (a *account) timeValues(p *timePlan, idx uint32, sc *scratch) []int64 {
	v := sc.times[:0]
	if p.created {
		v = append(v, a.created[idx])
	}
	if p.updated {
		v = append(v, a.updated[idx])
	}
	for _, s := range p.dateSlots {
		if s < len(a.slotCols) {
			if col := a.slotCols[s]; int(idx) < len(col.times) && col.times[idx] != unsetTime {
				v = append(v, col.times[idx])
			}
		}
	}
	if p.events {
		er := eventReader{b: a.events[idx]}
		for er.skip() {
			v = append(v, er.ts)
		}
	}
	sc.times = v
	return v
}

func unixMilli(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// packChunk is the size of the allocations packEvents carves runs out of.
const packChunk = 1 << 20

// packEvents ends a load (loading): each run is moved into chunks of
// packChunk bytes, exactly as long as it is, so that the doubling's slack
// and the allocator's rounding go. As in a snapshot load, a run's capacity
// ends where the next begins, so appending to one moves it out. The chunks
// are filled one after another, so the runs left behind can be collected
// while the next are packed.
func (a *account) packEvents() {
	a.loading = false
	var chunk []byte
	for i, run := range a.events {
		l := len(run)
		switch {
		case l == 0:
			a.events[i] = nil
			continue
		case l > packChunk/4:
			a.events[i] = slices.Clip(append([]byte(nil), run...))
			continue
		case l > cap(chunk)-len(chunk):
			chunk = make([]byte, 0, packChunk)
		}
		from := len(chunk)
		chunk = append(chunk, run...)
		a.events[i] = chunk[from : from+l : from+l]
	}
}
