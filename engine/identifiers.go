package engine

import (
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/query"
)

// IdentifierCounts counts a segment's members that have each identifier as
// of now: SendGrid's identifier_counts on a 2.0 segment (observed on real
// responses, not in the spec).
func (e *Engine) IdentifierCounts(acct int64, segmentID string, now time.Time) segmentd.IdentifierCounts {
	var n segmentd.IdentifierCounts
	a := e.reader(acct, now)
	if a == nil {
		return n
	}
	defer a.mu.RUnlock()
	s := a.segs[segmentID]
	if s == nil {
		return n
	}
	it := s.members.Iterator()
	for it.HasNext() {
		i := it.Next()
		if a.text[query.FieldEmail][i] != 0 {
			n.Email++
		}
		if a.text[query.FieldPhoneNumberID][i] != 0 {
			n.PhoneNumberID++
		}
		if a.text[query.FieldExternalID][i] != 0 {
			n.ExternalID++
		}
		if a.text[query.FieldAnonymousID][i] != 0 {
			n.AnonymousID++
		}
	}
	return n
}
