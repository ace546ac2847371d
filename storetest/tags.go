package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// testTags: Constant Contact's tags are created with a new id, their
// source and times, read back, renamed and deleted; names are unique
// ignoring case; max bounds an account's tags; pages follow ids; an id of
// another account is not found; a refused write changes nothing.
func testTags(t *testing.T, st segmentd.Store) {
	acct, other := newAccount(t, st, "a"), newAccount(t, st, "b")
	gold := must[segmentd.Tag](t, "CreateTag")(st.CreateTag(ctx(t), acct, "Gold card", "ESTY", 3, now))
	if !segmentd.IsUUID(gold.ID) || gold.Name != "Gold card" || gold.Source != "ESTY" || !gold.CreatedAt.Equal(nowMS) || !gold.UpdatedAt.Equal(nowMS) {
		t.Fatalf("CreateTag = %+v", gold)
	}
	if got := must[segmentd.Tag](t, "Tag")(st.Tag(ctx(t), acct, gold.ID)); !reflect.DeepEqual(got, gold) {
		t.Fatalf("Tag = %+v, want %+v", got, gold)
	}
	silver := must[segmentd.Tag](t, "CreateTag")(st.CreateTag(ctx(t), acct, "Silver", "", 3, now))
	if silver.Source != "" {
		t.Fatalf("a tag without a source: %+v", silver)
	}
	_, err := st.CreateTag(ctx(t), acct, "GOLD CARD", "", 3, now)
	wantKind(t, "CreateTag(duplicate name)", err, segmentd.KindConflict)
	// Another account may use the name; its tags are its own.
	theirs := must[segmentd.Tag](t, "CreateTag(other)")(st.CreateTag(ctx(t), other, "gold card", "", 3, now))
	_, err = st.Tag(ctx(t), acct, theirs.ID)
	wantKind(t, "Tag(another account's)", err, segmentd.KindNotFound)
	_, err = st.DeleteTag(ctx(t), acct, theirs.ID)
	wantKind(t, "DeleteTag(another account's)", err, segmentd.KindNotFound)
	_, err = st.RenameTag(ctx(t), acct, theirs.ID, "x", now)
	wantKind(t, "RenameTag(another account's)", err, segmentd.KindNotFound)

	must[segmentd.Tag](t, "CreateTag")(st.CreateTag(ctx(t), acct, "Bronze", "", 3, now))
	_, err = st.CreateTag(ctx(t), acct, "Platinum", "", 3, now)
	wantKind(t, "CreateTag(beyond max)", err, segmentd.KindInvalid)
	if n := must[int](t, "CountTags")(st.CountTags(ctx(t), acct)); n != 3 {
		t.Fatalf("CountTags = %d, want 3", n)
	}

	// Pages in id order, each starting after the last id shown.
	all := must[[]segmentd.Tag](t, "Tags")(st.Tags(ctx(t), acct, "", 10))
	if len(all) != 3 || !(all[0].ID < all[1].ID && all[1].ID < all[2].ID) {
		t.Fatalf("Tags = %+v", all)
	}
	page := must[[]segmentd.Tag](t, "Tags(after)")(st.Tags(ctx(t), acct, all[0].ID, 1))
	if len(page) != 1 || page[0].ID != all[1].ID {
		t.Fatalf("Tags(after %s, 1) = %+v", all[0].ID, page)
	}

	later := now.Add(time.Minute)
	renamed := must[segmentd.Tag](t, "RenameTag")(st.RenameTag(ctx(t), acct, gold.ID, "gold CARD", later))
	if renamed.Name != "gold CARD" || !renamed.UpdatedAt.Equal(later.Truncate(time.Millisecond)) || !renamed.CreatedAt.Equal(nowMS) || renamed.Source != "ESTY" {
		t.Fatalf("RenameTag (its own name in another case) = %+v", renamed)
	}
	_, err = st.RenameTag(ctx(t), acct, gold.ID, "silver", later)
	wantKind(t, "RenameTag(another tag's name)", err, segmentd.KindConflict)
	if got := must[segmentd.Tag](t, "Tag")(st.Tag(ctx(t), acct, gold.ID)); got.Name != "gold CARD" {
		t.Fatalf("a refused rename changed the tag: %+v", got)
	}

	if tagged := must[[]string](t, "DeleteTag")(st.DeleteTag(ctx(t), acct, silver.ID)); len(tagged) != 0 {
		t.Fatalf("DeleteTag of a tag on no contact = %v", tagged)
	}
	_, err = st.Tag(ctx(t), acct, silver.ID)
	wantKind(t, "Tag(deleted)", err, segmentd.KindNotFound)
	_, err = st.DeleteTag(ctx(t), acct, silver.ID)
	wantKind(t, "DeleteTag(deleted)", err, segmentd.KindNotFound)
	// Its name is free again, and the count is back under max.
	must[segmentd.Tag](t, "CreateTag(the deleted tag's name)")(st.CreateTag(ctx(t), acct, "Silver", "", 3, now))
	if n := must[int](t, "CountTags(other)")(st.CountTags(ctx(t), other)); n != 1 {
		t.Fatalf("CountTags(other) = %d, want 1", n)
	}
}

// testTaggings: contacts are tagged and untagged in sets; every read of a
// contact carries its sorted TagIDs; a tagging write is a change of the
// contacts it changed (and of no other), without touching UpdatedAt; an
// upsert keeps the tags; an unknown tag changes nothing; deleting a tag
// or a contact removes its taggings; accounts are apart.
func testTaggings(t *testing.T, st segmentd.Store) {
	acct, other := newAccount(t, st, "a"), newAccount(t, st, "b")
	gold := must[segmentd.Tag](t, "CreateTag")(st.CreateTag(ctx(t), acct, "gold", "", 10, now))
	blue := must[segmentd.Tag](t, "CreateTag")(st.CreateTag(ctx(t), acct, "blue", "", 10, now))
	theirs := must[segmentd.Tag](t, "CreateTag")(st.CreateTag(ctx(t), other, "gold", "", 10, now))
	res := upsert(t, st, acct, nil,
		segmentd.ContactPatch{Email: str("a@example.com")},
		segmentd.ContactPatch{Email: str("b@example.com")},
		segmentd.ContactPatch{Email: str("c@example.com")})
	a, b, c := res.Contacts[0].ID, res.Contacts[1].ID, res.Contacts[2].ID
	mine := upsert(t, st, other, nil, segmentd.ContactPatch{Email: str("z@example.com")}).Contacts[0].ID

	m0 := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t)))
	later := now.Add(time.Hour)
	got := must[[]string](t, "TagContacts")(st.TagContacts(ctx(t), acct, []string{gold.ID, blue.ID}, []string{b, a, "00000000-0000-4000-8000-000000000000"}, later))
	if want := sorted(a, b); !reflect.DeepEqual(got, want) {
		t.Fatalf("TagContacts changed %v, want %v (an unknown contact skipped)", got, want)
	}
	if ch := changes(t, st, acct, m0.Seq(acct)); !reflect.DeepEqual(ch.Changed, sorted(a, b)) {
		t.Fatalf("Changes after tagging = %+v, want a and b changed", ch)
	}
	ca := must[segmentd.Contact](t, "Contact")(st.Contact(ctx(t), acct, a))
	if want := sorted(gold.ID, blue.ID); !reflect.DeepEqual(ca.TagIDs, want) || !ca.UpdatedAt.Equal(nowMS) {
		t.Fatalf("tagged contact = TagIDs %v, updated %v; want %v, %v", ca.TagIDs, ca.UpdatedAt, want, nowMS)
	}
	// Tagging again changes nothing, and reports no contact.
	if got := must[[]string](t, "TagContacts(again)")(st.TagContacts(ctx(t), acct, []string{gold.ID}, []string{a}, later)); len(got) != 0 {
		t.Fatalf("TagContacts of a tag the contact has = %v, want none", got)
	}
	// Every read carries the tags.
	for _, read := range []struct {
		what string
		fn   func() []segmentd.Contact
	}{
		{"ContactsByIDs", func() []segmentd.Contact {
			return must[[]segmentd.Contact](t, "ContactsByIDs")(st.ContactsByIDs(ctx(t), acct, []string{a}))
		}},
		{"ContactsByEmails", func() []segmentd.Contact {
			m := must[map[string]segmentd.Contact](t, "ContactsByEmails")(st.ContactsByEmails(ctx(t), acct, []string{"a@example.com"}))
			return []segmentd.Contact{m["a@example.com"]}
		}},
		{"ScanContacts", func() []segmentd.Contact {
			return must[[]segmentd.Contact](t, "ScanContacts")(st.ScanContacts(ctx(t), acct, "", 10))
		}},
		{"SampleContacts", func() []segmentd.Contact {
			return must[[]segmentd.Contact](t, "SampleContacts")(st.SampleContacts(ctx(t), acct, 10))
		}},
		{"ReadAccount", func() []segmentd.Contact {
			var all []segmentd.Contact
			_, _, err := st.ReadAccount(ctx(t), acct, func(cs []segmentd.Contact) error { all = append(all, cs...); return nil }, nil)
			noErr(t, "ReadAccount", err)
			return all
		}},
	} {
		found := false
		for _, c := range read.fn() {
			if c.ID == a {
				found = true
				if !reflect.DeepEqual(c.TagIDs, ca.TagIDs) {
					t.Fatalf("%s: TagIDs %v, want %v", read.what, c.TagIDs, ca.TagIDs)
				}
			}
		}
		if !found {
			t.Fatalf("%s did not return the contact", read.what)
		}
	}
	// An upsert writes fields and keeps the tags.
	res = upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("a@example.com"), FirstName: str("Ada")})
	if len(res.Contacts) != 1 || !reflect.DeepEqual(res.Contacts[0].TagIDs, ca.TagIDs) {
		t.Fatalf("upsert result = %+v, want the contact with its tags %v", res.Contacts, ca.TagIDs)
	}
	if got := must[segmentd.Contact](t, "Contact")(st.Contact(ctx(t), acct, a)); !reflect.DeepEqual(got.TagIDs, ca.TagIDs) {
		t.Fatalf("after an upsert TagIDs = %v, want %v", got.TagIDs, ca.TagIDs)
	}
	if n := must[int](t, "CountTagMembers")(st.CountTagMembers(ctx(t), acct, gold.ID)); n != 2 {
		t.Fatalf("CountTagMembers(gold) = %d, want 2", n)
	}

	// An unknown tag (another account's) is not found and changes nothing.
	_, err := st.TagContacts(ctx(t), acct, []string{gold.ID, theirs.ID}, []string{c}, later)
	wantKind(t, "TagContacts(another account's tag)", err, segmentd.KindNotFound)
	_, err = st.UntagContacts(ctx(t), acct, []string{theirs.ID, gold.ID}, []string{a})
	wantKind(t, "UntagContacts(another account's tag)", err, segmentd.KindNotFound)
	if got := must[segmentd.Contact](t, "Contact")(st.Contact(ctx(t), acct, c)); len(got.TagIDs) != 0 {
		t.Fatalf("a refused tagging tagged the contact: %v", got.TagIDs)
	}
	if n := must[int](t, "CountTagMembers")(st.CountTagMembers(ctx(t), acct, gold.ID)); n != 2 {
		t.Fatalf("a refused untagging changed the count: %d, want 2", n)
	}
	// Another account's contact is skipped.
	if got := must[[]string](t, "TagContacts(another account's contact)")(st.TagContacts(ctx(t), acct, []string{gold.ID}, []string{mine}, later)); len(got) != 0 {
		t.Fatalf("TagContacts tagged another account's contact: %v", got)
	}

	m1 := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t)))
	got = must[[]string](t, "UntagContacts")(st.UntagContacts(ctx(t), acct, []string{blue.ID}, []string{a, c}))
	if !reflect.DeepEqual(got, []string{a}) {
		t.Fatalf("UntagContacts changed %v, want [a]", got)
	}
	if ch := changes(t, st, acct, m1.Seq(acct)); !reflect.DeepEqual(ch.Changed, []string{a}) {
		t.Fatalf("Changes after untagging = %+v, want a changed", ch)
	}
	if got := must[segmentd.Contact](t, "Contact")(st.Contact(ctx(t), acct, a)); !reflect.DeepEqual(got.TagIDs, []string{gold.ID}) {
		t.Fatalf("after untagging TagIDs = %v, want [gold]", got.TagIDs)
	}

	// Deleting a contact removes its taggings; deleting a tag removes its
	// own and reports the contacts it was on as changes.
	if n := must[int](t, "DeleteContacts")(st.DeleteContacts(ctx(t), acct, []string{b})); n != 1 {
		t.Fatalf("DeleteContacts = %d", n)
	}
	if n := must[int](t, "CountTagMembers")(st.CountTagMembers(ctx(t), acct, gold.ID)); n != 1 {
		t.Fatalf("CountTagMembers(gold) after deleting a tagged contact = %d, want 1", n)
	}
	m2 := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t)))
	if got := must[[]string](t, "DeleteTag")(st.DeleteTag(ctx(t), acct, gold.ID)); !reflect.DeepEqual(got, []string{a}) {
		t.Fatalf("DeleteTag = %v, want [a]", got)
	}
	if ch := changes(t, st, acct, m2.Seq(acct)); !reflect.DeepEqual(ch.Changed, []string{a}) {
		t.Fatalf("Changes after a tag delete = %+v, want a changed", ch)
	}
	if got := must[segmentd.Contact](t, "Contact")(st.Contact(ctx(t), acct, a)); len(got.TagIDs) != 0 {
		t.Fatalf("after the tag's delete TagIDs = %v", got.TagIDs)
	}
	if n := must[int](t, "CountTagMembers")(st.CountTagMembers(ctx(t), acct, gold.ID)); n != 0 {
		t.Fatalf("CountTagMembers(deleted tag) = %d", n)
	}
	// A tag of the same name later starts on nobody.
	again := must[segmentd.Tag](t, "CreateTag")(st.CreateTag(ctx(t), acct, "gold", "", 10, now))
	if n := must[int](t, "CountTagMembers")(st.CountTagMembers(ctx(t), acct, again.ID)); n != 0 {
		t.Fatalf("CountTagMembers(new tag) = %d", n)
	}
}

func sorted(s ...string) []string {
	slices.Sort(s)
	return s
}

// testCCDetails: a contact's Constant Contact-only attributes are written
// whole, read back by every read, kept by upserts; a write that changes
// them moves UpdatedAt and is a change of the contact in the history, one
// that changes nothing is neither; zero details remove them; deleting the
// contact deletes them; an unknown contact is not found.
func testCCDetails(t *testing.T, st segmentd.Store) {
	acct, other := newAccount(t, st, "a"), newAccount(t, st, "b")
	res := upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("a@example.com")}, segmentd.ContactPatch{Email: str("b@example.com")})
	a := res.Contacts[0].ID
	d := segmentd.CCDetails{
		JobTitle: "Engineer", CompanyName: "Analytical Engines", BirthdayMonth: 12, BirthdayDay: 10, Anniversary: "2020-06-01",
		Permission: "explicit", OptInSource: "Contact", OptInDate: nowMS, CreateSource: "Contact", UpdateSource: "Account",
		PhoneKind: "mobile", AddressKind: "work",
		Phones:    []segmentd.CCPhone{{Number: "+1 555 0101", Kind: "home"}},
		Addresses: []segmentd.CCAddress{{Kind: "other", City: "London"}},
		Notes:     []segmentd.CCNote{{ID: "3fa85f64-5717-4562-b3fc-2c963f66afa6", CreatedAt: nowMS, Content: "met at the fair"}},
	}
	later := now.Add(time.Hour)
	m0 := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t)))
	if changed := must[bool](t, "SetCCDetails")(st.SetCCDetails(ctx(t), acct, a, d, later)); !changed {
		t.Fatal("SetCCDetails of new details reports no change")
	}
	if ch := changes(t, st, acct, m0.Seq(acct)); !reflect.DeepEqual(ch.Changed, []string{a}) {
		t.Fatalf("Changes after SetCCDetails = %+v, want a changed", ch)
	}
	got := must[segmentd.Contact](t, "Contact")(st.Contact(ctx(t), acct, a))
	if !reflect.DeepEqual(got.CC, d) || !got.UpdatedAt.Equal(later.Truncate(time.Millisecond)) {
		t.Fatalf("after SetCCDetails: CC %+v, updated %v\nwant %+v, %v", got.CC, got.UpdatedAt, d, later)
	}
	for what, cs := range map[string][]segmentd.Contact{
		"ContactsByIDs":  must[[]segmentd.Contact](t, "ContactsByIDs")(st.ContactsByIDs(ctx(t), acct, []string{a})),
		"ScanContacts":   must[[]segmentd.Contact](t, "ScanContacts")(st.ScanContacts(ctx(t), acct, "", 1)),
		"SampleContacts": must[[]segmentd.Contact](t, "SampleContacts")(st.SampleContacts(ctx(t), acct, 1)),
	} {
		if len(cs) != 1 || cs[0].ID != a || !reflect.DeepEqual(cs[0].CC, d) {
			t.Fatalf("%s = %+v, want a with its CC", what, cs)
		}
	}
	if byMail := must[map[string]segmentd.Contact](t, "ContactsByEmails")(st.ContactsByEmails(ctx(t), acct, []string{"a@example.com"})); !reflect.DeepEqual(byMail["a@example.com"].CC, d) {
		t.Fatalf("ContactsByEmails CC = %+v", byMail["a@example.com"].CC)
	}
	// The same details again: no change, no history.
	m1 := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t)))
	if changed := must[bool](t, "SetCCDetails(same)")(st.SetCCDetails(ctx(t), acct, a, d, later.Add(time.Hour))); changed {
		t.Fatal("SetCCDetails of the same details reports a change")
	}
	if ch := changes(t, st, acct, m1.Seq(acct)); len(ch.Changed) != 0 {
		t.Fatalf("Changes after an unchanged SetCCDetails = %+v", ch)
	}
	// An upsert keeps them.
	res = upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("a@example.com"), FirstName: str("Ada")})
	if got := must[segmentd.Contact](t, "Contact")(st.Contact(ctx(t), acct, a)); !reflect.DeepEqual(got.CC, d) || got.FirstName != "Ada" {
		t.Fatalf("after an upsert: %+v", got)
	}
	_, err := st.SetCCDetails(ctx(t), acct, "00000000-0000-4000-8000-000000000000", d, later)
	wantKind(t, "SetCCDetails(unknown contact)", err, segmentd.KindNotFound)
	_, err = st.SetCCDetails(ctx(t), other, a, d, later)
	wantKind(t, "SetCCDetails(another account's contact)", err, segmentd.KindNotFound)
	// Zero details remove them.
	if changed := must[bool](t, "SetCCDetails(zero)")(st.SetCCDetails(ctx(t), acct, a, segmentd.CCDetails{}, later)); !changed {
		t.Fatal("clearing the details reports no change")
	}
	if got := must[segmentd.Contact](t, "Contact")(st.Contact(ctx(t), acct, a)); !got.CC.IsZero() {
		t.Fatalf("after clearing: %+v", got.CC)
	}
	// Deleting the contact deletes them: the address's next contact has none.
	must[bool](t, "SetCCDetails")(st.SetCCDetails(ctx(t), acct, a, d, later))
	must[int](t, "DeleteContacts")(st.DeleteContacts(ctx(t), acct, []string{a}))
	again := upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("a@example.com")}).Contacts[0]
	if got := must[segmentd.Contact](t, "Contact")(st.Contact(ctx(t), acct, again.ID)); !got.CC.IsZero() {
		t.Fatalf("a new contact of a deleted one's address has its details: %+v", got.CC)
	}
}

// testChangeEmail: a contact's email changes, the old address is free and
// finds nobody, UpdatedAt moves and the history reports the contact;
// another contact's address is a conflict that changes nothing; an
// unknown contact is not found.
func testChangeEmail(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "a")
	res := upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("a@example.com")}, segmentd.ContactPatch{Email: str("b@example.com")})
	a := res.Contacts[0].ID
	later := now.Add(time.Hour)
	m0 := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t)))
	noErr(t, "ChangeEmail", st.ChangeEmail(ctx(t), acct, a, "ada@example.com", later))
	if ch := changes(t, st, acct, m0.Seq(acct)); !reflect.DeepEqual(ch.Changed, []string{a}) {
		t.Fatalf("Changes after ChangeEmail = %+v", ch)
	}
	if got := must[segmentd.Contact](t, "Contact")(st.Contact(ctx(t), acct, a)); got.Email != "ada@example.com" || !got.UpdatedAt.Equal(later.Truncate(time.Millisecond)) {
		t.Fatalf("after ChangeEmail: %+v", got)
	}
	if _, ok := byEmail(t, st, acct, "a@example.com"); ok {
		t.Fatal("the old address still finds the contact")
	}
	if c, ok := byEmail(t, st, acct, "ada@example.com"); !ok || c.ID != a {
		t.Fatalf("the new address finds %+v", c)
	}
	wantKind(t, "ChangeEmail(another contact's)", st.ChangeEmail(ctx(t), acct, a, "b@example.com", later), segmentd.KindConflict)
	if got := must[segmentd.Contact](t, "Contact")(st.Contact(ctx(t), acct, a)); got.Email != "ada@example.com" {
		t.Fatalf("a refused ChangeEmail changed the contact: %+v", got)
	}
	noErr(t, "ChangeEmail(its own)", st.ChangeEmail(ctx(t), acct, a, "ada@example.com", later))
	wantKind(t, "ChangeEmail(unknown)", st.ChangeEmail(ctx(t), acct, "00000000-0000-4000-8000-000000000000", "x@example.com", later), segmentd.KindNotFound)
	// The freed address makes a new contact.
	if r := upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("a@example.com")}); r.Created != 1 {
		t.Fatalf("upsert of the freed address = %+v", r)
	}
}
