package sendgrid

import "encoding/json"

// Walking JSON that checkBody has already accepted: a well-formed document,
// one value, valid UTF-8. On such a document a value's end is found by
// counting brackets outside strings, so the walk below neither validates
// nor allocates; it hands out each value as a slice of the body, as
// json.RawMessage would, for the decoders to read. encoding/json's
// Decoder, which validates every byte again and copies each value, took
// most of a 30,000-contact upsert's decode (BenchmarkDecodeUpsert).

// skipSpace returns the index of the first byte at or after i that is not
// JSON white space.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the index just after the value that starts at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	default: // a number, true, false or null
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

// stringEnd returns the index just after the string whose opening quote
// is b[i].
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// eachMember calls fn with each member of the object raw (checked JSON),
// in document order, its key decoded (rawKey; a slice of raw unless it
// has escapes) and its value as a slice of raw; it stops at fn's first
// false, and reports false when raw is not an object.
func eachMember(raw []byte, fn func(key, val []byte) bool) bool {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	for i = skipSpace(raw, i+1); i < len(raw) && raw[i] != '}'; {
		end := stringEnd(raw, i)
		key, ok := rawKey(raw[i:end])
		if !ok {
			return false
		}
		i = skipSpace(raw, skipSpace(raw, end)+1) // past the colon
		end = valueEnd(raw, i)
		if !fn(key, raw[i:end]) {
			return false
		}
		if i = skipSpace(raw, end); i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return true
}

// eachElement calls fn with each element of the array raw (checked JSON),
// in order; it stops at fn's first false, and reports false when raw is
// not an array.
func eachElement(raw []byte, fn func(val []byte) bool) bool {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '[' {
		return false
	}
	for i = skipSpace(raw, i+1); i < len(raw) && raw[i] != ']'; {
		end := valueEnd(raw, i)
		if !fn(raw[i:end]) {
			return false
		}
		if i = skipSpace(raw, end); i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return true
}

// rawKey decodes the JSON string s (quotes included): without escapes,
// which most strings have none of, by slicing, so that a key costs no
// allocation; with them, by encoding/json.
func rawKey(s []byte) ([]byte, bool) {
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return nil, false
	}
	in := s[1 : len(s)-1]
	plain := true
	for _, c := range in {
		if c == '\\' || c < 0x20 {
			plain = false
			break
		}
	}
	if plain { // checkBody checked the UTF-8
		return in, true
	}
	var out string
	err := json.Unmarshal(s, &out)
	return []byte(out), err == nil
}
