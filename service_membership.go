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
	s.members.SetFields(acct, defs)
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
