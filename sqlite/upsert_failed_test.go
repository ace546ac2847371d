package sqlite

import (
	"testing"

	"github.com/segmentd/segmentd"
)

// TestFailedGroupForgetsRememberedEmails checks that a group of upserts
// that fails part way leaves no remembered email behind: the first upsert
// of the group records its new contacts (upsertBatch.remember) inside the
// transaction, a trigger then fails the second, and the whole group rolls
// back. A membership-only upsert of the first upsert's email must then
// create its contact, as on a store that never saw the group; had the
// remembered email outlived the rollback, it would name a contact that
// does not exist, and the upsert would join it to the list instead.
func TestFailedGroupForgetsRememberedEmails(t *testing.T) {
	s, account, lists := accountWithLists(t, 1)
	defer s.Close()
	ctx, acct, list := t.Context(), account.ID, lists[0]
	// A real failure of the store in the middle of the group, from
	// SQLite itself: the second upsert's insert is refused.
	if _, err := s.write.ExecContext(ctx, `CREATE TRIGGER refuse_boom BEFORE INSERT ON contacts
		WHEN NEW.email = 'boom@example.com' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`); err != nil {
		t.Fatal(err)
	}
	ups := []segmentd.ContactUpsert{
		{Patches: []segmentd.ContactPatch{patch("a@example.com"), patch("b@example.com")}},
		{Patches: []segmentd.ContactPatch{patch("boom@example.com")}},
	}
	if _, _, err := s.UpsertContactsGroup(ctx, acct, ups, testNow); err == nil {
		t.Fatal("UpsertContactsGroup succeeded; want the trigger's failure")
	}
	n, err := s.CountContacts(ctx, acct)
	if err != nil || n != 0 {
		t.Fatalf("CountContacts after the failed group = %d, %v; want 0", n, err)
	}
	res, err := s.UpsertContacts(ctx, acct, []segmentd.ContactPatch{patch("a@example.com")}, []string{list}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if res.Created != 1 || res.Updated != 0 || len(res.Joined) != 0 {
		t.Fatalf("membership-only upsert after the failed group = %+v; want a new contact", res)
	}
	if n, err := s.CountListMembers(ctx, acct, list); err != nil || n != 1 {
		t.Fatalf("CountListMembers = %d, %v; want the one new contact", n, err)
	}
	if n, err := s.CountContacts(ctx, acct); err != nil || n != 1 {
		t.Fatalf("CountContacts = %d, %v; want the one new contact", n, err)
	}
}
