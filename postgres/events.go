package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/eventblock"
)

// Events. A call stores all its batches in one transaction: the account's
// lock and event numbers (qReserveEvents) and, in the same pipeline, the
// batch's sg_event_ids inserted into event_ids (qInsertEventIDs); the
// owners of the emails the store does not remember (qEmailOwners,
// owners.go), when there are any; then, in one pipeline, the new events
// that have a contact as packed blocks (migration 0022,
// internal/eventblock: one row of event_blocks per 4,096 numbers), and
// the events with no contact yet as rows of events by COPY (AttachEvents
// updates those). When every email's contact is known, the ones the
// store does not remember read before the lock (qEmailOwnersNow), all of
// it is one pipeline, one round trip with BEGIN and COMMIT: the blocks
// carry their numbers relative to the account's last (qInsertBlockAfter
// reads it) and hold their data only if the owners' epoch (owners.go) is
// still the one the owners are true as of; otherwise the call goes again
// the long way. Until 2026-12-06 every call made two or three round
// trips, with the account locked from the first to the last. Finding the
// owners before the lock is done on each webhook request's goroutine
// (PrepareEvents, segmentd.EventPreparer), ahead of the account's writer,
// which runs the calls one at a time.
//
// Idempotency is the database's: event_ids' primary key refuses an id the
// account holds, under the account's lock. A batch with such an id (a
// redelivery) is rolled back and tried again with qAddEventIDs, which
// adds the new ids only and returns them: an event whose id it did not
// add is a duplicate, not written. A refused event leaves its number
// unused: an account's event numbers increase, with gaps.
//
// Until migration 0022 every event was a row of events (with entries in
// its primary key and in a unique index of sg_event_id); those rows stay
// until PackEventRows packs them (eventpack.go), and every reader merges
// the rows with the blocks by number (scanEvents).

const (
	// eventColumns are what scanEvent reads, NULLs as "".
	eventColumns = "coalesce(e.contact_id, ''), e.email, e.event_source, e.event_type, e.event_timestamp, coalesce(e.singlesend_id, ''), " +
		"coalesce(e.automation_id, ''), coalesce(e.marketing_campaign_id, ''), coalesce(e.url, ''), coalesce(e.sg_event_id, '')"

	// qReserveEvents takes the account's lock, $2 event numbers and a
	// change number, which it counts as an event batch's (event_changes),
	// and lowers the account's oldest event time to $3 (the batch's): the
	// last event number, the change number and the owners' epoch
	// (owners.go) are returned.
	qReserveEvents = `INSERT INTO account_changes AS a (account_id, event_seq, change_seq, event_changes, event_min_ts) VALUES ($1, $2, 1, 1, $3)
		ON CONFLICT (account_id) DO UPDATE SET event_seq = a.event_seq + $2, change_seq = a.change_seq + 1,
			event_changes = a.event_changes + 1, event_min_ts = least(a.event_min_ts, $3)
		RETURNING event_seq, change_seq, change_seq - event_changes`

	// qInsertEventIDs adds the sg_event_ids of $2 (distinct) to
	// event_ids, in the pipeline that takes the account's lock: one
	// insertion into event_ids' primary key each, whose descent checks
	// the id is new, and a held id fails the statement and its transaction
	// (a redelivery, which AddEventBatches tries again with qAddEventIDs).
	// It reads the account's row of account_changes (which qReserveEvents,
	// before it in the transaction, made sure of) only so that Citus routes
	// it to the account's shard, as one task: an INSERT … SELECT over
	// unnest alone is run by the coordinator, which sends the rows on.
	// Until 2026-12-06 the held ids were probed first (one scalar subquery,
	// a descent of the index, per id) and the new ones inserted by a
	// second statement in the pipeline of the blocks (docs/postgres.md,
	// "Packed event blocks").
	qInsertEventIDs = `INSERT INTO event_ids (account_id, sg_event_id)
		SELECT a.account_id, v.id FROM account_changes a, unnest($2::text[]) AS v (id) WHERE a.account_id = $1`
	// qAddEventIDs is qInsertEventIDs for a batch that holds a redelivered
	// id: it adds the ids the account does not hold and returns them (a
	// speculative insertion each, which looks for the id before it
	// inserts).
	qAddEventIDs = `INSERT INTO event_ids (account_id, sg_event_id)
		SELECT a.account_id, v.id FROM account_changes a, unnest($2::text[]) AS v (id) WHERE a.account_id = $1
		ON CONFLICT DO NOTHING RETURNING sg_event_id`
	// qInsertBlock writes one packed block (eventblock.Encoder). It is an
	// INSERT … SELECT from the account's row of account_changes, like
	// qInsertEventIDs, for Citus: the coordinator sends a VALUES insert to
	// the worker with its values written out as literals (a 30 KB block
	// as 60 KB of hex text, which the worker parses again), and an
	// INSERT … SELECT with its parameters as parameters, the block in
	// binary (docs/postgres.md, "Session 15").
	qInsertBlock = `INSERT INTO event_blocks (account_id, last_seq, first_seq, min_ts, data)
		SELECT a.account_id, $2, $3, $4, $5 FROM account_changes a WHERE a.account_id = $1`
	// qInsertBlockAfter is qInsertBlock for an event call's block: its
	// numbers are the account's last event number (the call's own last,
	// which qReserveEvents took before in the transaction) less $2 and
	// $3, so that a call can send it before it knows its numbers. Its
	// data is NULL, which event_blocks refuses (failing the transaction),
	// unless the owners' epoch is $6, the one its events' contacts were
	// found as of.
	qInsertBlockAfter = `INSERT INTO event_blocks (account_id, last_seq, first_seq, min_ts, data)
		SELECT a.account_id, a.event_seq - $2, a.event_seq - $3, $4,
			CASE WHEN a.change_seq - a.event_changes = $6 THEN $5::bytea END
		FROM account_changes a WHERE a.account_id = $1`
	// qScanBlocks reads the blocks holding events numbered after $2, in
	// order: one range of the primary key.
	qScanBlocks = `SELECT first_seq, data FROM event_blocks WHERE account_id = $1 AND last_seq > $2 ORDER BY last_seq LIMIT $3`

	qEventsLastSeq = "SELECT coalesce(max(seq), 0) FROM events WHERE account_id = $1"
	qBlocksLastSeq = "SELECT coalesce(max(last_seq), 0) FROM event_blocks WHERE account_id = $1"
	// qEventsUnattached returns the emails of $2 that unattached events
	// have: one probe of events_unattached per email.
	qEventsUnattached = `SELECT v.email FROM unnest($2::text[]) AS v (email)
		WHERE (SELECT true FROM events e WHERE e.account_id = $1 AND e.contact_id IS NULL AND e.email = v.email LIMIT 1)`
	// qWaitingEmails reads the emails of the account's events waiting for
	// their contact, up to a limit, from events_unattached.
	qWaitingEmails = `SELECT DISTINCT e.email FROM events e WHERE e.account_id = $1 AND e.contact_id IS NULL LIMIT $2`
	qAttachEvents  = `UPDATE events e SET contact_id = o.contact_id FROM unnest($2::text[], $3::text[]) AS o (email, contact_id)
		WHERE e.account_id = $1 AND e.contact_id IS NULL AND e.email = o.email RETURNING e.seq, ` + eventColumns
	qRecordAttachments = `INSERT INTO event_attachments (account_id, change_seq, event_seq)
		SELECT $1, $2, s FROM unnest($3::bigint[]) AS s ON CONFLICT DO NOTHING`
	// qScanEvents reads a page of events for scanEvents, NULLs as NULL.
	qScanEvents = `SELECT e.seq, e.contact_id, e.email, e.event_source, e.event_type, e.event_timestamp, e.singlesend_id,
		e.automation_id, e.marketing_campaign_id, e.url, e.sg_event_id FROM events e
		WHERE e.account_id = $1 AND e.seq > $2 AND e.seq <= $4 ORDER BY e.seq LIMIT $3`
	// The events attached after a change number are read in two steps:
	// their numbers (qAttachedSeqs, usually none), then, only if there are
	// any, the events (qEventsBySeq). One join of the two tables took a
	// plan made while the tables were empty and kept it as they grew: a scan
	// of all the account's events on every catch-up.
	qAttachedSeqs = `SELECT event_seq FROM event_attachments
		WHERE account_id = $1 AND change_seq > $2 AND event_seq <= $3 ORDER BY event_seq`
	qEventsBySeq = "SELECT " + eventColumns + " FROM events e WHERE e.account_id = $1 AND e.seq = ANY ($2::bigint[]) ORDER BY e.seq"
	// qEventsMinTime is a bound on the account's oldest event time, NULL
	// for none: no event is older (qReserveEvents keeps it).
	qEventsMinTime = "SELECT event_min_ts FROM account_changes WHERE account_id = $1"
	// qPruneEvents deletes up to pruneChunk events older than $2 (found
	// by a scan of the account's events: old ones come first in their
	// numbers' order, as a rule).
	qPruneEvents = `DELETE FROM events WHERE account_id = $1 AND seq = ANY (ARRAY(
		SELECT seq FROM events WHERE account_id = $1 AND event_timestamp < $2 LIMIT $3)) RETURNING sg_event_id`
	// pruneChunk bounds one pruning transaction, so that pruning millions
	// of events never holds the account for long.
	pruneChunk = 50_000
)

// scanEvent reads eventColumns after the values dst points to.
func scanEvent(row pgx.Row, dst ...any) (segmentd.Event, error) {
	var ev segmentd.Event
	var ts int64
	dst = append(dst, &ev.ContactID, &ev.Email, &ev.Source, &ev.Type, &ts, &ev.SinglesendID, &ev.AutomationID, &ev.MarketingCampaignID, &ev.URL, &ev.SGEventID)
	if err := row.Scan(dst...); err != nil {
		return ev, err
	}
	ev.Timestamp = fromMS(ts)
	return ev, nil
}

// AddEvents stores one batch of events: AddEventBatches of one.
func (s *Store) AddEvents(ctx context.Context, acct int64, evs []segmentd.Event) (segmentd.EventsResult, error) {
	res, err := s.AddEventBatches(ctx, acct, [][]segmentd.Event{evs})
	if err != nil {
		return segmentd.EventsResult{}, err
	}
	return res[0], nil
}

// eventCopyCols are the columns COPY writes for an event, in eventRows'
// order.
var eventCopyCols = []string{"account_id", "seq", "contact_id", "email", "event_source", "event_type", "event_timestamp",
	"singlesend_id", "automation_id", "marketing_campaign_id", "url", "sg_event_id"}

// eventRows are the events of a batch stored as rows, as COPY reads them
// (pgx.CopyFromSource): event i of evs takes number first+i; those skip
// marks (held, or in a block) are left out. One row slice is reused,
// since COPY encodes a row before it asks for the next.
type eventRows struct {
	acct, first int64
	evs         []segmentd.Event
	skip        []bool
	i           int
	row         []any
}

func (r *eventRows) Next() bool {
	for r.i++; r.i <= len(r.evs) && r.skip[r.i-1]; r.i++ {
	}
	return r.i <= len(r.evs)
}

func (r *eventRows) Values() ([]any, error) {
	ev := &r.evs[r.i-1]
	opt := func(s *string) any {
		if *s == "" {
			return nil
		}
		return s
	}
	r.row = append(r.row[:0], r.acct, r.first+int64(r.i-1), opt(&ev.ContactID), ev.Email, ev.Source, ev.Type, toMS(ev.Timestamp),
		opt(&ev.SinglesendID), opt(&ev.AutomationID), opt(&ev.MarketingCampaignID), opt(&ev.URL), opt(&ev.SGEventID))
	return r.row, nil
}

func (r *eventRows) Err() error { return nil }

// AddEventBatches stores batches of events in one transaction, each as
// AddEvents would in turn. An sg_event_id repeated within the call counts
// as a duplicate where it comes again; one the account already holds is
// refused by the database.
func (s *Store) AddEventBatches(ctx context.Context, acct int64, batches [][]segmentd.Event) ([]segmentd.EventsResult, error) {
	prepared := make([]segmentd.PreparedEvents, len(batches))
	for i, batch := range batches {
		prepared[i].Events = batch
	}
	return s.AddPreparedEventBatches(ctx, acct, prepared)
}

// asStored brings an event to the form it is stored in, with no contact.
func asStored(ev *segmentd.Event) {
	ev.Email = strings.ToLower(ev.Email)
	ev.ContactID = ""
	ev.Timestamp = msTime(ev.Timestamp)
	if ev.Source == "" {
		ev.Source = segmentd.DefaultEventSource
	}
}

// eventsAhead is what PrepareEvents found of a batch before its write:
// each event's contact ("" for none) as of the owners' epoch epoch, and
// whether every event has one (ok: the batch can go in one round trip).
type eventsAhead struct {
	epoch  int64
	owners []string
	ok     bool
	// blocks are the batch's blocks (encodeBlocks), their numbers'
	// distances from the batch's last, when ok.
	blocks []blockArgs
}

// PrepareEvents implements segmentd.EventPreparer: it finds each event's
// contact as AddEventBatches' one-round-trip path does (ownersNow), and
// encodes the batch's blocks, on the caller's goroutine, so that the
// account's writer, which runs its calls one at a time, does not. The
// two took half of that writer's CPU at 200,000 contacts
// (docs/postgres.md, "Session 18: the event writer's serial path"). What
// it found is as of an owners' epoch, which the write checks under the
// account's lock (qInsertBlockAfter) as it checks its own.
func (s *Store) PrepareEvents(ctx context.Context, acct int64, evs []segmentd.Event) segmentd.PreparedEvents {
	p := segmentd.PreparedEvents{Events: evs}
	emails := make([]string, len(evs))
	for i := range evs {
		emails[i] = strings.ToLower(evs[i].Email)
	}
	epoch, owners, ok, err := s.ownersNow(ctx, acct, emails)
	if err != nil || owners == nil {
		return p
	}
	a := &eventsAhead{epoch: epoch, owners: owners, ok: ok}
	p.Ahead = a
	if !ok {
		return p
	}
	// The blocks too, as the writer would encode the batch alone: the
	// encoding was most of the writer's CPU left once the owners were
	// found ahead. (A batch in which an id repeats loses an event in the
	// call, which then encodes its blocks itself.)
	a.blocks, _, _ = encodeBlocks(1-int64(len(evs)), evs, make([]bool, len(evs)), func(i int, ev *segmentd.Event) {
		asStored(ev)
		ev.ContactID = owners[i]
	})
	return p
}

// ownersNow returns each of emails' contact ("" for none) as of one owners'
// epoch: those remembered, and the others read before the account's lock
// with the epoch they are true as of (one statement, one snapshot), when
// it is the remembered one's; ok when every email has a contact then. An
// email with no contact sends the call the long way: its event is a row,
// which goes by COPY. owners is nil when no owners are remembered and none
// were read.
func (s *Store) ownersNow(ctx context.Context, acct int64, emails []string) (epoch int64, owners []string, ok bool, err error) {
	remembered, owners, known, missing, none := s.owners.resolve(acct, emails)
	ok = !none && len(missing) == 0
	if !none && len(missing) > 0 {
		at, found, err := emailOwnersNow(ctx, s.db, acct, missing)
		if err != nil {
			return 0, nil, false, err
		}
		if found != nil {
			s.owners.learn(acct, at, found)
			if !known || at == remembered {
				remembered, ok, known = at, true, true
				for i := range emails {
					if id, looked := found[emails[i]]; looked {
						owners[i] = id
					}
					ok = ok && owners[i] != ""
				}
			}
		}
	}
	if !known {
		return 0, nil, false, nil
	}
	return remembered, owners, ok, nil
}

// AddPreparedEventBatches implements segmentd.EventPreparer: AddEventBatches
// of batches PrepareEvents may have prepared. The owners found ahead are
// used when every batch has them, as of one epoch that is still the one
// remembered (an upsert that moved it since, and they are found again
// here); the database checks that epoch, as for owners found here.
func (s *Store) AddPreparedEventBatches(ctx context.Context, acct int64, batches []segmentd.PreparedEvents) ([]segmentd.EventsResult, error) {
	res := make([]segmentd.EventsResult, len(batches))
	total := 0
	for _, batch := range batches {
		total += len(batch.Events)
	}
	evs := make([]segmentd.Event, 0, total)
	from := make([]int, 0, total)       // the batch of each event of evs
	seen := make(map[string]int, total) // sg_event_id → its event's index in evs
	// The owners found ahead, of every event of evs, when every batch
	// has them as of one epoch (aheadOK); ahead.ok when each had all.
	var ahead eventsAhead
	aheadOK := true
	aheadBlocks := true // every batch has its blocks encoded ahead
	for b := range batches {
		a, _ := batches[b].Ahead.(*eventsAhead)
		aheadBlocks = aheadBlocks && a != nil && a.blocks != nil
		switch {
		case a == nil || len(a.owners) != len(batches[b].Events) || b > 0 && a.epoch != ahead.epoch:
			aheadOK = false
		case b == 0:
			ahead = eventsAhead{epoch: a.epoch, owners: make([]string, 0, total), ok: a.ok}
		default:
			ahead.ok = ahead.ok && a.ok
		}
	}
	if aheadOK {
		epoch, remembered := s.owners.epochOf(acct)
		aheadOK = remembered && epoch == ahead.epoch
	}
	for b, batch := range batches {
		for j, ev := range batch.Events {
			if ev.SGEventID != "" {
				if _, ok := seen[ev.SGEventID]; ok {
					res[b].Duplicates++
					continue
				}
				seen[ev.SGEventID] = len(evs)
			}
			if aheadOK {
				ahead.owners = append(ahead.owners, batch.Ahead.(*eventsAhead).owners[j])
			}
			asStored(&ev)
			evs = append(evs, ev)
			from = append(from, b)
		}
	}
	if len(evs) == 0 {
		return res, nil
	}
	ids := make([]string, 0, len(evs)) // the batch's sg_event_ids
	for i := range evs {
		if evs[i].SGEventID != "" {
			ids = append(ids, evs[i].SGEventID)
		}
	}
	oldest := toMS(evs[0].Timestamp)
	for i := range evs {
		oldest = min(oldest, toMS(evs[i].Timestamp))
	}
	emails := make([]string, len(evs))
	for i := range evs {
		emails[i] = evs[i].Email
	}
	held := make([]bool, len(evs))
	var last, change, epoch int64 // the batch's last event number, its change number, the owners' epoch
	var looked map[string]string  // the owners looked up (not remembered): email → contact id, "" for none
	// redelivered: a first try found an id the account holds, so the ids
	// go in by qAddEventIDs, which tells the new ones, rather than by
	// qInsertEventIDs, which refuses the whole batch.
	redelivered := false
	// queueLock queues, on b, the account's lock first: the statements
	// after it, in the same pipeline and later, see every event and
	// contact write committed before the lock was granted, and no other
	// writer of the account runs until this one commits.
	queueLock := func(b *pgx.Batch) {
		b.Queue(qReserveEvents, acct, len(evs), oldest).QueryRow(func(row pgx.Row) error { return row.Scan(&last, &change, &epoch) })
		b.Queue(qNotify, changesChannel, strconv.FormatInt(acct, 10))
	}
	queueIDs := func(b *pgx.Batch) {
		switch {
		case len(ids) > 0 && !redelivered:
			b.Queue(qInsertEventIDs, acct, ids)
		case len(ids) > 0:
			b.Queue(qAddEventIDs, acct, ids).Query(func(rows pgx.Rows) error {
				for rows.Next() {
					i, ok := seen[string(rows.RawValues()[0])]
					if !ok {
						return fmt.Errorf("event ids: the database added %q, which the batch does not hold", rows.RawValues()[0])
					}
					held[i] = false
				}
				return rows.Err()
			})
		}
	}
	try := func(tx *pipedTx) error {
		looked = nil
		for i := range evs {
			evs[i].ContactID = ""
			// Held, until the ids are added, when they have one.
			held[i] = redelivered && evs[i].SGEventID != ""
		}
		var b pgx.Batch
		queueLock(&b)
		queueIDs(&b)
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return err
		}
		// Each event's contact: the one its email names now, remembered or
		// looked up.
		known := s.owners.known(acct, epoch, emails)
		var ask []string
		asked := make(map[string]bool)
		for i := range evs {
			switch {
			case held[i]:
			case known != nil && known[i] != nil:
				evs[i].ContactID = *known[i]
			case !asked[evs[i].Email]:
				asked[evs[i].Email] = true
				ask = append(ask, evs[i].Email)
			}
		}
		if len(ask) > 0 {
			found, err := contactIDsByEmail(ctx, tx, acct, ask)
			if err != nil {
				return err
			}
			looked = make(map[string]string, len(ask))
			for _, e := range ask {
				looked[e] = found[e]
			}
			for i := range evs {
				if !held[i] && (known == nil || known[i] == nil) {
					evs[i].ContactID = found[evs[i].Email]
				}
			}
		}
		return s.writeEvents(ctx, tx, acct, last-int64(len(evs))+1, epoch, evs, held)
	}
	// The owners, when every email has one (ownersNow): found ahead
	// (PrepareEvents), or found now.
	remembered, owners, ok := ahead.epoch, ahead.owners, ahead.ok
	if !aheadOK {
		var err error
		if remembered, owners, ok, err = s.ownersNow(ctx, acct, emails); err != nil {
			return nil, err
		}
	}
	err := errLongWay
	if ok {
		// One round trip: the lock, the blocks, whose data the database
		// takes only if the owners are still those remembered (if not, the
		// long way, try, looks them up again), and the ids.
		err = s.inPipedTx(ctx, func(tx *pipedTx) error {
			for i := range evs {
				evs[i].ContactID = owners[i]
			}
			queueLock(&tx.pending)
			// No number is known yet, and none is needed: the blocks'
			// numbers go as distances from the batch's last, numbered 0.
			// When every batch was prepared whole (PrepareEvents) and the
			// call keeps all their events, it sends the blocks encoded
			// ahead, each batch's own, their distances from the batch's
			// last made the call's. (Encoded here, a group's batches share
			// blocks.)
			if aheadOK && aheadBlocks && len(evs) == total {
				after := int64(len(evs)) // the events after a batch's last, and that last
				for _, batch := range batches {
					after -= int64(len(batch.Events))
					for _, b := range batch.Ahead.(*eventsAhead).blocks {
						tx.queueLast(qInsertBlockAfter, acct, b.last+after, b.first+after, b.minTS, b.data, remembered)
					}
				}
			} else if err := s.writeEvents(ctx, tx, acct, 1-int64(len(evs)), remembered, evs, held); err != nil {
				return err
			}
			queueIDs(&tx.pending)
			return nil
		})
		if ownersMoved(err) {
			err = errLongWay
		} else if err == nil {
			s.oneTrip.Add(1)
		}
	}
	if err == errLongWay {
		// BEGIN goes with the lock's pipeline, COMMIT with the blocks'
		// (pipedTx): two or three round trips.
		err = s.inPipedTx(ctx, try)
	}
	if heldIDViolation(err) {
		// A redelivery: the first try rolled back whole (its numbers are
		// taken again), and the second tells the held ids from the new.
		redelivered = true
		err = s.inPipedTx(ctx, try)
	}
	if err != nil {
		return nil, err
	}
	first := last - int64(len(evs)) + 1
	var through int64
	for i := range evs {
		if !held[i] {
			through = first + int64(i)
		}
	}
	if looked != nil {
		// (A call in one round trip looked nothing up: the owners'
		// lock, which the requests' PrepareEvents take, is left alone.)
		s.owners.learn(acct, epoch, looked)
	}
	for i := range res {
		res[i].Change, res[i].EventsThrough = change, through
	}
	// Each batch's events are a run of evs: its stored events are that
	// run itself when none is held, and a copy without the held ones
	// otherwise.
	for lo := 0; lo < len(evs); {
		hi, heldIn := lo, false
		for ; hi < len(evs) && from[hi] == from[lo]; hi++ {
			heldIn = heldIn || held[hi]
		}
		r := &res[from[lo]]
		if !heldIn {
			r.Events = evs[lo:hi:hi]
		}
		for i := lo; i < hi; i++ {
			if held[i] {
				r.Duplicates++
				continue
			}
			r.Added++
			if evs[i].ContactID == "" {
				r.Unmatched++
			}
			if heldIn {
				r.Events = append(r.Events, evs[i])
			}
		}
		lo = hi
	}
	return res, nil
}

// errLongWay is AddEventBatches' mark of a call not tried yet in one
// round trip.
var errLongWay = errors.New("the owners are looked up")

// ownersMoved reports whether err is qInsertBlockAfter's refusal of a block
// whose events' owners were remembered as of an earlier epoch: its data
// NULL. Citus relays a worker's error without the column's name, which
// only the message then gives.
func ownersMoved(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23502" &&
		(pe.ColumnName == "data" || strings.Contains(pe.Message, `column "data"`))
}

// heldIDViolation reports whether err is qInsertEventIDs' refusal of an
// id the account holds. Citus relays a worker's error without its
// constraint's name, which only the message then gives, with the shard's
// number after it.
func heldIDViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505" &&
		(strings.HasPrefix(pe.ConstraintName, "event_ids_pkey") || strings.Contains(pe.Message, `constraint "event_ids_pkey`))
}

// blockSpan bounds the numbers one block covers: a reader decodes a block
// whole, and a page of events ends at most one block past its limit.
const blockSpan = 4096

// encoders are the block encoders of event batches, reused.
var encoders = sync.Pool{New: func() any { return new(eventblock.Encoder) }}

// writeEvents writes the events of evs that are not held, event i under
// number first+i: those with a contact as blocks, the others as rows
// (their sg_event_ids are in event_ids already: qInsertEventIDs or
// qAddEventIDs). The blocks are queued on tx: they go to the database
// with COMMIT, or before the rows' COPY when there are rows. A block goes
// with its numbers' distances from the call's last (qInsertBlockAfter), so a
// call that does not know its numbers yet gives first as if its last
// were 0, and has no rows; and with the owners' epoch its events' contacts
// were found as of.
func (s *Store) writeEvents(ctx context.Context, tx *pipedTx, acct, first, epoch int64, evs []segmentd.Event, held []bool) error {
	blocks, skip, rows := encodeBlocks(first, evs, held, nil)
	queueBlocks(tx, acct, epoch, blocks)
	if rows == 0 {
		return nil
	}
	_, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, eventCopyCols, &eventRows{acct: acct, first: first, evs: evs, skip: skip})
	return err
}

// blockArgs are a block's parameters of qInsertBlockAfter but the
// account's and the epoch: its last and first numbers' distances from the
// call's last number, its oldest event time and its data.
type blockArgs struct {
	last, first int64
	minTS       any
	data        []byte
}

// queueBlocks queues blocks on tx (qInsertBlockAfter), their data on the
// condition that the owners' epoch is epoch.
func queueBlocks(tx *pipedTx, acct, epoch int64, blocks []blockArgs) {
	for _, b := range blocks {
		tx.queueLast(qInsertBlockAfter, acct, b.last, b.first, b.minTS, b.data, epoch)
	}
}

// encodeBlocks encodes the events of evs that are not held and have a
// contact, event i under number first+i, as blocks of up to blockSpan
// numbers, and returns them with their numbers as distances from the
// last, first+len(evs)-1 (a block's data holds its numbers relative to
// its first, so the blocks are the same whatever first is); skip marks
// the events that are not rows (held, or in a block), and rows counts
// those that are. When stored is not nil, each event is encoded as it
// makes a copy of event i (the stored form, with its contact), and evs
// is left as it is.
func encodeBlocks(first int64, evs []segmentd.Event, held []bool, stored func(i int, ev *segmentd.Event)) (blocks []blockArgs, skip []bool, rows int) {
	skip = make([]bool, len(evs))
	enc := encoders.Get().(*eventblock.Encoder)
	defer encoders.Put(enc)
	last := first + int64(len(evs)) - 1
	var blockFirst, blockLast int64
	flush := func() {
		if enc.Len() > 0 {
			blocks = append(blocks, blockArgs{last: last - blockLast, first: last - blockFirst, minTS: enc.MinTimestamp(), data: enc.Bytes()}) // Bytes is a copy
		}
	}
	enc.Reset(first) // a pooled encoder may hold a block
	var copied segmentd.Event
	for i := range evs {
		ev := &evs[i]
		if stored != nil {
			copied = *ev
			stored(i, &copied)
			ev = &copied
		}
		if skip[i] = held[i]; held[i] {
			continue
		}
		if ev.ContactID == "" {
			rows++
			continue
		}
		skip[i] = true
		seq := first + int64(i)
		if enc.Len() > 0 && seq-blockFirst >= blockSpan {
			flush()
			enc.Reset(seq)
			blockFirst = seq
		} else if enc.Len() == 0 {
			enc.Reset(seq)
			blockFirst = seq
		}
		enc.Add(seq, ev)
		blockLast = seq
	}
	flush()
	return blocks, skip, rows
}

// qEmailOwners maps each email of $2 to the contact whose email it is,
// or else to the lowest contact id among those listing it as an alternate
// email (” for none): one or two index probes per email.
const qEmailOwners = `SELECT v.email, coalesce(
	(SELECT c.id FROM contacts c WHERE c.account_id = $1 AND c.email = v.email),
	(SELECT min(a.contact_id) FROM contact_alternate_emails a WHERE a.account_id = $1 AND a.email = v.email), '')
	FROM unnest($2::text[]) AS v (email)`

// qEmailOwnersNow is qEmailOwners with the owners' epoch (owners.go) of
// the same snapshot on every row, read without the account's lock; no
// row when the account has no row of account_changes yet.
const qEmailOwnersNow = `SELECT a.change_seq - a.event_changes, v.email, coalesce(
	(SELECT c.id FROM contacts c WHERE c.account_id = $1 AND c.email = v.email),
	(SELECT min(e.contact_id) FROM contact_alternate_emails e WHERE e.account_id = $1 AND e.email = v.email), '')
	FROM account_changes a, unnest($2::text[]) AS v (email) WHERE a.account_id = $1`

// emailOwnersNow maps each of emails (distinct) to its owner ("" for
// none), as qEmailOwners, and returns the epoch they are true as of;
// nil when the account has no epoch yet.
func emailOwnersNow(ctx context.Context, q querier, acct int64, emails []string) (int64, map[string]string, error) {
	rows, err := q.Query(ctx, qEmailOwnersNow, acct, emails)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	var epoch int64
	var out map[string]string
	for rows.Next() {
		var email, id string
		if err := rows.Scan(&epoch, &email, &id); err != nil {
			return 0, nil, err
		}
		if out == nil {
			out = make(map[string]string, len(emails))
		}
		out[email] = id
	}
	return epoch, out, rows.Err()
}

// contactIDsByEmail maps each of emails (lower-cased) to the id of the
// contact whose email it is or, failing that, whose alternate email it is
// (the lowest id, as ContactsByEmails). Misses are absent.
func contactIDsByEmail(ctx context.Context, q querier, acct int64, emails []string) (map[string]string, error) {
	out := make(map[string]string, len(emails))
	if len(emails) == 0 {
		return out, nil
	}
	rows, err := q.Query(ctx, qEmailOwners, acct, emails)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var email, id string
		if err := rows.Scan(&email, &id); err != nil {
			return nil, err
		}
		if id != "" {
			out[email] = id
		}
	}
	return out, rows.Err()
}

// maxWaitingRead is how many emails of events waiting for their contact
// AttachEvents reads to look for them among the contacts; past it, it
// searches the contacts' emails in events_unattached, one probe each.
const maxWaitingRead = 1000

// AttachEvents gives unattached events to the contacts of cs that own their
// emails. It looks for such events outside any transaction first, so the
// usual case (none) takes no lock. That is safe because event ingestion
// and contact writes hold the same account lock: an event stored before
// the caller's contact write committed is visible here, and one stored
// after it found the contact when it was stored.
//
// The search starts from the events waiting, as the embedded store's
// does: up to maxWaitingRead of their emails are read from
// events_unattached and looked for among the contacts'. An account
// usually has none waiting (one probe of the index answers then), or a
// few, for emails no contact has. Only past that bound are the contacts'
// emails searched in the index instead: for an upsert of 30,000 contacts
// that search, 30,000 probes of an index that holds nothing for them,
// was about a twelfth of the account's store stage at 1M contacts, which
// every upsert of the account waits for (docs/postgres.md, "Session 18:
// events waiting for their contact").
func (s *Store) AttachEvents(ctx context.Context, acct int64, cs []segmentd.Contact) ([]segmentd.Event, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	waiting, err := queryAll(ctx, s.db, scanString, qWaitingEmails, acct, maxWaitingRead+1)
	if err != nil || len(waiting) == 0 {
		return nil, err
	}
	var pending []string
	if len(waiting) <= maxWaitingRead {
		// Every email waited for is known: those of the contacts are
		// attached.
		pending = segmentd.WaitedEmails(cs, waiting)
	} else {
		s.attachSearches.Add(1)
		emails := segmentd.ContactEmails(cs)
		if len(emails) == 0 {
			return nil, nil
		}
		if pending, err = queryAll(ctx, s.db, scanString, qEventsUnattached, acct, emails); err != nil {
			return nil, err
		}
	}
	if len(pending) == 0 {
		return nil, nil
	}
	var out []segmentd.Event
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		out = out[:0]
		seq, err := nextChange(ctx, tx, acct)
		if err != nil {
			return err
		}
		// The owners as stored now: a contact may have changed or gone
		// since the caller's write.
		owners, err := contactIDsByEmail(ctx, tx, acct, pending)
		if err != nil {
			return err
		}
		var withOwner, ownerIDs []string
		for _, e := range pending {
			if id := owners[e]; id != "" {
				withOwner = append(withOwner, e)
				ownerIDs = append(ownerIDs, id)
			}
		}
		if len(withOwner) == 0 {
			return nil
		}
		rows, err := tx.Query(ctx, qAttachEvents, acct, withOwner, ownerIDs)
		if err != nil {
			return err
		}
		var seqs []int64
		for rows.Next() {
			var evSeq int64
			ev, err := scanEvent(rows, &evSeq)
			if err != nil {
				rows.Close()
				return err
			}
			out = append(out, ev)
			seqs = append(seqs, evSeq)
		}
		rows.Close()
		if err := rows.Err(); err != nil || len(seqs) == 0 {
			return err
		}
		_, err = tx.Exec(ctx, qRecordAttachments, acct, seq, seqs)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ScanEvents pages through the account's events in sequence order, the
// blocks and the rows of a page read in one read-only transaction (a batch
// committed between the two reads could otherwise show its rows without
// its blocks).
func (s *Store) ScanEvents(ctx context.Context, acct int64, afterSeq int64, limit int) ([]segmentd.Event, int64, error) {
	var evs []segmentd.Event
	last := afterSeq
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		var err error
		evs, last, err = scanEvents(ctx, tx, acct, afterSeq, limit)
		return err
	})
	return evs, last, err
}

// blocksPerRead is how many blocks one statement of scanBlocks reads.
const blocksPerRead = 16

// scanEvents reads up to limit events numbered after afterSeq, in number
// order, and the number of the last (afterSeq when none): those of the
// blocks (scanBlocks) and those of the rows, merged. The rows are read
// only up to the last block event the page keeps, so the rows inside the
// blocks' ranges (events still without a contact, a few in a hundred)
// cost one range read a page.
func scanEvents(ctx context.Context, q querier, acct int64, afterSeq int64, limit int) ([]segmentd.Event, int64, error) {
	evs, seqs, err := scanEventsInto(ctx, q, acct, afterSeq, limit, false, nil, nil)
	if err != nil || len(seqs) == 0 {
		return evs, afterSeq, err
	}
	return evs, seqs[len(seqs)-1], nil
}

// scanEventsInto is scanEvents appending to evs and seqs (reused pages,
// empty), with each event's number; lean leaves every event's Email and
// SGEventID empty (ReadAccountLean).
func scanEventsInto(ctx context.Context, q querier, acct int64, afterSeq int64, limit int, lean bool, evs []segmentd.Event, seqs []int64) ([]segmentd.Event, []int64, error) {
	bevs, bseqs, err := scanBlocks(ctx, q, acct, afterSeq, limit, lean, evs, seqs)
	if err != nil {
		return nil, nil, err
	}
	bound := int64(math.MaxInt64)
	if len(bevs) >= limit {
		bound = bseqs[limit-1]
	}
	revs, rseqs, err := scanEventRows(ctx, q, acct, afterSeq, bound, limit)
	if err != nil {
		return nil, nil, err
	}
	if lean {
		for i := range revs {
			revs[i].Email, revs[i].SGEventID = "", ""
		}
	}
	evs, seqs = eventblock.Merge(bevs, bseqs, revs, rseqs, limit)
	return evs, seqs, nil
}

// scanBlocks decodes the events numbered after afterSeq from the
// account's blocks, in order, until it has at least limit or the blocks
// end (so up to a block more than limit), appending them to evs and their
// numbers to seqs. lean decodes with eventblock.DecodeLean and empties
// each event's SGEventID, which DecodeLean leaves as a slice of the row's
// bytes, which pgx reuses.
func scanBlocks(ctx context.Context, q querier, acct, afterSeq int64, limit int, lean bool, evs []segmentd.Event, seqs []int64) ([]segmentd.Event, []int64, error) {
	var br eventblock.Reader
	decode := eventblock.Decode
	if lean {
		decode = eventblock.DecodeLean
	}
	after := afterSeq
	for len(evs) < limit {
		rows, err := q.Query(ctx, qScanBlocks, acct, after, blocksPerRead)
		if err != nil {
			return nil, nil, err
		}
		fields := rows.FieldDescriptions()
		if len(fields) != 2 || fields[1].Format != pgx.BinaryFormatCode {
			rows.Close()
			return nil, nil, fmt.Errorf("event blocks: %d columns, want first_seq and data in binary", len(fields))
		}
		n := 0
		for rows.Next() {
			n++
			raw := rows.RawValues()
			first, err := rawInt8(fields[0].Format, raw[0])
			if err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("event blocks: first_seq: %w", err)
			}
			// Decode copies what it keeps out of the row's bytes.
			from := len(evs)
			evs, seqs, err = decode(&br, unsafeString(raw[1]), first, afterSeq, evs, seqs)
			if err != nil {
				rows.Close()
				return nil, nil, fmt.Errorf("event block from %d of account %d: %w", first, acct, err)
			}
			if lean {
				for i := from; i < len(evs); i++ {
					evs[i].SGEventID = ""
				}
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, nil, err
		}
		if n < blocksPerRead || len(seqs) == 0 {
			break
		}
		after = seqs[len(seqs)-1]
		// More blocks follow: room for the page at once, rather than the
		// doublings of a block at a time (a block holds at most blockSpan).
		if want := limit + blockSpan; cap(evs) < want {
			evs, seqs = slices.Grow(evs, want-len(evs)), slices.Grow(seqs, want-len(seqs))
		}
	}
	return evs, seqs, nil
}

// scanEventRows reads the rows of events numbered after afterSeq and up
// to bound, at most limit of them. It decodes the rows' bytes
// itself rather than through Scan, and keeps one copy of each value of
// the columns that repeat (source, type, the campaign ids, the URL): the
// engine's rebuild reads every event of the account through it, and
// pgx's Scan with a string allocated per column was most of segmentd's
// CPU in that read (docs/postgres.md, "Reads for the engine's rebuild").
func scanEventRows(ctx context.Context, q querier, acct int64, afterSeq, bound int64, limit int) ([]segmentd.Event, []int64, error) {
	rows, err := q.Query(ctx, qScanEvents, acct, afterSeq, limit, bound)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	fields := rows.FieldDescriptions()
	if len(fields) != 11 {
		return nil, nil, fmt.Errorf("events page: %d columns, want 11", len(fields))
	}
	var out []segmentd.Event
	var seqs []int64
	in := interner{}
	for rows.Next() {
		raw := rows.RawValues()
		seq, err := rawInt8(fields[0].Format, raw[0])
		if err != nil {
			return nil, nil, fmt.Errorf("events page: seq: %w", err)
		}
		ts, err := rawInt8(fields[5].Format, raw[5])
		if err != nil {
			return nil, nil, fmt.Errorf("events page: event_timestamp: %w", err)
		}
		out = append(out, segmentd.Event{
			ContactID: string(raw[1]), Email: string(raw[2]), Source: in.get(raw[3]), Type: in.get(raw[4]), Timestamp: fromMS(ts),
			SinglesendID: in.get(raw[6]), AutomationID: in.get(raw[7]), MarketingCampaignID: in.get(raw[8]), URL: in.get(raw[9]),
			SGEventID: string(raw[10]),
		})
		seqs = append(seqs, seq)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	return out, seqs, nil
}

// unsafeString is b as a string without a copy, for a decoder that copies
// what it keeps before b changes.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// rawInt8 decodes a bigint column's bytes in the result format given
// (pgx asks for binary: 8 bytes, big-endian).
func rawInt8(format int16, b []byte) (int64, error) {
	if format == pgx.TextFormatCode {
		return strconv.ParseInt(string(b), 10, 64)
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("%d bytes, want 8", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// interner keeps one string per distinct value it is given, up to
// maxInterned values; past that it copies.
type interner map[string]string

const maxInterned = 4096

func (in interner) get(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(in) < maxInterned {
		in[s] = s
	}
	return s
}

// PruneEvents deletes events older than before: the rows pruneChunk per
// transaction, then the blocks pruneBlocks per transaction (a block with
// some events left is written again without the others), with their
// sg_event_ids. Each deleted event is independent of the others, so an
// error part-way leaves only fewer events pruned.
func (s *Store) PruneEvents(ctx context.Context, acct int64, before time.Time) (int, error) {
	var oldest *int64
	err := s.db.QueryRow(ctx, qEventsMinTime, acct).Scan(&oldest)
	if errors.Is(err, pgx.ErrNoRows) || err == nil && (oldest == nil || *oldest >= toMS(before)) {
		return 0, nil // the usual case at start
	}
	if err != nil {
		return 0, err
	}
	total := 0
	for _, chunk := range []func(tx pgx.Tx) (int, bool, error){
		func(tx pgx.Tx) (int, bool, error) { return pruneRows(ctx, tx, acct, toMS(before)) },
		func(tx pgx.Tx) (int, bool, error) { return pruneBlockChunk(ctx, tx, acct, toMS(before)) },
	} {
		for more := true; more; {
			var n int
			err := s.inTx(ctx, func(tx pgx.Tx) error {
				// The lock: AttachEvents updates events, and two
				// transactions touching one account's events in different
				// orders could deadlock.
				if err := lockAccount(ctx, tx, acct); err != nil {
					return err
				}
				var err error
				n, more, err = chunk(tx)
				return err
			})
			if err != nil {
				return total, err
			}
			total += n
		}
	}
	// The bound becomes the truth again. (Read, then written: Citus takes
	// no subquery here.)
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, acct); err != nil {
			return err
		}
		var low, blockLow *int64
		if err := tx.QueryRow(ctx, "SELECT min(event_timestamp) FROM events WHERE account_id = $1", acct).Scan(&low); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT min(min_ts) FROM event_blocks WHERE account_id = $1", acct).Scan(&blockLow); err != nil {
			return err
		}
		if low == nil || blockLow != nil && *blockLow < *low {
			low = blockLow
		}
		_, err := tx.Exec(ctx, "UPDATE account_changes SET event_min_ts = $2 WHERE account_id = $1", acct, low)
		return err
	})
	return total, err
}

// qForgetEventIDs deletes the sg_event_ids $2 of pruned events.
const qForgetEventIDs = "DELETE FROM event_ids WHERE account_id = $1 AND sg_event_id IN (SELECT unnest($2::text[]))"

// pruneRows deletes up to pruneChunk rows of events older than before,
// and their ids; more tells whether there may be others.
func pruneRows(ctx context.Context, tx pgx.Tx, acct, before int64) (int, bool, error) {
	ids, err := queryAll(ctx, tx, func(r pgx.Row) (*string, error) {
		var id *string
		return id, r.Scan(&id)
	}, qPruneEvents, acct, before, pruneChunk)
	if err != nil {
		return 0, false, err
	}
	var forget []string
	for _, id := range ids {
		if id != nil {
			forget = append(forget, *id)
		}
	}
	if len(forget) > 0 {
		if _, err := tx.Exec(ctx, qForgetEventIDs, acct, forget); err != nil {
			return 0, false, err
		}
	}
	return len(ids), len(ids) == pruneChunk, nil
}

// pruneBlocks bounds the blocks one pruning transaction rewrites.
const pruneBlocks = 64

// pruneBlockChunk prunes up to pruneBlocks of the account's blocks that
// hold an event older than before: a block left empty is deleted, another
// written again with the events it keeps; the pruned events' ids go.
func pruneBlockChunk(ctx context.Context, tx pgx.Tx, acct, before int64) (int, bool, error) {
	type block struct {
		last, first int64
		data        []byte
	}
	blocks, err := queryAll(ctx, tx, func(r pgx.Row) (block, error) {
		var b block
		return b, r.Scan(&b.last, &b.first, &b.data)
	}, "SELECT last_seq, first_seq, data FROM event_blocks WHERE account_id = $1 AND min_ts < $2 ORDER BY last_seq LIMIT $3", acct, before, pruneBlocks)
	if err != nil {
		return 0, false, err
	}
	var br eventblock.Reader
	var enc eventblock.Encoder
	var forget []string
	pruned := 0
	var b pgx.Batch
	for _, bl := range blocks {
		evs, seqs, err := eventblock.Decode(&br, string(bl.data), bl.first, math.MinInt64, nil, nil)
		if err != nil {
			return 0, false, fmt.Errorf("event block to %d of account %d: %w", bl.last, acct, err)
		}
		kept, first, last := 0, int64(0), int64(0)
		for i := range evs {
			if toMS(evs[i].Timestamp) >= before {
				if kept == 0 {
					enc.Reset(seqs[i])
					first = seqs[i]
				}
				enc.Add(seqs[i], &evs[i])
				kept++
				last = seqs[i]
			} else if evs[i].SGEventID != "" {
				forget = append(forget, evs[i].SGEventID)
			}
		}
		pruned += len(evs) - kept
		if kept == 0 {
			b.Queue("DELETE FROM event_blocks WHERE account_id = $1 AND last_seq = $2", acct, bl.last)
		} else {
			b.Queue("UPDATE event_blocks SET last_seq = $3, first_seq = $4, min_ts = $5, data = $6 WHERE account_id = $1 AND last_seq = $2",
				acct, bl.last, last, first, enc.MinTimestamp(), enc.Bytes())
		}
	}
	if len(forget) > 0 {
		b.Queue(qForgetEventIDs, acct, forget)
	}
	if b.Len() > 0 {
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return 0, false, err
		}
	}
	return pruned, len(blocks) == pruneBlocks, nil
}

// LastEventSeq implements segmentd.EventStore: the last number of the
// rows and of the blocks.
func (s *Store) LastEventSeq(ctx context.Context, acct int64) (int64, error) {
	var rowSeq, blockSeq int64
	if err := s.db.QueryRow(ctx, qEventsLastSeq, acct).Scan(&rowSeq); err != nil {
		return 0, err
	}
	err := s.db.QueryRow(ctx, qBlocksLastSeq, acct).Scan(&blockSeq)
	return max(rowSeq, blockSeq), err
}
