// Package snapshot reads and writes the membership engine's snapshot file
// (docs/snapshot.md): a header naming the store's change mark and every
// account's last event sequence number, the engine's own bytes, and a
// CRC-32C of both. A file is written beside its final path and renamed
// over it once synced, so a crash leaves the old file or the new one,
// never half of one.
//
// It knows the file's layout and nothing of what the engine writes inside
// it. It imports the domain package for ChangeMark only.
package snapshot

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/segmentd/segmentd/internal/fsync"
	"hash/crc32"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/segmentd/segmentd"
)

// magic starts a snapshot file; version is its layout (2: a change number
// per account).
const (
	magic   = "segmentd snapshot\n"
	version = 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrUnusable marks a snapshot file that is damaged, from another store,
// or older than what the store can replay.
var ErrUnusable = errors.New("unusable snapshot")

// Header is what the file says about the store it was taken from.
type Header struct {
	Mark   segmentd.ChangeMark
	Events map[int64]int64 // account → last event sequence number
}

// Same reports whether two headers name the same store state.
func (h Header) Same(o Header) bool {
	return h.Mark.StoreID == o.Mark.StoreID && maps.Equal(h.Mark.Seqs, o.Mark.Seqs) && maps.Equal(h.Events, o.Events)
}

// accounts returns every account either map names, in order.
func (h Header) accounts() []int64 {
	set := maps.Clone(h.Mark.Seqs)
	if set == nil {
		set = map[int64]int64{}
	}
	maps.Copy(set, h.Events)
	return slices.Sorted(maps.Keys(set))
}

// Pending is a snapshot written to its temporary file and not yet in place.
type Pending struct {
	f          *os.File
	tmp, final string
	size       int64
}

// Create writes the header, the bytes body writes and the checksum to a
// temporary file beside path. The caller then calls Commit, or Abort.
func Create(path string, hdr Header, body func(io.Writer) error) (*Pending, error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, err
	}
	p := &Pending{f: f, tmp: tmp, final: path}
	sum := crc32.New(castagnoli)
	cw := &countWriter{w: io.MultiWriter(f, sum)}
	bw := bufio.NewWriterSize(cw, 1<<20)
	_, err = bw.Write(appendHeader(nil, hdr))
	if err == nil {
		err = body(bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		_, err = f.Write(binary.LittleEndian.AppendUint32(nil, sum.Sum32()))
	}
	if err != nil {
		p.Abort()
		return nil, err
	}
	p.size = cw.n + 4
	return p, nil
}

// Size is the file's length in bytes.
func (p *Pending) Size() int64 { return p.size }

// Commit makes the snapshot durable and puts it in place: it syncs the
// file, renames it over the final path and syncs the directory. On error
// the temporary file is removed and the old snapshot, if any, stays.
func (p *Pending) Commit() error {
	err := p.f.Sync()
	if cerr := p.f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(p.tmp, p.final)
	}
	if err == nil {
		return fsync.Dir(filepath.Dir(p.final))
	}
	_ = os.Remove(p.tmp)
	return err
}

// Abort drops the temporary file.
func (p *Pending) Abort() {
	p.f.Close()
	_ = os.Remove(p.tmp)
}

func appendHeader(b []byte, hdr Header) []byte {
	b = append(b, magic...)
	b = binary.AppendUvarint(b, version)
	b = binary.AppendUvarint(b, uint64(len(hdr.Mark.StoreID)))
	b = append(b, hdr.Mark.StoreID...)
	accts := hdr.accounts()
	b = binary.AppendUvarint(b, uint64(len(accts)))
	for _, a := range accts {
		b = binary.AppendVarint(b, a)
		b = binary.AppendVarint(b, hdr.Mark.Seq(a))
		b = binary.AppendVarint(b, hdr.Events[a])
	}
	return b
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// Read checks a snapshot file and splits it into its header and the
// engine's bytes. A file that is not a snapshot, is damaged or is of
// another version is ErrUnusable; a missing file is os.ErrNotExist.
func Read(path string) (Header, []byte, error) {
	hdr := Header{Mark: segmentd.ChangeMark{Seqs: map[int64]int64{}}, Events: map[int64]int64{}}
	b, err := os.ReadFile(path)
	if err != nil {
		return hdr, nil, err
	}
	bad := func(why string) (Header, []byte, error) {
		return hdr, nil, fmt.Errorf("%w: %s", ErrUnusable, why)
	}
	if len(b) < len(magic)+4 || string(b[:len(magic)]) != magic {
		return bad("not a segmentd snapshot")
	}
	body, tail := b[:len(b)-4], b[len(b)-4:]
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(tail) {
		return bad("checksum mismatch (damaged or truncated)")
	}
	r := bytes.NewReader(body[len(magic):])
	if v, err := binary.ReadUvarint(r); err != nil || v != version {
		return bad(fmt.Sprintf("version %d, want %d", v, version))
	}
	n, err := binary.ReadUvarint(r)
	if err != nil || n > uint64(r.Len()) {
		return bad("malformed header")
	}
	id := make([]byte, n)
	if _, err := io.ReadFull(r, id); err != nil {
		return bad("malformed header")
	}
	hdr.Mark.StoreID = string(id)
	n, err = binary.ReadUvarint(r)
	if err != nil || n > uint64(r.Len()) {
		return bad("malformed header")
	}
	for range n {
		a, err1 := binary.ReadVarint(r)
		change, err2 := binary.ReadVarint(r)
		events, err3 := binary.ReadVarint(r)
		if err1 != nil || err2 != nil || err3 != nil {
			return bad("malformed header")
		}
		hdr.Mark.Seqs[a], hdr.Events[a] = change, events
	}
	return hdr, body[len(body)-r.Len():], nil
}
