package engine

import (
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/cputime"
	"github.com/segmentd/segmentd/query"
)

// BenchmarkExplain measures explaining one contact's membership of each
// reference segment over 1,000,000 contacts and 10,000,000 events
// (target: ≤ 1 ms median): the segment's query checked again, the
// contact's Record materialised, every clause evaluated. It reports the
// median wall time (p50-µs) and the CPU time per explanation too.
func BenchmarkExplain(b *testing.B) {
	e := millionWorld(b)
	for _, q := range referenceQueries {
		id := "explain-" + q.name
		if err := e.PutSegment(1, id, mustCheck(b, e, 1, query.SQL, q.src), "", base); err != nil {
			b.Fatal(err)
		}
		b.Run(q.name, func(b *testing.B) {
			i := 0
			var lat latencies
			cpu0 := cputime.Process()
			for b.Loop() {
				c := genContact(i*7919%worldContacts(), base)
				var err error
				lat.time(func() { _, err = e.Explain(1, id, c.ID, base) })
				if err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
			lat.report(b, "µs")
		})
		e.RemoveSegment(1, id)
	}
}

// previewQueries are BenchmarkPreview's queries besides the reference
// ones: the LIKE shapes on a column of mostly distinct values (email) and
// on a custom Text field (the email's through its trigram index, but for
// the domain; a two-byte prefix through the trigrams holding it), a
// last-event query, an event condition by single send (a keyed
// latest-event column), an AND and OR of Number, Date and text
// conditions (value codes, one pass), events before a time or between
// two (the event day indexes), and shapes still evaluated contact by
// contact or value by value (a LIKE with a one-byte literal or none,
// several event types, a single send with an upper bound, a URL, a JOIN
// reading a contact's field).
var previewQueries = []struct{ name, src string }{
	{"email_prefix", "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE 'user12%'"},
	{"email_infix", "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%99@%'"},
	{"email_not_domain", "SELECT contact_id, updated_at FROM contact_data WHERE email NOT LIKE '%@yahoo.com'"},
	{"plan_like", "SELECT contact_id, updated_at FROM contact_data WHERE plan LIKE 'pro%'"},
	{"clicked_last_7_days_US", "SELECT contact_id, updated_at FROM contact_data WHERE country = 'US' AND contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'click' AND event_timestamp >= timestampadd(day, -7, current_timestamp))"},
	{"last_open_before_90_days", "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' GROUP BY c.contact_id, c.updated_at HAVING MAX(e.event_timestamp) < timestampadd(day, -90, current_timestamp)"},
	{"opened_singlesend", "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND singlesend_id = 'ss7')"},
	{"email_short_prefix", "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE 'a%'"},
	{"score_and_birthday_or_plan", "SELECT contact_id, updated_at FROM contact_data WHERE score >= 90 AND birthday < '1980-01-01' OR plan = 'enterprise' AND country = 'FR'"},
	{"clicked_before_300_days", "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'click' AND event_timestamp < timestampadd(day, -300, current_timestamp))"},
	{"opened_between", "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND event_timestamp >= timestampadd(day, -60, current_timestamp) AND event_timestamp < timestampadd(day, -30, current_timestamp))"},
	{"email_any_at", "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%@%'"},
	{"email_one_byte", "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%a%'"},
	{"email_u_prefix", "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE 'u%'"},
	{"opened_or_clicked_30_days", "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type IN ('open', 'click') AND event_timestamp >= timestampadd(day, -30, current_timestamp))"},
	{"opened_singlesend_before_30_days", "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND singlesend_id = 'ss7' AND event_timestamp < timestampadd(day, -30, current_timestamp))"},
	{"clicked_url", "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'click' AND url = 'https://example.com/pricing')"},
	{"opened_7_days_join_US", "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' AND c.country = 'US' AND e.event_timestamp > timestampadd(day, -7, current_timestamp)"},
}

// BenchmarkPreview measures previewing each reference query and each of
// previewQueries (count and the first 50 ids, nothing kept) over
// 1,000,000 contacts and 10,000,000 events (target: ≤ 5 ms median,
// reported as p50-ms);
// BenchmarkPreviewScan has the same by a full scan. One preview of the
// query runs before the measure, so that the derived indexes it needs
// (derived.go) are built (its CPU time is first-cpu-ms); their size is
// reported (derived-MB, the account's total so far) with the bytes per
// event of the event runs (ev-B/event) and of the runs and the
// latest-event arrays built so far (evlatest-B/event).
func BenchmarkPreview(b *testing.B) {
	e := millionWorld(b)
	for _, q := range append(referenceQueries[:len(referenceQueries):len(referenceQueries)], previewQueries...) {
		first := -1.0 // the CPU ms of the query's first preview in this process
		b.Run(q.name, func(b *testing.B) {
			parsed, err := query.Parse(query.SQL, q.src)
			if err != nil {
				b.Fatal(err)
			}
			cpu0 := cputime.Process()
			if _, _, err := e.Preview(1, parsed, nil, "", 50, base); err != nil {
				b.Fatal(err)
			}
			if first < 0 {
				first = float64((cputime.Process() - cpu0).Microseconds()) / 1000
			}
			var n int
			var lat latencies
			cpu0 = cputime.Process()
			for b.Loop() {
				lat.time(func() { _, n, err = e.Preview(1, parsed, nil, "", 50, base) })
				if err != nil {
					b.Fatal(err)
				}
			}
			lat.report(b, "ms")
			b.ReportMetric(float64(n), "matches")
			b.ReportMetric(float64((cputime.Process()-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/op")
			b.ReportMetric(first, "first-cpu-ms")
			reportDerived(b, e)
		})
	}
}

// BenchmarkPreviewScan is BenchmarkPreview's queries by a full scan of
// the compiled program (what a contacts search does, and what a preview
// did before column-wise evaluation), for comparison.
func BenchmarkPreviewScan(b *testing.B) {
	e := millionWorld(b)
	for _, q := range append(referenceQueries[:len(referenceQueries):len(referenceQueries)], previewQueries...) {
		b.Run(q.name, func(b *testing.B) {
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

// BenchmarkIdentifierCounts measures a segment GET's identifier_counts
// over 1,000,000 contacts for a segment of about a third of them: cold
// (the four bitmap intersections, as after a write) and cached (between
// writes).
func BenchmarkIdentifierCounts(b *testing.B) {
	e := millionWorld(b)
	const id = "idents-US"
	if err := e.PutSegment(1, id, mustCheck(b, e, 1, query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"), "", base); err != nil {
		b.Fatal(err)
	}
	defer e.RemoveSegment(1, id)
	for _, cold := range []bool{true, false} {
		name := "cached"
		if cold {
			name = "cold"
		}
		b.Run(name, func(b *testing.B) {
			s := e.get(1).segs[id]
			var got segmentd.IdentifierCounts
			for b.Loop() {
				if cold {
					s.idents.Store(nil)
				}
				got = e.IdentifierCounts(1, id, base)
			}
			b.ReportMetric(float64(got.Email), "emails")
		})
	}
}
