// Package storetest is the contract suite every segmentd.Store must pass.
// A store package calls Run from its own tests with a function that opens a
// fresh, empty store:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) segmentd.Store { … })
//	}
//
// The suite speaks only the segmentd.Store interface, so the SQLite and the
// PostgreSQL stores are held to the same behaviour. It imports the standard
// library and the domain package only.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// Run runs every contract test as a subtest. open must return a new, empty
// store; the suite closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) segmentd.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st segmentd.Store)
	}{
		{"Accounts", testAccounts},
		{"APIKeys", testAPIKeys},
		{"Fields", testFields},
		{"FieldDeleteStripsValues", testFieldDeleteStripsValues},
		{"Lists", testLists},
		{"ListPaging", testListPaging},
		{"ListDetails", testListDetails},
		{"ListMembers", testListMembers},
		{"Tags", testTags},
		{"Taggings", testTaggings},
		{"CCDetails", testCCDetails},
		{"ChangeEmail", testChangeEmail},
		{"BuryContacts", testBuryContacts},
		{"PutContact", testPutContact},
		{"UpsertCreateAndRead", testUpsertCreateAndRead},
		{"UpsertMatching", testUpsertMatching},
		{"UpsertSameIdentifierTwice", testUpsertSameIdentifierTwice},
		{"UpsertUnknownList", testUpsertUnknownList},
		{"UpsertAlternateEmails", testUpsertAlternateEmails},
		{"ContactReads", testContactReads},
		{"ReadsWithoutLists", testReadsWithoutLists},
		{"ScanContacts", testScanContacts},
		{"UpsertResultContacts", testUpsertResultContacts},
		{"UpsertManyChanged", testUpsertManyChanged},
		{"DeleteContacts", testDeleteContacts},
		{"DeleteIdentifier", testDeleteIdentifier},
		{"Jobs", testJobs},
		{"JobsListed", testJobsListed},
		{"AccountIsolation", testAccountIsolation},
		{"FailedCallsChangeNothing", testFailedCallsChangeNothing},
		{"ConcurrentUpserts", testConcurrentUpserts},
		{"ChangeHistory", testChangeHistory},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := open(t)
			t.Cleanup(func() {
				if err := st.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, st)
		})
	}
}

// now has sub-millisecond digits: stores keep milliseconds, so every time
// read back must be now truncated to the millisecond, in UTC.
var now = time.Date(2026, 3, 4, 5, 6, 7, 891234567, time.UTC)

var nowMS = now.Truncate(time.Millisecond)

func ctx(t *testing.T) context.Context { return t.Context() }

func str(s string) *string { return &s }

func strs(s ...string) *[]string { return &s }

func newAccount(t *testing.T, st segmentd.Store, name string) int64 {
	t.Helper()
	a, err := st.CreateAccount(ctx(t), name, 0, now)
	if err != nil {
		t.Fatalf("CreateAccount(%q): %v", name, err)
	}
	return a.ID
}

// wantKind fails unless err is a *segmentd.Error of kind k.
func wantKind(t *testing.T, what string, err error, k segmentd.ErrorKind) {
	t.Helper()
	var e *segmentd.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: error %v (%T), want a *segmentd.Error of kind %v", what, err, err, k)
	}
	if e.Kind != k {
		t.Fatalf("%s: error kind %v (%v), want %v", what, e.Kind, e, k)
	}
}

func must[T any](t *testing.T, what string) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return v
	}
}

func noErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func upsert(t *testing.T, st segmentd.Store, acct int64, listIDs []string, ps ...segmentd.ContactPatch) segmentd.UpsertResult {
	t.Helper()
	res, err := st.UpsertContacts(ctx(t), acct, ps, listIDs, now)
	if err != nil {
		t.Fatalf("UpsertContacts: %v", err)
	}
	return res
}

func byEmail(t *testing.T, st segmentd.Store, acct int64, email string) (segmentd.Contact, bool) {
	t.Helper()
	m, err := st.ContactsByEmails(ctx(t), acct, []string{email})
	if err != nil {
		t.Fatalf("ContactsByEmails: %v", err)
	}
	c, ok := m[email]
	return c, ok
}

func mustEmail(t *testing.T, st segmentd.Store, acct int64, email string) segmentd.Contact {
	t.Helper()
	c, ok := byEmail(t, st, acct, email)
	if !ok {
		t.Fatalf("no contact with email %q", email)
	}
	return c
}

// snapshot is everything an account has, for "nothing changed" checks.
type snapshot struct {
	Fields   []segmentd.FieldDefinition
	Lists    []segmentd.List
	Contacts []segmentd.Contact
}

func snap(t *testing.T, st segmentd.Store, acct int64) snapshot {
	t.Helper()
	var s snapshot
	var err error
	if s.Fields, err = st.FieldDefinitions(ctx(t), acct); err != nil {
		t.Fatal(err)
	}
	if s.Lists, err = st.Lists(ctx(t), acct, "", 1000); err != nil {
		t.Fatal(err)
	}
	if s.Contacts, err = st.SampleContacts(ctx(t), acct, 100000); err != nil {
		t.Fatal(err)
	}
	sort.Slice(s.Contacts, func(i, j int) bool { return s.Contacts[i].ID < s.Contacts[j].ID })
	return s
}

func sameSnapshot(t *testing.T, what string, before, after snapshot) {
	t.Helper()
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("%s changed the store:\nbefore %+v\nafter  %+v", what, before, after)
	}
}

func testAccounts(t *testing.T, st segmentd.Store) {
	a, err := st.CreateAccount(ctx(t), "acme", 0, now)
	noErr(t, "CreateAccount", err)
	if a.ID == 0 || a.Name != "acme" || a.ParentID != 0 || !a.CreatedAt.Equal(nowMS) || a.CreatedAt.Location() != time.UTC {
		t.Fatalf("CreateAccount = %+v", a)
	}
	sub, err := st.CreateAccount(ctx(t), "acme-sub", a.ID, now)
	noErr(t, "CreateAccount(sub)", err)
	if sub.ParentID != a.ID || sub.ID == a.ID {
		t.Fatalf("subuser = %+v", sub)
	}
	_, err = st.CreateAccount(ctx(t), "acme", 0, now)
	wantKind(t, "CreateAccount(duplicate)", err, segmentd.KindConflict)
	_, err = st.CreateAccount(ctx(t), "orphan", 99999, now)
	wantKind(t, "CreateAccount(unknown parent)", err, segmentd.KindNotFound)

	got := must[segmentd.Account](t, "Account")(st.Account(ctx(t), a.ID))
	if got != a {
		t.Fatalf("Account = %+v, want %+v", got, a)
	}
	got = must[segmentd.Account](t, "AccountByName")(st.AccountByName(ctx(t), "acme-sub"))
	if got != sub {
		t.Fatalf("AccountByName = %+v, want %+v", got, sub)
	}
	_, err = st.Account(ctx(t), 424242)
	wantKind(t, "Account(unknown)", err, segmentd.KindNotFound)
	_, err = st.AccountByName(ctx(t), "nobody")
	wantKind(t, "AccountByName(unknown)", err, segmentd.KindNotFound)
	// The store never creates the default account itself: the service does.
	_, err = st.AccountByName(ctx(t), segmentd.DefaultAccountName)
	wantKind(t, "AccountByName(default)", err, segmentd.KindNotFound)

	all := must[[]segmentd.Account](t, "Accounts")(st.Accounts(ctx(t)))
	if want := []segmentd.Account{a, sub}; !reflect.DeepEqual(all, want) {
		t.Fatalf("Accounts = %+v, want %+v", all, want)
	}
}

func testAPIKeys(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	if n := must[int](t, "CountAPIKeys")(st.CountAPIKeys(ctx(t))); n != 0 {
		t.Fatalf("CountAPIKeys = %d, want 0", n)
	}
	k := segmentd.APIKey{AccountID: acct, Name: "ci", Hash: segmentd.HashAPIKey("SG.a.b"),
		Scopes: []segmentd.Scope{segmentd.ScopeSendGridRead, segmentd.ScopeEventsWrite}, CreatedAt: now}
	got, err := st.CreateAPIKey(ctx(t), k)
	noErr(t, "CreateAPIKey", err)
	if got.ID == 0 || got.Hash != k.Hash || !got.CreatedAt.Equal(nowMS) {
		t.Fatalf("CreateAPIKey = %+v", got)
	}
	read := must[segmentd.APIKey](t, "APIKeyByHash")(st.APIKeyByHash(ctx(t), k.Hash))
	if !reflect.DeepEqual(read, got) {
		t.Fatalf("APIKeyByHash = %+v, want %+v", read, got)
	}
	if !read.Has(segmentd.ScopeEventsWrite) || read.Has(segmentd.ScopeSendGridWrite) {
		t.Fatalf("scopes = %v", read.Scopes)
	}
	_, err = st.APIKeyByHash(ctx(t), segmentd.HashAPIKey("SG.unknown"))
	wantKind(t, "APIKeyByHash(unknown)", err, segmentd.KindNotFound)
	if r, ok := st.(segmentd.APIKeyAccountReader); ok {
		key, a, err := r.APIKeyWithAccount(ctx(t), k.Hash)
		want := must[segmentd.Account](t, "Account")(st.Account(ctx(t), acct))
		if err != nil || !reflect.DeepEqual(key, got) || !reflect.DeepEqual(a, want) {
			t.Fatalf("APIKeyWithAccount = %+v, %+v, %v; want %+v, %+v", key, a, err, got, want)
		}
		_, _, err = r.APIKeyWithAccount(ctx(t), segmentd.HashAPIKey("SG.unknown"))
		wantKind(t, "APIKeyWithAccount(unknown)", err, segmentd.KindNotFound)
	}
	_, err = st.CreateAPIKey(ctx(t), k)
	wantKind(t, "CreateAPIKey(same hash)", err, segmentd.KindConflict)
	k2 := k
	k2.AccountID, k2.Hash = 99999, segmentd.HashAPIKey("SG.c.d")
	_, err = st.CreateAPIKey(ctx(t), k2)
	wantKind(t, "CreateAPIKey(unknown account)", err, segmentd.KindNotFound)
	k3 := k
	k3.Hash, k3.Scopes = segmentd.HashAPIKey("SG.e.f"), nil
	noErr(t, "CreateAPIKey(no scopes)", errOnly(st.CreateAPIKey(ctx(t), k3)))
	if n := must[int](t, "CountAPIKeys")(st.CountAPIKeys(ctx(t))); n != 2 {
		t.Fatalf("CountAPIKeys = %d, want 2", n)
	}
}

func errOnly[T any](_ T, err error) error { return err }

func testFields(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	c := ctx(t)
	if fs := must[[]segmentd.FieldDefinition](t, "FieldDefinitions")(st.FieldDefinitions(c, acct)); len(fs) != 0 {
		t.Fatalf("new account has fields %+v", fs)
	}
	w := must[segmentd.FieldDefinition](t, "create Text")(st.CreateFieldDefinition(c, acct, "Nickname", segmentd.FieldText, 3, now))
	n := must[segmentd.FieldDefinition](t, "create Number")(st.CreateFieldDefinition(c, acct, "score", segmentd.FieldNumber, 3, now))
	d := must[segmentd.FieldDefinition](t, "create Date")(st.CreateFieldDefinition(c, acct, "birthday", segmentd.FieldDate, 3, now))
	for _, tc := range []struct {
		f      segmentd.FieldDefinition
		prefix string
		name   string
		typ    segmentd.FieldType
	}{{w, "w", "Nickname", segmentd.FieldText}, {n, "n", "score", segmentd.FieldNumber}, {d, "d", "birthday", segmentd.FieldDate}} {
		if !strings.HasPrefix(tc.f.ID, tc.prefix) || tc.f.Name != tc.name || tc.f.Type != tc.typ || !tc.f.CreatedAt.Equal(nowMS) || tc.f.Reserved || tc.f.ReadOnly {
			t.Errorf("created %+v, want id %s…, name %s, type %s", tc.f, tc.prefix, tc.name, tc.typ)
		}
	}
	if len(map[string]bool{w.ID[1:]: true, n.ID[1:]: true, d.ID[1:]: true}) != 3 {
		t.Errorf("ids %s %s %s share a number", w.ID, n.ID, d.ID)
	}
	_, err := st.CreateFieldDefinition(c, acct, "other", segmentd.FieldText, 3, now)
	wantKind(t, "create beyond max", err, segmentd.KindInvalid)
	_, err = st.CreateFieldDefinition(c, acct, "NICKNAME", segmentd.FieldText, 10, now)
	wantKind(t, "create duplicate name", err, segmentd.KindConflict)

	got := must[[]segmentd.FieldDefinition](t, "FieldDefinitions")(st.FieldDefinitions(c, acct))
	if want := []segmentd.FieldDefinition{w, n, d}; !reflect.DeepEqual(got, want) {
		t.Fatalf("FieldDefinitions = %+v, want %+v", got, want)
	}

	r := must[segmentd.FieldDefinition](t, "rename")(st.RenameFieldDefinition(c, acct, w.ID, "nick"))
	if r.ID != w.ID || r.Name != "nick" || r.Type != segmentd.FieldText {
		t.Fatalf("renamed = %+v", r)
	}
	noErr(t, "rename to own name in other case", errOnly(st.RenameFieldDefinition(c, acct, w.ID, "NICK")))
	_, err = st.RenameFieldDefinition(c, acct, w.ID, "Score")
	wantKind(t, "rename onto another name", err, segmentd.KindConflict)
	_, err = st.RenameFieldDefinition(c, acct, "w999", "x")
	wantKind(t, "rename unknown", err, segmentd.KindNotFound)
	got = must[[]segmentd.FieldDefinition](t, "FieldDefinitions")(st.FieldDefinitions(c, acct))
	if got[0].Name != "NICK" {
		t.Fatalf("after renames: %+v", got)
	}

	noErr(t, "delete", st.DeleteFieldDefinition(c, acct, n.ID))
	wantKind(t, "delete again", st.DeleteFieldDefinition(c, acct, n.ID), segmentd.KindNotFound)
	wantKind(t, "delete reserved id", st.DeleteFieldDefinition(c, acct, "_rf0_T"), segmentd.KindNotFound)
	// The name is free again; the id is not reused.
	n2 := must[segmentd.FieldDefinition](t, "recreate")(st.CreateFieldDefinition(c, acct, "score", segmentd.FieldNumber, 3, now))
	if n2.ID == n.ID || n2.ID == w.ID || n2.ID == d.ID {
		t.Fatalf("recreated field reuses id %s", n2.ID)
	}
	noErr(t, "delete last", st.DeleteFieldDefinition(c, acct, n2.ID))
	n3 := must[segmentd.FieldDefinition](t, "recreate after deleting the newest")(st.CreateFieldDefinition(c, acct, "score", segmentd.FieldNumber, 3, now))
	if n3.ID == n2.ID || n3.ID == n.ID {
		t.Fatalf("field id %s reused", n3.ID)
	}
	got = must[[]segmentd.FieldDefinition](t, "FieldDefinitions")(st.FieldDefinitions(c, acct))
	if ids := fieldIDs(got); !slices.Equal(ids, []string{w.ID, d.ID, n3.ID}) {
		t.Fatalf("FieldDefinitions ids = %v, want creation order %v", ids, []string{w.ID, d.ID, n3.ID})
	}
}

func fieldIDs(fs []segmentd.FieldDefinition) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID)
	}
	return out
}

func testFieldDeleteStripsValues(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	c := ctx(t)
	keep := must[segmentd.FieldDefinition](t, "create")(st.CreateFieldDefinition(c, acct, "keep", segmentd.FieldText, 10, now))
	drop := must[segmentd.FieldDefinition](t, "create")(st.CreateFieldDefinition(c, acct, "drop", segmentd.FieldNumber, 10, now))
	var ps []segmentd.ContactPatch
	for i := range 5 {
		ps = append(ps, segmentd.ContactPatch{Email: str(fmt.Sprintf("c%d@example.com", i)), CustomFields: map[string]*segmentd.Value{
			keep.ID: {Type: segmentd.FieldText, Text: "k"},
			drop.ID: {Type: segmentd.FieldNumber, Number: float64(i)},
		}})
	}
	ps = append(ps, segmentd.ContactPatch{Email: str("none@example.com")})
	upsert(t, st, acct, nil, ps...)
	noErr(t, "DeleteFieldDefinition", st.DeleteFieldDefinition(c, acct, drop.ID))
	for i := range 5 {
		got := mustEmail(t, st, acct, fmt.Sprintf("c%d@example.com", i))
		want := map[string]segmentd.Value{keep.ID: {Type: segmentd.FieldText, Text: "k"}}
		if !reflect.DeepEqual(got.CustomFields, want) {
			t.Fatalf("custom fields after delete = %+v, want %+v", got.CustomFields, want)
		}
	}
	if got := mustEmail(t, st, acct, "none@example.com"); len(got.CustomFields) != 0 {
		t.Fatalf("contact without values has %+v", got.CustomFields)
	}
	// A field created later never sees the old values, even of the same type.
	again := must[segmentd.FieldDefinition](t, "create")(st.CreateFieldDefinition(c, acct, "drop", segmentd.FieldNumber, 10, now))
	if got := mustEmail(t, st, acct, "c1@example.com"); got.CustomFields[again.ID] != (segmentd.Value{}) {
		t.Fatalf("new field %s has a value %+v", again.ID, got.CustomFields[again.ID])
	}
}

func testLists(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	c := ctx(t)
	l, err := st.CreateList(c, acct, "Newsletter", now)
	noErr(t, "CreateList", err)
	if !segmentd.IsUUID(l.ID) || l.Name != "Newsletter" || l.ContactCount != 0 || !l.CreatedAt.Equal(nowMS) || !l.UpdatedAt.Equal(nowMS) {
		t.Fatalf("CreateList = %+v", l)
	}
	_, err = st.CreateList(c, acct, "newsletter", now)
	wantKind(t, "CreateList(duplicate ignoring case)", err, segmentd.KindConflict)
	got := must[segmentd.List](t, "List")(st.List(c, acct, l.ID))
	if got != l {
		t.Fatalf("List = %+v, want %+v", got, l)
	}
	_, err = st.List(c, acct, segmentd.NewID())
	wantKind(t, "List(unknown)", err, segmentd.KindNotFound)

	other := must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, "Other", now))
	later := now.Add(time.Hour)
	r := must[segmentd.List](t, "RenameList")(st.RenameList(c, acct, l.ID, "Weekly", later))
	if r.ID != l.ID || r.Name != "Weekly" || !r.CreatedAt.Equal(nowMS) || !r.UpdatedAt.Equal(later.Truncate(time.Millisecond)) {
		t.Fatalf("RenameList = %+v", r)
	}
	if got := must[segmentd.List](t, "List")(st.List(c, acct, l.ID)); got != r {
		t.Fatalf("List after rename = %+v, want %+v", got, r)
	}
	_, err = st.RenameList(c, acct, l.ID, "OTHER", later)
	wantKind(t, "RenameList(onto another name)", err, segmentd.KindConflict)
	noErr(t, "RenameList(own name, other case)", errOnly(st.RenameList(c, acct, l.ID, "WEEKLY", later)))
	_, err = st.RenameList(c, acct, segmentd.NewID(), "x", later)
	wantKind(t, "RenameList(unknown)", err, segmentd.KindNotFound)
	if n := must[int](t, "CountLists")(st.CountLists(c, acct)); n != 2 {
		t.Fatalf("CountLists = %d, want 2", n)
	}

	ids := must[[]string](t, "DeleteList")(st.DeleteList(c, acct, other.ID))
	if len(ids) != 0 {
		t.Fatalf("DeleteList(empty list) = %v", ids)
	}
	_, err = st.DeleteList(c, acct, other.ID)
	wantKind(t, "DeleteList(again)", err, segmentd.KindNotFound)
	_, err = st.RemoveListMembers(c, acct, other.ID, []string{segmentd.NewID()})
	wantKind(t, "RemoveListMembers(deleted)", err, segmentd.KindNotFound)
	if n := must[int](t, "CountLists")(st.CountLists(c, acct)); n != 1 {
		t.Fatalf("CountLists = %d, want 1", n)
	}
	// The name of a deleted list is free again.
	noErr(t, "CreateList(deleted name)", errOnly(st.CreateList(c, acct, "other", now)))
}

func testListPaging(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	c := ctx(t)
	var want []string
	for i := range 7 {
		l := must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, fmt.Sprintf("list %d", i), now))
		want = append(want, l.ID)
	}
	slices.Sort(want)
	var got []string
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("paging does not end")
		}
		page := must[[]segmentd.List](t, "Lists")(st.Lists(c, acct, after, 3))
		if len(page) > 3 {
			t.Fatalf("page of %d lists, limit 3", len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, l := range page {
			got = append(got, l.ID)
		}
		after = page[len(page)-1].ID
	}
	if !slices.Equal(got, want) {
		t.Fatalf("paged ids %v, want %v (ordered by id)", got, want)
	}
	if page := must[[]segmentd.List](t, "Lists")(st.Lists(c, acct, want[5], 100)); len(page) != 1 || page[0].ID != want[6] {
		t.Fatalf("Lists after %s = %+v", want[5], page)
	}
}

func testListMembers(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	c := ctx(t)
	a := must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, "a", now))
	b := must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, "b", now))
	for i := range 4 {
		// One contact per upsert, each a second later: "most recently added" is well defined.
		_, err := st.UpsertContacts(c, acct, []segmentd.ContactPatch{{Email: str(fmt.Sprintf("m%d@example.com", i))}},
			[]string{a.ID}, now.Add(time.Duration(i)*time.Second))
		noErr(t, "UpsertContacts", err)
	}
	upsert(t, st, acct, []string{b.ID}, segmentd.ContactPatch{Email: str("m0@example.com")}, segmentd.ContactPatch{Email: str("b@example.com")})

	// A store does not count a list's contacts when it reads the list
	// (the Service takes counts from the engine); CountListMembers does.
	if l := must[segmentd.List](t, "List")(st.List(c, acct, a.ID)); l.ContactCount != 0 {
		t.Fatalf("List ContactCount = %d, want 0 (left to the Service)", l.ContactCount)
	}
	counts := map[string]int{}
	for _, l := range must[[]segmentd.List](t, "Lists")(st.Lists(c, acct, "", 10)) {
		counts[l.ID] = must[int](t, "CountListMembers")(st.CountListMembers(c, acct, l.ID))
	}
	if counts[a.ID] != 4 || counts[b.ID] != 2 {
		t.Fatalf("CountListMembers = %v", counts)
	}
	if n := must[int](t, "CountListMembers")(st.CountListMembers(c, acct, segmentd.NewID())); n != 0 {
		t.Fatalf("CountListMembers(unknown list) = %d, want 0", n)
	}
	m0 := mustEmail(t, st, acct, "m0@example.com")
	if want := sortedCopy(a.ID, b.ID); !slices.Equal(m0.ListIDs, want) {
		t.Fatalf("ListIDs = %v, want %v (sorted)", m0.ListIDs, want)
	}

	m1 := mustEmail(t, st, acct, "m1@example.com")
	n, err := st.RemoveListMembers(c, acct, a.ID, []string{m0.ID, m1.ID, segmentd.NewID()})
	noErr(t, "RemoveListMembers", err)
	if n != 2 {
		t.Fatalf("RemoveListMembers = %d, want 2", n)
	}
	if got := mustEmail(t, st, acct, "m0@example.com"); !slices.Equal(got.ListIDs, []string{b.ID}) {
		t.Fatalf("after removal ListIDs = %v", got.ListIDs)
	}
	_, err = st.RemoveListMembers(c, acct, segmentd.NewID(), []string{m0.ID})
	wantKind(t, "RemoveListMembers(unknown list)", err, segmentd.KindNotFound)

	members := must[[]string](t, "DeleteList")(st.DeleteList(c, acct, a.ID))
	var want []string
	for _, e := range []string{"m2@example.com", "m3@example.com"} {
		want = append(want, mustEmail(t, st, acct, e).ID)
	}
	slices.Sort(members)
	if !slices.Equal(members, sortedCopy(want...)) {
		t.Fatalf("DeleteList returned %v, want %v", members, sortedCopy(want...))
	}
	// Deleting a list never deletes its contacts.
	if n := must[int](t, "CountContacts")(st.CountContacts(c, acct)); n != 5 {
		t.Fatalf("CountContacts after DeleteList = %d, want 5", n)
	}
	if got := mustEmail(t, st, acct, "m2@example.com"); len(got.ListIDs) != 0 {
		t.Fatalf("contact of a deleted list still has ListIDs %v", got.ListIDs)
	}
}

func sortedCopy(s ...string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return out
}

func emails(cs []segmentd.Contact) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Email)
	}
	return out
}

func testUpsertCreateAndRead(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	c := ctx(t)
	wf := must[segmentd.FieldDefinition](t, "create")(st.CreateFieldDefinition(c, acct, "nick", segmentd.FieldText, 10, now))
	nf := must[segmentd.FieldDefinition](t, "create")(st.CreateFieldDefinition(c, acct, "score", segmentd.FieldNumber, 10, now))
	df := must[segmentd.FieldDefinition](t, "create")(st.CreateFieldDefinition(c, acct, "born", segmentd.FieldDate, 10, now))
	l1 := must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, "l1", now))
	l2 := must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, "l2", now))
	born := time.Date(1990, 5, 17, 13, 14, 15, 678999999, time.FixedZone("x", 3600))
	p := segmentd.ContactPatch{
		Email: str("ada@example.com"), PhoneNumberID: str("+15550001"), ExternalID: str("ext-1"), AnonymousID: str("anon-1"),
		AlternateEmails: strs("ada2@example.com"),
		FirstName:       str("Ada"), LastName: str("Lovelace"), AddressLine1: str("1 Main St"), AddressLine2: str("Apt 2"),
		City: str("London"), StateProvinceRegion: str("LDN"), PostalCode: str("N1"), Country: str("UK"),
		PhoneNumber: str("+44 20"), WhatsApp: str("wa"), Line: str("ln"), Facebook: str("fb"), UniqueName: str("ada"),
		CustomFields: map[string]*segmentd.Value{
			wf.ID: {Type: segmentd.FieldText, Text: "Countess ✓ \"quoted\" <tag>"},
			nf.ID: {Type: segmentd.FieldNumber, Number: 12.5},
			df.ID: {Type: segmentd.FieldDate, Time: born},
		},
	}
	res := upsert(t, st, acct, []string{l2.ID, l1.ID}, p)
	if res.Created != 1 || res.Updated != 0 || len(res.Errors) != 0 {
		t.Fatalf("UpsertContacts = %+v", res)
	}
	got := mustEmail(t, st, acct, "ada@example.com")
	want := segmentd.Contact{
		ID:    got.ID,
		Email: "ada@example.com", PhoneNumberID: "+15550001", ExternalID: "ext-1", AnonymousID: "anon-1",
		AlternateEmails: []string{"ada2@example.com"},
		FirstName:       "Ada", LastName: "Lovelace", AddressLine1: "1 Main St", AddressLine2: "Apt 2",
		City: "London", StateProvinceRegion: "LDN", PostalCode: "N1", Country: "UK",
		PhoneNumber: "+44 20", WhatsApp: "wa", Line: "ln", Facebook: "fb", UniqueName: "ada",
		CustomFields: map[string]segmentd.Value{
			wf.ID: {Type: segmentd.FieldText, Text: "Countess ✓ \"quoted\" <tag>"},
			nf.ID: {Type: segmentd.FieldNumber, Number: 12.5},
			df.ID: {Type: segmentd.FieldDate, Time: born.UTC().Truncate(time.Millisecond)},
		},
		ListIDs:   sortedCopy(l1.ID, l2.ID),
		CreatedAt: nowMS,
		UpdatedAt: nowMS,
	}
	if !segmentd.IsUUID(got.ID) {
		t.Fatalf("contact id %q is not a UUID", got.ID)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("read back\n got %+v\nwant %+v", got, want)
	}
	if got.CreatedAt.Location() != time.UTC || got.CustomFields[df.ID].Time.Location() != time.UTC {
		t.Fatalf("times not in UTC: %v %v", got.CreatedAt, got.CustomFields[df.ID].Time)
	}
	byID := must[segmentd.Contact](t, "Contact")(st.Contact(c, acct, got.ID))
	if !reflect.DeepEqual(byID, want) {
		t.Fatalf("Contact = %+v, want %+v", byID, want)
	}
	_, err := st.Contact(c, acct, segmentd.NewID())
	wantKind(t, "Contact(unknown)", err, segmentd.KindNotFound)

	// Update: nil pointers keep, "" clears, a nil custom value clears.
	later := now.Add(time.Minute)
	_, err = st.UpsertContacts(c, acct, []segmentd.ContactPatch{{
		Email: str("ada@example.com"), PhoneNumberID: str("+15550001"), ExternalID: str("ext-1"), AnonymousID: str("anon-1"),
		FirstName: str("Augusta"), City: str(""),
		CustomFields: map[string]*segmentd.Value{nf.ID: nil, wf.ID: {Type: segmentd.FieldText, Text: "x"}},
	}}, nil, later)
	noErr(t, "UpsertContacts(update)", err)
	got = mustEmail(t, st, acct, "ada@example.com")
	want.FirstName, want.City = "Augusta", ""
	want.CustomFields = map[string]segmentd.Value{
		wf.ID: {Type: segmentd.FieldText, Text: "x"},
		df.ID: want.CustomFields[df.ID],
	}
	want.UpdatedAt = later.Truncate(time.Millisecond)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("after update\n got %+v\nwant %+v", got, want)
	}

	// A patch that changes no field, only adds the contact to a list (a
	// client re-sending identifiers: list_ids apply to a whole request), or
	// repeats values it has, leaves updated_at (docs/sendgrid.md).
	l3 := must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, "Third", now))
	res = upsert(t, st, acct, []string{l3.ID}, segmentd.ContactPatch{
		Email: str("ada@example.com"), PhoneNumberID: str("+15550001"), ExternalID: str("ext-1"), AnonymousID: str("anon-1"),
		FirstName: str("Augusta"), CustomFields: map[string]*segmentd.Value{wf.ID: {Type: segmentd.FieldText, Text: "x"}, nf.ID: nil},
	})
	want.ListIDs = sortedCopy(l1.ID, l2.ID, l3.ID)
	// The store reports the contact in full, or as having only joined.
	inFull := len(res.Contacts) == 1 && reflect.DeepEqual(res.Contacts[0], want) && len(res.Joined) == 0
	joined := len(res.Contacts) == 0 && slices.Equal(res.Joined, []string{want.ID})
	if res.Updated != 1 || res.Created != 0 || !inFull && !joined {
		t.Fatalf("UpsertContacts(lists only) = %+v\nwant Updated 1 and Contacts [%+v] or Joined [%s]", res, want, want.ID)
	}
	if got := mustEmail(t, st, acct, "ada@example.com"); !reflect.DeepEqual(got, want) {
		t.Fatalf("after a lists-only upsert\n got %+v\nwant %+v", got, want)
	}
	if n := must[int](t, "CountContacts")(st.CountContacts(c, acct)); n != 1 {
		t.Fatalf("CountContacts = %d, want 1", n)
	}
}

func testUpsertMatching(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	c := ctx(t)
	upsert(t, st, acct, nil,
		segmentd.ContactPatch{Email: str("a@example.com")},
		segmentd.ContactPatch{Email: str("b@example.com"), ExternalID: str("ext-b")},
		segmentd.ContactPatch{PhoneNumberID: str("+1555")},
		segmentd.ContactPatch{AnonymousID: str("anon-d")},
		segmentd.ContactPatch{Email: str("solo@example.com")},
		segmentd.ContactPatch{AnonymousID: str("anon-solo")},
	)
	a := mustEmail(t, st, acct, "a@example.com")
	b := mustEmail(t, st, acct, "b@example.com")
	res := upsert(t, st, acct, nil,
		// 0: matches a by email, adds an external id.
		segmentd.ContactPatch{Email: str("a@example.com"), ExternalID: str("ext-a"), FirstName: str("A")},
		// 1: b has an external id; updating without it is refused.
		segmentd.ContactPatch{Email: str("b@example.com"), FirstName: str("B")},
		// 2: a different external id for b is refused.
		segmentd.ContactPatch{Email: str("b@example.com"), ExternalID: str("ext-other"), FirstName: str("B")},
		// 3: a's email and b's external id: two contacts.
		segmentd.ContactPatch{Email: str("a@example.com"), ExternalID: str("ext-b")},
		// 4: matches the phone-only contact and gives it an email.
		segmentd.ContactPatch{PhoneNumberID: str("+1555"), Email: str("c@example.com")},
		// 5: new contact by anonymous id alone.
		segmentd.ContactPatch{AnonymousID: str("anon-e"), LastName: str("E")},
		// 6: the anonymous contact matched, but its identifiers are all required: ok.
		segmentd.ContactPatch{AnonymousID: str("anon-d"), LastName: str("D")},
		// 7: an email-only and an anonymous-only contact: each identifier
		// alone would be a valid update, together they name two contacts.
		segmentd.ContactPatch{Email: str("solo@example.com"), AnonymousID: str("anon-solo")},
	)
	if res.Created != 1 || res.Updated != 3 || len(res.Errors) != 4 {
		t.Fatalf("UpsertContacts = %+v, want 1 created, 3 updated, 4 errors", res)
	}
	var idx []int
	for _, e := range res.Errors {
		idx = append(idx, e.Index)
		if e.Message == "" {
			t.Errorf("error without message: %+v", e)
		}
	}
	if !slices.Equal(idx, []int{1, 2, 3, 7}) {
		t.Fatalf("error indexes %v, want [1 2 3 7]", idx)
	}
	if got := mustEmail(t, st, acct, "solo@example.com"); got.AnonymousID != "" {
		t.Fatalf("patch naming two contacts changed one: %+v", got)
	}
	got := mustEmail(t, st, acct, "a@example.com")
	if got.ID != a.ID || got.ExternalID != "ext-a" || got.FirstName != "A" {
		t.Fatalf("a = %+v", got)
	}
	got = mustEmail(t, st, acct, "b@example.com")
	if got.ID != b.ID || got.FirstName != "" || got.ExternalID != "ext-b" {
		t.Fatalf("b changed by refused patches: %+v", got)
	}
	m := must[map[string]segmentd.Contact](t, "ContactsByIdentifier")(st.ContactsByIdentifier(c, acct, segmentd.IdentifierPhoneNumberID, []string{"+1555"}))
	if m["+1555"].Email != "c@example.com" {
		t.Fatalf("phone contact = %+v", m["+1555"])
	}
	m = must[map[string]segmentd.Contact](t, "ContactsByIdentifier")(st.ContactsByIdentifier(c, acct, segmentd.IdentifierAnonymousID, []string{"anon-d", "anon-e"}))
	if m["anon-d"].LastName != "D" || m["anon-e"].LastName != "E" || m["anon-e"].ID == m["anon-d"].ID {
		t.Fatalf("anonymous contacts = %+v", m)
	}
	if n := must[int](t, "CountContacts")(st.CountContacts(c, acct)); n != 7 {
		t.Fatalf("CountContacts = %d, want 7", n)
	}
}

func testUpsertSameIdentifierTwice(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	c := ctx(t)
	f := must[segmentd.FieldDefinition](t, "create")(st.CreateFieldDefinition(c, acct, "score", segmentd.FieldNumber, 10, now))
	l := must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, "l", now))
	res := upsert(t, st, acct, []string{l.ID},
		segmentd.ContactPatch{Email: str("twice@example.com"), FirstName: str("First"), LastName: str("Kept"),
			CustomFields: map[string]*segmentd.Value{f.ID: {Type: segmentd.FieldNumber, Number: 1}}},
		segmentd.ContactPatch{Email: str("other@example.com")},
		segmentd.ContactPatch{Email: str("twice@example.com"), FirstName: str("Second"), ExternalID: str("ext"),
			CustomFields: map[string]*segmentd.Value{f.ID: {Type: segmentd.FieldNumber, Number: 2}}},
		// The third patch must now give the external id the second one added.
		segmentd.ContactPatch{Email: str("twice@example.com"), FirstName: str("Refused")},
	)
	if res.Created != 2 || res.Updated != 1 || len(res.Errors) != 1 || res.Errors[0].Index != 3 {
		t.Fatalf("UpsertContacts = %+v, want 2 created, 1 updated, an error at 3", res)
	}
	if n := must[int](t, "CountContacts")(st.CountContacts(c, acct)); n != 2 {
		t.Fatalf("CountContacts = %d, want 2", n)
	}
	got := mustEmail(t, st, acct, "twice@example.com")
	if got.FirstName != "Second" || got.LastName != "Kept" || got.ExternalID != "ext" ||
		got.CustomFields[f.ID].Number != 2 || !slices.Equal(got.ListIDs, []string{l.ID}) {
		t.Fatalf("merged contact = %+v", got)
	}
	if n := must[int](t, "CountListMembers")(st.CountListMembers(c, acct, l.ID)); n != 2 {
		t.Fatalf("list count = %d, want 2", n)
	}
	// Same again in a later batch: both update, none created.
	res = upsert(t, st, acct, nil,
		segmentd.ContactPatch{Email: str("twice@example.com"), ExternalID: str("ext"), FirstName: str("Third")},
		segmentd.ContactPatch{Email: str("twice@example.com"), ExternalID: str("ext"), LastName: str("Fourth")},
	)
	if res.Created != 0 || res.Updated != 2 || len(res.Errors) != 0 {
		t.Fatalf("second UpsertContacts = %+v", res)
	}
	got = mustEmail(t, st, acct, "twice@example.com")
	if got.FirstName != "Third" || got.LastName != "Fourth" {
		t.Fatalf("after second batch = %+v", got)
	}
}

func testUpsertUnknownList(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	c := ctx(t)
	l := must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, "l", now))
	upsert(t, st, acct, []string{l.ID}, segmentd.ContactPatch{Email: str("a@example.com")})
	before := snap(t, st, acct)
	_, err := st.UpsertContacts(c, acct, []segmentd.ContactPatch{
		{Email: str("a@example.com"), FirstName: str("changed")},
		{Email: str("new@example.com")},
	}, []string{l.ID, segmentd.NewID()}, now.Add(time.Hour))
	wantKind(t, "UpsertContacts(unknown list)", err, segmentd.KindNotFound)
	sameSnapshot(t, "UpsertContacts(unknown list)", before, snap(t, st, acct))
}

func testUpsertAlternateEmails(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	c := ctx(t)
	upsert(t, st, acct, nil,
		segmentd.ContactPatch{Email: str("main@example.com"), AlternateEmails: strs("alt1@example.com", "alt2@example.com")},
		segmentd.ContactPatch{Email: str("alt2@example.com")}, // also someone's alternate: its own email wins
	)
	main := mustEmail(t, st, acct, "main@example.com")
	if !slices.Equal(main.AlternateEmails, []string{"alt1@example.com", "alt2@example.com"}) {
		t.Fatalf("AlternateEmails = %v", main.AlternateEmails)
	}
	m := must[map[string]segmentd.Contact](t, "ContactsByEmails")(st.ContactsByEmails(c, acct,
		[]string{"alt1@example.com", "alt2@example.com", "main@example.com", "missing@example.com"}))
	if len(m) != 3 || m["alt1@example.com"].ID != main.ID || m["main@example.com"].ID != main.ID ||
		m["alt2@example.com"].Email != "alt2@example.com" {
		t.Fatalf("ContactsByEmails = %+v", m)
	}
	// Replacing the alternates forgets the old ones.
	upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("main@example.com"), AlternateEmails: strs("alt3@example.com")})
	m = must[map[string]segmentd.Contact](t, "ContactsByEmails")(st.ContactsByEmails(c, acct, []string{"alt1@example.com", "alt3@example.com"}))
	if _, ok := m["alt1@example.com"]; ok || m["alt3@example.com"].ID != main.ID {
		t.Fatalf("after replacing alternates ContactsByEmails = %+v", m)
	}
	// A patch without alternate_emails keeps them.
	upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("main@example.com"), FirstName: str("M")})
	if got := mustEmail(t, st, acct, "alt3@example.com"); got.ID != main.ID || !slices.Equal(got.AlternateEmails, []string{"alt3@example.com"}) {
		t.Fatalf("alternates after a patch without them = %+v", got)
	}
	// Clearing them.
	upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("main@example.com"), AlternateEmails: strs()})
	if _, ok := byEmail(t, st, acct, "alt3@example.com"); ok {
		t.Fatal("cleared alternate email still finds the contact")
	}
	if got := mustEmail(t, st, acct, "main@example.com"); len(got.AlternateEmails) != 0 {
		t.Fatalf("cleared AlternateEmails = %v", got.AlternateEmails)
	}
}

func testContactReads(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	c := ctx(t)
	// Five contacts updated at increasing times.
	for i, e := range []string{"e@example.com", "d@example.com", "c@example.com", "b@example.com", "a@example.com"} {
		_, err := st.UpsertContacts(c, acct, []segmentd.ContactPatch{{Email: str(e), ExternalID: str("x" + e)}}, nil, now.Add(time.Duration(i)*time.Second))
		noErr(t, "UpsertContacts", err)
	}
	_, err := st.UpsertContacts(c, acct, []segmentd.ContactPatch{{ExternalID: str("no-email")}}, nil, now.Add(10*time.Second))
	noErr(t, "UpsertContacts", err)

	sample := must[[]segmentd.Contact](t, "SampleContacts")(st.SampleContacts(c, acct, 3))
	// The three most recently updated, sorted by email (no email last).
	if got := emails(sample); !slices.Equal(got, []string{"a@example.com", "b@example.com", ""}) {
		t.Fatalf("SampleContacts = %v", got)
	}
	all := must[[]segmentd.Contact](t, "SampleContacts")(st.SampleContacts(c, acct, 50))
	if got := emails(all); !slices.Equal(got, []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com", "e@example.com", ""}) {
		t.Fatalf("SampleContacts(50) = %v", got)
	}

	a := mustEmail(t, st, acct, "a@example.com")
	e := mustEmail(t, st, acct, "e@example.com")
	got := must[[]segmentd.Contact](t, "ContactsByIDs")(st.ContactsByIDs(c, acct, []string{e.ID, segmentd.NewID(), a.ID, e.ID}))
	if len(got) != 2 || got[0].ID != e.ID || got[1].ID != a.ID {
		t.Fatalf("ContactsByIDs = %v", emails(got))
	}
	if got := must[[]segmentd.Contact](t, "ContactsByIDs")(st.ContactsByIDs(c, acct, nil)); len(got) != 0 {
		t.Fatalf("ContactsByIDs(nil) = %v", got)
	}
	m := must[map[string]segmentd.Contact](t, "ContactsByIdentifier")(st.ContactsByIdentifier(c, acct, segmentd.IdentifierExternalID,
		[]string{"xa@example.com", "no-email", "missing"}))
	if len(m) != 2 || m["xa@example.com"].ID != a.ID || m["no-email"].Email != "" {
		t.Fatalf("ContactsByIdentifier = %+v", m)
	}
	m = must[map[string]segmentd.Contact](t, "ContactsByIdentifier")(st.ContactsByIdentifier(c, acct, segmentd.IdentifierEmail, []string{"a@example.com"}))
	if m["a@example.com"].ID != a.ID {
		t.Fatalf("ContactsByIdentifier(email) = %+v", m)
	}
	m = must[map[string]segmentd.Contact](t, "ContactsByEmails")(st.ContactsByEmails(c, acct, nil))
	if len(m) != 0 {
		t.Fatalf("ContactsByEmails(nil) = %+v", m)
	}
	if n := must[int](t, "CountContacts")(st.CountContacts(c, acct)); n != 6 {
		t.Fatalf("CountContacts = %d, want 6", n)
	}
}

func testScanContacts(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	other := newAccount(t, st, "other")
	c := ctx(t)
	l := must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, "l", now))
	var ps []segmentd.ContactPatch
	for i := range 7 {
		ps = append(ps, segmentd.ContactPatch{Email: str(fmt.Sprintf("s%d@example.com", i))})
	}
	upsert(t, st, acct, []string{l.ID}, ps...)
	upsert(t, st, other, nil, segmentd.ContactPatch{Email: str("other@example.com")})

	var got []segmentd.Contact
	after := ""
	for pages := 0; ; pages++ {
		if pages > 10 {
			t.Fatal("ScanContacts does not end")
		}
		page := must[[]segmentd.Contact](t, "ScanContacts")(st.ScanContacts(c, acct, after, 3))
		if len(page) > 3 {
			t.Fatalf("page of %d contacts, limit 3", len(page))
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = page[len(page)-1].ID
	}
	if len(got) != 7 {
		t.Fatalf("ScanContacts returned %d contacts, want 7", len(got))
	}
	for i, sc := range got {
		if i > 0 && got[i-1].ID >= sc.ID {
			t.Fatalf("ScanContacts not in id order: %s then %s", got[i-1].ID, sc.ID)
		}
		want := must[segmentd.Contact](t, "Contact")(st.Contact(c, acct, sc.ID))
		if !reflect.DeepEqual(sc, want) || !slices.Equal(sc.ListIDs, []string{l.ID}) {
			t.Fatalf("scanned %+v, Contact reads %+v", sc, want)
		}
	}
	if page := must[[]segmentd.Contact](t, "ScanContacts")(st.ScanContacts(c, other, "", 100)); len(page) != 1 || page[0].Email != "other@example.com" {
		t.Fatalf("other account's scan = %v", emails(page))
	}
}

// testUpsertResultContacts: UpsertResult.Contacts holds every created or
// updated contact once, as stored (lists included), in request order.
func testUpsertResultContacts(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	c := ctx(t)
	l1 := must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, "l1", now))
	l2 := must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, "l2", now))
	upsert(t, st, acct, []string{l1.ID}, segmentd.ContactPatch{Email: str("old@example.com"), FirstName: str("Old")})
	res := upsert(t, st, acct, []string{l2.ID},
		segmentd.ContactPatch{Email: str("new@example.com")},
		segmentd.ContactPatch{Email: str("old@example.com"), LastName: str("Updated")},
		segmentd.ContactPatch{Email: str("new@example.com"), FirstName: str("Again")},
		segmentd.ContactPatch{Email: str("old@example.com"), ExternalID: str("x")},
		segmentd.ContactPatch{Email: str("old@example.com"), FirstName: str("refused: external id missing")},
	)
	if got := emails(res.Contacts); !slices.Equal(got, []string{"new@example.com", "old@example.com"}) {
		t.Fatalf("UpsertResult.Contacts = %v, want [new old]", got)
	}
	for _, rc := range res.Contacts {
		stored := mustEmail(t, st, acct, rc.Email)
		if !reflect.DeepEqual(rc, stored) {
			t.Fatalf("UpsertResult contact\n got %+v\nread %+v", rc, stored)
		}
	}
	if old := res.Contacts[1]; !slices.Equal(old.ListIDs, sortedCopy(l1.ID, l2.ID)) || old.FirstName != "Old" || old.LastName != "Updated" || old.ExternalID != "x" {
		t.Fatalf("updated contact in result = %+v", old)
	}
	if res := upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("old@example.com")}); len(res.Contacts) != 0 || len(res.Errors) != 1 {
		t.Fatalf("refused-only upsert = %+v", res)
	}
}

// testUpsertManyChanged upserts changed fields of more stored contacts
// than a store may read the lists of (the SQLite store's seekListsAlone):
// every contact keeps its lists and tags and joins the request's, and
// the result's contacts are the stored ones, but for ListIDs when
// ListsAdded: then only the request's lists.
func testUpsertManyChanged(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	c := ctx(t)
	l1 := must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, "l1", now))
	l2 := must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, "l2", now))
	l3 := must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, "l3", now))
	gold := must[segmentd.Tag](t, "CreateTag")(st.CreateTag(c, acct, "gold", "", 10, now))
	const n = 100
	var ps []segmentd.ContactPatch
	for i := range n {
		ps = append(ps, segmentd.ContactPatch{Email: str(fmt.Sprintf("c%03d@example.com", i))})
	}
	ids := make([]string, n)
	for i, rc := range upsert(t, st, acct, []string{l1.ID}, ps...).Contacts {
		ids[i] = rc.ID
	}
	upsert(t, st, acct, []string{l2.ID}, ps[:n/2]...)
	noErr(t, "TagContacts", errOnly(st.TagContacts(c, acct, []string{gold.ID}, ids[:n/4], now)))

	changed := make([]segmentd.ContactPatch, n)
	for i := range changed {
		changed[i] = segmentd.ContactPatch{Email: ps[i].Email, FirstName: str(fmt.Sprintf("F%d", i))}
	}
	res := upsert(t, st, acct, []string{l3.ID}, changed...)
	if res.Updated != n || len(res.Contacts) != n || len(res.Joined) != 0 {
		t.Fatalf("upsert of %d changed contacts: updated %d, %d contacts, %d joined", n, res.Updated, len(res.Contacts), len(res.Joined))
	}
	stored := must[[]segmentd.Contact](t, "ContactsByIDs")(st.ContactsByIDs(c, acct, ids))
	byID := make(map[string]segmentd.Contact, len(stored))
	for _, sc := range stored {
		byID[sc.ID] = sc
	}
	for i, id := range ids {
		sc := byID[id]
		want := sortedCopy(l1.ID, l3.ID)
		if i < n/2 {
			want = sortedCopy(l1.ID, l2.ID, l3.ID)
		}
		var tags []string
		if i < n/4 {
			tags = []string{gold.ID}
		}
		if !slices.Equal(sc.ListIDs, want) || !slices.Equal(sc.TagIDs, tags) || sc.FirstName != fmt.Sprintf("F%d", i) {
			t.Fatalf("contact %d after the upsert: lists %v tags %v first name %q, want lists %v tags %v", i, sc.ListIDs, sc.TagIDs, sc.FirstName, want, tags)
		}
		rc := res.Contacts[i]
		if res.ListsAdded {
			if !slices.Equal(rc.ListIDs, []string{l3.ID}) {
				t.Fatalf("result contact %d with ListsAdded: lists %v, want the request's [%s]", i, rc.ListIDs, l3.ID)
			}
			rc.ListIDs = sc.ListIDs
		}
		if !reflect.DeepEqual(rc, sc) {
			t.Fatalf("result contact %d (ListsAdded %v)\n got %+v\nread %+v", i, res.ListsAdded, rc, sc)
		}
	}
}

func testDeleteContacts(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	other := newAccount(t, st, "other")
	c := ctx(t)
	l := must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, "l", now))
	upsert(t, st, acct, []string{l.ID},
		segmentd.ContactPatch{Email: str("a@example.com"), AlternateEmails: strs("alt@example.com")},
		segmentd.ContactPatch{Email: str("b@example.com")},
		segmentd.ContactPatch{Email: str("c@example.com")},
	)
	upsert(t, st, other, nil, segmentd.ContactPatch{Email: str("a@example.com")})
	a := mustEmail(t, st, acct, "a@example.com")
	b := mustEmail(t, st, acct, "b@example.com")
	n, err := st.DeleteContacts(c, acct, []string{a.ID, b.ID, segmentd.NewID(), a.ID})
	noErr(t, "DeleteContacts", err)
	if n != 2 {
		t.Fatalf("DeleteContacts = %d, want 2", n)
	}
	if _, err := st.Contact(c, acct, a.ID); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("deleted contact: %v", err)
	}
	if _, ok := byEmail(t, st, acct, "alt@example.com"); ok {
		t.Fatal("deleted contact still found by its alternate email")
	}
	if n := must[int](t, "CountListMembers")(st.CountListMembers(c, acct, l.ID)); n != 1 {
		t.Fatalf("list count after delete = %d, want 1", n)
	}
	// The address is free again: a new contact, not the old one.
	upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("a@example.com")})
	if got := mustEmail(t, st, acct, "a@example.com"); got.ID == a.ID || len(got.ListIDs) != 0 {
		t.Fatalf("recreated contact = %+v", got)
	}
	if n := must[int](t, "DeleteContacts")(st.DeleteContacts(c, acct, nil)); n != 0 {
		t.Fatalf("DeleteContacts(nil) = %d", n)
	}

	n, err = st.DeleteAllContacts(c, acct)
	noErr(t, "DeleteAllContacts", err)
	if n != 2 {
		t.Fatalf("DeleteAllContacts = %d, want 2", n)
	}
	if n := must[int](t, "CountContacts")(st.CountContacts(c, acct)); n != 0 {
		t.Fatalf("CountContacts after DeleteAllContacts = %d", n)
	}
	if got := must[segmentd.List](t, "List")(st.List(c, acct, l.ID)); got.ContactCount != 0 {
		t.Fatalf("list count after DeleteAllContacts = %d", got.ContactCount)
	}
	if n := must[int](t, "CountContacts")(st.CountContacts(c, other)); n != 1 {
		t.Fatalf("other account's contacts = %d, want 1", n)
	}
}

func testDeleteIdentifier(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	c := ctx(t)
	upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("a@example.com"), ExternalID: str("ext-a"), FirstName: str("A")})
	a := mustEmail(t, st, acct, "a@example.com")
	later := now.Add(time.Hour)

	wantKind(t, "wrong value", st.DeleteIdentifier(c, acct, a.ID, segmentd.IdentifierExternalID, "ext-b", later), segmentd.KindNotFound)
	wantKind(t, "unset identifier", st.DeleteIdentifier(c, acct, a.ID, segmentd.IdentifierAnonymousID, "x", later), segmentd.KindNotFound)
	wantKind(t, "unknown contact", st.DeleteIdentifier(c, acct, segmentd.NewID(), segmentd.IdentifierEmail, "a@example.com", later), segmentd.KindNotFound)

	noErr(t, "DeleteIdentifier", st.DeleteIdentifier(c, acct, a.ID, segmentd.IdentifierEmail, "a@example.com", later))
	got := must[segmentd.Contact](t, "Contact")(st.Contact(c, acct, a.ID))
	if got.Email != "" || got.ExternalID != "ext-a" || got.FirstName != "A" || !got.UpdatedAt.Equal(later.Truncate(time.Millisecond)) {
		t.Fatalf("after DeleteIdentifier = %+v", got)
	}
	if _, ok := byEmail(t, st, acct, "a@example.com"); ok {
		t.Fatal("cleared email still finds the contact")
	}
	before := snap(t, st, acct)
	err := st.DeleteIdentifier(c, acct, a.ID, segmentd.IdentifierExternalID, "ext-a", later.Add(time.Hour))
	wantKind(t, "last identifier", err, segmentd.KindInvalid)
	sameSnapshot(t, "DeleteIdentifier(last identifier)", before, snap(t, st, acct))
	// The freed email can be taken by a new contact.
	res := upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("a@example.com")})
	if res.Created != 1 {
		t.Fatalf("upsert of the freed email = %+v", res)
	}
}

func testJobs(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	c := ctx(t)
	j := segmentd.Job{ID: segmentd.NewID(), AccountID: acct, Type: segmentd.JobUpsert, Status: segmentd.JobPending,
		Requested: 3, StartedAt: now}
	noErr(t, "CreateJob", st.CreateJob(c, j))
	got := must[segmentd.Job](t, "Job")(st.Job(c, acct, j.ID))
	want := j
	want.StartedAt = nowMS
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Job = %+v, want %+v", got, want)
	}
	wantKind(t, "CreateJob(same id)", st.CreateJob(c, j), segmentd.KindConflict)

	f := segmentd.Job{ID: segmentd.NewID(), AccountID: acct, Type: segmentd.JobUpsert, Requested: 3, StartedAt: now,
		Created: 1, Updated: 1, Errored: 1, Errors: []segmentd.JobError{{Index: 2, Field: "email", Message: "bad \"email\""}}}
	f.Finish(now.Add(time.Second))
	noErr(t, "CreateJob(finished)", st.CreateJob(c, f))
	got = must[segmentd.Job](t, "Job")(st.Job(c, acct, f.ID))
	want = f
	want.StartedAt, want.FinishedAt = nowMS, now.Add(time.Second).Truncate(time.Millisecond)
	if !reflect.DeepEqual(got, want) || got.Status != segmentd.JobErrored {
		t.Fatalf("finished job = %+v, want %+v", got, want)
	}
	_, err := st.Job(c, acct, segmentd.NewID())
	wantKind(t, "Job(unknown)", err, segmentd.KindNotFound)

	d := segmentd.Job{ID: segmentd.NewID(), AccountID: acct, Type: segmentd.JobDelete, Deleted: 7, StartedAt: now}
	d.Finish(now)
	noErr(t, "CreateJob(delete)", st.CreateJob(c, d))
	if got := must[segmentd.Job](t, "Job")(st.Job(c, acct, d.ID)); got.Deleted != 7 || got.Type != segmentd.JobDelete || got.Status != segmentd.JobCompleted {
		t.Fatalf("delete job = %+v", got)
	}
}

// testListDetails: CreateListWith keeps Constant Contact's description
// and favorite flag and bounds the account's lists; UpdateList sets them,
// RenameList keeps them.
func testListDetails(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	c := ctx(t)
	l := must[segmentd.List](t, "CreateListWith")(st.CreateListWith(c, acct, segmentd.List{Name: "buyers", Description: "repeat buyers", Favorite: true}, 2, now))
	if got := must[segmentd.List](t, "List")(st.List(c, acct, l.ID)); got.Description != "repeat buyers" || !got.Favorite || got.Name != "buyers" {
		t.Fatalf("List = %+v", got)
	}
	must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, "other", now))
	_, err := st.CreateListWith(c, acct, segmentd.List{Name: "third"}, 2, now)
	wantKind(t, "CreateListWith past max", err, segmentd.KindInvalid)
	_, err = st.CreateListWith(c, acct, segmentd.List{Name: "BUYERS"}, 0, now)
	wantKind(t, "CreateListWith(duplicate)", err, segmentd.KindConflict)
	renamed := must[segmentd.List](t, "RenameList")(st.RenameList(c, acct, l.ID, "buyers 2", now.Add(time.Second)))
	if renamed.Description != "repeat buyers" || !renamed.Favorite {
		t.Fatalf("RenameList lost the details: %+v", renamed)
	}
	up := must[segmentd.List](t, "UpdateList")(st.UpdateList(c, acct, segmentd.List{ID: l.ID, Name: "buyers 3"}, now.Add(2*time.Second)))
	if up.Description != "" || up.Favorite || up.Name != "buyers 3" || !up.UpdatedAt.Equal(now.Add(2*time.Second).Truncate(time.Millisecond)) {
		t.Fatalf("UpdateList = %+v", up)
	}
	page := must[[]segmentd.List](t, "Lists")(st.Lists(c, acct, "", 10))
	if len(page) != 2 {
		t.Fatalf("Lists = %+v", page)
	}
	_, err = st.UpdateList(c, acct, segmentd.List{ID: segmentd.NewID(), Name: "x"}, now)
	wantKind(t, "UpdateList(unknown)", err, segmentd.KindNotFound)
	_, err = st.UpdateList(c, acct, segmentd.List{ID: l.ID, Name: "OTHER"}, now)
	wantKind(t, "UpdateList(duplicate)", err, segmentd.KindConflict)
}

// testJobsListed: Jobs pages through an account's jobs of some types,
// newest first, filtered by status.
func testJobsListed(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	other := newAccount(t, st, "other")
	c := ctx(t)
	var ids []string // newest first
	for i := range 5 {
		j := segmentd.Job{ID: segmentd.NewID(), AccountID: acct, Type: segmentd.JobCCAddToLists, Requested: 1, Created: 1, StartedAt: now.Add(time.Duration(i%3) * time.Second)}
		if i == 4 {
			j.Errored = 1
		}
		j.Finish(now.Add(time.Minute))
		noErr(t, "CreateJob", st.CreateJob(c, j))
		ids = append(ids, j.ID)
	}
	// Starts 0,1,2,0,1 s: newest first is 2, then the two at 1 s and the
	// two at 0 s, each pair by id descending.
	at := func(i int) (int, string) { return i % 3, ids[i] }
	want := []int{2, 1, 4, 0, 3}
	slices.SortFunc(want, func(a, b int) int {
		sa, ia := at(a)
		sb, ib := at(b)
		if sa != sb {
			return sb - sa
		}
		return strings.Compare(ib, ia)
	})
	noErr(t, "CreateJob(other type)", st.CreateJob(c, segmentd.Job{ID: segmentd.NewID(), AccountID: acct, Type: segmentd.JobUpsert, Status: segmentd.JobCompleted, StartedAt: now}))
	noErr(t, "CreateJob(other account)", st.CreateJob(c, segmentd.Job{ID: segmentd.NewID(), AccountID: other, Type: segmentd.JobCCAddToLists, Status: segmentd.JobCompleted, StartedAt: now}))
	q := segmentd.JobsQuery{Types: []segmentd.JobType{segmentd.JobCCAddToLists, segmentd.JobListDelete}, Limit: 2}
	var got []string
	for range 5 {
		page := must[[]segmentd.Job](t, "Jobs")(st.Jobs(c, acct, q))
		for _, j := range page {
			got = append(got, j.ID)
		}
		if len(page) < q.Limit {
			break
		}
		q.Before, q.BeforeID = page[len(page)-1].StartedAt, page[len(page)-1].ID
	}
	var wantIDs []string
	for _, i := range want {
		wantIDs = append(wantIDs, ids[i])
	}
	if !slices.Equal(got, wantIDs) {
		t.Fatalf("Jobs paged %v, want %v", got, wantIDs)
	}
	failed := must[[]segmentd.Job](t, "Jobs(failed)")(st.Jobs(c, acct, segmentd.JobsQuery{Types: q.Types, Statuses: []segmentd.JobStatus{segmentd.JobFailed}, Limit: 10}))
	if len(failed) != 1 || failed[0].ID != ids[4] || failed[0].Errored != 1 || !failed[0].FinishedAt.Equal(now.Add(time.Minute).Truncate(time.Millisecond)) {
		t.Fatalf("failed jobs = %+v", failed)
	}

	// DeleteJobs: the finished jobs of the types started before the cut
	// go; a pending one, another type's and another account's stay.
	pending := segmentd.Job{ID: segmentd.NewID(), AccountID: acct, Type: segmentd.JobCCAddToLists, Status: segmentd.JobPending, StartedAt: now}
	noErr(t, "CreateJob(pending)", st.CreateJob(c, pending))
	n := must[int](t, "DeleteJobs")(st.DeleteJobs(c, acct, q.Types, now.Add(time.Second)))
	if n != 2 {
		t.Fatalf("DeleteJobs deleted %d, want the 2 finished jobs started at 0 s", n)
	}
	left := must[[]segmentd.Job](t, "Jobs")(st.Jobs(c, acct, segmentd.JobsQuery{Types: q.Types, Limit: 10}))
	if len(left) != 4 || slices.ContainsFunc(left, func(j segmentd.Job) bool { return j.ID == ids[0] || j.ID == ids[3] }) {
		t.Fatalf("after DeleteJobs: %+v", left)
	}
	if n := must[int](t, "DeleteJobs(again)")(st.DeleteJobs(c, acct, q.Types, now.Add(time.Hour))); n != 3 {
		t.Fatalf("DeleteJobs(an hour on) deleted %d, want 3 (the pending job stays)", n)
	}
	if _, err := st.Job(c, acct, pending.ID); err != nil {
		t.Fatalf("the pending job: %v", err)
	}
	for _, a := range []int64{acct, other} {
		all := must[[]segmentd.Job](t, "Jobs")(st.Jobs(c, a, segmentd.JobsQuery{Types: []segmentd.JobType{segmentd.JobCCAddToLists, segmentd.JobUpsert}, Limit: 10}))
		if len(all) != 2 && a == acct || len(all) != 1 && a == other {
			t.Fatalf("account %d keeps %+v", a, all)
		}
	}
}

func testAccountIsolation(t *testing.T, st segmentd.Store) {
	a := newAccount(t, st, "a")
	b := newAccount(t, st, "b")
	c := ctx(t)
	fa := must[segmentd.FieldDefinition](t, "create")(st.CreateFieldDefinition(c, a, "score", segmentd.FieldNumber, 10, now))
	la := must[segmentd.List](t, "CreateList")(st.CreateList(c, a, "news", now))
	upsert(t, st, a, []string{la.ID}, segmentd.ContactPatch{Email: str("x@example.com"), ExternalID: str("ext"),
		AlternateEmails: strs("alt@example.com"), CustomFields: map[string]*segmentd.Value{fa.ID: {Type: segmentd.FieldNumber, Number: 1}}})
	xa := mustEmail(t, st, a, "x@example.com")
	ja := segmentd.Job{ID: segmentd.NewID(), AccountID: a, Type: segmentd.JobUpsert, Status: segmentd.JobCompleted, StartedAt: now, FinishedAt: now}
	noErr(t, "CreateJob", st.CreateJob(c, ja))
	before := snap(t, st, a)

	// B sees nothing of A.
	if fs := must[[]segmentd.FieldDefinition](t, "FieldDefinitions")(st.FieldDefinitions(c, b)); len(fs) != 0 {
		t.Fatalf("B sees fields %+v", fs)
	}
	_, err := st.RenameFieldDefinition(c, b, fa.ID, "x")
	wantKind(t, "B renames A's field", err, segmentd.KindNotFound)
	wantKind(t, "B deletes A's field", st.DeleteFieldDefinition(c, b, fa.ID), segmentd.KindNotFound)
	if ls := must[[]segmentd.List](t, "Lists")(st.Lists(c, b, "", 100)); len(ls) != 0 {
		t.Fatalf("B sees lists %+v", ls)
	}
	if n := must[int](t, "CountLists")(st.CountLists(c, b)); n != 0 {
		t.Fatalf("B counts %d lists", n)
	}
	_, err = st.List(c, b, la.ID)
	wantKind(t, "B reads A's list", err, segmentd.KindNotFound)
	_, err = st.RenameList(c, b, la.ID, "x", now)
	wantKind(t, "B renames A's list", err, segmentd.KindNotFound)
	_, err = st.RemoveListMembers(c, b, la.ID, []string{xa.ID})
	wantKind(t, "B removes from A's list", err, segmentd.KindNotFound)
	_, err = st.DeleteList(c, b, la.ID)
	wantKind(t, "B deletes A's list", err, segmentd.KindNotFound)
	_, err = st.UpsertContacts(c, b, []segmentd.ContactPatch{{Email: str("y@example.com")}}, []string{la.ID}, now)
	wantKind(t, "B upserts into A's list", err, segmentd.KindNotFound)
	_, err = st.Contact(c, b, xa.ID)
	wantKind(t, "B reads A's contact", err, segmentd.KindNotFound)
	if cs := must[[]segmentd.Contact](t, "ContactsByIDs")(st.ContactsByIDs(c, b, []string{xa.ID})); len(cs) != 0 {
		t.Fatalf("B reads A's contacts by id: %+v", cs)
	}
	if m := must[map[string]segmentd.Contact](t, "ContactsByEmails")(st.ContactsByEmails(c, b, []string{"x@example.com", "alt@example.com"})); len(m) != 0 {
		t.Fatalf("B finds A's contacts by email: %+v", m)
	}
	if m := must[map[string]segmentd.Contact](t, "ContactsByIdentifier")(st.ContactsByIdentifier(c, b, segmentd.IdentifierExternalID, []string{"ext"})); len(m) != 0 {
		t.Fatalf("B finds A's contacts by external id: %+v", m)
	}
	if n := must[int](t, "CountContacts")(st.CountContacts(c, b)); n != 0 {
		t.Fatalf("B counts %d contacts", n)
	}
	if cs := must[[]segmentd.Contact](t, "SampleContacts")(st.SampleContacts(c, b, 50)); len(cs) != 0 {
		t.Fatalf("B samples A's contacts: %+v", cs)
	}
	wantKind(t, "B deletes A's identifier", st.DeleteIdentifier(c, b, xa.ID, segmentd.IdentifierEmail, "x@example.com", now), segmentd.KindNotFound)
	if n := must[int](t, "DeleteContacts")(st.DeleteContacts(c, b, []string{xa.ID})); n != 0 {
		t.Fatalf("B deleted %d of A's contacts", n)
	}
	if n := must[int](t, "DeleteAllContacts")(st.DeleteAllContacts(c, b)); n != 0 {
		t.Fatalf("B's DeleteAllContacts deleted %d", n)
	}
	_, err = st.Job(c, b, ja.ID)
	wantKind(t, "B reads A's job", err, segmentd.KindNotFound)

	// B may use the same names, emails and identifiers; its own ids are independent.
	fb := must[segmentd.FieldDefinition](t, "B creates field")(st.CreateFieldDefinition(c, b, "score", segmentd.FieldNumber, 1, now))
	lb := must[segmentd.List](t, "B creates list")(st.CreateList(c, b, "news", now))
	res := upsert(t, st, b, []string{lb.ID}, segmentd.ContactPatch{Email: str("x@example.com"), ExternalID: str("other-ext"),
		CustomFields: map[string]*segmentd.Value{fb.ID: {Type: segmentd.FieldNumber, Number: 2}}})
	if res.Created != 1 || len(res.Errors) != 0 {
		t.Fatalf("B's upsert of A's email = %+v", res)
	}
	noErr(t, "B deletes its field", st.DeleteFieldDefinition(c, b, fb.ID))
	if _, err := st.DeleteList(c, b, lb.ID); err != nil {
		t.Fatal(err)
	}
	if n := must[int](t, "DeleteAllContacts")(st.DeleteAllContacts(c, b)); n != 1 {
		t.Fatalf("B's DeleteAllContacts = %d, want 1", n)
	}
	sameSnapshot(t, "account B's calls", before, snap(t, st, a))
	if got := must[segmentd.Job](t, "Job")(st.Job(c, a, ja.ID)); got.Status != segmentd.JobCompleted {
		t.Fatalf("A's job changed: %+v", got)
	}
}

func testFailedCallsChangeNothing(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	c := ctx(t)
	f := must[segmentd.FieldDefinition](t, "create")(st.CreateFieldDefinition(c, acct, "score", segmentd.FieldNumber, 2, now))
	must[segmentd.FieldDefinition](t, "create")(st.CreateFieldDefinition(c, acct, "nick", segmentd.FieldText, 2, now))
	l := must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, "l", now))
	must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, "m", now))
	upsert(t, st, acct, []string{l.ID}, segmentd.ContactPatch{Email: str("a@example.com"),
		CustomFields: map[string]*segmentd.Value{f.ID: {Type: segmentd.FieldNumber, Number: 1}}})
	a := mustEmail(t, st, acct, "a@example.com")
	before := snap(t, st, acct)
	later := now.Add(time.Hour)

	for _, tc := range []struct {
		name string
		call func() error
		kind segmentd.ErrorKind
	}{
		{"CreateFieldDefinition beyond max", func() error {
			return errOnly(st.CreateFieldDefinition(c, acct, "third", segmentd.FieldText, 2, later))
		}, segmentd.KindInvalid},
		{"CreateFieldDefinition duplicate", func() error {
			return errOnly(st.CreateFieldDefinition(c, acct, "SCORE", segmentd.FieldText, 10, later))
		}, segmentd.KindConflict},
		{"RenameFieldDefinition conflict", func() error { return errOnly(st.RenameFieldDefinition(c, acct, f.ID, "Nick")) }, segmentd.KindConflict},
		{"DeleteFieldDefinition unknown", func() error { return st.DeleteFieldDefinition(c, acct, "n999") }, segmentd.KindNotFound},
		{"CreateList duplicate", func() error { return errOnly(st.CreateList(c, acct, "L", later)) }, segmentd.KindConflict},
		{"RenameList conflict", func() error { return errOnly(st.RenameList(c, acct, l.ID, "M", later)) }, segmentd.KindConflict},
		{"DeleteList unknown", func() error { return errOnly(st.DeleteList(c, acct, segmentd.NewID())) }, segmentd.KindNotFound},
		{"RemoveListMembers unknown list", func() error {
			return errOnly(st.RemoveListMembers(c, acct, segmentd.NewID(), []string{a.ID}))
		}, segmentd.KindNotFound},
		{"UpsertContacts unknown list", func() error {
			return errOnly(st.UpsertContacts(c, acct, []segmentd.ContactPatch{{Email: str("a@example.com"), FirstName: str("x")}}, []string{segmentd.NewID()}, later))
		}, segmentd.KindNotFound},
		{"DeleteIdentifier last", func() error {
			return st.DeleteIdentifier(c, acct, a.ID, segmentd.IdentifierEmail, "a@example.com", later)
		}, segmentd.KindInvalid},
		{"DeleteIdentifier wrong value", func() error {
			return st.DeleteIdentifier(c, acct, a.ID, segmentd.IdentifierEmail, "b@example.com", later)
		}, segmentd.KindNotFound},
	} {
		wantKind(t, tc.name, tc.call(), tc.kind)
		sameSnapshot(t, tc.name, before, snap(t, st, acct))
	}

	// An upsert whose every patch is refused changes nothing either.
	upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("b@example.com"), ExternalID: str("ext-b")})
	before = snap(t, st, acct)
	res := upsert(t, st, acct, []string{l.ID},
		segmentd.ContactPatch{Email: str("b@example.com"), FirstName: str("no")},                          // missing ext-b
		segmentd.ContactPatch{Email: str("a@example.com"), ExternalID: str("ext-b"), LastName: str("no")}, // two contacts
	)
	if res.Created != 0 || res.Updated != 0 || len(res.Errors) != 2 {
		t.Fatalf("UpsertContacts = %+v, want 2 errors", res)
	}
	sameSnapshot(t, "an upsert with only refused patches", before, snap(t, st, acct))
}

// testConcurrentUpserts runs overlapping upserts at once: no update is lost
// and one email never becomes two contacts.
func testConcurrentUpserts(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	c := ctx(t)
	const workers, perWorker, shared = 4, 25, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				ps := []segmentd.ContactPatch{
					{Email: str(fmt.Sprintf("shared%d@example.com", i%shared)), FirstName: str(fmt.Sprintf("w%d", w))},
					{Email: str(fmt.Sprintf("own%d-%d@example.com", w, i))},
				}
				if _, err := st.UpsertContacts(c, acct, ps, nil, now); err != nil {
					errs <- err
					return
				}
				if _, err := st.ContactsByEmails(c, acct, []string{fmt.Sprintf("own%d-%d@example.com", w, i)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := must[int](t, "CountContacts")(st.CountContacts(c, acct)); n != shared+workers*perWorker {
		t.Fatalf("CountContacts = %d, want %d", n, shared+workers*perWorker)
	}
	var want []string
	for w := range workers {
		for i := range perWorker {
			want = append(want, fmt.Sprintf("own%d-%d@example.com", w, i))
		}
	}
	m := must[map[string]segmentd.Contact](t, "ContactsByEmails")(st.ContactsByEmails(c, acct, want))
	if len(m) != len(want) {
		t.Fatalf("found %d of %d contacts written concurrently", len(m), len(want))
	}
}
