package sqlite

import (
	"context"
	"fmt"
	"testing"

	"github.com/segmentd/segmentd"
)

// TestReadsWithoutLists: with segmentd.WithoutLists every read by contact
// leaves the lists out (the contract allows a store to fill them; this
// store does not, which is the point: docs/sqlite.md, "Lists from the
// engine"), and without it fills them.
func TestReadsWithoutLists(t *testing.T) {
	s, a, lists := accountWithLists(t, 2)
	ctx := t.Context()
	lean := segmentd.WithoutLists(ctx)
	const n = 40 // past seekListsAlone: the ranges' way as well
	emails := make([]string, n)
	patches := make([]segmentd.ContactPatch, n)
	for i := range patches {
		emails[i] = fmt.Sprintf("c%03d@example.com", i)
		patches[i] = segmentd.ContactPatch{Email: &emails[i]}
	}
	res, err := s.UpsertContacts(ctx, a.ID, patches, lists, testNow)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	for i, c := range res.Contacts {
		ids[i] = c.ID
	}
	check := func(what string, read func(ctx0 context.Context) ([]segmentd.Contact, error)) {
		t.Helper()
		for _, leave := range []bool{false, true} {
			c0 := ctx
			if leave {
				c0 = lean
			}
			cs, err := read(c0)
			if err != nil || len(cs) == 0 {
				t.Fatalf("%s: %d contacts, %v", what, len(cs), err)
			}
			for _, c := range cs {
				if got := len(c.ListIDs); leave && got != 0 || !leave && got != len(lists) {
					t.Fatalf("%s (WithoutLists %v): contact %s has lists %v", what, leave, c.ID, c.ListIDs)
				}
			}
		}
	}
	check("Contact", func(c0 context.Context) ([]segmentd.Contact, error) {
		c, err := s.Contact(c0, a.ID, ids[7])
		return []segmentd.Contact{c}, err
	})
	check("ContactsByIDs (a few)", func(c0 context.Context) ([]segmentd.Contact, error) {
		return s.ContactsByIDs(c0, a.ID, ids[:3])
	})
	check("ContactsByIDs (all)", func(c0 context.Context) ([]segmentd.Contact, error) {
		return s.ContactsByIDs(c0, a.ID, ids)
	})
	check("ContactsByEmails", func(c0 context.Context) ([]segmentd.Contact, error) {
		m, err := s.ContactsByEmails(c0, a.ID, emails)
		return values(m), err
	})
	check("ContactsByIdentifier", func(c0 context.Context) ([]segmentd.Contact, error) {
		m, err := s.ContactsByIdentifier(c0, a.ID, segmentd.IdentifierEmail, emails[:5])
		return values(m), err
	})
	check("SampleContacts", func(c0 context.Context) ([]segmentd.Contact, error) {
		return s.SampleContacts(c0, a.ID, 50)
	})
}

func values(m map[string]segmentd.Contact) []segmentd.Contact {
	out := make([]segmentd.Contact, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	return out
}
