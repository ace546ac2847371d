package segmentd

import (
	"fmt"
	"testing"
	"time"
)

// parseDateByLayouts is ParseDate as it was before YYYY-MM-DD was read by
// hand: each layout tried with time.Parse, in order.
func parseDateByLayouts(s string) (time.Time, bool) {
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

var dateSeeds = []string{
	"2024-02-29", "2023-02-29", "2023-02-28", "2024-04-30", "2024-04-31", "2024-12-31", "2024-01-32",
	"2024-13-01", "2024-00-10", "2024-01-00", "0000-01-01", "9999-12-31", "1900-02-29", "2000-02-29",
	"2024-1a-01", "+024-01-01", "-024-01-01", "2024-01-0 ", " 024-01-01", "2024-01-1\x00", "２０２４-01-01",
	"2024/01/01", "2024-01-01T00:00:00Z", "2024-01-01T10:20:30.5+02:00", "01/02/2006", "02/30/2024", "",
}

// TestParseDate: ParseDate reads what time.Parse reads with the layouts,
// the same instant, and refuses what it refuses.
func TestParseDate(t *testing.T) {
	for _, s := range dateSeeds {
		checkParseDate(t, s)
	}
	for _, y := range []int{0, 1, 1900, 2000, 2023, 2024, 2100, 9999} {
		for m := range 14 {
			for d := range 33 {
				checkParseDate(t, fmt.Sprintf("%04d-%02d-%02d", y, m, d))
			}
		}
	}
	if got, ok := ParseDate("2024-02-29"); !ok || !got.Equal(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("ParseDate(2024-02-29) = %v, %v", got, ok)
	}
	if _, ok := ParseDate("2023-02-29"); ok {
		t.Fatal("ParseDate(2023-02-29) accepted a day February 2023 does not have")
	}
}

func FuzzParseDate(f *testing.F) {
	for _, s := range dateSeeds {
		f.Add(s)
	}
	f.Fuzz(checkParseDate)
}

func checkParseDate(t *testing.T, s string) {
	got, ok := ParseDate(s)
	want, wantOK := parseDateByLayouts(s)
	if ok != wantOK || !got.Equal(want) || got.Location() != time.UTC {
		t.Fatalf("ParseDate(%q) = %v (%v), %v; time.Parse with the layouts gives %v, %v", s, got, got.Location(), ok, want, wantOK)
	}
}

// BenchmarkParseDate reads a YYYY-MM-DD value, what the realistic load
// sends for its Date fields, by ParseDate and by the layouts as before.
func BenchmarkParseDate(b *testing.B) {
	for _, c := range []struct {
		name  string
		parse func(string) (time.Time, bool)
	}{{"ParseDate", ParseDate}, {"layouts", parseDateByLayouts}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := c.parse("2019-07-23"); !ok {
					b.Fatal("refused")
				}
			}
		})
	}
}
