package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// testBuryContacts: BuryContacts deletes contacts as DeleteContacts does
// (the history reports them deleted; no read finds them) and keeps what
// Constant Contact shows of each, read by id, by email, in pages by id
// and counted; a second deletion of an address replaces the first; a new
// contact of the address drops it; another account sees nothing; a reset
// drops them all.
func testBuryContacts(t *testing.T, st segmentd.Store) {
	acct, other := newAccount(t, st, "a"), newAccount(t, st, "b")
	l := must[segmentd.List](t, "CreateList")(st.CreateList(ctx(t), acct, "L", now))
	tag := must[segmentd.Tag](t, "CreateTag")(st.CreateTag(ctx(t), acct, "T", "", 10, now))
	res := upsert(t, st, acct, []string{l.ID}, segmentd.ContactPatch{Email: str("a@example.com"), FirstName: str("Ada"), LastName: str("Lovelace")},
		segmentd.ContactPatch{Email: str("b@example.com")}, segmentd.ContactPatch{Email: str("c@example.com")})
	a, b, c := res.Contacts[0].ID, res.Contacts[1].ID, res.Contacts[2].ID
	d := segmentd.CCDetails{JobTitle: "Engineer", Permission: "explicit", CreateSource: "Contact", UpdateSource: "Account"}
	must[bool](t, "SetCCDetails")(st.SetCCDetails(ctx(t), acct, a, d, now))
	must[[]string](t, "TagContacts")(st.TagContacts(ctx(t), acct, []string{tag.ID}, []string{a}, now))

	later := now.Add(time.Hour)
	m0 := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t)))
	if n := must[int](t, "BuryContacts")(st.BuryContacts(ctx(t), acct, []string{a, b, "00000000-0000-4000-8000-000000000000"}, later)); n != 2 {
		t.Fatalf("BuryContacts = %d, want 2", n)
	}
	if ch := changes(t, st, acct, m0.Seq(acct)); !slices.Contains(ch.Deleted, a) || !slices.Contains(ch.Deleted, b) || len(ch.Changed) != 0 {
		t.Fatalf("Changes after BuryContacts = %+v", ch)
	}
	_, err := st.Contact(ctx(t), acct, a)
	wantKind(t, "Contact(buried)", err, segmentd.KindNotFound)
	if _, ok := byEmail(t, st, acct, "a@example.com"); ok {
		t.Fatal("a buried contact's address finds it")
	}
	if n := must[int](t, "CountListMembers")(st.CountListMembers(ctx(t), acct, l.ID)); n != 1 {
		t.Fatalf("list members after BuryContacts = %d, want 1", n)
	}
	if n := must[int](t, "CountTagMembers")(st.CountTagMembers(ctx(t), acct, tag.ID)); n != 0 {
		t.Fatalf("tag members after BuryContacts = %d, want 0", n)
	}
	wantA := segmentd.DeletedContact{ID: a, Email: "a@example.com", FirstName: "Ada", LastName: "Lovelace", CC: d, CreatedAt: nowMS, DeletedAt: later.Truncate(time.Millisecond)}
	if got := must[segmentd.DeletedContact](t, "DeletedContact")(st.DeletedContact(ctx(t), acct, a)); !reflect.DeepEqual(got, wantA) {
		t.Fatalf("DeletedContact = %+v\nwant %+v", got, wantA)
	}
	if got := must[segmentd.DeletedContact](t, "DeletedContactByEmail")(st.DeletedContactByEmail(ctx(t), acct, "a@example.com")); got.ID != a {
		t.Fatalf("DeletedContactByEmail = %+v", got)
	}
	_, err = st.DeletedContact(ctx(t), acct, c)
	wantKind(t, "DeletedContact(live)", err, segmentd.KindNotFound)
	_, err = st.DeletedContact(ctx(t), other, a)
	wantKind(t, "DeletedContact(another account's)", err, segmentd.KindNotFound)
	_, err = st.DeletedContactByEmail(ctx(t), acct, "c@example.com")
	wantKind(t, "DeletedContactByEmail(live)", err, segmentd.KindNotFound)
	if n := must[int](t, "CountDeletedContacts")(st.CountDeletedContacts(ctx(t), acct)); n != 2 {
		t.Fatalf("CountDeletedContacts = %d, want 2", n)
	}
	if n := must[int](t, "CountDeletedContacts")(st.CountDeletedContacts(ctx(t), other)); n != 0 {
		t.Fatalf("CountDeletedContacts(other) = %d, want 0", n)
	}
	var paged []string
	for after := ""; ; {
		page := must[[]segmentd.DeletedContact](t, "DeletedContacts")(st.DeletedContacts(ctx(t), acct, after, 1))
		if len(page) == 0 {
			break
		}
		paged, after = append(paged, page[0].ID), page[0].ID
	}
	if !reflect.DeepEqual(paged, sorted(a, b)) {
		t.Fatalf("DeletedContacts pages = %v, want %v", paged, sorted(a, b))
	}

	// A new contact of b's address (SendGrid's upsert) drops b's record.
	b2 := upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("b@example.com")}).Contacts[0].ID
	if b2 == b {
		t.Fatal("an upsert of a buried address reused its id")
	}
	_, err = st.DeletedContact(ctx(t), acct, b)
	wantKind(t, "DeletedContact(after a new contact of its address)", err, segmentd.KindNotFound)
	// Burying the new one: the address has one record, the newest.
	must[int](t, "BuryContacts")(st.BuryContacts(ctx(t), acct, []string{b2}, later.Add(time.Hour)))
	if ds := must[[]segmentd.DeletedContact](t, "DeletedContacts")(st.DeletedContacts(ctx(t), acct, "", 10)); len(ds) != 2 || !slices.ContainsFunc(ds, func(x segmentd.DeletedContact) bool { return x.ID == b2 }) {
		t.Fatalf("DeletedContacts after a second burial of b's address = %+v", ds)
	}

	// A reset drops them.
	must[int64](t, "ResetAccount")(st.ResetAccount(ctx(t), acct))
	if n := must[int](t, "CountDeletedContacts")(st.CountDeletedContacts(ctx(t), acct)); n != 0 {
		t.Fatalf("CountDeletedContacts after a reset = %d", n)
	}
}

// testPutContact: PutContact writes a contact's whole new state (email,
// fields, lists, tags, Constant Contact-only attributes) as one change of
// it, creates one (ID ""), revives a buried one under its id and
// creation time; a write with any bad part (another contact's email, an
// unknown list or tag, a conflicting identifier) is refused whole and
// changes nothing, not even the history.
func testPutContact(t *testing.T, st segmentd.Store) {
	acct, other := newAccount(t, st, "a"), newAccount(t, st, "b")
	l1 := must[segmentd.List](t, "CreateList")(st.CreateList(ctx(t), acct, "L1", now))
	l2 := must[segmentd.List](t, "CreateList")(st.CreateList(ctx(t), acct, "L2", now))
	t1 := must[segmentd.Tag](t, "CreateTag")(st.CreateTag(ctx(t), acct, "T1", "", 10, now))
	t2 := must[segmentd.Tag](t, "CreateTag")(st.CreateTag(ctx(t), acct, "T2", "", 10, now))
	res := upsert(t, st, acct, []string{l1.ID}, segmentd.ContactPatch{Email: str("a@example.com"), FirstName: str("Ada"), ExternalID: str("crm-1")},
		segmentd.ContactPatch{Email: str("b@example.com"), ExternalID: str("crm-2")})
	a := res.Contacts[0].ID
	must[[]string](t, "TagContacts")(st.TagContacts(ctx(t), acct, []string{t1.ID}, []string{a}, now))
	before := must[segmentd.Contact](t, "Contact")(st.Contact(ctx(t), acct, a))
	d := segmentd.CCDetails{JobTitle: "Engineer", UpdateSource: "Account"}
	good := segmentd.ContactPut{ID: a, Email: "ada@example.com", Patch: segmentd.ContactPatch{FirstName: str("Augusta"), ExternalID: str("crm-1")},
		Lists: []string{l2.ID}, Tags: []string{t2.ID}, CC: d}
	later := now.Add(time.Hour)

	// Each bad part refuses the whole write.
	unchanged := func(what string) {
		t.Helper()
		if got := must[segmentd.Contact](t, "Contact")(st.Contact(ctx(t), acct, a)); !reflect.DeepEqual(got, before) {
			t.Fatalf("%s changed the contact:\n%+v\nwant %+v", what, got, before)
		}
		if _, ok := byEmail(t, st, acct, "ada@example.com"); ok {
			t.Fatalf("%s left the new address", what)
		}
	}
	m0 := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t)))
	for _, tt := range []struct {
		what string
		edit func(p *segmentd.ContactPut)
		kind segmentd.ErrorKind
	}{
		{"an unknown tag", func(p *segmentd.ContactPut) { p.Tags = []string{t2.ID, "00000000-0000-4000-8000-000000000000"} }, segmentd.KindNotFound},
		{"an unknown list", func(p *segmentd.ContactPut) { p.Lists = []string{"00000000-0000-4000-8000-000000000000"} }, segmentd.KindNotFound},
		{"another contact's email", func(p *segmentd.ContactPut) { p.Email = "b@example.com" }, segmentd.KindConflict},
		{"another contact's external_id", func(p *segmentd.ContactPut) { p.Patch.ExternalID = str("crm-2") }, segmentd.KindConflict},
		{"an unknown contact", func(p *segmentd.ContactPut) { p.ID = "00000000-0000-4000-8000-000000000000" }, segmentd.KindNotFound},
		{"a live contact revived", func(p *segmentd.ContactPut) { p.Revive = true }, segmentd.KindConflict},
	} {
		p := good
		tt.edit(&p)
		_, err := st.PutContact(ctx(t), acct, p, later)
		wantKind(t, "PutContact with "+tt.what, err, tt.kind)
		unchanged("PutContact with " + tt.what)
	}
	_, err := st.PutContact(ctx(t), other, good, later)
	wantKind(t, "PutContact(another account's contact)", err, segmentd.KindNotFound)
	if ch := changes(t, st, acct, m0.Seq(acct)); len(ch.Changed) != 0 || len(ch.Deleted) != 0 {
		t.Fatalf("refused writes are in the history: %+v", ch)
	}

	// The whole write, as one change.
	got := must[segmentd.Contact](t, "PutContact")(st.PutContact(ctx(t), acct, good, later))
	if got.ID != a || got.Email != "ada@example.com" || got.FirstName != "Augusta" || got.ExternalID != "crm-1" || !reflect.DeepEqual(got.ListIDs, []string{l2.ID}) ||
		!reflect.DeepEqual(got.TagIDs, []string{t2.ID}) || !reflect.DeepEqual(got.CC, d) || !got.UpdatedAt.Equal(later.Truncate(time.Millisecond)) || !got.CreatedAt.Equal(nowMS) {
		t.Fatalf("PutContact = %+v", got)
	}
	if again := must[segmentd.Contact](t, "Contact")(st.Contact(ctx(t), acct, a)); !reflect.DeepEqual(again, got) {
		t.Fatalf("Contact after PutContact = %+v\nwant %+v", again, got)
	}
	if _, ok := byEmail(t, st, acct, "a@example.com"); ok {
		t.Fatal("the old address still finds the contact")
	}
	if ch := changes(t, st, acct, m0.Seq(acct)); !reflect.DeepEqual(ch.Changed, []string{a}) {
		t.Fatalf("Changes after PutContact = %+v", ch)
	}
	if n := must[int](t, "CountListMembers")(st.CountListMembers(ctx(t), acct, l1.ID)); n != 1 { // b
		t.Fatalf("L1 members = %d, want 1", n)
	}
	// Nil lists and tags keep them.
	kept := must[segmentd.Contact](t, "PutContact")(st.PutContact(ctx(t), acct, segmentd.ContactPut{ID: a, Email: "ada@example.com", CC: d}, later))
	if !reflect.DeepEqual(kept.ListIDs, []string{l2.ID}) || !reflect.DeepEqual(kept.TagIDs, []string{t2.ID}) || kept.FirstName != "Augusta" {
		t.Fatalf("PutContact without lists or tags = %+v", kept)
	}

	// ID "" creates; an address taken is a conflict.
	made := must[segmentd.Contact](t, "PutContact(create)")(st.PutContact(ctx(t), acct, segmentd.ContactPut{Email: "new@example.com", Lists: []string{l1.ID}, Tags: []string{t1.ID}, CC: d}, later))
	if !segmentd.IsUUID(made.ID) || made.Email != "new@example.com" || !reflect.DeepEqual(made.ListIDs, []string{l1.ID}) || !reflect.DeepEqual(made.TagIDs, []string{t1.ID}) || !reflect.DeepEqual(made.CC, d) {
		t.Fatalf("PutContact(create) = %+v", made)
	}
	_, err = st.PutContact(ctx(t), acct, segmentd.ContactPut{Email: "b@example.com"}, later)
	wantKind(t, "PutContact(create with a taken address)", err, segmentd.KindConflict)

	// Revive: the buried contact comes back under its id and creation time.
	must[int](t, "BuryContacts")(st.BuryContacts(ctx(t), acct, []string{a}, later))
	m1 := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t)))
	back := must[segmentd.Contact](t, "PutContact(revive)")(st.PutContact(ctx(t), acct, segmentd.ContactPut{ID: a, Revive: true, Email: "ada@example.com",
		Patch: segmentd.ContactPatch{LastName: str("King")}, Lists: []string{l1.ID}}, later.Add(time.Hour)))
	if back.ID != a || back.LastName != "King" || back.FirstName != "" || !back.CreatedAt.Equal(nowMS) || !reflect.DeepEqual(back.ListIDs, []string{l1.ID}) || len(back.TagIDs) != 0 {
		t.Fatalf("PutContact(revive) = %+v", back)
	}
	_, err = st.DeletedContact(ctx(t), acct, a)
	wantKind(t, "DeletedContact(revived)", err, segmentd.KindNotFound)
	if ch := changes(t, st, acct, m1.Seq(acct)); !reflect.DeepEqual(ch.Changed, []string{a}) {
		t.Fatalf("Changes after a revival = %+v", ch)
	}
	_, err = st.PutContact(ctx(t), acct, segmentd.ContactPut{ID: "00000000-0000-4000-8000-000000000000", Revive: true, Email: "x@example.com"}, later)
	wantKind(t, "PutContact(revive a contact never buried)", err, segmentd.KindNotFound)
}
