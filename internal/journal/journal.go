// Package journal is an append-only log of records kept in numbered
// segment files of one directory (docs/jobs.md). segmentd writes the
// contact jobs it accepts there before it answers them, so that a job it
// acknowledged survives the process being killed.
//
// Appends are group-committed: records appended while another append is
// being written and synced go to the file together in the next write, and
// share its fsync. A record holds its segment until the caller releases
// it; a segment no longer written to that holds no record is deleted, so
// the directory keeps only what is still needed. Each record is framed by
// its length and a CRC-32C, so reading stops cleanly at a tail torn by a
// crash.
//
// It knows nothing of what a record holds, and imports only the standard
// library.
package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/segmentd/segmentd/internal/fsync"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// MaxRecord bounds a record's size: a length read from a damaged file
// never makes a reader allocate more. (segmentd's largest record, an
// upsert of 30,000 contacts, is a few MB.)
const MaxRecord = 64 << 20

// DefaultSegmentBytes is the size past which appends start a new segment.
const DefaultSegmentBytes = 64 << 20

const (
	suffix    = ".log"
	frameHead = 8 // uint32 length, uint32 CRC-32C of the payload
	// copyMax is the size from which a record is written from the
	// caller's slice rather than copied into its batch's buffer: a second
	// write costs less than copying it.
	copyMax = 64 << 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Pos locates a record: its segment, offset and payload length.
type Pos struct {
	Seg uint64
	Off int64
	Len int
}

// Record is a record read back at Open.
type Record struct {
	Pos  Pos
	Data []byte
}

// Options tunes a Log.
type Options struct {
	SegmentBytes int64 // default DefaultSegmentBytes
	// NoSync skips fsync: records reach the operating system, which keeps
	// them when the process is killed but not when the machine stops.
	NoSync bool
}

// Log is an open journal directory. Its methods are safe for concurrent use.
type Log struct {
	dir  string
	opts Options

	mu      sync.Mutex
	cond    *sync.Cond
	segs    map[uint64]*segment
	cur     *segment   // the segment appends go to
	queue   []*pending // appended, not yet taken by a writer
	writing bool       // a goroutine is writing a batch
	err     error      // a failed write: the log takes no more appends
	closed  bool
	maxSeg  uint64
}

type segment struct {
	seq   uint64
	f     *os.File
	size  int64
	holds int
}

// pending is an Append waiting for its write.
type pending struct {
	data []byte
	sync bool
	pos  Pos
	done bool
	err  error
}

// Open opens (creating it if need be) the journal in dir and reads back
// every record of its segments, in the order they were appended. Appends
// go to a new segment. The records read hold nothing: the caller Holds
// those it still needs, then calls Trim.
func Open(dir string, opts Options) (*Log, []Record, error) {
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, err
	}
	l := &Log{dir: dir, opts: opts, segs: map[uint64]*segment{}}
	l.cond = sync.NewCond(&l.mu)
	recs, err := l.readSegments()
	if err != nil {
		l.closeFiles()
		return nil, nil, err
	}
	if err := l.rotate(); err != nil {
		l.closeFiles()
		return nil, nil, err
	}
	return l, recs, nil
}

// ReadDir reads back the records of the journal in dir without opening
// it for appends (a missing directory holds none).
func ReadDir(dir string) ([]Record, error) {
	l := &Log{dir: dir, segs: map[uint64]*segment{}}
	defer l.closeFiles()
	recs, err := l.readSegments()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return recs, err
}

// readSegments opens the directory's segments and reads their records.
func (l *Log) readSegments() ([]Record, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, err
	}
	var seqs []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), suffix)
		if !ok || e.IsDir() {
			continue
		}
		seq, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			continue
		}
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	var recs []Record
	for _, seq := range seqs {
		f, err := os.Open(l.path(seq))
		if err != nil {
			return nil, err
		}
		s := &segment{seq: seq, f: f}
		l.segs[seq] = s
		l.maxSeg = seq
		if recs, err = readSegment(s, recs); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

func (l *Log) path(seq uint64) string {
	return filepath.Join(l.dir, fmt.Sprintf("%016d%s", seq, suffix))
}

// readSegment appends s's records to recs. It stops at the first record
// that is cut short or fails its checksum: the tail a crash left behind,
// which no caller was told had been written (a record is acknowledged only
// once it is whole in the file).
func readSegment(s *segment, recs []Record) ([]Record, error) {
	st, err := s.f.Stat()
	if err != nil {
		return recs, err
	}
	s.size = st.Size()
	r := io.NewSectionReader(s.f, 0, s.size)
	var head [frameHead]byte
	for off := int64(0); ; {
		if _, err := io.ReadFull(r, head[:]); err != nil {
			return recs, nil
		}
		n := binary.LittleEndian.Uint32(head[:4])
		if n > MaxRecord || off+frameHead+int64(n) > s.size {
			return recs, nil
		}
		data := make([]byte, n)
		if _, err := io.ReadFull(r, data); err != nil {
			return recs, nil
		}
		if crc32.Checksum(data, castagnoli) != binary.LittleEndian.Uint32(head[4:]) {
			return recs, nil
		}
		recs = append(recs, Record{Pos: Pos{Seg: s.seq, Off: off, Len: int(n)}, Data: data})
		off += frameHead + int64(n)
	}
}

// rotate starts a new segment for appends, syncing and closing the
// current one (deleted if it holds nothing). Called with l.mu held or
// before the Log is shared.
func (l *Log) rotate() error {
	seq := l.maxSeg + 1
	f, err := os.OpenFile(l.path(seq), os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	if !l.opts.NoSync {
		// The new file's name must outlive a machine stop too.
		if err := fsync.Dir(l.dir); err != nil {
			f.Close()
			os.Remove(l.path(seq))
			return err
		}
	}
	old := l.cur
	l.cur = &segment{seq: seq, f: f}
	l.segs[seq] = l.cur
	l.maxSeg = seq
	if old != nil {
		l.dropIfIdle(old)
	}
	return nil
}

// Append adds a record and returns once it is written: synced to disk
// when sync is set, else handed to the operating system (which keeps it
// when the process is killed). The record holds its segment until
// Release. Appends made while another is written share the next write
// and its fsync.
func (l *Log) Append(data []byte, sync bool) (Pos, error) {
	if len(data) > MaxRecord {
		return Pos{}, fmt.Errorf("journal: a record of %d bytes is over the %d-byte limit", len(data), MaxRecord)
	}
	a := &pending{data: data, sync: sync && !l.opts.NoSync}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return Pos{}, errors.New("journal: closed")
	}
	if l.err != nil {
		return Pos{}, l.err
	}
	l.queue = append(l.queue, a)
	for !a.done {
		if l.closed {
			return Pos{}, errors.New("journal: closed")
		}
		if l.writing {
			l.cond.Wait()
			continue
		}
		l.writeBatch()
	}
	return a.pos, a.err
}

// writeBatch writes every queued append to the current segment in one
// write, syncs it if any of them asked, and rotates past the segment size.
// It is called with l.mu held and releases it while it writes.
func (l *Log) writeBatch() {
	batch := l.queue
	l.queue = nil
	l.writing = true
	s := l.cur
	off := s.size
	// The batch's frames, in order, as the pieces written one after the
	// other: small records copied together behind their heads, a large
	// one (an upsert's accept record, megabytes) written from the
	// caller's slice, not copied.
	var pieces [][]byte
	var buf []byte
	size := int64(0)
	sync := false
	for _, a := range batch {
		a.pos = Pos{Seg: s.seq, Off: off + size, Len: len(a.data)}
		buf = binary.LittleEndian.AppendUint32(buf, uint32(len(a.data)))
		buf = binary.LittleEndian.AppendUint32(buf, crc32.Checksum(a.data, castagnoli))
		if len(a.data) < copyMax {
			buf = append(buf, a.data...)
		} else {
			pieces = append(pieces, buf, a.data)
			buf = nil
		}
		size += frameHead + int64(len(a.data))
		sync = sync || a.sync
	}
	if len(buf) > 0 {
		pieces = append(pieces, buf)
	}
	l.mu.Unlock()
	var err error
	for at := off; err == nil && len(pieces) > 0; pieces = pieces[1:] {
		_, err = s.f.WriteAt(pieces[0], at)
		at += int64(len(pieces[0]))
	}
	if err == nil && sync {
		err = s.f.Sync()
	}
	l.mu.Lock()
	l.writing = false
	if err != nil {
		// What was written is not known: nothing more is appended, and
		// the records of the batch count as lost.
		err = fmt.Errorf("journal: writing %s: %w", s.f.Name(), err)
		l.err = err
	} else {
		s.size += size
		s.holds += len(batch)
		if s.size >= l.opts.SegmentBytes {
			if rerr := l.rotate(); rerr != nil {
				l.err = fmt.Errorf("journal: starting a segment: %w", rerr)
			}
		}
	}
	for _, a := range batch {
		a.done, a.err = true, err
	}
	l.cond.Broadcast()
}

// Read returns the payload of the record at p, checking it against its
// checksum.
func (l *Log) Read(p Pos) ([]byte, error) {
	l.mu.Lock()
	s := l.segs[p.Seg]
	l.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("journal: segment %d is gone", p.Seg)
	}
	buf := make([]byte, frameHead+p.Len)
	if _, err := s.f.ReadAt(buf, p.Off); err != nil {
		return nil, fmt.Errorf("journal: reading %s at %d: %w", s.f.Name(), p.Off, err)
	}
	n := binary.LittleEndian.Uint32(buf[:4])
	data := buf[frameHead:]
	if int(n) != p.Len || crc32.Checksum(data, castagnoli) != binary.LittleEndian.Uint32(buf[4:frameHead]) {
		return nil, fmt.Errorf("journal: the record in %s at %d is damaged", s.f.Name(), p.Off)
	}
	return data, nil
}

// Hold makes a record read at Open keep its segment until Release.
func (l *Log) Hold(p Pos) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if s := l.segs[p.Seg]; s != nil {
		s.holds++
	}
}

// Release drops a record's hold on its segment.
func (l *Log) Release(p Pos) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.segs[p.Seg]
	if s == nil {
		return
	}
	s.holds--
	l.dropIfIdle(s)
}

// Trim deletes the segments read at Open that no record holds.
func (l *Log) Trim() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, s := range l.segs {
		l.dropIfIdle(s)
	}
}

// dropIfIdle deletes s if appends have moved past it and nothing holds it.
func (l *Log) dropIfIdle(s *segment) {
	if s == l.cur || s.holds > 0 {
		return
	}
	delete(l.segs, s.seq)
	s.f.Close()
	os.Remove(l.path(s.seq))
}

// Segments returns how many segment files the journal has now.
func (l *Log) Segments() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.segs)
}

// Close waits for the write in progress and closes the files. The
// records stay, for the next Open.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.writing {
		l.cond.Wait()
	}
	if l.closed {
		return nil
	}
	l.closed = true
	var err error
	if l.cur != nil && l.err == nil && !l.opts.NoSync {
		err = l.cur.f.Sync()
	}
	l.closeFiles()
	return err
}

func (l *Log) closeFiles() {
	for _, s := range l.segs {
		s.f.Close()
	}
}
