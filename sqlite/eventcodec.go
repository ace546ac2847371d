package sqlite

import (
	"encoding/base64"
	"encoding/hex"

	"github.com/segmentd/segmentd"
)

// How the events table stores an event compactly (migration 0015,
// docs/events.md "Disk and memory at 1M contacts"). Every encoding is exact:
// what ScanEvents returns is byte for byte what AddEvents was given (after
// the normalisations AddEvents documents), and equal values encode equally,
// so a statement can compare encoded values.

// eventTypeCodes are the codes of SendGrid's Event Webhook names in the
// event_type column. Stored on disk: never reorder or reuse a code; a new
// name gets the next one. A name not in the list is stored as its text.
var eventTypeCodes = [...]string{
	1: "processed", 2: "delivered", 3: "deferred", 4: "dropped", 5: "bounce", 6: "open",
	7: "click", 8: "spamreport", 9: "unsubscribe", 10: "group_unsubscribe", 11: "group_resubscribe",
}

// encodeEventType is the stored form of an event type: its code, or its text.
func encodeEventType(t string) any {
	for i, name := range eventTypeCodes {
		if i > 0 && name == t {
			return int64(i)
		}
	}
	return t
}

// decodeEventType is the inverse of encodeEventType, for the value as the
// driver reads it (int64 or string; []byte for a text read as bytes).
func decodeEventType(v any) string {
	switch x := v.(type) {
	case int64:
		if x > 0 && x < int64(len(eventTypeCodes)) {
			return eventTypeCodes[x]
		}
	case string:
		return x
	case []byte:
		return string(x)
	}
	return ""
}

// encodeSource is the stored event_source: NULL for the default ("mail"),
// which is every event the Event Webhook posts.
func encodeSource(s string) any {
	if s == segmentd.DefaultEventSource || s == "" {
		return nil
	}
	return s
}

// encodeContactID is the stored form of a contact id: the 16 bytes of a
// canonical (lower-case, hyphenated) UUID, which every id this store hands
// out is, as a BLOB; anything else as its text. The SQLite type tells them
// apart (appendContactID).
func encodeContactID(id string) any {
	if id == "" {
		return nil
	}
	if b, ok := parseCanonicalUUID(id); ok {
		return b[:]
	}
	return id
}

// appendContactID appends the text of a stored contact id, as the driver
// reads it ([]byte for the BLOB, string for text), to dst.
func appendContactID(dst []byte, stored any) []byte {
	switch x := stored.(type) {
	case []byte:
		if len(x) == 16 {
			return appendUUID(dst, x)
		}
		return append(dst, x...)
	case string:
		return append(dst, x...)
	}
	return dst
}

// appendUUID appends the canonical text of a 16-byte UUID, as
// segmentd.FormatUUID writes it, without allocating.
func appendUUID[B ~[]byte | ~string](dst []byte, b B) []byte {
	for i := range len(b) {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			dst = append(dst, '-')
		}
		dst = append(dst, hexDigits[b[i]>>4], hexDigits[b[i]&15])
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// parseCanonicalUUID parses the form FormatUUID writes, and nothing else,
// so that formatting the bytes gives back the same text.
func parseCanonicalUUID(s string) (b [16]byte, ok bool) {
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

// encodeEventID is the stored form of an sg_event_id ("" stores NULL).
func encodeEventID(id string) any {
	if id == "" {
		return nil
	}
	if len(id) >= 8 {
		if len(id)%2 == 0 && isLowerHex(id) {
			b := make([]byte, 1, 1+len(id)/2)
			b[0] = idHex
			b, _ = hex.AppendDecode(b, []byte(id))
			return b
		}
		if len(id)%4 == 0 {
			if raw, err := base64.StdEncoding.Strict().DecodeString(id); err == nil && base64.StdEncoding.EncodeToString(raw) == id {
				return append([]byte{idBase64}, raw...)
			}
		}
	}
	if id[0] <= idBase64 {
		return "\x01" + id
	}
	return id
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if _, ok := lowerHex(s[i]); !ok {
			return false
		}
	}
	return true
}

// appendEventID appends the text of a stored sg_event_id, as bytes, to dst.
func appendEventID[B ~[]byte | ~string](dst []byte, stored B) []byte {
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

// storedText is a stored sg_event_id (encodeEventID's value) as a string
// of its bytes.
func storedText(stored any) string {
	switch x := stored.(type) {
	case []byte:
		return string(x)
	case string:
		return x
	}
	return ""
}
