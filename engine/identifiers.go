package engine

import (
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/query"
)

// numIdents is how many of the first text fields are identifiers: the
// query package orders email, phone_number_id, external_id and
// anonymous_id first (TestIdentifierFieldsComeFirst), and account.idents
// keeps a bitmap of the contacts having each.
const numIdents = 4

// IdentifierCounts counts a segment's members that have each identifier as
// of now: SendGrid's identifier_counts on a 2.0 segment (observed on real
// responses, not in the spec). Each count is one bitmap intersection,
// whose cost grows with the segment; the counts are kept per segment
// with the account's write count they were taken at (account.writes),
// so that a segment GET between two writes does no intersection.
func (e *Engine) IdentifierCounts(acct int64, segmentID string, now time.Time) segmentd.IdentifierCounts {
	a := e.reader(acct, now)
	if a == nil {
		return segmentd.IdentifierCounts{}
	}
	defer a.mu.RUnlock()
	s := a.segs[segmentID]
	if s == nil {
		return segmentd.IdentifierCounts{}
	}
	if c := s.idents.Load(); c != nil && c.writes == a.writes {
		return c.counts
	}
	n := func(f query.TextField) int { return int(s.members.AndCardinality(a.idents[f])) }
	c := &identCounts{writes: a.writes, counts: segmentd.IdentifierCounts{
		Email:         n(query.FieldEmail),
		PhoneNumberID: n(query.FieldPhoneNumberID),
		ExternalID:    n(query.FieldExternalID),
		AnonymousID:   n(query.FieldAnonymousID),
	}}
	s.idents.Store(c) // readers may race to store: each stores the same counts
	return c.counts
}

// identCounts is a segment's IdentifierCounts as of the account's
// writes-th write: exact while no write follows, since every change of
// a segment's members or of a contact's identifiers happens under the
// write lock, which counts itself on release.
type identCounts struct {
	writes uint64
	counts segmentd.IdentifierCounts
}
