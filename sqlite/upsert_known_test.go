package sqlite

import (
	"path/filepath"
	"slices"
	"testing"

	"github.com/segmentd/segmentd"
)

// TestUpsertKnownEmails checks that a membership-only upsert finds the
// contacts an earlier upsert wrote in the remembered emails, not in the
// table: the row's email is changed behind the store's back (the writer
// connection, no transaction of the store), and the re-upsert of the old
// email still names the contact. Read from the table, it would create a
// new contact.
func TestUpsertKnownEmails(t *testing.T) {
	s, account, lists := accountWithLists(t, 1)
	defer s.Close()
	ctx, acct, list := t.Context(), account.ID, lists[0]
	res, err := s.UpsertContacts(ctx, acct, []segmentd.ContactPatch{patch("a@example.com"), patch("b@example.com")}, nil, testNow)
	if err != nil || res.Created != 2 {
		t.Fatalf("UpsertContacts = %+v, %v", res, err)
	}
	a := res.Contacts[0]
	if _, err := s.write.ExecContext(ctx, "UPDATE contacts SET email = 'elsewhere@example.com' WHERE account_id = ? AND id = ?", acct, a.ID); err != nil {
		t.Fatal(err)
	}
	res, err = s.UpsertContacts(ctx, acct, []segmentd.ContactPatch{patch("a@example.com")}, []string{list}, testNow)
	if err != nil || res.Created != 0 || res.Updated != 1 || !slices.Equal(res.Joined, []string{a.ID}) {
		t.Fatalf("membership-only upsert = %+v, %v; want a found in memory and joined", res, err)
	}
}

// TestUpsertKnownEmailsStayTrue checks that what the upserts remember of
// the emails stays the store's answer after each write that changes which
// contact an email names, or what else it holds: a membership-only
// upsert of the email then does what it would on a store that remembers
// nothing.
func TestUpsertKnownEmailsStayTrue(t *testing.T) {
	type setup struct {
		s    *Store
		path string
		acct int64
		list string
		a    segmentd.Contact // a@example.com, written by an upsert
	}
	ext := "crm-1"
	cases := []struct {
		name   string
		change func(t *testing.T, st setup)
		check  func(t *testing.T, st setup, res segmentd.UpsertResult)
	}{{
		name: "deleted",
		change: func(t *testing.T, st setup) {
			if n, err := st.s.DeleteContacts(t.Context(), st.acct, []string{st.a.ID}); err != nil || n != 1 {
				t.Fatalf("DeleteContacts = %d, %v", n, err)
			}
		},
		check: func(t *testing.T, st setup, res segmentd.UpsertResult) {
			if res.Created != 1 || res.Updated != 0 {
				t.Fatalf("after the delete: %+v; want a new contact", res)
			}
		},
	}, {
		name: "given an identifier by an upsert",
		change: func(t *testing.T, st setup) {
			p := patch("a@example.com")
			p.ExternalID = &ext
			if res, err := st.s.UpsertContacts(t.Context(), st.acct, []segmentd.ContactPatch{p}, nil, testNow); err != nil || res.Updated != 1 {
				t.Fatalf("UpsertContacts = %+v, %v", res, err)
			}
		},
		check: func(t *testing.T, st setup, res segmentd.UpsertResult) {
			if len(res.Errors) != 1 || res.Errors[0].Field != "external_id" {
				t.Fatalf("after a new identifier: %+v; want the external id required", res)
			}
		},
	}, {
		name: "email deleted",
		change: func(t *testing.T, st setup) {
			p := patch("a@example.com")
			p.ExternalID = &ext
			if res, err := st.s.UpsertContacts(t.Context(), st.acct, []segmentd.ContactPatch{p}, nil, testNow); err != nil || res.Updated != 1 {
				t.Fatalf("UpsertContacts = %+v, %v", res, err)
			}
			if err := st.s.DeleteIdentifier(t.Context(), st.acct, st.a.ID, segmentd.IdentifierEmail, "a@example.com", testNow); err != nil {
				t.Fatal(err)
			}
		},
		check: func(t *testing.T, st setup, res segmentd.UpsertResult) {
			if res.Created != 1 || res.Updated != 0 {
				t.Fatalf("after the email was deleted: %+v; want a new contact", res)
			}
		},
	}, {
		name: "deleted by another connection",
		change: func(t *testing.T, st setup) {
			other, err := Open(t.Context(), st.path)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			if n, err := other.DeleteContacts(t.Context(), st.acct, []string{st.a.ID}); err != nil || n != 1 {
				t.Fatalf("DeleteContacts = %d, %v", n, err)
			}
		},
		check: func(t *testing.T, st setup, res segmentd.UpsertResult) {
			if res.Created != 1 || res.Updated != 0 {
				t.Fatalf("after another store's delete: %+v; want a new contact", res)
			}
		},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "segmentd.db")
			s, err := Open(ctx, path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			st := setup{s: s, path: path, acct: createAccount(t, s)}
			l, err := s.CreateList(ctx, st.acct, "L", testNow)
			if err != nil {
				t.Fatal(err)
			}
			st.list = l.ID
			res, err := s.UpsertContacts(ctx, st.acct, []segmentd.ContactPatch{patch("a@example.com")}, nil, testNow)
			if err != nil || res.Created != 1 {
				t.Fatalf("UpsertContacts = %+v, %v", res, err)
			}
			st.a = res.Contacts[0]
			tc.change(t, st)
			res, err = s.UpsertContacts(ctx, st.acct, []segmentd.ContactPatch{patch("a@example.com")}, []string{st.list}, testNow)
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, st, res)
			// An event of the email names the contact the store holds it for.
			if len(res.Errors) == 0 {
				owner, err := s.ContactsByEmails(ctx, st.acct, []string{"a@example.com"})
				if err != nil || len(owner) != 1 {
					t.Fatalf("ContactsByEmails = %+v, %v", owner, err)
				}
				ev := segmentd.Event{Email: "a@example.com", Type: "open", Timestamp: testNow, SGEventID: "ev-1"}
				if r, err := s.AddEvents(ctx, st.acct, []segmentd.Event{ev}); err != nil || r.Added != 1 {
					t.Fatalf("AddEvents = %+v, %v", r, err)
				}
				got, _, err := s.ScanEvents(ctx, st.acct, 0, 10)
				if err != nil || len(got) != 1 || got[0].ContactID != owner["a@example.com"].ID {
					t.Fatalf("ScanEvents = %+v, %v; want the event of %s", got, err, owner["a@example.com"].ID)
				}
			}
		})
	}
}
