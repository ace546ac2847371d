package postgres

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/jsonenc"
)

// The jsonb columns of contacts in Go: custom_fields, an object keyed by
// field id whose value's JSON type follows the id's letter (w Text: a
// string; n Number: a number; d Date: an integer, unix ms), and
// alternate_emails, an array of strings. They are written as JSON text
// (pgx sends a string as it is) and read back as PostgreSQL prints jsonb:
// keys in its own order, ", " and ": " between items.

// encodeCustomFields renders values as custom_fields JSON, keys sorted,
// numbers and strings as encoding/json writes them (an upsert encodes one
// object per contact, so this avoids reflection).
func encodeCustomFields(m map[string]segmentd.Value) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	var keysBuf [8]string
	keys := keysBuf[:0]
	for id := range m {
		keys = append(keys, id)
	}
	slices.Sort(keys)
	b := make([]byte, 0, 32*len(keys))
	b = append(b, '{')
	for i, id := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendStored(b, id)
		b = append(b, ':')
		v := m[id]
		switch v.Type {
		case segmentd.FieldNumber:
			f := v.Number
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return "", fmt.Errorf("field %s: %v is not a JSON number", id, f)
			}
			b = jsonenc.AppendFloat(b, f)
		case segmentd.FieldDate:
			b = strconv.AppendInt(b, toMS(v.Time), 10)
		default:
			b = jsonenc.AppendStored(b, v.Text)
		}
	}
	b = append(b, '}')
	return string(b), nil
}

// encodeAlternateEmails renders alternate_emails JSON.
func encodeAlternateEmails(a []string) string {
	if len(a) == 0 {
		return "[]"
	}
	n := 2
	for _, v := range a {
		n += len(v) + 3
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, v := range a {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendStored(b, v)
	}
	return string(append(b, ']'))
}

// decodeCustomFields reads custom_fields. The type of each value comes
// from its field id's letter.
func decodeCustomFields(s string) (map[string]segmentd.Value, error) {
	if s == "" || s == "{}" {
		return nil, nil
	}
	if m, ok := decodeFlatObject(s); ok {
		return m, nil
	}
	var raw map[string]any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&raw); err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, nil
	}
	out := make(map[string]segmentd.Value, len(raw))
	for id, v := range raw {
		var text string
		var isString bool
		switch v := v.(type) {
		case string:
			text, isString = v, true
		case json.Number:
			text = string(v)
		default:
			return nil, fmt.Errorf("field %s: unexpected %T", id, v)
		}
		if err := setCustomValue(out, id, text, isString); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// setCustomValue stores field id's value: text is a JSON string's content
// (isString) or a JSON number's literal.
func setCustomValue(m map[string]segmentd.Value, id, text string, isString bool) error {
	if id == "" {
		return nil
	}
	switch id[0] {
	case 'w':
		if !isString {
			return fmt.Errorf("field %s: want a string, have %s", id, text)
		}
		m[id] = segmentd.Value{Type: segmentd.FieldText, Text: text}
	case 'n':
		f, err := strconv.ParseFloat(text, 64)
		if isString || err != nil {
			return fmt.Errorf("field %s: want a number, have %q", id, text)
		}
		m[id] = segmentd.Value{Type: segmentd.FieldNumber, Number: f}
	case 'd':
		ms, err := strconv.ParseInt(text, 10, 64)
		if err != nil && !isString {
			f, ferr := strconv.ParseFloat(text, 64)
			ms, err = int64(f), ferr
		}
		if isString || err != nil {
			return fmt.Errorf("field %s: want unix milliseconds, have %q", id, text)
		}
		m[id] = segmentd.Value{Type: segmentd.FieldDate, Time: fromMS(ms)}
	}
	return nil
}

// decodeFlatObject reads the common shape of custom_fields quickly: an
// object of plain strings (no escapes) and numbers, spaced as PostgreSQL
// prints jsonb or not at all. It reports false for anything else, which
// encoding/json then reads. (The engine's rebuild reads every contact.)
func decodeFlatObject(s string) (map[string]segmentd.Value, bool) {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, false
	}
	m := make(map[string]segmentd.Value, strings.Count(s, ":"))
	i := 1
	space := func() {
		for i < len(s) && s[i] == ' ' {
			i++
		}
	}
	str := func() (string, bool) { // a plain JSON string at s[i]
		if i >= len(s) || s[i] != '"' {
			return "", false
		}
		j := i + 1
		for j < len(s) && s[j] != '"' {
			if s[j] == '\\' || s[j] < 0x20 {
				return "", false
			}
			j++
		}
		if j >= len(s) {
			return "", false
		}
		v := s[i+1 : j]
		i = j + 1
		return v, true
	}
	space()
	for i < len(s)-1 {
		k, ok := str()
		space()
		if !ok || i >= len(s) || s[i] != ':' {
			return nil, false
		}
		i++
		space()
		var v string
		isString := i < len(s) && s[i] == '"'
		if isString {
			if v, ok = str(); !ok {
				return nil, false
			}
		} else {
			j := i
			for j < len(s) && s[j] != ',' && s[j] != '}' && s[j] != ' ' {
				j++
			}
			v, i = s[i:j], j
		}
		if setCustomValue(m, k, v, isString) != nil {
			return nil, false
		}
		space()
		if i < len(s)-1 {
			if s[i] != ',' {
				return nil, false
			}
			i++
			space()
			if i >= len(s)-1 {
				return nil, false
			}
		}
	}
	if i != len(s)-1 {
		return nil, false
	}
	return m, true
}

// decodeAlternateEmails reads alternate_emails.
func decodeAlternateEmails(s string) ([]string, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}
