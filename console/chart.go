package console

import (
	"strconv"
	"strings"
	"time"
)

// sizePoint is a segment's size at one instant.
type sizePoint struct {
	At              time.Time
	Size            int
	Entered, Exited int
}

// chart is a segment's size over time drawn as an inline SVG line: the
// template writes these coordinates into the page, so no script and no
// image file is needed (and the CSP holds).
type chart struct {
	Width, Height int
	Line          string // the polyline's points, "x,y x,y …"
	Area          string // the same line closed along the bottom
	YTicks        []tick
	XTicks        []tick
	Points        []sizePoint // also shown as a table, for screen readers
	Summary       string      // the chart in words
}

// tick is an axis label at a position in the chart's coordinates.
type tick struct {
	Pos   float64
	Label string
}

// The chart's drawing area inside its view box.
const (
	chartWidth, chartHeight = 720, 220
	padLeft, padRight       = 56, 12
	padTop, padBottom       = 12, 28
)

// newChart lays out points (in time order) on a chart whose y axis runs
// from 0 to a round number at or above the largest size.
func newChart(points []sizePoint, layout string) chart {
	c := chart{Width: chartWidth, Height: chartHeight, Points: points}
	if len(points) == 0 {
		return c
	}
	top := 0
	for _, p := range points {
		top = max(top, p.Size)
	}
	top = roundUp(top)
	plotW := float64(chartWidth - padLeft - padRight)
	plotH := float64(chartHeight - padTop - padBottom)
	x := func(i int) float64 {
		if len(points) == 1 {
			return padLeft + plotW
		}
		return padLeft + plotW*float64(i)/float64(len(points)-1)
	}
	y := func(v int) float64 { return padTop + plotH - plotH*float64(v)/float64(top) }
	var line strings.Builder
	for i, p := range points {
		if i > 0 {
			line.WriteByte(' ')
		}
		line.WriteString(coord(x(i)) + "," + coord(y(p.Size)))
	}
	c.Line = line.String()
	bottom := coord(padTop + plotH)
	c.Area = coord(x(0)) + "," + bottom + " " + c.Line + " " + coord(x(len(points)-1)) + "," + bottom
	for i := 0; i <= 4; i++ {
		v := top * i / 4
		c.YTicks = append(c.YTicks, tick{Pos: y(v), Label: strconv.Itoa(v)})
	}
	step := max(1, (len(points)-1)/6)
	for i := 0; i < len(points); i += step {
		c.XTicks = append(c.XTicks, tick{Pos: x(i), Label: points[i].At.UTC().Format(layout)})
	}
	first, last := points[0], points[len(points)-1]
	lo, hi := first.Size, first.Size
	for _, p := range points {
		lo, hi = min(lo, p.Size), max(hi, p.Size)
	}
	c.Summary = "From " + first.At.UTC().Format(time.RFC3339) + " to " + last.At.UTC().Format(time.RFC3339) + " the segment held between " +
		strconv.Itoa(lo) + " and " + strconv.Itoa(hi) + " contacts; " + strconv.Itoa(last.Size) + " at the end."
	return c
}

// roundUp is 4 for n up to 4, else the smallest of 1, 2 or 5 times a
// power of ten at or above n, so that the y axis reads in round numbers.
func roundUp(n int) int {
	if n <= 4 {
		return 4
	}
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if v := m * p; v >= n {
				return v
			}
		}
	}
}

func coord(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }
