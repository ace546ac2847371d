package metrics

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// TestBounded: past the cap the largest accounts by contacts keep their
// own series and the rest are summed into one.
func TestBounded(t *testing.T) {
	accts := []AccountStats{
		{ID: 1, Contacts: 5, Segments: 1, Events: 2, Bytes: 10},
		{ID: 2, Contacts: 50, Segments: 2, Bytes: 100},
		{ID: 3, Contacts: 7, Segments: 3, Events: 1, Bytes: 20},
		{ID: 4, Contacts: 50, Segments: 4, Bytes: 30},
	}
	if got := Bounded(accts, 4); len(got) != 4 || got[0].ID != 1 {
		t.Fatalf("within the cap: %+v, want the accounts as given", got)
	}
	got := fmt.Sprint(Bounded(accts, 2))
	want := fmt.Sprint([]AccountStats{
		{ID: 2, Contacts: 50, Segments: 2, Bytes: 100},
		{ID: 4, Contacts: 50, Segments: 4, Bytes: 30},
		{ID: 0, Contacts: 12, Segments: 4, Events: 3, Bytes: 30},
	})
	if got != want {
		t.Fatalf("Bounded(2) = %s, want %s", got, want)
	}
}

// TestFamilies: what the console reads is what a scrape serves, series by
// series, and a method outside HTTP's own is counted as OTHER.
func TestFamilies(t *testing.T) {
	m := New(Options{
		Accounts:    func() []AccountStats { return []AccountStats{{ID: 7, Contacts: 3, Segments: 1, Bytes: 99}} },
		PendingJobs: func() map[segmentd.JobType]int { return map[segmentd.JobType]int{segmentd.JobUpsert: 2} },
	})
	m.ObserveRequest("GET", "GET /x/{id}", 200, 3*time.Millisecond)
	m.ObserveRequest("BREW", "unrouted", 405, time.Millisecond)
	m.JobFinished(segmentd.Job{Type: segmentd.JobUpsert, Status: segmentd.JobErrored}, time.Second)
	fams, err := m.Families()
	if err != nil {
		t.Fatal(err)
	}
	find := func(name string, labels map[string]string) (Sample, bool) {
		for _, f := range fams {
			if f.Name != name {
				continue
			}
		next:
			for _, s := range f.Samples {
				for k, v := range labels {
					if s.Labels[k] != v {
						continue next
					}
				}
				return s, true
			}
		}
		return Sample{}, false
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"segmentd_http_requests_total", map[string]string{"method": "GET", "route": "GET /x/{id}", "code": "200"}, 1},
		{"segmentd_http_requests_total", map[string]string{"method": "OTHER", "route": "unrouted", "code": "405"}, 1},
		{"segmentd_http_request_duration_seconds", map[string]string{"route": "GET /x/{id}"}, 1},
		{"segmentd_jobs_finished_total", map[string]string{"type": "upsert", "state": "errored"}, 1},
		{"segmentd_jobs_pending", map[string]string{"type": "upsert"}, 2},
		{"segmentd_jobs_pending", map[string]string{"type": "delete"}, 0},
		{"segmentd_engine_contacts", map[string]string{"account": "7"}, 3},
		{"segmentd_engine_memory_bytes", map[string]string{"account": "7"}, 99},
	} {
		s, ok := find(c.name, c.labels)
		if !ok || s.Value != c.want {
			t.Errorf("%s%v = %v (found %v), want %v", c.name, c.labels, s.Value, ok, c.want)
		}
	}
	if s, _ := find("segmentd_job_duration_seconds", map[string]string{"type": "upsert"}); s.Sum != 1 {
		t.Errorf("job duration sum %v, want 1", s.Sum)
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if !strings.Contains(rec.Body.String(), `segmentd_engine_contacts{account="7"} 3`) {
		t.Fatalf("scrape lacks the engine's contacts:\n%s", rec.Body.String())
	}
}
