package main

import (
	"net/http"
	"sync"
	"time"

	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/internal/metrics"
	"github.com/segmentd/segmentd/internal/ownapi"
	"github.com/segmentd/segmentd/server"
)

// metricsPath is where the server serves its metrics (docs/operations.md):
// on the listen address, with no key, as Prometheus scrapes; --metrics=false
// turns it off.
const metricsPath = "/metrics"

// memoryAge is how old an account's memory estimate in the metrics may
// be: the estimate walks the account's index under its read lock (about
// 100 ms at 1M contacts and 10M events, engine.BenchmarkStats), so it is
// not taken at every scrape; the counts are.
const memoryAge = time.Minute

// engineAccounts reports the engine's accounts to the metrics at each
// scrape.
func engineAccounts(members engine.Membership) func() []metrics.AccountStats {
	type estimate struct {
		bytes int64
		at    time.Time
	}
	var mu sync.Mutex // scrapes may overlap
	memory := map[int64]estimate{}
	return func() []metrics.AccountStats {
		mu.Lock()
		defer mu.Unlock()
		ids := members.Accounts()
		out := make([]metrics.AccountStats, 0, len(ids))
		seen := make(map[int64]bool, len(ids))
		for _, id := range ids {
			seen[id] = true
			st := metrics.AccountStats{ID: id}
			st.Contacts, st.Segments, st.Events = members.Counts(id)
			m, ok := memory[id]
			if !ok || time.Since(m.at) > memoryAge {
				m = estimate{members.Stats(id).Bytes, time.Now()}
				memory[id] = m
			}
			st.Bytes = m.bytes
			out = append(out, st)
		}
		for id := range memory {
			if !seen[id] {
				delete(memory, id) // the account is gone
			}
		}
		return out
	}
}

// metricsFace serves GET /metrics; another method is answered 405 in
// segmentd's own error shape.
func metricsFace(m *metrics.Metrics) server.Face {
	h := m.Handler()
	return server.Face{Prefixes: []string{metricsPath}, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			ownapi.WriteError(w, http.StatusMethodNotAllowed, "", "method not allowed")
			return
		}
		h.ServeHTTP(w, r)
	})}
}
