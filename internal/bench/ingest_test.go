package bench

import (
	"encoding/json"
	"testing"
	"time"
)

func TestBenchBodyIsDeterministic(t *testing.T) {
	a := benchBody(10, 3, "w1", "n2", "L")
	b := benchBody(10, 3, "w1", "n2", "L")
	if string(a) != string(b) {
		t.Fatal("benchBody is not deterministic")
	}
	var v struct {
		ListIDs  []string         `json:"list_ids"`
		Contacts []map[string]any `json:"contacts"`
	}
	if err := json.Unmarshal(a, &v); err != nil {
		t.Fatalf("benchBody is not JSON: %v\n%s", err, a)
	}
	if len(v.Contacts) != 3 || v.Contacts[0]["email"] != "user0000010@gmail.com" || v.ListIDs[0] != "L" {
		t.Fatalf("benchBody = %s", a)
	}
}

func TestLatencyQuantiles(t *testing.T) {
	var l latencies
	if got := l.quantile(0.5); got != 0 {
		t.Fatalf("quantile of nothing = %v", got)
	}
	for i := 100; i >= 1; i-- {
		l.add(time.Duration(i) * time.Millisecond)
	}
	if p50, p99 := l.quantile(0.5), l.quantile(0.99); p50 != 51*time.Millisecond || p99 != 100*time.Millisecond {
		t.Fatalf("p50 %v, p99 %v; want 51ms, 100ms", p50, p99)
	}
}
