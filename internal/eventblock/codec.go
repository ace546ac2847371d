// Package eventblock is the compact encoding of events that both stores
// keep: an event type as a one-byte code, a contact id as its 16 bytes, an
// sg_event_id as the bytes it spells, and a block of events — many events
// of one account in one value, each string of the block stored once
// (docs/events.md, "Packed event blocks"). The SQLite store writes it in
// its columns and event_blocks rows, the PostgreSQL store in its
// event_blocks rows. Every encoding is exact: what is decoded is byte for
// byte what was encoded, and equal values encode equally, so a statement
// can compare encoded values.
package eventblock

import (
	"encoding/base64"
	"encoding/hex"
)

// typeCodes are the codes of SendGrid's Event Webhook names. Stored on
// disk: never reorder or reuse a code; a new name gets the next one. A
// name not in the list is stored as its text.
var typeCodes = [...]string{
	1: "processed", 2: "delivered", 3: "deferred", 4: "dropped", 5: "bounce", 6: "open",
	7: "click", 8: "spamreport", 9: "unsubscribe", 10: "group_unsubscribe", 11: "group_resubscribe",
}

// TypeCode is the code of an event type, 0 for a name without one.
func TypeCode(t string) uint64 {
	for i, name := range typeCodes {
		if i > 0 && name == t {
			return uint64(i)
		}
	}
	return 0
}

// TypeName is the name of a code TypeCode gave, "" for an unknown code.
func TypeName(code uint64) string {
	if code > 0 && code < uint64(len(typeCodes)) {
		return typeCodes[code]
	}
	return ""
}

// AppendUUID appends the canonical text of a 16-byte UUID, as
// segmentd.FormatUUID writes it, without allocating.
func AppendUUID[B ~[]byte | ~string](dst []byte, b B) []byte {
	for i := range len(b) {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[b[i]>>4], hexDigits[b[i]&15])
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// ParseUUID parses the form FormatUUID writes (lower-case, hyphenated),
// and nothing else, so that formatting the bytes gives back the same text.
func ParseUUID(s string) (b [16]byte, ok bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return b, false
	}
	j := 0
	for i := 0; i < 36; i += 2 {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
		}
		hi, ok1 := lowerHex(s[i])
		lo, ok2 := lowerHex(s[i+1])
		if !ok1 || !ok2 {
			return b, false
		}
		b[j] = hi<<4 | lo
		j++
	}
	return b, true
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// The forms of a stored sg_event_id. SendGrid's ids are base64 text (22 to
// 60-odd characters) and other senders' often hex: stored as the bytes
// they spell, after a byte naming the form, they take three quarters or
// half the space. Any other id is stored as its text; one whose first byte
// is a form byte is stored after idRaw instead, so that the first byte
// always tells the form.
const (
	idRaw    = 0x01 // the text follows
	idHex    = 0x02 // lower-case hex, even length
	idBase64 = 0x03 // standard base64 with padding
)

// AppendStoredID appends the stored form of an sg_event_id to dst; packed
// tells whether it is the bytes the id spells after a form byte (binary)
// rather than text. An empty id appends nothing.
func AppendStoredID(dst []byte, id string) (out []byte, packed bool) {
	if id == "" {
		return dst, false
	}
	if len(id) >= 8 {
		if len(id)%2 == 0 && isLowerHex(id) {
			dst = append(dst, idHex)
			dst, _ = hex.AppendDecode(dst, []byte(id))
			return dst, true
		}
		if len(id)%4 == 0 {
			if raw, err := base64.StdEncoding.Strict().DecodeString(id); err == nil && base64.StdEncoding.EncodeToString(raw) == id {
				return append(append(dst, idBase64), raw...), true
			}
		}
	}
	if id[0] <= idBase64 {
		dst = append(dst, idRaw)
	}
	return append(dst, id...), false
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if _, ok := lowerHex(s[i]); !ok {
			return false
		}
	}
	return true
}

// AppendID appends the text of a stored sg_event_id to dst.
func AppendID[B ~[]byte | ~string](dst []byte, stored B) []byte {
	if len(stored) == 0 {
		return dst
	}
	switch stored[0] {
	case idRaw:
		return append(dst, stored[1:]...)
	case idHex:
		for i := 1; i < len(stored); i++ {
			dst = append(dst, hexDigits[stored[i]>>4], hexDigits[stored[i]&15])
		}
		return dst
	case idBase64:
		return base64.StdEncoding.AppendEncode(dst, []byte(stored[1:]))
	}
	return append(dst, stored...)
}

// StoredIsText tells whether a stored sg_event_id is the id's text itself
// (AppendID would copy it unchanged).
func StoredIsText[B ~[]byte | ~string](stored B) bool { return len(stored) > 0 && stored[0] > idBase64 }
