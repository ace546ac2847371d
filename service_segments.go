package segmentd

import (
	"context"
	"strings"
	"sync"
	"time"
)

// RefreshMode says how fresh segment counts and samples are
// (architecture.md §3.4).
type RefreshMode int

const (
	// RefreshRealtime: contacts_count, contacts_sample and membership are
	// exact as of each request.
	RefreshRealtime RefreshMode = iota
	// RefreshScheduled emulates SendGrid's cadence: counts and samples are
	// snapshots recomputed on a schedule (first after 15 minutes, then
	// hourly, the interval doubling up to 24 hours while nothing changes) or
	// by a manual refresh. Membership itself (segment_ids, exports) stays
	// exact, as at SendGrid, where exports reflect near-real-time membership.
	RefreshScheduled
)

// Scheduled-mode intervals (sendgrid-api.md §5 "Timing").
const (
	firstSampleDelay  = 15 * time.Minute
	sampleInterval    = time.Hour
	maxSampleInterval = 24 * time.Hour
)

// SegmentView is a segment with what the faces render beside it.
type SegmentView struct {
	Segment
	ContactsCount    int
	Sample           []Contact // filled only when asked for
	SampleUpdatedAt  time.Time
	NextSampleUpdate time.Time
	RefreshesUsed    int // manual refreshes today, in the time zone of the last refresh
	// QueryError is set when the query no longer checks against the
	// account's fields (a field it uses was deleted): the segment matches
	// nobody and SendGrid's status.query_validation reads INVALID.
	QueryError string
	// Identifiers counts the members having each identifier.
	Identifiers IdentifierCounts
}

// SegmentFilter selects segments for the list endpoints, with SendGrid's
// truth table (sendgrid-api.md §4): IDs win over everything; otherwise
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

func (f SegmentFilter) keep(s *Segment) bool {
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

// snapshot is a scheduled-mode count and sample.
type snapshot struct {
	count     int
	idents    IdentifierCounts
	sample    []string
	updatedAt time.Time
	next      time.Time
	interval  time.Duration
}

// snapshots holds scheduled-mode snapshots by segment id. They live in
// memory: after a restart each segment starts a fresh schedule.
type snapshots struct {
	mu sync.Mutex
	m  map[string]*snapshot
}

func parentList(ids []string) string {
	if len(ids) > 0 {
		return ids[0]
	}
	return ""
}

func validateSegmentName(name string) error {
	if strings.TrimSpace(name) == "" {
		return Errorf(KindInvalid, "name", "name is required")
	}
	if n := len([]rune(name)); n > MaxSegmentNameLength {
		return Errorf(KindInvalid, "name", "name must be between 1 and %d characters", MaxSegmentNameLength)
	}
	return nil
}

// CreateSegment validates and stores a segment and starts tracking its
// membership. version is "2" for Segments 2.0 SQL, "" for a v1 SGQL query.
func (s *Service) CreateSegment(ctx context.Context, acct int64, name, queryDSL, version string, parentListIDs []string) (SegmentView, error) {
	if err := validateSegmentName(name); err != nil {
		return SegmentView{}, err
	}
	if len(parentListIDs) > MaxSegmentParentLists {
		return SegmentView{}, Errorf(KindInvalid, "parent_list_ids", "parent_list_ids may hold at most %d list id", MaxSegmentParentLists)
	}
	for _, id := range parentListIDs {
		if !IsUUID(id) {
			return SegmentView{}, Errorf(KindInvalid, "parent_list_ids", "list id %q is not a valid UUID", id)
		}
		if _, err := s.store.List(ctx, acct, id); err != nil {
			if ErrorKindOf(err) == KindNotFound {
				return SegmentView{}, Errorf(KindInvalid, "parent_list_ids", "list %q does not exist", id)
			}
			return SegmentView{}, err
		}
	}
	seg := Segment{ID: NewID(), Name: name, QueryDSL: queryDSL, QueryVersion: version, ParentListIDs: parentListIDs}
	if err := s.checkQuery(acct, &seg); err != nil {
		return SegmentView{}, err
	}
	now := s.clock.Now()
	seg.CreatedAt, seg.UpdatedAt = now, now
	seg, err := s.segs.CreateSegment(ctx, acct, seg, s.cfg.MaxLiveSegments)
	if err != nil {
		return SegmentView{}, err
	}
	if err := s.members.PutSegment(acct, seg.ID, seg.Lang(), seg.QueryDSL, parentList(seg.ParentListIDs), now); err != nil {
		return SegmentView{}, err
	}
	s.resetSnapshot(seg.ID, now)
	return s.view(ctx, acct, seg, true, now)
}

// checkQuery rejects a query that does not parse or check, as a 400 on
// query_dsl with the positioned message (architecture.md §3.5).
func (s *Service) checkQuery(acct int64, seg *Segment) error {
	if strings.TrimSpace(seg.QueryDSL) == "" {
		return Errorf(KindInvalid, "query_dsl", "query_dsl is required")
	}
	if err := s.members.CheckQuery(acct, seg.Lang(), seg.QueryDSL, false); err != nil {
		return Errorf(KindInvalid, "query_dsl", "%s", err.Error())
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
	out := []SegmentView{}
	for _, seg := range segs {
		if !f.keep(&seg) {
			continue
		}
		v, err := s.view(ctx, acct, seg, false, now)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Segment returns a live segment; sample adds its contacts sample. A
// deleted segment is not found (SendGrid forgets it).
func (s *Service) Segment(ctx context.Context, acct int64, id string, sample bool) (SegmentView, error) {
	seg, err := s.liveSegment(ctx, acct, id)
	if err != nil {
		return SegmentView{}, err
	}
	return s.view(ctx, acct, seg, sample, s.clock.Now())
}

func (s *Service) liveSegment(ctx context.Context, acct int64, id string) (Segment, error) {
	seg, err := s.segs.Segment(ctx, acct, id)
	if err == nil && !seg.Live() {
		err = Errorf(KindNotFound, "segment_id", "segment %q does not exist", id)
	}
	return seg, err
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
		if err := s.members.PutSegment(acct, seg.ID, seg.Lang(), seg.QueryDSL, parentList(seg.ParentListIDs), now); err != nil {
			return SegmentView{}, err
		}
		s.resetSnapshot(seg.ID, now)
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
	s.members.RemoveSegment(acct, id)
	s.snaps.mu.Lock()
	delete(s.snaps.m, id)
	s.snaps.mu.Unlock()
	return nil
}

// RefreshSegment is SendGrid's manual refresh: at most 1 per segment per
// hour, 2 per segment per day and 10 per account per day, the days
// starting at midnight in the user's time zone. It returns a job id; in
// scheduled mode the refresh recomputes the count and sample at once.
func (s *Service) RefreshSegment(ctx context.Context, acct int64, id, timeZone string) (string, error) {
	if timeZone == "" {
		return "", Errorf(KindInvalid, "user_time_zone", "user_time_zone is required")
	}
	loc, err := time.LoadLocation(timeZone)
	if err != nil || timeZone == "Local" {
		return "", Errorf(KindInvalid, "user_time_zone", "user_time_zone %q is not an IANA time zone name", timeZone)
	}
	seg, err := s.liveSegment(ctx, acct, id)
	if err != nil {
		return "", err
	}
	now := s.clock.Now()
	y, m, d := now.In(loc).Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, loc)
	since := midnight
	if hourAgo := now.Add(-time.Hour); hourAgo.Before(since) {
		since = hourAgo
	}
	past, err := s.segs.Refreshes(ctx, acct, since)
	if err != nil {
		return "", err
	}
	var segHour, segDay, acctDay int
	for _, r := range past {
		today := !r.At.Before(midnight)
		if r.SegmentID == seg.ID {
			if r.At.After(now.Add(-time.Hour)) {
				segHour++
			}
			if today {
				segDay++
			}
		}
		if today {
			acctDay++
		}
	}
	switch {
	case segHour >= MaxRefreshesPerSegmentHour:
		return "", Errorf(KindRateLimited, "segment_id", "segment %s was already refreshed in the last hour (at most %d refresh per hour)", seg.ID, MaxRefreshesPerSegmentHour)
	case segDay >= MaxRefreshesPerSegmentDay:
		return "", Errorf(KindRateLimited, "segment_id", "segment %s was already refreshed %d times today (at most %d per day)", seg.ID, segDay, MaxRefreshesPerSegmentDay)
	case acctDay >= MaxRefreshesPerAccountDay:
		return "", Errorf(KindRateLimited, "segment_id", "this account already refreshed segments %d times today (at most %d per day)", acctDay, MaxRefreshesPerAccountDay)
	}
	if err := s.segs.RecordRefresh(ctx, acct, Refresh{SegmentID: seg.ID, At: now, TimeZone: timeZone}); err != nil {
		return "", err
	}
	s.takeSnapshot(acct, seg, now)
	return NewID(), nil
}

// refreshesToday counts a segment's manual refreshes since midnight in the
// time zone its last refresh named (SendGrid: "since the start of today in
// the user's time zone"); UTC before any refresh.
func (s *Service) refreshesToday(ctx context.Context, acct int64, id string, now time.Time) (int, error) {
	past, err := s.segs.Refreshes(ctx, acct, now.Add(-26*time.Hour)) // covers every zone's today
	if err != nil {
		return 0, err
	}
	loc := time.UTC
	for _, r := range past {
		if r.SegmentID == id && r.TimeZone != "" {
			if l, err := time.LoadLocation(r.TimeZone); err == nil {
				loc = l
			}
		}
	}
	y, m, d := now.In(loc).Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, loc)
	n := 0
	for _, r := range past {
		if r.SegmentID == id && !r.At.Before(midnight) {
			n++
		}
	}
	return n, nil
}

// view renders a segment's count, sample and sample times per the refresh mode.
func (s *Service) view(ctx context.Context, acct int64, seg Segment, sample bool, now time.Time) (SegmentView, error) {
	v := SegmentView{Segment: seg}
	if err := s.members.SegmentError(acct, seg.ID); err != nil {
		v.QueryError = err.Error()
	}
	var ids []string
	if s.cfg.Refresh == RefreshScheduled {
		snap := s.dueSnapshot(acct, seg, now)
		v.ContactsCount, ids, v.Identifiers = snap.count, snap.sample, snap.idents
		v.SampleUpdatedAt, v.NextSampleUpdate = snap.updatedAt, snap.next
	} else {
		// Real time: the count and sample are computed for this request,
		// so they were updated now and the next update is the next request.
		v.ContactsCount = s.members.Count(acct, seg.ID, now)
		v.Identifiers = s.members.IdentifierCounts(acct, seg.ID, now)
		if sample {
			ids = s.members.Members(acct, seg.ID, SegmentSampleSize, now)
		}
		v.SampleUpdatedAt, v.NextSampleUpdate = now, now
	}
	n, err := s.refreshesToday(ctx, acct, seg.ID, now)
	if err != nil {
		return v, err
	}
	v.RefreshesUsed = n
	if sample {
		cs, err := s.store.ContactsByIDs(ctx, acct, ids)
		if err != nil {
			return v, err
		}
		v.Sample = s.withSegmentIDs(acct, cs, now)
	}
	return v, nil
}

func (s *Service) resetSnapshot(id string, now time.Time) {
	s.snaps.mu.Lock()
	defer s.snaps.mu.Unlock()
	// As at SendGrid, a new or edited segment shows an empty sample until
	// its first scheduled update.
	s.snaps.m[id] = &snapshot{updatedAt: now, next: now.Add(firstSampleDelay), interval: sampleInterval / 2}
}

// dueSnapshot returns the segment's snapshot, recomputing it when its next
// update time has passed.
func (s *Service) dueSnapshot(acct int64, seg Segment, now time.Time) snapshot {
	s.snaps.mu.Lock()
	snap, ok := s.snaps.m[seg.ID]
	s.snaps.mu.Unlock()
	if !ok || !now.Before(snap.next) {
		return s.takeSnapshot(acct, seg, now)
	}
	return *snap
}

// takeSnapshot recomputes a segment's count and sample. The next update
// comes after the current interval; the interval doubles (up to 24 hours)
// when nothing entered or left, and falls back to an hour otherwise.
func (s *Service) takeSnapshot(acct int64, seg Segment, now time.Time) snapshot {
	count := s.members.Count(acct, seg.ID, now)
	sample := s.members.Members(acct, seg.ID, SegmentSampleSize, now)
	s.snaps.mu.Lock()
	defer s.snaps.mu.Unlock()
	prev, ok := s.snaps.m[seg.ID]
	interval := sampleInterval
	if ok && prev.count == count && equalStrings(prev.sample, sample) && !prev.updatedAt.Equal(prev.next) {
		interval = min(prev.interval*2, maxSampleInterval)
	}
	snap := &snapshot{count: count, idents: s.members.IdentifierCounts(acct, seg.ID, now), sample: sample, updatedAt: now, next: now.Add(interval), interval: interval}
	s.snaps.m[seg.ID] = snap
	return *snap
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// MaxSearchResults is how many matches contacts search returns (SendGrid
// returns the first 50 plus the total count).
const MaxSearchResults = 50

// SearchContacts runs an SGQL contacts search: the first 50 matches and the
// number of all matches.
func (s *Service) SearchContacts(ctx context.Context, acct int64, query string) ([]Contact, int, error) {
	if strings.TrimSpace(query) == "" {
		return nil, 0, Errorf(KindInvalid, "query", "query is required")
	}
	if err := s.members.CheckQuery(acct, LangSGQL, query, true); err != nil {
		return nil, 0, Errorf(KindInvalid, "query", "%s", err.Error())
	}
	now := s.clock.Now()
	ids, count, err := s.searchWithin(ctx, acct, query, now)
	if err != nil {
		return nil, 0, err
	}
	cs, err := s.store.ContactsByIDs(ctx, acct, ids)
	if err != nil {
		return nil, 0, err
	}
	return s.withSegmentIDs(acct, cs, now), count, nil
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
		ids, n, err := s.members.Search(acct, src, MaxSearchResults, now)
		done <- result{ids, n, err}
	}()
	select {
	case r := <-done:
		if ctx.Err() != nil {
			break // finished, but after the deadline
		}
		if r.err != nil {
			return nil, 0, Errorf(KindInvalid, "query", "%s", r.err.Error())
		}
		return r.ids, r.count, nil
	case <-ctx.Done():
	}
	return nil, 0, Errorf(KindTimeout, "query", "the search took longer than %s; narrow the query", s.cfg.SearchTimeout)
}
