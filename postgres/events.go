package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

// Events. A call stores all its batches in one transaction of three round
// trips: the account's lock and event numbers (qReserveEvents), with the
// sg_event_ids the account holds already among the batch's
// (qEventsHeld) in the same pipeline; the owners of the emails the store
// does not remember (qEmailOwners, owners.go), when there are any; then
// the new events by COPY. Idempotency is the database's: under the
// account's lock no other writer adds events to the account, so an id the
// probe did not find is new when COPY writes it, and the unique index
// events_sg_event_id refuses a duplicate besides (it would fail the
// transaction, never store the event twice). A refused event leaves its
// number unused: an account's event numbers increase, with gaps.
//
// COPY replaced one INSERT … SELECT FROM unnest(…) ON CONFLICT DO NOTHING
// RETURNING that found each event's contact itself: per event, that
// statement paid the executor's row-by-row projection, a speculative
// insertion into events_sg_event_id and a returned row; the database
// spends about a sixth less per batch now (docs/postgres.md, "Bulk paths").

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

	// qEventsHeld returns the sg_event_ids of $2 that the account's events
	// hold: one probe of events_sg_event_id per id (a scalar subquery, not
	// EXISTS, which the planner may turn into a scan of all the account's
	// events joined by hash).
	qEventsHeld = `SELECT v.id FROM unnest($2::text[]) AS v (id)
		WHERE (SELECT true FROM events e WHERE e.account_id = $1 AND e.sg_event_id = v.id)`

	qEventsLastSeq = "SELECT coalesce(max(seq), 0) FROM events WHERE account_id = $1"
	// qEventsUnattached returns the emails of $2 that unattached events
	// have: one probe of events_unattached per email.
	qEventsUnattached = `SELECT v.email FROM unnest($2::text[]) AS v (email)
		WHERE (SELECT true FROM events e WHERE e.account_id = $1 AND e.contact_id IS NULL AND e.email = v.email LIMIT 1)`
	qAttachEvents = `UPDATE events e SET contact_id = o.contact_id FROM unnest($2::text[], $3::text[]) AS o (email, contact_id)
		WHERE e.account_id = $1 AND e.contact_id IS NULL AND e.email = o.email RETURNING e.seq, ` + eventColumns
	qRecordAttachments = `INSERT INTO event_attachments (account_id, change_seq, event_seq)
		SELECT $1, $2, s FROM unnest($3::bigint[]) AS s ON CONFLICT DO NOTHING`
	// qScanEvents reads a page of events for scanEvents, NULLs as NULL.
	qScanEvents = `SELECT e.seq, e.contact_id, e.email, e.event_source, e.event_type, e.event_timestamp, e.singlesend_id,
		e.automation_id, e.marketing_campaign_id, e.url, e.sg_event_id FROM events e WHERE e.account_id = $1 AND e.seq > $2 ORDER BY e.seq LIMIT $3`
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

// eventCopyCols are the columns COPY writes for an event, in eventRows'
// order.
var eventCopyCols = []string{"account_id", "seq", "contact_id", "email", "event_source", "event_type", "event_timestamp",
	"singlesend_id", "automation_id", "marketing_campaign_id", "url", "sg_event_id"}

// eventRows are the events of a batch that are new, as COPY reads them
// (pgx.CopyFromSource): event i of evs takes number first+i; those held
// are left out. One row slice is reused, since COPY encodes a row before
// it asks for the next.
type eventRows struct {
	acct, first int64
	evs         []segmentd.Event
	held        []bool
	i           int
	row         []any
}

func (r *eventRows) Next() bool {
	for r.i++; r.i <= len(r.evs) && r.held[r.i-1]; r.i++ {
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
	var ids []string // the batch's sg_event_ids
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
	var first, change int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		clear(held)
		for i := range evs {
			evs[i].ContactID = ""
		}
		// The account's lock first: the statements after it, in the same
		// pipeline and later, see every event and contact write committed
		// before the lock was granted, and no other writer of the account
		// runs until this one commits.
		var last int64
		var dup []string
		var b pgx.Batch
		b.Queue(qReserveEvents, acct, len(evs), oldest).QueryRow(func(row pgx.Row) error { return row.Scan(&last, &change) })
		b.Queue(qNotify, changesChannel, strconv.FormatInt(acct, 10))
		if len(ids) > 0 {
			b.Queue(qEventsHeld, acct, ids).Query(func(rows pgx.Rows) error {
				var err error
				dup, err = pgx.AppendRows(dup, rows, pgx.RowTo[string])
				return err
			})
		}
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return err
		}
		first = last - int64(len(evs)) + 1
		isHeld := make(map[string]bool, len(dup))
		for _, id := range dup {
			isHeld[id] = true
		}
		// Each event's contact: the one its email names now, remembered or
		// looked up.
		known := s.owners.known(acct, change, emails)
		var ask []string
		asked := make(map[string]bool)
		for i := range evs {
			held[i] = evs[i].SGEventID != "" && isHeld[evs[i].SGEventID]
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
			for i := range evs {
				if !held[i] && (known == nil || known[i] == nil) {
					evs[i].ContactID = found[evs[i].Email]
				}
			}
		}
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"events"}, eventCopyCols, &eventRows{acct: acct, first: first, evs: evs, held: held})
		return err
	})
	if err != nil {
		return nil, err
	}
	var through int64
	found := make(map[string]string, len(evs))
	for i := range evs {
		if !held[i] {
			through = first + int64(i)
			found[evs[i].Email] = evs[i].ContactID
		}
	}
	s.owners.learn(acct, change, found)
	for i := range res {
		res[i].Change, res[i].EventsThrough = change, through
	}
	for i := range evs {
		r := &res[from[i]]
		if held[i] {
			r.Duplicates++
			continue
		}
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

// scanEvents reads a page of qScanEvents. It decodes the rows' bytes
// itself rather than through Scan, and keeps one copy of each value of
// the columns that repeat (source, type, the campaign ids, the URL): the
// engine's rebuild reads every event of the account through it, and
// pgx's Scan with a string allocated per column was most of segmentd's
// CPU in that read (docs/postgres.md, "Reads for the engine's rebuild").
func scanEvents(ctx context.Context, q querier, acct int64, afterSeq int64, limit int) ([]segmentd.Event, int64, error) {
	rows, err := q.Query(ctx, qScanEvents, acct, afterSeq, limit)
	if err != nil {
		return nil, afterSeq, err
	}
	defer rows.Close()
	fields := rows.FieldDescriptions()
	if len(fields) != 11 {
		return nil, afterSeq, fmt.Errorf("events page: %d columns, want 11", len(fields))
	}
	out := make([]segmentd.Event, 0, min(limit, 10_000))
	last := afterSeq
	in := interner{}
	for rows.Next() {
		raw := rows.RawValues()
		seq, err := rawInt8(fields[0].Format, raw[0])
		if err != nil {
			return nil, afterSeq, fmt.Errorf("events page: seq: %w", err)
		}
		ts, err := rawInt8(fields[5].Format, raw[5])
		if err != nil {
			return nil, afterSeq, fmt.Errorf("events page: event_timestamp: %w", err)
		}
		out = append(out, segmentd.Event{
			ContactID: string(raw[1]), Email: string(raw[2]), Source: in.get(raw[3]), Type: in.get(raw[4]), Timestamp: fromMS(ts),
			SinglesendID: in.get(raw[6]), AutomationID: in.get(raw[7]), MarketingCampaignID: in.get(raw[8]), URL: in.get(raw[9]),
			SGEventID: string(raw[10]),
		})
		last = seq
	}
	if err := rows.Err(); err != nil {
		return nil, afterSeq, err
	}
	return out, last, nil
}

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
