package sqlite

import (
	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/eventblock"
)

// How the events table stores an event compactly (migration 0015,
// docs/events.md "Disk and memory at 1M contacts"), in the forms of
// internal/eventblock, which the blocks use too. Every encoding is exact:
// what ScanEvents returns is byte for byte what AddEvents was given (after
// the normalisations AddEvents documents), and equal values encode
// equally, so a statement can compare encoded values. The SQLite type of
// a value tells its form: an INTEGER type code or a TEXT name, a BLOB
// contact id (16 bytes) or a TEXT one, a BLOB sg_event_id (packed) or a
// TEXT one.

// encodeEventType is the stored form of an event type: its code, or its text.
func encodeEventType(t string) any {
	if code := eventblock.TypeCode(t); code != 0 {
		return int64(code)
	}
	return t
}

// decodeEventType is the inverse of encodeEventType, for the value as the
// driver reads it (int64 or string; []byte for a text read as bytes).
func decodeEventType(v any) string {
	switch x := v.(type) {
	case int64:
		if x > 0 {
			return eventblock.TypeName(uint64(x))
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

// appendUUID appends the canonical text of a 16-byte UUID.
func appendUUID[B ~[]byte | ~string](dst []byte, b B) []byte { return eventblock.AppendUUID(dst, b) }

// parseCanonicalUUID parses the form FormatUUID writes, and nothing else.
func parseCanonicalUUID(s string) ([16]byte, bool) { return eventblock.ParseUUID(s) }

// encodeEventID is the stored form of an sg_event_id ("" stores NULL): a
// BLOB when packed, else TEXT.
func encodeEventID(id string) any {
	if id == "" {
		return nil
	}
	b, packed := eventblock.AppendStoredID(nil, id)
	switch {
	case packed:
		return b
	case len(b) == len(id):
		return id // the text itself
	}
	return string(b)
}

// appendEventID appends the text of a stored sg_event_id, as bytes, to dst.
func appendEventID[B ~[]byte | ~string](dst []byte, stored B) []byte {
	return eventblock.AppendID(dst, stored)
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
