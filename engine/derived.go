package engine

import (
	"cmp"
	"math"
	"strings"
	"sync"

	"github.com/segmentd/segmentd/query"
)

// Derived indexes: what a preview (colwise.go) reads besides the
// account's own columns, built from them by the first preview that needs
// it and from then on kept in step by every write. Building happens under
// the account's read lock, so derived.mu serialises concurrent previews;
// writers hold the write lock, which excludes every reader, and update
// them without derived.mu.
//
//   - Email domains: per contact, the part of its email from the last '@'
//     on ("@gmail.com"), coded in a dictionary of their own, so that a
//     condition email LIKE '%@D' is decided once per distinct domain.
//     An email without '@' is coded as "-" (which no "@…" equals); an
//     unset one as 0.
//   - Email trigrams (grams.go): per trigram of the emails, the contacts
//     whose email holds it, so that a LIKE on the email with a literal
//     tests only the contacts whose email holds the literal's trigrams.
//   - Latest events: per event type, each contact's greatest event
//     timestamp of that type (noEvent without one), so that "some event
//     of type T since X" and "the last event of type T is after X" are a
//     comparison per contact instead of decoding its events. At most
//     maxLatestTypes types are kept; a condition on another type is
//     evaluated as before, contact by contact.
//   - Earliest events: the same per event type with the least
//     timestamp (math.MaxInt64 without one), for a condition on some
//     event of type T before a time, or between two (with the latest).
//     At most maxLatestTypes types are kept.
//   - Keyed latest events: per event type and single send, automation,
//     campaign id or URL, or any such value (query.EventKey), each
//     contact's least and greatest timestamps of
//     such an event, for the contacts that have one (a map: a single
//     send's opens reach a fraction of an account's contacts), so that
//     "opened single send X (since Y)" is a pass over those contacts. At
//     most maxKeyed are kept, and at most maxKeyedBytes together; the
//     least recently used goes first.
//   - Value codes: per custom Number or Date field a preview has asked
//     about, each contact's value coded in a table of the field's
//     distinct values (2 bytes per contact), so that a condition on the
//     field is decided once per distinct value into the byte table the
//     text conditions use. A field of more than maxValueCodes distinct
//     values is not coded (its conditions keep the cache by value). At
//     most maxValueCols are kept; the least recently used goes first.
type derived struct {
	mu sync.Mutex
	// keyedMax, if not 0, is the bound instead of maxKeyedBytes (tests).
	keyedMax int64
	domains  *domainCol
	grams    *gramIndex // grams.go
	latest   map[string]*latestCol
	// earliest is as latest, of the least timestamps (least set).
	earliest map[string]*latestCol
	// keyed is by event type, then by key.
	keyed  map[string]map[query.EventKey]*keyedCol
	nKeyed int
	clock  uint64 // counts uses of keyed and value-coded columns, for their last use
	// values is by the field's column (a column SetFields replaced is
	// dropped at the next look-up).
	values map[*column]*valueCol
	// days is by event type (eventdays.go); dayTooBig names the types
	// whose index alone would exceed maxDayBytes.
	days      map[string]*dayIndex
	dayTooBig map[string]bool
	dayMax    int64 // if not 0, the bound instead of maxDayBytes
}

// maxKeyed bounds the keyed latest-event columns an account keeps (a
// preview typed in the console asks for one per single send it names).
const maxKeyed = 32

// maxKeyedBytes bounds their bytes too, checked at each use: a column is
// a map entry per contact with such an event, and a key over a common
// type ("delivered", any single send) reaches most contacts, 25–40 MB at
// a million, so 32 of them could hold a gigabyte. The column a preview
// asks for is kept even alone past the bound.
const maxKeyedBytes = 64 << 20

// keyedColBytes is the heap a keyed column holds, as size counts it.
func keyedColBytes(typ string, k query.EventKey, c *keyedCol) int64 {
	return int64(len(c.spans))*mapEntryBytes(4+16) + int64(len(typ)+len(k.Col)+len(k.Value)) + 96
}

type keyedCol struct {
	spans map[uint32]keySpan // by contact index: only contacts with such an event
	// inexact is as latestCol's: an event at noEvent itself.
	inexact bool
	used    uint64 // derived.clock at its last use
}

// keySpan is a contact's least and greatest timestamps of the events of
// a keyed column's type and key.
type keySpan struct{ least, most int64 }

// note records an event of the column's type and key at ts for contact
// idx.
func (c *keyedCol) note(idx uint32, ts int64) {
	if ts == noEvent {
		c.inexact = true
	}
	if v, ok := c.spans[idx]; !ok {
		c.spans[idx] = keySpan{ts, ts}
	} else if ts < v.least || ts > v.most {
		c.spans[idx] = keySpan{min(v.least, ts), max(v.most, ts)}
	}
}

// eventKeysOf calls f with each key an event holds: each of its set
// columns' value, and that column's "any value" key.
func eventKeysOf(ss, auto, camp, url string, f func(k query.EventKey)) {
	for _, k := range [...]query.EventKey{{Col: "singlesend_id", Value: ss}, {Col: "automation_id", Value: auto}, {Col: "marketing_campaign_id", Value: camp}, {Col: "url", Value: url}} {
		if k.Value != "" {
			f(k)
			f(query.EventKey{Col: k.Col})
		}
	}
}

// keyedOf returns, for each contact with an event of type typ holding
// key k, the least and greatest timestamps of such events, building the column
// first if no preview has (one decoding pass over the events); false
// when it cannot be trusted. The caller holds the read lock.
func (a *account) keyedOf(typ string, k query.EventKey) (map[uint32]keySpan, bool) {
	a.der.mu.Lock()
	defer a.der.mu.Unlock()
	a.der.clock++
	c := a.der.keyed[typ][k]
	if c == nil {
		if a.der.nKeyed >= maxKeyed {
			a.der.evictKeyed()
		}
		c = &keyedCol{spans: make(map[uint32]keySpan)}
		code, ok := a.evDict.code(typ)
		vcode, vok := a.evDict.code(k.Value)
		if k.Value == "" {
			vcode, vok = 0, true
		}
		if ok && vok {
			var ev event
			for idx, run := range a.events {
				er := eventReader{b: run}
				for er.next(&ev) {
					if ev.typ != code {
						continue
					}
					if v := ev.keyCode(k.Col); v != 0 && (v == vcode || vcode == 0) { // vcode 0: any value
						c.note(uint32(idx), ev.ts)
					}
				}
			}
		}
		if a.der.keyed == nil {
			a.der.keyed = make(map[string]map[query.EventKey]*keyedCol)
		}
		if a.der.keyed[typ] == nil {
			a.der.keyed[typ] = make(map[query.EventKey]*keyedCol)
		}
		a.der.keyed[typ][k] = c
		a.der.nKeyed++
	}
	c.used = a.der.clock
	a.der.boundKeyed() // columns grow with events after they are built
	return c.spans, !c.inexact
}

// keyCode returns the event's code in key column col (singlesend_id,
// automation_id, marketing_campaign_id or url), 0 when it has none.
func (ev *event) keyCode(col string) uint32 {
	switch col {
	case "singlesend_id":
		return ev.ss
	case "automation_id":
		return ev.auto
	case "marketing_campaign_id":
		return ev.camp
	case "url":
		return ev.u
	}
	return 0
}

// boundKeyed drops the least recently used keyed columns while they hold
// more than maxKeyedBytes together, all but the last one used. The
// caller holds d.mu.
func (d *derived) boundKeyed() {
	limit := cmp.Or(d.keyedMax, maxKeyedBytes)
	for d.nKeyed > 1 {
		var b int64
		for typ, m := range d.keyed {
			for k, c := range m {
				b += keyedColBytes(typ, k, c)
			}
		}
		if b <= limit {
			return
		}
		d.evictKeyed()
	}
}

// evictKeyed drops the least recently used keyed column. A preview that
// still reads it keeps its map, which no writer touches any more.
func (d *derived) evictKeyed() {
	var oldest *keyedCol
	var otyp string
	var okey query.EventKey
	for typ, m := range d.keyed {
		for k, c := range m {
			if oldest == nil || c.used < oldest.used {
				oldest, otyp, okey = c, typ, k
			}
		}
	}
	if oldest == nil {
		return
	}
	delete(d.keyed[otyp], okey)
	if len(d.keyed[otyp]) == 0 {
		delete(d.keyed, otyp)
	}
	d.nKeyed--
}

// maxLatestTypes bounds the latest-event arrays an account keeps (8 bytes
// per contact each): SendGrid's Event Webhook has about ten event types.
const maxLatestTypes = 16

// noEvent marks a contact without an event of a latest column's type.
const noEvent = math.MinInt64

type domainCol struct {
	codes []uint32 // by contact index; past its end, 0
	dict  *dict
}

type latestCol struct {
	max []int64 // by contact index; past its end, noEvent
	// inexact is set when an event's timestamp is noEvent itself (a
	// time some 292 million years ago), which the array cannot tell from
	// none: the column is then not used.
	inexact bool
	// least makes it an earliest-event array: max holds each contact's
	// least timestamp, math.MaxInt64 without one (an event at that time
	// changes nothing: the latest array tells who has events).
	least bool
}

// domainKey is an email's key in the domain column.
func domainKey(email string) string {
	if i := strings.LastIndexByte(email, '@'); i >= 0 {
		return email[i:]
	}
	if email == "" {
		return ""
	}
	return "-"
}

// set keeps contact idx's domain in step with its email.
func (c *domainCol) set(idx uint32, email string) {
	k := domainKey(email)
	if int(idx) >= len(c.codes) {
		if k == "" {
			return
		}
		c.codes = append(c.codes, make([]uint32, int(idx)+1-len(c.codes))...)
	}
	c.dict.replace(&c.codes[idx], k)
}

// emailDomains returns the account's domain column, building it first if
// no preview has. The caller holds the read lock.
func (a *account) emailDomains() *domainCol {
	a.der.mu.Lock()
	defer a.der.mu.Unlock()
	if a.der.domains == nil {
		c := &domainCol{dict: newDict()}
		vals := a.dict.vals
		col := a.text[query.FieldEmail]
		c.codes = make([]uint32, len(col))
		for idx, code := range col {
			if code != 0 {
				c.set(uint32(idx), vals[code])
			}
		}
		a.der.domains = c
	}
	return a.der.domains
}

// latestOf returns each contact's greatest timestamp of an event of type
// typ, building the array first if no preview has; false when the
// account keeps maxLatestTypes arrays of other types already, or the
// array cannot be trusted. The caller holds the read lock.
func (a *account) latestOf(typ string) ([]int64, bool) {
	a.der.mu.Lock()
	defer a.der.mu.Unlock()
	c := a.der.latest[typ]
	if c == nil {
		if len(a.der.latest) >= maxLatestTypes {
			return nil, false
		}
		c = &latestCol{}
		if code, ok := a.evDict.code(typ); ok {
			c.max = make([]int64, len(a.events))
			var ev event
			for idx, run := range a.events {
				c.max[idx] = noEvent
				er := eventReader{b: run}
				for er.next(&ev) {
					if ev.typ == code {
						c.note(uint32(idx), ev.ts)
					}
				}
			}
		}
		if a.der.latest == nil {
			a.der.latest = make(map[string]*latestCol)
		}
		a.der.latest[typ] = c
	}
	return c.max, !c.inexact
}

// note records an event of the column's type at ts for contact idx.
func (c *latestCol) note(idx uint32, ts int64) {
	if c.least {
		for len(c.max) <= int(idx) {
			c.max = append(c.max, math.MaxInt64)
		}
		c.max[idx] = min(c.max[idx], ts)
		return
	}
	if ts == noEvent {
		c.inexact = true
	}
	for len(c.max) <= int(idx) {
		c.max = append(c.max, noEvent)
	}
	c.max[idx] = max(c.max[idx], ts)
}

// none is what the column holds for a contact without an event of its
// type.
func (c *latestCol) none() int64 {
	if c.least {
		return math.MaxInt64
	}
	return noEvent
}

// earliestOf returns each contact's least timestamp of an event of type
// typ (math.MaxInt64 without one, and past the array's end), building
// the array first if no preview has; false when the account keeps
// maxLatestTypes such arrays of other types already. The caller holds
// the read lock.
func (a *account) earliestOf(typ string) ([]int64, bool) {
	a.der.mu.Lock()
	defer a.der.mu.Unlock()
	c := a.der.earliest[typ]
	if c == nil {
		if len(a.der.earliest) >= maxLatestTypes {
			return nil, false
		}
		c = &latestCol{least: true}
		if code, ok := a.evDict.code(typ); ok {
			c.max = make([]int64, len(a.events))
			var ev event
			for idx, run := range a.events {
				c.max[idx] = math.MaxInt64
				er := eventReader{b: run}
				for er.next(&ev) {
					if ev.typ == code {
						c.note(uint32(idx), ev.ts)
					}
				}
			}
		}
		if a.der.earliest == nil {
			a.der.earliest = make(map[string]*latestCol)
		}
		a.der.earliest[typ] = c
	}
	return c.max, true
}

// derivedEvents keeps the latest-event arrays in step with events added
// to contact idx. The caller holds the write lock.
func (a *account) derivedEvents(idx uint32, evs []query.Event) {
	if len(a.der.latest) == 0 && len(a.der.keyed) == 0 && len(a.der.earliest) == 0 && len(a.der.days) == 0 {
		return
	}
	for i := range evs {
		ev := &evs[i]
		a.der.dayEvent(idx, ev.Type, ev.Timestamp)
		if c := a.der.latest[ev.Type]; c != nil {
			c.note(idx, ev.Timestamp)
		}
		if c := a.der.earliest[ev.Type]; c != nil {
			c.note(idx, ev.Timestamp)
		}
		if m := a.der.keyed[ev.Type]; m != nil {
			eventKeysOf(ev.SinglesendID, ev.AutomationID, ev.MarketingCampaignID, ev.URL, func(k query.EventKey) {
				if c := m[k]; c != nil {
					c.note(idx, ev.Timestamp)
				}
			})
		}
	}
}

// derivedReset recomputes contact idx's entries of the latest-event
// arrays from its events (after all were dropped) and marks it stale in
// the day indexes. The caller holds the write lock.
func (a *account) derivedReset(idx uint32) {
	a.der.dayStale(idx)
	a.derivedPruned(idx)
}

// derivedPruned is derivedReset after contact idx's events before a cut
// were pruned, which pruneDays drops from the day indexes.
func (a *account) derivedPruned(idx uint32) {
	if len(a.der.latest) == 0 && len(a.der.keyed) == 0 && len(a.der.earliest) == 0 {
		return
	}
	for _, m := range [...]map[string]*latestCol{a.der.latest, a.der.earliest} {
		for _, c := range m {
			if int(idx) < len(c.max) {
				c.max[idx] = c.none()
			}
		}
	}
	for _, m := range a.der.keyed {
		for _, c := range m {
			delete(c.spans, idx)
		}
	}
	er := eventReader{b: a.events[idx]}
	var ev event
	vals := a.evDict.vals
	for er.next(&ev) {
		typ := vals[ev.typ]
		if c := a.der.latest[typ]; c != nil {
			c.note(idx, ev.ts)
		}
		if c := a.der.earliest[typ]; c != nil {
			c.note(idx, ev.ts)
		}
		if m := a.der.keyed[typ]; m != nil {
			eventKeysOf(vals[ev.ss], vals[ev.auto], vals[ev.camp], vals[ev.u], func(k query.EventKey) {
				if c := m[k]; c != nil {
					c.note(idx, ev.ts)
				}
			})
		}
	}
}

// maxValueCols bounds the value-coded columns an account keeps.
const maxValueCols = 8

// maxValueCodes is how many distinct values a value-coded column holds
// at most (code 0 is unset).
const maxValueCodes = 1<<16 - 1

// valueCol is a Number or Date field's values coded by distinct value:
// codes by contact index (0 unset, and past its end), keys by code (the
// value's bits, valueKey), reference counted so a value no contact holds
// any more gives its code back.
type valueCol struct {
	codes []uint16
	keys  []uint64
	refs  []uint32
	index map[uint64]uint16
	free  []uint16
	// full is set when the field had more distinct values than codes:
	// the column is then empty and not used.
	full bool
	used uint64 // derived.clock at its last use
}

// valueKey returns contact idx's value of Number or Date column col as
// bits, and false when it is unset.
func valueKey(col *column, idx uint32) (uint64, bool) {
	if col.typ == query.Number {
		if int(idx) < len(col.nums) {
			if k := math.Float64bits(col.nums[idx]); k != unsetNumBits {
				return k, true
			}
		}
		return 0, false
	}
	if int(idx) < len(col.times) && col.times[idx] != unsetTime {
		return uint64(col.times[idx]), true
	}
	return 0, false
}

// keyValue is valueKey's inverse: the value of key k in a column of type
// typ.
func keyValue(typ query.FieldType, k uint64) query.Value {
	if typ == query.Number {
		return query.Value{Kind: query.Number, Num: math.Float64frombits(k)}
	}
	return query.Value{Kind: query.Date, Time: int64(k)}
}

// set keeps contact idx's code in step with its value in col.
func (c *valueCol) set(col *column, idx uint32) {
	if c.full {
		return
	}
	var code uint16
	if k, ok := valueKey(col, idx); ok {
		code, ok = c.index[k]
		if !ok {
			switch {
			case len(c.free) > 0:
				code = c.free[len(c.free)-1]
				c.free = c.free[:len(c.free)-1]
				c.keys[code] = k
			case len(c.keys) <= maxValueCodes:
				code = uint16(len(c.keys))
				c.keys = append(c.keys, k)
				c.refs = append(c.refs, 0)
			default:
				*c = valueCol{full: true, used: c.used}
				return
			}
			c.index[k] = code
		}
		c.refs[code]++
	}
	if int(idx) >= len(c.codes) {
		if code == 0 {
			return
		}
		c.codes = append(c.codes, make([]uint16, int(idx)+1-len(c.codes))...)
	}
	if old := c.codes[idx]; old != 0 {
		if c.refs[old]--; c.refs[old] == 0 {
			delete(c.index, c.keys[old])
			c.free = append(c.free, old)
		}
	}
	c.codes[idx] = code
}

// valuesOf returns Number or Date column col coded by distinct value,
// building it first if no preview has (one pass over the column); false
// when the field has more than maxValueCodes distinct values. The caller
// holds the read lock.
func (a *account) valuesOf(col *column) (*valueCol, bool) {
	a.der.mu.Lock()
	defer a.der.mu.Unlock()
	a.der.clock++
	for k := range a.der.values {
		if a.cols[k.id] != k {
			delete(a.der.values, k) // its field was deleted or retyped
		}
	}
	c := a.der.values[col]
	if c == nil {
		if len(a.der.values) >= maxValueCols {
			var oldest *column
			for k, v := range a.der.values {
				if oldest == nil || v.used < a.der.values[oldest].used {
					oldest = k
				}
			}
			delete(a.der.values, oldest)
		}
		c = &valueCol{keys: []uint64{0}, refs: []uint32{0}, index: make(map[uint64]uint16)}
		n := max(len(col.nums), len(col.times))
		for idx := range n {
			if c.set(col, uint32(idx)); c.full {
				break
			}
		}
		if a.der.values == nil {
			a.der.values = make(map[*column]*valueCol)
		}
		a.der.values[col] = c
	}
	c.used = a.der.clock
	return c, !c.full
}

// derivedValues keeps the value-coded columns in step with contact idx's
// values. The caller holds the write lock.
func (a *account) derivedValues(idx uint32) {
	for col, c := range a.der.values {
		c.set(col, idx)
	}
}

// size estimates the derived indexes' heap bytes.
func (d *derived) size() int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	var b int64
	if d.domains != nil {
		b += int64(cap(d.domains.codes))*4 + d.domains.dict.size()
	}
	if d.grams != nil {
		b += d.grams.size()
	}
	for _, m := range [...]map[string]*latestCol{d.latest, d.earliest} {
		for typ, c := range m {
			b += int64(cap(c.max))*8 + int64(len(typ)) + 64
		}
	}
	for typ, m := range d.keyed {
		for k, c := range m {
			b += keyedColBytes(typ, k, c)
		}
	}
	for _, x := range d.days {
		b += x.size()
	}
	for _, c := range d.values {
		b += int64(cap(c.codes))*2 + int64(cap(c.keys))*8 + int64(cap(c.refs))*4 + int64(cap(c.free))*2 +
			int64(len(c.index))*mapEntryBytes(8+2) + 96
	}
	return b
}
