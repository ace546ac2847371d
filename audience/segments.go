package audience

import (
	"context"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
)

// SegmentView is a segment with what the faces render beside it.
type SegmentView struct {
	segmentd.Segment
	ContactsCount    int
	Sample           []segmentd.Contact // filled only when asked for
	SampleUpdatedAt  time.Time
	NextSampleUpdate time.Time
	RefreshesUsed    int // manual refreshes today, in the time zone of the last refresh
	// QueryError is set when the query no longer checks against the
	// account's fields (a field it uses was deleted): the segment matches
	// nobody and SendGrid's status.query_validation reads INVALID.
	QueryError string
	// Identifiers counts the members having each identifier.
	Identifiers segmentd.IdentifierCounts
}

// SegmentFilter selects segments for the list endpoints, with SendGrid's
// truth table (docs/sendgrid.md "Segments"): IDs win over everything; otherwise
// ParentListIDs and NoParentListID combine as a union; neither means all.
type SegmentFilter struct {
	IDs            []string
	ParentListIDs  []string
	NoParentListID bool
	// Version keeps only segments of this query_version ("2" or "" for
	// v1) when VersionSet.
	Version    string
	VersionSet bool
}

func (f SegmentFilter) keep(s *segmentd.Segment) bool {
	if f.VersionSet && s.QueryVersion != f.Version {
		return false
	}
	if len(f.IDs) > 0 {
		for _, id := range f.IDs {
			if strings.EqualFold(id, s.ID) {
				return true
			}
		}
		return false
	}
	if len(f.ParentListIDs) == 0 && !f.NoParentListID {
		return true
	}
	if f.NoParentListID && len(s.ParentListIDs) == 0 {
		return true
	}
	for _, want := range f.ParentListIDs {
		for _, have := range s.ParentListIDs {
			if strings.EqualFold(want, have) {
				return true
			}
		}
	}
	return false
}

func parentList(ids []string) string {
	if len(ids) > 0 {
		return ids[0]
	}
	return ""
}

func validateSegmentName(name string) error {
	if strings.TrimSpace(name) == "" {
		return segmentd.Errorf(segmentd.KindInvalid, "name", "name is required")
	}
	if n := len([]rune(name)); n > segmentd.MaxSegmentNameLength {
		return segmentd.Errorf(segmentd.KindInvalid, "name", "name must be between 1 and %d characters", segmentd.MaxSegmentNameLength)
	}
	return segmentd.CheckName("name", name)
}

// CreateSegment validates and stores a segment and starts tracking its
// membership. version is "2" for Segments 2.0 SQL, "" for a v1 SGQL query.
func (s *Service) CreateSegment(ctx context.Context, acct int64, name, queryDSL, version string, parentListIDs []string) (SegmentView, error) {
	if err := validateSegmentName(name); err != nil {
		return SegmentView{}, err
	}
	if len(parentListIDs) > segmentd.MaxSegmentParentLists {
		return SegmentView{}, segmentd.Errorf(segmentd.KindInvalid, "parent_list_ids", "parent_list_ids may hold at most %d list id", segmentd.MaxSegmentParentLists)
	}
	for _, id := range parentListIDs {
		if !segmentd.IsUUID(id) {
			return SegmentView{}, segmentd.Errorf(segmentd.KindInvalid, "parent_list_ids", "list id %s is not a valid UUID", segmentd.Quote(id))
		}
	}
	// The store checks that the parent lists exist, in the transaction
	// that inserts the segment.
	seg := segmentd.Segment{ID: segmentd.NewID(), Name: name, QueryDSL: queryDSL, QueryVersion: version, ParentListIDs: parentListIDs}
	if err := s.checkQuery(acct, &seg); err != nil {
		return SegmentView{}, err
	}
	now := s.clock.Now()
	seg.CreatedAt, seg.UpdatedAt = now, now
	seg, err := s.segs.CreateSegment(ctx, acct, seg, s.cfg.MaxLiveSegments)
	if err != nil {
		return SegmentView{}, err
	}
	if err := s.putSegment(ctx, acct, seg, now); err != nil {
		return SegmentView{}, err
	}
	s.resetSchedule(seg.ID, now)
	return s.view(ctx, acct, seg, true, now)
}

// checkQuery rejects a query that does not parse or check, as a 400 on
// query_dsl with the positioned message (docs/decisions.md §4).
func (s *Service) checkQuery(acct int64, seg *segmentd.Segment) error {
	if strings.TrimSpace(seg.QueryDSL) == "" {
		return segmentd.Errorf(segmentd.KindInvalid, "query_dsl", "query_dsl is required")
	}
	if err := s.members.CheckQuery(acct, seg.Lang(), seg.QueryDSL); err != nil {
		return segmentd.Errorf(segmentd.KindInvalid, "query_dsl", "%s", err.Error())
	}
	return nil
}

// Segments lists the account's live segments that pass the filter.
func (s *Service) Segments(ctx context.Context, acct int64, f SegmentFilter) ([]SegmentView, error) {
	segs, err := s.segs.Segments(ctx, acct)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	// The account's refreshes once for every segment listed.
	past, err := s.segs.Refreshes(ctx, acct, refreshWindow(now))
	if err != nil {
		return nil, err
	}
	out := []SegmentView{}
	for _, seg := range segs {
		if !f.keep(&seg) {
			continue
		}
		out = append(out, s.viewWith(acct, seg, false, now, past))
	}
	return out, nil
}

// Segment returns a live segment; sample adds its contacts sample. A
// deleted segment is not found (SendGrid forgets it).
func (s *Service) Segment(ctx context.Context, acct int64, id string, sample bool) (SegmentView, error) {
	rr, ok := s.segs.(segmentd.SegmentRefreshReader)
	if !ok {
		seg, err := s.liveSegment(ctx, acct, id)
		if err != nil {
			return SegmentView{}, err
		}
		return s.view(ctx, acct, seg, sample, s.clock.Now())
	}
	// The segment and its refreshes in one read: on a database, one round
	// trip rather than two (docs/postgres.md, "Segment GET on a database").
	now := s.clock.Now()
	seg, past, err := rr.SegmentWithRefreshes(ctx, acct, id, refreshWindow(now))
	if err == nil && !seg.Live() {
		err = segmentNotFound(id)
	}
	if err != nil {
		return SegmentView{}, err
	}
	return s.viewWith(acct, seg, sample, now, past), nil
}

func (s *Service) liveSegment(ctx context.Context, acct int64, id string) (segmentd.Segment, error) {
	seg, err := s.segs.Segment(ctx, acct, id)
	if err == nil && !seg.Live() {
		err = segmentNotFound(id)
	}
	return seg, err
}

// segmentNotFound is the error of a deleted segment, which SendGrid forgets.
func segmentNotFound(id string) error {
	return segmentd.Errorf(segmentd.KindNotFound, "segment_id", "segment %q does not exist", id)
}

// UpdateSegment changes a segment's name and/or query; parent lists never change.
func (s *Service) UpdateSegment(ctx context.Context, acct int64, id string, name, queryDSL *string) (SegmentView, error) {
	seg, err := s.liveSegment(ctx, acct, id)
	if err != nil {
		return SegmentView{}, err
	}
	if name != nil {
		if err := validateSegmentName(*name); err != nil {
			return SegmentView{}, err
		}
		seg.Name = *name
	}
	queryChanged := queryDSL != nil && *queryDSL != seg.QueryDSL
	if queryDSL != nil {
		seg.QueryDSL = *queryDSL
		if err := s.checkQuery(acct, &seg); err != nil {
			return SegmentView{}, err
		}
	}
	now := s.clock.Now()
	seg.UpdatedAt = now
	seg, err = s.segs.UpdateSegment(ctx, acct, seg)
	if err != nil {
		return SegmentView{}, err
	}
	if queryChanged {
		if err := s.putSegment(ctx, acct, seg, now); err != nil {
			return SegmentView{}, err
		}
		s.resetSchedule(seg.ID, now)
	}
	return s.view(ctx, acct, seg, true, now)
}

// DeleteSegment deletes a segment; its contacts stay.
func (s *Service) DeleteSegment(ctx context.Context, acct int64, id string) error {
	if _, err := s.liveSegment(ctx, acct, id); err != nil {
		return err
	}
	if err := s.segs.DeleteSegment(ctx, acct, id, s.clock.Now()); err != nil {
		return err
	}
	s.forgetSchedule(id)
	return s.reflect(ctx, acct, func() { s.members.RemoveSegment(acct, id) })
}

// putSegment gives the engine a stored segment, new or with a new query.
func (s *Service) putSegment(ctx context.Context, acct int64, seg segmentd.Segment, now time.Time) error {
	return s.reflectErr(ctx, acct, func() error {
		return s.members.PutSegment(acct, seg.ID, seg.Lang(), seg.QueryDSL, parentList(seg.ParentListIDs), now)
	})
}

// view renders a segment's count, sample and sample times per the refresh mode.
func (s *Service) view(ctx context.Context, acct int64, seg segmentd.Segment, sample bool, now time.Time) (SegmentView, error) {
	past, err := s.segs.Refreshes(ctx, acct, refreshWindow(now))
	if err != nil {
		return SegmentView{Segment: seg}, err
	}
	return s.viewWith(acct, seg, sample, now, past), nil
}

// viewWith is view with the account's refreshes since refreshWindow(now)
// already read (past: the segment's own at least).
func (s *Service) viewWith(acct int64, seg segmentd.Segment, sample bool, now time.Time, past []segmentd.Refresh) SegmentView {
	v := SegmentView{Segment: seg}
	if err := s.members.SegmentError(acct, seg.ID); err != nil {
		v.QueryError = err.Error()
	}
	var ids []string
	if s.cfg.Refresh == RefreshScheduled {
		smp := s.dueSample(acct, seg, now)
		v.ContactsCount, ids, v.Identifiers = smp.count, smp.sample, smp.idents
		v.SampleUpdatedAt, v.NextSampleUpdate = smp.updatedAt, smp.next
	} else {
		// Real time: the count and sample are computed for this request,
		// so they were updated now and the next update is the next request.
		v.ContactsCount = s.members.Count(acct, seg.ID, now)
		v.Identifiers = s.members.IdentifierCounts(acct, seg.ID, now)
		if sample {
			ids = s.members.Members(acct, seg.ID, segmentd.SegmentSampleSize, now)
		}
		v.SampleUpdatedAt, v.NextSampleUpdate = now, now
	}
	v.RefreshesUsed = refreshesToday(past, seg.ID, now)
	if sample {
		// From the engine, which holds every field a contact response
		// shows: reading 50 contacts from the store costs milliseconds at a
		// million contacts (docs/decisions.md §19).
		v.Sample = s.members.ContactsByIDs(acct, ids, now)
		for i := range v.Sample {
			v.Sample[i].SegmentIDs = withoutCC(v.Sample[i].SegmentIDs)
		}
	}
	return v
}

// SearchContacts runs an SGQL contacts search: the first 50 matches and the
// number of all matches.
func (s *Service) SearchContacts(ctx context.Context, acct int64, query string) ([]segmentd.Contact, int, error) {
	if strings.TrimSpace(query) == "" {
		return nil, 0, segmentd.Errorf(segmentd.KindInvalid, "query", "query is required")
	}
	if err := s.members.CheckQuery(acct, segmentd.LangSGQL, query); err != nil {
		return nil, 0, segmentd.Errorf(segmentd.KindInvalid, "query", "%s", err.Error())
	}
	now := s.clock.Now()
	ids, count, err := s.searchWithin(ctx, acct, query, now)
	if err != nil {
		return nil, 0, err
	}
	cs, err := s.store.ContactsByIDs(s.readCtx(ctx), acct, ids)
	if err == nil {
		cs, err = s.withSets(ctx, acct, cs, true, now)
	}
	if err != nil {
		return nil, 0, err
	}
	return cs, count, nil
}

// searchWithin runs a search under the search deadline (SendGrid answers
// 408 after 20 s). The engine cannot be interrupted, so a search that
// overruns finishes in the background and its result is dropped.
func (s *Service) searchWithin(ctx context.Context, acct int64, src string, now time.Time) ([]string, int, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.SearchTimeout)
	defer cancel()
	type result struct {
		ids   []string
		count int
		err   error
	}
	done := make(chan result, 1)
	go func() {
		ids, n, err := s.members.Search(acct, src, segmentd.MaxSearchResults, now)
		done <- result{ids, n, err}
	}()
	select {
	case r := <-done:
		if ctx.Err() != nil {
			break // finished, but after the deadline
		}
		if r.err != nil {
			return nil, 0, segmentd.Errorf(segmentd.KindInvalid, "query", "%s", r.err.Error())
		}
		return r.ids, r.count, nil
	case <-ctx.Done():
	}
	return nil, 0, segmentd.Errorf(segmentd.KindTimeout, "query", "the search took longer than %s; narrow the query", s.cfg.SearchTimeout)
}
