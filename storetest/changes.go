package storetest

import (
	"reflect"
	"slices"
	"testing"

	"github.com/segmentd/segmentd"
)

// The change-history contract (Store.ChangeMark, ContactChanges,
// ForgetChanges; EventStore.LastEventSeq, AttachedEvents), which the
// membership engine's snapshot relies on to replay what changed after it.

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

	m0 := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t)))
	if m0.StoreID == "" || m0.Seq(acct) <= 0 {
		t.Fatalf("ChangeMark after an upsert = %+v, want a store id and a positive sequence", m0)
	}
	if ch := must[segmentd.ContactChanges](t, "ContactChanges")(st.ContactChanges(ctx(t), acct, m0.Seq(acct))); !reflect.DeepEqual(ch, segmentd.ContactChanges{}) {
		t.Fatalf("ContactChanges at the mark = %+v, want nothing", ch)
	}
	if ch := must[segmentd.ContactChanges](t, "ContactChanges")(st.ContactChanges(ctx(t), acct, 0)); len(ch.Changed) != 4 {
		t.Fatalf("ContactChanges from 0 = %+v, want the 4 contacts", ch)
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

	m1 := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t)))
	if m1.StoreID != m0.StoreID || m1.Seq(acct) <= m0.Seq(acct) || m1.Seq(other) <= m0.Seq(other) {
		t.Fatalf("ChangeMark after writes = %+v, want store %s past %+v for both accounts", m1, m0.StoreID, m0.Seqs)
	}
	ch := must[segmentd.ContactChanges](t, "ContactChanges")(st.ContactChanges(ctx(t), acct, m0.Seq(acct)))
	e := mustEmail(t, st, acct, "e@example.com").ID
	want := []string{a, b, c, e}
	slices.Sort(want)
	if ch.AllDeleted || !slices.Equal(ch.Changed, want) || !slices.Equal(ch.Deleted, []string{d}) || !slices.Equal(ch.DeletedLists, []string{gone.ID}) {
		t.Fatalf("ContactChanges after the mark = %+v\nwant changed %v, deleted [%s], deleted lists [%s]", ch, want, d, gone.ID)
	}
	if ch := must[segmentd.ContactChanges](t, "ContactChanges")(st.ContactChanges(ctx(t), other, m0.Seq(other))); len(ch.Changed) != 1 || len(ch.Deleted) != 0 {
		t.Fatalf("the other account's changes = %+v, want its one contact", ch)
	}

	// Deleting every contact is one record; contacts written after it are
	// changes as usual.
	must[int](t, "DeleteAllContacts")(st.DeleteAllContacts(ctx(t), acct))
	f := upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("f@example.com")}).Contacts[0].ID
	ch = must[segmentd.ContactChanges](t, "ContactChanges")(st.ContactChanges(ctx(t), acct, m1.Seq(acct)))
	if !ch.AllDeleted || !slices.Equal(ch.Changed, []string{f}) {
		t.Fatalf("ContactChanges after DeleteAllContacts = %+v, want all deleted and [%s] changed", ch, f)
	}

	// Forgetting drops the records up to the mark, not after it.
	noErr(t, "ForgetChanges", st.ForgetChanges(ctx(t), m1))
	if ch := must[segmentd.ContactChanges](t, "ContactChanges")(st.ContactChanges(ctx(t), acct, m0.Seq(acct))); len(ch.Deleted) != 0 || len(ch.DeletedLists) != 0 || !ch.AllDeleted {
		t.Fatalf("ContactChanges after ForgetChanges(%+v) = %+v, want only the later delete-all", m1.Seqs, ch)
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

	res := upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("late@example.com")})
	attached := must[[]segmentd.Event](t, "AttachEvents")(st.AttachEvents(ctx(t), acct, res.Contacts))
	if len(attached) != 2 {
		t.Fatalf("AttachEvents = %+v, want e2 and e3", attached)
	}
	// Only the events stored up to seq0 are reported: a replay reads the
	// later ones with ScanEvents.
	got := must[[]segmentd.Event](t, "AttachedEvents")(st.AttachedEvents(ctx(t), acct, m0.Seq(acct), seq0))
	if len(got) != 1 || got[0].SGEventID != "e2" || got[0].ContactID != res.Contacts[0].ID {
		t.Fatalf("AttachedEvents(after %d, through %d) = %+v, want e2 on %s", m0.Seq(acct), seq0, got, res.Contacts[0].ID)
	}
	m1 := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t)))
	if got := must[[]segmentd.Event](t, "AttachedEvents")(st.AttachedEvents(ctx(t), acct, m1.Seq(acct), seq1)); len(got) != 0 {
		t.Fatalf("AttachedEvents after the attaching change = %+v, want none", got)
	}
	noErr(t, "ForgetChanges", st.ForgetChanges(ctx(t), m1))
	if got := must[[]segmentd.Event](t, "AttachedEvents")(st.AttachedEvents(ctx(t), acct, m0.Seq(acct), seq1)); len(got) != 0 {
		t.Fatalf("AttachedEvents after ForgetChanges = %+v, want none", got)
	}
}
