package webhook

import (
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/query"
)

// parseFast is parseBatch for the bodies SendGrid posts, in one pass over
// the bytes without encoding/json's reflection: decoding was a sixth of the
// server's time per webhook batch. It gives exactly parseBatch's result, or
// ok false when the body holds anything it leaves to parseBatch: a syntax
// error, an escape sequence or a byte above 0x7f in a field segmentd keeps
// or in any key, a kept field of an unexpected type or null, a key that
// differs from a kept field only in case (encoding/json matches keys
// without regard to case), deep nesting, or more than max events.
// FuzzParseFast checks the agreement.
func parseFast(body []byte, max int) (evs []segmentd.Event, res Response, ok bool) {
	p := fastParser{b: body}
	p.ws()
	if !p.eat('[') {
		return nil, res, false
	}
	res = Response{Errors: []EventError{}}
	evs = make([]segmentd.Event, 0, min(max, len(body)/64+1))
	p.ws()
	if p.eat(']') {
		return evs, res, p.end()
	}
	for i := 0; ; i++ {
		if i == max {
			return nil, res, false
		}
		var we wireEvent
		if !p.event(&we) {
			return nil, res, false
		}
		res.Received++
		if ev, err := toEvent(&we); err != nil {
			res.Rejected++
			if len(res.Errors) < maxReportedErrors {
				res.Errors = append(res.Errors, EventError{Index: i, Message: err.Error()})
			}
		} else {
			evs = append(evs, ev)
		}
		p.ws()
		if p.eat(']') {
			return evs, res, p.end()
		}
		if !p.eat(',') {
			return nil, res, false
		}
		p.ws()
	}
}

// fastParser reads b from i. Its methods report false on anything
// parseFast leaves to encoding/json. The fields after i hold the current
// event's email, type and timestamp, which wireEvent points at (a
// pointer to a variable of the method's own would cost an allocation per
// field and event), and the campaign ids of the batch, each made a string
// once (they repeat from event to event).
type fastParser struct {
	b []byte
	i int

	email, typ string
	ts         float64
	ids        map[string]idString
}

// maxFastDepth bounds the nesting of skipped values.
const maxFastDepth = 64

func (p *fastParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *fastParser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// end reports whether only whitespace is left.
func (p *fastParser) end() bool {
	p.ws()
	return p.i == len(p.b)
}

// keptFields are the keys of wireEvent.
var keptFields = []string{"email", "timestamp", "event", "sg_event_id", "url", "singlesend_id", "mc_auto_id", "marketing_campaign_id"}

// event reads one object into we.
func (p *fastParser) event(we *wireEvent) bool {
	if !p.eat('{') {
		return false
	}
	p.ws()
	if p.eat('}') {
		return true
	}
	for {
		key, ok := p.plainBytes()
		if !ok {
			return false
		}
		p.ws()
		if !p.eat(':') {
			return false
		}
		p.ws()
		if !p.field(we, key) {
			return false
		}
		p.ws()
		if p.eat('}') {
			return true
		}
		if !p.eat(',') {
			return false
		}
		p.ws()
	}
}

// field reads the value of key into we, or skips it.
func (p *fastParser) field(we *wireEvent, key []byte) bool {
	switch string(key) {
	case "email":
		s, ok := p.plainString()
		if !ok {
			return false
		}
		p.email, we.Email = s, &p.email
		return true
	case "event":
		b, ok := p.plainBytes()
		if !ok {
			return false
		}
		p.typ, we.Event = eventName(b), &p.typ
		return true
	case "url":
		s, ok := p.plainString()
		if !ok {
			return false
		}
		we.URL = s
		return true
	case "timestamp":
		start := p.i
		if !p.number() {
			return false
		}
		f, ok := wholeSeconds(p.b[start:p.i])
		if !ok {
			var err error
			if f, err = strconv.ParseFloat(string(p.b[start:p.i]), 64); err != nil {
				return false
			}
		}
		p.ts, we.Timestamp = f, &p.ts
		return true
	case "sg_event_id", "singlesend_id", "mc_auto_id", "marketing_campaign_id":
		var raw []byte
		switch {
		case p.i < len(p.b) && p.b[p.i] == '"':
			b, ok := p.plainBytes()
			if !ok {
				return false
			}
			raw = b
		case p.literal("null"):
			// encoding/json leaves the field as it was.
			return true
		default:
			start := p.i
			if !p.number() {
				return false
			}
			raw = p.b[start:p.i]
		}
		switch string(key) {
		case "sg_event_id":
			we.SGEventID = idString(raw) // one per event
		case "singlesend_id":
			we.SinglesendID = p.id(raw)
		case "mc_auto_id":
			we.MCAutoID = p.id(raw)
		default:
			we.MarketingCampaignID = p.id(raw)
		}
		return true
	}
	for _, k := range keptFields {
		if len(key) == len(k) && strings.EqualFold(string(key), k) {
			return false
		}
	}
	return p.skip(0)
}

// id returns raw as a string, the same string for the same bytes within
// one body.
func (p *fastParser) id(raw []byte) idString {
	if s, ok := p.ids[string(raw)]; ok {
		return s
	}
	if p.ids == nil {
		p.ids = make(map[string]idString)
	}
	s := idString(raw)
	if len(p.ids) < maxFastIDs {
		p.ids[string(s)] = s
	}
	return s
}

// maxFastIDs bounds the campaign ids one body's parser keeps.
const maxFastIDs = 64

// eventNames are SendGrid's event types as strings made once: an event's
// type is one of them but for an unknown one.
var eventNames = query.EventTypes()

// eventName returns b as a string, without making one when it is a
// known event type.
func eventName(b []byte) string {
	for _, n := range eventNames {
		if string(b) == n {
			return n
		}
	}
	return string(b)
}

// wholeSeconds reads a timestamp of only digits (no sign, fraction or
// exponent), as SendGrid sends them, exactly as strconv.ParseFloat would:
// up to 15 digits are exact in a float64. ok is false for any other form.
func wholeSeconds(b []byte) (float64, bool) {
	if len(b) == 0 || len(b) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return float64(n), true
}

// plainString reads a string with no escape sequence and only ASCII
// bytes, which it returns as they are.
func (p *fastParser) plainString() (string, bool) {
	b, ok := p.plainBytes()
	return string(b), ok
}

// plainBytes is plainString without making a string: the bytes are the
// body's.
func (p *fastParser) plainBytes() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			b := p.b[start:p.i]
			p.i++
			return b, true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// skip reads any JSON value, checking its syntax as encoding/json does.
func (p *fastParser) skip(depth int) bool {
	if p.i >= len(p.b) || depth > maxFastDepth {
		return false
	}
	switch c := p.b[p.i]; {
	case c == '"':
		return p.skipString()
	case c == '{' || c == '[':
		p.i++
		p.ws()
		closer := byte('}')
		if c == '[' {
			closer = ']'
		}
		if p.eat(closer) {
			return true
		}
		for {
			if c == '{' {
				if !p.skipString() {
					return false
				}
				p.ws()
				if !p.eat(':') {
					return false
				}
				p.ws()
			}
			if !p.skip(depth + 1) {
				return false
			}
			p.ws()
			if p.eat(closer) {
				return true
			}
			if !p.eat(',') {
				return false
			}
			p.ws()
		}
	case c == 't':
		return p.literal("true")
	case c == 'f':
		return p.literal("false")
	case c == 'n':
		return p.literal("null")
	}
	return p.number()
}

// skipString reads a string, escapes included (invalid UTF-8 is accepted:
// encoding/json replaces it).
func (p *fastParser) skipString() bool {
	if !p.eat('"') {
		return false
	}
	for p.i < len(p.b) {
		c := p.b[p.i]
		p.i++
		switch {
		case c == '"':
			return true
		case c < 0x20:
			return false
		case c == '\\':
			if p.i >= len(p.b) {
				return false
			}
			e := p.b[p.i]
			p.i++
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if p.i+4 > len(p.b) {
					return false
				}
				for _, h := range p.b[p.i : p.i+4] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false
					}
				}
				p.i += 4
			default:
				return false
			}
		}
	}
	return false
}

func (p *fastParser) literal(lit string) bool {
	if len(p.b)-p.i >= len(lit) && string(p.b[p.i:p.i+len(lit)]) == lit {
		p.i += len(lit)
		return true
	}
	return false
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *fastParser) number() bool {
	p.eat('-')
	switch {
	case p.eat('0'):
	case p.i < len(p.b) && '1' <= p.b[p.i] && p.b[p.i] <= '9':
		p.digits()
	default:
		return false
	}
	if p.eat('.') && !p.digits() {
		return false
	}
	if p.eat('e') || p.eat('E') {
		if !p.eat('+') {
			p.eat('-')
		}
		if !p.digits() {
			return false
		}
	}
	return true
}

// digits reads one or more decimal digits.
func (p *fastParser) digits() bool {
	start := p.i
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
}
