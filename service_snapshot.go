package segmentd

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"time"
)

// This file keeps the membership engine's snapshot (docs/snapshot.md): a
// file holding the engine's state and the store's change mark it is exact
// as of, so that a start loads it and replays only what changed after the
// mark instead of rebuilding the engine from every stored row.
//
// A snapshot is taken on the job worker: its store stage reads the marks
// after every earlier write has committed and before any later one does,
// and its engine stage writes the engine after every earlier write has
// reached the engine and before any later one does. So the file holds
// exactly the writes up to the marks. (List deletes and field changes reach
// the engine outside the worker; a start reloads lists and fields from the
// store, so they need no such care.)

// snapshotMagic starts a snapshot file; snapshotVersion is its layout.
const (
	snapshotMagic   = "segmentd snapshot\n"
	snapshotVersion = 1
)

// SnapshotInfo describes a snapshot written or loaded.
type SnapshotInfo struct {
	Path  string
	Bytes int64
	Mark  ChangeMark
	// Took is the whole write (or load, with the replay); Blocked is how
	// long engine updates waited while it was written.
	Took, Blocked time.Duration
	// Replayed counts what a load replayed after the mark.
	Replayed SnapshotReplay
}

// SnapshotReplay counts the changes a load replayed.
type SnapshotReplay struct {
	Contacts, Deleted, Events int
}

// snapshotHeader is what the file says about the store.
type snapshotHeader struct {
	mark   ChangeMark
	events map[int64]int64 // account → last event sequence number
}

// WriteSnapshot writes the engine's snapshot to Config.SnapshotPath
// (atomically: a temporary file, fsync, rename) unless nothing was written
// to the store since the last snapshot this Service wrote or loaded
// (wrote is then false). Engine updates wait while the engine is written
// out; requests that only read go on.
func (s *Service) WriteSnapshot(ctx context.Context) (info SnapshotInfo, wrote bool, err error) {
	path := s.cfg.SnapshotPath
	if s.members == nil || path == "" {
		return info, false, errors.New("segmentd: snapshots need Config.Membership and Config.SnapshotPath")
	}
	s.snapMu.Lock()
	defer s.snapMu.Unlock()
	start := time.Now()
	tmp := path + ".tmp"
	var hdr snapshotHeader
	var f *os.File
	var n int64
	var blocked time.Duration
	var skip bool
	var werr error
	err = s.onWorker(ctx, func() (func(), error) {
		var err error
		if hdr, err = s.snapshotMarks(ctx); err != nil {
			return nil, err
		}
		if skip = s.lastSnap != nil && s.lastSnap.same(hdr); skip {
			return nil, nil
		}
		return func() {
			t0 := time.Now()
			f, n, werr = writeSnapshotFile(tmp, hdr, s.members)
			blocked = time.Since(t0)
		}, nil
	})
	if err == nil {
		err = werr
	}
	if err == nil && f != nil {
		err = f.Sync()
	}
	if f != nil {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err == nil && !skip {
		err = os.Rename(tmp, path)
		if err == nil {
			err = syncDir(filepath.Dir(path))
		}
	}
	if err != nil {
		_ = os.Remove(tmp)
		return info, false, err
	}
	if skip {
		return info, false, nil
	}
	s.lastSnap = &hdr
	// The deletions and attachments up to the mark are in the file now.
	if err := s.store.ForgetChanges(ctx, hdr.mark.Seq); err != nil {
		s.log.Warn("forgetting changes a snapshot holds", "err", err)
	}
	return SnapshotInfo{Path: path, Bytes: n, Mark: hdr.mark, Took: time.Since(start), Blocked: blocked}, true, nil
}

// snapshotMarks reads the store's change mark and every account's last
// event sequence number.
func (s *Service) snapshotMarks(ctx context.Context) (snapshotHeader, error) {
	hdr := snapshotHeader{events: make(map[int64]int64)}
	var err error
	if hdr.mark, err = s.store.ChangeMark(ctx); err != nil {
		return hdr, err
	}
	accts, err := s.store.Accounts(ctx)
	if err != nil {
		return hdr, err
	}
	for _, a := range accts {
		hdr.events[a.ID] = 0
		if s.cfg.Events != nil {
			if hdr.events[a.ID], err = s.cfg.Events.LastEventSeq(ctx, a.ID); err != nil {
				return hdr, err
			}
		}
	}
	return hdr, nil
}

func (h *snapshotHeader) same(o snapshotHeader) bool {
	if h.mark != o.mark || len(h.events) != len(o.events) {
		return false
	}
	for a, seq := range h.events {
		if o.events[a] != seq {
			return false
		}
	}
	return true
}

// writeSnapshotFile writes the header, the engine and a CRC-32C of both
// to a new file at path, and returns it open (not yet synced) with its size.
func writeSnapshotFile(path string, hdr snapshotHeader, m Membership) (*os.File, int64, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, 0, err
	}
	sum := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	cw := &countWriter{w: io.MultiWriter(f, sum)}
	bw := bufio.NewWriterSize(cw, 1<<20)
	var b []byte
	b = append(b, snapshotMagic...)
	b = binary.AppendUvarint(b, snapshotVersion)
	b = appendString(b, hdr.mark.StoreID)
	b = binary.AppendVarint(b, hdr.mark.Seq)
	b = binary.AppendUvarint(b, uint64(len(hdr.events)))
	for a, seq := range hdr.events {
		b = binary.AppendVarint(b, a)
		b = binary.AppendVarint(b, seq)
	}
	_, err = bw.Write(b)
	if err == nil {
		err = m.WriteSnapshot(bw)
	}
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		_, err = f.Write(binary.LittleEndian.AppendUint32(nil, sum.Sum32()))
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, cw.n + 4, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
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

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// errSnapshotUnusable marks a snapshot file that is damaged, from another
// store, or older than what the store can replay.
var errSnapshotUnusable = errors.New("unusable snapshot")

// readSnapshotFile checks a snapshot file and splits it into its header
// and the engine's part.
func readSnapshotFile(path string) (snapshotHeader, []byte, error) {
	hdr := snapshotHeader{events: make(map[int64]int64)}
	b, err := os.ReadFile(path)
	if err != nil {
		return hdr, nil, err
	}
	bad := func(why string) (snapshotHeader, []byte, error) {
		return hdr, nil, fmt.Errorf("%w: %s", errSnapshotUnusable, why)
	}
	if len(b) < len(snapshotMagic)+4 || string(b[:len(snapshotMagic)]) != snapshotMagic {
		return bad("not a segmentd snapshot")
	}
	body, tail := b[:len(b)-4], b[len(b)-4:]
	if crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)) != binary.LittleEndian.Uint32(tail) {
		return bad("checksum mismatch (damaged or truncated)")
	}
	r := bytes.NewReader(body[len(snapshotMagic):])
	if v, err := binary.ReadUvarint(r); err != nil || v != snapshotVersion {
		return bad(fmt.Sprintf("version %d, want %d", v, snapshotVersion))
	}
	n, err := binary.ReadUvarint(r)
	if err != nil || n > uint64(r.Len()) {
		return bad("malformed header")
	}
	id := make([]byte, n)
	if _, err := io.ReadFull(r, id); err != nil {
		return bad("malformed header")
	}
	hdr.mark.StoreID = string(id)
	hdr.mark.Seq, err = binary.ReadVarint(r)
	if err != nil {
		return bad("malformed header")
	}
	n, err = binary.ReadUvarint(r)
	if err != nil || n > uint64(r.Len()) {
		return bad("malformed header")
	}
	for range n {
		a, err1 := binary.ReadVarint(r)
		seq, err2 := binary.ReadVarint(r)
		if err1 != nil || err2 != nil {
			return bad("malformed header")
		}
		hdr.events[a] = seq
	}
	return hdr, body[len(body)-r.Len():], nil
}

// loadSnapshot loads the engine from the snapshot file and replays the
// store's changes after its mark. It reports false (having logged why and
// removed the file, and left the engine empty) when the snapshot cannot be
// used; errors are the store's.
func (s *Service) loadSnapshot(ctx context.Context) (SnapshotInfo, bool, error) {
	start := time.Now()
	path := s.cfg.SnapshotPath
	info := SnapshotInfo{Path: path}
	hdr, payload, err := readSnapshotFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return info, false, nil
	}
	unusable := func(err error) (SnapshotInfo, bool, error) {
		s.log.Warn("engine snapshot not used; rebuilding from the store", "path", path, "err", err)
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			s.log.Warn("removing the unusable snapshot", "path", path, "err", err)
		}
		return info, false, nil
	}
	if err != nil {
		return unusable(err)
	}
	info.Bytes, info.Mark = int64(len(payload)), hdr.mark
	mark, err := s.store.ChangeMark(ctx)
	if err != nil {
		return info, false, err
	}
	if mark.StoreID != hdr.mark.StoreID || mark.Seq < hdr.mark.Seq {
		return unusable(fmt.Errorf("%w: taken from store %s at change %d; this store is %s at change %d",
			errSnapshotUnusable, hdr.mark.StoreID, hdr.mark.Seq, mark.StoreID, mark.Seq))
	}
	accts, err := s.store.Accounts(ctx)
	if err != nil {
		return info, false, err
	}
	if s.cfg.Events != nil {
		for _, a := range accts {
			last, err := s.cfg.Events.LastEventSeq(ctx, a.ID)
			if err != nil {
				return info, false, err
			}
			// Event sequence numbers restart when all of an account's
			// events are pruned: then the snapshot's are meaningless.
			if last < hdr.events[a.ID] {
				return unusable(fmt.Errorf("%w: account %d has events up to %d, the snapshot up to %d",
					errSnapshotUnusable, a.ID, last, hdr.events[a.ID]))
			}
		}
	}
	if err := s.members.ReadSnapshot(bytes.NewReader(payload)); err != nil {
		return unusable(err)
	}
	now := s.clock.Now()
	for _, a := range accts {
		n, err := s.replay(ctx, a.ID, hdr, now)
		if err != nil {
			return info, false, err
		}
		info.Replayed.Contacts += n.Contacts
		info.Replayed.Deleted += n.Deleted
		info.Replayed.Events += n.Events
	}
	s.lastSnap = &hdr
	info.Took = time.Since(start)
	return info, true, nil
}

// replay brings one account of a just-read snapshot up to date: fields and
// segments are reloaded (segments adopt the members the snapshot saved for
// them where those still hold), then what changed after the snapshot's marks
// goes through the engine's usual paths, re-checking every segment.
func (s *Service) replay(ctx context.Context, acct int64, hdr snapshotHeader, now time.Time) (SnapshotReplay, error) {
	var n SnapshotReplay
	if err := s.fieldsChanged(ctx, acct); err != nil {
		return n, err
	}
	if err := s.loadSegments(ctx, acct, now); err != nil {
		return n, err
	}
	ch, err := s.store.ContactChanges(ctx, acct, hdr.mark.Seq)
	if err != nil {
		return n, err
	}
	if ch.AllDeleted {
		s.members.DeleteAllContacts(acct, now)
	}
	s.members.DeleteContacts(acct, ch.Deleted, now)
	for _, l := range ch.DeletedLists {
		s.members.DeleteList(acct, l, now)
	}
	if err := s.contactsChanged(ctx, acct, ch.Changed); err != nil {
		return n, err
	}
	n.Contacts, n.Deleted = len(ch.Changed), len(ch.Deleted)
	if s.cfg.Events == nil {
		return n, nil
	}
	evSeq := hdr.events[acct]
	attached, err := s.cfg.Events.AttachedEvents(ctx, acct, hdr.mark.Seq, evSeq)
	if err != nil {
		return n, err
	}
	s.members.AddEvents(acct, attached, now)
	n.Events = len(attached)
	err = loadPages(ctx, evSeq, func(ctx context.Context, after int64) ([]Event, int64, bool, error) {
		const page = 50_000
		evs, last, err := s.cfg.Events.ScanEvents(ctx, acct, after, page)
		return evs, last, len(evs) < page, err
	}, func(evs []Event) {
		s.members.AddEvents(acct, evs, now)
		n.Events += len(evs)
	})
	if err != nil {
		return n, err
	}
	// The snapshot may hold events the store has pruned since.
	if !s.prunedBefore.IsZero() {
		s.members.PruneEvents(acct, s.prunedBefore, now)
	}
	return n, nil
}
