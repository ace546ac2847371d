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
	marks map[int64]int64 // the snapshot's; an account not in it is newer; nil: no marks
	at    time.Time       // the load's time
	clock map[int64]int   // per account, the buffered transitions made before the clock moved to now

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

// clockMoves notes where, in each account's buffer, the transitions of
// the clock's move to now begin.
func (r *reconciler) clockMoves() {
	r.mu.Lock()
	r.clock = make(map[int64]int, len(r.notes))
	for a, ns := range r.notes {
		r.clock[a] = len(ns)
	}
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
		s.log.Warn("the engine snapshot has no transition marks: transitions of writes whose transitions were not stored before the last stop are made again only for accounts whose history has no gap (docs/webhooks.md)")
		return
	}
	at := s.engineNow()
	s.recon = newReconciler(marks, at)
	s.members.RecordTransitions(s.recon.sink, nil)
}

// settleReconcile keeps, of the buffered transitions, those the store
// does not have, adds those the history holds that the engine no longer
// agrees with, and hands them to the outbox; now is the engine's time.
// It returns the accounts whose history has a gap, for their baseline.
func (s *Service) settleReconcile(ctx context.Context, now time.Time) (gaps []int64, err error) {
	r := s.recon
	accts, err := s.store.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	kept := 0
	for _, a := range accts {
		mark, ok := r.marks[a.ID]
		switch {
		case r.marks == nil:
			mark = -1
		case !ok:
			mark = 0 // created after the snapshot: every transition is after it
		}
		gap, err := s.cfg.History.HistoryGap(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		if gap {
			gaps = append(gaps, a.ID)
		}
		var out []segmentd.Transition
		if mark >= 0 {
			out, err = s.reconcileAccount(ctx, r, a.ID, mark, now)
		} else {
			out, err = s.reconcileUnmarked(ctx, r, a.ID, gap, now)
		}
		if err != nil {
			return nil, err
		}
		if len(out) > 0 {
			s.cfg.Outbox.Record(a.ID, out)
			kept += len(out)
		}
	}
	if kept > 0 {
		s.log.Info("made again the transitions not stored before the last stop", "transitions", kept)
	}
	return gaps, s.cfg.Outbox.Flush(ctx)
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

// reconcileUnmarked returns the transitions to store of an account the
// snapshot has no mark of (or of a start without a snapshot): when its
// history has no gap, those that bring the history's last word to the
// engine's membership (settle); otherwise only what the clock's move made,
// as a start without reconciliation stores, and the window's transitions
// are lost (docs/webhooks.md, "What it does not do"). r.mu is held.
func (s *Service) reconcileUnmarked(ctx context.Context, r *reconciler, acct int64, gap bool, now time.Time) ([]segmentd.Transition, error) {
	notes := r.notes[acct]
	if gap {
		return notes[min(r.clock[acct], len(notes)):], nil
	}
	v, err := s.readHistoryView(ctx, acct, r.at, now)
	if err != nil {
		return nil, err
	}
	made := make(remade, len(notes))
	for _, t := range notes {
		made[pairKey{t.SegmentID, t.ContactID}] = t
	}
	return v.settle(made), nil
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

// Reconciliation from the history alone (docs/webhooks.md, "A start
// without a marked snapshot"). The pruning keeps every segment and
// contact's last entry, and an account whose history has no gap
// (HistoryStore.HistoryGap) has every transition its engine made stored:
// so its history's last transition per pair is what the receivers were
// last told (a member iff it is an entry). Where the engine's membership
// now differs from it, one transition to the engine's membership makes it
// good. A start without marks and a takeover both use it.

// remade is what the engine made of each pair since the history's view
// was read, or since the engine was loaded: the last transition made (its
// time, cause and email are kept).
type remade map[pairKey]segmentd.Transition

// historyView is what settle compares with what the engine made since:
// per live segment, the contacts the history says are members, and the
// transitions that bring them to the engine's members when it was read.
type historyView struct {
	index map[string]int                   // the live segments' positions in told
	told  []map[string]segmentd.Transition // per live segment: its last entries
	fixed []segmentd.Transition            // to the engine's membership when read
}

// readHistoryView reads an account's view at the engine's time now: its
// live segments, for each the last entries the history keeps
// (HistoryLastEntries, one read per segment, linear in the pairs whose
// last transition is an entry) and the engine's members. A pair whose
// membership differs gets a transition at the time at, caused as
// remadeCause says. It reads the engine: never call it while the engine
// waits on the caller (the standby's lock).
func (s *Service) readHistoryView(ctx context.Context, acct int64, at, now time.Time) (*historyView, error) {
	segs, err := s.liveSegments(ctx, acct)
	if err != nil {
		return nil, err
	}
	v := &historyView{index: make(map[string]int, len(segs)), told: make([]map[string]segmentd.Transition, len(segs))}
	for i, sg := range segs {
		ts, err := s.cfg.History.HistoryLastEntries(ctx, acct, sg.ID)
		if err != nil {
			return nil, err
		}
		told := make(map[string]segmentd.Transition, len(ts))
		for _, t := range ts {
			told[t.ContactID] = t
		}
		v.index[sg.ID], v.told[i] = i, told
		members := s.members.Members(acct, sg.ID, -1, now)
		in := make(map[string]bool, len(members))
		var ids []string // the contacts whose membership differs
		for _, id := range members {
			in[id] = true
			if _, ok := told[id]; !ok {
				ids = append(ids, id)
			}
		}
		for id := range told {
			if !in[id] {
				ids = append(ids, id)
			}
		}
		if len(ids) == 0 {
			continue
		}
		contacts := map[string]*segmentd.Contact{}
		cs := s.members.ContactsByIDs(acct, ids, now)
		for j := range cs {
			contacts[cs[j].ID] = &cs[j]
		}
		for _, id := range ids {
			last := told[id]
			t := segmentd.Transition{AccountID: acct, SegmentID: sg.ID, ContactID: id, Email: last.Email, Entered: in[id], At: at,
				Cause: remadeCause(contacts[id], &sg, last.At)}
			if c := contacts[id]; c != nil {
				t.Email = c.Email
			}
			v.fixed = append(v.fixed, t)
		}
	}
	return v, nil
}

// settle returns the transitions that bring what the history says the
// receivers were told to the engine's membership: for a pair the engine
// changed since (made), its last transition when that differs from the
// history; for any other, the one the view fixed. Live segments only.
func (v *historyView) settle(made remade) []segmentd.Transition {
	var out []segmentd.Transition
	add := func(t segmentd.Transition, last segmentd.Transition, was bool) {
		if was && t.At.Before(last.At) {
			t.At = last.At // it came after the stored one
		}
		out = append(out, t)
	}
	for _, t := range v.fixed {
		if _, ok := made[pairKey{t.SegmentID, t.ContactID}]; !ok {
			last, was := v.told[v.index[t.SegmentID]][t.ContactID]
			add(t, last, was)
		}
	}
	for k, t := range made {
		i, live := v.index[k.seg]
		if !live {
			continue
		}
		if last, was := v.told[i][k.contact]; t.Entered != was {
			add(t, last, was)
		}
	}
	slices.SortFunc(out, func(a, b segmentd.Transition) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.SegmentID, b.SegmentID), cmp.Compare(a.ContactID, b.ContactID))
	})
	return out
}

// remadeCause is why a contact's membership of a segment changed since
// the receivers were last told of it (at since; zero when never) without
// a transition made that says: its deletion or its write when the
// contact is gone or was written after since (and after the segment's
// last change), else the segment's change when that came after since,
// else the clock. (A Constant Contact segment has no time of change: its
// are caused by contacts or the clock.)
func remadeCause(c *segmentd.Contact, seg *segmentd.Segment, since time.Time) segmentd.TransitionCause {
	switch {
	case c == nil:
		return segmentd.CauseContact
	case c.UpdatedAt.After(since) && !seg.UpdatedAt.After(c.UpdatedAt):
		return segmentd.CauseContact
	case seg.UpdatedAt.After(since):
		return segmentd.CauseDefinition
	}
	return segmentd.CauseClock
}

// The baseline (docs/webhooks.md, "The baseline"). An account whose
// history has a gap is made gap-free at a moment when what the stored
// transitions say is what its engine holds: after a delivering start's
// reconciliation stored its transitions, and at a takeover, beside what
// it stores. One baseline row per pair whose history's last word differs
// from the engine's membership (a member without a kept entry, a kept
// entry of a contact that is no member) makes the history say what the
// engine holds; then the gap is cleared. The rows go through the outbox
// like transitions, so they are numbered in order with the transitions
// the engine makes meanwhile (a later transition of a pair is numbered
// after its baseline row); no subscription wants them
// (segmentd.CauseBaseline), and their time, HistoryBaselineAt, is before
// anything the history's questions read.

// baselineRows makes transitions that bring the history's last word to
// the engine's membership into baseline rows.
func baselineRows(ts []segmentd.Transition) []segmentd.Transition {
	for i := range ts {
		ts[i].At, ts[i].Cause = segmentd.HistoryBaselineAt, segmentd.CauseBaseline
	}
	return ts
}

// writeBaselines makes the accounts' histories gap-free at a start, after
// the reconciliation stored its transitions and before the server serves
// (nothing changes the engine meanwhile): per account, one baseline row
// per pair whose history's last word differs from the engine's
// membership at now.
func (s *Service) writeBaselines(ctx context.Context, accts []int64, now time.Time) error {
	m, ok := s.store.(segmentd.HistoryGapMarker)
	if !ok || len(accts) == 0 {
		return nil
	}
	rows := 0
	for _, a := range accts {
		v, err := s.readHistoryView(ctx, a, segmentd.HistoryBaselineAt, now)
		if err != nil {
			return err
		}
		if len(v.fixed) > 0 {
			s.cfg.Outbox.Record(a, baselineRows(v.fixed))
			rows += len(v.fixed)
		}
	}
	return s.clearGaps(ctx, m, accts, rows)
}

// clearGaps clears the accounts' gaps once the baseline rows recorded so
// far are stored. A kill before leaves the gap and rows that say what the
// engine held: the next baseline writes rows after them.
func (s *Service) clearGaps(ctx context.Context, m segmentd.HistoryGapMarker, accts []int64, rows int) error {
	if err := s.cfg.Outbox.Flush(ctx); err != nil {
		return err
	}
	for _, a := range accts {
		if err := m.ClearHistoryGap(ctx, a); err != nil {
			return err
		}
	}
	s.log.Info("made the membership history gap-free: stored what the engine holds as baseline rows", "accounts", len(accts), "rows", rows)
	return nil
}

// gapMarker returns the store's HistoryGapMarker on a server alone on its
// store that keeps no history (no outbox, or --history-retention=0):
// ok is false on any other.
func (s *Service) gapMarker() (segmentd.HistoryGapMarker, bool) {
	m, ok := s.store.(segmentd.HistoryGapMarker)
	if !ok || s.members == nil || s.cfg.Shared || (s.cfg.Outbox != nil && s.cfg.History != nil) {
		return nil, false
	}
	return m, true
}

// markNewGap marks the gap of an account this server just created when
// it keeps no history (gapMarker), before anyone can write to it: its
// engine's transitions are stored nowhere, so a later start with the
// history must not take its history as what the receivers were told.
func (s *Service) markNewGap(ctx context.Context, acct segmentd.Account, err error) (segmentd.Account, error) {
	if err != nil {
		return acct, err
	}
	if m, ok := s.gapMarker(); ok {
		if err := m.MarkHistoryGap(ctx, acct.ID); err != nil {
			return segmentd.Account{}, err
		}
	}
	return acct, nil
}

// markGapsWithoutHistory records, on a server alone on its store that
// keeps no history (no outbox, or --history-retention=0), that every
// account's history may lack what this run's engine makes: nothing stores
// it.
func (s *Service) markGapsWithoutHistory(ctx context.Context) error {
	m, ok := s.gapMarker()
	if !ok {
		return nil
	}
	accts, err := s.store.Accounts(ctx)
	if err != nil {
		return err
	}
	for _, a := range accts {
		if err := m.MarkHistoryGap(ctx, a.ID); err != nil {
			return err
		}
	}
	return nil
}
