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
	acct int64
	evs  []segmentd.Event
	res  segmentd.EventsResult
}

// maxGroupedEvents bounds the events of one grouped transaction: it stops
// taking batches once it holds this many.
const maxGroupedEvents = 4 * segmentd.MaxAddEvents

// writeEvents stores a group of event batches of one account in one
// transaction and passes the stored events to the engine in one update,
// on the group's first task: the engine stage runs tasks in order, so every
// batch is reflected before its caller hears back.
func (s *Service) writeEvents(group []*jobTask) {
	acct := group[0].events.acct
	batches := make([][]segmentd.Event, len(group))
	for i, t := range group {
		batches[i] = t.events.evs
	}
	res, err := s.cfg.Events.AddEventBatches(context.Background(), acct, batches)
	var stored []segmentd.Event
	for i, t := range group {
		t.err = err
		if err == nil {
			t.events.res = res[i]
			stored = append(stored, res[i].Events...)
		}
	}
	if err == nil && s.members != nil {
		group[0].publish = func() { s.members.AddEvents(acct, stored, s.clock.Now()) }
		// In a shared store the engine takes the events now if no other
		// write came between; the engine stage's catch-up then finds
		// nothing to read.
		if len(res) > 0 && s.applyOwn(acct, res[0].Change, res[0].EventsThrough, group[0].publish) {
			group[0].publish = nil
		}
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
