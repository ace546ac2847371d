package sendgrid_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/segmentd/segmentd/internal/facetest"
)

// contactGen deterministically generates realistic upsert contacts: names,
// addresses, a phone number, sometimes alternate emails, and Text, Number
// and Date custom fields.
type contactGen struct {
	rng                 *rand.Rand
	text, number, date  string
	next                int
	first, last, cities []string
	countries, domains  []string
	colors              []string
}

func newContactGen(seed uint64, text, number, date string) *contactGen {
	return &contactGen{
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), text: text, number: number, date: date,
		first:     []string{"Ann", "Bob", "Chloé", "Dmitri", "Esther", "Farid", "Grace", "Hiro", "Ines", "José", "Kofi", "Lena", "Mateo", "Nia", "Olu", "Priya"},
		last:      []string{"Smith", "García", "Nguyen", "Müller", "Okafor", "Rossi", "Kowalski", "Tanaka", "Dubois", "Silva", "Cohen", "Ivanova"},
		cities:    []string{"Springfield", "Lisbon", "Osaka", "Lagos", "Denver", "Kraków", "Lyon", "Austin", "Pune", "Leeds"},
		countries: []string{"US", "PT", "JP", "NG", "PL", "FR", "IN", "GB", "DE", "BR"},
		domains:   []string{"example.com", "mail.example.org", "corp.example.net", "example.co.uk"},
		colors:    []string{"red", "green", "blue", "teal", "amber"},
	}
}

// body returns one upsert request of n contacts onto listIDs.
func (g *contactGen) body(n int, listIDs ...string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"list_ids":[`)
	for i, l := range listIDs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Quote(l))
	}
	b.WriteString(`],"contacts":[`)
	r := g.rng
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		k := g.next
		g.next++
		first, last := g.first[r.IntN(len(g.first))], g.last[r.IntN(len(g.last))]
		// About 190 bytes a contact, so that 30,000 fit SendGrid's 6 MB.
		fmt.Fprintf(&b, `{"email":"user%d@%s","first_name":%q,"last_name":%q,"city":%q,"country":%q,"postal_code":"%05d"`,
			k, g.domains[k%len(g.domains)], first, last, g.cities[r.IntN(len(g.cities))], g.countries[r.IntN(len(g.countries))],
			r.IntN(100000))
		if r.IntN(10) == 0 {
			fmt.Fprintf(&b, `,"alternate_emails":["alt%d@example.org"]`, k)
		}
		fmt.Fprintf(&b, `,"custom_fields":{%q:%q,%q:%d,%q:"2024-%02d-%02d"}}`,
			g.text, g.colors[r.IntN(len(g.colors))], g.number, r.IntN(500), g.date, 1+r.IntN(12), 1+r.IntN(28))
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// BenchmarkUpsertHTTP upserts contacts through the official client in
// 30,000-contact requests until every job reads completed, and reports
// contacts/s end to end. SEGMENTD_BENCH_CONTACTS sets the total (default
// 300,000; the reference workload's is 1,000,000, docs/decisions.md §11).
//
//	go test -run '^$' -bench UpsertHTTP -benchtime 1x ./sendgrid/
func BenchmarkUpsertHTTP(b *testing.B) {
	total := 300_000
	if v := os.Getenv("SEGMENTD_BENCH_CONTACTS"); v != "" {
		total, _ = strconv.Atoi(v)
	}
	const perRequest = 30_000
	for b.Loop() {
		b.StopTimer()
		e := newEnv(b)
		text, number, date := e.mkField(b, "color", "Text"), e.mkField(b, "orders", "Number"), e.mkField(b, "joined", "Date")
		l1, l2 := e.mkList(b, "all"), e.mkList(b, "vip")
		gen := newContactGen(1, text, number, date)
		var bodies [][]byte
		for sent := 0; sent < total; sent += perRequest {
			lists := []string{l1}
			if len(bodies)%3 == 0 {
				lists = append(lists, l2)
			}
			bodies = append(bodies, gen.body(min(perRequest, total-sent), lists...))
		}
		b.StartTimer()

		start := time.Now()
		var jobs []string
		var putTime time.Duration
		for _, body := range bodies {
			t0 := time.Now()
			jobs = append(jobs, acceptUpsert(b, e, body))
			putTime += time.Since(t0)
		}
		waitJobs(b, e, jobs)
		elapsed := time.Since(start)
		b.Logf("%d contacts in %v; %v of it in %d PUT requests", total, elapsed, putTime, len(bodies))
		b.StopTimer()
		b.ReportMetric(float64(total)/elapsed.Seconds(), "contacts/s")
		if fi, err := os.Stat(e.DBPath); err == nil {
			b.ReportMetric(float64(fi.Size())/(1<<20), "db-MiB")
		}
		b.StartTimer()
	}
}

func (e *env) mkField(tb testing.TB, name, typ string) string {
	tb.Helper()
	r, err := e.try(call{method: "POST", path: fieldsPath, body: `{"name":"` + name + `","field_type":"` + typ + `"}`})
	var m struct{ ID string }
	if err != nil || r.Status != 200 || jsonUnmarshal(r.Body, &m) != nil {
		tb.Fatalf("create field: %v %d %s", err, r.Status, r.Body)
	}
	return m.ID
}

func (e *env) mkList(tb testing.TB, name string) string {
	tb.Helper()
	r, err := e.try(call{method: "POST", path: listsPath, body: `{"name":"` + name + `"}`})
	var m struct{ ID string }
	if err != nil || r.Status != 201 || jsonUnmarshal(r.Body, &m) != nil {
		tb.Fatalf("create list: %v %d %s", err, r.Status, r.Body)
	}
	return m.ID
}

// acceptUpsert sends one contacts upsert and returns its job id; anything
// but a 202 fails the benchmark.
func acceptUpsert(b *testing.B, e *env, body []byte) string {
	b.Helper()
	r, err := e.try(call{method: "PUT", path: contactsPath, body: body})
	if err != nil || r.Status != http.StatusAccepted {
		b.Fatalf("upsert: %v %d %s", err, r.Status, r.Body)
	}
	var m struct {
		JobID string `json:"job_id"`
	}
	if err := jsonUnmarshal(r.Body, &m); err != nil {
		b.Fatal(err)
	}
	return m.JobID
}

// waitJobs polls each job until it reads completed; a job that reads
// anything but pending or completed fails the benchmark.
func waitJobs(b *testing.B, e *env, jobs []string) {
	b.Helper()
	for _, id := range jobs {
		facetest.Poll(b, "job "+id, func() bool {
			r, err := e.try(call{method: "GET", path: contactsPath + "/imports/" + id})
			if err != nil {
				b.Fatal(err)
			}
			var m struct{ Status string }
			_ = jsonUnmarshal(r.Body, &m)
			if m.Status != "completed" && m.Status != "pending" {
				b.Fatalf("job %s: %s", id, r.Body)
			}
			return m.Status == "completed"
		})
	}
}
