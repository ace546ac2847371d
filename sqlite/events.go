package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentd/segmentd"
	sqlite3 "modernc.org/sqlite"
)

var _ segmentd.EventStore = (*Store)(nil)

// eventHash is the stored sg_event_hash of an sg_event_id: 64-bit FNV-1a,
// as a signed INTEGER. It only narrows the search: equal hashes are
// compared by their text.
func eventHash(id string) int64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return int64(h)
}

// segmentd_event_hash(text) is eventHash in SQL, for migration 0006's
// backfill. modernc.org/sqlite registers functions for the whole process
// (there is no per-connection API), so Open registers it once, before it
// opens the first connection, rather than an init function doing it for
// every program that merely imports the package.
var registerEventHash = sync.OnceValue(func() error {
	return sqlite3.RegisterDeterministicScalarFunction("segmentd_event_hash", 1, func(_ *sqlite3.FunctionContext, args []driver.Value) (driver.Value, error) {
		switch v := args[0].(type) {
		case string:
			return eventHash(v), nil
		case []byte:
			return eventHash(string(v)), nil
		}
		return nil, nil
	})
})

// The event statements. TestEventQueryPlans checks that each probes an index.
const (
	// qContactIDsByEmail is qContactsWhere for emails, reading only the id.
	qContactIDsByEmail = "SELECT email, id FROM contacts WHERE account_id = ? AND email IN (SELECT value FROM json_each(?))"
	qEventsLastSeq     = "SELECT COALESCE(MAX(seq), 0) FROM events WHERE account_id = ?"
	// qEventsAnyBefore tells whether any event is older than a time.
	qEventsAnyBefore  = "SELECT 1 FROM events WHERE account_id = ? AND event_timestamp < ? LIMIT 1"
	qEventsUnattached = "SELECT DISTINCT email FROM events WHERE account_id = ? AND contact_id IS NULL AND email IN (SELECT value FROM json_each(?))"
	qAttachEvents     = "UPDATE events SET contact_id = ? WHERE account_id = ? AND contact_id IS NULL AND email = ? RETURNING " + eventColumns
	qScanEvents       = "SELECT seq, " + eventColumns + " FROM events WHERE account_id = ? AND seq > ? ORDER BY seq LIMIT ?"
	// qEventsFirstSeq and qEventsLastSeq are separate statements: SQLite
	// answers a lone MIN or MAX from the end of the index, both together
	// by reading the account's whole range.
	qEventsFirstSeq = "SELECT COALESCE(MIN(seq), 0) FROM events WHERE account_id = ?"
	qPruneEvents    = "DELETE FROM events WHERE account_id = ? AND seq >= ? AND seq < ? AND event_timestamp < ?"

	// eventColumns are what scanEvent reads, NULLs as "".
	eventColumns = "COALESCE(contact_id, ''), email, event_source, event_type, event_timestamp, COALESCE(singlesend_id, ''), " +
		"COALESCE(automation_id, ''), COALESCE(marketing_campaign_id, ''), COALESCE(url, ''), COALESCE(sg_event_id, '')"
	eventWriteCols = "account_id, seq, contact_id, email, event_source, event_type, event_timestamp, singlesend_id, automation_id, marketing_campaign_id, url, sg_event_id, sg_event_hash"
	// eventWriteN values are bound per event: all of eventWriteCols but
	// account_id and seq (insertEventsSQL).
	eventWriteN = 11
	// 1<<eventChunkLog (1,024) rows per INSERT at most: 11 × 1,024 + 2
	// bound values stays under SQLite's 32,766-variable limit.
	eventChunkLog = 10
	// pruneChunk is the sequence range one pruning transaction covers, so
	// that pruning millions of events never holds the writer for long.
	pruneChunk = 50_000
)

func scanEvent(rows rowScanner, dst []any) (segmentd.Event, error) {
	var ev segmentd.Event
	var ts int64
	dst = append(dst, &ev.ContactID, &ev.Email, &ev.Source, &ev.Type, &ts, &ev.SinglesendID, &ev.AutomationID, &ev.MarketingCampaignID, &ev.URL, &ev.SGEventID)
	if err := rows.Scan(dst...); err != nil {
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

// AddEventBatches stores batches of events in one write transaction, each
// as AddEvents would in turn: it reads which of the batch's sg_event_ids
// are already stored (an earlier batch's included) and which contacts the
// batch's emails name, then inserts the new events with multi-row
// statements.
func (s *Store) AddEventBatches(ctx context.Context, acct int64, batches [][]segmentd.Event) ([]segmentd.EventsResult, error) {
	res := make([]segmentd.EventsResult, len(batches))
	var learned bool // the account's hash set holds new hashes
	err := s.writeConnTx(ctx, true, func(conn *sql.Conn, tx *sql.Tx) error {
		clear(res)
		set, err := s.eventIDs(ctx, tx, acct)
		if err != nil {
			return err
		}
		for i, evs := range batches {
			if len(evs) == 0 {
				continue
			}
			if res[i], err = s.addEvents(ctx, conn, tx, acct, set, evs); err != nil {
				return err
			}
			learned = true
		}
		if learned {
			// Stored events move the account's history too, so that a
			// reader polling the change marks learns of them.
			_, err = nextChange(ctx, tx)
		}
		return err
	})
	if err != nil {
		if learned {
			s.events.forgetIDs(acct)
		}
		return nil, err
	}
	return res, nil
}

// addEvents stores one batch in AddEventBatches' transaction. The account's
// hash set learns the new hashes at once, before the next batch (or, after
// the commit, the writer's next transaction) looks for its ids in it.
func (s *Store) addEvents(ctx context.Context, conn *sql.Conn, tx *sql.Tx, acct int64, set *hashSet, evs []segmentd.Event) (segmentd.EventsResult, error) {
	var res segmentd.EventsResult
	b := &s.batch
	b.hash(evs)
	if err := b.newEvents(ctx, tx, acct, set, evs); err != nil {
		return res, err
	}
	out := make([]segmentd.Event, len(b.keep))
	for i, k := range b.keep {
		ev := &out[i]
		*ev = evs[k]
		ev.Email = strings.ToLower(ev.Email)
		ev.ContactID = ""
		ev.Timestamp = msTime(ev.Timestamp)
		if ev.Source == "" {
			ev.Source = segmentd.DefaultEventSource
		}
	}
	res.Duplicates = len(evs) - len(out)
	if err := s.owners(ctx, tx, acct, out); err != nil {
		return res, err
	}
	for i := range out {
		if out[i].ContactID == "" {
			res.Unmatched++
		}
	}
	var last int64
	if err := tx.QueryRowContext(ctx, qEventsLastSeq, acct).Scan(&last); err != nil {
		return res, err
	}
	err := conn.Raw(func(dc any) error { return s.inserts.insert(ctx, dc, acct, last, out, b) })
	if err != nil {
		return res, fmt.Errorf("insert events: %w", err)
	}
	for i, k := range b.keep {
		if out[i].SGEventID != "" {
			set.add(b.hashes[k], toMS(out[i].Timestamp))
		}
	}
	res.Added, res.Events = len(out), out
	return res, nil
}

// contactIDsByEmail maps each of emails (lower-cased) to the id of the
// contact whose email it is or, failing that, whose alternate email it is
// (the lowest id, as ContactsByEmails). Misses are absent.
func contactIDsByEmail(ctx context.Context, q queryer, acct int64, emails []string) (map[string]string, error) {
	out := make(map[string]string, len(emails))
	if len(emails) == 0 {
		return out, nil
	}
	if err := scanPairs(ctx, q, out, qContactIDsByEmail, acct, jsonStrings(emails)); err != nil {
		return nil, err
	}
	var rest []string
	for _, e := range emails {
		if _, ok := out[e]; !ok {
			rest = append(rest, e)
		}
	}
	if len(rest) == 0 {
		return out, nil
	}
	if err := scanPairs(ctx, q, out, qAlternateEmailOwners, acct, jsonStrings(rest)); err != nil {
		return nil, err
	}
	return out, nil
}

// scanPairs adds the (key, value) rows of a query to m.
func scanPairs(ctx context.Context, q queryer, m map[string]string, query string, args ...any) error {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		m[k] = v
	}
	return rows.Err()
}

// eventInserts are the multi-row event INSERTs of the writer connection,
// one per power of two up to 1<<eventChunkLog rows (1,000 events take six),
// prepared on the driver's connection at their first use and kept:
// parsing a 1,000-row INSERT costs as much as running it on a small
// database. They run there too, with bound values reused from batch to
// batch, where database/sql would convert and copy the 11,000 values of
// each batch. Used only inside AddEvents' transactions; Close finalizes
// them.
type eventInserts struct {
	conn  any // the driver connection they belong to
	stmts [eventChunkLog + 1]driver.Stmt
	args  []driver.NamedValue
}

// insert inserts evs, the events b.keep names, with sequence numbers after
// last, on the driver connection dc.
func (ins *eventInserts) insert(ctx context.Context, dc any, acct, last int64, evs []segmentd.Event, b *batchBuffers) error {
	if dc != ins.conn {
		// A new writer connection (the old one is gone, and so are its
		// statements; sqlite3_close_v2 left them to a zombie connection).
		*ins = eventInserts{conn: dc, args: ins.args}
	}
	keep := b.keep
	for len(evs) > 0 {
		k := eventChunkLog
		for 1<<k > len(evs) {
			k--
		}
		n := 1 << k
		if ins.stmts[k] == nil {
			st, err := dc.(driver.ConnPrepareContext).PrepareContext(ctx, insertEventsSQL(n))
			if err != nil {
				return err
			}
			ins.stmts[k] = st
		}
		args := append(ins.args[:0], driver.NamedValue{Ordinal: 1, Value: acct}, driver.NamedValue{Ordinal: 2, Value: last + 1})
		for i := range evs[:n] {
			ev := &evs[i]
			var h any
			if ev.SGEventID != "" {
				h = b.hashes[keep[i]]
			}
			for _, v := range [eventWriteN]any{nullText(ev.ContactID), ev.Email, ev.Source, ev.Type, toMS(ev.Timestamp),
				nullText(ev.SinglesendID), nullText(ev.AutomationID), nullText(ev.MarketingCampaignID), nullText(ev.URL), nullText(ev.SGEventID), h} {
				args = append(args, driver.NamedValue{Ordinal: len(args) + 1, Value: v})
			}
		}
		ins.args = args
		if _, err := ins.stmts[k].(driver.StmtExecContext).ExecContext(ctx, args); err != nil {
			return err
		}
		evs, keep, last = evs[n:], keep[n:], last+int64(n)
	}
	return nil
}

// close finalizes the statements of the writer connection conn.
func (ins *eventInserts) close(conn *sql.Conn) error {
	return conn.Raw(func(dc any) error {
		var errs []error
		if dc == ins.conn {
			for _, st := range ins.stmts {
				if st != nil {
					errs = append(errs, st.Close())
				}
			}
		}
		*ins = eventInserts{}
		return errors.Join(errs...)
	})
}

// insertEventsSQL is the INSERT of n events. The account (?1) and the
// first event's sequence number (?2) are bound once per statement, each
// event's number being ?2 plus its place; the other columns are bound per
// event. OR FAIL: a failing row fails the statement, whose transaction is
// then rolled back whole, so SQLite need not journal the statement's pages
// to undo it alone (as ABORT, the default, would).
func insertEventsSQL(n int) string {
	var b strings.Builder
	b.WriteString("INSERT OR FAIL INTO events (" + eventWriteCols + ") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("(?1, ?2")
		if i > 0 {
			b.WriteString(" + " + strconv.Itoa(i))
		}
		b.WriteString(strings.Repeat(", ?", eventWriteN))
		b.WriteString(")")
	}
	return b.String()
}

// AttachEvents gives unattached events to the contacts of cs that own their
// emails. It looks for such events on the read pool first, so the usual
// case (none) never takes the writer. That is safe because writes are
// serialised: an event stored before the contact's write committed is
// visible here, and one stored after it matched the contact when stored.
func (s *Store) AttachEvents(ctx context.Context, acct int64, cs []segmentd.Contact) ([]segmentd.Event, error) {
	owner := make(map[string]string)
	var emails []string
	add := func(email, id string) {
		if email == "" {
			return
		}
		if _, ok := owner[email]; !ok {
			emails = append(emails, email)
			owner[email] = id
		}
	}
	for i := range cs {
		add(cs[i].Email, cs[i].ID)
	}
	for i := range cs { // a primary email wins over another contact's alternate
		for _, a := range cs[i].AlternateEmails {
			add(a, cs[i].ID)
		}
	}
	if len(emails) == 0 {
		return nil, nil
	}
	var pending []string
	rows, err := s.read.QueryContext(ctx, qEventsUnattached, acct, jsonStrings(emails))
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			rows.Close()
			return nil, err
		}
		pending = append(pending, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(pending) == 0 {
		return nil, nil
	}
	var out []segmentd.Event
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		out = out[:0]
		// The owner as stored now: a contact may have changed or gone since
		// the caller's write.
		ids, err := contactIDsByEmail(ctx, tx, acct, pending)
		if err != nil {
			return err
		}
		stmt, err := tx.PrepareContext(ctx, qAttachEvents)
		if err != nil {
			return err
		}
		defer stmt.Close()
		seq, err := nextChange(ctx, tx)
		if err != nil {
			return err
		}
		for _, e := range pending {
			id := ids[e]
			if id == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, qRecordAttachment, seq, acct, e); err != nil {
				return err
			}
			rows, err := stmt.QueryContext(ctx, id, acct, e)
			if err != nil {
				return err
			}
			for rows.Next() {
				ev, err := scanEvent(rows, nil)
				if err != nil {
					rows.Close()
					return err
				}
				out = append(out, ev)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ScanEvents pages through the account's events in sequence order.
//
// It reads each event's text columns as one value, joined by eventSep, and
// slices the fields out of it: one string allocated per event rather than
// ten, and three columns to convert rather than eleven (the rebuild at start
// reads every event). A page with a text holding eventSep itself is read
// again column by column.
func (s *Store) ScanEvents(ctx context.Context, acct int64, afterSeq int64, limit int) ([]segmentd.Event, int64, error) {
	out, last, ok, err := scanEventsJoined(ctx, s.read, acct, afterSeq, limit)
	if err != nil || ok {
		return out, last, err
	}
	return scanEventsColumns(ctx, s.read, acct, afterSeq, limit)
}

// eventSep separates the text fields of qScanEventsJoined: 0xFF is never in
// UTF-8 text, which is all the webhook stores.
const eventSep = "\xff"

// qScanEventsJoined is qScanEvents with the text columns joined by eventSep,
// in the order of joinedEventFields.
const qScanEventsJoined = "SELECT seq, event_timestamp, COALESCE(contact_id, '') || CAST(x'ff' AS TEXT) || email || CAST(x'ff' AS TEXT) || " +
	"event_source || CAST(x'ff' AS TEXT) || event_type || CAST(x'ff' AS TEXT) || COALESCE(singlesend_id, '') || CAST(x'ff' AS TEXT) || " +
	"COALESCE(automation_id, '') || CAST(x'ff' AS TEXT) || COALESCE(marketing_campaign_id, '') || CAST(x'ff' AS TEXT) || " +
	"COALESCE(url, '') || CAST(x'ff' AS TEXT) || COALESCE(sg_event_id, '') FROM events WHERE account_id = ? AND seq > ? ORDER BY seq LIMIT ?"

// joinedEventFields are the fields of an event that qScanEventsJoined joins.
func joinedEventFields(ev *segmentd.Event) [9]*string {
	return [9]*string{&ev.ContactID, &ev.Email, &ev.Source, &ev.Type, &ev.SinglesendID, &ev.AutomationID, &ev.MarketingCampaignID, &ev.URL, &ev.SGEventID}
}

// scanEventsJoined reads a page with qScanEventsJoined; ok is false when a
// stored text holds eventSep, so that the page cannot be split.
func scanEventsJoined(ctx context.Context, q queryer, acct, afterSeq int64, limit int) (out []segmentd.Event, last int64, ok bool, err error) {
	rows, err := q.QueryContext(ctx, qScanEventsJoined, acct, afterSeq, limit)
	if err != nil {
		return nil, afterSeq, false, err
	}
	defer rows.Close()
	out = make([]segmentd.Event, 0, min(limit, 10_000))
	last = afterSeq
	var seq, ts int64
	var joined string
	for rows.Next() {
		if err := rows.Scan(&seq, &ts, &joined); err != nil {
			return nil, afterSeq, false, err
		}
		out = append(out, segmentd.Event{Timestamp: fromMS(ts)})
		fields := joinedEventFields(&out[len(out)-1])
		rest := joined
		for i, f := range fields {
			if i == len(fields)-1 {
				if strings.Contains(rest, eventSep) {
					return nil, afterSeq, false, nil
				}
				*f = rest
				break
			}
			j := strings.Index(rest, eventSep)
			if j < 0 {
				return nil, afterSeq, false, nil
			}
			if j > 0 {
				*f = rest[:j]
			}
			rest = rest[j+len(eventSep):]
		}
		last = seq
	}
	if err := rows.Err(); err != nil {
		return nil, afterSeq, false, err
	}
	return out, last, true, nil
}

// scanEventsColumns reads a page with qScanEvents, column by column.
func scanEventsColumns(ctx context.Context, q queryer, acct, afterSeq int64, limit int) ([]segmentd.Event, int64, error) {
	rows, err := q.QueryContext(ctx, qScanEvents, acct, afterSeq, limit)
	if err != nil {
		return nil, afterSeq, err
	}
	defer rows.Close()
	out := make([]segmentd.Event, 0, min(limit, 10_000))
	last := afterSeq
	var seq int64
	dst := make([]any, 0, 11)
	for rows.Next() {
		ev, err := scanEvent(rows, append(dst[:0], &seq))
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

// PruneEvents deletes events older than before, one sequence range per
// transaction: pruning a large account never holds the writer for long, and
// each deleted event is independent of the others, so an error part-way
// leaves only fewer events pruned.
func (s *Store) PruneEvents(ctx context.Context, acct int64, before time.Time) (int, error) {
	var one int
	err := s.read.QueryRowContext(ctx, qEventsAnyBefore, acct, toMS(before)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil // the usual case at start: one probe of events_time
	}
	if err != nil {
		return 0, err
	}
	var lo, hi int64
	if err := s.read.QueryRowContext(ctx, qEventsFirstSeq, acct).Scan(&lo); err != nil {
		return 0, err
	}
	if err := s.read.QueryRowContext(ctx, qEventsLastSeq, acct).Scan(&hi); err != nil {
		return 0, err
	}
	if hi == 0 {
		return 0, nil
	}
	total := 0
	for from := lo; from <= hi; from += pruneChunk {
		err := s.writeTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, qPruneEvents, acct, from, from+pruneChunk, toMS(before))
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			total += int(n)
			return err
		})
		if err != nil {
			return total, err
		}
	}
	if total > 0 {
		s.events.forgetIDs(acct) // it holds the pruned events' hashes
	}
	return total, nil
}
