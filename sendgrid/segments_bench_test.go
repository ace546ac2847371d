package sendgrid_test

import (
	"net/http"
	"os"
	"strconv"
	"testing"

	"github.com/segmentd/segmentd/internal/cputime"
)

// BenchmarkReadHTTP loads contacts (SEGMENTD_BENCH_CONTACTS, default
// 200,000) onto twenty lists, creates a segment of about a tenth of them,
// and then times the reads issue 14 bounds through the official path:
// the segment's GET with its 50-contact sample, contacts/count, a list's
// count and a list's GET with its 50-contact sample. It reports the process's CPU per request (the client's
// share included, the same in every A/B pair), the figure to compare on a
// busy machine.
//
//	go test -run '^$' -bench ReadHTTP -benchtime 2000x ./sendgrid/
func BenchmarkReadHTTP(b *testing.B) {
	total := 200_000
	if v := os.Getenv("SEGMENTD_BENCH_CONTACTS"); v != "" {
		total, _ = strconv.Atoi(v)
	}
	const perRequest = 30_000
	e := newEnv(b)
	text, number, date := e.mkField(b, "color", "Text"), e.mkField(b, "orders", "Number"), e.mkField(b, "joined", "Date")
	var lists []string
	for i := range 20 {
		lists = append(lists, e.mkList(b, "list"+strconv.Itoa(i)))
	}
	gen := newContactGen(1, text, number, date)
	var jobs []string
	for sent, n := 0, 0; sent < total; sent, n = sent+perRequest, n+1 {
		on := []string{lists[n%len(lists)], lists[(n*7+3)%len(lists)]}
		jobs = append(jobs, acceptUpsert(b, e, gen.body(min(perRequest, total-sent), on...)))
	}
	waitJobs(b, e, jobs)
	r, err := e.try(call{method: "POST", path: seg2Path, body: `{"name":"red","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"}`})
	var seg struct{ ID string }
	if err != nil || r.Status != http.StatusCreated || jsonUnmarshal(r.Body, &seg) != nil {
		b.Fatalf("create segment: %v %d %s", err, r.Status, r.Body)
	}
	for _, c := range []struct{ name, path, rawQuery string }{
		{"segment", seg2Path + "/" + seg.ID, ""},
		{"contacts-count", contactsPath + "/count", ""},
		{"list-count", listsPath + "/" + lists[0] + "/contacts/count", ""},
		{"list-sample", listsPath + "/" + lists[0], "contact_sample=true"},
	} {
		b.Run(c.name, func(b *testing.B) {
			get := call{method: "GET", path: c.path, rawQuery: c.rawQuery}
			r, err := e.try(get)
			if err != nil || r.Status != http.StatusOK {
				b.Fatalf("GET %s: %v %d %s", c.path, err, r.Status, r.Body)
			}
			b.ReportAllocs()
			cpu0 := cputime.Process()
			for b.Loop() {
				if _, err := e.try(get); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cputime.Process()-cpu0).Nanoseconds())/float64(b.N)/1000, "cpu-µs/op")
		})
	}
}
