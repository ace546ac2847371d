package audience

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/segmentd/segmentd"
)

// RefreshMode says how fresh segment counts and samples are
// (docs/decisions.md §3).
type RefreshMode int

const (
	// RefreshRealtime: contacts_count, contacts_sample and membership are
	// exact as of each request.
	RefreshRealtime RefreshMode = iota
	// RefreshScheduled emulates SendGrid's cadence: counts and samples are
	// recomputed on a schedule (first after 15 minutes, then
	// hourly, the interval doubling up to 24 hours while nothing changes) or
	// by a manual refresh. Membership itself (segment_ids, exports) stays
	// exact, as at SendGrid, where exports reflect near-real-time membership.
	RefreshScheduled
)

// Scheduled-mode intervals (SendGrid's timing, docs/sendgrid.md "Segments").
const (
	firstSampleDelay  = 15 * time.Minute
	sampleInterval    = time.Hour
	maxSampleInterval = 24 * time.Hour
)

// RefreshSegment is SendGrid's manual refresh: at most 1 per segment per
// hour, 2 per segment per day and 10 per account per day, the days
// starting at midnight in the user's time zone. It returns a job id; in
// scheduled mode the refresh recomputes the count and sample at once.
// Over a limit it returns a *segmentd.RateLimitError naming that limit
// and when it lifts; when several refuse, the one that lifts last, so that
// a retry at its Reset passes.
func (s *Service) RefreshSegment(ctx context.Context, acct int64, id, timeZone string) (string, error) {
	if timeZone == "" {
		return "", segmentd.Errorf(segmentd.KindInvalid, "user_time_zone", "user_time_zone is required")
	}
	loc, err := time.LoadLocation(timeZone)
	if err != nil || timeZone == "Local" {
		return "", segmentd.Errorf(segmentd.KindInvalid, "user_time_zone", "user_time_zone %s is not an IANA time zone name", segmentd.Quote(timeZone))
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
	allow := func(past []segmentd.Refresh) error {
		var segHour []time.Time // this segment's refreshes in the last hour
		var segDay, acctDay int
		for _, r := range past {
			today := !r.At.Before(midnight)
			if r.SegmentID == seg.ID {
				if r.At.After(now.Add(-time.Hour)) {
					segHour = append(segHour, r.At)
				}
				if today {
					segDay++
				}
			}
			if today {
				acctDay++
			}
		}
		var refused *segmentd.RateLimitError
		refuse := func(limit int, reset time.Time, format string, args ...any) {
			if refused == nil || reset.After(refused.Reset) {
				refused = &segmentd.RateLimitError{Err: segmentd.Errorf(segmentd.KindRateLimited, "segment_id", format, args...), Limit: limit, Reset: reset}
			}
		}
		if n := len(segHour); n >= segmentd.MaxRefreshesPerSegmentHour {
			// The hourly limit lifts when enough of these are an hour old that
			// one more refresh fits.
			slices.SortFunc(segHour, time.Time.Compare)
			reset := segHour[n-segmentd.MaxRefreshesPerSegmentHour].Add(time.Hour)
			refuse(segmentd.MaxRefreshesPerSegmentHour, reset, "segment %s was already refreshed in the last hour (at most %d refresh per hour)", seg.ID, segmentd.MaxRefreshesPerSegmentHour)
		}
		// The daily limits lift at the next midnight in the caller's zone.
		nextMidnight := time.Date(y, m, d+1, 0, 0, 0, 0, loc)
		if segDay >= segmentd.MaxRefreshesPerSegmentDay {
			refuse(segmentd.MaxRefreshesPerSegmentDay, nextMidnight, "segment %s was already refreshed %d times today (at most %d per day)", seg.ID, segDay, segmentd.MaxRefreshesPerSegmentDay)
		}
		if acctDay >= segmentd.MaxRefreshesPerAccountDay {
			refuse(segmentd.MaxRefreshesPerAccountDay, nextMidnight, "this account already refreshed segments %d times today (at most %d per day)", acctDay, segmentd.MaxRefreshesPerAccountDay)
		}
		if refused != nil {
			return refused
		}
		return nil
	}
	// The store reads the past refreshes and records this one in one
	// transaction, so that servers sharing it cannot both pass a limit.
	if err := s.segs.RecordRefresh(ctx, acct, segmentd.Refresh{SegmentID: seg.ID, At: now, TimeZone: timeZone}, since, allow); err != nil {
		return "", err
	}
	s.takeSample(acct, seg, now)
	return segmentd.NewID(), nil
}

// refreshesToday counts, among past (the refreshes since refreshWindow),
// a segment's manual refreshes since midnight in the
// time zone its last refresh named (SendGrid: "since the start of today in
// the user's time zone"); UTC before any refresh.
func refreshesToday(past []segmentd.Refresh, id string, now time.Time) int {
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
	return n
}

// refreshWindow is the start of the refreshes refreshesToday needs: 26
// hours back covers every zone's today.
func refreshWindow(now time.Time) time.Time { return now.Add(-26 * time.Hour) }

// scheduledSample is a segment's count and sample as --refresh=scheduled
// serves them: recomputed at updatedAt, next due at next.
type scheduledSample struct {
	count     int
	idents    segmentd.IdentifierCounts
	sample    []string
	updatedAt time.Time
	next      time.Time
	interval  time.Duration
}

// schedule holds the scheduled samples by segment id. They live in
// memory: after a restart each segment starts a fresh schedule.
type schedule struct {
	mu sync.Mutex
	m  map[string]*scheduledSample
}

// resetSchedule starts a new or edited segment's schedule. As at SendGrid,
// it shows an empty sample until its first scheduled update.
func (s *Service) resetSchedule(id string, now time.Time) {
	s.sched.mu.Lock()
	defer s.sched.mu.Unlock()
	s.sched.m[id] = &scheduledSample{updatedAt: now, next: now.Add(firstSampleDelay), interval: sampleInterval / 2}
}

// forgetSchedule drops a deleted segment's schedule.
func (s *Service) forgetSchedule(id string) {
	s.sched.mu.Lock()
	delete(s.sched.m, id)
	s.sched.mu.Unlock()
}

// dueSample returns the segment's scheduled sample, recomputing it when
// its next update time has passed.
func (s *Service) dueSample(acct int64, seg segmentd.Segment, now time.Time) scheduledSample {
	s.sched.mu.Lock()
	smp, ok := s.sched.m[seg.ID]
	s.sched.mu.Unlock()
	if !ok || !now.Before(smp.next) {
		return s.takeSample(acct, seg, now)
	}
	return *smp
}

// takeSample recomputes a segment's count and sample. The next update
// comes after the current interval; the interval doubles (up to 24 hours)
// when nothing entered or left, and falls back to an hour otherwise.
func (s *Service) takeSample(acct int64, seg segmentd.Segment, now time.Time) scheduledSample {
	count := s.members.Count(acct, seg.ID, now)
	sample := s.members.Members(acct, seg.ID, segmentd.SegmentSampleSize, now)
	s.sched.mu.Lock()
	defer s.sched.mu.Unlock()
	prev, ok := s.sched.m[seg.ID]
	interval := sampleInterval
	if ok && prev.count == count && slices.Equal(prev.sample, sample) && !prev.updatedAt.Equal(prev.next) {
		interval = min(prev.interval*2, maxSampleInterval)
	}
	smp := &scheduledSample{count: count, idents: s.members.IdentifierCounts(acct, seg.ID, now), sample: sample, updatedAt: now, next: now.Add(interval), interval: interval}
	s.sched.m[seg.ID] = smp
	return *smp
}
