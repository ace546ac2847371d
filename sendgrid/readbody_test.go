package sendgrid

import (
	"bytes"
	"io"
	"strings"
	"testing"
)

// TestReadAll: a body reads whole whatever its declared length says of
// it (exact, shorter, longer, unknown, over the largest route's bound).
func TestReadAll(t *testing.T) {
	body := strings.Repeat("0123456789", 100_000)
	for _, declared := range []int64{int64(len(body)), 10, int64(len(body)) + 7, -1, 0, maxUpsertBodyBytes + 1} {
		got, err := readAll(strings.NewReader(body), declared)
		if err != nil || string(got) != body {
			t.Fatalf("declared %d: read %d bytes, %v; want %d", declared, len(got), err, len(body))
		}
	}
	got, err := readAll(io.MultiReader(strings.NewReader("ab"), iotestErr{}), 2)
	if err == nil || string(got) != "ab" {
		t.Fatalf("a failing read: %q, %v", got, err)
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// TestReadAllOneAllocation: a body of the length its request declared is
// read into one allocation of its size (io.ReadAll grew and copied a 6 MB
// upsert 29 times).
func TestReadAllOneAllocation(t *testing.T) {
	body := bytes.Repeat([]byte("x"), 6_000_000)
	r := bytes.NewReader(body)
	allocs := testing.AllocsPerRun(5, func() {
		r.Reset(body)
		if b, err := readAll(r, int64(len(body))); err != nil || len(b) != len(body) {
			t.Fatalf("read %d bytes, %v", len(b), err)
		}
	})
	if allocs != 1 {
		t.Fatalf("reading a %d-byte body allocated %.0f times, want once", len(body), allocs)
	}
}
