package segmentd

import "strconv"

// MaxQuotedRunes is how much of a client's value an error message quotes:
// enough to recognise the value, never a megabyte of it echoed back.
const MaxQuotedRunes = 40

// Clip returns s, or when s is longer than MaxQuotedRunes characters its
// first MaxQuotedRunes characters followed by "…". It is for a client's
// value written into an error message, or a client's key in the JSON path
// an error names. It never splits a UTF-8 sequence; a byte that is not
// valid UTF-8 counts as one character.
//
// query.Clip is the query language's copy (that package imports only the
// standard library); TestClipAgreesWithQuery keeps the two alike.
func Clip(s string) string {
	n := 0
	for i := range s {
		if n == MaxQuotedRunes {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// Quote is %q of Clip(s): every client value an error message quotes goes
// through it, so `email "…" is not a valid email address` stays short
// whatever was sent. Control characters and invalid UTF-8 are escaped as
// strconv.Quote escapes them.
func Quote(s string) string { return strconv.Quote(Clip(s)) }
