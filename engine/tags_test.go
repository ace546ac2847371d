package engine

import (
	"reflect"
	"slices"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/criteria"
)

// TestTags: a contact's tags are what it was last put with; the engine
// counts each tag's contacts, lists the contacts of any of several tags,
// renders TagIDs, forgets a tag on nobody, keeps a criteria segment by
// tag exact through taggings, untaggings, a tag's delete and a
// contact's; and a snapshot carries the tags.
func TestTags(t *testing.T) {
	e := New()
	mem := Membership{Engine: e}
	const gold, blue = "11111111-2222-3333-4444-555555555555", "22222222-2222-3333-4444-555555555555"
	c, err := criteria.Parse(`{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"tags","field":"tag_id","op":"contains-any","const_value":"` + gold + `"}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.PutCriteriaSegment(1, "cc:gold", c, "", base); err != nil {
		t.Fatal(err)
	}
	a := segmentd.Contact{ID: "a", Email: "a@x.test", TagIDs: []string{gold, blue}, CreatedAt: base, UpdatedAt: base}
	b := segmentd.Contact{ID: "b", Email: "b@x.test", TagIDs: []string{blue}, CreatedAt: base, UpdatedAt: base}
	d := segmentd.Contact{ID: "d", Email: "d@x.test", CreatedAt: base, UpdatedAt: base}
	e.PutContacts(1, []segmentd.Contact{a, b, d}, base)
	check := func(what string, wantGold, wantBlue int, members []string) {
		t.Helper()
		if g, bl := e.TagCount(1, gold), e.TagCount(1, blue); g != wantGold || bl != wantBlue {
			t.Fatalf("%s: TagCount gold %d, blue %d; want %d, %d", what, g, bl, wantGold, wantBlue)
		}
		got := e.Members(1, "cc:gold", -1, base)
		slices.Sort(got)
		if !slices.Equal(got, members) {
			t.Fatalf("%s: segment by tag = %v, want %v", what, got, members)
		}
	}
	check("put", 1, 2, []string{"a"})
	if got, n := e.TaggedContacts(1, []string{gold, blue, "unknown"}, 0, 10); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"a", "b"}) || n != 2 {
		t.Fatalf("TaggedContacts = %v, %d", got, n)
	}
	first, _ := e.TaggedContacts(1, []string{gold, blue}, 0, 1)
	second, n := e.TaggedContacts(1, []string{gold, blue}, 1, 1)
	if len(first) != 1 || len(second) != 1 || first[0] == second[0] || n != 2 {
		t.Fatalf("TaggedContacts pages = %v, %v (%d)", first, second, n)
	}
	if past, n := e.TaggedContacts(1, []string{gold}, 5, 1); past != nil || n != 1 {
		t.Fatalf("TaggedContacts past the end = %v, %d", past, n)
	}
	if got := e.ContactsByIDs(1, []string{"a"}, base); len(got) != 1 || !reflect.DeepEqual(got[0].TagIDs, []string{gold, blue}) {
		t.Fatalf("rendered contact = %+v", got)
	}

	// b is tagged gold, a untagged: each is a put of its full state.
	b.TagIDs = []string{gold, blue}
	a.TagIDs = []string{blue}
	e.PutContacts(1, []segmentd.Contact{a, b}, base)
	check("retagged", 1, 2, []string{"b"})

	e2, _ := roundTrip(t, e)
	if err := e2.PutCriteriaSegment(1, "cc:gold", c, "", base); err != nil {
		t.Fatal(err)
	}
	if got := e2.Members(1, "cc:gold", -1, base); !slices.Equal(got, []string{"b"}) || e2.TagCount(1, blue) != 2 {
		t.Fatalf("after a snapshot: members %v, blue %d", got, e2.TagCount(1, blue))
	}

	mem.DeleteTag(1, gold, base)
	check("gold deleted", 0, 2, nil)
	e.DeleteContacts(1, []string{"b"}, base)
	check("b deleted", 0, 1, nil)
	mem.DeleteTag(1, blue, base)
	if len(e.tagsOf(1)) != 0 {
		t.Fatalf("tags left on nobody: %v", e.tagsOf(1))
	}
}

// tagsOf returns the tags the engine holds for acct.
func (e *Engine) tagsOf(acct int64) []string {
	a := e.get(acct)
	var out []string
	for _, l := range a.tags.order {
		out = append(out, l.id)
	}
	return out
}
