package sendgrid_test

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentd/segmentd/internal/facetest"
)

var benchImportContacts = flag.Int("import.contacts", 100_000, "contacts BenchmarkImport imports")

// BenchmarkImport measures a CSV import of -import.contacts contacts
// (default 100,000; each row with the reserved fields of a real contact
// and three custom fields, about 110 bytes, into a list) on SQLite, each
// iteration into an account of its own: from the first byte of the
// upload to the job reading completed, in contacts per second, with the
// upload's own share (until its 200) apart. The file is generated as it
// is sent, so the client holds none of it. Then the same file imported
// again into the last account (every contact updated, so that the
// engine, which holds every contact, stays the size it was), untimed,
// measures what an import itself holds: the live heap's peak above what
// the process held before (collected and sampled every 20 ms), and the
// process's peak resident set during it (Linux: VmHWM, reset first
// through /proc/self/clear_refs; it includes the engine, the store's
// cache and everything else the process holds).
//
//	go test ./sendgrid -run '^$' -bench BenchmarkImport -benchtime 1x -import.contacts 1000000
func BenchmarkImport(b *testing.B) {
	n := *benchImportContacts
	e := &env{facetest.Start(b, importMux, facetest.Config{})}
	var acct int
	var key string
	var fields []string
	var list string
	// run imports the file into a new account (every contact created),
	// or again into the last one (every contact updated).
	run := func(again bool) (upload, total time.Duration) {
		if !again {
			acct++
			key = e.NewKey(fmt.Sprintf("bench-%d", acct), "")
			fields, list = benchImportCatalog(b, e, key)
		}
		start := time.Now()
		id := benchUpload(b, e, key, fields, list, n)
		upload = time.Since(start)
		for {
			r, err := facetest.Send(e.URL, key, facetest.Request{Method: "GET", Path: importsPath + "/" + id})
			if err != nil || r.Status != http.StatusOK {
				b.Fatalf("job: %v %d %s", err, r.Status, r.Body)
			}
			m := r.JSON(b)
			if m["status"] == "pending" {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			counts, _ := results(m)
			if want := map[bool]string{false: "created_count", true: "updated_count"}[again]; m["status"] != "completed" || counts[want] != n {
				b.Fatalf("job: %v", m)
			}
			return upload, time.Since(start)
		}
	}
	var uploads time.Duration
	for b.Loop() {
		up, _ := run(false)
		uploads += up
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "contacts/s")
	b.ReportMetric(float64(n)*float64(b.N)/uploads.Seconds(), "upload-contacts/s")

	runtime.GC()
	base := liveHeap()
	resetPeakRSS()
	var top atomic.Uint64
	stop, sampled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.GC()
			if h := liveHeap(); h > top.Load() {
				top.Store(h)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	run(true)
	close(stop)
	<-sampled
	b.ReportMetric(float64(top.Load()-min(base, top.Load()))/(1<<20), "peak-live-heap-MiB")
	if rss, ok := peakRSS(); ok {
		b.ReportMetric(float64(rss)/(1<<20), "peak-rss-MiB")
	}
}

// benchImportCatalog creates the custom fields and the list of an
// account's import.
func benchImportCatalog(b *testing.B, e *env, key string) ([]string, string) {
	var fields []string
	for _, f := range []string{`{"name":"plan","field_type":"Text"}`, `{"name":"score","field_type":"Number"}`, `{"name":"joined","field_type":"Date"}`} {
		r, err := facetest.Send(e.URL, key, facetest.Request{Method: "POST", Path: "/v3/marketing/field_definitions", Body: f})
		if err != nil || r.Status != http.StatusOK {
			b.Fatalf("field: %v %d %s", err, r.Status, r.Body)
		}
		fields = append(fields, r.JSON(b)["id"].(string))
	}
	r, err := facetest.Send(e.URL, key, facetest.Request{Method: "POST", Path: "/v3/marketing/lists", Body: `{"name":"imported"}`})
	if err != nil || r.Status != http.StatusCreated {
		b.Fatalf("list: %v %d %s", err, r.Status, r.Body)
	}
	return fields, r.JSON(b)["id"].(string)
}

// benchUpload asks for an import and uploads n generated rows to it; it
// returns the job id once the upload is answered 200.
func benchUpload(b *testing.B, e *env, key string, fields []string, list string, n int) string {
	body := fmt.Sprintf(`{"file_type":"csv","list_ids":[%q],"field_mappings":["_rf2_T","_rf0_T","_rf1_T","_rf4_T","_rf6_T","_rf8_T","_rf9_T",%q,%q,%q]}`,
		list, fields[0], fields[1], fields[2])
	r, err := facetest.Send(e.URL, key, facetest.Request{Method: "PUT", Path: importsPath, Body: body})
	if err != nil || r.Status != http.StatusOK {
		b.Fatalf("import: %v %d %s", err, r.Status, r.Body)
	}
	m := r.JSON(b)
	req, err := http.NewRequest("PUT", m["upload_uri"].(string), &rowGen{n: n})
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("x-amz-server-side-encryption", "aws:kms")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("upload: %d %s", resp.StatusCode, out)
	}
	return m["job_id"].(string)
}

// rowGen is an import file of n rows, generated as it is read.
type rowGen struct {
	n, i int
	buf  []byte
}

func (g *rowGen) Read(p []byte) (int, error) {
	for len(g.buf) < len(p) && g.i <= g.n {
		if g.i == 0 {
			g.buf = append(g.buf, "email,first_name,last_name,address_line_1,city,postal_code,country,plan,score,joined\n"...)
		} else {
			k := g.i - 1
			g.buf = fmt.Appendf(g.buf, "person%07d@example.com,Firstname,Lastname%d,742 Evergreen Terrace,Springfield,%05d,US,gold,%d,2024-%02d-%02d\n",
				k, k, k%100000, k%1000, 1+k%12, 1+k%28)
		}
		g.i++
	}
	if len(g.buf) == 0 {
		return 0, io.EOF
	}
	c := copy(p, g.buf)
	g.buf = g.buf[:copy(g.buf, g.buf[c:])]
	return c, nil
}

// resetPeakRSS resets the process's peak resident set (Linux; elsewhere
// nothing).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS reads the process's peak resident set since the last reset, in
// bytes (Linux only).
func peakRSS() (int64, bool) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10, err == nil
		}
	}
	return 0, false
}
