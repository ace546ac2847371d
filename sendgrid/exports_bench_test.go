package sendgrid_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
)

var benchExportContacts = flag.Int("export.contacts", 100_000, "contacts BenchmarkExport loads and exports")

// BenchmarkExport measures a contact export of -export.contacts contacts
// (default 100,000; each with the reserved fields of a real contact, three
// custom fields, half of them on a list), CSV and JSON, from the POST to
// the status reading ready, on SQLite: contacts per second, the gzip bytes
// written, and, from one more export, the live heap's peak above what it
// held before (collected and sampled every 20 ms): what the export itself
// holds in memory, the engine and everything else staying as they were.
//
//	go test ./sendgrid -run '^$' -bench BenchmarkExport -benchtime 3x -export.contacts 100000
func BenchmarkExport(b *testing.B) {
	n := *benchExportContacts
	e := newExportEnv2(b)
	ctx := context.Background()
	acct := e.DefaultAccount()
	var fieldIDs []string
	for _, f := range []struct {
		name string
		t    segmentd.FieldType
	}{{"plan", segmentd.FieldText}, {"score", segmentd.FieldNumber}, {"joined", segmentd.FieldDate}} {
		def, err := e.Svc.CreateField(ctx, acct, f.name, f.t)
		if err != nil {
			b.Fatal(err)
		}
		fieldIDs = append(fieldIDs, def.ID)
	}
	list, err := e.Svc.CreateList(ctx, acct, "half")
	if err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	for lo := 0; lo < n; lo += segmentd.MaxUpsertContacts {
		for _, onList := range []bool{true, false} {
			var ps []segmentd.ContactPatch
			for i := lo; i < min(lo+segmentd.MaxUpsertContacts, n); i++ {
				if (i%2 == 0) != onList {
					continue
				}
				ps = append(ps, segmentd.ContactPatch{
					Email: facetest.Ptr(fmt.Sprintf("person%07d@example.com", i)), FirstName: facetest.Ptr("Firstname"),
					LastName: facetest.Ptr(fmt.Sprintf("Lastname%d", i)), City: facetest.Ptr("Springfield"),
					Country: facetest.Ptr("US"), PostalCode: facetest.Ptr("12345"), AddressLine1: facetest.Ptr("742 Evergreen Terrace"),
					CustomFields: map[string]*segmentd.Value{
						fieldIDs[0]: {Type: segmentd.FieldText, Text: "gold"},
						fieldIDs[1]: {Type: segmentd.FieldNumber, Number: float64(i % 1000)},
						fieldIDs[2]: {Type: segmentd.FieldDate, Time: time.Date(2024, 1, 1+i%365, 0, 0, 0, 0, time.UTC)},
					}})
			}
			var lists []string
			if onList {
				lists = []string{list.ID}
			}
			id, err := e.Svc.UpsertContacts(ctx, acct, ps, lists)
			if err != nil {
				b.Fatal(err)
			}
			facetest.WaitJob(b, e.Svc, acct, id)
		}
	}
	b.Logf("loaded %d contacts in %v", n, time.Since(start).Round(time.Millisecond))

	for _, fileType := range []string{"csv", "json"} {
		b.Run(fileType, func(b *testing.B) {
			var ex segmentd.Export
			for range b.N {
				ex = runExport(b, e, acct, fileType)
			}
			b.StopTimer()
			if ex.Status != segmentd.ExportReady || ex.ContactCount != n {
				b.Fatalf("export: %+v", ex)
			}
			var bytes int64
			for _, f := range ex.Files {
				bytes += f.Bytes
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "contacts/s")
			b.ReportMetric(float64(bytes)/float64(n), "gzip-bytes/contact")

			// One more export, untimed, with the live heap sampled: a
			// collection every 20 ms, so that what is measured is what the
			// export holds, not garbage awaiting collection.
			runtime.GC()
			base := liveHeap()
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
			runExport(b, e, acct, fileType)
			close(stop)
			<-sampled
			b.ReportMetric(float64(top.Load()-min(base, top.Load()))/(1<<20), "peak-live-heap-MiB")
		})
	}
}

// runExport exports every contact of acct as fileType through the API and
// waits for it to finish.
func runExport(b *testing.B, e *env, acct int64, fileType string) segmentd.Export {
	r, err := facetest.Send(e.URL, e.Key, facetest.Request{Method: "POST", Path: exportsPath, Body: `{"file_type":"` + fileType + `"}`})
	if err != nil || r.Status != http.StatusAccepted {
		b.Fatalf("POST: %v %d %s", err, r.Status, r.Body)
	}
	id := r.JSON(b)["id"].(string)
	for {
		ex, err := e.Svc.Export(context.Background(), acct, id)
		if err != nil {
			b.Fatal(err)
		}
		if ex.Status != segmentd.ExportPending {
			return ex
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// newExportEnv2 is newExportEnv for a benchmark, on the system clock.
func newExportEnv2(b *testing.B) *env {
	return &env{facetest.Start(b, exportMux, facetest.Config{})}
}

// liveHeap is the heap's live bytes as of the last collection.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}
