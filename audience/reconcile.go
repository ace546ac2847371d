package audience

import (
	"cmp"
	"context"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/segmentd/segmentd"
)

// Reconciliation at start (docs/webhooks.md, "Durability"). A job's
// transitions are made after its store transaction commits, so a kill
// between the two leaves a write whose transitions were never stored. The
// start must then make them again, and only them:
//
//   - An engine snapshot keeps, for each account, the number of the last
//     transition stored when the engine was written (its mark: asked while
//     the account can make no transition, after every transition recorded
//     was stored). So the snapshot's memberships are those the stored
//     transitions up to the mark say, no more and no less.
//   - A start that loads such a snapshot replays what changed after it
//     with recording on, into a buffer, and moves the clock to now the same
//     way. Per segment and contact, the membership the outside world was
//     told is the last stored transition after the mark (the history), or
//     else the snapshot's. A buffered transition is kept when it changes
//     that membership and dropped when it does not (it was stored before
//     the kill); a pair whose stored membership differs from the engine's
//     without any buffered transition (a change the replay saw only net of
//     its reversal) gets one transition to the engine's membership.
//   - What is kept is stored, numbered after the last, before the server
//     serves.
//
// It needs the membership history (every transition is stored there) and
// a snapshot with marks; a start without them loads as before.

// snapshotMarker is the outbox that can mark a snapshot (hooks.Dispatcher).
type snapshotMarker interface {
	SnapshotMark(ctx context.Context, acct int64) (int64, bool)
}

// delivering reports whether this server stores the transitions: an
// outbox that elects one server among several says whether it is this one.
func delivering(o segmentd.Outbox) bool {
	if l, ok := o.(interface{ Leading() bool }); ok {
		return l.Leading()
	}
	return true
}

// snapshotWriter writes the engine for a snapshot, with each account's
// transition mark when the outbox gives them.
func (s *Service) snapshotWriter(ctx context.Context) func(w io.Writer) error {
	m, ok := s.cfg.Outbox.(snapshotMarker)
	if !ok || s.cfg.History == nil {
		return s.members.WriteSnapshot
	}
	mark := func(acct int64) int64 {
		if v, ok := m.SnapshotMark(ctx, acct); ok {
			return v
		}
		return -1
	}
	return func(w io.Writer) error { return s.members.WriteSnapshotMarked(w, mark) }
}

// reconciler buffers the transitions a load from a marked snapshot makes,
// and what the replay changed, until settle keeps the ones not stored.
type reconciler struct {
	marks map[int64]int64 // the snapshot's; an account not in it is newer
	at    time.Time       // the load's time

	mu      sync.Mutex
	notes   map[int64][]segmentd.Transition
	touched map[int64]map[string]bool // contacts written or deleted after the snapshot
	all     map[int64]bool            // every contact deleted after it
	catalog map[int64]bool            // fields or segments changed after it
	// updated is, per contact the replay wrote, its updated_at in the
	// engine before the replay's first write of it (zero: it was new), so
	// that settle tells whether a write after the snapshot changed its
	// fields, and when (writeTimes).
	updated map[int64]map[string]time.Time
}

func newReconciler(marks map[int64]int64, at time.Time) *reconciler {
	return &reconciler{marks: marks, at: at, notes: map[int64][]segmentd.Transition{},
		touched: map[int64]map[string]bool{}, all: map[int64]bool{}, catalog: map[int64]bool{},
		updated: map[int64]map[string]time.Time{}}
}

// sink is the engine's sink while the load replays: it only appends.
func (r *reconciler) sink(acct int64, ts []segmentd.Transition) {
	r.mu.Lock()
	r.notes[acct] = append(r.notes[acct], ts...)
	r.mu.Unlock()
}

// saw notes what a read of the change history brought to the engine.
func (r *reconciler) saw(acct int64, ch *segmentd.AccountChanges) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.touched[acct]
	if t == nil {
		t = map[string]bool{}
		r.touched[acct] = t
	}
	for _, id := range ch.Changed {
		t[id] = true
	}
	for _, id := range ch.Deleted {
		t[id] = true
	}
	r.all[acct] = r.all[acct] || ch.AllDeleted || ch.ResetAt > 0
	r.catalog[acct] = r.catalog[acct] || ch.Catalog
}

// sawWritten notes, before the replay applies a read of the change
// history, the engine's updated_at of the contacts it writes that the
// replay has not written yet; lookup reads them from the engine (a
// contact it does not hold is new). It is called outside r.mu: the
// engine calls sink under its account's lock.
func (r *reconciler) sawWritten(acct int64, ids []string, lookup func([]string) []segmentd.Contact) {
	r.mu.Lock()
	m := r.updated[acct]
	if m == nil {
		m = map[string]time.Time{}
		r.updated[acct] = m
	}
	var fresh []string
	for _, id := range ids {
		if _, ok := m[id]; !ok {
			fresh = append(fresh, id)
		}
	}
	r.mu.Unlock()
	if len(fresh) == 0 {
		return
	}
	found := lookup(fresh)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, id := range fresh {
		m[id] = time.Time{}
	}
	for _, c := range found {
		m[c.ID] = c.UpdatedAt
	}
}

// writeTimes returns, for the contacts of now whose fields a write
// after the snapshot changed (created, or its updated_at moved), the time
// of the last such write: the contact's updated_at now. A write that only
// put a contact on a list or took it off one leaves updated_at as it was
// and has no time in the store: its contacts are not in the answer. r.mu
// is held.
func (r *reconciler) writeTimes(acct int64, now []segmentd.Contact) map[string]time.Time {
	out := map[string]time.Time{}
	before := r.updated[acct]
	for _, c := range now {
		if b, ok := before[c.ID]; ok && (b.IsZero() || !b.Equal(c.UpdatedAt)) && !c.UpdatedAt.IsZero() {
			out[c.ID] = c.UpdatedAt
		}
	}
	return out
}

// startReconcile turns the buffer on after a snapshot was read, when the
// snapshot has marks and this server stores the transitions.
func (s *Service) startReconcile() {
	if !s.reconciling {
		return
	}
	marks := s.members.SnapshotMarks()
	if marks == nil {
		s.log.Warn("the engine snapshot has no transition marks: transitions of writes whose transitions were not stored before the last stop are not made again (docs/webhooks.md)")
		return
	}
	at := s.engineNow()
	s.recon = newReconciler(marks, at)
	s.members.RecordTransitions(s.recon.sink, nil)
}

// settleReconcile keeps, of the buffered transitions, those the store
// does not have, adds those the history holds that the engine no longer
// agrees with, and hands them to the outbox; now is the engine's time.
func (s *Service) settleReconcile(ctx context.Context, now time.Time) error {
	r := s.recon
	accts, err := s.store.Accounts(ctx)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := 0
	for _, a := range accts {
		mark, ok := r.marks[a.ID]
		if !ok {
			mark = 0 // created after the snapshot: every transition is after it
		}
		if mark < 0 {
			continue
		}
		out, err := s.reconcileAccount(ctx, r, a.ID, mark, now)
		if err != nil {
			return err
		}
		if len(out) > 0 {
			s.cfg.Outbox.Record(a.ID, out)
			kept += len(out)
		}
	}
	if kept > 0 {
		s.log.Info("made again the transitions not stored before the last stop", "transitions", kept)
	}
	return s.cfg.Outbox.Flush(ctx)
}

// pairKey names a segment and a contact.
type pairKey struct{ seg, contact string }

// reconcileAccount returns an account's transitions to store; r.mu is
// held.
func (s *Service) reconcileAccount(ctx context.Context, r *reconciler, acct, mark int64, now time.Time) ([]segmentd.Transition, error) {
	stored, err := s.cfg.History.HistoryAfter(ctx, acct, mark)
	if err != nil {
		return nil, err
	}
	last := make(map[pairKey]*segmentd.Transition, len(stored))
	for i := range stored {
		last[pairKey{stored[i].SegmentID, stored[i].ContactID}] = &stored[i]
	}
	// The contacts written after the snapshot: a transition their write
	// caused takes the write's time rather than the load's.
	// Only the contacts of a transition that may be kept are looked up.
	var written []string
	for _, b := range r.notes[acct] {
		if _, ok := r.updated[acct][b.ContactID]; ok && b.Cause == segmentd.CauseContact {
			written = append(written, b.ContactID)
		}
	}
	for k := range last {
		if _, ok := r.updated[acct][k.contact]; ok {
			written = append(written, k.contact)
		}
	}
	wrote := r.writeTimes(acct, s.members.ContactsByIDs(acct, written, now))
	timed := func(t *segmentd.Transition, st *segmentd.Transition) {
		// The load's time is the clock's last note, which may be before
		// or after the write: the write's own time is the true one.
		if w, ok := wrote[t.ContactID]; ok && t.Cause == segmentd.CauseContact && !w.After(now) {
			t.At = w
		}
		if st != nil && t.At.Before(st.At) {
			t.At = st.At // it came after the stored one
		}
	}
	// The buffered transitions that change what the outside world was told.
	state := map[pairKey]bool{}
	var out []segmentd.Transition
	for _, b := range r.notes[acct] {
		k := pairKey{b.SegmentID, b.ContactID}
		told, seen := state[k]
		st := last[k]
		if !seen {
			told = !b.Entered // the snapshot's membership
			if st != nil {
				told = st.Entered
			}
		}
		if b.Entered != told {
			timed(&b, st)
			out = append(out, b)
			told = b.Entered
		}
		state[k] = told
	}
	// The pairs the history changed and the load did not touch: the
	// engine's membership now is the snapshot's, and when the history's
	// last word differs, the writes that undid it were not stored.
	var rest []*segmentd.Transition
	for k, st := range last {
		if _, ok := state[k]; !ok {
			rest = append(rest, st)
		}
	}
	if len(rest) == 0 {
		return out, nil
	}
	segs, err := s.liveSegments(ctx, acct)
	if err != nil {
		return nil, err
	}
	live := make(map[string]bool, len(segs))
	for _, sg := range segs {
		live[sg.ID] = true
	}
	rest = slices.DeleteFunc(rest, func(st *segmentd.Transition) bool { return !live[st.SegmentID] })
	slices.SortFunc(rest, func(a, b *segmentd.Transition) int { return cmp.Compare(a.Seq, b.Seq) })
	ids := make([]string, len(rest))
	for i, st := range rest {
		ids[i] = st.ContactID
	}
	in := s.members.SegmentsOfMany(acct, ids, now)
	emails := map[string]string{}
	for _, c := range s.members.ContactsByIDs(acct, ids, now) {
		emails[c.ID] = c.Email
	}
	for i, st := range rest {
		member := slices.Contains(in[i], st.SegmentID)
		if member == st.Entered {
			continue
		}
		t := segmentd.Transition{AccountID: acct, SegmentID: st.SegmentID, ContactID: st.ContactID, Email: st.Email,
			Entered: member, At: r.at, Cause: r.cause(acct, st.ContactID)}
		if e, ok := emails[st.ContactID]; ok {
			t.Email = e
		}
		timed(&t, st)
		out = append(out, t)
	}
	return out, nil
}

// cause is why a contact's membership changed without the load making a
// transition: its write or deletion, else a definition, else the clock.
func (r *reconciler) cause(acct int64, contact string) segmentd.TransitionCause {
	switch {
	case r.all[acct] || r.touched[acct][contact]:
		return segmentd.CauseContact
	case r.catalog[acct]:
		return segmentd.CauseDefinition
	}
	return segmentd.CauseClock
}
