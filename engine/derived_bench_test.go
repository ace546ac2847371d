package engine

import "testing"

// reportDerived reports the size of account 1's derived indexes built so
// far (derived-MB; days-MB of it its event day indexes) and the bytes per
// event of its event runs (ev-B/event) and of its runs and latest-event
// arrays together (evlatest-B/event).
func reportDerived(b *testing.B, e *Engine) {
	st := e.Stats(1)
	a := e.get(1)
	a.mu.RLock()
	a.der.mu.Lock()
	var latest, days int64
	for _, c := range a.der.latest {
		latest += int64(cap(c.max)) * 8
	}
	for _, x := range a.der.days {
		days += x.size()
	}
	a.der.mu.Unlock()
	a.mu.RUnlock()
	b.ReportMetric(float64(st.DerivedBytes)/1e6, "derived-MB")
	b.ReportMetric(float64(days)/1e6, "days-MB")
	b.ReportMetric(float64(st.EventBytes)/float64(st.Events), "ev-B/event")
	b.ReportMetric(float64(st.EventBytes+latest)/float64(st.Events), "evlatest-B/event")
}
