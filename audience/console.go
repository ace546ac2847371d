package audience

import (
	"context"
	"slices"
	"strconv"
	"strings"

	"github.com/segmentd/segmentd"
)

// What the web console (package console) reads beyond what the vendors'
// APIs answer: the jobs an account ran lately, and a contact's segments of
// both vendors.

// maxRecentJobs is how many of an account's latest jobs RecentJobs keeps.
const maxRecentJobs = 50

// noteJob remembers that this server accepted job id of acct, for
// RecentJobs.
func (s *Service) noteJob(acct int64, id string) {
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	if s.recentJobs == nil {
		s.recentJobs = make(map[int64][]string)
	}
	ids := append(s.recentJobs[acct], id)
	if len(ids) > maxRecentJobs {
		ids = slices.Clone(ids[len(ids)-maxRecentJobs:])
	}
	s.recentJobs[acct] = ids
}

// RecentJobs returns the latest jobs (at most 50) this server accepted for
// the account since it started, newest first, each as Job reads it now
// (pending, or finished). Jobs accepted by another server sharing the
// store, or before a restart, are not among them.
func (s *Service) RecentJobs(ctx context.Context, acct int64) ([]segmentd.Job, error) {
	s.pendingMu.Lock()
	ids := slices.Clone(s.recentJobs[acct])
	s.pendingMu.Unlock()
	out := make([]segmentd.Job, 0, len(ids))
	for _, id := range slices.Backward(ids) {
		j, err := s.job(ctx, acct, id)
		if segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
			continue // the account was reset
		}
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// ContactSegments returns the live segments a contact is in, SendGrid's
// by id and Constant Contact's by their numeric ids, as the engine holds
// them now.
func (s *Service) ContactSegments(ctx context.Context, acct int64, contactID string) (sendGrid []string, cc []int64, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	for _, id := range s.members.SegmentsOf(acct, contactID, s.clock.Now()) {
		n, ok := strings.CutPrefix(id, segmentd.CCEnginePrefix)
		if !ok {
			sendGrid = append(sendGrid, id)
			continue
		}
		if v, err := strconv.ParseInt(n, 10, 64); err == nil {
			cc = append(cc, v)
		}
	}
	return sendGrid, cc, nil
}

// maxContactEvents bounds how many events ContactEvents returns.
const maxContactEvents = 100

// ContactEvents returns up to limit (1 to 100) of a contact's latest
// engagement events, newest first, as the engine holds them: the events
// its segments are evaluated on. An unknown contact is not found.
func (s *Service) ContactEvents(ctx context.Context, acct int64, contactID string, limit int) ([]segmentd.Event, error) {
	if limit < 1 || limit > maxContactEvents {
		return nil, segmentd.Errorf(segmentd.KindInvalid, "limit", "limit must be between 1 and %d", maxContactEvents)
	}
	if _, err := s.store.Contact(segmentd.WithoutLists(ctx), acct, contactID); err != nil { // exists
		return nil, err
	}
	return s.members.RecentEvents(acct, contactID, limit, s.clock.Now()), nil
}
