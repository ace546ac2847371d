package postgres

import (
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// An id in another form than the lower-case one segmentd makes names no
// membership, as when list_members' ids were text: uuid would read an
// upper-case id as the lower-case one and refuse text that is no UUID,
// and the statements bind them as nothing instead (memberKey,
// memberKeys).
func TestListMemberIDsOfOtherForms(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		st := openFresh(t, srv)
		ctx := t.Context()
		now := time.Now().UTC()
		a, err := st.CreateAccount(ctx, "member ids", 0, now)
		if err != nil {
			t.Fatal(err)
		}
		l, err := st.CreateList(ctx, a.ID, "l", now)
		if err != nil {
			t.Fatal(err)
		}
		email := "a@example.com"
		res, err := st.UpsertContacts(ctx, a.ID, []segmentd.ContactPatch{{Email: &email}}, []string{l.ID}, now)
		if err != nil {
			t.Fatal(err)
		}
		c := res.Contacts[0].ID
		for _, id := range []string{strings.ToUpper(l.ID), "not-a-uuid", ""} {
			if n, err := st.CountListMembers(ctx, a.ID, id); err != nil || n != 0 {
				t.Errorf("CountListMembers(%q) = %d, %v; want 0", id, n, err)
			}
			if _, err := st.DeleteList(ctx, a.ID, id); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
				t.Errorf("DeleteList(%q): %v, want not found", id, err)
			}
		}
		if n, err := st.RemoveListMembers(ctx, a.ID, l.ID, []string{strings.ToUpper(c), "not-a-uuid"}); err != nil || n != 0 {
			t.Errorf("RemoveListMembers of other forms = %d, %v; want 0", n, err)
		}
		if n, err := st.CountListMembers(ctx, a.ID, l.ID); err != nil || n != 1 {
			t.Fatalf("the list has %d members (%v), want 1", n, err)
		}
		if n, err := st.RemoveListMembers(ctx, a.ID, l.ID, []string{c, "not-a-uuid"}); err != nil || n != 1 {
			t.Errorf("RemoveListMembers = %d, %v; want 1", n, err)
		}
	})
}
