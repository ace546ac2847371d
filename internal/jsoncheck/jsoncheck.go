// Package jsoncheck checks a JSON document against the rules segmentd
// applies to every body it reads, before encoding/json decodes it
// (docs/decisions.md §18): the syntax of RFC 8259, no key repeated in an
// object (encoding/json keeps the last), only valid UTF-8 and no lone
// UTF-16 surrogate escape (encoding/json replaces both with U+FFFD), and a
// bounded nesting depth; CheckFolded also refuses, for documents decoded
// into structs, keys that differ only in case. The first fault is reported with the JSON path of
// the value it is in, in segmentd's own words, so that every face and the
// criteria parser word the same fault the same way.
//
// It imports the standard library only, and knows nothing of HTTP or of
// what a document means: which characters a given field may hold is the
// domain's rule (segmentd.CheckName, segmentd.CheckText).
package jsoncheck

import (
	"encoding/binary"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxDepth bounds the nesting of objects and arrays. No body segmentd takes
// nests more than a few levels; the bound keeps a hostile document from
// costing more than its length.
const MaxDepth = 1000

// maxPathKey bounds how much of one key a path quotes, so that an error
// about a megabyte-long key is not a megabyte long.
const maxPathKey = 40

// Kind is the JSON type of a value.
type Kind uint8

const (
	Object Kind = iota + 1
	Array
	String
	Number
	Bool
	Null
)

// String names the kind with its article, for messages ("found an array").
func (k Kind) String() string {
	switch k {
	case Object:
		return "an object"
	case Array:
		return "an array"
	case String:
		return "a string"
	case Number:
		return "a number"
	case Bool:
		return "a boolean"
	case Null:
		return "null"
	}
	return "nothing"
}

// Error is the first fault of a document.
type Error struct {
	// Path is the JSON path of the value at fault, as in
	// "contacts[3].custom_fields.w1" ("" for the document itself). For a
	// repeated key it names the second occurrence.
	Path string
	// Offset is the byte offset of the fault.
	Offset int
	// Msg says what is wrong, without the path.
	Msg string
}

// Error returns "path: message", or the message alone at the top level.
func (e *Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

// Check checks doc and returns the kind of its top-level value. Its error
// is always an *Error.
func Check(doc []byte) (Kind, error) {
	return check(&checker{b: doc})
}

// CheckFolded is Check for a document decoded into Go structs, whose
// fields encoding/json matches to keys ignoring case: {"name":"a",
// "Name":"b"} decodes as "b". Keys that differ only in case (under
// Unicode simple folding, as encoding/json compares them) are repeated
// keys too. With names (the struct's keys), only keys that fold to one of
// them are compared so; any other key keeps its case (an event's unique
// arguments "Plan" and "plan" are two).
func CheckFolded(doc []byte, names ...string) (Kind, error) {
	return check(&checker{b: doc, fold: true, names: names})
}

func check(c *checker) (Kind, error) {
	k := c.run()
	if c.err != nil {
		return 0, c.err
	}
	return k, nil
}

// frame is one open object or array.
type frame struct {
	object bool
	// n is the index of the current element or member.
	n int
	// key is the current member's key (objects).
	key span
	// keys is where this object's keys start in checker.keys.
	keys int
	// set holds the keys of an object with many members, decoded (in
	// CheckFolded, of every object, by their folded form, each with the
	// key as written).
	set map[string]string
}

// span is a string's bytes between its quotes; esc is set when it holds an
// escape sequence, so that its value differs from its bytes.
type span struct {
	start, end int
	esc        bool
	// fp is a fingerprint of an unescaped key (its length and end bytes),
	// 0 for an escaped one, so that most keys are told apart without
	// comparing their bytes.
	fp uint32
}

// manyKeys is the member count from which an object's keys are looked up
// in a map rather than compared one by one.
const manyKeys = 16

type checker struct {
	b     []byte
	i     int
	stack []frame
	keys  []span
	err   *Error
	// afterOpen is set while the value expected is an array's first, so
	// that an error says ']' would do too.
	afterOpen bool
	// fold and names are CheckFolded's.
	fold  bool
	names []string
}

// The states of run's loop.
const (
	stValue = iota // a value is expected
	stKey          // a member's key is expected (after '{' or ',')
	stAfter        // a value has ended
)

// run checks the document iteratively, so that depth costs no Go stack.
func (c *checker) run() Kind {
	var top Kind
	state := stValue
	for c.err == nil {
		switch state {
		case stValue:
			c.ws()
			atTop := len(c.stack) == 0
			k := c.value()
			c.afterOpen = false
			if atTop {
				top = k
			}
			state = stAfter
			if c.err != nil || k != Object && k != Array {
				break
			}
			c.ws()
			switch {
			case k == Object && c.eat('}'), k == Array && c.eat(']'):
				c.pop()
			case k == Object:
				state = stKey
			default:
				state = stValue
				c.afterOpen = true
			}
		case stKey:
			c.member()
			state = stValue
		case stAfter:
			c.ws()
			if len(c.stack) == 0 {
				if c.i < len(c.b) {
					c.syntax(false, "the end of the document")
				}
				return top
			}
			f := &c.stack[len(c.stack)-1]
			closer := byte(']')
			if f.object {
				closer = '}'
			}
			switch {
			case c.eat(','):
				f.n++
				if f.object {
					c.ws()
					state = stKey
				} else {
					state = stValue
				}
			case c.eat(closer):
				c.pop()
			case f.object:
				c.syntax(false, "',' or '}'")
			default:
				c.syntax(false, "',' or ']'")
			}
		}
	}
	return top
}

// value reads a scalar, or the opening of an object or array (which it
// pushes). It returns the value's kind.
func (c *checker) value() Kind {
	if c.i >= len(c.b) {
		c.noValue()
		return 0
	}
	switch ch := c.b[c.i]; {
	case ch == '{' || ch == '[':
		if len(c.stack) == MaxDepth {
			c.fail(true, c.i, "nested deeper than "+strconv.Itoa(MaxDepth)+" levels")
			return 0
		}
		c.i++
		c.stack = append(c.stack, frame{object: ch == '{', keys: len(c.keys)})
		if ch == '{' {
			return Object
		}
		return Array
	case ch == '"':
		c.str(true)
		return String
	case ch == 't':
		c.literal("true")
		return Bool
	case ch == 'f':
		c.literal("false")
		return Bool
	case ch == 'n':
		c.literal("null")
		return Null
	case ch == '-' || '0' <= ch && ch <= '9':
		c.number()
		return Number
	}
	c.noValue()
	return 0
}

func (c *checker) noValue() {
	if c.afterOpen {
		c.syntax(true, "a value or ']'")
	} else {
		c.syntax(true, "a value")
	}
}

// member reads a key and its colon, and checks that the key is new in its
// object.
func (c *checker) member() {
	f := &c.stack[len(c.stack)-1]
	if c.i >= len(c.b) || c.b[c.i] != '"' {
		if f.n == 0 {
			c.syntax(false, "a key string or '}'")
		} else {
			c.syntax(false, "a key string")
		}
		return
	}
	s := c.str(false)
	if c.err != nil {
		return
	}
	if n := s.end - s.start; !s.esc && n > 0 {
		s.fp = uint32(n)<<16 | uint32(c.b[s.start])<<8 | uint32(c.b[s.end-1])
	} else if !s.esc {
		s.fp = 1 // "" (never a length in the high bits)
	}
	f.key = s
	if c.fold {
		if earlier, ok := c.repeatedFolded(f, s); ok {
			msg := "repeated key"
			if earlier != c.decode(s) {
				msg += " (it differs from an earlier key only in case)"
			}
			c.fail(true, s.start-1, msg)
			return
		}
	} else if c.repeated(f, s) {
		c.fail(true, s.start-1, "repeated key")
		return
	}
	c.ws()
	if !c.eat(':') {
		c.syntax(true, "':' after the key")
	}
}

// repeated records key s in object f and reports whether f had it.
func (c *checker) repeated(f *frame, s span) bool {
	if f.set != nil {
		k := c.decode(s)
		if _, ok := f.set[k]; ok {
			return true
		}
		f.set[k] = ""
		return false
	}
	for _, o := range c.keys[f.keys:] {
		if (o.fp == s.fp || o.fp == 0 || s.fp == 0) && c.sameKey(o, s) {
			return true
		}
	}
	c.keys = append(c.keys, s)
	if len(c.keys)-f.keys > manyKeys {
		f.set = make(map[string]string, 2*manyKeys)
		for _, o := range c.keys[f.keys:] {
			f.set[c.decode(o)] = ""
		}
		c.keys = c.keys[:f.keys]
	}
	return false
}

// repeatedFolded records key s in object f and reports whether f had a
// key encoding/json would match to the same struct field, and that key as
// written.
func (c *checker) repeatedFolded(f *frame, s span) (earlier string, ok bool) {
	k := c.decode(s)
	id := k
	if c.names == nil {
		id = foldKey(k)
	} else {
		for _, n := range c.names {
			if strings.EqualFold(k, n) {
				// 0xFF never occurs in a checked key, which is UTF-8.
				id = "\xff" + n
				break
			}
		}
	}
	if f.set == nil {
		f.set = map[string]string{}
	}
	if earlier, ok := f.set[id]; ok {
		return earlier, true
	}
	f.set[id] = k
	return "", false
}

// foldKey maps every rune of s to the least rune of its simple case
// folding orbit, so that foldKey(a) == foldKey(b) exactly when
// strings.EqualFold(a, b).
func foldKey(s string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, s)
}

func (c *checker) sameKey(a, b span) bool {
	if !a.esc && !b.esc {
		return string(c.b[a.start:a.end]) == string(c.b[b.start:b.end])
	}
	return c.decode(a) == c.decode(b)
}

func (c *checker) pop() {
	f := c.stack[len(c.stack)-1]
	if f.object && f.set == nil {
		c.keys = c.keys[:f.keys]
	}
	c.stack = c.stack[:len(c.stack)-1]
}

func (c *checker) ws() {
	for c.i < len(c.b) {
		switch c.b[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

func (c *checker) eat(ch byte) bool {
	if c.i < len(c.b) && c.b[c.i] == ch {
		c.i++
		return true
	}
	return false
}

// str reads a string, checking its escapes and its UTF-8. inValue says
// whether a fault is in the current member's value (or in its key).
func (c *checker) str(inValue bool) span {
	c.i++ // the opening quote
	s := span{start: c.i}
	for c.i < len(c.b) {
		// Most bytes of most strings are plain ASCII: skip them eight at
		// a time, then one at a time up to the next byte that is not.
		for c.i+8 <= len(c.b) && !special(binary.LittleEndian.Uint64(c.b[c.i:])) {
			c.i += 8
		}
		for c.i < len(c.b) && plain[c.b[c.i]] {
			c.i++
		}
		if c.i == len(c.b) {
			break
		}
		switch ch := c.b[c.i]; {
		case ch == '"':
			s.end = c.i
			c.i++
			return s
		case ch == '\\':
			s.esc = true
			if !c.escape(inValue) {
				return s
			}
		case ch < 0x20:
			c.fail(inValue, c.i, "invalid JSON at byte "+strconv.Itoa(c.i)+": control character "+hexByte(ch)+" in a string must be escaped")
			return s
		default:
			r, size := utf8.DecodeRune(c.b[c.i:])
			if r == utf8.RuneError && size == 1 {
				where := ""
				if !inValue {
					where = " in a key"
				}
				c.fail(inValue, c.i, "invalid UTF-8"+where+" at byte "+strconv.Itoa(c.i))
				return s
			}
			c.i += size
		}
	}
	c.syntax(inValue, "'\"' ending the string")
	return s
}

// special reports whether any of the eight bytes of w is not plain: a
// control character, '"', '\\' or a byte of a multi-byte character.
func special(w uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	below := (w - 0x20*ones) & ^w & highs
	quote := (w ^ '"'*ones - ones) & ^(w ^ '"'*ones) & highs
	backslash := (w ^ '\\'*ones - ones) & ^(w ^ '\\'*ones) & highs
	return below|quote|backslash|w&highs != 0
}

// plain marks the bytes a string holds as they are: ASCII, neither a
// control character nor '"' nor '\\'.
var plain = func() (t [256]bool) {
	for b := 0x20; b < utf8.RuneSelf; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// escape reads one escape sequence at c.i (a backslash).
func (c *checker) escape(inValue bool) bool {
	start := c.i
	c.i++
	if c.i >= len(c.b) {
		c.syntax(inValue, "an escape character")
		return false
	}
	switch c.b[c.i] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		c.i++
		return true
	case 'u':
	default:
		what := "'\\" + string(c.b[c.i]) + "'"
		if ch := c.b[c.i]; ch < 0x20 || ch >= 0x7f || ch == '\'' {
			what = "'\\' followed by " + c.found()
		}
		c.fail(inValue, start, "invalid JSON at byte "+strconv.Itoa(start)+": invalid escape "+what)
		return false
	}
	r, ok := c.hex4(start)
	if !ok {
		c.fail(inValue, start, "invalid JSON at byte "+strconv.Itoa(start)+": \\u must be followed by four hexadecimal digits")
		return false
	}
	c.i = start + 6
	switch {
	case 0xDC00 <= r && r <= 0xDFFF:
		c.fail(inValue, start, "lone UTF-16 surrogate "+string(c.b[start:start+6])+" at byte "+strconv.Itoa(start))
		return false
	case 0xD800 <= r && r <= 0xDBFF:
		if c.i+1 < len(c.b) && c.b[c.i] == '\\' && c.b[c.i+1] == 'u' {
			if lo, ok := c.hex4(c.i); ok && 0xDC00 <= lo && lo <= 0xDFFF {
				c.i += 6
				return true
			}
		}
		c.fail(inValue, start, "lone UTF-16 surrogate "+string(c.b[start:start+6])+" at byte "+strconv.Itoa(start))
		return false
	}
	return true
}

// hex4 reads the four hex digits of the \u escape at at.
func (c *checker) hex4(at int) (rune, bool) {
	if at+6 > len(c.b) {
		return 0, false
	}
	var r rune
	for _, h := range c.b[at+2 : at+6] {
		switch {
		case '0' <= h && h <= '9':
			r = r<<4 | rune(h-'0')
		case 'a' <= h && h <= 'f':
			r = r<<4 | rune(h-'a'+10)
		case 'A' <= h && h <= 'F':
			r = r<<4 | rune(h-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

func (c *checker) literal(lit string) {
	if len(c.b)-c.i >= len(lit) && string(c.b[c.i:c.i+len(lit)]) == lit {
		c.i += len(lit)
		return
	}
	// Point at the first byte that differs.
	for j := 0; j < len(lit) && c.i < len(c.b) && c.b[c.i] == lit[j]; j++ {
		c.i++
	}
	c.syntax(true, "'"+lit+"'")
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (c *checker) number() {
	c.eat('-')
	switch {
	case c.eat('0'):
	case c.i < len(c.b) && '1' <= c.b[c.i] && c.b[c.i] <= '9':
		c.digits()
	default:
		c.syntax(true, "a digit")
		return
	}
	if c.eat('.') && !c.digits() {
		c.syntax(true, "a digit after the decimal point")
		return
	}
	if c.eat('e') || c.eat('E') {
		if !c.eat('+') {
			c.eat('-')
		}
		if !c.digits() {
			c.syntax(true, "a digit in the exponent")
		}
	}
}

func (c *checker) digits() bool {
	start := c.i
	for c.i < len(c.b) && '0' <= c.b[c.i] && c.b[c.i] <= '9' {
		c.i++
	}
	return c.i > start
}

// syntax reports that want was expected at c.i.
func (c *checker) syntax(inValue bool, want string) {
	c.fail(inValue, c.i, "invalid JSON at byte "+strconv.Itoa(c.i)+": expected "+want+", found "+c.found())
}

// found describes what is at c.i, quoting at most one character.
func (c *checker) found() string {
	if c.i >= len(c.b) {
		return "the end of the document"
	}
	ch := c.b[c.i]
	switch {
	case ch == '\'':
		return `"'"`
	case 0x20 <= ch && ch < 0x7f:
		return "'" + string(ch) + "'"
	case ch < utf8.RuneSelf:
		return "byte " + hexByte(ch)
	}
	r, size := utf8.DecodeRune(c.b[c.i:])
	if r == utf8.RuneError && size == 1 {
		return "byte " + hexByte(ch)
	}
	return strconv.QuoteRune(r)
}

// fail records the fault at offset. inValue says whether it lies in the
// innermost container's current member (whose key or index the path then
// ends with) or in the container itself.
func (c *checker) fail(inValue bool, offset int, msg string) {
	c.err = &Error{Path: c.path(inValue), Offset: offset, Msg: msg}
}

// path writes the JSON path of the innermost container, with its current
// member when member is set: a.b[2].c; a key that is not a plain name is
// quoted, cut to maxPathKey characters: a["x y"].
func (c *checker) path(member bool) string {
	var p strings.Builder
	for i := range c.stack {
		f := &c.stack[i]
		if i == len(c.stack)-1 && !member {
			break
		}
		if !f.object {
			p.WriteString("[" + strconv.Itoa(f.n) + "]")
			continue
		}
		if f.key.start == 0 {
			break // no key read yet (a key never starts at byte 0)
		}
		key := c.decode(f.key)
		switch {
		case plainName(key):
			if p.Len() > 0 {
				p.WriteByte('.')
			}
			p.WriteString(key)
		default:
			if len(key) > maxPathKey {
				key = strings.ToValidUTF8(key[:maxPathKey], "") + "…"
			}
			p.WriteString("[" + strconv.Quote(key) + "]")
		}
	}
	return p.String()
}

// plainName reports whether a key can stand in a path unquoted.
func plainName(k string) bool {
	if k == "" || len(k) > maxPathKey {
		return false
	}
	for i := 0; i < len(k); i++ {
		ch := k[i]
		if !('a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' || ch == '_' || ch == '-' || ch == '$' || ch == '@') {
			return false
		}
	}
	return true
}

// decode returns the value of a checked string.
func (c *checker) decode(s span) string {
	raw := c.b[s.start:s.end]
	if !s.esc {
		return string(raw)
	}
	var out strings.Builder
	for i := 0; i < len(raw); {
		if raw[i] != '\\' {
			out.WriteByte(raw[i])
			i++
			continue
		}
		e := raw[i+1]
		i += 2
		switch e {
		case 'b':
			out.WriteByte('\b')
		case 'f':
			out.WriteByte('\f')
		case 'n':
			out.WriteByte('\n')
		case 'r':
			out.WriteByte('\r')
		case 't':
			out.WriteByte('\t')
		case 'u':
			r := hexRune(raw[i : i+4])
			i += 4
			if 0xD800 <= r && r <= 0xDBFF && i+6 <= len(raw) && raw[i] == '\\' {
				r = (r-0xD800)<<10 | (hexRune(raw[i+2:i+6]) - 0xDC00) + 0x10000
				i += 6
			}
			out.WriteRune(r)
		default: // '"', '\\', '/'
			out.WriteByte(e)
		}
	}
	return out.String()
}

// hexRune reads four hex digits that hex4 has checked.
func hexRune(h []byte) rune {
	var r rune
	for _, d := range h {
		switch {
		case d <= '9':
			r = r<<4 | rune(d-'0')
		case d >= 'a':
			r = r<<4 | rune(d-'a'+10)
		default:
			r = r<<4 | rune(d-'A'+10)
		}
	}
	return r
}

func hexByte(b byte) string {
	const digits = "0123456789ABCDEF"
	return "0x" + string(digits[b>>4]) + string(digits[b&15])
}
