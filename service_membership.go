package segmentd

import (
	"context"
	"time"
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

// withSegmentIDs fills each contact's SegmentIDs from the engine.
func (s *Service) withSegmentIDs(acct int64, cs []Contact, now time.Time) []Contact {
	if s.members == nil {
		return cs
	}
	for i := range cs {
		cs[i].SegmentIDs = s.members.SegmentsOf(acct, cs[i].ID, now)
	}
	return cs
}

func (s *Service) mapWithSegmentIDs(acct int64, m map[string]Contact) map[string]Contact {
	if s.members == nil {
		return m
	}
	now := s.clock.Now()
	for k, c := range m {
		c.SegmentIDs = s.members.SegmentsOf(acct, c.ID, now)
		m[k] = c
	}
	return m
}

// LoadMembership rebuilds the engine from the store: every account's
// fields, contacts, events and live segments, in the order the engine
// rebuilds fastest (events before segments: no segment is re-checked per
// contact). segmentd calls it once at start,
// before it serves requests.
func (s *Service) LoadMembership(ctx context.Context) error {
	accts, err := s.store.Accounts(ctx)
	if err != nil {
		return err
	}
	now := s.clock.Now()
	for _, a := range accts {
		if err := s.fieldsChanged(ctx, a.ID); err != nil {
			return err
		}
		const page = 5000
		for after := ""; ; {
			cs, err := s.store.ScanContacts(ctx, a.ID, after, page)
			if err != nil {
				return err
			}
			s.members.PutContacts(a.ID, cs, now)
			if len(cs) < page {
				break
			}
			after = cs[len(cs)-1].ID
		}
		if err := s.loadEvents(ctx, a.ID); err != nil {
			return err
		}
		segs, err := s.segs.Segments(ctx, a.ID)
		if err != nil {
			return err
		}
		for i, err := range s.members.PutSegments(a.ID, segs, now) {
			if err != nil {
				// A segment whose query no longer checks (its field was
				// deleted) matches nobody; it stays listed, INVALID.
				s.log.Warn("segment query no longer checks", "account", a.ID, "segment", segs[i].ID, "err", err)
			}
		}
	}
	return nil
}

// loadEvents gives the engine every stored event of an account, in pages.
// Reading the store and feeding the engine overlap: the next page is read
// while the engine takes the last one. Events of no contact, or of a contact
// since deleted, are skipped by the engine.
func (s *Service) loadEvents(ctx context.Context, acct int64) error {
	if s.cfg.Events == nil {
		return nil
	}
	const page = 50_000
	now := s.clock.Now()
	pages := make(chan []Event, 2)
	errc := make(chan error, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		defer close(pages)
		for after := int64(0); ; {
			evs, last, err := s.cfg.Events.ScanEvents(ctx, acct, after, page)
			if err != nil {
				errc <- err
				return
			}
			select {
			case pages <- evs:
			case <-ctx.Done():
				errc <- ctx.Err()
				return
			}
			if len(evs) < page {
				errc <- nil
				return
			}
			after = last
		}
	}()
	for evs := range pages {
		s.members.AddEvents(acct, evs, now)
	}
	return <-errc
}
