package snapshot

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/segmentd/segmentd"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "engine.snap")
	hdr := Header{Mark: segmentd.ChangeMark{StoreID: "store-a", Seqs: map[int64]int64{1: 42, 2: 3}}, Events: map[int64]int64{1: 7, 2: 0}}
	p, err := Create(path, hdr, func(w io.Writer) error { _, err := io.WriteString(w, "engine bytes"); return err })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the snapshot is in place before Commit: %v", err)
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != p.Size() {
		t.Fatalf("stat after Commit: %v, size %v, want %d", err, fi, p.Size())
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the temporary file stayed: %v", err)
	}
	got, body, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Same(hdr) || string(body) != "engine bytes" {
		t.Fatalf("Read = %+v %q, want %+v %q", got, body, hdr, "engine bytes")
	}
	if other := (Header{Mark: hdr.Mark, Events: map[int64]int64{1: 7, 2: 1}}); got.Same(other) {
		t.Fatal("Same ignores an account's event sequence")
	}
	if other := (Header{Mark: segmentd.ChangeMark{StoreID: "store-a", Seqs: map[int64]int64{1: 42, 2: 4}}, Events: hdr.Events}); got.Same(other) {
		t.Fatal("Same ignores an account's change number")
	}
}

// A file that is not a snapshot, damaged, or cut short is ErrUnusable; a
// missing one is os.ErrNotExist.
func TestReadRefuses(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "engine.snap")
	p, err := Create(path, Header{Mark: segmentd.ChangeMark{StoreID: "s", Seqs: map[int64]int64{1: 1}}}, func(w io.Writer) error { _, err := w.Write(make([]byte, 100)); return err })
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), good...)
	flipped[len(flipped)/2] ^= 1
	for name, b := range map[string][]byte{
		"not a snapshot": []byte("hello, this is not a snapshot file"),
		"damaged":        flipped,
		"truncated":      good[:len(good)-10],
		"empty":          nil,
	} {
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := Read(path); !errors.Is(err, ErrUnusable) {
			t.Errorf("%s: Read err = %v, want ErrUnusable", name, err)
		}
	}
	if _, _, err := Read(filepath.Join(dir, "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: err = %v, want os.ErrNotExist", err)
	}
}

// A body that fails leaves no temporary file and the old snapshot in place.
func TestCreateFailureKeepsTheOld(t *testing.T) {
	path := filepath.Join(t.TempDir(), "engine.snap")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("engine failed")
	if _, err := Create(path, Header{}, func(io.Writer) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("Create err = %v, want the body's", err)
	}
	if _, err := os.Stat(path + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the temporary file stayed: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("the old snapshot became %q", b)
	}
}
