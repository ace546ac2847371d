package engine

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/query"
)

// sunk collects what a sink is given.
type sunk struct {
	mu sync.Mutex
	ts []segmentd.Transition
}

func (s *sunk) sink(acct int64, ts []segmentd.Transition) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, t := range ts {
		if t.AccountID != acct {
			panic("a transition of another account")
		}
	}
	s.ts = append(s.ts, ts...)
}

// take returns what was sunk since the last take, one line each.
func (s *sunk) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var b strings.Builder
	for _, t := range s.ts {
		fmt.Fprintf(&b, "%s %s %s %s %s +%v\n", t.SegmentID, t.ContactID, t.Email, t.Type(), t.Cause, t.At.Sub(base))
	}
	s.ts = nil
	return b.String()
}

// Every kind of membership change is recorded with its cause and time,
// and nothing is recorded before the sink is set.
func TestTransitions(t *testing.T) {
	e := New()
	var got sunk
	now := base
	e.PutContacts(1, []segmentd.Contact{{ID: "a", Email: "a@x.test", FirstName: "Ada"}}, now)
	if err := e.PutSegment(1, "ada", mustCheck(t, e, 1, query.SGQL, "first_name = 'Ada'"), "", now); err != nil {
		t.Fatal(err)
	}
	e.RecordTransitions(got.sink, nil)
	if s := got.take(); s != "" {
		t.Fatalf("recorded before the sink was set:\n%s", s)
	}
	step := func(what, want string) {
		t.Helper()
		if s := got.take(); s != want {
			t.Errorf("%s: transitions\n%s\nwant\n%s", what, s, want)
		}
	}
	now = base.Add(time.Minute)
	e.PutContacts(1, []segmentd.Contact{{ID: "b", Email: "b@x.test", FirstName: "Ada"}, {ID: "a", Email: "a@x.test", FirstName: "Bob"}}, now)
	step("contact write", "ada b b@x.test segment.entered contact +1m0s\nada a a@x.test segment.exited contact +1m0s\n")

	week := mustCheck(t, e, 1, query.SGQL, "(event_type = 'open' AND event_timestamp > NOW() - INTERVAL 7 day)")
	if err := e.PutSegment(1, "opened", week, "", now); err != nil {
		t.Fatal(err)
	}
	step("segment created over nobody", "")
	open := base.Add(time.Hour)
	e.AddEvents(1, "a", []query.Event{{Source: "mail", Type: "open", Timestamp: open.UnixMilli()}}, open)
	step("event", "opened a a@x.test segment.entered event +1h0m0s\n")

	// A read long after the window closed records the exit at the instant
	// it closed, as the clock's.
	leave := open.Add(7 * 24 * time.Hour)
	if n := e.Count(1, "opened", leave.Add(30*24*time.Hour)); n != 0 {
		t.Fatalf("count %d after the window", n)
	}
	step("clock", fmt.Sprintf("opened a a@x.test segment.exited clock +%v\n", leave.Sub(base)))

	// A write after the clock moved records the clock's transitions as
	// the clock's, then its own.
	e.AddEvents(1, "b", []query.Event{{Source: "mail", Type: "open", Timestamp: leave.Add(40 * 24 * time.Hour).UnixMilli()}}, leave.Add(40*24*time.Hour))
	at := leave.Add(40 * 24 * time.Hour).Sub(base)
	step("event later", fmt.Sprintf("opened b b@x.test segment.entered event +%v\n", at))
	later := leave.Add(50 * 24 * time.Hour)
	e.PutContacts(1, []segmentd.Contact{{ID: "a", Email: "a2@x.test", FirstName: "Ada"}}, later)
	step("write after the window", fmt.Sprintf("opened b b@x.test segment.exited clock +%v\nada a a2@x.test segment.entered contact +%v\n",
		at+7*24*time.Hour, later.Sub(base)))

	// A changed definition, a deleted contact, a list taken away.
	if err := e.PutSegment(1, "ada", mustCheck(t, e, 1, query.SGQL, "first_name = 'Bob'"), "", later); err != nil {
		t.Fatal(err)
	}
	// A bitmap replaced whole is noted in index order.
	step("definition", fmt.Sprintf("ada a a2@x.test segment.exited definition +%v\nada b b@x.test segment.exited definition +%v\n", later.Sub(base), later.Sub(base)))
	e.PutContacts(1, []segmentd.Contact{{ID: "c", Email: "c@x.test", FirstName: "Bob", ListIDs: []string{"l"}}}, later)
	if err := e.PutSegment(1, "onl", mustCheck(t, e, 1, query.SGQL, "first_name = 'Bob'"), "l", later); err != nil {
		t.Fatal(err)
	}
	got.take()
	e.RemoveList(1, "l", later)
	step("list deleted", fmt.Sprintf("onl c c@x.test segment.exited contact +%v\n", later.Sub(base)))
	e.DeleteContacts(1, []string{"c"}, later)
	step("contact deleted", fmt.Sprintf("ada c c@x.test segment.exited contact +%v\n", later.Sub(base)))

	e.RecordTransitions(nil, nil)
	e.PutContacts(1, []segmentd.Contact{{ID: "d", Email: "d@x.test", FirstName: "Bob"}}, later)
	step("after the sink was removed", "")
}

// Only the accounts wants names have their transitions noted; another
// account's writes reach no sink.
func TestTransitionsOnlyOfWatchedAccounts(t *testing.T) {
	e := New()
	var got sunk
	for _, acct := range []int64{1, 2} {
		if err := e.PutSegment(acct, "ada", mustCheck(t, e, acct, query.SGQL, "first_name = 'Ada'"), "", base); err != nil {
			t.Fatal(err)
		}
	}
	e.RecordTransitions(got.sink, func(acct int64) bool { return acct == 2 })
	e.PutContacts(1, []segmentd.Contact{{ID: "a", Email: "a@x.test", FirstName: "Ada"}}, base)
	if s := got.take(); s != "" {
		t.Fatalf("an unwatched account's transitions were noted:\n%s", s)
	}
	e.PutContacts(2, []segmentd.Contact{{ID: "b", Email: "b@x.test", FirstName: "Ada"}}, base)
	if s, want := got.take(), "ada b b@x.test segment.entered contact +0s\n"; s != want {
		t.Fatalf("the watched account's transitions:\n%s\nwant\n%s", s, want)
	}
}
