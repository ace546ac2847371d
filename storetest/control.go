package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// The control plane's contract (docs/admin.md): API keys listed and
// revoked, accounts reset and deleted, and what the change history tells
// a reader of either.

// ControlStore is a store with every part an account's data lives in.
type ControlStore interface {
	segmentd.Store
	segmentd.SegmentStore
	segmentd.CCSegmentStore
	segmentd.EventStore
	segmentd.WebhookKeyStore
	segmentd.JobQueue
}

// RunControl runs the control-plane contract. open must return a new,
// empty store (and close it when the test ends).
func RunControl(t *testing.T, open func(t *testing.T) ControlStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, st ControlStore)
	}{
		{"APIKeysListAndRevoke", testAPIKeysListAndRevoke},
		{"ResetAccount", testResetAccount},
		{"DeleteAccount", testDeleteAccount},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func createKey(t *testing.T, st segmentd.Store, acct int64, secret string) segmentd.APIKey {
	t.Helper()
	return must[segmentd.APIKey](t, "CreateAPIKey")(st.CreateAPIKey(ctx(t), segmentd.APIKey{
		AccountID: acct, Name: "k " + secret, Hash: segmentd.HashAPIKey(secret), Scopes: segmentd.AllScopes, CreatedAt: now}))
}

func keyIDs(ks []segmentd.APIKey) []int64 {
	ids := make([]int64, len(ks))
	for i, k := range ks {
		ids[i] = k.ID
	}
	return ids
}

func testAPIKeysListAndRevoke(t *testing.T, st ControlStore) {
	a, b := newAccount(t, st, "a"), newAccount(t, st, "b")
	ka1, kb, ka2 := createKey(t, st, a, "SG.a.1"), createKey(t, st, b, "SG.b.1"), createKey(t, st, a, "SG.a.2")
	all := must[[]segmentd.APIKey](t, "APIKeys(0)")(st.APIKeys(ctx(t), 0))
	if want := []segmentd.APIKey{ka1, kb, ka2}; !reflect.DeepEqual(all, want) {
		t.Fatalf("APIKeys(every account) = %+v, want %+v", all, want)
	}
	if got := keyIDs(must[[]segmentd.APIKey](t, "APIKeys(a)")(st.APIKeys(ctx(t), a))); !slices.Equal(got, []int64{ka1.ID, ka2.ID}) {
		t.Fatalf("APIKeys(a) = %v, want %v", got, []int64{ka1.ID, ka2.ID})
	}
	if got := must[[]segmentd.APIKey](t, "APIKeys(unknown)")(st.APIKeys(ctx(t), 4242)); len(got) != 0 {
		t.Fatalf("APIKeys(unknown account) = %+v, want none", got)
	}

	noErr(t, "RevokeAPIKey", st.RevokeAPIKey(ctx(t), ka1.ID))
	_, err := st.APIKeyByHash(ctx(t), ka1.Hash)
	wantKind(t, "APIKeyByHash(revoked)", err, segmentd.KindNotFound)
	must[segmentd.APIKey](t, "APIKeyByHash(the account's other key)")(st.APIKeyByHash(ctx(t), ka2.Hash))
	wantKind(t, "RevokeAPIKey(again)", st.RevokeAPIKey(ctx(t), ka1.ID), segmentd.KindNotFound)
	wantKind(t, "RevokeAPIKey(unknown)", st.RevokeAPIKey(ctx(t), 987654), segmentd.KindNotFound)
	if got := keyIDs(must[[]segmentd.APIKey](t, "APIKeys(0)")(st.APIKeys(ctx(t), 0))); !slices.Equal(got, []int64{kb.ID, ka2.ID}) {
		t.Fatalf("APIKeys after a revoke = %v, want %v", got, []int64{kb.ID, ka2.ID})
	}
}

var ctlT0 = time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC)

// accountContents is what an account holds in every part of the store.
type accountContents struct {
	snapshot
	Segments   []segmentd.Segment
	CCSegments []segmentd.CCSegment
	Tags       []segmentd.Tag
	Events     []string
	WebhookKey string
	Keys       []segmentd.APIKey
}

func contents(t *testing.T, st ControlStore, acct int64) accountContents {
	t.Helper()
	c := accountContents{snapshot: snap(t, st, acct)}
	c.Segments = must[[]segmentd.Segment](t, "Segments")(st.Segments(ctx(t), acct))
	c.CCSegments = must[[]segmentd.CCSegment](t, "CCSegments")(st.CCSegments(ctx(t), acct, segmentd.CCSegmentPage{}))
	c.Tags = must[[]segmentd.Tag](t, "Tags")(st.Tags(ctx(t), acct, "", 100))
	c.Events = eventKeys(scanAll(t, st, acct))
	c.WebhookKey = must[string](t, "WebhookKey")(st.WebhookKey(ctx(t), acct))
	c.Keys = must[[]segmentd.APIKey](t, "APIKeys")(st.APIKeys(ctx(t), acct))
	return c
}

// fill gives an account something in every part of the store, and
// returns the id of its finished job and of its pending one.
func fill(t *testing.T, st ControlStore, acct int64, tag string) (finished, pending string) {
	t.Helper()
	f := must[segmentd.FieldDefinition](t, "CreateFieldDefinition")(st.CreateFieldDefinition(ctx(t), acct, "plan", segmentd.FieldText, 10, now))
	l := must[segmentd.List](t, "CreateList")(st.CreateList(ctx(t), acct, "customers", now))
	upsert(t, st, acct, []string{l.ID},
		segmentd.ContactPatch{Email: str(tag + "-ada@example.com"), AlternateEmails: strs(tag + "-ada@old.example.com"),
			CustomFields: map[string]*segmentd.Value{f.ID: {Type: segmentd.FieldText, Text: "pro"}}},
		segmentd.ContactPatch{Email: str(tag + "-bob@example.com"), ExternalID: str(tag + "-x")})
	seg := newSegment("pro")
	must[segmentd.Segment](t, "CreateSegment")(st.CreateSegment(ctx(t), acct, seg, 10))
	noErr(t, "RecordRefresh", st.RecordRefresh(ctx(t), acct, segmentd.Refresh{SegmentID: seg.ID, At: ctlT0}, ctlT0.Add(-time.Hour), func([]segmentd.Refresh) error { return nil }))
	mustCreateCC(t, st, acct, newCC("opened", ctlT0))
	must[segmentd.Tag](t, "CreateTag")(st.CreateTag(ctx(t), acct, "gold", tag, 10, now))
	must[segmentd.EventsResult](t, "AddEvents")(st.AddEvents(ctx(t), acct, []segmentd.Event{
		ev(tag+"-ada@example.com", "open", tag+"-e1", ctlT0), ev(tag+"-nobody@example.com", "click", tag+"-e2", ctlT0)}))
	done := pendingJob(acct, 2)
	done.Finish(ctlT0)
	noErr(t, "CreateJob", st.CreateJob(ctx(t), done))
	queued := pendingJob(acct, 1)
	noErr(t, "AcceptJob", st.AcceptJob(ctx(t), queued, []byte("input"), "server", ctlT0.Add(time.Hour)))
	noErr(t, "SetWebhookKey", st.SetWebhookKey(ctx(t), acct, "key of "+tag))
	return done.ID, queued.ID
}

// testResetAccount: a reset empties every part of the account but its
// keys, webhook key and pending jobs, leaves other accounts alone, tells
// a reader of the history where it happened, and the account takes new
// data afterwards as a new one would, without giving a field id twice.
func testResetAccount(t *testing.T, st ControlStore) {
	acct, other := newAccount(t, st, "a"), newAccount(t, st, "b")
	key := createKey(t, st, acct, "SG.a.1")
	finished, pending := fill(t, st, acct, "a")
	fill(t, st, other, "b")
	oldFields := fieldIDs(must[[]segmentd.FieldDefinition](t, "FieldDefinitions")(st.FieldDefinitions(ctx(t), acct)))
	before := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t)))
	otherBefore := contents(t, st, other)

	seq := must[int64](t, "ResetAccount")(st.ResetAccount(ctx(t), acct))
	if seq <= before.Seq(acct) {
		t.Fatalf("ResetAccount took change %d, not after the account's %d", seq, before.Seq(acct))
	}
	got := contents(t, st, acct)
	want := accountContents{snapshot: snapshot{Fields: []segmentd.FieldDefinition{}, Lists: []segmentd.List{}, Contacts: []segmentd.Contact{}},
		Segments: []segmentd.Segment{}, CCSegments: []segmentd.CCSegment{}, Tags: []segmentd.Tag{}, Events: []string{}, WebhookKey: "key of a", Keys: []segmentd.APIKey{key}}
	if !reflect.DeepEqual(normal(got), normal(want)) {
		t.Fatalf("the account after its reset holds %+v, want %+v", got, want)
	}
	if n := must[int](t, "CountContacts")(st.CountContacts(ctx(t), acct)); n != 0 {
		t.Fatalf("CountContacts after the reset = %d", n)
	}
	if refs := must[[]segmentd.Refresh](t, "Refreshes")(st.Refreshes(ctx(t), acct, ctlT0.Add(-24*time.Hour))); len(refs) != 0 {
		t.Fatalf("refreshes after the reset: %+v", refs)
	}
	_, err := st.Job(ctx(t), acct, finished)
	wantKind(t, "Job(finished before the reset)", err, segmentd.KindNotFound)
	if j := must[segmentd.Job](t, "Job(pending)")(st.Job(ctx(t), acct, pending)); j.Status != segmentd.JobPending {
		t.Fatalf("the pending job after the reset: %+v", j)
	}
	if id := nextJob(t, st, acct, ctlT0); id != pending {
		t.Fatalf("NextJob after the reset = %q, want the pending job %s", id, pending)
	}
	must[segmentd.Account](t, "Account")(st.Account(ctx(t), acct))
	must[segmentd.APIKey](t, "APIKeyByHash")(st.APIKeyByHash(ctx(t), key.Hash))
	if after := contents(t, st, other); !reflect.DeepEqual(normal(after), normal(otherBefore)) {
		t.Fatalf("the reset changed another account:\nbefore %+v\nafter  %+v", otherBefore, after)
	}

	// The history: a reader behind the reset learns where it happened
	// and nothing else; one after it, nothing.
	ch := must[segmentd.AccountChanges](t, "Changes")(st.Changes(ctx(t), acct, before.Seq(acct), 0, 100))
	if ch.ResetAt != seq || ch.Dropped || ch.Catalog || ch.AllDeleted || len(ch.Changed)+len(ch.Deleted)+len(ch.Events)+len(ch.Attached) != 0 {
		t.Fatalf("Changes across the reset = %+v, want only ResetAt %d", ch, seq)
	}
	if ch := changes(t, st, acct, 0); ch.ResetAt != seq {
		t.Fatalf("Changes from the start = %+v, want ResetAt %d", ch, seq)
	}
	if ch := changes(t, st, acct, seq); ch.ResetAt != 0 || ch.Dropped || len(ch.Changed) != 0 {
		t.Fatalf("Changes after the reset = %+v, want nothing", ch)
	}
	if ch := changes(t, st, other, before.Seq(other)); ch.ResetAt != 0 {
		t.Fatalf("the other account's Changes report a reset: %+v", ch)
	}

	// New data after the reset: a new field id, contacts and events the
	// history reports from the reset on, with events from the start.
	f := must[segmentd.FieldDefinition](t, "CreateFieldDefinition")(st.CreateFieldDefinition(ctx(t), acct, "plan", segmentd.FieldNumber, 10, now))
	if slices.Contains(oldFields, f.ID) {
		t.Fatalf("the field created after the reset got id %s again (before it: %v)", f.ID, oldFields)
	}
	res := upsert(t, st, acct, nil, segmentd.ContactPatch{Email: str("a-ada@example.com")})
	must[segmentd.EventsResult](t, "AddEvents")(st.AddEvents(ctx(t), acct, []segmentd.Event{ev("a-ada@example.com", "open", "a-e1", ctlT0)}))
	if cc := mustCreateCC(t, st, acct, newCC("opened", ctlT0)); cc.ID <= 0 {
		t.Fatalf("CreateCCSegment after the reset = %+v", cc)
	}
	ch = must[segmentd.AccountChanges](t, "Changes")(st.Changes(ctx(t), acct, seq, 0, 100))
	if ch.ResetAt != 0 || !ch.Catalog || !slices.Equal(ch.Changed, []string{res.Contacts[0].ID}) || len(ch.Events) != 1 || ch.Events[0].SGEventID != "a-e1" {
		t.Fatalf("Changes after the reset, once written to = %+v", ch)
	}
	wantKind(t, "ResetAccount(unknown)", errOnly(st.ResetAccount(ctx(t), 4242)), segmentd.KindNotFound)
}

// normal makes empty slices nil, for comparisons.
func normal(c accountContents) accountContents {
	if len(c.Fields) == 0 {
		c.Fields = nil
	}
	if len(c.Lists) == 0 {
		c.Lists = nil
	}
	if len(c.Contacts) == 0 {
		c.Contacts = nil
	}
	if len(c.Segments) == 0 {
		c.Segments = nil
	}
	if len(c.CCSegments) == 0 {
		c.CCSegments = nil
	}
	if len(c.Tags) == 0 {
		c.Tags = nil
	}
	if len(c.Events) == 0 {
		c.Events = nil
	}
	if len(c.Keys) == 0 {
		c.Keys = nil
	}
	return c
}

// testDeleteAccount: an account with subusers is refused; a deleted one
// is gone with its data and keys, its id is never given again, its name
// is free, and the history tells a reader it was dropped.
func testDeleteAccount(t *testing.T, st ControlStore) {
	parent := newAccount(t, st, "parent")
	sub := must[segmentd.Account](t, "CreateAccount(sub)")(st.CreateAccount(ctx(t), "sub", parent, now))
	other := newAccount(t, st, "other")
	keyP, keyS := createKey(t, st, parent, "SG.p.1"), createKey(t, st, sub.ID, "SG.s.1")
	createKey(t, st, other, "SG.o.1")
	fill(t, st, sub.ID, "s")
	fill(t, st, other, "o")
	otherBefore := contents(t, st, other)
	before := must[segmentd.ChangeMark](t, "ChangeMark")(st.ChangeMark(ctx(t)))

	wantKind(t, "DeleteAccount(with a subuser)", st.DeleteAccount(ctx(t), parent), segmentd.KindConflict)
	must[segmentd.APIKey](t, "APIKeyByHash(refused deletion's)")(st.APIKeyByHash(ctx(t), keyP.Hash))
	must[segmentd.Account](t, "Account(refused deletion's)")(st.Account(ctx(t), parent))

	noErr(t, "DeleteAccount(sub)", st.DeleteAccount(ctx(t), sub.ID))
	_, err := st.Account(ctx(t), sub.ID)
	wantKind(t, "Account(deleted)", err, segmentd.KindNotFound)
	_, err = st.AccountByName(ctx(t), "sub")
	wantKind(t, "AccountByName(deleted)", err, segmentd.KindNotFound)
	_, err = st.APIKeyByHash(ctx(t), keyS.Hash)
	wantKind(t, "APIKeyByHash(deleted account's)", err, segmentd.KindNotFound)
	want := accountContents{}
	if got := contents(t, st, sub.ID); !reflect.DeepEqual(normal(got), want) {
		t.Fatalf("the deleted account still holds %+v", got)
	}
	if id := nextJob(t, st, sub.ID, ctlT0); id != "" {
		t.Fatalf("the deleted account's pending job is still queued: %s", id)
	}
	if after := contents(t, st, other); !reflect.DeepEqual(normal(after), normal(otherBefore)) {
		t.Fatalf("the deletion changed another account:\nbefore %+v\nafter  %+v", otherBefore, after)
	}
	for _, after := range []int64{0, before.Seq(sub.ID)} {
		if ch := must[segmentd.AccountChanges](t, "Changes")(st.Changes(ctx(t), sub.ID, after, 0, 100)); !ch.Dropped || ch.ResetAt != 0 || len(ch.Changed)+len(ch.Events) != 0 {
			t.Fatalf("Changes(after %d) of the deleted account = %+v, want Dropped", after, ch)
		}
	}

	// Now the parent may go; its name is free again, and no id comes back.
	noErr(t, "DeleteAccount(parent)", st.DeleteAccount(ctx(t), parent))
	wantKind(t, "DeleteAccount(again)", st.DeleteAccount(ctx(t), parent), segmentd.KindNotFound)
	again := must[segmentd.Account](t, "CreateAccount(the name again)")(st.CreateAccount(ctx(t), "sub", 0, now))
	if again.ID <= max(parent, sub.ID, other) {
		t.Fatalf("a new account got id %d, not past every id given before (%d, %d, %d)", again.ID, parent, sub.ID, other)
	}
	if got := contents(t, st, again.ID); !reflect.DeepEqual(normal(got), accountContents{}) {
		t.Fatalf("the new account holds %+v", got)
	}
	accts := must[[]segmentd.Account](t, "Accounts")(st.Accounts(ctx(t)))
	var names []string
	for _, a := range accts {
		names = append(names, a.Name)
	}
	if !slices.Equal(names, []string{"other", "sub"}) {
		t.Fatalf("Accounts after the deletions = %v, want [other sub]", names)
	}
}
