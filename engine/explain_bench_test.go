package engine

import (
	"testing"

	"github.com/segmentd/segmentd/internal/cputime"

	"github.com/segmentd/segmentd/query"
)

// BenchmarkExplain measures explaining one contact's membership of each
// reference segment over 1,000,000 contacts and 10,000,000 events
// (target: ≤ 1 ms median): the segment's query checked again, the
// contact's Record materialised, every clause evaluated. It reports the
// CPU time per explanation too.
func BenchmarkExplain(b *testing.B) {
	e := millionWorld(b)
	for _, q := range referenceQueries {
		id := "explain-" + q.name
		if err := e.PutSegment(1, id, mustCheck(b, e, 1, query.SQL, q.src), "", base); err != nil {
			b.Fatal(err)
		}
		b.Run(q.name, func(b *testing.B) {
			i := 0
			cpu0 := cputime.Process()
			for b.Loop() {
				c := genContact(i*7919%1_000_000, base)
				if _, err := e.Explain(1, id, c.ID, base); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
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
			cpu0 := cputime.Process()
			for b.Loop() {
				if _, n, err = e.Preview(1, parsed, nil, "", 50, base); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n), "matches")
			b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
		// The same query by a full scan of the compiled program (what a
		// contacts search does), for comparison.
		b.Run(q.name+"/scan", func(b *testing.B) {
			ch := mustCheck(b, e, 1, query.SQL, q.src)
			cpu0 := cputime.Process()
			for b.Loop() {
				if _, _, err := e.Search(1, ch, 50, base); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		})
	}
}
