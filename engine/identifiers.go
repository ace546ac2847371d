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
// responses, not in the spec). Each count is one bitmap intersection.
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
	n := func(f query.TextField) int { return int(s.members.AndCardinality(a.idents[f])) }
	return segmentd.IdentifierCounts{
		Email:         n(query.FieldEmail),
		PhoneNumberID: n(query.FieldPhoneNumberID),
		ExternalID:    n(query.FieldExternalID),
		AnonymousID:   n(query.FieldAnonymousID),
	}
}
