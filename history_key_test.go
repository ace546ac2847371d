package segmentd

import (
	"bytes"
	"testing"
)

func TestHistoryContactKey(t *testing.T) {
	for _, tc := range []struct {
		id   string
		size int
	}{
		{"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", 16},
		{"00000000-0000-0000-0000-000000000000", 16},
		{"ffffffff-ffff-ffff-ffff-ffffffffffff", 16},
		{"0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B", 37}, // not canonical: kept as text
		{"0190a1b2c3d47e5f8a9b0c1d2e3f4a5b", 33},
		{"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5g", 37},
		{"c1", 3},
		{"legacy-id-15chr", 17}, // 15 bytes: two zero bytes, never 16
		{"legacy-id-16char", 17},
		{"", 1},
	} {
		key := HistoryContactKey(tc.id)
		if len(key) != tc.size {
			t.Errorf("%q: key of %d bytes, want %d", tc.id, len(key), tc.size)
		}
		if got := HistoryContactID(key); got != tc.id {
			t.Errorf("%q: read back as %q", tc.id, got)
		}
	}
	// Keys of UUIDs sort as their text does.
	a, b := HistoryContactKey("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"), HistoryContactKey("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5c")
	if bytes.Compare(a, b) >= 0 {
		t.Errorf("keys out of order")
	}
}
