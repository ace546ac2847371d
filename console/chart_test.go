package console

import (
	"testing"
	"time"
)

func TestNewChart(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var pts []sizePoint
	for i, n := range []int{0, 30, 70, 70} {
		pts = append(pts, sizePoint{At: at.Add(time.Duration(i) * time.Hour), Size: n})
	}
	c := newChart(pts, "15:04")
	// The y axis runs to 100; the plot spans x 56..708 and y 12..192.
	if want := "56.0,192.0 273.3,138.0 490.7,66.0 708.0,66.0"; c.Line != want {
		t.Errorf("line %q, want %q", c.Line, want)
	}
	if want := "56.0,192.0 " + c.Line + " 708.0,192.0"; c.Area != want {
		t.Errorf("area %q", c.Area)
	}
	if len(c.YTicks) != 5 || c.YTicks[4].Label != "100" || c.YTicks[4].Pos != 12 || c.YTicks[0].Label != "0" {
		t.Errorf("y ticks %+v", c.YTicks)
	}
	if len(c.XTicks) != 4 || c.XTicks[1].Label != "01:00" {
		t.Errorf("x ticks %+v", c.XTicks)
	}
	if want := "From 2026-01-01T00:00:00Z to 2026-01-01T03:00:00Z the segment held between 0 and 70 contacts; 70 at the end."; c.Summary != want {
		t.Errorf("summary %q", c.Summary)
	}
	if empty := newChart(nil, "15:04"); empty.Line != "" || empty.Summary != "" {
		t.Errorf("empty chart %+v", empty)
	}
	for n, want := range map[int]int{0: 4, 3: 4, 5: 5, 7: 10, 11: 20, 20: 20, 21: 50, 999: 1000, 1001: 2000} {
		if got := roundUp(n); got != want {
			t.Errorf("roundUp(%d) = %d, want %d", n, got, want)
		}
	}
}
