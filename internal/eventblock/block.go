package eventblock

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
)

// A block holds the events of one account and one range of sequence
// numbers, in sequence order, in the encoding below: each store keeps it
// as one row (SQLite's event_blocks since its schema 25, PostgreSQL's
// since migration 0022), which costs one B-tree cell where rows cost one
// each, in about half their bytes.
//
// The encoding (version 1): the version byte, the number of events, then
// each event in turn:
//
//	seq        uvarint: the distance from the previous event's seq (from the
//	           block's first seq, minus one, for the first)
//	timestamp  zigzag varint: unix ms minus the previous event's (minus 0
//	           for the first)
//	type       uvarint: its code (TypeCode), or 0 and then a string
//	contact    a string: "" for none, else a form byte ('u': the UUID's 16
//	           bytes follow; 't': its text follows)
//	email      a string, the part before the last '@', then a string for
//	           the part after it, or none (uvarint 0) when there is no '@'
//	source     a string, "" for "mail"
//	singlesend_id, automation_id, marketing_campaign_id, url: strings
//	sg_event_id uvarint length, then its stored form (AppendStoredID); 0
//	           for none
//
// A string is a uvarint: 0 is the empty string, 1 a new string (a uvarint
// length and its bytes follow), n ≥ 2 the (n-2)th new string of the block
// again. The repeated strings of a block (the email domains, campaign and
// automation ids, urls, a contact's id and email when it has several
// events) are stored once. Every encoding reads back exactly what the
// rows held.

// Version is the encoding's version byte.
const Version = 1

// Encoder builds one block. Its buffers are reused from block to
// block.
type Encoder struct {
	buf     []byte
	id      []byte // an sg_event_id's stored form
	dict    map[string]uint64
	next    uint64 // the reference of the next new string
	n       int    // the events added
	lastSeq int64
	lastTS  int64
	oldest  int64 // the least timestamp of its events
}

// Reset starts a block whose first event's number is at least firstSeq.
func (e *Encoder) Reset(firstSeq int64) {
	e.buf = append(e.buf[:0], Version)
	if e.dict == nil {
		e.dict = make(map[string]uint64)
	}
	clear(e.dict)
	e.next = 2
	e.n, e.lastSeq, e.lastTS = 0, firstSeq-1, 0
}

func (e *Encoder) str(s string) {
	if s == "" {
		e.buf = append(e.buf, 0)
		return
	}
	if i, ok := e.dict[s]; ok {
		e.buf = binary.AppendUvarint(e.buf, i)
		return
	}
	e.lit(s)
}

// lit writes s as a new string.
func (e *Encoder) lit(s string) {
	e.dict[s] = e.next
	e.next++
	e.buf = append(e.buf, 1)
	e.buf = binary.AppendUvarint(e.buf, uint64(len(s)))
	e.buf = append(e.buf, s...)
}

// Add appends the event ev, whose sequence number seq is greater than the
// previous one's.
func (e *Encoder) Add(seq int64, ev *segmentd.Event) {
	e.buf = binary.AppendUvarint(e.buf, uint64(seq-e.lastSeq))
	ts := ev.Timestamp.UnixMilli()
	if e.n == 0 || ts < e.oldest {
		e.oldest = ts
	}
	e.buf = binary.AppendVarint(e.buf, ts-e.lastTS)
	e.lastSeq, e.lastTS = seq, ts
	if code := TypeCode(ev.Type); code != 0 {
		e.buf = binary.AppendUvarint(e.buf, code)
	} else {
		e.buf = append(e.buf, 0)
		e.str(ev.Type)
	}
	if b, ok := ParseUUID(ev.ContactID); ok {
		// The form byte and the 16 bytes, looked up without making a
		// string unless new.
		var u [17]byte
		u[0] = 'u'
		copy(u[1:], b[:])
		if i, ok := e.dict[string(u[:])]; ok {
			e.buf = binary.AppendUvarint(e.buf, i)
		} else {
			e.lit(string(u[:]))
		}
	} else if ev.ContactID != "" {
		e.str("t" + ev.ContactID)
	} else {
		e.str("")
	}
	if at := strings.LastIndexByte(ev.Email, '@'); at >= 0 {
		e.str(ev.Email[:at])
		if at+1 == len(ev.Email) {
			// An empty domain must still say that there was an '@': str("")
			// writes the 0 that means none.
			e.lit("")
		} else {
			e.str(ev.Email[at+1:])
		}
	} else {
		e.str(ev.Email)
		e.buf = append(e.buf, 0)
	}
	if ev.Source == segmentd.DefaultEventSource {
		e.str("")
	} else {
		e.str(ev.Source)
	}
	e.str(ev.SinglesendID)
	e.str(ev.AutomationID)
	e.str(ev.MarketingCampaignID)
	e.str(ev.URL)
	e.id, _ = AppendStoredID(e.id[:0], ev.SGEventID)
	e.buf = binary.AppendUvarint(e.buf, uint64(len(e.id)))
	e.buf = append(e.buf, e.id...)
	e.n++
}

// MinTimestamp is the block's min_timestamp: its oldest event's, or NULL
// when it holds none.
func (e *Encoder) MinTimestamp() any {
	if e.n == 0 {
		return nil
	}
	return e.oldest
}

// Bytes is the finished block: the header's count is written in front.
func (e *Encoder) Bytes() []byte {
	out := make([]byte, 0, len(e.buf)+binary.MaxVarintLen64)
	out = append(out, Version)
	out = binary.AppendUvarint(out, uint64(e.n))
	return append(out, e.buf[1:]...)
}

// ErrDamaged is the error of a block that does not decode.
var ErrDamaged = errors.New("a packed event block is damaged")

// Event is one event of a block as Reader reads it: its strings
// are slices of the block (the contact id in its stored form, the email in
// two parts), so that a reader that needs only some fields pays for no
// others. The fields from the block's string table also give their place
// in it (-1: the empty string).
type Event struct {
	Seq      int64
	TS       int64  // unix ms
	Code     uint64 // the type's code, or 0: typ
	typ      string
	contact  string // "" or a form byte and the id
	local    string
	domain   string
	hasAt    bool
	strs     [5]string // source ("" for "mail"), singlesend_id, automation_id, marketing_campaign_id, url
	refs     [6]int    // the table places of typ and strs
	StoredID string    // AppendStoredID's form
}

// Reader reads a block's events in order. Its buffers are reused
// from block to block.
type Reader struct {
	data string
	pos  int
	left int
	dict []string
	Ev   Event // the event Next read
	err  error

	// Decode's buffers
	strs  []string // the table's strings, copied out of data when first used
	text  []byte
	spans [][3][2]int32
}

// Open starts reading the block data, whose events' sequence numbers start
// at firstSeq. dict is reused.
func (r *Reader) Open(data string, firstSeq int64) {
	*r = Reader{data: data, dict: r.dict[:0], strs: r.strs[:0], text: r.text[:0], spans: r.spans[:0]}
	if len(data) == 0 || data[0] != Version {
		r.err = ErrDamaged
		return
	}
	r.pos = 1
	n := r.uvarint()
	if r.err == nil && n > uint64(len(data)) {
		r.err = ErrDamaged
	}
	r.left = int(n)
	r.Ev.Seq = firstSeq - 1
}

// uvarint reads what binary.AppendUvarint wrote.
func (r *Reader) uvarint() uint64 {
	var v uint64
	for shift := uint(0); r.pos < len(r.data) && shift < 64; shift += 7 {
		c := r.data[r.pos]
		r.pos++
		v |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return v
		}
	}
	r.err = ErrDamaged
	return 0
}

// varint reads what binary.AppendVarint wrote.
func (r *Reader) varint() int64 {
	u := r.uvarint()
	return int64(u>>1) ^ -int64(u&1)
}

func (r *Reader) bytes(n uint64) string {
	if r.err != nil || n > uint64(len(r.data)-r.pos) {
		r.err = ErrDamaged
		return ""
	}
	s := r.data[r.pos : r.pos+int(n)]
	r.pos += int(n)
	return s
}

// str reads a string and its place in the table (-1 for the empty
// string); none tells whether it was the uvarint 0.
func (r *Reader) str() (s string, ref int, none bool) {
	i := r.uvarint()
	switch {
	case r.err != nil || i == 0:
		return "", -1, true
	case i == 1:
		s = r.bytes(r.uvarint())
		r.dict = append(r.dict, s)
		return s, len(r.dict) - 1, false
	case i-2 < uint64(len(r.dict)):
		return r.dict[i-2], int(i - 2), false
	}
	r.err = ErrDamaged
	return "", -1, true
}

// Next reads the next event into r.Ev; false at the end or on an error
// (r.err).
func (r *Reader) Next() bool {
	if r.err != nil || r.left == 0 {
		if r.err == nil && r.pos != len(r.data) {
			r.err = ErrDamaged
		}
		return false
	}
	r.left--
	ev := &r.Ev
	ev.Seq += int64(r.uvarint())
	ev.TS += r.varint()
	ev.Code, ev.typ, ev.refs[0] = r.uvarint(), "", -1
	if ev.Code == 0 {
		ev.typ, ev.refs[0], _ = r.str()
	}
	ev.contact, _, _ = r.str()
	ev.local, _, _ = r.str()
	var none bool
	ev.domain, _, none = r.str()
	ev.hasAt = !none
	for i := range ev.strs {
		ev.strs[i], ev.refs[i+1], _ = r.str()
	}
	ev.StoredID = r.bytes(r.uvarint())
	return r.err == nil
}

// SGEventID appends the text of the event's sg_event_id to dst.
func (ev *Event) SGEventID(dst []byte) []byte { return AppendID(dst, ev.StoredID) }

// Decode appends the events of a block with sequence numbers after
// after to evs, and their numbers to seqs. The strings of the block's
// table (a type, a source, a campaign, a url) are copied out once each and
// shared by the block's events; the texts written out (contact ids,
// emails, sg_event_ids) go into one string per block. No string of the
// result refers to data.
func Decode(r *Reader, data string, firstSeq, after int64, evs []segmentd.Event, seqs []int64) ([]segmentd.Event, []int64, error) {
	return decode(r, data, firstSeq, after, evs, seqs, true)
}

// DecodeLean is Decode leaving every event's Email empty and its
// SGEventID in its stored form (AppendStoredID's, a slice of data, not
// its text): the engine's rebuild reads neither (segmentd.LeanAccountReader),
// and writing them out was most of the text a block's events are given;
// the store hashes the stored forms for its sg_event_id set as it reads
// (AppendID spells one out) and then empties them.
func DecodeLean(r *Reader, data string, firstSeq, after int64, evs []segmentd.Event, seqs []int64) ([]segmentd.Event, []int64, error) {
	return decode(r, data, firstSeq, after, evs, seqs, false)
}

// decode is Decode, with each event's Email and SGEventID when ids.
func decode(r *Reader, data string, firstSeq, after int64, evs []segmentd.Event, seqs []int64, ids bool) ([]segmentd.Event, []int64, error) {
	r.Open(data, firstSeq)
	evs, seqs = slices.Grow(evs, r.left), slices.Grow(seqs, r.left)
	start := len(evs)
	text, spans := slices.Grow(r.text, len(data)*2), r.spans
	str := func(s string, ref int) string {
		if ref < 0 {
			return ""
		}
		for len(r.strs) <= ref {
			r.strs = append(r.strs, "")
		}
		if r.strs[ref] == "" {
			r.strs[ref] = strings.Clone(s)
		}
		return r.strs[ref]
	}
	for r.Next() {
		ev := &r.Ev
		if ev.Seq <= after {
			continue
		}
		out := segmentd.Event{Timestamp: time.UnixMilli(ev.TS).UTC(), Source: str(ev.strs[0], ev.refs[1]),
			SinglesendID: str(ev.strs[1], ev.refs[2]), AutomationID: str(ev.strs[2], ev.refs[3]),
			MarketingCampaignID: str(ev.strs[3], ev.refs[4]), URL: str(ev.strs[4], ev.refs[5])}
		if ev.Code != 0 {
			out.Type = TypeName(ev.Code)
		} else {
			out.Type = str(ev.typ, ev.refs[0])
		}
		if out.Source == "" {
			out.Source = segmentd.DefaultEventSource
		}
		var sp [3][2]int32 // contact, email, sg_event_id in text
		switch c := ev.contact; {
		case c == "":
		case c[0] == 'u' && len(c) == 17:
			b := len(text)
			text = AppendUUID(text, c[1:])
			sp[0] = [2]int32{int32(b), int32(len(text))}
		case c[0] == 't' && len(c) > 1:
			b := len(text)
			text = append(text, c[1:]...)
			sp[0] = [2]int32{int32(b), int32(len(text))}
		default:
			return evs, seqs, ErrDamaged
		}
		if !ids {
			out.SGEventID = ev.StoredID
		} else {
			b := len(text)
			text = append(text, ev.local...)
			if ev.hasAt {
				text = append(append(text, '@'), ev.domain...)
			}
			sp[1] = [2]int32{int32(b), int32(len(text))}
			if ev.StoredID != "" {
				b := len(text)
				text = ev.SGEventID(text)
				sp[2] = [2]int32{int32(b), int32(len(text))}
			}
		}
		evs = append(evs, out)
		seqs = append(seqs, ev.Seq)
		spans = append(spans, sp)
	}
	r.text, r.spans = text, spans
	if r.err != nil {
		return evs, seqs, r.err
	}
	all := string(text)
	for i, sp := range spans {
		ev := &evs[start+i]
		ev.ContactID = all[sp[0][0]:sp[0][1]]
		if ids {
			ev.Email = all[sp[1][0]:sp[1][1]]
			ev.SGEventID = all[sp[2][0]:sp[2][1]]
		}
	}
	return evs, seqs, nil
}

// Len is the number of events added since Reset.
func (e *Encoder) Len() int { return e.n }

// Err is the error that ended Next early, nil at a clean end.
func (r *Reader) Err() error { return r.err }

// Merge merges two runs of events, each in number order (a's numbers in
// as, b's in bs), and keeps the first limit: a store's events kept both
// as blocks and as rows of their own are read as one run.
func Merge(a []segmentd.Event, as []int64, b []segmentd.Event, bs []int64, limit int) ([]segmentd.Event, []int64) {
	if len(b) == 0 {
		return a[:min(len(a), limit)], as[:min(len(as), limit)]
	}
	if len(a) == 0 {
		return b[:min(len(b), limit)], bs[:min(len(bs), limit)]
	}
	n := min(len(a)+len(b), limit)
	evs, seqs := make([]segmentd.Event, 0, n), make([]int64, 0, n)
	i, j := 0, 0
	for len(evs) < n {
		if j == len(b) || i < len(a) && as[i] < bs[j] {
			evs, seqs = append(evs, a[i]), append(seqs, as[i])
			i++
		} else {
			evs, seqs = append(evs, b[j]), append(seqs, bs[j])
			j++
		}
	}
	return evs, seqs
}
