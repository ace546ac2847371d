package audience

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
)

// Membership history (docs/history.md): what a segment's members were at
// a past time. The store keeps every transition for the retention; the
// engine knows the members now. A segment's members at T are its members
// now with every transition timed after T undone: a contact whose first
// transition after T is an exit was a member at T, one whose first is an
// entry was not, and one without any is as it is now. So every answer
// needs only the transitions after T, which the retention keeps as long
// as T is within it.

var errNoHistory = segmentd.Errorf(segmentd.KindUnavailable, "", "this server keeps no membership history (--history-retention=0 or --webhook-delivery=false)")

// HistoryPoint is a segment's size at a time, and its entries and exits
// in the interval that follows it (up to the next point).
type HistoryPoint struct {
	At              time.Time
	Size            int
	Entered, Exited int
}

// HistoryMember is a contact at a past time: whether it was a member,
// and its email (as the history or, for a contact that still exists and
// has no transition after the time, the store knows it).
type HistoryMember struct {
	ContactID string
	Email     string
	Member    bool
}

// historyStart checks that the history of a segment may be read: the
// history is kept, the segment is a live one of the account, and t is
// within the retention. It stores the transitions the engine made so
// far, so that the history is as fresh as the engine it is read with,
// and returns the segment's engine id and now.
func (s *Service) historyStart(ctx context.Context, acct int64, seg segmentd.HookSegment, field string, ts ...time.Time) (string, time.Time, error) {
	if s.cfg.History == nil || s.members == nil {
		return "", time.Time{}, errNoHistory
	}
	if err := s.checkHookSegment(ctx, acct, 0, seg); err != nil {
		if segmentd.ErrorKindOf(err) == segmentd.KindInvalid {
			return "", time.Time{}, segmentd.Errorf(segmentd.KindNotFound, "segment_id", "the account has no %s segment %s", seg.Vendor, segmentd.Quote(seg.ID))
		}
		return "", time.Time{}, err
	}
	now := s.clock.Now()
	oldest := now.Add(-s.cfg.HistoryRetention)
	for _, t := range ts {
		if t.Before(oldest) {
			return "", now, segmentd.Errorf(segmentd.KindInvalid, field, "%s %s is before the oldest time the history keeps (%s: --history-retention=%s)",
				field, t.UTC().Format(time.RFC3339), oldest.UTC().Format(time.RFC3339), s.cfg.HistoryRetention)
		}
	}
	if s.cfg.Outbox != nil {
		if err := s.cfg.Outbox.Flush(ctx); err != nil {
			return "", now, err
		}
	}
	return seg.EngineID(), now, nil
}

// HistoryStep is the interval of a size series.
func HistoryStep(interval string) (time.Duration, bool) {
	switch interval {
	case segmentd.HistoryIntervalHour:
		return time.Hour, true
	case segmentd.HistoryIntervalDay:
		return 24 * time.Hour, true
	}
	return 0, false
}

// SegmentSizes returns a segment's size at every interval boundary from
// from (truncated to the interval, in UTC) through to (at most now), at
// most segmentd.MaxHistoryPoints points.
func (s *Service) SegmentSizes(ctx context.Context, acct int64, seg segmentd.HookSegment, from, to time.Time, interval string) ([]HistoryPoint, error) {
	step, ok := HistoryStep(interval)
	if !ok {
		return nil, segmentd.Errorf(segmentd.KindInvalid, "interval", "interval %s must be %q or %q", segmentd.Quote(interval), segmentd.HistoryIntervalHour, segmentd.HistoryIntervalDay)
	}
	from = from.UTC().Truncate(step)
	if to.Before(from) {
		return nil, segmentd.Errorf(segmentd.KindInvalid, "to", "to must not be before from")
	}
	n := int(to.Sub(from)/step) + 1
	if n > segmentd.MaxHistoryPoints {
		return nil, segmentd.Errorf(segmentd.KindInvalid, "to", "from and to span %d points of an %s; at most %d are served", n, interval, segmentd.MaxHistoryPoints)
	}
	id, now, err := s.historyStart(ctx, acct, seg, "from", from)
	if err != nil {
		return nil, err
	}
	if to.After(now) {
		return nil, segmentd.Errorf(segmentd.KindInvalid, "to", "to must not be after now (%s)", now.UTC().Format(time.RFC3339))
	}
	size := s.members.Count(acct, id, now)
	counts, err := s.cfg.History.HistoryCounts(ctx, acct, id, from, step)
	if err != nil {
		return nil, err
	}
	// Undo every bucket from the newest: a point's size is now's less the
	// entries after it, plus the exits after it.
	points := make([]HistoryPoint, n)
	for i := range points {
		points[i].At = from.Add(time.Duration(i) * step)
	}
	net := 0
	for i := len(counts) - 1; i >= 0; i-- {
		c := counts[i]
		net += c.Entered - c.Exited
		if c.Bucket < int64(n) {
			points[c.Bucket].Entered, points[c.Bucket].Exited = c.Entered, c.Exited
		}
	}
	// net now holds every bucket's; walk the points forward, taking each
	// bucket's off as its end is passed.
	for i := range points {
		points[i].Size = size - net
		net -= points[i].Entered - points[i].Exited
	}
	return points, nil
}

// SegmentTransitions returns up to limit of a segment's transitions timed
// in [from, to), by time, after the cursor; next is the cursor of the next
// page (nil: none).
func (s *Service) SegmentTransitions(ctx context.Context, acct int64, seg segmentd.HookSegment, from, to time.Time, after segmentd.HistoryCursor, limit int) ([]segmentd.Transition, *segmentd.HistoryCursor, error) {
	if limit < 1 || limit > segmentd.MaxHistoryPage {
		return nil, nil, segmentd.Errorf(segmentd.KindInvalid, "limit", "limit must be between 1 and %d", segmentd.MaxHistoryPage)
	}
	if !to.After(from) {
		return nil, nil, segmentd.Errorf(segmentd.KindInvalid, "to", "to must be after from")
	}
	id, _, err := s.historyStart(ctx, acct, seg, "from", from)
	if err != nil {
		return nil, nil, err
	}
	ts, err := s.cfg.History.HistoryTransitions(ctx, acct, id, from, to, after, limit)
	if err != nil || len(ts) < limit {
		return ts, nil, err
	}
	last := ts[len(ts)-1]
	return ts, &segmentd.HistoryCursor{At: last.At, Seq: last.Seq}, nil
}

// ContactID finds a contact by id or by email (exactly one of them).
func (s *Service) historyContact(ctx context.Context, acct int64, id, email string) (string, error) {
	switch {
	case id != "" && email != "":
		return "", segmentd.Errorf(segmentd.KindInvalid, "contact_id", "give contact_id or email, not both")
	case id != "":
		return id, nil
	case email == "":
		return "", segmentd.Errorf(segmentd.KindInvalid, "contact_id", "contact_id or email is required")
	}
	email = strings.ToLower(email)
	found, err := s.store.ContactsByEmails(ctx, acct, []string{email})
	if err != nil {
		return "", err
	}
	c, ok := found[email]
	if !ok {
		return "", segmentd.Errorf(segmentd.KindNotFound, "email", "no contact has the email %s", segmentd.Quote(email))
	}
	return c.ID, nil
}

// MemberAt says whether a contact (by id or email) was in a segment at t.
func (s *Service) MemberAt(ctx context.Context, acct int64, seg segmentd.HookSegment, contactID, email string, t time.Time) (HistoryMember, error) {
	cid, err := s.historyContact(ctx, acct, contactID, email)
	if err != nil {
		return HistoryMember{}, err
	}
	id, now, err := s.historyStart(ctx, acct, seg, "at", t)
	if err != nil {
		return HistoryMember{}, err
	}
	if t.After(now) {
		return HistoryMember{}, segmentd.Errorf(segmentd.KindInvalid, "at", "at must not be after now (%s)", now.UTC().Format(time.RFC3339))
	}
	next, ok, err := s.cfg.History.HistoryNextOf(ctx, acct, id, cid, t)
	if err != nil {
		return HistoryMember{}, err
	}
	if ok {
		return HistoryMember{ContactID: cid, Email: next.Email, Member: !next.Entered}, nil
	}
	m := HistoryMember{ContactID: cid}
	cs := s.members.ContactsByIDs(acct, []string{cid}, now)
	if len(cs) == 0 {
		return m, segmentd.Errorf(segmentd.KindNotFound, "contact_id", "contact %s does not exist and has no transition in the segment since at", segmentd.Quote(cid))
	}
	m.Email = cs[0].Email
	m.Member = slices.Contains(s.members.SegmentsOf(acct, cid, now), id)
	return m, nil
}

// MembersAt returns up to limit of a segment's members at t, ordered by
// contact id, after the contact id after ("": from the first); next is the
// last one's id when more may follow.
func (s *Service) MembersAt(ctx context.Context, acct int64, seg segmentd.HookSegment, t time.Time, after string, limit int) ([]HistoryMember, string, error) {
	if limit < 1 || limit > segmentd.MaxHistoryPage {
		return nil, "", segmentd.Errorf(segmentd.KindInvalid, "limit", "limit must be between 1 and %d", segmentd.MaxHistoryPage)
	}
	id, now, err := s.historyStart(ctx, acct, seg, "at", t)
	if err != nil {
		return nil, "", err
	}
	if t.After(now) {
		return nil, "", segmentd.Errorf(segmentd.KindInvalid, "at", "at must not be after now (%s)", now.UTC().Format(time.RFC3339))
	}
	current := s.members.Members(acct, id, -1, now)
	changed, err := s.cfg.History.HistoryFirstAfter(ctx, acct, id, t)
	if err != nil {
		return nil, "", err
	}
	// The members at t: now's, less every contact with a transition after
	// t, plus those whose first such transition is an exit.
	touched := make(map[string]*segmentd.Transition, len(changed))
	for i := range changed {
		touched[changed[i].ContactID] = &changed[i]
	}
	ids := make([]string, 0, len(current))
	for _, c := range current {
		if touched[c] == nil && c > after {
			ids = append(ids, c)
		}
	}
	for _, tr := range changed {
		if !tr.Entered && tr.ContactID > after {
			ids = append(ids, tr.ContactID)
		}
	}
	slices.Sort(ids)
	next := ""
	if len(ids) > limit {
		ids = ids[:limit]
		next = ids[limit-1]
	}
	out := make([]HistoryMember, len(ids))
	var ask []string
	for i, c := range ids {
		out[i] = HistoryMember{ContactID: c, Member: true}
		if tr := touched[c]; tr != nil {
			out[i].Email = tr.Email
		} else {
			ask = append(ask, c)
		}
	}
	if len(ask) > 0 {
		emails := map[string]string{}
		for _, c := range s.members.ContactsByIDs(acct, ask, now) {
			emails[c.ID] = c.Email
		}
		for i := range out {
			if touched[out[i].ContactID] == nil {
				out[i].Email = emails[out[i].ContactID]
			}
		}
	}
	return out, next, nil
}

// ReplaySubscription starts a replay of the history's transitions timed
// in [from, to) to a subscription: those of its segments (every segment
// the history knows, for a subscription of all) and event types, sent
// again with their original ids, segment by segment in time order, after
// its new transitions. One replay runs at a time per subscription.
func (s *Service) ReplaySubscription(ctx context.Context, acct int64, id string, from, to time.Time) (segmentd.HookReplay, error) {
	sub, err := s.Subscription(ctx, acct, id)
	if err != nil {
		return segmentd.HookReplay{}, err
	}
	if s.cfg.History == nil {
		return segmentd.HookReplay{}, errNoHistory
	}
	now := s.clock.Now()
	if oldest := now.Add(-s.cfg.HistoryRetention); from.Before(oldest) {
		return segmentd.HookReplay{}, segmentd.Errorf(segmentd.KindInvalid, "from", "from %s is before the oldest time the history keeps (%s: --history-retention=%s)",
			from.UTC().Format(time.RFC3339), oldest.UTC().Format(time.RFC3339), s.cfg.HistoryRetention)
	}
	if !to.After(from) {
		return segmentd.HookReplay{}, segmentd.Errorf(segmentd.KindInvalid, "to", "to must be after from")
	}
	if _, ok, err := s.cfg.History.HookReplay(ctx, acct, id); err != nil || ok {
		if err == nil {
			err = segmentd.Errorf(segmentd.KindConflict, "", "webhook subscription %s has a replay under way; it must finish first", segmentd.Quote(id))
		}
		return segmentd.HookReplay{}, err
	}
	if s.cfg.Outbox != nil {
		if err := s.cfg.Outbox.Flush(ctx); err != nil {
			return segmentd.HookReplay{}, err
		}
	}
	r := segmentd.HookReplay{SubscriptionID: id, From: from, To: to}
	if len(sub.Segments) == 0 {
		if r.Segments, err = s.cfg.History.HistorySegments(ctx, acct); err != nil {
			return r, err
		}
	} else {
		for _, seg := range sub.Segments {
			r.Segments = append(r.Segments, seg.EngineID())
		}
	}
	if err := s.cfg.History.PutHookReplay(ctx, acct, r); err != nil {
		return r, err
	}
	s.hooksChanged(acct)
	return r, nil
}
