package query

import (
	"slices"
	"testing"
)

func TestEventTypeName(t *testing.T) {
	// SendGrid's Event Webhook names, as docs/query-language.md and
	// docs/events.md list them.
	want := []string{"processed", "delivered", "deferred", "dropped", "bounce", "open", "click",
		"spamreport", "unsubscribe", "group_unsubscribe", "group_resubscribe"}
	if got := EventTypes(); !slices.Equal(got, want) {
		t.Fatalf("EventTypes() = %q, want %q", got, want)
	}
	for _, tt := range []struct {
		in, name string
		ok       bool
	}{
		{"open", "open", true},
		{"OPEN", "open", true},
		{"opened", "open", true},
		{"Clicked", "click", true},
		{"group_resubscribed", "group_resubscribe", true},
		{"processed", "processed", true},
		{"Processed", "processed", true},
		{"processeded", "processeded", false},
		{"", "", false},
		{"Opens", "Opens", false},
		{"machine_open", "machine_open", false},
	} {
		name, ok := EventTypeName(tt.in)
		if name != tt.name || ok != tt.ok {
			t.Errorf("EventTypeName(%q) = %q, %v; want %q, %v", tt.in, name, ok, tt.name, tt.ok)
		}
		if got := NormalizeEventType(tt.in); got != tt.name {
			t.Errorf("NormalizeEventType(%q) = %q, want %q", tt.in, got, tt.name)
		}
	}
	for _, n := range want {
		if name, ok := EventTypeName(n); !ok || name != n {
			t.Errorf("EventTypeName(%q) = %q, %v", n, name, ok)
		}
	}
}
