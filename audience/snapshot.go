package audience

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/snapshot"
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

// SnapshotInfo describes a snapshot written or loaded.
type SnapshotInfo struct {
	Path  string
	Bytes int64
	Mark  segmentd.ChangeMark
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
	var hdr snapshot.Header
	var file *snapshot.Pending
	var blocked time.Duration
	var werr error
	if s.cfg.Shared {
		hdr, file, blocked, err = s.sharedSnapshot(ctx, path)
	} else {
		err = s.onWorker(ctx, func() (func(), error) {
			var err error
			if hdr, err = s.snapshotMarks(ctx); err != nil || s.lastSnap != nil && s.lastSnap.Same(hdr) {
				return nil, err
			}
			return func() {
				t0 := time.Now()
				file, werr = snapshot.Create(path, hdr, s.snapshotWriter(ctx))
				blocked = time.Since(t0)
			}, nil
		})
	}
	if err == nil {
		err = werr
	}
	if err != nil {
		if file != nil {
			file.Abort()
		}
		return info, false, err
	}
	if file == nil {
		return info, false, nil // nothing changed since the last snapshot
	}
	if err := file.Commit(); err != nil {
		return info, false, err
	}
	s.lastSnap = &hdr
	// The deletions and attachments up to the mark are in the file now. In
	// a shared store other servers' snapshots may still need them.
	if !s.cfg.Shared {
		if err := s.store.ForgetChanges(ctx, hdr.Mark); err != nil {
			s.log.Warn("forgetting changes a snapshot holds", "err", err)
		}
	}
	return SnapshotInfo{Path: path, Bytes: file.Size(), Mark: hdr.Mark, Took: time.Since(start), Blocked: blocked}, true, nil
}

// sharedSnapshot writes the engine of a server that follows a shared
// store: its marks are the points the engine stands at, held (every
// account's catch-up waits) while the engine is written out. It returns no
// file when nothing moved since the last snapshot.
func (s *Service) sharedSnapshot(ctx context.Context, path string) (snapshot.Header, *snapshot.Pending, time.Duration, error) {
	accts, err := s.store.Accounts(ctx)
	if err != nil {
		return snapshot.Header{}, nil, 0, err
	}
	hdr := snapshot.Header{Events: map[int64]int64{}}
	if hdr.Mark, err = s.store.ChangeMark(ctx); err != nil {
		return hdr, nil, 0, err
	}
	hdr.Mark.Seqs = map[int64]int64{}
	ids := make([]int64, len(accts))
	for i, a := range accts {
		ids[i] = a.ID
	}
	slices.Sort(ids)
	for _, id := range ids { // in order, so that two snapshots never deadlock
		p := s.follow.get(id)
		p.mu.Lock()
		defer p.mu.Unlock()
		if p.known {
			hdr.Mark.Seqs[id], hdr.Events[id] = p.change, p.event
		}
	}
	if s.lastSnap != nil && s.lastSnap.Same(hdr) {
		return hdr, nil, 0, nil
	}
	t0 := time.Now()
	file, err := snapshot.Create(path, hdr, s.snapshotWriter(ctx))
	return hdr, file, time.Since(t0), err
}

// snapshotMarks reads the store's change mark and every account's last
// event sequence number.
func (s *Service) snapshotMarks(ctx context.Context) (snapshot.Header, error) {
	hdr := snapshot.Header{Events: make(map[int64]int64)}
	var err error
	if hdr.Mark, err = s.store.ChangeMark(ctx); err != nil {
		return hdr, err
	}
	accts, err := s.store.Accounts(ctx)
	if err != nil {
		return hdr, err
	}
	for _, a := range accts {
		hdr.Events[a.ID] = 0
		if s.cfg.Events != nil {
			if hdr.Events[a.ID], err = s.cfg.Events.LastEventSeq(ctx, a.ID); err != nil {
				return hdr, err
			}
		}
	}
	return hdr, nil
}

// loadSnapshot loads the engine from the snapshot file and replays the
// store's changes after its mark. It reports false (having logged why and
// removed the file, and left the engine empty) when the snapshot cannot be
// used; errors are the store's.
func (s *Service) loadSnapshot(ctx context.Context) (SnapshotInfo, bool, error) {
	start := time.Now()
	path := s.cfg.SnapshotPath
	info := SnapshotInfo{Path: path}
	hdr, payload, err := snapshot.Read(path)
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
	info.Bytes, info.Mark = int64(len(payload)), hdr.Mark
	mark, err := s.store.ChangeMark(ctx)
	if err != nil {
		return info, false, err
	}
	if mark.StoreID != hdr.Mark.StoreID {
		return unusable(fmt.Errorf("%w: taken from store %s; this store is %s", snapshot.ErrUnusable, hdr.Mark.StoreID, mark.StoreID))
	}
	accts, err := s.store.Accounts(ctx)
	if err != nil {
		return info, false, err
	}
	live := make(map[int64]bool, len(accts))
	for _, a := range accts {
		live[a.ID] = true
	}
	for a, seq := range hdr.Mark.Seqs {
		// A deleted account's numbers may be gone with it; it is dropped
		// from the engine below.
		if live[a] && mark.Seq(a) < seq {
			return unusable(fmt.Errorf("%w: account %d was at change %d; the store is at %d",
				snapshot.ErrUnusable, a, seq, mark.Seq(a)))
		}
	}
	if s.cfg.Events != nil {
		for _, a := range accts {
			last, err := s.cfg.Events.LastEventSeq(ctx, a.ID)
			if err != nil {
				return info, false, err
			}
			// Event sequence numbers restart when all of an account's
			// events are pruned: then the snapshot's are meaningless.
			if last < hdr.Events[a.ID] {
				return unusable(fmt.Errorf("%w: account %d has events up to %d, the snapshot up to %d",
					snapshot.ErrUnusable, a.ID, last, hdr.Events[a.ID]))
			}
		}
	}
	if err := s.members.ReadSnapshot(bytes.NewReader(payload)); err != nil {
		return unusable(err)
	}
	s.startReconcile()
	for a := range hdr.Mark.Seqs {
		if !live[a] {
			s.members.DropAccount(a) // deleted since the snapshot (Store.DeleteAccount)
		}
	}
	now := s.engineNow()
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
func (s *Service) replay(ctx context.Context, acct int64, hdr snapshot.Header, now time.Time) (SnapshotReplay, error) {
	var n SnapshotReplay
	if err := s.reloadCatalog(ctx, acct, now); err != nil {
		return n, err
	}
	change, event, err := s.catchUp(ctx, acct, hdr.Mark.Seq(acct), hdr.Events[acct], now, &n)
	if err != nil {
		return n, err
	}
	s.follow.set(acct, change, event)
	// The snapshot may hold events the store has pruned since.
	if !s.prunedBefore.IsZero() {
		s.members.PruneEvents(acct, s.prunedBefore, now)
	}
	return n, nil
}
