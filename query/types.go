package query

import (
	"strings"
	"time"
)

// Type is the static type of an expression, named as SendGrid's SGQL type
// checker names them in its messages ("operator = is incompatible with
// NUMBER, STRING").
type Type uint8

const (
	TNull Type = iota
	TBool
	TNumber
	TString
	TTime
	TInterval
	TArray
)

func (t Type) String() string {
	switch t {
	case TNull:
		return "NULL"
	case TBool:
		return "BOOLEAN"
	case TNumber:
		return "NUMBER"
	case TString:
		return "STRING"
	case TTime:
		return "DATETIME"
	case TInterval:
		return "INTERVAL"
	case TArray:
		return "ARRAY<STRING>"
	}
	return "?"
}

// ParseTime reads a date/time written in a query or a Date field value:
// RFC 3339 (with or without fractional seconds), "YYYY-MM-DDTHH:MM:SS"
// (read as UTC) or "YYYY-MM-DD" (midnight UTC). It returns unix milliseconds.
func ParseTime(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Year() < 1 || t.Year() > 9999 {
				return 0, false
			}
			return t.UnixMilli(), true
		}
	}
	return 0, false
}

// unit is a time unit of INTERVAL and timestampadd.
type unit struct {
	name   string // canonical singular
	ms     int64  // fixed length, 0 for calendar units
	months int64  // calendar length
	max    int64  // largest accepted count: about 10,000 years
}

func lookupUnit(s string) (unit, bool) {
	s = strings.ToLower(s)
	s = strings.TrimSuffix(s, "s")
	const day = 24 * 3600 * 1000
	switch s {
	case "second":
		return unit{name: s, ms: 1000, max: 10000 * 366 * 86400}, true
	case "minute":
		return unit{name: s, ms: 60 * 1000, max: 10000 * 366 * 1440}, true
	case "hour":
		return unit{name: s, ms: 3600 * 1000, max: 10000 * 366 * 24}, true
	case "day":
		return unit{name: s, ms: day, max: 10000 * 366}, true
	case "week":
		return unit{name: s, ms: 7 * day, max: 10000 * 53}, true
	case "month":
		return unit{name: s, months: 1, max: 10000 * 12}, true
	case "year":
		return unit{name: s, months: 12, max: 10000}, true
	}
	return unit{}, false
}

// addTime adds months and ms to t (unix ms, UTC). Calendar months follow
// time.AddDate (and SQLite's '+N months'): Jan 31 + 1 month = Mar 3.
func addTime(t, months, ms int64) int64 {
	if months != 0 {
		t = time.UnixMilli(t).UTC().AddDate(0, int(months), 0).UnixMilli()
	}
	return t + ms
}
