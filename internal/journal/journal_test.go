package journal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Name())
	}
	return out
}

// TestAppendReadReopen: records appended concurrently are read back by
// position and, after a reopen, all of them in the order of their
// positions.
func TestAppendReadReopen(t *testing.T) {
	dir := t.TempDir()
	l, recs, err := Open(dir, Options{})
	if err != nil || len(recs) != 0 {
		t.Fatalf("open: %v, %d records", err, len(recs))
	}
	const n = 200
	pos := make([]Pos, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p, err := l.Append([]byte(fmt.Sprintf("record %d", i)), i%2 == 0)
			if err != nil {
				t.Error(err)
			}
			pos[i] = p
		}()
	}
	wg.Wait()
	for i, p := range pos {
		got, err := l.Read(p)
		if err != nil || string(got) != fmt.Sprintf("record %d", i) {
			t.Fatalf("read %d: %q, %v", i, got, err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, recs, err = Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if len(recs) != n {
		t.Fatalf("reopen read %d records, want %d", len(recs), n)
	}
	byPos := map[Pos]string{}
	for i, p := range pos {
		byPos[p] = fmt.Sprintf("record %d", i)
	}
	for i, r := range recs {
		if byPos[r.Pos] != string(r.Data) {
			t.Fatalf("record %d at %+v: %q, want %q", i, r.Pos, r.Data, byPos[r.Pos])
		}
		if i > 0 && r.Pos.Off <= recs[i-1].Pos.Off {
			t.Fatalf("records out of order at %d", i)
		}
	}
}

// TestTornTail: a record cut short or damaged by a crash ends the
// segment; the records before it are read.
func TestTornTail(t *testing.T) {
	for _, tc := range []struct {
		name string
		harm func(b []byte) []byte
	}{
		{"cut short", func(b []byte) []byte { return b[:len(b)-3] }},
		{"flipped byte", func(b []byte) []byte { b[len(b)-1] ^= 0xff; return b }},
		{"huge length", func(b []byte) []byte {
			return append(b, 0xff, 0xff, 0xff, 0x7f, 0, 0, 0, 0)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			l, _, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range []string{"one", "two", "three"} {
				if _, err := l.Append([]byte(s), true); err != nil {
					t.Fatal(err)
				}
			}
			l.Close()
			path := filepath.Join(dir, names(t, dir)[0])
			b, _ := os.ReadFile(path)
			b = tc.harm(b)
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			l, recs, err := Open(dir, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			want := 2
			if tc.name == "huge length" {
				want = 3
			}
			if len(recs) != want || string(recs[0].Data) != "one" {
				t.Fatalf("read %d records, want %d", len(recs), want)
			}
		})
	}
}

// TestSegmentsRotateAndGo: appends past the segment size start new
// segments; a segment goes once appends moved past it and its records
// are released, and one held at Open stays until released.
func TestSegmentsRotateAndGo(t *testing.T) {
	dir := t.TempDir()
	l, _, err := Open(dir, Options{SegmentBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	rec := bytes.Repeat([]byte("x"), 60)
	var pos []Pos
	for range 5 {
		p, err := l.Append(rec, true)
		if err != nil {
			t.Fatal(err)
		}
		pos = append(pos, p)
	}
	// 68 bytes a frame: the second record takes a segment past 100.
	if got := l.Segments(); got != 3 {
		t.Fatalf("%d segments, want 3 (2 full, 1 current): %v", got, names(t, dir))
	}
	l.Release(pos[0])
	if got := l.Segments(); got != 3 {
		t.Fatalf("a segment with a held record went: %d segments", got)
	}
	l.Release(pos[1])
	if got := l.Segments(); got != 2 {
		t.Fatalf("%d segments after releasing the first one's records, want 2", got)
	}
	if _, err := l.Read(pos[0]); err == nil {
		t.Fatal("read a record of a deleted segment")
	}
	l.Close()

	l, recs, err := Open(dir, Options{SegmentBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if len(recs) != 3 {
		t.Fatalf("reopen read %d records, want 3", len(recs))
	}
	l.Hold(recs[2].Pos) // the lone record of the last segment written
	l.Trim()
	if got := l.Segments(); got != 2 {
		t.Fatalf("%d segments after Trim, want 2 (the held one and the new current): %v", got, names(t, dir))
	}
	got, err := l.Read(recs[2].Pos)
	if err != nil || !bytes.Equal(got, rec) {
		t.Fatalf("read held record: %v", err)
	}
	l.Release(recs[2].Pos)
	if got := l.Segments(); got != 1 {
		t.Fatalf("%d segments, want only the current one", got)
	}
}

// TestLimits: a record over MaxRecord is refused; a closed log takes no
// appends.
func TestLimits(t *testing.T) {
	l, _, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Append(make([]byte, MaxRecord+1), false); err == nil {
		t.Fatal("a record over MaxRecord was appended")
	}
	l.Close()
	if _, err := l.Append([]byte("late"), false); err == nil {
		t.Fatal("a closed log took an append")
	}
}

// TestBatchOfLargeAndSmall: one batch that mixes records written from the
// caller's slice (copyMax and over) with records copied behind their
// heads reads back whole, by position and after a reopen.
func TestBatchOfLargeAndSmall(t *testing.T) {
	dir := t.TempDir()
	l, _, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	sizes := []int{10, copyMax, 3, copyMax + 5, copyMax - 1, 0, 7}
	var batch []*pending
	for i, n := range sizes {
		batch = append(batch, &pending{data: bytes.Repeat([]byte{byte('a' + i)}, n), sync: i == 1})
	}
	l.mu.Lock()
	l.queue = batch
	l.writeBatch()
	l.mu.Unlock()
	for i, a := range batch {
		if !a.done || a.err != nil {
			t.Fatalf("record %d: done %v, %v", i, a.done, a.err)
		}
		got, err := l.Read(a.pos)
		if err != nil || !bytes.Equal(got, a.data) {
			t.Fatalf("read %d (%d bytes): %d bytes, %v", i, sizes[i], len(got), err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, recs, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if len(recs) != len(sizes) {
		t.Fatalf("reopen read %d records, want %d", len(recs), len(sizes))
	}
	for i, r := range recs {
		if r.Pos != batch[i].pos || !bytes.Equal(r.Data, batch[i].data) {
			t.Fatalf("record %d read back at %+v with %d bytes, want %+v with %d", i, r.Pos, len(r.Data), batch[i].pos, sizes[i])
		}
	}
}

// TestLargeRecordNotCopied: appending a record of megabytes (an upsert's
// accept record) allocates no copy of it.
func TestLargeRecordNotCopied(t *testing.T) {
	l, _, err := Open(t.TempDir(), Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rec := bytes.Repeat([]byte("x"), 4<<20)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := l.Append(rec, false); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if n := after.TotalAlloc - before.TotalAlloc; n >= uint64(len(rec)) {
		t.Fatalf("appending a %d-byte record allocated %d bytes: it was copied", len(rec), n)
	}
}
