package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// The change-history contract (Store.ChangeMark, Changes, ForgetChanges;
// EventStore.LastEventSeq), which the membership engine's snapshot relies
// on to replay what changed after it, and a server following a shared
// store relies on to keep its engine fresh.

// changes reads an account's changes after its change number after (and
// no events).
func changes(t *testing.T, st segmentd.Store, acct, after int64) segmentd.AccountChanges {
	t.Helper()
	ch := must[segmentd.AccountChanges](t, "Changes")(st.Changes(ctx(t), acct, after, 0, 0))
	if ch.Through < after {
		t.Fatalf("Changes(after %d).Through = %d, before the point asked for", after, ch.Through)
	}
	return ch
}

// contactPart is ch without the fields that say where it ends, and with
// empty lists as nil.
func contactPart(ch segmentd.AccountChanges) segmentd.AccountChanges {
	ch.Through, ch.EventsThrough = 0, 0
	for _, l := range []*[]string{&ch.Deleted, &ch.DeletedLists, &ch.Changed} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	for _, l := range []*[]segmentd.Event{&ch.Attached, &ch.Events} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	return ch
}

func testChangeHistory(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "a")
	other := newAccount(t, st, "b")
	l := must[segmentd.List](t, "CreateList")(st.CreateList(ctx(t), acct, "l", now))
	gone := must[segmentd.List](t, "CreateList")(st.CreateList(ctx(t), acct, "gone", now))
	res := upsert(t, st, acct, []string{l.ID, gone.ID},
		segmentd.ContactPatch{Email: str("a@example.com")},
		segmentd.ContactPatch{Email: str("b@example.com"), ExternalID: str("x-b")},
		segmentd.ContactPatch{Email: str("c@example.com")},
		segmentd.ContactPatch{Email: str("d@example.com")})
	a, b, c, d := res.Contacts[0].ID, res.Contacts[1].ID, res.Contacts[2].ID, res.Contacts[3].ID
	g := upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("g@example.com"), FirstName: str("G")}).Contacts[0].ID

	m0 := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t)))
	if m0.StoreID == "" || m0.Seq(acct) <= 0 {
		t.Fatalf("ChangeMark after an upsert = %+v, want a store id and a positive sequence", m0)
	}
	if ch := changes(t, st, acct, m0.Seq(acct)); !reflect.DeepEqual(contactPart(ch), segmentd.AccountChanges{}) || ch.Through != m0.Seq(acct) {
		t.Fatalf("Changes at the mark = %+v, want nothing, through %d", ch, m0.Seq(acct))
	}
	if ch := changes(t, st, acct, 0); len(ch.Changed) != 5 {
		t.Fatalf("Changes from 0 = %+v, want the 5 contacts", ch)
	}

	// Every kind of write after the mark.
	upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("a@example.com"), FirstName: str("Ada")},
		segmentd.ContactPatch{Email: str("e@example.com")})
	upsert(t, st, other, nil, segmentd.ContactPatch{Email: str("z@example.com")})
	noErr(t, "DeleteIdentifier", st.DeleteIdentifier(ctx(t), acct, b, segmentd.IdentifierExternalID, "x-b", now))
	if n, err := st.RemoveListMembers(ctx(t), acct, l.ID, []string{c}); err != nil || n != 1 {
		t.Fatalf("RemoveListMembers = %d, %v", n, err)
	}
	if n, err := st.DeleteContacts(ctx(t), acct, []string{d}); err != nil || n != 1 {
		t.Fatalf("DeleteContacts = %d, %v", n, err)
	}
	must[[]string](t, "DeleteList")(st.DeleteList(ctx(t), acct, gone.ID))
	// An upsert that changes none of g's fields, only adds it to a list.
	upsert(t, st, acct, []string{l.ID}, segmentd.ContactPatch{Email: str("g@example.com"), FirstName: str("G")})

	m1 := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t)))
	if m1.StoreID != m0.StoreID || m1.Seq(acct) <= m0.Seq(acct) || m1.Seq(other) <= m0.Seq(other) {
		t.Fatalf("ChangeMark after writes = %+v, want store %s past %+v for both accounts", m1, m0.StoreID, m0.Seqs)
	}
	ch := changes(t, st, acct, m0.Seq(acct))
	if ch.Through < m1.Seq(acct) {
		t.Fatalf("Changes.Through = %d, want at least the mark's %d", ch.Through, m1.Seq(acct))
	}
	e := mustEmail(t, st, acct, "e@example.com").ID
	want := []string{a, b, c, e, g}
	slices.Sort(want)
	if ch.AllDeleted || !slices.Equal(ch.Changed, want) || !slices.Equal(ch.Deleted, []string{d}) || !slices.Equal(ch.DeletedLists, []string{gone.ID}) {
		t.Fatalf("Changes after the mark = %+v\nwant changed %v, deleted [%s], deleted lists [%s]", ch, want, d, gone.ID)
	}
	if ch := changes(t, st, other, m0.Seq(other)); len(ch.Changed) != 1 || len(ch.Deleted) != 0 {
		t.Fatalf("the other account's changes = %+v, want its one contact", ch)
	}

	// Deleting every contact is one record; contacts written after it are
	// changes as usual.
	must[int](t, "DeleteAllContacts")(st.DeleteAllContacts(ctx(t), acct))
	f := upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("f@example.com")}).Contacts[0].ID
	ch = changes(t, st, acct, m1.Seq(acct))
	if !ch.AllDeleted || !slices.Equal(ch.Changed, []string{f}) || ch.Catalog {
		t.Fatalf("Changes after DeleteAllContacts = %+v, want all deleted and [%s] changed", ch, f)
	}

	// Forgetting drops the records up to the mark, not after it.
	noErr(t, "ForgetChanges", st.ForgetChanges(ctx(t), m1))
	if ch := changes(t, st, acct, m0.Seq(acct)); len(ch.Deleted) != 0 || len(ch.DeletedLists) != 0 || !ch.AllDeleted {
		t.Fatalf("Changes after ForgetChanges(%+v) = %+v, want only the later delete-all", m1.Seqs, ch)
	}
}

func testEventsChangeHistory(t *testing.T, st EventsStore) {
	acct := newAccount(t, st, "a")
	if seq, err := st.LastEventSeq(ctx(t), acct); err != nil || seq != 0 {
		t.Fatalf("LastEventSeq of no events = %d, %v", seq, err)
	}
	must[segmentd.EventsResult](t, "AddEvents")(st.AddEvents(ctx(t), acct, []segmentd.Event{
		ev("early@example.com", "open", "e1", evT0), ev("late@example.com", "open", "e2", evT0)}))
	seq0 := must[int64](t, "LastEventSeq")(st.LastEventSeq(ctx(t), acct))
	m0 := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t)))
	must[segmentd.EventsResult](t, "AddEvents")(st.AddEvents(ctx(t), acct, []segmentd.Event{ev("late@example.com", "click", "e3", evT0)}))
	seq1 := must[int64](t, "LastEventSeq")(st.LastEventSeq(ctx(t), acct))
	if seq1 <= seq0 {
		t.Fatalf("LastEventSeq = %d after another event, want past %d", seq1, seq0)
	}
	if m := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t))); m.Seq(acct) <= m0.Seq(acct) {
		t.Fatalf("ChangeMark after storing an event = %d, want past %d: stored events take a change number", m.Seq(acct), m0.Seq(acct))
	}

	res := upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("late@example.com")})
	attached := must[[]segmentd.Event](t, "AttachEvents")(st.AttachEvents(ctx(t), acct, res.Contacts))
	if len(attached) != 2 {
		t.Fatalf("AttachEvents = %+v, want e2 and e3", attached)
	}
	// Only the events stored up to seq0 are reported: a replay reads the
	// later ones with ScanEvents.
	ch := must[segmentd.AccountChanges](t, "Changes")(st.Changes(ctx(t), acct, m0.Seq(acct), seq0, 10))
	if len(ch.Attached) != 1 || ch.Attached[0].SGEventID != "e2" || ch.Attached[0].ContactID != res.Contacts[0].ID {
		t.Fatalf("Changes(after %d, event %d).Attached = %+v, want e2 on %s", m0.Seq(acct), seq0, ch.Attached, res.Contacts[0].ID)
	}
	// The events after the event point come in order with their contact.
	if len(ch.Events) != 1 || ch.Events[0].SGEventID != "e3" || ch.Events[0].ContactID != res.Contacts[0].ID || ch.EventsThrough != seq1 {
		t.Fatalf("Changes(after event %d).Events = %+v through %d, want e3 on %s through %d", seq0, ch.Events, ch.EventsThrough, res.Contacts[0].ID, seq1)
	}
	// Pages: a limit of one from the start gives e1, then e2 (now attached).
	p1 := must[segmentd.AccountChanges](t, "Changes")(st.Changes(ctx(t), acct, 0, 0, 1))
	p2 := must[segmentd.AccountChanges](t, "Changes")(st.Changes(ctx(t), acct, 0, p1.EventsThrough, 1))
	if len(p1.Events) != 1 || p1.Events[0].SGEventID != "e1" || len(p2.Events) != 1 || p2.Events[0].SGEventID != "e2" || p2.Events[0].ContactID == "" {
		t.Fatalf("event pages = %+v then %+v, want e1 then e2 with its contact", p1.Events, p2.Events)
	}
	m1 := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t)))
	// A reader whose last read stopped at its limit reads on even when no
	// change came since: the next page is still there.
	if p := must[segmentd.AccountChanges](t, "Changes")(st.Changes(ctx(t), acct, m1.Seq(acct), p1.EventsThrough, 1)); len(p.Events) != 1 || p.Events[0].SGEventID != "e2" {
		t.Fatalf("Changes(after the last change, event %d, limit 1).Events = %+v, want e2", p1.EventsThrough, p.Events)
	}
	if ch := must[segmentd.AccountChanges](t, "Changes")(st.Changes(ctx(t), acct, m1.Seq(acct), seq1, 10)); len(ch.Attached) != 0 || len(ch.Events) != 0 || ch.EventsThrough != seq1 {
		t.Fatalf("Changes after the attaching change = %+v, want no events through %d", ch, seq1)
	}
	noErr(t, "ForgetChanges", st.ForgetChanges(ctx(t), m1))
	if ch := must[segmentd.AccountChanges](t, "Changes")(st.Changes(ctx(t), acct, m0.Seq(acct), seq1, 0)); len(ch.Attached) != 0 {
		t.Fatalf("Changes after ForgetChanges = %+v, want no attachments", ch)
	}
}

// testReadAccount: ReadAccount gives every live contact in id order, in
// full (lists, tags, Constant Contact-only attributes, as Contact gives
// it), and every event in sequence order, with the marks of what it read,
// and stops at a callback's error.
func testReadAccount(t *testing.T, st EventsStore) {
	acct := newAccount(t, st, "a")
	other := newAccount(t, st, "b")
	var patches []segmentd.ContactPatch
	for i := range 12_000 { // more than one page of contacts
		patches = append(patches, segmentd.ContactPatch{Email: str(fmt.Sprintf("c%05d@example.com", i))})
	}
	l1 := must[segmentd.List](t, "CreateList")(st.CreateList(ctx(t), acct, "L1", now))
	l2 := must[segmentd.List](t, "CreateList")(st.CreateList(ctx(t), acct, "L2", now))
	tag := must[segmentd.Tag](t, "CreateTag")(st.CreateTag(ctx(t), acct, "T", "", 10, now))
	first := upsert(t, st, acct, []string{l1.ID}, patches[:6000]...)
	upsert(t, st, acct, nil, patches[6000:]...)
	upsert(t, st, other, nil, segmentd.ContactPatch{Email: str("other@example.com")})
	// Contacts on both lists, tagged, with attributes, spread over the
	// pages (ids are in no relation to emails), and their neighbours
	// without.
	var full []string
	for i := 0; i < 6000; i += 997 {
		full = append(full, first.Contacts[i].ID)
	}
	upsert(t, st, acct, []string{l2.ID}, patches[0], patches[997], patches[1994])
	must[[]string](t, "TagContacts")(st.TagContacts(ctx(t), acct, []string{tag.ID}, full, now))
	for _, id := range full[:3] {
		must[bool](t, "SetCCDetails")(st.SetCCDetails(ctx(t), acct, id, segmentd.CCDetails{JobTitle: "Engineer " + id[:4]}, now))
	}
	gone := mustEmail(t, st, acct, "c00007@example.com").ID
	must[int](t, "DeleteContacts")(st.DeleteContacts(ctx(t), acct, []string{gone}))
	must[segmentd.EventsResult](t, "AddEvents")(st.AddEvents(ctx(t), acct, []segmentd.Event{
		ev("c00001@example.com", "open", "r1", evT0), ev("nobody@example.com", "click", "r2", evT0), ev("c00002@example.com", "open", "r3", evT0)}))
	must[segmentd.EventsResult](t, "AddEvents")(st.AddEvents(ctx(t), other, []segmentd.Event{ev("other@example.com", "open", "r4", evT0)}))

	var ids []string
	var evs []string
	read := map[string]segmentd.Contact{}
	change, event, err := st.ReadAccount(ctx(t), acct, func(cs []segmentd.Contact) error {
		for _, c := range cs {
			ids = append(ids, c.ID)
			read[c.ID] = c
		}
		return nil
	}, func(es []segmentd.Event) error {
		for _, e := range es {
			evs = append(evs, e.SGEventID)
		}
		return nil
	})
	noErr(t, "ReadAccount", err)
	if len(ids) != 11_999 || !slices.IsSorted(ids) || slices.Contains(ids, gone) {
		t.Fatalf("ReadAccount gave %d contacts (sorted %v), want the 11,999 live ones in id order", len(ids), slices.IsSorted(ids))
	}
	for _, id := range append(full, first.Contacts[1].ID, first.Contacts[998].ID) {
		want := must[segmentd.Contact](t, "Contact")(st.Contact(ctx(t), acct, id))
		if got := read[id]; !reflect.DeepEqual(got, want) {
			t.Fatalf("ReadAccount gave contact\n%+v\nContact gives\n%+v", got, want)
		}
	}
	if c := read[full[0]]; len(c.ListIDs) != 2 || len(c.TagIDs) != 1 || c.CC.JobTitle == "" {
		t.Fatalf("ReadAccount gave %+v, want it on two lists, tagged, with a job title", c)
	}
	if !slices.Equal(evs, []string{"r1", "r2", "r3"}) {
		t.Fatalf("ReadAccount events = %v, want r1 r2 r3", evs)
	}
	mark := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t)))
	last := must[int64](t, "LastEventSeq")(st.LastEventSeq(ctx(t), acct))
	if change != mark.Seq(acct) || event != last {
		t.Fatalf("ReadAccount marks = %d, %d; want the account's %d, %d", change, event, mark.Seq(acct), last)
	}
	// Without an events callback, only contacts; a callback's error stops
	// the read and comes back.
	stop := errors.New("stop")
	calls := 0
	_, _, err = st.ReadAccount(ctx(t), acct, func([]segmentd.Contact) error { calls++; return stop }, nil)
	if err != stop || calls != 1 {
		t.Fatalf("ReadAccount with a failing callback: err %v after %d calls, want stop after 1", err, calls)
	}
	testReadAccountLean(t, st, acct)
}

// testReadAccountLean: a store with ReadAccountLean reads what ReadAccount
// reads, every event's Email and SGEventID left empty, at the same marks;
// events of one contact stored together (as a store may pack them) and
// alone both.
func testReadAccountLean(t *testing.T, st EventsStore, acct int64) {
	lr, ok := st.(segmentd.LeanAccountReader)
	if !ok {
		return
	}
	var batch []segmentd.Event
	for i := range 6 {
		e := ev("c00004@example.com", "click", fmt.Sprintf("lean-%d", i), evT0.Add(time.Duration(i)*time.Minute))
		e.URL = "https://example.com/" + fmt.Sprint(i%2)
		batch = append(batch, e, ev(fmt.Sprintf("c%05d@example.com", 100+i), "open", fmt.Sprintf("lean-o%d", i), evT0))
	}
	must[segmentd.EventsResult](t, "AddEvents")(st.AddEvents(ctx(t), acct, batch))
	read := func(f func(context.Context, int64, func([]segmentd.Contact) error, func([]segmentd.Event) error) (int64, int64, error)) ([]segmentd.Contact, []segmentd.Event, int64, int64) {
		var cs []segmentd.Contact
		var evs []segmentd.Event
		change, event, err := f(ctx(t), acct, func(p []segmentd.Contact) error {
			cs = append(cs, p...)
			return nil
		}, func(p []segmentd.Event) error {
			evs = append(evs, p...)
			return nil
		})
		noErr(t, "ReadAccount", err)
		return cs, evs, change, event
	}
	cs, evs, change, event := read(st.ReadAccount)
	lcs, levs, lchange, levent := read(lr.ReadAccountLean)
	if len(evs) != 15 {
		t.Fatalf("ReadAccount gave %d events, want 15", len(evs))
	}
	for i := range evs {
		if evs[i].Email == "" || evs[i].SGEventID == "" {
			t.Fatalf("ReadAccount gave event %+v without its email or sg_event_id", evs[i])
		}
		evs[i].Email, evs[i].SGEventID = "", ""
	}
	if !reflect.DeepEqual(lcs, cs) || !reflect.DeepEqual(levs, evs) || lchange != change || levent != event {
		t.Fatalf("ReadAccountLean gave %d contacts, events\n%+v\nmarks %d, %d; want %d contacts, events\n%+v\nmarks %d, %d",
			len(lcs), levs, lchange, levent, len(cs), evs, change, event)
	}
}
