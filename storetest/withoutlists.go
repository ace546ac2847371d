package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/segmentd/segmentd"
)

// testReadsWithoutLists reads contacts by each read by contact with and
// without segmentd.WithoutLists: the contacts are the same, but that
// with the mark a store may leave ListIDs out (empty), never give part
// of them; and the mark changes nothing of a read without it.
func testReadsWithoutLists(t *testing.T, st segmentd.Store) {
	acct := newAccount(t, st, "acme")
	c := ctx(t)
	lean := segmentd.WithoutLists(c)
	l1 := must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, "l1", now))
	l2 := must[segmentd.List](t, "CreateList")(st.CreateList(c, acct, "l2", now))
	gold := must[segmentd.Tag](t, "CreateTag")(st.CreateTag(c, acct, "gold", "", 10, now))
	// 40 contacts (more than the SQLite store seeks alone): every other
	// one on l1, every third on l2, some on neither.
	const n = 40
	var ps []segmentd.ContactPatch
	for i := range n {
		p := segmentd.ContactPatch{Email: str(fmt.Sprintf("w%02d@example.com", i)), ExternalID: str(fmt.Sprintf("x%02d", i))}
		if i == 3 {
			p.AlternateEmails = strs("alt3@example.com")
		}
		ps = append(ps, p)
	}
	ids := make([]string, n)
	for i, rc := range upsert(t, st, acct, nil, ps...).Contacts {
		ids[i] = rc.ID
	}
	var on1, on2 []segmentd.ContactPatch
	for i, p := range ps {
		if i%2 == 0 {
			on1 = append(on1, segmentd.ContactPatch{Email: p.Email, ExternalID: p.ExternalID})
		}
		if i%3 == 0 {
			on2 = append(on2, segmentd.ContactPatch{Email: p.Email, ExternalID: p.ExternalID})
		}
	}
	upsert(t, st, acct, []string{l1.ID}, on1...)
	upsert(t, st, acct, []string{l2.ID}, on2...)
	noErr(t, "TagContacts", errOnly(st.TagContacts(c, acct, []string{gold.ID}, ids[:5], now)))

	same := func(what string, plain, left []segmentd.Contact) {
		t.Helper()
		if len(plain) != len(left) {
			t.Fatalf("%s: %d contacts, %d with WithoutLists", what, len(plain), len(left))
		}
		withLists := 0
		for i := range plain {
			p, l := plain[i], left[i]
			if len(p.ListIDs) > 0 {
				withLists++
			}
			if len(l.ListIDs) > 0 && !slices.Equal(l.ListIDs, p.ListIDs) {
				t.Fatalf("%s: contact %s has lists %v with WithoutLists, %v without: some of them", what, p.ID, l.ListIDs, p.ListIDs)
			}
			l.ListIDs = p.ListIDs
			if !reflect.DeepEqual(p, l) {
				t.Fatalf("%s: contact with WithoutLists, lists aside\n got %+v\nwant %+v", what, l, p)
			}
		}
		if withLists == 0 {
			t.Fatalf("%s: no contact read without WithoutLists has its lists", what)
		}
	}
	one := func(ctx0 context.Context) []segmentd.Contact {
		return []segmentd.Contact{must[segmentd.Contact](t, "Contact")(st.Contact(ctx0, acct, ids[0]))}
	}
	same("Contact", one(c), one(lean))
	spread := []string{ids[0], ids[3], ids[6], ids[9], segmentd.NewID()}
	same("ContactsByIDs (a few)", must[[]segmentd.Contact](t, "ContactsByIDs")(st.ContactsByIDs(c, acct, spread)),
		must[[]segmentd.Contact](t, "ContactsByIDs")(st.ContactsByIDs(lean, acct, spread)))
	same("ContactsByIDs (all)", must[[]segmentd.Contact](t, "ContactsByIDs")(st.ContactsByIDs(c, acct, ids)),
		must[[]segmentd.Contact](t, "ContactsByIDs")(st.ContactsByIDs(lean, acct, ids)))
	emails := []string{"w00@example.com", "alt3@example.com", "w04@example.com", "nobody@example.com"}
	byEmail := func(ctx0 context.Context) []segmentd.Contact {
		m := must[map[string]segmentd.Contact](t, "ContactsByEmails")(st.ContactsByEmails(ctx0, acct, emails))
		if len(m) != 3 {
			t.Fatalf("ContactsByEmails: %d found, want 3", len(m))
		}
		return []segmentd.Contact{m[emails[0]], m[emails[1]], m[emails[2]]}
	}
	same("ContactsByEmails", byEmail(c), byEmail(lean))
	byIdent := func(ctx0 context.Context) []segmentd.Contact {
		m := must[map[string]segmentd.Contact](t, "ContactsByIdentifier")(st.ContactsByIdentifier(ctx0, acct, segmentd.IdentifierExternalID, []string{"x00", "x02"}))
		return []segmentd.Contact{m["x00"], m["x02"]}
	}
	same("ContactsByIdentifier", byIdent(c), byIdent(lean))
	same("SampleContacts", must[[]segmentd.Contact](t, "SampleContacts")(st.SampleContacts(c, acct, 50)),
		must[[]segmentd.Contact](t, "SampleContacts")(st.SampleContacts(lean, acct, 50)))
}
