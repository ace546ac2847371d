package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// legacyEvents is an account whose events were stored before migration
// 0022, as rows, in a schema rewound to version 21 and migrated again.
type legacyEvents struct {
	st     *Store
	dsn    string
	acct   int64
	owner  map[string]string // email → contact id
	rows   int               // the legacy rows
	packed int               // those with a contact, which a pack turns into blocks
	now    time.Time
}

// storeLegacyEvents makes a legacyEvents of n rows numbered 1 to n with a
// gap every 1,000: one in 25 without a contact (nobody%d@example.com), one
// in 7 without an sg_event_id (the others "old-%d"), times over ten days.
func storeLegacyEvents(t *testing.T, srv server, n int) legacyEvents {
	t.Helper()
	ctx := context.Background()
	dsn := freshSchema(t, srv)
	st, acct, owner, now := openWithContacts(t, dsn, "legacy")
	// ids and emails paired by position, for the rows' SQL below.
	emails := slices.Sorted(maps.Keys(owner))
	var ids []string
	for _, email := range emails {
		ids = append(ids, owner[email])
	}
	rewindToEventRows(t, st)
	old := toMS(now.Add(-10 * 24 * time.Hour))
	if _, err := st.pool.Exec(ctx, `INSERT INTO events (account_id, seq, contact_id, email, event_source, event_type, event_timestamp,
			singlesend_id, automation_id, marketing_campaign_id, url, sg_event_id)
		SELECT $1, g + g / 1000, CASE WHEN g % 25 <> 0 THEN ($3::text[])[1 + g % 50] END,
			CASE WHEN g % 25 <> 0 THEN ($4::text[])[1 + g % 50] ELSE 'nobody' || g % 100 || '@example.com' END,
			CASE WHEN g % 3 = 0 THEN 'sms' ELSE 'mail' END, (ARRAY['open', 'click', 'delivered', 'custom'])[1 + g % 4],
			$5::bigint + g * 40000, CASE WHEN g % 2 = 0 THEN 'ss-' || g % 9 END, CASE WHEN g % 5 = 0 THEN 'au-1' END,
			CASE WHEN g % 2 = 1 THEN 'camp-' || g % 11 END, CASE WHEN g % 4 = 1 THEN 'https://x.test/' || g % 13 END,
			CASE WHEN g % 7 <> 0 THEN 'old-' || g END
		FROM generate_series(1, $2::int) AS g`, acct.ID, n, ids, emails, old); err != nil {
		t.Fatal(err)
	}
	last := int64(n + n/1000)
	if _, err := st.pool.Exec(ctx, "UPDATE account_changes SET event_seq = $2, event_min_ts = $3 WHERE account_id = $1", acct.ID, last, old); err != nil {
		t.Fatal(err)
	}
	st.Close()
	st, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return legacyEvents{st: st, dsn: dsn, acct: acct.ID, owner: owner, rows: n, packed: n - n/25, now: now}
}

// scanAllEvents reads every event of the account by ScanEvents, in pages
// of page.
func scanAllEvents(t *testing.T, st *Store, acct int64, page int) []segmentd.Event {
	t.Helper()
	var out []segmentd.Event
	after := int64(0)
	for {
		got, last, err := st.ScanEvents(context.Background(), acct, after, page)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			return out
		}
		if len(got) > page || last <= after {
			t.Fatalf("page of %d after %d: %d events through %d", page, after, len(got), last)
		}
		out, after = append(out, got...), last
	}
}

// readAllEvents reads every event of the account as the engine's rebuild
// does (ReadAccount), with the event mark it returns.
func readAllEvents(t *testing.T, st *Store, acct int64) ([]segmentd.Event, int64) {
	t.Helper()
	var out []segmentd.Event
	_, mark, err := st.ReadAccount(context.Background(), acct, func([]segmentd.Contact) error { return nil }, func(evs []segmentd.Event) error {
		out = append(out, evs...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, mark
}

func sameEvents(t *testing.T, what string, got, want []segmentd.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: event %d\n got %+v\nwant %+v", what, i, got[i], want[i])
		}
	}
}

// eventLayout counts the account's rows of events, those with a contact,
// and its blocks.
func eventLayout(t *testing.T, st *Store, acct int64) (rows, withContact, blocks int) {
	t.Helper()
	err := st.pool.QueryRow(context.Background(), `SELECT (SELECT count(*) FROM events WHERE account_id = $1),
		(SELECT count(*) FROM events WHERE account_id = $1 AND contact_id IS NOT NULL),
		(SELECT count(*) FROM event_blocks WHERE account_id = $1)`, acct).Scan(&rows, &withContact, &blocks)
	if err != nil {
		t.Fatal(err)
	}
	return rows, withContact, blocks
}

// TestPackEventRows: the rows an account stored before migration 0022 are
// packed into blocks, a few a transaction, and every reader reads the
// same events before, part-way and after (ScanEvents at several page
// sizes, the rebuild's ReadAccount and its mark, LastEventSeq, the change
// history's attached events); events stored meanwhile are kept; a pack
// stopped part-way goes on at the next; the old sg_event_ids are still
// refused; the rows that must stay rows (no contact; an attachment the
// history records) stay.
func TestPackEventRows(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := context.Background()
		const n = 20_000
		l := storeLegacyEvents(t, srv, n)
		st, acct := l.st, l.acct

		// Events of the new layout after them: blocks, and rows for an
		// email with no contact.
		var evs []segmentd.Event
		for i := range 3000 {
			email := fmt.Sprintf("c%d@example.com", i%50)
			if i%30 == 0 {
				email = "nobody25@example.com"
			}
			evs = append(evs, segmentd.Event{Email: email, Type: "open", Timestamp: l.now, SGEventID: fmt.Sprintf("new-%d", i)})
		}
		added, err := st.AddEvents(ctx, acct, evs)
		if err != nil || added.Added != 3000 || added.Unmatched != 100 {
			t.Fatalf("add: %v %+v", err, added)
		}
		// nobody25's contact arrives: its legacy rows and new rows are
		// attached, which the history records.
		mark, err := st.ChangeMark(ctx)
		if err != nil {
			t.Fatal(err)
		}
		email := "nobody25@example.com"
		res, err := st.UpsertContacts(ctx, acct, []segmentd.ContactPatch{{Email: &email}}, nil, l.now)
		if err != nil || len(res.Contacts) != 1 {
			t.Fatalf("upsert: %v %+v", err, res.Errors)
		}
		attached, err := st.AttachEvents(ctx, acct, res.Contacts)
		if err != nil || len(attached) != 100+n/100 {
			t.Fatalf("attached %d, %v; want %d", len(attached), err, 100+n/100)
		}
		lastSeq := int64(n + n/1000 + 3000)
		want := scanAllEvents(t, st, acct, 1000)
		if len(want) != n+3000 {
			t.Fatalf("%d events before packing, want %d", len(want), n+3000)
		}
		history := func() []segmentd.Event {
			t.Helper()
			ch, err := st.Changes(ctx, acct, mark.Seqs[acct], lastSeq, 0)
			if err != nil {
				t.Fatal(err)
			}
			return ch.Attached
		}
		wantAttached := history()
		if len(wantAttached) != len(attached) {
			t.Fatalf("the history has %d attached events, want %d", len(wantAttached), len(attached))
		}
		check := func(what string, want []segmentd.Event) {
			t.Helper()
			for _, page := range []int{333, 4097, 50_000} {
				sameEvents(t, fmt.Sprintf("%s: pages of %d", what, page), scanAllEvents(t, st, acct, page), want)
			}
			got, mark := readAllEvents(t, st, acct)
			sameEvents(t, what+": ReadAccount", got, want)
			if mark != lastSeq {
				t.Fatalf("%s: ReadAccount's event mark %d, want %d", what, mark, lastSeq)
			}
			if last, err := st.LastEventSeq(ctx, acct); err != nil || last != lastSeq {
				t.Fatalf("%s: LastEventSeq = %d, %v; want %d", what, last, err, lastSeq)
			}
			sameEvents(t, what+": attached in the history", history(), wantAttached)
		}
		check("before", want)
		rows, withContact, blocks := eventLayout(t, st, acct)
		stay := n/25 - n/100 + 100 + n/100 // no contact; attached and recorded
		if rows != n+100 || withContact != n-n/25+n/100+100 || blocks != 1 {
			t.Fatalf("before: %d rows, %d with a contact, %d blocks", rows, withContact, blocks)
		}

		// Two transactions of a block each, as a pack a kill stopped.
		var packed []int
		if err := packAccount(ctx, st.pool, acct, 1, 2, func(k int) { packed = append(packed, k) }); err != nil {
			t.Fatal(err)
		}
		if len(packed) != 2 || packed[0]+packed[1] < 2*3800 {
			t.Fatalf("part-way: packed %v, want two blocks of about 4,000", packed)
		}
		if r, _, b := eventLayout(t, st, acct); r != rows-packed[0]-packed[1] || b != 3 {
			t.Fatalf("part-way: %d rows, %d blocks; want %d and 3", r, b, rows-packed[0]-packed[1])
		}
		check("part-way", want)

		// A batch meanwhile, with an old id of a packed row, of a row to
		// be packed, of a row with no contact and of a new event: only the
		// new event goes in.
		more, err := st.AddEvents(ctx, acct, []segmentd.Event{
			{Email: "c1@example.com", Type: "open", Timestamp: l.now, SGEventID: "old-1"},
			{Email: "c1@example.com", Type: "open", Timestamp: l.now, SGEventID: fmt.Sprintf("old-%d", n-2)},
			{Email: "c1@example.com", Type: "open", Timestamp: l.now, SGEventID: "old-25"},
			{Email: "c1@example.com", Type: "open", Timestamp: l.now, SGEventID: "meanwhile"},
		})
		if err != nil || more.Added != 1 || more.Duplicates != 3 {
			t.Fatalf("a batch part-way: %v %+v", err, more)
		}
		want = append(want, more.Events...)
		lastSeq += 4 // the refused events' numbers are not used again

		// The pack goes on, then finds nothing left.
		total, err := st.PackEventRows(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if total+packed[0]+packed[1] != l.packed {
			t.Fatalf("packed %d after %v; want %d in all", total, packed, l.packed)
		}
		if again, err := st.PackEventRows(ctx, nil); err != nil || again != 0 {
			t.Fatalf("a second pack: %d, %v; want 0", again, err)
		}
		r, wc, b := eventLayout(t, st, acct)
		if r != stay || wc != 100+n/100 || b < 1+n/blockSpan {
			t.Fatalf("after: %d rows (%d with a contact), %d blocks; want %d (%d), at least %d", r, wc, b, stay, 100+n/100, 1+n/blockSpan)
		}
		check("after", want)

		// The ids are refused as before, a packed one too.
		again, err := st.AddEvents(ctx, acct, []segmentd.Event{
			{Email: "c1@example.com", Type: "open", Timestamp: l.now, SGEventID: "old-2"},
			{Email: "c1@example.com", Type: "open", Timestamp: l.now, SGEventID: "old-50"},
			{Email: "c1@example.com", Type: "open", Timestamp: l.now, SGEventID: "new-1"},
			{Email: "c1@example.com", Type: "open", Timestamp: l.now, SGEventID: "old-7"}, // every 7th had no id
		})
		if err != nil || again.Added != 1 || again.Duplicates != 3 {
			t.Fatalf("old ids after the pack: %v %+v; want 1 added, 3 duplicates", err, again)
		}

		// The history forgets the attachments: the attached rows, inside
		// blocks' ranges, go into those blocks.
		forget, err := st.ChangeMark(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.ForgetChanges(ctx, forget); err != nil {
			t.Fatal(err)
		}
		want = append(want, again.Events...)
		late, err := st.PackEventRows(ctx, nil)
		if err != nil || late != n/100+100 {
			t.Fatalf("packing the rows attached: %d, %v; want %d", late, err, n/100+100)
		}
		if r, wc, _ := eventLayout(t, st, acct); r != n/25-n/100 || wc != 0 {
			t.Fatalf("after the history forgot: %d rows (%d with a contact), want %d (0)", r, wc, n/25-n/100)
		}
		for _, page := range []int{333, 50_000} {
			sameEvents(t, fmt.Sprintf("at last: pages of %d", page), scanAllEvents(t, st, acct, page), want)
		}
		got, _ := readAllEvents(t, st, acct)
		sameEvents(t, "at last: ReadAccount", got, want)
	})
}

// TestPackEventRowsTogether: two servers over one database pack at once
// while event batches come in: one packs every row, the other waits for
// it (packRetry) and finds none, the batches are all kept, and every
// event reads back once.
func TestPackEventRowsTogether(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := context.Background()
		const n = 20_000
		l := storeLegacyEvents(t, srv, n)
		want := scanAllEvents(t, l.st, l.acct, 50_000)
		other, err := Open(ctx, l.dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer other.Close()
		// A block a transaction: five each, which the two would share.
		l.st.packBlocks, other.packBlocks = 1, 1

		var wg sync.WaitGroup
		var packed, waited [2]int
		var errs [3]error
		var batches []segmentd.EventsResult
		for i, st := range []*Store{l.st, other} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				packed[i], errs[i] = st.PackEventRows(ctx, func(p PackProgress) {
					if p.Waiting {
						waited[i]++
					}
				})
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range 10 {
				var evs []segmentd.Event
				for i := range 200 {
					evs = append(evs, segmentd.Event{Email: fmt.Sprintf("c%d@example.com", i%50), Type: "click", Timestamp: l.now,
						SGEventID: fmt.Sprintf("b%d-%d", b, i)})
				}
				old := 1 + b*1500
				if old%7 == 0 {
					old++ // every 7th has no id
				}
				evs = append(evs, segmentd.Event{Email: "c1@example.com", Type: "open", Timestamp: l.now, SGEventID: fmt.Sprintf("old-%d", old)})
				res, err := other.AddEvents(ctx, l.acct, evs)
				if err != nil {
					errs[2] = err
					return
				}
				batches = append(batches, res)
			}
		}()
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if slices.Max(packed[:]) != l.packed || slices.Min(packed[:]) != 0 {
			t.Fatalf("packed %v; want %d by one and 0 by the other", packed, l.packed)
		}
		// The other waited for the lock, then found nothing left.
		if i := slices.Index(packed[:], 0); waited[i] != 1 || waited[1-i] != 0 {
			t.Fatalf("packed %v, waited %v: want the one that packed none to have waited once", packed, waited)
		}
		for _, res := range batches {
			if res.Added != 200 || res.Duplicates != 1 {
				t.Fatalf("a batch meanwhile: %+v; want 200 added, the old id a duplicate", res)
			}
			want = append(want, res.Events...)
		}
		sameEvents(t, "after", scanAllEvents(t, l.st, l.acct, 1000), want)
		if r, wc, _ := eventLayout(t, l.st, l.acct); r != n/25 || wc != 0 {
			t.Fatalf("after: %d rows, %d with a contact; want %d and 0", r, wc, n/25)
		}
	})
}
