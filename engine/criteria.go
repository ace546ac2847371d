package engine

import (
	"slices"
	"sort"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/criteria"
	"github.com/segmentd/segmentd/query"
)

// Constant Contact segments (segmentd.LangCC) hold a criteria.Criteria.
// Their query is its translation against the account's custom fields and
// campaigns, so it is translated again whenever either changes: SetFields
// re-checks every segment, and events that bring a new campaign, or move
// a campaign's first event earlier, re-translate and re-evaluate exactly
// the segments whose last-n-campaigns prefix changed.

// campaignSet is an account's email campaigns: every distinct
// singlesend_id and marketing_campaign_id of the events it was given
// (events of unknown or deleted contacts included: the campaigns are the
// account's, as the stored events hold them), with the time of each
// campaign's first event.
type campaignSet struct {
	first map[string]int64
	order []string // newest first; rebuilt by list when stale
	stale bool
}

// note records an event's campaign and reports whether the order may have
// changed: a new campaign, or an earlier first event.
func (cs *campaignSet) note(id string, ts int64) bool {
	if id == "" {
		return false
	}
	if cs.first == nil {
		cs.first = make(map[string]int64)
	}
	if t, ok := cs.first[id]; ok && t <= ts {
		return false
	}
	cs.first[id] = ts
	cs.stale = true
	return true
}

// noteAll records the campaigns of evs.
func (cs *campaignSet) noteAll(evs []query.Event) bool {
	changed := false
	var ss, mc lastSeen // events of one campaign come in runs
	for i := range evs {
		e := &evs[i]
		changed = cs.noteRun(&ss, e.SinglesendID, e.Timestamp) || changed
		changed = cs.noteRun(&mc, e.MarketingCampaignID, e.Timestamp) || changed
	}
	return changed
}

// noteSet records the campaigns of another set, as noteAll of the events
// it noted would: a campaign's first time is the least of its events'.
func (cs *campaignSet) noteSet(o *campaignSet) bool {
	changed := false
	for id, ts := range o.first {
		changed = cs.note(id, ts) || changed
	}
	return changed
}

// lastSeen is the campaign of the previous event and its first event's
// time, which spare noteAll a map lookup per event.
type lastSeen struct {
	id    string
	first int64
}

func (cs *campaignSet) noteRun(r *lastSeen, id string, ts int64) bool {
	if id == "" || id == r.id && ts >= r.first {
		return false
	}
	changed := cs.note(id, ts)
	r.id, r.first = id, cs.first[id]
	return changed
}

// list returns the campaigns newest first: latest first event first, ties
// by id. The slice is shared; callers must not modify it.
func (cs *campaignSet) list() []string {
	if !cs.stale {
		return cs.order
	}
	cs.order = cs.order[:0]
	for id := range cs.first {
		cs.order = append(cs.order, id)
	}
	sort.Slice(cs.order, func(i, j int) bool {
		a, b := cs.order[i], cs.order[j]
		if ta, tb := cs.first[a], cs.first[b]; ta != tb {
			return ta > tb
		}
		return a < b
	})
	cs.stale = false
	return cs.order
}

// prefix returns the campaigns a criteria segment looks at.
func (cs *campaignSet) prefix(c *criteria.Criteria) []string {
	l := cs.list()
	return l[:min(c.LastCampaigns(), len(l))]
}

// checkSegment translates a criteria segment against the account's fields
// and campaigns (a query segment keeps its query) and checks its query.
func (a *account) checkSegment(s *segment) (*query.Checked, error) {
	if s.cc != nil {
		used := slices.Clone(a.camps.prefix(s.cc))
		q, err := s.cc.Query(a.cat, used)
		if err != nil {
			return nil, err
		}
		s.q, s.ccUsed = q, used
		s.an = analyze(s.q)
	}
	return query.Check(s.q, a.cat)
}

// campaignsChanged re-translates and re-evaluates the criteria segments
// whose campaign prefix is no longer the one they were translated with.
func (a *account) campaignsChanged(now int64) {
	changed := false
	for _, s := range a.segs {
		if s.cc == nil || !s.cc.UsesCampaigns() || slices.Equal(a.camps.prefix(s.cc), s.ccUsed) {
			continue
		}
		changed = true
		ch, err := a.checkSegment(s)
		if err != nil {
			a.breakSegment(s, err)
			continue
		}
		a.compile(s, ch, binding(s.an, a.cat))
		a.evaluate(s, now)
	}
	if changed {
		a.replan(now)
	}
}

// CheckCriteria checks that criteria translate into a query that checks
// against the account's current custom fields. Errors are *criteria.Error
// naming the condition at fault.
func (e *Engine) CheckCriteria(acct int64, c *criteria.Criteria) error {
	cat := e.catalog(acct)
	q, err := c.Query(cat, nil) // which campaigns are in scope never makes criteria invalid
	if err != nil {
		return err
	}
	_, err = query.Check(q, cat)
	return err
}

// PutCriteriaSegment creates or replaces segment id with Constant Contact
// criteria, translated against the account's custom fields and campaigns
// and evaluated over all its contacts at now (restricted to parentListID
// when it is not ""). As with PutSegment, criteria that no longer check
// leave the segment matching nobody, and the error is returned.
func (e *Engine) PutCriteriaSegment(acct int64, id string, c *criteria.Criteria, parentListID string, now time.Time) error {
	a := e.writerFor(acct, segmentd.CauseDefinition)
	defer e.release(a)
	ms := a.clock(now)
	s := a.segmentOrNew(id)
	s.cc, s.parent = c, parentListID
	ch, err := a.checkSegment(s)
	return a.settle(s, ch, err, ms)
}

// Campaigns returns the account's campaigns, newest first.
func (e *Engine) Campaigns(acct int64) []string {
	a := e.get(acct)
	if a == nil {
		return nil
	}
	a.mu.Lock() // list sorts on demand
	defer a.mu.Unlock()
	return slices.Clone(a.camps.list())
}
