package engine

import (
	"slices"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/criteria"
	"github.com/segmentd/segmentd/query"
)

// Membership adapts an Engine to segmentd.Membership, the seam through
// which the domain's Service (which cannot import this package or query)
// drives it: queries cross the seam as text in their dialect.
type Membership struct {
	*Engine
}

var _ segmentd.Membership = Membership{}

// NewMembership returns a Membership over a new, empty Engine.
func NewMembership() Membership { return Membership{Engine: New()} }

func lang(l segmentd.QueryLang) query.Lang {
	if l == segmentd.LangSQL {
		return query.SQL
	}
	return query.SGQL
}

// SetFields implements segmentd.Membership. A segment that no longer checks
// is reported by SegmentError; the Service learns of it on its next read.
func (m Membership) SetFields(acct int64, defs []segmentd.FieldDefinition, now time.Time) {
	_ = m.Engine.SetFields(acct, defs, now)
}

// DeleteTag implements segmentd.Membership.
func (m Membership) DeleteTag(acct int64, tagID string, now time.Time) {
	m.Engine.RemoveTag(acct, tagID, now)
}

// DeleteList implements segmentd.Membership.
func (m Membership) DeleteList(acct int64, listID string, now time.Time) {
	m.Engine.RemoveList(acct, listID, now)
}

// CheckQuery implements segmentd.Membership. Constant Contact criteria
// (LangCC) fail with a *criteria.Error naming the JSON path at fault.
func (m Membership) CheckQuery(acct int64, l segmentd.QueryLang, src string) error {
	if l == segmentd.LangCC {
		c, err := criteria.Parse(src)
		if err != nil {
			return err
		}
		return m.Engine.CheckCriteria(acct, c)
	}
	_, err := m.Engine.Check(acct, lang(l), src)
	return err
}

// PutSegment implements segmentd.Membership.
func (m Membership) PutSegment(acct int64, id string, l segmentd.QueryLang, src, parentListID string, now time.Time) error {
	if l == segmentd.LangCC {
		c, err := criteria.Parse(src)
		if err != nil {
			return err
		}
		return m.Engine.PutCriteriaSegment(acct, id, c, parentListID, now)
	}
	ch, err := m.Engine.Check(acct, lang(l), src)
	if err != nil {
		return err
	}
	return m.Engine.PutSegment(acct, id, ch, parentListID, now)
}

// PutSegments implements segmentd.Membership: all of an account's segments
// evaluated together in one pass over its contacts.
func (m Membership) PutSegments(acct int64, segs []segmentd.Segment, now time.Time) []error {
	defs := make([]SegmentDef, 0, len(segs))
	errs := make([]error, len(segs))
	var at []int // defs[k] is segs[at[k]]
	for i, seg := range segs {
		parent := ""
		if len(seg.ParentListIDs) > 0 {
			parent = seg.ParentListIDs[0]
		}
		def := SegmentDef{ID: seg.ID, ParentListID: parent}
		var err error
		if seg.Lang() == segmentd.LangCC {
			def.Criteria, err = criteria.Parse(seg.QueryDSL)
		} else {
			def.Query, err = query.Parse(lang(seg.Lang()), seg.QueryDSL)
		}
		if err != nil {
			errs[i] = err // stored queries parsed when saved; kept for safety
			continue
		}
		defs = append(defs, def)
		at = append(at, i)
	}
	for k, err := range m.Engine.PutSegments(acct, defs, now) {
		errs[at[k]] = err
	}
	return errs
}

// PruneEvents implements segmentd.Membership.
func (m Membership) PruneEvents(acct int64, before, now time.Time) {
	m.Engine.PruneEvents(acct, before, now)
}

// Search implements segmentd.Membership.
func (m Membership) Search(acct int64, src string, limit int, now time.Time) ([]string, int, error) {
	ch, err := m.Engine.Check(acct, query.SGQL, src)
	if err != nil {
		return nil, 0, err
	}
	return m.Engine.Search(acct, ch, limit, now)
}

// AddEvents implements segmentd.Membership: one Engine.AddEventsMany call,
// each run of consecutive events of one contact one ContactEvents (the
// engine copies what it keeps). evs in a rebuild come in insertion order,
// nearly one event per contact per run, and a map grouping them cost more
// than it saved. Runs of no contact ("") still name the account's
// campaigns.
func (m Membership) AddEvents(acct int64, evs []segmentd.Event, now time.Time) {
	m.Engine.AddEventsMany(acct, contactRuns(evs), now)
}

// PrepareEvents is AddEvents in two steps: evs converted to the engine's
// form now, on the caller's goroutine, and recorded when the returned
// function runs. The rebuild at start converts a page of events on the
// goroutine that reads the store, which waits on the engine during the
// events, rather than on the engine's. The converted page's buffers go
// back to the engine's pool once recorded (the engine copies what it
// keeps), for the next page.
func (m Membership) PrepareEvents(acct int64, evs []segmentd.Event) func(now time.Time) {
	p, _ := m.Engine.pages.Get().(*eventPage)
	if p == nil {
		p = new(eventPage)
	}
	p.qevs, p.batch = appendContactRuns(p.qevs[:0], p.batch[:0], evs)
	p.camps.noteAll(p.qevs)
	return func(now time.Time) {
		m.Engine.loadEventsMany(acct, p.batch, &p.camps, now)
		clear(p.qevs) // their strings are the page's: not kept alive by the pool
		clear(p.batch)
		clear(p.camps.first)
		m.Engine.pages.Put(p)
	}
}

// EndEvents ends a rebuild's PrepareEvents of the account: the contacts'
// event runs, grown page by page, are packed exactly (packEvents).
func (m Membership) EndEvents(acct int64) {
	m.Engine.endLoad(acct)
}

// eventPage is a page of events in the engine's form (PrepareEvents'),
// kept in the engine's pool between pages. camps are the page's campaigns
// with their first events' times, found while the page is prepared: noting
// every event's campaigns in the account's set was a fifth of the engine's
// intake of a rebuild's events, on the goroutine the events phase waits on.
type eventPage struct {
	qevs  []query.Event
	batch []ContactEvents
	camps campaignSet
}

// contactRuns converts evs to the engine's form, each run of consecutive
// events of one contact one ContactEvents.
func contactRuns(evs []segmentd.Event) []ContactEvents {
	_, batch := appendContactRuns(nil, nil, evs)
	return batch
}

// appendContactRuns is contactRuns into buffers: the events converted
// after qevs, their runs after batch.
func appendContactRuns(qevs []query.Event, batch []ContactEvents, evs []segmentd.Event) ([]query.Event, []ContactEvents) {
	from := len(qevs)
	qevs = slices.Grow(qevs, len(evs))[:from+len(evs)]
	batch = slices.Grow(batch, len(evs)) // at most a run per event: grown by appends, a rebuild's page was copied over and over
	for i := 0; i < len(evs); {
		id := evs[i].ContactID
		j := i
		for ; j < len(evs) && evs[j].ContactID == id; j++ {
			qevs[from+j] = queryEvent(&evs[j])
		}
		batch = append(batch, ContactEvents{ContactID: id, Events: qevs[from+i : from+j]})
		i = j
	}
	return qevs, batch
}

// queryEvent converts a domain event to the engine's form.
func queryEvent(ev *segmentd.Event) query.Event {
	src := ev.Source
	if src == "" {
		src = segmentd.DefaultEventSource
	}
	return query.Event{
		Source:              src,
		Type:                query.NormalizeEventType(ev.Type),
		Timestamp:           ev.Timestamp.UnixMilli(),
		SinglesendID:        ev.SinglesendID,
		AutomationID:        ev.AutomationID,
		MarketingCampaignID: ev.MarketingCampaignID,
		URL:                 ev.URL,
	}
}
