package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/segmentd/segmentd/internal/facetest"
)

// scrape reads the server's /metrics with Prometheus's own text parser.
func scrape(t *testing.T, s liveServer) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return mfs
}

// value is the value of the series of family name whose labels include
// labels ("name=value"), -1 when there is none; a histogram's is its count.
func value(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	mf := mfs[name]
	if mf == nil {
		return -1
	}
series:
	for _, m := range mf.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for _, want := range labels {
			k, v, _ := strings.Cut(want, "=")
			if have[k] != v {
				continue series
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

// TestMetricsThroughTheBinary scrapes the real binary's /metrics and
// parses it as Prometheus does: requests are counted by route pattern and
// status, jobs by type and state with their durations, the job worker's
// stages timed, the engine's contacts and segments given per account,
// webhook deliveries by outcome, and the Go and process collectors are
// there. Another method is answered 405; --metrics=false serves none.
func TestMetricsThroughTheBinary(t *testing.T) {
	bin := realBinary(t)
	key := "SG.metrics-test-key"
	s, _ := startBinary(t, bin, t.TempDir(), key)

	before := scrape(t, s)
	for _, name := range []string{"go_goroutines", "go_memstats_heap_alloc_bytes", "process_resident_memory_bytes", "segmentd_engine_accounts"} {
		if value(before, name) < 0 {
			t.Errorf("no %s in /metrics", name)
		}
	}
	countRoute := []string{"method=GET", "route=GET /v3/marketing/contacts/count", "code=200"}
	if v := value(before, "segmentd_http_requests_total", countRoute...); v != -1 {
		t.Fatalf("count requests before any: %v", v)
	}

	mustCall(t, s, key, "GET", "/v3/marketing/contacts/count", "", 200)
	mustCall(t, s, key, "GET", "/v3/marketing/contacts/count", "", 200)
	id := "0c5e0a5e-0000-4000-8000-000000000001"
	call(t, s, key, "GET", "/v3/marketing/contacts/"+id, "") // 404: no such contact
	call(t, s, key, "GET", "/v3/marketing/nothing-here", "")
	seg := mustCall(t, s, key, "POST", "/v3/marketing/segments/2.0", `{"name":"US","query_dsl":"SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"}`, 201)["id"].(string)
	var b strings.Builder
	b.WriteString(`{"contacts":[`)
	for i := range 30 {
		if i > 0 {
			b.WriteByte(',')
		}
		country := "US"
		if i%3 == 0 {
			country = "FR"
		}
		fmt.Fprintf(&b, `{"email":"m%02d@example.com","country":%q}`, i, country)
	}
	b.WriteString(`]}`)
	runJob(t, s, key, "PUT", "/v3/marketing/contacts", b.String())

	// A webhook test message answered 200, then one answered 503.
	rc := newHookReceiver(t)
	r, err := facetest.Send(s.url, key, facetest.Request{Method: "POST", Path: "/segmentd/v1/webhooks", Body: `{"url":"` + rc.srv.URL + `/in","segments":[{"vendor":"sendgrid","id":"` + seg + `"}]}`})
	if err != nil || r.Status != 201 {
		t.Fatalf("creating a subscription: %v %+v", err, r)
	}
	sub := r.JSON(t)
	rc.mu.Lock()
	rc.secret = sub["secret"].(string)
	rc.mu.Unlock()
	testPath := "/segmentd/v1/webhooks/" + sub["id"].(string) + "/test"
	if r, err := facetest.Send(s.url, key, facetest.Request{Method: "POST", Path: testPath}); err != nil || r.Status != 200 {
		t.Fatalf("test message: %v %+v", err, r)
	}
	rc.mu.Lock()
	rc.down = true
	rc.mu.Unlock()
	if r, err := facetest.Send(s.url, key, facetest.Request{Method: "POST", Path: testPath}); err != nil || r.Status != 200 {
		t.Fatalf("test message: %v %+v", err, r)
	}

	after := scrape(t, s)
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"segmentd_http_requests_total", countRoute, 2},
		{"segmentd_http_request_duration_seconds", []string{"route=GET /v3/marketing/contacts/count"}, 2},
		// A route pattern, never the raw path.
		{"segmentd_http_requests_total", []string{"route=GET /v3/marketing/contacts/{id}", "code=404"}, 1},
		{"segmentd_http_requests_total", []string{"route=unrouted", "code=404"}, 1},
		{"segmentd_http_requests_total", []string{"route=POST /v3/marketing/segments/2.0", "code=201"}, 1},
		{"segmentd_http_requests_total", []string{"route=/metrics", "code=200"}, 1},
		{"segmentd_jobs_finished_total", []string{"type=upsert", "state=completed"}, 1},
		{"segmentd_job_duration_seconds", []string{"type=upsert"}, 1},
		{"segmentd_jobs_pending", []string{"type=upsert"}, 0},
		{"segmentd_engine_contacts", []string{"account=1"}, 30},
		{"segmentd_engine_segments", []string{"account=1"}, 1},
		{"segmentd_engine_accounts", nil, 1},
		{"segmentd_webhook_deliveries_total", []string{"outcome=delivered"}, 1},
		{"segmentd_webhook_deliveries_total", []string{"outcome=http_error"}, 1},
		{"segmentd_webhook_delivery_duration_seconds", nil, 2},
	} {
		if got := value(after, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, stage := range []string{"store", "engine"} {
		if got := value(after, "segmentd_job_stage_duration_seconds", "stage="+stage); got < 1 {
			t.Errorf("stage %s observed %v times, want at least 1", stage, got)
		}
	}
	if got := value(after, "segmentd_engine_memory_bytes", "account=1"); got <= 0 {
		t.Errorf("engine memory of account 1 = %v, want more than 0", got)
	}
	for _, m := range after["segmentd_http_requests_total"].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "route" && strings.Contains(l.GetValue(), id) {
				t.Errorf("a raw path in a route label: %q", l.GetValue())
			}
		}
	}

	r, err = facetest.Send(s.url, "", facetest.Request{Method: "POST", Path: "/metrics"})
	if err != nil || r.Status != 405 || r.Header.Get("Allow") != "GET, HEAD" || !strings.Contains(string(r.Body), `"message":"method not allowed"`) {
		t.Fatalf("POST /metrics: %v %+v", err, r)
	}

	off, _ := startBinary(t, bin, t.TempDir(), key, "--metrics=false")
	resp, err := http.Get(off.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("GET /metrics with --metrics=false: %d, want 404", resp.StatusCode)
	}
}

// TestMetricsFlag: --metrics takes true or false and names itself
// otherwise.
func TestMetricsFlag(t *testing.T) {
	var stderr strings.Builder
	_, err := parseConfig("serve", []string{"--metrics", "maybe"}, nil, &stderr, &stderr)
	if err == nil || !strings.Contains(err.Error(), "--metrics must be true or false") {
		t.Fatalf("--metrics maybe: %v", err)
	}
	cfg, err := parseConfig("serve", nil, []string{"SEGMENTD_METRICS=false"}, &stderr, &stderr)
	if err != nil || cfg.metrics {
		t.Fatalf("SEGMENTD_METRICS=false: %v, metrics %v", err, cfg.metrics)
	}
}
