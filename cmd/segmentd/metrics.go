package main

import (
	"net/http"

	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/internal/metrics"
	"github.com/segmentd/segmentd/internal/ownapi"
	"github.com/segmentd/segmentd/server"
)

// metricsPath is where the server serves its metrics (docs/operations.md):
// on the listen address, with no key, as Prometheus scrapes; --metrics=false
// turns it off.
const metricsPath = "/metrics"

// engineAccounts reports the engine's accounts to the metrics at each
// scrape.
func engineAccounts(members engine.Membership) func() []metrics.AccountStats {
	return func() []metrics.AccountStats {
		ids := members.Accounts()
		out := make([]metrics.AccountStats, 0, len(ids))
		for _, id := range ids {
			st := members.Stats(id)
			out = append(out, metrics.AccountStats{ID: id, Contacts: st.Contacts, Segments: len(st.Segments), Events: st.Events, Bytes: st.Bytes})
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
