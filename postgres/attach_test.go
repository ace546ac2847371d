package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// TestAttachEventsWaiting: AttachEvents starts from the events waiting for
// their contact. With none or a few waiting it attaches exactly what it
// did by searching the contacts' emails, without that search; past
// maxWaitingRead emails waiting it searches them, and finds the same.
func TestAttachEventsWaiting(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := context.Background()
		st, acct, _, now := openWithContacts(t, freshSchema(t, srv), "attach")
		defer st.Close()
		upsert := func(emails ...string) []segmentd.Contact {
			t.Helper()
			var patches []segmentd.ContactPatch
			for _, e := range emails {
				patches = append(patches, segmentd.ContactPatch{Email: &e})
			}
			res, err := st.UpsertContacts(ctx, acct.ID, patches, nil, now)
			if err != nil || len(res.Contacts) != len(emails) {
				t.Fatalf("upsert %v: %v %+v", emails, err, res.Errors)
			}
			return res.Contacts
		}
		wait := func(from, n int) {
			t.Helper()
			for lo := from; lo < from+n; lo += 1000 {
				var evs []segmentd.Event
				for i := lo; i < min(from+n, lo+1000); i++ {
					evs = append(evs, segmentd.Event{Email: fmt.Sprintf("nobody%d@example.com", i), Type: "open", Timestamp: now.Add(-time.Hour), SGEventID: fmt.Sprintf("waiting-%d", i)})
				}
				r, err := st.AddEvents(ctx, acct.ID, evs)
				if err != nil || r.Unmatched != len(evs) {
					t.Fatalf("AddEvents: %+v, %v", r, err)
				}
			}
		}
		attach := func(cs []segmentd.Contact, want ...string) {
			t.Helper()
			got, err := st.AttachEvents(ctx, acct.ID, cs)
			if err != nil {
				t.Fatal(err)
			}
			owner := map[string]string{}
			for _, c := range cs {
				owner[c.Email] = c.ID
			}
			if len(got) != len(want) {
				t.Fatalf("AttachEvents = %d events %+v, want %v", len(got), got, want)
			}
			for i, ev := range got {
				if ev.SGEventID != want[i] || ev.ContactID == "" || ev.ContactID != owner[ev.Email] {
					t.Fatalf("AttachEvents[%d] = %+v, want %s with its contact", i, ev, want[i])
				}
			}
		}

		// None waiting: nothing, and no search.
		attach(upsert("new0@example.com"))
		// A few waiting: the contact that has one of their emails gets its
		// event; one whose email waits for nothing, none.
		wait(0, 3)
		attach(upsert("nobody1@example.com", "new1@example.com"), "waiting-1")
		if n := st.attachSearches.Load(); n != 0 {
			t.Fatalf("%d searches of the contacts' emails with at most %d emails waiting, want none", n, maxWaitingRead)
		}
		// Past the bound: the contacts' emails are searched, and the same
		// is found.
		wait(3, maxWaitingRead)
		last := fmt.Sprintf("nobody%d@example.com", maxWaitingRead+2)
		attach(upsert(last, "new2@example.com"), fmt.Sprintf("waiting-%d", maxWaitingRead+2))
		if n := st.attachSearches.Load(); n != 1 {
			t.Fatalf("%d searches of the contacts' emails with %d emails waiting, want 1", n, maxWaitingRead+2)
		}
	})
}
