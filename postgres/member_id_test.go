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
		a, lists := accountWithLists(t, st, "member ids", "l")
		l := lists[0]
		email := "a@example.com"
		res, err := st.UpsertContacts(ctx, a, []segmentd.ContactPatch{{Email: &email}}, []string{l}, now)
		if err != nil {
			t.Fatal(err)
		}
		c := res.Contacts[0].ID
		for _, id := range []string{strings.ToUpper(l), "not-a-uuid", ""} {
			if n, err := st.CountListMembers(ctx, a, id); err != nil || n != 0 {
				t.Errorf("CountListMembers(%q) = %d, %v; want 0", id, n, err)
			}
			if _, err := st.DeleteList(ctx, a, id); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
				t.Errorf("DeleteList(%q): %v, want not found", id, err)
			}
		}
		if n, err := st.RemoveListMembers(ctx, a, l, []string{strings.ToUpper(c), "not-a-uuid"}); err != nil || n != 0 {
			t.Errorf("RemoveListMembers of other forms = %d, %v; want 0", n, err)
		}
		if n, err := st.CountListMembers(ctx, a, l); err != nil || n != 1 {
			t.Fatalf("the list has %d members (%v), want 1", n, err)
		}
		if n, err := st.RemoveListMembers(ctx, a, l, []string{c, "not-a-uuid"}); err != nil || n != 1 {
			t.Errorf("RemoveListMembers = %d, %v; want 1", n, err)
		}
	})
}
