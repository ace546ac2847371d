package storetest

import (
	"reflect"
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
	wantKind(t, "DeleteTag(another account's)", st.DeleteTag(ctx(t), acct, theirs.ID), segmentd.KindNotFound)
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

	noErr(t, "DeleteTag", st.DeleteTag(ctx(t), acct, silver.ID))
	_, err = st.Tag(ctx(t), acct, silver.ID)
	wantKind(t, "Tag(deleted)", err, segmentd.KindNotFound)
	wantKind(t, "DeleteTag(deleted)", st.DeleteTag(ctx(t), acct, silver.ID), segmentd.KindNotFound)
	// Its name is free again, and the count is back under max.
	must[segmentd.Tag](t, "CreateTag(the deleted tag's name)")(st.CreateTag(ctx(t), acct, "Silver", "", 3, now))
	if n := must[int](t, "CountTags(other)")(st.CountTags(ctx(t), other)); n != 1 {
		t.Fatalf("CountTags(other) = %d, want 1", n)
	}
}
