package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

// The change history (docs/snapshot.md, docs/postgres.md): the membership
// engine's snapshot records each account's last change number, and a
// start replays what changed after it. Each account numbers its changes in
// account_changes.change_seq, taken under the account's row lock
// (nextChange), so that within an account numbers follow commit order and
// a reader of "change_seq > last" misses nothing.

const (
	qChangeMark = "SELECT account_id, change_seq FROM account_changes WHERE change_seq > 0"
	// qChangedContacts: the contacts whose row was written after $2, and
	// those an upsert only put on lists (membership_changes).
	qChangedContacts = `SELECT id FROM contacts WHERE account_id = $1 AND change_seq > $2
		UNION SELECT unnest(contact_ids) FROM membership_changes WHERE account_id = $1 AND change_seq > $2 ORDER BY 1`
	qDeletionsAfter = "SELECT kind, id FROM deletions WHERE account_id = $1 AND change_seq > $2 ORDER BY change_seq"
)

// ChangeMark implements segmentd.Store: the store's identity and every
// account's last change number, as committed.
func (s *Store) ChangeMark(ctx context.Context) (segmentd.ChangeMark, error) {
	m := segmentd.ChangeMark{Seqs: map[int64]int64{}}
	if err := s.db.QueryRow(ctx, "SELECT store_id FROM store_identity").Scan(&m.StoreID); err != nil {
		return m, err
	}
	rows, err := s.db.Query(ctx, qChangeMark)
	if err != nil {
		return m, err
	}
	defer rows.Close()
	for rows.Next() {
		var acct, seq int64
		if err := rows.Scan(&acct, &seq); err != nil {
			return m, err
		}
		m.Seqs[acct] = seq
	}
	return m, rows.Err()
}

// Changes implements segmentd.Store in one read-only REPEATABLE READ
// transaction: everything it reports is of one snapshot.
func (s *Store) Changes(ctx context.Context, acct int64, after, afterEvent int64, eventLimit int) (segmentd.AccountChanges, error) {
	var ch segmentd.AccountChanges
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		ch = segmentd.AccountChanges{EventsThrough: afterEvent}
		err := tx.QueryRow(ctx, "SELECT coalesce(max(change_seq), 0) FROM account_changes WHERE account_id = $1", acct).Scan(&ch.Through)
		if err != nil {
			return err
		}
		if ch.Through <= after {
			// Nothing changed. Events take change numbers too, so none is
			// new, but a caller whose last read stopped at eventLimit has
			// more of them to read.
			if eventLimit > 0 {
				ch.Events, ch.EventsThrough, err = scanEvents(ctx, tx, acct, afterEvent, eventLimit)
			}
			return err
		}
		var dropped bool
		if err := tx.QueryRow(ctx, qAccountReset, acct, after).Scan(&ch.ResetAt, &dropped); err != nil {
			return err
		}
		if dropped || ch.ResetAt > 0 {
			// A reset or a deletion: what came before it is gone
			// (segmentd.AccountChanges).
			ch.Dropped = dropped
			if dropped {
				ch.ResetAt = 0
			}
			return nil
		}
		if err := tx.QueryRow(ctx, qCatalogChanged, acct, after).Scan(&ch.Catalog); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, qDeletionsAfter, acct, after)
		if err != nil {
			return err
		}
		for rows.Next() {
			var kind, id string
			if err := rows.Scan(&kind, &id); err != nil {
				rows.Close()
				return err
			}
			switch kind {
			case "all":
				ch.AllDeleted = true
			case "list":
				ch.DeletedLists = append(ch.DeletedLists, id)
			default:
				ch.Deleted = append(ch.Deleted, id)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if ch.Changed, err = queryAll(ctx, tx, scanString, qChangedContacts, acct, after); err != nil {
			return err
		}
		if ch.Attached, err = attachedEvents(ctx, tx, acct, after, afterEvent); err != nil {
			return err
		}
		if eventLimit > 0 {
			ch.Events, ch.EventsThrough, err = scanEvents(ctx, tx, acct, afterEvent, eventLimit)
		}
		return err
	})
	return ch, err
}

const qCatalogChanged = "SELECT EXISTS (SELECT 1 FROM catalog_changes WHERE account_id = $1 AND change_seq > $2)"

func scanAttached(row pgx.Row) (segmentd.Event, error) { return scanEvent(row) }

// attachedEvents returns the events numbered up to afterEvent that
// changes after the change number after attached to a contact, in event
// order.
func attachedEvents(ctx context.Context, q querier, acct, after, afterEvent int64) ([]segmentd.Event, error) {
	seqs, err := queryAll(ctx, q, scanInt64, qAttachedSeqs, acct, after, afterEvent)
	if err != nil || len(seqs) == 0 {
		return nil, err
	}
	return queryAll(ctx, q, scanAttached, qEventsBySeq, acct, seqs)
}

// Pages of ReadAccount.
const (
	readContactsPage = 5000
	readEventsPage   = 50_000
)

// ReadAccount implements segmentd.Store in one read-only REPEATABLE READ
// transaction, so that the marks it returns are those of what it read.
func (s *Store) ReadAccount(ctx context.Context, acct int64, contacts func([]segmentd.Contact) error, events func([]segmentd.Event) error) (change, event int64, err error) {
	return s.readAccount(ctx, acct, contacts, events, false, readEventsPage)
}

// ReadAccountLean implements segmentd.LeanAccountReader: ReadAccount
// without writing out each event's email and sg_event_id, which the
// engine's rebuild does not read (eventblock.DecodeLean). Writing them out
// was a fifth of the CPU of a rebuild's read at 1M contacts and 10M events
// (docs/postgres.md, "Session 20: the engine's read").
func (s *Store) ReadAccountLean(ctx context.Context, acct int64, contacts func([]segmentd.Contact) error, events func([]segmentd.Event) error) (change, event int64, err error) {
	return s.readAccount(ctx, acct, contacts, events, true, readEventsPage)
}

// readAccount is ReadAccount, lean or not (ReadAccountLean), in pages of
// at most eventsPage events (readEventsPage; tests use less).
func (s *Store) readAccount(ctx context.Context, acct int64, contacts func([]segmentd.Contact) error, events func([]segmentd.Event) error, lean bool, eventsPage int) (change, event int64, err error) {
	err = s.readTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, "SELECT coalesce(max(change_seq), 0), coalesce(max(event_seq), 0) FROM account_changes WHERE account_id = $1", acct).Scan(&change, new(int64))
		if err != nil {
			return err
		}
		// Each page is read while the caller works on the one before it
		// (readAhead): the database's reading and the engine's intake
		// overlap rather than take turns.
		after := ""
		err = readAhead(ctx, func(ctx context.Context, reuse []segmentd.Contact) ([]segmentd.Contact, bool, error) {
			cs, err := readContactPage(ctx, tx, acct, after, readContactsPage, reuse)
			if len(cs) > 0 {
				after = cs[len(cs)-1].ID
			}
			return cs, len(cs) < readContactsPage, err
		}, contacts)
		if err != nil || events == nil {
			return err
		}
		// The pages are reused once the caller has returned (segmentd.Store
		// says a page is the callback's until then): an event page
		// allocated and grown for each was an eighth of the CPU of a
		// rebuild's read, with the collector's work on top.
		var seqs []int64 // the page's numbers, the reader's own
		return readAhead(ctx, func(ctx context.Context, reuse []segmentd.Event) ([]segmentd.Event, bool, error) {
			var evs []segmentd.Event
			var err error
			evs, seqs, err = scanEventsInto(ctx, tx, acct, event, eventsPage, lean, reuse, seqs[:0])
			if err == nil && len(evs) > 0 {
				event = seqs[len(seqs)-1]
			}
			return evs, len(evs) < eventsPage, err
		}, events)
	})
	return change, event, err
}

// readAhead calls use with each page that read returns, in order, until
// read says it returned the last one or fails. read runs on a goroutine of
// its own, one page ahead of use, and has ended when readAhead returns (so
// a transaction it reads in may end then). A page is use's until it
// returns; then it is read's again, emptied, as reuse (nil until a page
// has come back), for read to fill if it will.
func readAhead[T any](ctx context.Context, read func(ctx context.Context, reuse []T) (page []T, last bool, err error), use func([]T) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type page struct {
		items []T
		err   error
	}
	ch := make(chan page, 1)
	// The pages back from use: at most the one in ch, the one read fills
	// and the one use holds are out at once.
	back := make(chan []T, 2)
	go func() {
		defer close(ch)
		for {
			var reuse []T
			select {
			case reuse = <-back:
			default:
			}
			items, last, err := read(ctx, reuse)
			select {
			case ch <- page{items, err}:
			case <-ctx.Done():
				return
			}
			if err != nil || last {
				return
			}
		}
	}()
	for p := range ch {
		err := p.err
		if err == nil && len(p.items) > 0 {
			err = use(p.items)
		}
		if err != nil {
			cancel()
			for range ch {
			}
			return err
		}
		select {
		case back <- p.items[:0]:
		default:
		}
	}
	return nil
}

// recordCatalogChange takes a change number for a write of the account's
// field definitions or segments, so that a reader of the history reloads
// them.
func recordCatalogChange(ctx context.Context, tx pgx.Tx, acct int64) error {
	seq, err := nextChange(ctx, tx, acct)
	if err == nil {
		_, err = tx.Exec(ctx, "INSERT INTO catalog_changes (account_id, change_seq) VALUES ($1, $2)", acct, seq)
	}
	return err
}

// Ping reports whether the database can be reached (the server's
// readiness).
func (s *Store) Ping(ctx context.Context) error {
	return classify(s.pool.Ping(ctx))
}

// ForgetChanges implements segmentd.Store: one statement per account and
// table, sent together. It takes no account lock: it deletes only records
// at or before numbers already committed, which no writer touches again.
func (s *Store) ForgetChanges(ctx context.Context, mark segmentd.ChangeMark) error {
	if len(mark.Seqs) == 0 {
		return nil
	}
	var b pgx.Batch
	for acct, through := range mark.Seqs {
		b.Queue("DELETE FROM deletions WHERE account_id = $1 AND change_seq <= $2", acct, through)
		b.Queue("DELETE FROM event_attachments WHERE account_id = $1 AND change_seq <= $2", acct, through)
		b.Queue("DELETE FROM catalog_changes WHERE account_id = $1 AND change_seq <= $2", acct, through)
		b.Queue("DELETE FROM membership_changes WHERE account_id = $1 AND change_seq <= $2", acct, through)
	}
	return classify(s.pool.SendBatch(ctx, &b).Close())
}
