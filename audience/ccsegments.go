package audience

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/segmentd/segmentd"
)

// This file holds the rules of Constant Contact's V3 segments
// (docs/constantcontact.md). The criteria cross the Membership seam as
// text in LangCC; the engine (through package criteria) parses and checks
// them, and its error names the offending JSON path.

func validateCCSegmentName(name string) error {
	if strings.TrimSpace(name) == "" {
		return segmentd.Errorf(segmentd.KindInvalid, "name", "name is required")
	}
	if utf8.RuneCountInString(name) > segmentd.MaxCCSegmentNameLength {
		return segmentd.Errorf(segmentd.KindInvalid, "name", "name must be at most %d characters", segmentd.MaxCCSegmentNameLength)
	}
	return segmentd.CheckName("name", name)
}

// checkCCCriteria rejects criteria that are missing, longer than the
// spec's 20,000 characters, or that the engine cannot parse and check.
func (s *Service) checkCCCriteria(acct int64, criteria string) error {
	if strings.TrimSpace(criteria) == "" {
		return segmentd.Errorf(segmentd.KindInvalid, "segment_criteria", "segment_criteria is required")
	}
	if n := utf8.RuneCountInString(criteria); n > segmentd.MaxCCSegmentCriteriaLength {
		return segmentd.Errorf(segmentd.KindInvalid, "segment_criteria", "segment_criteria must be at most %d characters (it has %d)", segmentd.MaxCCSegmentCriteriaLength, n)
	}
	if err := s.members.CheckQuery(acct, segmentd.LangCC, criteria); err != nil {
		// The engine's message names a path inside the criteria
		// ("criteria.group[0].op: …"); say whose path it is.
		msg := err.Error()
		if !strings.HasPrefix(msg, "segment_criteria") {
			msg = "segment_criteria: " + msg
		}
		return segmentd.Errorf(segmentd.KindInvalid, "segment_criteria", "%s", msg)
	}
	return nil
}

// CreateCCSegment validates and stores a Constant Contact segment and
// starts tracking its membership.
func (s *Service) CreateCCSegment(ctx context.Context, acct int64, name, criteria string) (segmentd.CCSegment, error) {
	if err := validateCCSegmentName(name); err != nil {
		return segmentd.CCSegment{}, err
	}
	if err := s.checkCCCriteria(acct, criteria); err != nil {
		return segmentd.CCSegment{}, err
	}
	now := s.clock.Now()
	seg, err := s.cfg.CCSegments.CreateCCSegment(ctx, acct, segmentd.CCSegment{Name: name, Criteria: criteria, CreatedAt: now, EditedAt: now}, s.cfg.MaxLiveCCSegments)
	if err != nil {
		return segmentd.CCSegment{}, err
	}
	if err := s.putSegment(ctx, acct, seg.EngineSegment(), now); err != nil {
		return segmentd.CCSegment{}, err
	}
	return seg, nil
}

// CCSegments returns a page of the account's live Constant Contact segments.
func (s *Service) CCSegments(ctx context.Context, acct int64, p segmentd.CCSegmentPage) ([]segmentd.CCSegment, error) {
	return s.cfg.CCSegments.CCSegments(ctx, acct, p)
}

// CCSegment returns a segment by id, deleted or not (Constant Contact keeps
// a deleted segment's details readable).
func (s *Service) CCSegment(ctx context.Context, acct int64, id int64) (segmentd.CCSegment, error) {
	return s.cfg.CCSegments.CCSegment(ctx, acct, id)
}

// liveCCSegment returns a segment that has not been deleted. Writes to a
// deleted segment, and reads of its contacts, are not found.
func (s *Service) liveCCSegment(ctx context.Context, acct int64, id int64) (segmentd.CCSegment, error) {
	seg, err := s.cfg.CCSegments.CCSegment(ctx, acct, id)
	if err == nil && !seg.Live() {
		err = segmentd.Errorf(segmentd.KindNotFound, "segment_id", "segment %d was deleted", id)
	}
	return seg, err
}

// UpdateCCSegment is PUT /segments/{id}: both the name and the criteria
// are required. edited_at moves only when one of them changes.
func (s *Service) UpdateCCSegment(ctx context.Context, acct int64, id int64, name, criteria string) (segmentd.CCSegment, error) {
	seg, err := s.liveCCSegment(ctx, acct, id)
	if err != nil {
		return segmentd.CCSegment{}, err
	}
	if err := validateCCSegmentName(name); err != nil {
		return segmentd.CCSegment{}, err
	}
	if err := s.checkCCCriteria(acct, criteria); err != nil {
		return segmentd.CCSegment{}, err
	}
	return s.saveCCSegment(ctx, acct, seg, name, criteria)
}

// RenameCCSegment is PATCH /segments/{id}/name.
func (s *Service) RenameCCSegment(ctx context.Context, acct int64, id int64, name string) (segmentd.CCSegment, error) {
	seg, err := s.liveCCSegment(ctx, acct, id)
	if err != nil {
		return segmentd.CCSegment{}, err
	}
	if err := validateCCSegmentName(name); err != nil {
		return segmentd.CCSegment{}, err
	}
	return s.saveCCSegment(ctx, acct, seg, name, seg.Criteria)
}

// saveCCSegment stores a validated change, and gives the engine the new
// criteria when they changed.
func (s *Service) saveCCSegment(ctx context.Context, acct int64, seg segmentd.CCSegment, name, criteria string) (segmentd.CCSegment, error) {
	if name == seg.Name && criteria == seg.Criteria {
		return seg, nil
	}
	criteriaChanged := criteria != seg.Criteria
	now := s.clock.Now()
	seg.Name, seg.Criteria, seg.EditedAt = name, criteria, now
	seg, err := s.cfg.CCSegments.UpdateCCSegment(ctx, acct, seg)
	if err != nil {
		return segmentd.CCSegment{}, err
	}
	if criteriaChanged {
		if err := s.putSegment(ctx, acct, seg.EngineSegment(), now); err != nil {
			return segmentd.CCSegment{}, err
		}
	}
	return seg, nil
}

// DeleteCCSegment deletes a segment; its contacts stay, and its details
// stay readable by id. Deleting it again is not found.
func (s *Service) DeleteCCSegment(ctx context.Context, acct int64, id int64) error {
	seg, err := s.liveCCSegment(ctx, acct, id)
	if err != nil {
		return err
	}
	if err := s.cfg.CCSegments.DeleteCCSegment(ctx, acct, id, s.clock.Now()); err != nil {
		return err
	}
	return s.reflect(ctx, acct, func() { s.members.RemoveSegment(acct, seg.EngineID()) })
}

// ContactPage is a page of contacts read in some order, and whether more
// follow.
type ContactPage struct {
	Contacts []segmentd.Contact
	More     bool
}

// CCSegmentContacts pages through a live segment's members as of now in
// the engine's order: up to limit contacts from the offset-th member.
func (s *Service) CCSegmentContacts(ctx context.Context, acct int64, id int64, offset, limit int) (ContactPage, error) {
	seg, err := s.liveCCSegment(ctx, acct, id)
	if err != nil {
		return ContactPage{}, err
	}
	// One id past the page tells whether another page follows.
	ids := s.members.MembersFrom(acct, seg.EngineID(), offset, limit+1, s.clock.Now())
	more := len(ids) > limit
	if more {
		ids = ids[:limit]
	}
	cs, err := s.store.ContactsByIDs(s.readCtx(ctx), acct, ids)
	if err == nil {
		cs, err = s.withSets(ctx, acct, cs, false, s.clock.Now())
	}
	return ContactPage{Contacts: cs, More: more}, err
}

// CCSegmentCount is the live number of a segment's members.
func (s *Service) CCSegmentCount(ctx context.Context, acct int64, id int64) (int, error) {
	seg, err := s.liveCCSegment(ctx, acct, id)
	if err != nil {
		return 0, err
	}
	return s.members.Count(acct, seg.EngineID(), s.clock.Now()), nil
}

// ScanContacts pages through all of an account's contacts in id order: up
// to limit contacts after the id afterID ("" to start).
func (s *Service) ScanContacts(ctx context.Context, acct int64, afterID string, limit int) (ContactPage, error) {
	cs, err := s.store.ScanContacts(ctx, acct, afterID, limit+1)
	if err != nil {
		return ContactPage{}, err
	}
	more := len(cs) > limit
	if more {
		cs = cs[:limit]
	}
	return ContactPage{Contacts: cs, More: more}, nil
}
