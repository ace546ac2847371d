package bench

import (
	"encoding/json"
	"testing"
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
