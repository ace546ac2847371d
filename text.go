package segmentd

import "unicode/utf8"

// The characters segmentd stores (docs/decisions.md §18). Names (of lists,
// segments and custom fields) and identifiers (emails, phone_number_id,
// external_id, anonymous_id, and the ids and URLs of events) are one line
// of text: they refuse every C0 control character (U+0000–U+001F) and DEL
// (U+007F). Free text (the other contact fields and Text custom values)
// may also hold tab, line feed and carriage return. Both must be valid
// UTF-8: a value is stored as sent, never with U+FFFD in place of what
// could not be read.

// CheckName checks a name or an identifier; field is its JSON path, which
// the error names.
func CheckName(field, s string) error { return checkChars(field, s, false) }

// CheckText checks free text; field is its JSON path, which the error
// names.
func CheckText(field, s string) error { return checkChars(field, s, true) }

func checkChars(field, s string, multiline bool) error {
	if !utf8.ValidString(s) {
		return Errorf(KindInvalid, field, "%s is not valid UTF-8", field)
	}
	// A control character is one byte in UTF-8, and no byte of a
	// multi-byte character is below 0x80.
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != 0x7f || multiline && (c == '\t' || c == '\n' || c == '\r') {
			continue
		}
		return Errorf(KindInvalid, field, "%s must not contain control characters (found U+%04X)", field, c)
	}
	return nil
}
