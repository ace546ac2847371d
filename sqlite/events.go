package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/eventblock"
	sqlite3 "modernc.org/sqlite"
)

var _ segmentd.EventStore = (*Store)(nil)

// eventHash is the 64-bit FNV-1a hash of an sg_event_id, by which the
// in-memory set (eventcache.go) finds ids. It only narrows the search:
// a hit is confirmed by comparing the stored id.
func eventHash(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}

// eventHashBytes is eventHash of the id spelled by b.
func eventHashBytes(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

// registerFunctions registers the SQL functions the migrations call:
// segmentd_event_hash(text), eventHash as a signed INTEGER (migration
// 0006's backfill of a column 0015 dropped), and the encodings of
// eventcodec.go for 0015's copy of the events. modernc.org/sqlite
// registers functions for the whole process (there is no per-connection
// API), so Open registers them once, before it opens the first
// connection, rather than an init function doing it for every program
// that merely imports the package.
var registerFunctions = sync.OnceValue(func() error {
	text := func(v driver.Value) (string, bool) {
		switch x := v.(type) {
		case string:
			return x, true
		case []byte:
			return string(x), true
		}
		return "", false
	}
	fns := []struct {
		name string
		fn   func(string) any
	}{
		{"segmentd_event_hash", func(id string) any { return int64(eventHash(id)) }},
		{"segmentd_event_type", func(t string) any { return encodeEventType(t) }},
		{"segmentd_contact_id", encodeContactID},
		{"segmentd_event_id", encodeEventID},
	}
	for _, f := range fns {
		err := sqlite3.RegisterDeterministicScalarFunction(f.name, 1, func(_ *sqlite3.FunctionContext, args []driver.Value) (driver.Value, error) {
			if t, ok := text(args[0]); ok {
				return f.fn(t), nil
			}
			return args[0], nil // NULL stays NULL; an integer (a type code) stays
		})
		if err != nil {
			return fmt.Errorf("%s: %w", f.name, err)
		}
	}
	return nil
})

// The event statements. TestEventQueryPlans checks that each probes an index.
const (
	// qContactIDsByEmail is qContactsWhere for emails, reading only the id.
	qContactIDsByEmail = "SELECT email, id FROM contacts WHERE account_id = ? AND email IN (SELECT value FROM json_each(?))"
	// qContactEmailsAfter reads the account's contacts with an email in id
	// order, after an id, a page at a time (loadOwners), and whether each
	// has no other identifier (emailOwner.sole; the same table row).
	qContactEmailsAfter = "SELECT id, email, phone_number_id IS NULL AND external_id IS NULL AND anonymous_id IS NULL " +
		"FROM contacts WHERE account_id = ? AND id > ? AND email IS NOT NULL ORDER BY id LIMIT ?"
	// qAlternateEmailsAll is qAlternateEmailOwners for every alternate
	// email of the account.
	qAlternateEmailsAll = "SELECT email, min(contact_id) FROM contact_alternate_emails WHERE account_id = ? GROUP BY email"
	// qEventsLastSeq is the greatest sequence number of the account's
	// rows and blocks (the newest block's range may end past its last
	// event: numbers are never given twice).
	qEventsLastSeq = "SELECT MAX(COALESCE((SELECT MAX(seq) FROM event_rows WHERE account_id = ?1), 0), " +
		"COALESCE((SELECT last_seq FROM event_blocks WHERE account_id = ?1 ORDER BY first_seq DESC LIMIT 1), 0))"
	// qEventsAnyBefore tells whether any event is older than a time.
	qEventsAnyBefore = "SELECT 1 FROM event_bounds WHERE account_id = ? AND min_timestamp < ?"
	// qLowerEventBound lowers the account's oldest event time to a
	// batch's oldest; it writes nothing when the batch is not older.
	qLowerEventBound = "INSERT INTO event_bounds (account_id, min_timestamp) VALUES (?, ?) " +
		"ON CONFLICT (account_id) DO UPDATE SET min_timestamp = excluded.min_timestamp WHERE excluded.min_timestamp < min_timestamp"
	qEventsUnattached = "SELECT DISTINCT email FROM event_rows WHERE account_id = ? AND contact_id IS NULL AND email IN (SELECT value FROM json_each(?))"
	// qWaitingEmails reads the emails of the account's events waiting for
	// their contact, up to a limit, from events_unattached.
	qWaitingEmails = "SELECT DISTINCT email FROM event_rows INDEXED BY events_unattached WHERE account_id = ? AND contact_id IS NULL LIMIT ?"
	qAttachEvents  = "UPDATE event_rows INDEXED BY events_unattached SET contact_id = ? WHERE account_id = ? AND contact_id IS NULL AND email = ? RETURNING " + eventColumns
	qScanEvents    = "SELECT seq, " + eventColumns + " FROM event_rows WHERE account_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?"
	// qEventsFirstSeq and qEventsLastSeq are separate statements: SQLite
	// answers a lone MIN or MAX from the end of the index, both together
	// by reading the account's whole range. qEventsFirstSeq is the rows'
	// (firstEventSeq adds the blocks').
	qEventsFirstSeq = "SELECT COALESCE(MIN(seq), 0) FROM event_rows WHERE account_id = ?"
	qPruneEvents    = "DELETE FROM event_rows WHERE account_id = ? AND seq >= ? AND seq < ? AND event_timestamp < ?"
	// qMinEventTime is the oldest event time of a sequence range.
	qMinEventTime = "SELECT MIN(event_timestamp) FROM event_rows WHERE account_id = ? AND seq >= ? AND seq < ?"

	eventWriteCols = "account_id, seq, event_timestamp, event_type, contact_id, email, event_source, singlesend_id, automation_id, marketing_campaign_id, url, sg_event_id"
	// eventWriteN values are bound per event: all of eventWriteCols but
	// account_id and seq (insertEventsSQL).
	eventWriteN = 10
	// 1<<eventChunkLog (1,024) rows per INSERT at most: 10 × 1,024 + 2
	// bound values stays under SQLite's 32,766-variable limit.
	eventChunkLog = 10
	// maxEventPage bounds the room scanEventPage makes for a page before
	// reading it: the rebuild's pages (readEventsPage) fit.
	maxEventPage = 50_000
	// pruneChunk is the sequence range one pruning transaction covers, so
	// that pruning millions of events never holds the writer for long.
	pruneChunk = 50_000
)

// eventRows reads rows of eventColumns (after seq, when withSeq) into
// events. eventColumns hands each event's variable-length columns to Go
// as one text, their bytes end to end, and their lengths as integers: the
// event's text fields are slices of it. Column by column, the driver
// allocated a string or a byte slice for each text and id: 11 allocations
// an event, against 3 (the rebuild at start reads every event). The two
// that are stored packed, a UUID contact id and a hex or base64
// sg_event_id, are written out into a buffer made one string per page.
type eventRows struct {
	withSeq bool
	seq     int64
	typ     any // int64 code or string
	ts      int64
	lens    [7]int64 // contact (0: none; 16: a UUID; negative: text), email, source (-1: NULL), singlesend, automation, campaign, url
	joined  string
	dst     []any
	arena   []byte
	spans   [][2][2]uint32 // per event: the contact's and the sg_event_id's start and end in arena, when written out there
	out     []segmentd.Event
	seqs    []int64 // each event's seq, when not nil (withSeq)

	// reuse lets scanEventPage reuse its page buffers on the next call
	// (the caller is done with a page by then: ReadAccount's callback
	// returned): the blocks' events and numbers, and the rows' numbers.
	reuse          bool
	bevs           []segmentd.Event
	bseqs, rowSeqs []int64

	lean bool // each event's Email left empty, its SGEventID in its stored form (ReadAccountLean)
}

// eventColumns are what eventRows reads: see there. sg_event_id is last
// in the joined text, its length what the others leave.
const eventColumns = "event_type, event_timestamp, " +
	"COALESCE(iif(typeof(contact_id) = 'text', -octet_length(contact_id), octet_length(contact_id)), 0), octet_length(email), " +
	"COALESCE(octet_length(event_source), -1), COALESCE(octet_length(singlesend_id), 0), COALESCE(octet_length(automation_id), 0), " +
	"COALESCE(octet_length(marketing_campaign_id), 0), COALESCE(octet_length(url), 0), " +
	"COALESCE(CAST(contact_id AS TEXT), '') || email || COALESCE(event_source, '') || COALESCE(singlesend_id, '') || " +
	"COALESCE(automation_id, '') || COALESCE(marketing_campaign_id, '') || COALESCE(url, '') || COALESCE(CAST(sg_event_id AS TEXT), '')"

func (r *eventRows) scan(rows *sql.Rows) error {
	if r.dst == nil {
		if r.withSeq {
			r.dst = append(r.dst, &r.seq)
		}
		r.dst = append(r.dst, &r.typ, &r.ts)
		for i := range r.lens {
			r.dst = append(r.dst, &r.lens[i])
		}
		r.dst = append(r.dst, &r.joined)
	}
	if err := rows.Scan(r.dst...); err != nil {
		return err
	}
	rest := r.joined
	var bad bool
	take := func(n int64) string {
		if n < 0 || n > int64(len(rest)) {
			bad, n = true, 0
		}
		v := rest[:n]
		rest = rest[n:]
		return v
	}
	ev := segmentd.Event{Type: decodeEventType(r.typ), Timestamp: fromMS(r.ts)}
	var sp [2][2]uint32
	switch n := r.lens[0]; {
	case n == 16:
		start := len(r.arena)
		r.arena = appendUUID(r.arena, take(16))
		sp[0] = [2]uint32{uint32(start), uint32(len(r.arena))}
	case n < 0:
		ev.ContactID = take(-n)
	}
	ev.Email = take(r.lens[1])
	ev.Source = take(max(r.lens[2], 0))
	if ev.Source == "" {
		ev.Source = segmentd.DefaultEventSource
	}
	ev.SinglesendID = take(r.lens[3])
	ev.AutomationID = take(r.lens[4])
	ev.MarketingCampaignID = take(r.lens[5])
	ev.URL = take(r.lens[6])
	if bad {
		return fmt.Errorf("sqlite: an event row's columns do not add up to its %d bytes", len(r.joined))
	}
	if r.lean {
		ev.Email, ev.SGEventID = "", rest // the stored form, hashed and emptied by leanPage
	} else if eventblock.StoredIsText(rest) {
		ev.SGEventID = rest // stored as its text
	} else if rest != "" {
		start := len(r.arena)
		r.arena = appendEventID(r.arena, rest)
		sp[1] = [2]uint32{uint32(start), uint32(len(r.arena))}
	}
	r.spans = append(r.spans, sp)
	r.out = append(r.out, ev)
	if r.seqs != nil {
		r.seqs = append(r.seqs, r.seq)
	}
	return nil
}

// events ends the page: the events read since the last call, the fields
// written out into arena filled in.
func (r *eventRows) events() []segmentd.Event {
	all := string(r.arena)
	for i, sp := range r.spans {
		if sp[0][1] > 0 {
			r.out[i].ContactID = all[sp[0][0]:sp[0][1]]
		}
		if sp[1][1] > 0 {
			r.out[i].SGEventID = all[sp[1][0]:sp[1][1]]
		}
	}
	out := r.out
	r.out, r.spans, r.arena = nil, r.spans[:0], r.arena[:0] // the buffers are reused; all is a copy
	return out
}

// scanEvents reads every row of a query over eventColumns.
func scanEvents(ctx context.Context, q queryer, query string, args ...any) ([]segmentd.Event, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var r eventRows
	for rows.Next() {
		if err := r.scan(rows); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := r.events()
	if out == nil {
		out = []segmentd.Event{}
	}
	return out, nil
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
// batch's emails name, then writes the new events that have a contact as
// blocks (eventpack.go) and inserts the others as rows.
func (s *Store) AddEventBatches(ctx context.Context, acct int64, batches [][]segmentd.Event) ([]segmentd.EventsResult, error) {
	res := make([]segmentd.EventsResult, len(batches))
	var learned bool // the account's hash set holds new hashes
	err := s.writeConnTx(ctx, true, func(conn *sql.Conn, tx *sql.Tx) error {
		clear(res)
		set, err := s.eventIDs(ctx, tx, acct)
		if err != nil {
			return err
		}
		// Rows an older segmentd left above the frontier become blocks
		// first: a batch's blocks go above them.
		if _, _, err := s.packEvents(ctx, tx, acct, 0); err != nil {
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

// addEvents stores one batch in AddEventBatches' transaction: the events
// numbered after the account's last, those with a contact in blocks of at
// most s.span numbers covering the batch's range, those without as rows
// inside it. The account's hash set learns the new hashes at once, before
// the next batch (or, after the commit, the writer's next transaction)
// looks for its ids in it.
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
	var last int64
	if err := tx.QueryRowContext(ctx, qEventsLastSeq, acct).Scan(&last); err != nil {
		return res, err
	}
	// The events without a contact, as rows: each run of them one insert.
	err := conn.Raw(func(dc any) error {
		for i := 0; i < len(out); {
			if out[i].ContactID != "" {
				i++
				continue
			}
			j := i + 1
			for j < len(out) && out[j].ContactID == "" {
				j++
			}
			res.Unmatched += j - i
			if err := s.inserts.insert(ctx, dc, acct, last+int64(i), out[i:j]); err != nil {
				return err
			}
			i = j
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("insert events: %w", err)
	}
	// The others as blocks, each covering s.span numbers of the batch
	// (the last one the rest), even when it holds none of them: the
	// frontier moves past the batch, rows included.
	for from := 0; from < len(out); from += int(s.span) {
		to := min(from+int(s.span), len(out))
		if err := s.writeBlock(ctx, tx, acct, last+1+int64(from), out[from:to]); err != nil {
			return res, fmt.Errorf("event block: %w", err)
		}
	}
	if len(out) > 0 {
		oldest := toMS(out[0].Timestamp)
		for i := range out {
			oldest = min(oldest, toMS(out[i].Timestamp))
		}
		if _, err := tx.ExecContext(ctx, qLowerEventBound, acct, oldest); err != nil {
			return res, err
		}
	}
	for i, k := range b.keep {
		if out[i].SGEventID != "" {
			set.add(b.hashes[k], last+1+int64(i))
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

// insert inserts evs with sequence numbers after last, on the driver
// connection dc.
func (ins *eventInserts) insert(ctx context.Context, dc any, acct, last int64, evs []segmentd.Event) error {
	if dc != ins.conn {
		// A new writer connection (the old one is gone, and so are its
		// statements; sqlite3_close_v2 left them to a zombie connection).
		*ins = eventInserts{conn: dc, args: ins.args}
	}
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
			for _, v := range [eventWriteN]any{toMS(ev.Timestamp), encodeEventType(ev.Type), encodeContactID(ev.ContactID), ev.Email, encodeSource(ev.Source),
				nullText(ev.SinglesendID), nullText(ev.AutomationID), nullText(ev.MarketingCampaignID), nullText(ev.URL), encodeEventID(ev.SGEventID)} {
				args = append(args, driver.NamedValue{Ordinal: len(args) + 1, Value: v})
			}
		}
		ins.args = args
		if _, err := ins.stmts[k].(driver.StmtExecContext).ExecContext(ctx, args); err != nil {
			return err
		}
		evs, last = evs[n:], last+int64(n)
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
	b.WriteString("INSERT OR FAIL INTO event_rows (" + eventWriteCols + ") VALUES ")
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

// maxWaitingRead is how many emails of events waiting for their contact
// AttachEvents reads to look for them among the contacts (a read of that
// many index entries costs less than a millisecond); past it, it searches
// the contacts' emails in the index.
const maxWaitingRead = 1000

// AttachEvents gives unattached events to the contacts of cs that own their
// emails. It looks for such events on the read pool first, so the usual
// case (none) never takes the writer. That is safe because writes are
// serialised: an event stored before the contact's write committed is
// visible here, and one stored after it matched the contact when stored.
//
// The search starts from the events waiting: up to maxWaitingRead of
// their emails are read from events_unattached and looked for among the
// contacts'. An account usually has none waiting (one probe of the index
// answers then), or a few for emails no contact has. Only past that bound
// are the contacts' emails searched in the index instead, one probe each:
// for an upsert of 30,000 contacts that search took the store stage 60 to
// 90 ms, about a tenth of the upsert's time (docs/events.md, "Events for
// emails with no contact").
func (s *Store) AttachEvents(ctx context.Context, acct int64, cs []segmentd.Contact) ([]segmentd.Event, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	waiting, err := queryStrings(ctx, s.read, qWaitingEmails, acct, maxWaitingRead+1)
	if err != nil || len(waiting) == 0 {
		return nil, err
	}
	var pending []string
	if len(waiting) <= maxWaitingRead {
		// Every email waited for: those of the contacts are attached.
		pending = segmentd.WaitedEmails(cs, waiting)
	} else {
		emails := segmentd.ContactEmails(cs)
		if len(emails) == 0 {
			return nil, nil
		}
		if pending, err = queryStrings(ctx, s.read, qEventsUnattached, acct, jsonStrings(emails)); err != nil {
			return nil, err
		}
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
			rows, err := stmt.QueryContext(ctx, encodeContactID(id), acct, e)
			if err != nil {
				return err
			}
			var r eventRows
			for rows.Next() {
				if err := r.scan(rows); err != nil {
					rows.Close()
					return err
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			out = append(out, r.events()...)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// queryStrings runs a query of one text column and returns its rows.
func queryStrings(ctx context.Context, q queryer, query string, args ...any) ([]string, error) {
	return queryAll(ctx, q, func(r rowScanner) (v string, err error) { return v, r.Scan(&v) }, query, args...)
}

// ScanEvents pages through the account's events in sequence order.
func (s *Store) ScanEvents(ctx context.Context, acct int64, afterSeq int64, limit int) ([]segmentd.Event, int64, error) {
	var evs []segmentd.Event
	last := afterSeq
	// One read transaction: a block packed between the read of the blocks
	// and that of the rows would otherwise be missed by both.
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		evs, last, err = scanEventPage(ctx, tx, nil, acct, afterSeq, limit)
		return err
	})
	return evs, last, err
}

// scanEventPage reads a page of events: up to limit of the account's
// events after afterSeq, in sequence order, from its blocks and its rows
// merged, in the transaction q (both reads must see one state: the
// packer may turn rows into a block between them). r, when not nil, is
// the reader of the caller's previous page, whose buffers it reuses (with
// r.reuse, the page's too: the events returned last are overwritten);
// r.seqs is set to the events' sequence numbers.
func scanEventPage(ctx context.Context, q *sql.Tx, r *eventRows, acct, afterSeq int64, limit int) ([]segmentd.Event, int64, error) {
	if r == nil {
		r = new(eventRows)
	}
	// The blocks first: the page ends at the limit-th of their events,
	// so only the rows up to there are read (the rows left in the
	// blocks' ranges are few, the newest rows many).
	room := min(limit, maxEventPage) + eventBlockSpan // the blocks read past the limit
	var bevs []segmentd.Event
	var bseqs []int64
	if r.reuse {
		clear(r.bevs) // the last page's strings, not kept alive
		bevs, bseqs = slices.Grow(r.bevs[:0], room), slices.Grow(r.bseqs[:0], room)
	} else {
		bevs, bseqs = make([]segmentd.Event, 0, room), make([]int64, 0, room)
	}
	bevs, bseqs, err := scanBlocks(ctx, q, acct, afterSeq, limit, bevs, bseqs, r.lean)
	if err != nil {
		return nil, afterSeq, err
	}
	upTo := int64(math.MaxInt64)
	if len(bseqs) >= limit {
		upTo = bseqs[limit-1]
	}
	rows, err := q.QueryContext(ctx, qScanEvents, acct, afterSeq, upTo, limit)
	if err != nil {
		return nil, afterSeq, err
	}
	defer rows.Close()
	// Room for the whole page at once: grown by appends, the page's
	// events were copied three times over at the rebuild's 50,000 (most
	// of what reading the events allocated).
	room = min(limit, maxEventPage)
	if len(bevs) > 0 {
		room = min(room, 1024) // most of the page is the blocks'
	}
	rowSeqs := r.seqs[:0]
	if r.reuse {
		rowSeqs = r.rowSeqs[:0] // r.seqs may be the blocks' numbers of the last page
	}
	*r = eventRows{withSeq: true, out: make([]segmentd.Event, 0, room), spans: r.spans[:0], arena: r.arena[:0], seqs: rowSeqs,
		reuse: r.reuse, bevs: bevs, bseqs: bseqs, rowSeqs: r.rowSeqs, lean: r.lean}
	if r.seqs == nil {
		r.seqs = make([]int64, 0, room)
	}
	if n := cap(r.out); cap(r.spans) < n {
		r.spans = make([][2][2]uint32, 0, n)
		r.arena = make([]byte, 0, n*64) // a contact id and an sg_event_id written out
	}
	for rows.Next() {
		if err := r.scan(rows); err != nil {
			return nil, afterSeq, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, afterSeq, err
	}
	if r.reuse {
		r.rowSeqs = r.seqs
	}
	evs, seqs := eventblock.Merge(r.events(), r.seqs, bevs, bseqs, limit)
	r.seqs = seqs
	last := afterSeq
	if len(seqs) > 0 {
		last = seqs[len(seqs)-1]
	}
	return evs, last, nil
}

// PruneEvents deletes events older than before, from the blocks
// (pruneBlocks) and then the rows, one sequence range per transaction: pruning a large account never holds the writer for long, and
// each deleted event is independent of the others, so an error part-way
// leaves only fewer events pruned. Each range's oldest remaining event time
// is read after its delete, while its pages are at hand, and the last
// transaction sets the account's event_bounds to the oldest of all.
func (s *Store) PruneEvents(ctx context.Context, acct int64, before time.Time) (int, error) {
	var one int
	err := s.read.QueryRowContext(ctx, qEventsAnyBefore, acct, toMS(before)).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil // the usual case at start: one row of event_bounds
	}
	if err != nil {
		return 0, err
	}
	var lo, hi int64
	if err := s.read.QueryRowContext(ctx, qEventsFirstSeq, acct).Scan(&lo); err != nil {
		return 0, err
	}
	if err := s.read.QueryRowContext(ctx, qRowsLastSeq, acct).Scan(&hi); err != nil {
		return 0, err
	}
	total, err := s.pruneBlocks(ctx, acct, toMS(before))
	if err != nil {
		if total > 0 {
			s.events.forgetIDs(acct)
		}
		return total, err
	}
	var oldest sql.NullInt64
	keep := func(v sql.NullInt64) {
		if v.Valid && (!oldest.Valid || v.Int64 < oldest.Int64) {
			oldest = v
		}
	}
	for from := lo; hi > 0 && from <= hi; from += pruneChunk {
		err := s.writeTx(ctx, func(tx *sql.Tx) error {
			res, err := tx.ExecContext(ctx, qPruneEvents, acct, from, from+pruneChunk, toMS(before))
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			total += int(n)
			if err != nil {
				return err
			}
			var v sql.NullInt64
			err = tx.QueryRowContext(ctx, qMinEventTime, acct, from, from+pruneChunk).Scan(&v)
			keep(v)
			return err
		})
		if err != nil {
			return total, err
		}
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		// Events stored since the ranges were read (none at start).
		var v sql.NullInt64
		if err := tx.QueryRowContext(ctx, qMinEventTime, acct, hi+1, int64(math.MaxInt64)).Scan(&v); err != nil {
			return err
		}
		keep(v)
		if err := tx.QueryRowContext(ctx, qBlocksMinTime, acct).Scan(&v); err != nil {
			return err
		}
		keep(v)
		if !oldest.Valid {
			_, err := tx.ExecContext(ctx, "DELETE FROM event_bounds WHERE account_id = ?", acct)
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE event_bounds SET min_timestamp = ? WHERE account_id = ?", oldest.Int64, acct)
		return err
	})
	if total > 0 {
		s.events.forgetIDs(acct) // it holds the pruned events' ids
	}
	return total, err
}
