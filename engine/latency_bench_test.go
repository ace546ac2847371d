package engine

import (
	"slices"
	"testing"
	"time"
)

// latencies are the wall times of a benchmark's operations, each timed on
// its own, so that the benchmark reports their median (p50), which the
// targets of docs/explain.md name, beside Go's mean (ns/op).
type latencies []time.Duration

// time runs op and keeps its wall time.
func (l *latencies) time(op func()) {
	t := time.Now()
	op()
	*l = append(*l, time.Since(t))
}

// report reports the median as p50-<unit> (unit "µs" or "ms").
func (l latencies) report(b *testing.B, unit string) {
	if len(l) == 0 {
		return
	}
	s := slices.Clone(l)
	slices.Sort(s)
	per := time.Millisecond
	if unit == "µs" {
		per = time.Microsecond
	}
	b.ReportMetric(float64(s[len(s)/2])/float64(per), "p50-"+unit)
}
