package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// The owners of events' emails that a store remembers (owners.go) are
// used only while no write took a change number in between, whichever
// server wrote: an event always goes to the contact its email names when
// it is stored. Two stores on one schema stand for two servers.
func TestEventOwnersRemembered(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := context.Background()
		dsn := freshSchema(t, srv)
		open := func() *Store {
			st, err := Open(ctx, dsn, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
		a, b := open(), open()
		now := time.Now().UTC()
		acct, err := a.CreateAccount(ctx, "owners", 0, now)
		if err != nil {
			t.Fatal(err)
		}
		upsert := func(st *Store, email string) string {
			t.Helper()
			p := segmentd.ContactPatch{Email: &email}
			res, err := st.UpsertContacts(ctx, acct.ID, []segmentd.ContactPatch{p}, nil, now)
			if err != nil || len(res.Errors) > 0 || len(res.Contacts) != 1 {
				t.Fatalf("upsert %s: %v %+v", email, err, res)
			}
			return res.Contacts[0].ID
		}
		n := 0
		event := func(st *Store, email, want string) {
			t.Helper()
			n++
			res, err := st.AddEvents(ctx, acct.ID, []segmentd.Event{{Email: email, Type: "open", Timestamp: now, SGEventID: "ev-" + string(rune('a'+n))}})
			if err != nil || len(res.Events) != 1 {
				t.Fatalf("event for %s: %v %+v", email, err, res)
			}
			if got := res.Events[0].ContactID; got != want {
				t.Fatalf("event %d for %s went to %q, want %q", n, email, got, want)
			}
		}
		first := upsert(a, "x@example.com")
		event(a, "x@example.com", first)
		event(a, "nobody@example.com", "")
		// Remembered now: the next batch, with no write in between, sends them.
		var ch int64
		if err := a.pool.QueryRow(ctx, "SELECT change_seq FROM account_changes WHERE account_id = $1", acct.ID).Scan(&ch); err != nil {
			t.Fatal(err)
		}
		if k := a.owners.known(acct.ID, ch+1, []string{"x@example.com", "nobody@example.com"}); k == nil || *k[0] != first || *k[1] != "" {
			t.Fatalf("the owners remembered after two batches: %v", k)
		}
		event(a, "x@example.com", first)

		// Another server deletes x@'s contact, makes a new one with its
		// email, and creates nobody@.
		if _, err := b.DeleteContacts(ctx, acct.ID, []string{first}); err != nil {
			t.Fatal(err)
		}
		second := upsert(b, "x@example.com")
		third := upsert(b, "nobody@example.com")
		event(a, "x@example.com", second)
		event(a, "nobody@example.com", third)
		// This server's own write too.
		if _, err := a.DeleteContacts(ctx, acct.ID, []string{second}); err != nil {
			t.Fatal(err)
		}
		event(a, "x@example.com", "")
		event(a, "nobody@example.com", third)
	})
}
