package audience

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
)

// Preview and explain (docs/explain.md): read-only questions about
// segments that a segment builder asks, answered from the engine.

// PreviewInput is a query to preview: Lang says its dialect (criteria are
// Constant Contact's segment_criteria JSON), ParentListID restricts it to
// a list's contacts as a 2.0 segment's parent list does.
type PreviewInput struct {
	Lang         segmentd.QueryLang
	Query        string
	ParentListID string
	// Sample is how many matching contacts to show: 0 to
	// segmentd.MaxPreviewSample.
	Sample int
}

// PreviewView is what a query would select if it were saved now.
type PreviewView struct {
	Count  int
	Sample []segmentd.Contact
}

// Preview evaluates a query over the account's contacts as of now without
// saving anything. An invalid query fails with a *segmentd.QueryError
// saying where (line and column, or the criteria's JSON path).
func (s *Service) Preview(ctx context.Context, acct int64, in PreviewInput) (PreviewView, error) {
	field := "query"
	if in.Lang == segmentd.LangCC {
		field = "criteria"
	}
	if strings.TrimSpace(in.Query) == "" {
		return PreviewView{}, segmentd.Errorf(segmentd.KindInvalid, field, "%s is required", field)
	}
	if in.Sample < 0 || in.Sample > segmentd.MaxPreviewSample {
		return PreviewView{}, segmentd.Errorf(segmentd.KindInvalid, "sample", "sample must be a number from 0 to %d", segmentd.MaxPreviewSample)
	}
	if in.ParentListID != "" {
		if !segmentd.IsUUID(in.ParentListID) {
			return PreviewView{}, segmentd.Errorf(segmentd.KindInvalid, "parent_list_id", "list id %s is not a valid UUID", segmentd.Quote(in.ParentListID))
		}
		if _, err := s.store.List(ctx, acct, in.ParentListID); err != nil {
			return PreviewView{}, err
		}
	}
	now := s.clock.Now()
	ids, n, err := s.members.Preview(acct, in.Lang, in.Query, in.ParentListID, in.Sample, now)
	if err != nil {
		return PreviewView{}, err
	}
	v := PreviewView{Count: n, Sample: s.members.ContactsByIDs(acct, ids, now)}
	for i := range v.Sample {
		v.Sample[i].SegmentIDs = withoutCC(v.Sample[i].SegmentIDs)
	}
	return v, nil
}

// ExplainInput names a segment (by vendor and id) and a contact (by id or
// by email).
type ExplainInput struct {
	Segment   segmentd.HookSegment
	ContactID string
	Email     string
}

// ExplainView is why a contact is or is not in a segment as of At, with
// the definition the explanation's positions (QueryDSL) or JSON paths
// (Criteria) refer to.
type ExplainView struct {
	Segment  segmentd.HookSegment
	Contact  segmentd.Contact
	At       time.Time
	QueryDSL string
	Criteria string
	segmentd.Explanation
}

// Explain evaluates a live segment's query for one contact as of now,
// clause by clause. An unknown segment or contact is not found.
func (s *Service) Explain(ctx context.Context, acct int64, in ExplainInput) (ExplainView, error) {
	v := ExplainView{Segment: in.Segment}
	switch {
	case in.ContactID != "" && in.Email != "":
		return v, segmentd.Errorf(segmentd.KindInvalid, "", "give contact_id or email, not both")
	case in.ContactID == "" && in.Email == "":
		return v, segmentd.Errorf(segmentd.KindInvalid, "contact_id", "contact_id or email is required")
	}
	switch in.Segment.Vendor {
	case segmentd.VendorSendGrid:
		seg, err := s.liveSegment(ctx, acct, in.Segment.ID)
		if err != nil {
			return v, err
		}
		v.QueryDSL = seg.QueryDSL
	case segmentd.VendorConstantContact:
		id, err := strconv.ParseInt(in.Segment.ID, 10, 64)
		if err != nil || id < 1 {
			return v, segmentd.Errorf(segmentd.KindNotFound, "segment_id", "Constant Contact segment %s does not exist", segmentd.Quote(in.Segment.ID))
		}
		seg, err := s.liveCCSegment(ctx, acct, id)
		if err != nil {
			return v, err
		}
		v.Criteria = seg.Criteria
	default:
		return v, segmentd.Errorf(segmentd.KindNotFound, "vendor", "unknown vendor %s (want %s or %s)", segmentd.Quote(in.Segment.Vendor), segmentd.VendorSendGrid, segmentd.VendorConstantContact)
	}
	c, err := s.explainContact(ctx, acct, in)
	if err != nil {
		return v, err
	}
	v.Contact, v.At = c, s.clock.Now()
	v.Explanation, err = s.members.Explain(acct, in.Segment.EngineID(), c.ID, v.At)
	return v, err
}

func (s *Service) explainContact(ctx context.Context, acct int64, in ExplainInput) (segmentd.Contact, error) {
	if in.ContactID != "" {
		return s.store.Contact(ctx, acct, in.ContactID)
	}
	if len(in.Email) > 100 || !segmentd.ValidEmail(segmentd.NormalizeEmail(in.Email)) {
		return segmentd.Contact{}, segmentd.Errorf(segmentd.KindInvalid, "email", "email %s is not a valid email address", segmentd.Quote(in.Email))
	}
	key := segmentd.NormalizeEmail(in.Email)
	found, err := s.store.ContactsByEmails(ctx, acct, []string{key})
	if err != nil {
		return segmentd.Contact{}, err
	}
	c, ok := found[key]
	if !ok {
		return segmentd.Contact{}, segmentd.Errorf(segmentd.KindNotFound, "email", "no contact has the email %s", segmentd.Quote(in.Email))
	}
	return c, nil
}

// CompletionsView is what a query of the account may name besides the
// query language's own names: its custom fields and its lists.
type CompletionsView struct {
	Fields []segmentd.FieldDefinition
	Lists  []segmentd.List
}

// Completions returns the account's custom fields and lists, for a
// segment builder's completion.
func (s *Service) Completions(ctx context.Context, acct int64) (CompletionsView, error) {
	var v CompletionsView
	var err error
	if v.Fields, err = s.store.FieldDefinitions(ctx, acct); err != nil {
		return v, err
	}
	after := ""
	for {
		page, err := s.store.Lists(ctx, acct, after, segmentd.MaxListPageSize)
		if err != nil {
			return v, err
		}
		v.Lists = append(v.Lists, page...)
		if len(page) < segmentd.MaxListPageSize {
			return v, nil
		}
		after = page[len(page)-1].ID
	}
}
