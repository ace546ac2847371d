package engine

import (
	"testing"

	"github.com/segmentd/segmentd/query"
)

// BenchmarkExplain measures explaining one contact's membership of each
// reference segment over 1,000,000 contacts and 10,000,000 events
// (target: ≤ 1 ms median): the segment's query checked again, the
// contact's Record materialised, every clause evaluated.
func BenchmarkExplain(b *testing.B) {
	e := millionWorld(b)
	for _, q := range referenceQueries {
		id := "explain-" + q.name
		if err := e.PutSegment(1, id, mustCheck(b, e, 1, query.SQL, q.src), "", base); err != nil {
			b.Fatal(err)
		}
		b.Run(q.name, func(b *testing.B) {
			i := 0
			for b.Loop() {
				c := genContact(i*7919%1_000_000, base)
				if _, err := e.Explain(1, id, c.ID, base); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		e.RemoveSegment(1, id)
	}
}

// BenchmarkPreview measures previewing each reference query (count and
// the first 50 ids, nothing kept) over 1,000,000 contacts and 10,000,000
// events (target: ≤ 5 ms median): one full scan by the compiled program.
func BenchmarkPreview(b *testing.B) {
	e := millionWorld(b)
	for _, q := range referenceQueries {
		b.Run(q.name, func(b *testing.B) {
			parsed, err := query.Parse(query.SQL, q.src)
			if err != nil {
				b.Fatal(err)
			}
			var n int
			for b.Loop() {
				if _, n, err = e.Preview(1, parsed, nil, "", 50, base); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n), "matches")
		})
	}
}
