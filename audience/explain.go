package audience

import (
	"context"
	"strings"

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
