package audience

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segmentd/segmentd"
)

// This file keeps the membership engine in step with the store: every
// write that changes a contact, a list membership or the field catalogue is
// passed on after it has committed, and reads fill segment_ids from it.

// contactsChanged re-reads contacts whose stored state changed and gives
// them to the engine.
func (s *Service) contactsChanged(ctx context.Context, acct int64, ids []string) error {
	if s.members == nil {
		return nil
	}
	const chunk = 500
	for start := 0; start < len(ids); start += chunk {
		cs, err := s.store.ContactsByIDs(ctx, acct, ids[start:min(start+chunk, len(ids))])
		if err != nil {
			return err
		}
		s.members.PutContacts(acct, cs, s.engineNow())
	}
	return nil
}

func (s *Service) contactsDeleted(acct int64, ids []string) {
	if s.members != nil {
		s.members.DeleteContacts(acct, ids, s.engineNow())
	}
}

// fieldsChanged gives the engine the account's new field catalogue; the
// engine re-checks the account's segments against it.
func (s *Service) fieldsChanged(ctx context.Context, acct int64) error {
	if s.members == nil {
		return nil
	}
	defs, err := s.store.FieldDefinitions(ctx, acct)
	if err != nil {
		return err
	}
	s.members.SetFields(acct, defs, s.engineNow())
	return nil
}

// withoutCC drops the Constant Contact segments from engine segment ids.
func withoutCC(ids []string) []string {
	return slices.DeleteFunc(ids, func(id string) bool { return strings.HasPrefix(id, segmentd.CCEnginePrefix) })
}

// listsFromEngine says whether the API's reads by contact take the
// contacts' lists from the engine rather than the store
// (segmentd.WithoutLists; docs/decisions.md §19): with an engine that
// this server's job worker keeps, which lags the store only between a
// job's commit and its engine stage, before the job reads completed. A
// shared store's engine follows writes other servers made, up to the
// follow interval behind (follow.go), so a client told completed by one
// server could read the old lists from another: there the store fills
// them.
func (s *Service) listsFromEngine() bool {
	return s.members != nil && !s.cfg.Shared
}

// readCtx is ctx for a store read by contact whose contacts then go
// through withSets: it asks the store to leave their lists out when the
// engine fills them.
func (s *Service) readCtx(ctx context.Context) context.Context {
	if s.listsFromEngine() {
		return segmentd.WithoutLists(ctx)
	}
	return ctx
}

// withSets fills, from the engine in one call, the lists of contacts a
// store read through readCtx (when the engine fills them) and, when
// segments is set, their SendGrid segments (without Constant Contact's,
// CCEnginePrefix, which SendGrid's segment_ids must never list). A contact the engine does
// not hold (its job committed and the engine stage has not run, or the
// engine has not loaded its account) is read again from the store, with
// its lists: the store's contact, whole, rather than its fields paired
// with lists the engine does not know.
func (s *Service) withSets(ctx context.Context, acct int64, cs []segmentd.Contact, segments bool, now time.Time) ([]segmentd.Contact, error) {
	lists := s.listsFromEngine()
	if s.members == nil || len(cs) == 0 || !lists && !segments {
		return cs, nil
	}
	ids := make([]string, len(cs))
	for i := range cs {
		ids[i] = cs[i].ID
	}
	var unheld []string
	for i, set := range s.members.SetsOfMany(acct, ids, now) {
		if segments {
			cs[i].SegmentIDs = withoutCC(set.SegmentIDs)
		}
		if !lists {
			continue
		}
		if set.Held {
			cs[i].ListIDs = set.ListIDs
		} else {
			unheld = append(unheld, cs[i].ID)
		}
	}
	if len(unheld) == 0 {
		return cs, nil
	}
	stored, err := s.store.ContactsByIDs(ctx, acct, unheld)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]segmentd.Contact, len(stored))
	for _, c := range stored {
		byID[c.ID] = c
	}
	for i := range cs {
		if c, ok := byID[cs[i].ID]; ok {
			c.SegmentIDs = cs[i].SegmentIDs
			cs[i] = c
		}
	}
	return cs, nil
}

// mapWithSets is withSets, with segments, over a map's contacts.
func (s *Service) mapWithSets(ctx context.Context, acct int64, m map[string]segmentd.Contact, now time.Time) (map[string]segmentd.Contact, error) {
	keys := make([]string, 0, len(m))
	cs := make([]segmentd.Contact, 0, len(m))
	for k, c := range m {
		keys = append(keys, k)
		cs = append(cs, c)
	}
	cs, err := s.withSets(ctx, acct, cs, true, now)
	if err != nil {
		return nil, err
	}
	for i, k := range keys {
		m[k] = cs[i]
	}
	return m, nil
}

// LoadMembership loads the engine at start, before requests are served:
// from the snapshot (Config.SnapshotPath) when there is a usable one,
// replaying what changed after it, and otherwise by rebuilding it from the
// store. SnapshotLoaded tells which it did.
func (s *Service) LoadMembership(ctx context.Context) error {
	at := s.loadTime()
	s.loadingAt.Store(&at)
	s.reconciling = s.cfg.Outbox != nil && s.cfg.History != nil && s.members != nil && delivering(s.cfg.Outbox)
	if err := s.markGapsWithoutHistory(ctx); err != nil {
		return err
	}
	if err := s.prepareStandby(ctx); err != nil {
		return err
	}
	if s.loadDone != nil {
		defer close(s.loadDone)
	}
	err := s.loadMembership(ctx)
	s.loadingAt.Store(nil)
	if err != nil {
		return err
	}
	if s.cfg.Outbox != nil && s.members != nil {
		if s.recon == nil && s.reconciling {
			// Loaded without marks (no snapshot, or one without them):
			// the accounts whose history has no gap are reconciled from
			// it (reconcile.go), the clock's move buffered meanwhile.
			s.recon = newReconciler(nil, at)
			s.members.RecordTransitions(s.recon.sink, nil)
		}
		if s.recon != nil {
			s.recon.clockMoves()
			// The replay's transitions (from a marked snapshot) and the
			// clock's went to a buffer, of which those not stored before
			// the last stop are kept (reconcile.go).
			now, err := s.clockUp(ctx)
			var gaps []int64
			if err == nil {
				s.record()
				gaps, err = s.settleReconcile(ctx, now)
			}
			s.recon = nil
			if err == nil {
				err = s.writeBaselines(ctx, gaps, now)
			}
			if err != nil {
				return err
			}
		} else {
			// From now on every change of membership is news (the load's
			// were not: docs/webhooks.md).
			s.record()
			if _, err := s.clockUp(ctx); err != nil {
				return err
			}
		}
	}
	if s.cfg.Shared {
		fctx, stop := context.WithCancel(context.Background())
		s.stopFollow = stop
		go s.runFollower(fctx)
	}
	return nil
}

func (s *Service) loadMembership(ctx context.Context) error {
	if s.cfg.SnapshotPath != "" {
		info, ok, err := s.loadSnapshot(ctx)
		if err != nil {
			return err
		}
		if ok {
			s.loaded = &info
			s.log.Info("engine snapshot loaded", "path", info.Path, "bytes", info.Bytes, "changes", info.Mark.Seqs,
				"replayed_contacts", info.Replayed.Contacts, "replayed_deletes", info.Replayed.Deleted, "replayed_events", info.Replayed.Events,
				"duration_ms", float64(info.Took.Microseconds())/1000)
			return nil
		}
	}
	return s.rebuildMembership(ctx)
}

// SnapshotLoaded describes the snapshot LoadMembership loaded; ok is false
// when it rebuilt the engine from the store instead.
func (s *Service) SnapshotLoaded() (info SnapshotInfo, ok bool) {
	if s.loaded == nil {
		return SnapshotInfo{}, false
	}
	return *s.loaded, true
}

// rebuildMembership rebuilds the engine from the store: every account's
// fields, contacts and events as of one consistent read (ReadAccount), then
// its live segments, in the order the engine rebuilds fastest (events
// before segments: no segment is re-checked per contact). Reading the store
// and feeding the engine overlap.
func (s *Service) rebuildMembership(ctx context.Context) error {
	accts, err := s.store.Accounts(ctx)
	if err != nil {
		return err
	}
	now := s.engineNow()
	var pages contactPages
	for _, a := range accts {
		if err := s.fieldsChanged(ctx, a.ID); err != nil {
			return err
		}
		feed := newFeeder()
		var events func([]segmentd.Event) error
		if s.cfg.Events != nil {
			events = func(evs []segmentd.Event) error {
				pages.drop() // the contacts are all read
				if p, ok := s.members.(eventPreparer); ok {
					add := p.PrepareEvents(a.ID, evs)
					return feed.send(ctx, func() { add(now) })
				}
				evs = slices.Clone(evs) // the store reuses the page (ReadAccount)
				return feed.send(ctx, func() { s.members.AddEvents(a.ID, evs, now) })
			}
		}
		read := s.store.ReadAccount
		if lr, ok := s.store.(segmentd.LeanAccountReader); ok {
			read = lr.ReadAccountLean // the engine reads no event's email nor sg_event_id
		}
		change, event, err := read(ctx, a.ID, func(cs []segmentd.Contact) error {
			// The store may reuse its page once this returns
			// (segmentd.Store): the engine takes a copy, one of a few
			// pages reused while the rebuild runs.
			p := pages.take(len(cs))
			*p = append((*p)[:0], cs...)
			return feed.send(ctx, func() {
				s.members.PutContacts(a.ID, *p, now)
				pages.give(p)
			})
		}, events)
		feed.close()
		if err != nil {
			return err
		}
		if p, ok := s.members.(eventPreparer); ok && events != nil {
			p.EndEvents(a.ID)
		}
		if err := s.loadSegments(ctx, a.ID, now); err != nil {
			return err
		}
		s.follow.set(a.ID, change, event)
	}
	return nil
}

// eventPreparer is a Membership that takes events in two steps
// (engine.Membership does): the rebuild converts each page on the
// goroutine that reads the store, which otherwise waits on the engine
// during the events, and the feeder only records it.
type eventPreparer interface {
	PrepareEvents(acct int64, evs []segmentd.Event) func(now time.Time)
	// EndEvents follows the account's last PrepareEvents.
	EndEvents(acct int64)
}

// contactPages are the rebuild's pages of contacts, given back once the
// engine has taken them and taken again for the store's next page: a page
// allocated for each of the store's was a seventh of what a rebuild
// allocated. At most a few are out at once (the feeder's queue). Once an
// account's events are read, the pages are dropped as they come back, so
// they do not take room while the engine's events grow.
type contactPages struct {
	mu      sync.Mutex
	free    []*[]segmentd.Contact
	dropped bool
}

// take returns a page with room for n contacts.
func (ps *contactPages) take(n int) *[]segmentd.Contact {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.dropped = false
	if k := len(ps.free); k > 0 {
		p := ps.free[k-1]
		ps.free = ps.free[:k-1]
		*p = slices.Grow((*p)[:0], n)
		return p
	}
	p := make([]segmentd.Contact, 0, n)
	return &p
}

// give gives back a page the engine has taken, emptied (its strings,
// maps and slices are not kept alive by it).
func (ps *contactPages) give(p *[]segmentd.Contact) {
	clear(*p)
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if !ps.dropped {
		ps.free = append(ps.free, p)
	}
}

// drop lets the pages go, those given back later too, until the next take.
func (ps *contactPages) drop() {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.free, ps.dropped = nil, true
}

// feeder applies engine updates on a goroutine of its own, in order, so
// that the store's next page is read while the engine takes the last one.
type feeder struct {
	work chan func()
	done chan struct{}
}

func newFeeder() *feeder {
	f := &feeder{work: make(chan func(), 2), done: make(chan struct{})}
	go func() {
		defer close(f.done)
		for fn := range f.work {
			fn()
		}
	}()
	return f
}

func (f *feeder) send(ctx context.Context, fn func()) error {
	select {
	case f.work <- fn:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// close waits for the updates sent so far.
func (f *feeder) close() {
	close(f.work)
	<-f.done
}

// loadSegments gives the engine the account's live segments at once,
// SendGrid's and Constant Contact's, and records what it gave.
func (s *Service) loadSegments(ctx context.Context, acct int64, now time.Time) error {
	segs, err := s.liveSegments(ctx, acct)
	if err != nil {
		return err
	}
	for i, err := range s.members.PutSegments(acct, segs, now) {
		if err != nil {
			// A segment whose query no longer checks (its field was
			// deleted) matches nobody; it stays listed, INVALID.
			s.log.Warn("segment query no longer checks", "account", acct, "segment", segs[i].ID, "err", err)
		}
	}
	s.given.set(acct, segs)
	return nil
}

// liveSegments returns the account's live segments of both vendors, as the
// engine takes them.
func (s *Service) liveSegments(ctx context.Context, acct int64) ([]segmentd.Segment, error) {
	segs, err := s.segs.Segments(ctx, acct)
	if err != nil {
		return nil, err
	}
	if s.cfg.CCSegments != nil {
		ccs, err := s.cfg.CCSegments.CCSegments(ctx, acct, segmentd.CCSegmentPage{})
		if err != nil {
			return nil, err
		}
		for i := range ccs {
			segs = append(segs, ccs[i].EngineSegment())
		}
	}
	return segs, nil
}

// updateSegments brings the engine's segments of an account to the store's
// live ones, putting only the new and changed ones (putting every one would
// evaluate them all again) and removing the gone ones. It needs a
// loadSegments of the account before it.
func (s *Service) updateSegments(ctx context.Context, acct int64, now time.Time) error {
	segs, err := s.liveSegments(ctx, acct)
	if err != nil {
		return err
	}
	had := s.given.get(acct)
	live := make(map[string]bool, len(segs))
	for _, seg := range segs {
		live[seg.ID] = true
		if had[seg.ID] == keyOf(seg) {
			continue
		}
		if err := s.members.PutSegment(acct, seg.ID, seg.Lang(), seg.QueryDSL, parentList(seg.ParentListIDs), now); err != nil {
			s.log.Warn("segment query no longer checks", "account", acct, "segment", seg.ID, "err", err)
		}
	}
	for id := range had {
		if !live[id] {
			s.members.RemoveSegment(acct, id)
		}
	}
	s.given.set(acct, segs)
	return nil
}

// segKey is what the engine was given of a segment.
type segKey struct {
	lang        segmentd.QueryLang
	src, parent string
}

func keyOf(seg segmentd.Segment) segKey {
	return segKey{seg.Lang(), seg.QueryDSL, parentList(seg.ParentListIDs)}
}

// given records, per account, the segments the engine was given.
type given struct {
	mu sync.Mutex
	m  map[int64]map[string]segKey
}

func (g *given) get(acct int64) map[string]segKey {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.m[acct]
}

func (g *given) set(acct int64, segs []segmentd.Segment) {
	m := make(map[string]segKey, len(segs))
	for _, seg := range segs {
		m[seg.ID] = keyOf(seg)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = map[int64]map[string]segKey{}
	}
	g.m[acct] = m
}

// reloadCatalog gives the engine the account's field definitions and live
// segments as the store has them.
func (s *Service) reloadCatalog(ctx context.Context, acct int64, now time.Time) error {
	if err := s.fieldsChanged(ctx, acct); err != nil {
		return err
	}
	return s.loadSegments(ctx, acct, now)
}

// changesPage is how many events one read of the change history brings.
const changesPage = 50_000

// catchUp applies to the engine what the store's history holds for an
// account after its change number after and event number afterEvent, and
// returns the point it brought the engine to; n, when not nil, counts
// what it applied.
func (s *Service) catchUp(ctx context.Context, acct int64, after, afterEvent int64, now time.Time, n *SnapshotReplay) (int64, int64, error) {
	limit := changesPage
	if s.cfg.Events == nil {
		limit = 0
	}
	for {
		ch, err := s.store.Changes(ctx, acct, after, afterEvent, limit)
		if err != nil {
			return after, afterEvent, err
		}
		switch {
		case ch.Dropped:
			s.forgetAccount(acct)
			return ch.Through, 0, nil
		case ch.ResetAt > 0:
			// Nothing from before the reset is left: start again from it.
			s.forgetAccount(acct)
			if err := s.reloadCatalog(ctx, acct, now); err != nil {
				return after, afterEvent, err
			}
			after, afterEvent = ch.ResetAt, 0
			continue
		}
		if err := s.applyChanges(ctx, acct, ch, now); err != nil {
			return after, afterEvent, err
		}
		if n != nil {
			n.Contacts += len(ch.Changed)
			n.Deleted += len(ch.Deleted)
			n.Events += len(ch.Attached) + len(ch.Events)
		}
		after, afterEvent = ch.Through, ch.EventsThrough
		if limit == 0 || len(ch.Events) < limit {
			return after, afterEvent, nil
		}
	}
}

// applyChanges gives the engine one read of an account's change history,
// in the order AccountChanges documents.
func (s *Service) applyChanges(ctx context.Context, acct int64, ch segmentd.AccountChanges, now time.Time) error {
	if s.recon != nil {
		s.recon.saw(acct, &ch)
		s.recon.sawWritten(acct, ch.Changed, func(ids []string) []segmentd.Contact { return s.members.ContactsByIDs(acct, ids, now) })
	}
	if ch.Catalog {
		if err := s.fieldsChanged(ctx, acct); err != nil {
			return err
		}
		if err := s.updateSegments(ctx, acct, now); err != nil {
			return err
		}
	}
	if ch.AllDeleted {
		s.members.DeleteAllContacts(acct, now)
	}
	s.members.DeleteContacts(acct, ch.Deleted, now)
	for _, l := range ch.DeletedLists {
		s.members.DeleteList(acct, l, now)
	}
	if err := s.contactsChanged(ctx, acct, ch.Changed); err != nil {
		return err
	}
	s.members.AddEvents(acct, ch.Attached, now)
	s.members.AddEvents(acct, ch.Events, now)
	return nil
}
