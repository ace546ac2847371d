package audience

import (
	"context"
	"slices"
	"strings"
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
		s.members.PutContacts(acct, cs, s.clock.Now())
	}
	return nil
}

func (s *Service) contactsDeleted(acct int64, ids []string) {
	if s.members != nil {
		s.members.DeleteContacts(acct, ids, s.clock.Now())
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
	s.members.SetFields(acct, defs, s.clock.Now())
	return nil
}

// sendGridSegmentsOf returns the SendGrid segments a contact is in: the
// engine's answer without the Constant Contact segments (CCEnginePrefix),
// which SendGrid's segment_ids must never list.
func (s *Service) sendGridSegmentsOf(acct int64, contactID string, now time.Time) []string {
	ids := s.members.SegmentsOf(acct, contactID, now)
	return slices.DeleteFunc(ids, func(id string) bool { return strings.HasPrefix(id, segmentd.CCEnginePrefix) })
}

// withSegmentIDs fills each contact's SegmentIDs from the engine.
func (s *Service) withSegmentIDs(acct int64, cs []segmentd.Contact, now time.Time) []segmentd.Contact {
	if s.members == nil {
		return cs
	}
	for i := range cs {
		cs[i].SegmentIDs = s.sendGridSegmentsOf(acct, cs[i].ID, now)
	}
	return cs
}

func (s *Service) mapWithSegmentIDs(acct int64, m map[string]segmentd.Contact) map[string]segmentd.Contact {
	if s.members == nil {
		return m
	}
	now := s.clock.Now()
	for k, c := range m {
		c.SegmentIDs = s.sendGridSegmentsOf(acct, c.ID, now)
		m[k] = c
	}
	return m
}

// LoadMembership loads the engine at start, before requests are served:
// from the snapshot (Config.SnapshotPath) when there is a usable one,
// replaying what changed after it, and otherwise by rebuilding it from the
// store. SnapshotLoaded tells which it did.
func (s *Service) LoadMembership(ctx context.Context) error {
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
// fields, contacts, events and live segments, in the order the engine
// rebuilds fastest (events before segments: no segment is re-checked per
// contact).
func (s *Service) rebuildMembership(ctx context.Context) error {
	accts, err := s.store.Accounts(ctx)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	for _, a := range accts {
		if err := s.fieldsChanged(ctx, a.ID); err != nil {
			return err
		}
		err := loadPages(ctx, "", func(ctx context.Context, after string) ([]segmentd.Contact, string, bool, error) {
			const page = 5000
			cs, err := s.store.ScanContacts(ctx, a.ID, after, page)
			if err != nil || len(cs) == 0 {
				return cs, after, true, err
			}
			return cs, cs[len(cs)-1].ID, len(cs) < page, nil
		}, func(cs []segmentd.Contact) { s.members.PutContacts(a.ID, cs, now) })
		if err != nil {
			return err
		}
		if s.cfg.Events != nil {
			err := loadPages(ctx, int64(0), func(ctx context.Context, after int64) ([]segmentd.Event, int64, bool, error) {
				const page = 50_000
				evs, last, err := s.cfg.Events.ScanEvents(ctx, a.ID, after, page)
				return evs, last, len(evs) < page, err
			}, func(evs []segmentd.Event) { s.members.AddEvents(a.ID, evs, now) })
			if err != nil {
				return err
			}
		}
		if err := s.loadSegments(ctx, a.ID, now); err != nil {
			return err
		}
	}
	return nil
}

// loadSegments gives the engine the account's live segments at once,
// SendGrid's and Constant Contact's.
func (s *Service) loadSegments(ctx context.Context, acct int64, now time.Time) error {
	segs, err := s.segs.Segments(ctx, acct)
	if err != nil {
		return err
	}
	if s.cfg.CCSegments != nil {
		ccs, err := s.cfg.CCSegments.CCSegments(ctx, acct, segmentd.CCSegmentPage{})
		if err != nil {
			return err
		}
		for i := range ccs {
			segs = append(segs, ccs[i].EngineSegment())
		}
	}
	for i, err := range s.members.PutSegments(acct, segs, now) {
		if err != nil {
			// A segment whose query no longer checks (its field was
			// deleted) matches nobody; it stays listed, INVALID.
			s.log.Warn("segment query no longer checks", "account", acct, "segment", segs[i].ID, "err", err)
		}
	}
	return nil
}

// loadPages reads pages with fetch (from cursor start until it reports the
// last page) and hands each to consume, in order. Reading the store and
// feeding the engine overlap: the next page is read while consume takes the
// last one.
func loadPages[T any, C any](ctx context.Context, start C, fetch func(ctx context.Context, after C) (page []T, next C, last bool, err error), consume func([]T)) error {
	pages := make(chan []T, 2)
	errc := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(pages)
		for after := start; ; {
			page, next, last, err := fetch(ctx, after)
			if err != nil {
				errc <- err
				return
			}
			select {
			case pages <- page:
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
			if last {
				errc <- nil
				return
			}
			after = next
		}
	}()
	for page := range pages {
		consume(page)
	}
	return <-errc
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
	if ch.Catalog {
		if err := s.reloadCatalog(ctx, acct, now); err != nil {
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
