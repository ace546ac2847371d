package sqlite

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// TestPreparedReads: the kept statements answer as the store is now (rows
// written after their preparation included), from many goroutines at
// once (more than the read pool's connections, each read by contact
// holding one in its transaction: preparedTx), and only the queries asked
// and the reads by contact's (txReads) are kept, one statement each.
func TestPreparedReads(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := t.Context()
	a, err := s.CreateAccount(ctx, "a", 0, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.CreateList(ctx, a.ID, "l", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	email, email2 := "ada@example.com", "bob@example.com"
	res, err := s.UpsertContacts(ctx, a.ID, []segmentd.ContactPatch{{Email: &email}}, []string{l.ID}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	ada := res.Contacts[0].ID
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 20 {
				if got, err := s.Account(ctx, a.ID); err != nil || got.Name != "a" {
					t.Errorf("Account: %+v, %v", got, err)
					return
				}
				if c, err := s.Contact(ctx, a.ID, ada); err != nil || len(c.ListIDs) != 1 {
					t.Errorf("Contact: %+v, %v", c, err)
					return
				}
				if cs, err := s.SampleContacts(ctx, a.ID, 50); err != nil || len(cs) != 1 {
					t.Errorf("SampleContacts: %d, %v", len(cs), err)
					return
				}
			}
		})
	}
	wg.Wait()
	if _, err := s.UpsertContacts(ctx, a.ID, []segmentd.ContactPatch{{Email: &email2}}, []string{l.ID}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if cs, err := s.SampleContacts(ctx, a.ID, 50); err != nil || len(cs) != 2 || cs[1].Email != email2 || !slices.Equal(cs[1].ListIDs, []string{l.ID}) {
		t.Fatalf("SampleContacts after a contact joined: %+v, %v", cs, err)
	}
	if _, err := s.APIKeyByHash(ctx, segmentd.HashAPIKey("no such key")); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("an unknown key: %v", err)
	}
	secret := segmentd.NewAPIKeySecret()
	if _, err := s.CreateAPIKey(ctx, segmentd.APIKey{AccountID: a.ID, Name: "k", Hash: segmentd.HashAPIKey(secret), Scopes: []segmentd.Scope{segmentd.ScopeSendGridRead}, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if k, err := s.APIKeyByHash(ctx, segmentd.HashAPIKey(secret)); err != nil || k.AccountID != a.ID {
		t.Fatalf("a key stored after the statement was prepared: %+v, %v", k, err)
	}
	if _, err := s.CreateAccount(ctx, "b", a.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	if all, err := s.Accounts(ctx); err != nil || len(all) != 2 {
		t.Fatalf("Accounts after a second account: %+v, %v", all, err)
	}
	if all, err := s.Accounts(ctx); err != nil || len(all) != 2 {
		t.Fatalf("Accounts again: %+v, %v", all, err)
	}
	kept := 0
	s.reads.stmts.Range(func(_, _ any) bool { kept++; return true })
	if want := len(txReads) + 3; kept != want { // and the account, the key, the accounts
		t.Fatalf("%d statements kept, want %d", kept, want)
	}
}
