package audience

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/segmentd/segmentd"
)

// Reconciliation at a takeover of the delivery lock (docs/webhooks.md,
// "Several servers on one PostgreSQL database"). Every server of a shared
// store follows every write, but only the holder of the delivery lock
// stores transitions. When the holder dies, the transitions its engine
// made and had not stored, and those of the writes between its death and
// the takeover, would be lost: the other servers' engines made them with
// nobody storing them. So a server that does not deliver keeps, instead
// of nothing:
//
//   - each account's mark: the number of the last stored transition, read
//     before its engine is loaded (or when it stops delivering), so that
//     every transition stored up to the mark is of a write its engine
//     holds;
//   - for each segment and contact its engine changed since, the
//     membership before the first change (what it was at the mark) and the
//     last transition made.
//
// A server that takes the lock then catches its engine up with every
// write committed (the old holder can make no more), reads the
// transitions stored after each account's mark, and for each segment and
// contact compares what the receivers were told (the last stored
// transition, or else the membership at the mark) with its engine's
// membership: where they differ, it stores one transition to the
// engine's membership (its last one made, with its time and cause), numbered
// after the last. Transitions made meanwhile wait in the buffer, so every
// one made after the takeover is stored after those.

// maxStandbyPairs bounds the segment and contact pairs a server that does
// not deliver keeps (about 200 bytes each): past it, it keeps none and a
// takeover makes nothing good (the log says so).
const maxStandbyPairs = 1_000_000

// errStandbyLost says that a takeover cannot make good what was not
// stored: the server kept too many pairs, or could not read the marks.
var errStandbyLost = fmt.Errorf("this server did not keep what a takeover needs (more than %d segment and contact pairs changed while it did not deliver, or the marks could not be read)", maxStandbyPairs)

// standby is the engine's sink on a shared store with the history kept:
// it hands the transitions to the outbox while this server delivers, and
// keeps what a takeover needs while it does not.
type standby struct {
	outbox segmentd.Outbox
	limit  int        // the pairs kept at most (maxStandbyPairs)
	take   sync.Mutex // one takeover at a time

	mu        sync.Mutex
	buffering bool
	overflow  bool                               // more than maxStandbyPairs: nothing kept
	marks     map[int64]int64                    // per account; one not in it is newer
	pending   map[int64]map[pairKey]*pendingPair // per account
	n         int                                // pairs kept
}

// pendingPair is what a server that does not deliver keeps of a segment
// and contact its engine changed.
type pendingPair struct {
	before bool                // the membership before the first change
	last   segmentd.Transition // the last transition made
}

// wants is the engine's question: everything while buffering (the
// history keeps every account's transitions), else the outbox's answer.
func (sb *standby) wants(acct int64) bool {
	sb.mu.Lock()
	b := sb.buffering
	sb.mu.Unlock()
	return b || sb.outbox.Wants(acct)
}

// sink takes an account's transitions, in the order the engine made them.
func (sb *standby) sink(acct int64, ts []segmentd.Transition) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if !sb.buffering {
		sb.outbox.Record(acct, ts)
		return
	}
	if sb.overflow {
		return
	}
	m := sb.pending[acct]
	if m == nil {
		m = map[pairKey]*pendingPair{}
		sb.pending[acct] = m
	}
	for _, t := range ts {
		k := pairKey{t.SegmentID, t.ContactID}
		if p := m[k]; p != nil {
			p.last = t
			continue
		}
		m[k] = &pendingPair{before: !t.Entered, last: t}
		sb.n++
	}
	if sb.n > sb.limit {
		sb.overflow, sb.pending, sb.n = true, nil, 0
	}
}

// begin starts buffering from the marks.
func (sb *standby) begin(marks map[int64]int64) {
	sb.mu.Lock()
	sb.buffering, sb.overflow, sb.marks, sb.pending, sb.n = true, false, marks, map[int64]map[pairKey]*pendingPair{}, 0
	sb.mu.Unlock()
}

// record turns the engine's recording on: into the standby sink when
// there is one, else straight into the outbox.
func (s *Service) record() {
	if s.standby != nil {
		s.members.RecordTransitions(s.standby.sink, s.standby.wants)
		return
	}
	s.members.RecordTransitions(s.cfg.Outbox.Record, s.cfg.Outbox.Wants)
}

// historyMarks reads every account's last stored transition number.
func (s *Service) historyMarks(ctx context.Context) (map[int64]int64, error) {
	accts, err := s.store.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	marks := make(map[int64]int64, len(accts))
	for _, a := range accts {
		m, err := s.cfg.History.HistoryMark(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		marks[a.ID] = m
	}
	return marks, nil
}

// takeoverOutbox is an outbox that elects one deliverer among the servers
// of a shared store and says when this one starts and stops delivering
// (hooks.Dispatcher).
type takeoverOutbox interface {
	OnTakeover(standby func(context.Context), takeover func(context.Context) (bool, error))
}

// prepareStandby sets the standby sink up before the engine is loaded, on
// a shared store whose outbox elects its deliverer, with the history kept;
// when this server does not deliver, it reads the marks now, before the
// load reads the store.
func (s *Service) prepareStandby(ctx context.Context) error {
	o, ok := s.cfg.Outbox.(takeoverOutbox)
	if !ok || !s.cfg.Shared || s.cfg.History == nil || s.members == nil {
		return nil
	}
	s.standby = &standby{outbox: s.cfg.Outbox, limit: maxStandbyPairs}
	s.loadDone = make(chan struct{})
	if !delivering(s.cfg.Outbox) {
		marks, err := s.historyMarks(ctx)
		if err != nil {
			return err
		}
		s.standby.begin(marks)
	}
	o.OnTakeover(s.goStandby, s.takeDelivery)
	return nil
}

// goStandby starts keeping what a takeover needs, when this server stops
// delivering while it runs (it lost the lock).
func (s *Service) goStandby(ctx context.Context) {
	marks, err := s.historyMarks(ctx)
	if err != nil {
		s.log.Warn("reading the transition marks after losing the delivery lock: a later takeover makes nothing good", "err", err)
	}
	s.standby.begin(marks)
	if err != nil {
		s.standby.mu.Lock()
		s.standby.overflow = true
		s.standby.mu.Unlock()
	}
}

// takeDelivery makes good, once this server holds the delivery lock, the
// transitions no server stored: those whose membership its engine has and
// the receivers were not told. reconciled is false when this server was
// not keeping what a takeover needs (it delivered already), or when it
// could not make everything good: its snapshots then carry no marks.
func (s *Service) takeDelivery(ctx context.Context) (reconciled bool, err error) {
	select {
	case <-s.loadDone:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	sb := s.standby
	sb.take.Lock()
	defer sb.take.Unlock()
	sb.mu.Lock()
	buffering, overflow := sb.buffering, sb.overflow
	sb.mu.Unlock()
	if !buffering {
		return false, nil
	}
	defer func() {
		if err != nil {
			sb.stop(nil) // deliver from now on, as without the reconciliation
		}
	}()
	if overflow {
		// The marks' changes are lost; the accounts whose history has no
		// gap are made good from it, with the changes kept from now on.
		sb.mu.Lock()
		sb.overflow, sb.pending, sb.n = false, map[int64]map[pairKey]*pendingPair{}, 0
		sb.mu.Unlock()
	}
	// Every write committed before now reaches the engine, and the clock
	// moves to now: the old holder made nothing this engine has not.
	accts, err := s.store.Accounts(ctx)
	if err != nil {
		return false, err
	}
	now := s.clock.Now()
	for _, a := range accts {
		if err := s.sync(ctx, a.ID); err != nil {
			return false, err
		}
		s.members.Count(a.ID, "", now)
	}
	sb.mu.Lock()
	marks := sb.marks
	sb.mu.Unlock()
	// An account whose history has no gap is compared with the history's
	// last word (reconcile.go), which needs neither the marks nor every
	// change since them; any other with its marks, as long as this server
	// kept every change since them, and is then made gap-free: its
	// history's last word is read too, and wherever it differs from the
	// engine's membership with no transition stored now, a baseline row
	// says what the engine holds (reconcile.go, "The baseline").
	views := make(map[int64]*takeoverView, len(accts))
	told := make(map[int64]*historyView, len(accts))
	var gaps []int64
	lost := 0
	for _, a := range accts {
		gap, err := s.cfg.History.HistoryGap(ctx, a.ID)
		if err != nil {
			return false, err
		}
		if told[a.ID], err = s.readHistoryView(ctx, a.ID, now, now); err != nil {
			return false, err
		}
		if !gap {
			continue
		}
		gaps = append(gaps, a.ID)
		if overflow {
			lost++
			continue
		}
		v, err := s.takeoverView(ctx, a.ID, marks[a.ID], now)
		if err != nil {
			return false, err
		}
		views[a.ID] = v
	}
	made, base := 0, 0
	sb.stop(func(pending map[int64]map[pairKey]*pendingPair) {
		for _, a := range accts {
			acct := a.ID
			changed := make(remade, len(pending[acct]))
			for k, p := range pending[acct] {
				changed[k] = p.last
			}
			toEngine := told[acct].settle(changed)
			if !slices.Contains(gaps, acct) {
				if len(toEngine) > 0 {
					sb.outbox.Record(acct, toEngine)
					made += len(toEngine)
				}
				continue
			}
			var out []segmentd.Transition
			if v := views[acct]; v != nil {
				out = v.settle(acct, pending[acct], now)
			}
			if len(out) > 0 {
				sb.outbox.Record(acct, out)
				made += len(out)
			}
			// What the transitions just recorded do not bring to the
			// engine's membership is the gap's: a baseline row each.
			stored := make(map[pairKey]bool, len(out))
			for _, t := range out {
				stored[pairKey{t.SegmentID, t.ContactID}] = true
			}
			rows := slices.DeleteFunc(toEngine, func(t segmentd.Transition) bool { return stored[pairKey{t.SegmentID, t.ContactID}] })
			if len(rows) > 0 {
				sb.outbox.Record(acct, baselineRows(rows))
				base += len(rows)
			}
		}
	})
	if err := s.cfg.Outbox.Flush(ctx); err != nil {
		return false, err
	}
	s.log.Info("took over webhook delivery: stored the transitions no server had stored", "transitions", made)
	if m, ok := s.store.(segmentd.HistoryGapMarker); ok && len(gaps) > 0 {
		if err := s.clearGaps(ctx, m, gaps, base); err != nil {
			return false, err
		}
	}
	if lost > 0 {
		return false, fmt.Errorf("%w; %d accounts whose history had a gap lost theirs (their history is gap-free from now on)", errStandbyLost, lost)
	}
	return true, nil
}

// stop ends buffering: settle, when not nil, is given what was kept under
// the lock, so that every transition made after it goes to the outbox
// after what settle records.
func (sb *standby) stop(settle func(pending map[int64]map[pairKey]*pendingPair)) {
	sb.mu.Lock()
	defer sb.mu.Unlock()
	if settle != nil {
		settle(sb.pending)
	}
	sb.buffering, sb.overflow, sb.marks, sb.pending, sb.n = false, false, nil, nil, 0
}

// takeoverView is what a takeover reads of an account before it settles:
// the last transition stored after the mark per segment and contact, the
// live segments, and the engine's membership and contacts of the stored
// pairs.
type takeoverView struct {
	last     map[pairKey]*segmentd.Transition
	live     map[string]*segmentd.Segment
	member   map[pairKey]bool
	contacts map[string]*segmentd.Contact
}

// takeoverView reads an account's view; an account not in the marks (a
// newer one) has every stored transition after its mark, 0.
func (s *Service) takeoverView(ctx context.Context, acct, mark int64, now time.Time) (*takeoverView, error) {
	stored, err := s.cfg.History.HistoryAfter(ctx, acct, mark)
	if err != nil {
		return nil, err
	}
	v := &takeoverView{last: make(map[pairKey]*segmentd.Transition, len(stored)), live: map[string]*segmentd.Segment{},
		member: map[pairKey]bool{}, contacts: map[string]*segmentd.Contact{}}
	for i := range stored {
		v.last[pairKey{stored[i].SegmentID, stored[i].ContactID}] = &stored[i]
	}
	segs, err := s.liveSegments(ctx, acct)
	if err != nil {
		return nil, err
	}
	for i := range segs {
		v.live[segs[i].ID] = &segs[i]
	}
	var ids []string
	seen := map[string]bool{}
	for k := range v.last {
		if !seen[k.contact] {
			seen[k.contact] = true
			ids = append(ids, k.contact)
		}
	}
	for i, segs := range s.members.SegmentsOfMany(acct, ids, now) {
		for _, sg := range segs {
			v.member[pairKey{sg, ids[i]}] = true
		}
	}
	cs := s.members.ContactsByIDs(acct, ids, now)
	for i := range cs {
		v.contacts[cs[i].ID] = &cs[i]
	}
	return v, nil
}

// settle returns the account's transitions to store: for each segment and
// contact of a live segment, one to the engine's membership where the
// receivers were told otherwise (the last stored transition, or else the
// membership at the mark).
func (v *takeoverView) settle(acct int64, pending map[pairKey]*pendingPair, now time.Time) []segmentd.Transition {
	var out []segmentd.Transition
	add := func(k pairKey, told, final bool, t segmentd.Transition) {
		if told == final || v.live[k.seg] == nil {
			return
		}
		if st := v.last[k]; st != nil && t.At.Before(st.At) {
			t.At = st.At // it came after the stored one
		}
		out = append(out, t)
	}
	for k, p := range pending {
		told := p.before
		if st := v.last[k]; st != nil {
			told = st.Entered
		}
		add(k, told, p.last.Entered, p.last)
	}
	for k, st := range v.last {
		if _, ok := pending[k]; ok || v.live[k.seg] == nil {
			continue
		}
		// The engine did not change it since the mark: a write the old
		// holder stored a transition of was undone before this engine saw
		// it, and the undoing was not stored. Its cause is the one rule's
		// (remadeCause), as at a start without marks.
		c := v.contacts[k.contact]
		t := segmentd.Transition{AccountID: acct, SegmentID: k.seg, ContactID: k.contact, Email: st.Email,
			Entered: v.member[k], At: now, Cause: remadeCause(c, v.live[k.seg], st.At)}
		if c != nil {
			t.Email = c.Email
		}
		add(k, st.Entered, t.Entered, t)
	}
	slices.SortFunc(out, func(a, b segmentd.Transition) int {
		return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.SegmentID, b.SegmentID), cmp.Compare(a.ContactID, b.ContactID))
	})
	return out
}
