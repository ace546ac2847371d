package audience

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
)

// This file takes engagement events in: it validates them, stores them, and
// gives the stored ones to the membership engine.
//
// Events and contact writes reach the engine in one order: both run on the
// job worker, one at a time. Otherwise an event matched (in the store) to a
// contact that a running upsert job has just committed could reach the
// engine before that contact does, and the engine would drop it.

var errNoEventStore = errors.New("segmentd: no event store configured (Config.Events)")

// AddEvents validates events, stores them (matching each to the contact
// whose email or alternate email it names, skipping redeliveries by
// SGEventID) and, before it returns, makes every segment reflect them.
// Events whose email matches no contact are kept and count once a contact
// with that email appears (attachEvents).
//
// A batch with an invalid event is rejected whole with KindInvalid; the
// webhook face decides which events to pass, and reports the rest itself.
func (s *Service) AddEvents(ctx context.Context, acct int64, evs []segmentd.Event) (segmentd.EventsResult, error) {
	if s.cfg.Events == nil {
		return segmentd.EventsResult{}, errNoEventStore
	}
	if len(evs) > segmentd.MaxAddEvents {
		return segmentd.EventsResult{}, segmentd.Errorf(segmentd.KindTooLarge, "events", "at most %d events per batch", segmentd.MaxAddEvents)
	}
	clean := make([]segmentd.Event, len(evs))
	for i, ev := range evs {
		if err := normalizeEvent(&ev, "events["+strconv.Itoa(i)+"]"); err != nil {
			return segmentd.EventsResult{}, err
		}
		clean[i] = ev
	}
	ej := &eventsJob{acct: acct, evs: clean}
	if p, ok := s.cfg.Events.(segmentd.EventPreparer); ok {
		// On this request's goroutine, not the account's writer.
		ej.ahead = p.PrepareEvents(ctx, acct, clean).Ahead
	}
	if err := s.run(ctx, &jobTask{events: ej, wait: make(chan error, 1)}); err != nil {
		return segmentd.EventsResult{}, err
	}
	return ej.res, nil
}

// eventsJob is one AddEvents batch on the job worker. Batches of one
// account queued together share a store transaction and an engine update
// (writeEvents): when webhook requests arrive faster than one transaction
// a batch commits, each transaction takes more of them, and its fixed costs
// (the commit, the pages every batch rewrites) are paid once for several.
type eventsJob struct {
	acct  int64
	evs   []segmentd.Event
	ahead any // what the store prepared of evs (segmentd.EventPreparer)
	res   segmentd.EventsResult

	// On a group's first task, in a shared store: the change number and
	// the last event number the group's write took, for the engine
	// stage's applyOwn, and own, the write counted in flight (ownBegin)
	// until then.
	change, through int64
	own             bool
}

// maxGroupedEvents bounds the events of one grouped transaction: it stops
// taking batches once it holds this many.
const maxGroupedEvents = 4 * segmentd.MaxAddEvents

// writeEvents stores a group of event batches of one account in one
// transaction and leaves the stored events' engine update, one for the
// group, on its first task: the engine stage runs tasks in order, so every
// batch is reflected before its caller hears back, and the engine takes
// the account's writes in the order they committed. In a shared store
// that update is applyOwn, on the engine stage too (reflectTask), while
// this stage writes the next group; until then the follower leaves the
// account alone (ownBegin), as it does for pipelined upserts, rather than
// read the events back from the history. Until 2026-12-06 applyOwn ran
// here, a fifth of this stage's CPU over the realistic bench's events
// (docs/postgres.md, "Session 18: the event writer's serial path").
func (s *Service) writeEvents(group []*jobTask) {
	acct := group[0].events.acct
	own := s.cfg.Shared && s.members != nil
	if own {
		s.ownBegin(acct)
	}
	var res []segmentd.EventsResult
	var err error
	if p, ok := s.cfg.Events.(segmentd.EventPreparer); ok {
		batches := make([]segmentd.PreparedEvents, len(group))
		for i, t := range group {
			batches[i] = segmentd.PreparedEvents{Events: t.events.evs, Ahead: t.events.ahead}
		}
		res, err = p.AddPreparedEventBatches(context.Background(), acct, batches)
	} else {
		batches := make([][]segmentd.Event, len(group))
		for i, t := range group {
			batches[i] = t.events.evs
		}
		res, err = s.cfg.Events.AddEventBatches(context.Background(), acct, batches)
	}
	var stored []segmentd.Event
	for i, t := range group {
		t.err = err
		if err == nil {
			t.events.res = res[i]
			stored = append(stored, res[i].Events...)
		}
	}
	if err == nil && s.members != nil {
		first := group[0].events
		group[0].publish = func() { s.members.AddEvents(acct, stored, s.clock.Now()) }
		if len(res) > 0 {
			first.change, first.through = res[0].Change, res[0].EventsThrough
		}
		first.own, own = own, false // ended by reflectTask
	}
	if own {
		s.endOwnEvents(acct)
	}
}

// endOwnEvents ends what writeEvents counted in flight (ownBegin), and
// asks the follower to catch the account up if it left it meanwhile.
func (s *Service) endOwnEvents(acct int64) {
	if s.ownEnd(acct) {
		s.nudge(acct)
	}
}

// normalizeEvent checks the fields an event cannot do without and brings
// its email and source to their stored form.
func normalizeEvent(ev *segmentd.Event, field string) error {
	ev.Email = strings.ToLower(strings.TrimSpace(ev.Email))
	ev.ContactID = ""
	switch {
	case ev.Email == "":
		return segmentd.Errorf(segmentd.KindInvalid, field+".email", "%s: email is required", field)
	case ev.Type == "":
		return segmentd.Errorf(segmentd.KindInvalid, field+".event", "%s: event type is required", field)
	case ev.Timestamp.IsZero():
		return segmentd.Errorf(segmentd.KindInvalid, field+".timestamp", "%s: timestamp is required", field)
	}
	if ev.Source == "" {
		ev.Source = segmentd.DefaultEventSource
	}
	ev.Timestamp = ev.Timestamp.UTC()
	return nil
}

// attachEvents attaches the stored events that waited for contacts with
// these emails (created, or given a new email or alternate email) and
// returns them for the engine. It runs in the upsert job's store stage,
// after the contacts' write has committed; the job's engine stage gives the
// engine the contacts, then these events. Every store write of a job thus
// precedes every engine update of it, which the engine snapshot relies on
// (snapshot.go).
func (s *Service) attachEvents(ctx context.Context, acct int64, cs []segmentd.Contact) ([]segmentd.Event, error) {
	if s.cfg.Events == nil || len(cs) == 0 {
		return nil, nil
	}
	return s.cfg.Events.AttachEvents(ctx, acct, cs)
}

// PruneEvents deletes every account's events older than retention. segmentd
// runs it at start, before the engine is rebuilt, so the engine and the
// store always hold the same events; a server that runs for months prunes
// again at its next start (a day's worth of overdue events in five years
// changes no real segment).
func (s *Service) PruneEvents(ctx context.Context, retention time.Duration) (int, error) {
	if s.cfg.Events == nil {
		return 0, errNoEventStore
	}
	accts, err := s.store.Accounts(ctx)
	if err != nil {
		return 0, err
	}
	before := s.clock.Now().Add(-retention)
	s.prunedBefore = before
	total := 0
	for _, a := range accts {
		n, err := s.cfg.Events.PruneEvents(ctx, a.ID, before)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}
