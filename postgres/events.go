package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

// Events. A call stores all its batches in two statements: the account's
// lock and event numbers (qReserveEvents), then one INSERT … SELECT FROM
// unnest(…) that finds each event's contact and stores the events
// (qInsertEvents). Idempotency is the database's: the unique index
// events_sg_event_id refuses an sg_event_id the account holds (ON CONFLICT
// DO NOTHING), whichever server stored it, and the statement's RETURNING
// says which events went in. A refused event leaves its number unused: an
// account's event numbers increase, with gaps.

const (
	// eventColumns are what scanEvent reads, NULLs as "".
	eventColumns = "coalesce(e.contact_id, ''), e.email, e.event_source, e.event_type, e.event_timestamp, coalesce(e.singlesend_id, ''), " +
		"coalesce(e.automation_id, ''), coalesce(e.marketing_campaign_id, ''), coalesce(e.url, ''), coalesce(e.sg_event_id, '')"

	// qReserveEvents takes the account's lock, $2 event numbers and a
	// change number, and lowers the account's oldest event time to $3 (the
	// batch's): the last event number and the change number are returned.
	qReserveEvents = `INSERT INTO account_changes AS a (account_id, event_seq, change_seq, event_min_ts) VALUES ($1, $2, 1, $3)
		ON CONFLICT (account_id) DO UPDATE SET event_seq = a.event_seq + $2, change_seq = a.change_seq + 1,
			event_min_ts = least(a.event_min_ts, $3) RETURNING event_seq, change_seq`

	// qInsertEvents stores events from arrays ($3 …, one element per
	// event) under the numbers $2, $2+1, …, each with the contact its email
	// names now (qEmailOwners' rule; $12 holds the owners the store
	// remembers, owners.go: NULL where it does not, '' for none; empty
	// when it remembers none), and returns the events it stored:
	// those whose sg_event_id the account holds already are not. Only
	// events_sg_event_id may refuse an event: a clash of numbers would be a
	// bug, and fails the statement.
	qInsertEvents = `INSERT INTO events (account_id, seq, contact_id, email, event_source, event_type, event_timestamp,
		singlesend_id, automation_id, marketing_campaign_id, url, sg_event_id)
		SELECT $1, $2 + u.n - 1, CASE WHEN u.owner IS NOT NULL THEN nullif(u.owner, '') ELSE coalesce(
			(SELECT c.id FROM contacts c WHERE c.account_id = $1 AND c.email = u.email),
			(SELECT min(a.contact_id) FROM contact_alternate_emails a WHERE a.account_id = $1 AND a.email = u.email)) END,
			u.email, u.source, u.type, u.ts, u.single, u.auto, u.campaign, u.url, u.id
		FROM unnest($3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[])
			WITH ORDINALITY AS u (email, source, type, ts, single, auto, campaign, url, id, owner, n)
		ON CONFLICT (account_id, sg_event_id) WHERE sg_event_id IS NOT NULL DO NOTHING RETURNING seq, coalesce(contact_id, '')`

	qEventsLastSeq = "SELECT coalesce(max(seq), 0) FROM events WHERE account_id = $1"
	// qEventsUnattached returns the emails of $2 that unattached events
	// have: one probe of events_unattached per email.
	qEventsUnattached = `SELECT v.email FROM unnest($2::text[]) AS v (email)
		WHERE (SELECT true FROM events e WHERE e.account_id = $1 AND e.contact_id IS NULL AND e.email = v.email LIMIT 1)`
	qAttachEvents = `UPDATE events e SET contact_id = o.contact_id FROM unnest($2::text[], $3::text[]) AS o (email, contact_id)
		WHERE e.account_id = $1 AND e.contact_id IS NULL AND e.email = o.email RETURNING e.seq, ` + eventColumns
	qRecordAttachments = `INSERT INTO event_attachments (account_id, change_seq, event_seq)
		SELECT $1, $2, s FROM unnest($3::bigint[]) AS s ON CONFLICT DO NOTHING`
	qScanEvents = "SELECT e.seq, " + eventColumns + " FROM events e WHERE e.account_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3"
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
		SELECT seq FROM events WHERE account_id = $1 AND event_timestamp < $2 LIMIT $3))`
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

// eventArrays are events as the columns of qInsertEvents.
type eventArrays struct {
	ts                              []int64
	single, auto, campaign, url, id []*string
	email, source, typ              []string
}

// add appends ev, which must stay where it is until the arrays are sent:
// its optional texts are passed by pointer (nil for NULL).
func (a *eventArrays) add(ev *segmentd.Event) {
	opt := func(s *string) *string {
		if *s == "" {
			return nil
		}
		return s
	}
	a.email = append(a.email, ev.Email)
	a.source = append(a.source, ev.Source)
	a.typ = append(a.typ, ev.Type)
	a.ts = append(a.ts, toMS(ev.Timestamp))
	a.single = append(a.single, opt(&ev.SinglesendID))
	a.auto = append(a.auto, opt(&ev.AutomationID))
	a.campaign = append(a.campaign, opt(&ev.MarketingCampaignID))
	a.url = append(a.url, opt(&ev.URL))
	a.id = append(a.id, opt(&ev.SGEventID))
}

// AddEventBatches stores batches of events in one transaction, each as
// AddEvents would in turn. An sg_event_id repeated within the call counts
// as a duplicate where it comes again; one the account already holds is
// refused by the database.
func (s *Store) AddEventBatches(ctx context.Context, acct int64, batches [][]segmentd.Event) ([]segmentd.EventsResult, error) {
	res := make([]segmentd.EventsResult, len(batches))
	var evs []segmentd.Event
	var from []int // the batch of each event of evs
	seen := make(map[string]bool)
	for b, batch := range batches {
		for _, ev := range batch {
			if ev.SGEventID != "" {
				if seen[ev.SGEventID] {
					res[b].Duplicates++
					continue
				}
				seen[ev.SGEventID] = true
			}
			ev.Email = strings.ToLower(ev.Email)
			ev.ContactID = ""
			ev.Timestamp = msTime(ev.Timestamp)
			if ev.Source == "" {
				ev.Source = segmentd.DefaultEventSource
			}
			evs = append(evs, ev)
			from = append(from, b)
		}
	}
	if len(evs) == 0 {
		return res, nil
	}
	owners := make(map[int64]string, len(evs)) // the stored events, by number
	var first, change int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// The account's lock first, in a statement of its own: the events'
		// contacts are then read in a later statement, which sees every
		// contact write committed before the lock was granted.
		var last int64
		oldest := toMS(evs[0].Timestamp)
		for i := range evs {
			oldest = min(oldest, toMS(evs[i].Timestamp))
		}
		if err := lockAndNotify(ctx, tx, acct, qReserveEvents, []any{acct, len(evs), oldest}, &last, &change); err != nil {
			return err
		}
		first = last - int64(len(evs)) + 1
		var a eventArrays
		for i := range evs {
			a.add(&evs[i])
		}
		known := s.owners.known(acct, change, a.email)
		if known == nil {
			known = []*string{} // unnest pads it with NULLs
		}
		rows, err := tx.Query(ctx, qInsertEvents, acct, first, a.email, a.source, a.typ, a.ts,
			a.single, a.auto, a.campaign, a.url, a.id, known)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var seq int64
			var contact string
			if err := rows.Scan(&seq, &contact); err != nil {
				return err
			}
			owners[seq] = contact
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	var through int64
	for seq := range owners {
		through = max(through, seq)
	}
	found := make(map[string]string, len(owners))
	for i := range evs {
		if contact, ok := owners[first+int64(i)]; ok {
			found[evs[i].Email] = contact
		}
	}
	s.owners.learn(acct, change, found)
	for i := range res {
		res[i].Change, res[i].EventsThrough = change, through
	}
	for i := range evs {
		r := &res[from[i]]
		contact, ok := owners[first+int64(i)]
		if !ok {
			r.Duplicates++
			continue
		}
		evs[i].ContactID = contact
		r.Added++
		if evs[i].ContactID == "" {
			r.Unmatched++
		}
		r.Events = append(r.Events, evs[i])
	}
	return res, nil
}

// qEmailOwners maps each email of $2 to the contact whose email it is,
// or else to the lowest contact id among those listing it as an alternate
// email (” for none): one or two index probes per email.
const qEmailOwners = `SELECT v.email, coalesce(
	(SELECT c.id FROM contacts c WHERE c.account_id = $1 AND c.email = v.email),
	(SELECT min(a.contact_id) FROM contact_alternate_emails a WHERE a.account_id = $1 AND a.email = v.email), '')
	FROM unnest($2::text[]) AS v (email)`

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

// AttachEvents gives unattached events to the contacts of cs that own their
// emails. It looks for such events outside any transaction first, so the
// usual case (none) takes no lock. That is safe because event ingestion
// and contact writes hold the same account lock: an event stored before
// the caller's contact write committed is visible here, and one stored
// after it found the contact when it was stored.
func (s *Store) AttachEvents(ctx context.Context, acct int64, cs []segmentd.Contact) ([]segmentd.Event, error) {
	seen := make(map[string]bool)
	var emails []string
	for i := range cs {
		for _, e := range append([]string{cs[i].Email}, cs[i].AlternateEmails...) {
			if e != "" && !seen[e] {
				seen[e] = true
				emails = append(emails, e)
			}
		}
	}
	if len(emails) == 0 {
		return nil, nil
	}
	pending, err := queryAll(ctx, s.db, scanString, qEventsUnattached, acct, emails)
	if err != nil || len(pending) == 0 {
		return nil, err
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

// ScanEvents pages through the account's events in sequence order, one
// range of the primary key per page.
func (s *Store) ScanEvents(ctx context.Context, acct int64, afterSeq int64, limit int) ([]segmentd.Event, int64, error) {
	return scanEvents(ctx, s.db, acct, afterSeq, limit)
}

func scanEvents(ctx context.Context, q querier, acct int64, afterSeq int64, limit int) ([]segmentd.Event, int64, error) {
	rows, err := q.Query(ctx, qScanEvents, acct, afterSeq, limit)
	if err != nil {
		return nil, afterSeq, err
	}
	defer rows.Close()
	out := make([]segmentd.Event, 0, min(limit, 10_000))
	last := afterSeq
	var seq int64
	for rows.Next() {
		ev, err := scanEvent(rows, &seq)
		if err != nil {
			return nil, afterSeq, err
		}
		out = append(out, ev)
		last = seq
	}
	if err := rows.Err(); err != nil {
		return nil, afterSeq, err
	}
	return out, last, nil
}

// PruneEvents deletes events older than before, pruneChunk per
// transaction: each deleted event is independent of the others, so an error
// part-way leaves only fewer events pruned.
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
	for {
		var n int64
		err := s.inTx(ctx, func(tx pgx.Tx) error {
			// The lock: AttachEvents updates events, and two transactions
			// touching one account's events in different orders could
			// deadlock.
			if err := lockAccount(ctx, tx, acct); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, qPruneEvents, acct, toMS(before), pruneChunk)
			n = tag.RowsAffected()
			if err != nil || n == pruneChunk {
				return err
			}
			// The last chunk: the bound becomes the truth again. (Read,
			// then written: Citus takes no subquery here.)
			var low *int64
			if err := tx.QueryRow(ctx, "SELECT min(event_timestamp) FROM events WHERE account_id = $1", acct).Scan(&low); err != nil {
				return err
			}
			_, err = tx.Exec(ctx, "UPDATE account_changes SET event_min_ts = $2 WHERE account_id = $1", acct, low)
			return err
		})
		if err != nil {
			return total, err
		}
		total += int(n)
		if n < pruneChunk {
			return total, nil
		}
	}
}

// LastEventSeq implements segmentd.EventStore.
func (s *Store) LastEventSeq(ctx context.Context, acct int64) (int64, error) {
	var seq int64
	err := s.db.QueryRow(ctx, qEventsLastSeq, acct).Scan(&seq)
	return seq, err
}
