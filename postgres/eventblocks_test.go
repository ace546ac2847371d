package postgres

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// TestEventBlocks: from migration 0022 on, events with a contact are
// stored many to a row of event_blocks, those without stay rows, and the
// rows stored before the migration are kept. Every reader merges them in
// number order, a legacy event's sg_event_id is still refused, AttachEvents
// still attaches, and a prune deletes old events from rows and blocks,
// with their ids.
func TestEventBlocks(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := context.Background()
		dsn := freshSchema(t, srv)
		st, acct, owner, now := openWithContacts(t, dsn, "blocks")
		// Back to version 21, with events stored as rows then: two with a
		// contact, one without.
		old := now.Add(-10 * 24 * time.Hour)
		rewindToEventRows(t, st)
		legacy := []segmentd.Event{
			{ContactID: owner["c1@example.com"], Email: "c1@example.com", Source: "mail", Type: "open", Timestamp: old, SGEventID: "old-1"},
			{Email: "late@example.com", Source: "mail", Type: "click", Timestamp: old, URL: "https://x.test/", SGEventID: "old-2"},
			{ContactID: owner["c2@example.com"], Email: "c2@example.com", Source: "sms", Type: "delivered", Timestamp: old.Add(time.Hour)},
		}
		for i, ev := range legacy {
			if _, err := st.pool.Exec(ctx, `INSERT INTO events (account_id, seq, contact_id, email, event_source, event_type, event_timestamp, url, sg_event_id)
				VALUES ($1, $2, nullif($3, ''), $4, $5, $6, $7, nullif($8, ''), nullif($9, ''))`,
				acct.ID, i+1, ev.ContactID, ev.Email, ev.Source, ev.Type, toMS(ev.Timestamp), ev.URL, ev.SGEventID); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := st.pool.Exec(ctx, "UPDATE account_changes SET event_seq = 3, event_min_ts = $2 WHERE account_id = $1", acct.ID, toMS(old)); err != nil {
			t.Fatal(err)
		}
		st.Close()
		st, err := Open(ctx, dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()

		// 5,000 new events in one call (two blocks), one in fifty for an
		// email with no contact, old and new times in turn, and the legacy
		// id again.
		var evs []segmentd.Event
		for i := range 5000 {
			email := fmt.Sprintf("c%d@example.com", i%50)
			if i%50 == 7 {
				email = "late@example.com"
			}
			ts := now
			if i%2 == 0 {
				ts = now.Add(-5 * 24 * time.Hour)
			}
			evs = append(evs, segmentd.Event{Email: email, Type: []string{"open", "click", "custom"}[i%3], Timestamp: ts,
				MarketingCampaignID: "camp", SGEventID: fmt.Sprintf("new-%d", i)})
		}
		evs = append(evs, segmentd.Event{Email: "c3@example.com", Type: "open", Timestamp: now, SGEventID: "old-2"})
		added, err := st.AddEvents(ctx, acct.ID, evs)
		if err != nil {
			t.Fatal(err)
		}
		if added.Added != 5000 || added.Duplicates != 1 || added.Unmatched != 100 {
			t.Fatalf("added %d, duplicates %d, unmatched %d; want 5000, 1, 100", added.Added, added.Duplicates, added.Unmatched)
		}
		var rows, blocks, ids int
		if err := st.pool.QueryRow(ctx, `SELECT (SELECT count(*) FROM events WHERE account_id = $1), (SELECT count(*) FROM event_blocks WHERE account_id = $1),
			(SELECT count(*) FROM event_ids WHERE account_id = $1)`, acct.ID).Scan(&rows, &blocks, &ids); err != nil {
			t.Fatal(err)
		}
		if rows != 3+100 || blocks != 2 || ids != 2+5000 {
			t.Fatalf("%d rows, %d blocks, %d ids; want 103 (the legacy rows and the events with no contact), 2 and 5002", rows, blocks, ids)
		}
		want := append(slices.Clone(legacy), added.Events...)
		scanAll := func(page int) []segmentd.Event {
			t.Helper()
			var out []segmentd.Event
			after := int64(0)
			for {
				got, last, err := st.ScanEvents(ctx, acct.ID, after, page)
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
		same := func(what string, got, want []segmentd.Event) {
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
		for _, page := range []int{1, 7, 1000, 50_000} {
			same(fmt.Sprintf("pages of %d", page), scanAll(page), want)
		}
		if last, err := st.LastEventSeq(ctx, acct.ID); err != nil || last != 3+5000 {
			t.Fatalf("LastEventSeq = %d, %v; want 5003", last, err)
		}

		// The email's contact arrives: the legacy row and the 100 rows
		// are attached, and read so.
		late := "late@example.com"
		res, err := st.UpsertContacts(ctx, acct.ID, []segmentd.ContactPatch{{Email: &late}}, nil, now)
		if err != nil || len(res.Contacts) != 1 {
			t.Fatalf("upsert: %v %+v", err, res.Errors)
		}
		attached, err := st.AttachEvents(ctx, acct.ID, res.Contacts)
		if err != nil || len(attached) != 101 {
			t.Fatalf("attached %d events, %v; want 101", len(attached), err)
		}
		for i := range want {
			if want[i].Email == late {
				want[i].ContactID = res.Contacts[0].ID
			}
		}
		same("after the attachment", scanAll(500), want)

		// A prune keeps the new events of the blocks and rows only.
		n, err := st.PruneEvents(ctx, acct.ID, now.Add(-24*time.Hour))
		if err != nil || n != 3+2500 {
			t.Fatalf("pruned %d, %v; want 2503", n, err)
		}
		var kept []segmentd.Event
		for _, ev := range want {
			if ev.Timestamp.Equal(now) {
				kept = append(kept, ev)
			}
		}
		same("after the prune", scanAll(999), kept)
		var minTS int64
		if err := st.pool.QueryRow(ctx, "SELECT event_min_ts FROM account_changes WHERE account_id = $1", acct.ID).Scan(&minTS); err != nil || minTS != toMS(now) {
			t.Fatalf("event_min_ts = %d, %v; want %d", minTS, err, toMS(now))
		}
		// A pruned event's id is free again; a kept one's is not.
		again, err := st.AddEvents(ctx, acct.ID, []segmentd.Event{
			{Email: "c1@example.com", Type: "open", Timestamp: now, SGEventID: "new-0"},
			{Email: "c1@example.com", Type: "open", Timestamp: now, SGEventID: "new-1"},
			{Email: "c1@example.com", Type: "open", Timestamp: now, SGEventID: "old-1"},
		})
		if err != nil || again.Added != 2 || again.Duplicates != 1 {
			t.Fatalf("again: %v, added %d, duplicates %d; want 2 and 1", err, again.Added, again.Duplicates)
		}
	})
}

// openWithContacts opens the store on dsn with an account named name and
// 50 contacts c0@example.com … c49@example.com, and returns their ids by
// email and the time they were made at (milliseconds).
func openWithContacts(t *testing.T, dsn, name string) (*Store, segmentd.Account, map[string]string, time.Time) {
	t.Helper()
	ctx := context.Background()
	st, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Millisecond)
	acct, err := st.CreateAccount(ctx, name, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	var patches []segmentd.ContactPatch
	for i := range 50 {
		email := fmt.Sprintf("c%d@example.com", i)
		patches = append(patches, segmentd.ContactPatch{Email: &email})
	}
	res, err := st.UpsertContacts(ctx, acct.ID, patches, nil, now)
	if err != nil || len(res.Contacts) != 50 {
		t.Fatalf("upsert: %v %+v", err, res.Errors)
	}
	owner := map[string]string{}
	for _, c := range res.Contacts {
		owner[c.Email] = c.ID
	}
	return st, acct, owner, now
}

// rewindToEventRows takes st's schema back to version 21, where events
// were rows of events with a unique index on their sg_event_id, undoing
// migrations 0022 and 0024 (the rows' tables stay as they are).
func rewindToEventRows(t *testing.T, st *Store) {
	t.Helper()
	for _, q := range []string{
		"DELETE FROM schema_migrations WHERE version >= 22",
		"ALTER TABLE account_changes DROP COLUMN event_changes",
		"DROP TABLE event_blocks",
		"DROP TABLE event_ids",
		"CREATE UNIQUE INDEX events_sg_event_id ON events (account_id, sg_event_id) WHERE sg_event_id IS NOT NULL",
	} {
		if _, err := st.pool.Exec(context.Background(), q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}
