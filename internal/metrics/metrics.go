// Package metrics keeps segmentd's operational counters and serves them
// at GET /metrics in Prometheus's text format (docs/operations.md). It is
// the one package that imports the Prometheus client library: the other
// packages report through plain Go hooks (server.Observe,
// audience.Config.Observer, hooks.Options.Observe) that cmd/segmentd
// connects to a Metrics, and the web console reads the values through
// Families, without the library's types.
//
// Every label takes a bounded set of values: a route is the pattern that
// served the request, never its raw path; a method outside HTTP's own is
// "OTHER"; the engine's per-account series name at most MaxAccounts
// accounts, the rest summed under account="other".
package metrics

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/segmentd/segmentd"
)

// DefaultMaxAccounts is how many accounts the engine's series name one by
// one, the largest by contacts; the others are summed as account="other".
const DefaultMaxAccounts = 100

// OtherAccounts is the account label of the accounts past MaxAccounts.
const OtherAccounts = "other"

// AccountStats is what the engine holds for one account, read at each
// scrape.
type AccountStats struct {
	ID       int64
	Contacts int
	Segments int
	Events   int
	Bytes    int64 // the engine's estimate of the heap the account's index holds
}

// Options configure a Metrics.
type Options struct {
	// Accounts, when set, reports the engine's accounts at each scrape.
	Accounts func() []AccountStats
	// PendingJobs, when set, reports the jobs accepted and not yet
	// finished, by type.
	PendingJobs func() map[segmentd.JobType]int
	// MaxAccounts bounds the accounts named in the engine's series
	// (default DefaultMaxAccounts).
	MaxAccounts int
}

// Metrics holds segmentd's counters in a registry of its own (never
// Prometheus's global one).
type Metrics struct {
	reg *prometheus.Registry

	requests        *prometheus.CounterVec
	requestDuration *prometheus.HistogramVec
	jobs            *prometheus.CounterVec
	jobDuration     *prometheus.HistogramVec
	stageDuration   *prometheus.HistogramVec
	deliveries      *prometheus.CounterVec
	deliveryLatency prometheus.Histogram
}

// New returns a Metrics with the Go runtime's and the process's
// collectors registered beside segmentd's own.
func New(o Options) *Metrics {
	if o.MaxAccounts <= 0 {
		o.MaxAccounts = DefaultMaxAccounts
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segmentd_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status code.",
		}, []string{"method", "route", "code"}),
		requestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "segmentd_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route pattern.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route"}),
		jobs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segmentd_jobs_finished_total",
			Help: "Asynchronous jobs finished, by type and final state (completed, errored, failed).",
		}, []string{"type", "state"}),
		jobDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "segmentd_job_duration_seconds",
			Help:    "Time from a job's acceptance (or its resumption after a restart) to its final state, by type.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"type"}),
		stageDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "segmentd_job_stage_duration_seconds",
			Help:    "Time of one task of the job worker's stages: store (a job's store transaction), store_events (an event batch's), store_task (another write on the worker), engine (passing a task's changes to the membership engine).",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"stage"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "segmentd_webhook_deliveries_total",
			Help: "Segment webhook delivery attempts, by outcome: delivered (a 2xx), http_error (another status), timeout, no_answer, unsendable.",
		}, []string{"outcome"}),
		deliveryLatency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "segmentd_webhook_delivery_duration_seconds",
			Help:    "Time a segment webhook's receiver took to answer an attempt (attempts that were sent).",
			Buckets: prometheus.DefBuckets,
		}),
	}
	m.reg.MustRegister(m.requests, m.requestDuration, m.jobs, m.jobDuration, m.stageDuration,
		m.deliveries, m.deliveryLatency,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&scraped{o: o})
	return m
}

// Handler serves the registry in Prometheus's text format (or, when the
// scraper asks for it, Prometheus's protobuf format).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// methods are the methods a request's method label names; any other is
// "OTHER", so that a client cannot grow the label's values.
var methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions}

// ObserveRequest counts an answered request. route is the pattern that
// served it (server.Observed.Route).
func (m *Metrics) ObserveRequest(method, route string, status int, took time.Duration) {
	if !slices.Contains(methods, method) {
		method = "OTHER"
	}
	m.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
	m.requestDuration.WithLabelValues(route).Observe(took.Seconds())
}

// JobFinished counts a job that reached its final state, took after its
// acceptance (0: unknown, not observed).
func (m *Metrics) JobFinished(j segmentd.Job, took time.Duration) {
	m.jobs.WithLabelValues(string(j.Type), string(j.Status)).Inc()
	if took > 0 {
		m.jobDuration.WithLabelValues(string(j.Type)).Observe(took.Seconds())
	}
}

// StageTook observes one task of a job worker's stage.
func (m *Metrics) StageTook(stage string, took time.Duration) {
	m.stageDuration.WithLabelValues(stage).Observe(took.Seconds())
}

// Delivered counts a segment webhook delivery attempt.
func (m *Metrics) Delivered(d segmentd.Delivery) {
	outcome := "delivered"
	switch {
	case d.StatusCode >= 200 && d.StatusCode <= 299:
	case d.StatusCode != 0:
		outcome = "http_error"
	case d.Error == "timed out":
		outcome = "timeout"
	case d.Latency > 0:
		outcome = "no_answer"
	default:
		outcome = "unsendable" // never sent: the URL or the secret is unusable
	}
	m.deliveries.WithLabelValues(outcome).Inc()
	if d.StatusCode != 0 || d.Latency > 0 {
		m.deliveryLatency.Observe(d.Latency.Seconds())
	}
}

// scraped collects, at each scrape, what is read rather than counted:
// the engine's accounts and the jobs waiting.
type scraped struct{ o Options }

var (
	descContacts = prometheus.NewDesc("segmentd_engine_contacts", "Contacts in the membership engine, by account id (the largest accounts by contacts; the others summed as account=\"other\").", []string{"account"}, nil)
	descSegments = prometheus.NewDesc("segmentd_engine_segments", "Segments (SendGrid's and Constant Contact's) the membership engine keeps, by account id.", []string{"account"}, nil)
	descEvents   = prometheus.NewDesc("segmentd_engine_events", "Engagement events in the membership engine, by account id.", []string{"account"}, nil)
	descBytes    = prometheus.NewDesc("segmentd_engine_memory_bytes", "The engine's estimate of the heap an account's index holds, by account id.", []string{"account"}, nil)
	descAccounts = prometheus.NewDesc("segmentd_engine_accounts", "Accounts the membership engine holds.", nil, nil)
	descPending  = prometheus.NewDesc("segmentd_jobs_pending", "Jobs accepted and not yet finished (queued or running), by type.", []string{"type"}, nil)
)

func (c *scraped) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descContacts, descSegments, descEvents, descBytes, descAccounts, descPending} {
		ch <- d
	}
}

func (c *scraped) Collect(ch chan<- prometheus.Metric) {
	if c.o.PendingJobs != nil {
		pending := c.o.PendingJobs()
		// The two types every server runs are always present, at 0 when
		// none waits.
		for _, t := range []segmentd.JobType{segmentd.JobUpsert, segmentd.JobDelete} {
			if _, ok := pending[t]; !ok {
				pending[t] = 0
			}
		}
		for t, n := range pending {
			ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(n), string(t))
		}
	}
	if c.o.Accounts == nil {
		return
	}
	accts := c.o.Accounts()
	ch <- prometheus.MustNewConstMetric(descAccounts, prometheus.GaugeValue, float64(len(accts)))
	for _, a := range Bounded(accts, c.o.MaxAccounts) {
		label := strconv.FormatInt(a.ID, 10)
		if a.ID == 0 {
			label = OtherAccounts
		}
		ch <- prometheus.MustNewConstMetric(descContacts, prometheus.GaugeValue, float64(a.Contacts), label)
		ch <- prometheus.MustNewConstMetric(descSegments, prometheus.GaugeValue, float64(a.Segments), label)
		ch <- prometheus.MustNewConstMetric(descEvents, prometheus.GaugeValue, float64(a.Events), label)
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(a.Bytes), label)
	}
}

// Bounded keeps the max accounts with the most contacts (ties by id) and
// sums the others into one entry of ID 0, last, when there are any.
func Bounded(accts []AccountStats, max int) []AccountStats {
	if len(accts) <= max {
		return accts
	}
	sorted := slices.Clone(accts)
	slices.SortFunc(sorted, func(a, b AccountStats) int {
		if a.Contacts != b.Contacts {
			return b.Contacts - a.Contacts
		}
		return int(a.ID - b.ID)
	})
	var other AccountStats
	for _, a := range sorted[max:] {
		other.Contacts += a.Contacts
		other.Segments += a.Segments
		other.Events += a.Events
		other.Bytes += a.Bytes
	}
	return append(sorted[:max:max], other)
}

// Family is one metric as the console shows it: its samples, read from
// the registry as a scrape would.
type Family struct {
	Name    string
	Help    string
	Type    string // counter, gauge, histogram, summary, untyped
	Samples []Sample
}

// Sample is one series of a family. For a histogram or a summary, Value
// is the number of observations and Sum their total.
type Sample struct {
	Labels map[string]string
	Value  float64
	Sum    float64
}

// Families gathers the registry, as GET /metrics would, into plain Go
// values (for the web console, which does not import the Prometheus
// library).
func (m *Metrics) Families() ([]Family, error) {
	mfs, err := m.reg.Gather()
	if err != nil {
		return nil, err
	}
	out := make([]Family, 0, len(mfs))
	for _, mf := range mfs {
		f := Family{Name: mf.GetName(), Help: mf.GetHelp(), Type: typeName(mf.GetType())}
		for _, mt := range mf.GetMetric() {
			s := Sample{Labels: map[string]string{}}
			for _, l := range mt.GetLabel() {
				s.Labels[l.GetName()] = l.GetValue()
			}
			switch {
			case mt.Counter != nil:
				s.Value = mt.Counter.GetValue()
			case mt.Gauge != nil:
				s.Value = mt.Gauge.GetValue()
			case mt.Histogram != nil:
				s.Value, s.Sum = float64(mt.Histogram.GetSampleCount()), mt.Histogram.GetSampleSum()
			case mt.Summary != nil:
				s.Value, s.Sum = float64(mt.Summary.GetSampleCount()), mt.Summary.GetSampleSum()
			case mt.Untyped != nil:
				s.Value = mt.Untyped.GetValue()
			}
			f.Samples = append(f.Samples, s)
		}
		out = append(out, f)
	}
	return out, nil
}

func typeName(t dto.MetricType) string {
	switch t {
	case dto.MetricType_COUNTER:
		return "counter"
	case dto.MetricType_GAUGE:
		return "gauge"
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		return "histogram"
	case dto.MetricType_SUMMARY:
		return "summary"
	}
	return "untyped"
}
