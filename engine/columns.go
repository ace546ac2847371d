package engine

import (
	"math"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/query"
)

// Unset markers of the typed custom-field columns. A Number written through
// the API is a JSON number, never NaN, so one NaN payload is free to mean
// "unset"; a Date is unix ms, and no date reaches MinInt64.
const (
	unsetNumBits = 0x7ff8_dead_beef_0001
	unsetTime    = math.MinInt64
)

// column is one custom field's values for every contact index, keyed by the
// field's id so renames cost nothing. It grows lazily: an index past its end
// is unset.
type column struct {
	id    string
	typ   query.FieldType
	codes []uint32  // Text: dictionary codes, 0 unset
	nums  []float64 // Number
	times []int64   // Date, unix ms
}

func queryType(t segmentd.FieldType) query.FieldType {
	switch t {
	case segmentd.FieldText:
		return query.Text
	case segmentd.FieldNumber:
		return query.Number
	case segmentd.FieldDate:
		return query.Date
	}
	return 0
}

func (c *column) get(idx uint32, d *dict) query.Value {
	switch c.typ {
	case query.Text:
		if int(idx) < len(c.codes) && c.codes[idx] != 0 {
			return query.Value{Kind: query.Text, Str: d.str(c.codes[idx])}
		}
	case query.Number:
		if int(idx) < len(c.nums) && math.Float64bits(c.nums[idx]) != unsetNumBits {
			return query.Value{Kind: query.Number, Num: c.nums[idx]}
		}
	case query.Date:
		if int(idx) < len(c.times) && c.times[idx] != unsetTime {
			return query.Value{Kind: query.Date, Time: c.times[idx]}
		}
	}
	return query.Value{}
}

// set writes the contact's value; a value of another type, or an empty text,
// unsets it.
func (c *column) set(idx uint32, v segmentd.Value, ok bool, d *dict) {
	if !ok || queryType(v.Type) != c.typ || v.Type == segmentd.FieldText && v.Text == "" {
		c.clear(idx, d)
		return
	}
	switch c.typ {
	case query.Text:
		for len(c.codes) <= int(idx) {
			c.codes = append(c.codes, 0)
		}
		d.replace(&c.codes[idx], v.Text)
	case query.Number:
		for len(c.nums) <= int(idx) {
			c.nums = append(c.nums, math.Float64frombits(unsetNumBits))
		}
		c.nums[idx] = v.Number
	case query.Date:
		for len(c.times) <= int(idx) {
			c.times = append(c.times, unsetTime)
		}
		c.times[idx] = v.Time.UnixMilli()
	}
}

func (c *column) clear(idx uint32, d *dict) {
	switch {
	case int(idx) < len(c.codes):
		d.release(c.codes[idx])
		c.codes[idx] = 0
	case int(idx) < len(c.nums):
		c.nums[idx] = math.Float64frombits(unsetNumBits)
	case int(idx) < len(c.times):
		c.times[idx] = unsetTime
	}
}

// releaseAll gives back the column's dictionary references (the field was
// deleted).
func (c *column) releaseAll(d *dict) {
	for _, code := range c.codes {
		d.release(code)
	}
	c.codes, c.nums, c.times = nil, nil, nil
}

func (c *column) size() int64 {
	return int64(cap(c.codes))*4 + int64(cap(c.nums))*8 + int64(cap(c.times))*8 + 64
}
