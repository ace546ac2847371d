// Package jsonenc appends JSON strings and numbers to a byte slice exactly
// as encoding/json writes them, without its reflection for the common
// case. The SendGrid face writes its segment bodies with it, and both
// stores their custom fields' and lists' JSON columns.
package jsonenc

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// AppendString appends s quoted as encoding/json.Marshal writes it, for
// a body sent to a client: printable ASCII other than the characters it
// escapes (the quote, the backslash and, for HTML, < > &) is copied as
// is; any other string is left to encoding/json, so that its escapes
// (control characters, invalid UTF-8, U+2028 and U+2029) are its own.
func AppendString(b []byte, s string) []byte {
	return appendString(b, s, true)
}

// AppendStored appends s quoted as an encoding/json Encoder writes it with
// SetEscapeHTML(false): as AppendString, but < > & kept as they are. The
// stores write their JSON columns with it, so a text value containing
// them still reads back on their fast path (it stops at a backslash).
func AppendStored(b []byte, s string) []byte {
	return appendString(b, s, false)
}

func appendString(b []byte, s string, escapeHTML bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c < utf8.RuneSelf && c != '"' && c != '\\' && (!escapeHTML || c != '<' && c != '>' && c != '&') {
			continue
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(escapeHTML)
		_ = enc.Encode(s) // a string always encodes
		return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// AppendFloat appends f as encoding/json writes a float64: the shortest
// decimal, in exponent form below 1e-6 and from 1e21, a two-digit
// negative exponent shortened (1e-07 is 1e-7). f must be finite, as every
// stored number is; encoding/json refuses NaN and the infinities, and so
// must the caller.
func AppendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
