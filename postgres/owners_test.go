package postgres

import (
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// The owners of events' emails that a store remembers (owners.go) are
// used only while no write that can change a contact moved their epoch,
// whichever server wrote: an event always goes to the contact its email
// names when it is stored. Two stores on one schema stand for two servers.
func TestEventOwnersRemembered(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := context.Background()
		sts := twoServers(t, srv)
		a, b := sts[0], sts[1]
		now := time.Now().UTC()
		acct, err := a.CreateAccount(ctx, "owners", 0, now)
		if err != nil {
			t.Fatal(err)
		}
		upsert := func(st *Store, email string) string {
			t.Helper()
			p := segmentd.ContactPatch{Email: &email}
			res, err := st.UpsertContacts(ctx, acct.ID, []segmentd.ContactPatch{p}, nil, now)
			if err != nil || len(res.Errors) > 0 || len(res.Contacts) != 1 {
				t.Fatalf("upsert %s: %v %+v", email, err, res)
			}
			return res.Contacts[0].ID
		}
		n := 0
		event := func(st *Store, email, want string) {
			t.Helper()
			n++
			res, err := st.AddEvents(ctx, acct.ID, []segmentd.Event{{Email: email, Type: "open", Timestamp: now, SGEventID: "ev-" + string(rune('a'+n))}})
			if err != nil || len(res.Events) != 1 {
				t.Fatalf("event for %s: %v %+v", email, err, res)
			}
			if got := res.Events[0].ContactID; got != want {
				t.Fatalf("event %d for %s went to %q, want %q", n, email, got, want)
			}
		}
		first := upsert(a, "x@example.com")
		event(a, "x@example.com", first)
		event(a, "nobody@example.com", "")
		// Remembered now: the next batch, with no write in between, sends them.
		var epoch int64
		if err := a.pool.QueryRow(ctx, "SELECT change_seq - event_changes FROM account_changes WHERE account_id = $1", acct.ID).Scan(&epoch); err != nil {
			t.Fatal(err)
		}
		if k := a.owners.known(acct.ID, epoch, []string{"x@example.com", "nobody@example.com"}); k == nil || *k[0] != first || *k[1] != "" {
			t.Fatalf("the owners remembered after two batches: %v", k)
		}
		event(a, "x@example.com", first)

		// Another server deletes x@'s contact, makes a new one with its
		// email, and creates nobody@.
		if _, err := b.DeleteContacts(ctx, acct.ID, []string{first}); err != nil {
			t.Fatal(err)
		}
		second := upsert(b, "x@example.com")
		third := upsert(b, "nobody@example.com")
		event(a, "x@example.com", second)
		event(a, "nobody@example.com", third)
		// This server's own write too.
		if _, err := a.DeleteContacts(ctx, acct.ID, []string{second}); err != nil {
			t.Fatal(err)
		}
		event(a, "x@example.com", "")
		event(a, "nobody@example.com", third)
	})
}

// The remembered owners stay bounded and are not kept for good: an
// account's stale owners go when its next batch finds them stale, and
// when the memory is full the other accounts' owners make room, so a
// busy account keeps learning after idle ones filled it.
func TestEventOwnersBounded(t *testing.T) {
	var o owners
	o.learn(1, 5, map[string]string{"a@example.com": "c1"})
	if got := o.known(1, 5, []string{"a@example.com"}); got == nil || *got[0] != "c1" {
		t.Fatalf("known right after learning: %v", got)
	}
	if got := o.known(1, 9, []string{"a@example.com"}); got != nil || o.accts[1] != nil || o.n != 0 {
		t.Fatalf("stale owners kept: %v, %v, n=%d", got, o.accts[1], o.n)
	}
	idle := make(map[string]string, maxOwners)
	for i := range maxOwners {
		idle[fmt.Sprintf("u%d@example.com", i)] = ""
	}
	o.learn(2, 3, idle)
	if o.n != maxOwners {
		t.Fatalf("n = %d after filling, want %d", o.n, maxOwners)
	}
	o.learn(3, 7, map[string]string{"b@example.com": "c2"})
	if got := o.known(3, 7, []string{"b@example.com"}); got == nil || *got[0] != "c2" {
		t.Fatalf("a busy account learned nothing once an idle one filled the memory: %v", got)
	}
	if o.accts[2] != nil || o.n != 1 {
		t.Fatalf("the idle account's owners were not dropped: n=%d", o.n)
	}
}

// Emails whose hashes are equal never share an entry: with every email
// hashing alike, one is remembered and the others stay unknown (looked
// up in the database), never given the remembered one's owner.
func TestEventOwnersHashCollision(t *testing.T) {
	o := owners{hash: func(string) uint64 { return 1 }}
	o.learn(1, 5, map[string]string{"a@example.com": "c1", "b@example.com": "c2", "c@example.com": ""})
	got := o.known(1, 5, []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"})
	if got == nil {
		t.Fatal("nothing known")
	}
	want := map[string]string{"a@example.com": "c1", "b@example.com": "c2", "c@example.com": ""}
	hits := 0
	for i, e := range []string{"a@example.com", "b@example.com", "c@example.com", "d@example.com"} {
		if got[i] == nil {
			continue
		}
		hits++
		if w, ok := want[e]; !ok || *got[i] != w {
			t.Errorf("%s: known owner %q, want %q (remembered: %v)", e, *got[i], w, ok)
		}
	}
	if hits != 1 || o.n != 1 {
		t.Errorf("%d emails known, %d remembered; want 1 of 3 sharing a hash", hits, o.n)
	}
}

// An upsert's membership-only patches (an email alone) skip the rows of
// the contacts the store remembers that email naming (owners.go,
// upsert.go) only while no other write that can change an owner moved the
// owners' epoch (another server's event batch does not), and each upsert
// keeps what is remembered true: the contact it gives
// another identifier is no longer matched by its email alone, and the
// emails whose owner it changes are learned anew or forgotten, for the
// events as for the upserts. Two stores on one schema stand for two
// servers.
func TestUpsertOwnersRemembered(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := context.Background()
		sts := twoServers(t, srv)
		a, b := sts[0], sts[1]
		now := time.Now().UTC()
		acctID, lists := accountWithLists(t, a, "upsert owners", "one", "two", "three", "four", "five")
		upsert := func(st *Store, p segmentd.ContactPatch, list string) segmentd.UpsertResult {
			t.Helper()
			res, err := st.UpsertContacts(ctx, acctID, []segmentd.ContactPatch{p}, []string{list}, now)
			if err != nil {
				t.Fatalf("upsert %s: %v", *p.Email, err)
			}
			return res
		}
		ptr := func(s string) *string { return &s }
		only := func(email string) segmentd.ContactPatch { return segmentd.ContactPatch{Email: &email} }
		epoch := func() int64 {
			t.Helper()
			var ep int64
			if err := a.pool.QueryRow(ctx, "SELECT change_seq - event_changes FROM account_changes WHERE account_id = $1", acctID).Scan(&ep); err != nil {
				t.Fatal(err)
			}
			return ep
		}
		onList := func(list, want string) {
			t.Helper()
			var n int
			if err := a.pool.QueryRow(ctx, "SELECT count(*) FROM list_members WHERE account_id = $1 AND list_id = $2 AND contact_id = $3", acctID, list, want).Scan(&n); err != nil || n != 1 {
				t.Fatalf("contact %s on list %s: %d rows, %v", want, list, n, err)
			}
		}
		name := "Ann"
		res := upsert(a, segmentd.ContactPatch{Email: ptr("x@example.com"), FirstName: &name}, lists[0])
		x := res.Contacts[0].ID
		if got := a.owners.soleOwners(acctID, epoch()+1, []string{"x@example.com"}); len(got) != 1 || got[0] != x {
			t.Fatalf("the upsert's contact is not remembered: %v", got)
		}
		// Another server's event batch takes a change number but changes no
		// contact: what is remembered stays true for the next upsert.
		if _, err := b.AddEvents(ctx, acctID, []segmentd.Event{{Email: "x@example.com", Type: "open", Timestamp: now, SGEventID: "uo-b"}}); err != nil {
			t.Fatal(err)
		}
		if got := a.owners.soleOwners(acctID, epoch()+1, []string{"x@example.com"}); len(got) != 1 || got[0] != x {
			t.Fatalf("the upsert's contact is forgotten after another server's event batch: %v", got)
		}
		res = upsert(a, only("x@example.com"), lists[1])
		if len(res.Errors) > 0 || !slices.Equal(res.Joined, []string{x}) || res.Updated != 1 {
			t.Fatalf("membership-only upsert of a remembered email: %+v", res)
		}
		onList(lists[1], x)

		// Another server deletes x@'s contact and makes a new one with its email.
		if _, err := b.DeleteContacts(ctx, acctID, []string{x}); err != nil {
			t.Fatal(err)
		}
		y := upsert(b, only("x@example.com"), lists[0]).Contacts[0].ID
		res = upsert(a, only("x@example.com"), lists[2])
		if len(res.Errors) > 0 || !slices.Equal(res.Joined, []string{y}) {
			t.Fatalf("after another server's writes, x@ joined %+v, want %s", res, y)
		}
		onList(lists[2], y)

		// This server gives y another identifier: the email alone no longer
		// matches it, as on a store that remembers nothing.
		ext := "ext-1"
		if res := upsert(a, segmentd.ContactPatch{Email: ptr("x@example.com"), ExternalID: &ext}, lists[0]); len(res.Errors) > 0 {
			t.Fatalf("adding an external id: %+v", res.Errors)
		}
		res = upsert(a, only("x@example.com"), lists[3])
		if len(res.Errors) != 1 || res.Errors[0].Field != "external_id" {
			t.Fatalf("the email alone of a contact with an external id: %+v", res)
		}

		// The events' owners: an email an upsert sets as a contact's
		// alternate, and one a new contact takes as its own.
		n := 0
		event := func(email, want string) {
			t.Helper()
			n++
			res, err := a.AddEvents(ctx, acctID, []segmentd.Event{{Email: email, Type: "open", Timestamp: now, SGEventID: fmt.Sprintf("uo-%d", n)}})
			if err != nil || len(res.Events) != 1 {
				t.Fatalf("event for %s: %v %+v", email, err, res)
			}
			if got := res.Events[0].ContactID; got != want {
				t.Fatalf("event %d for %s went to %q, want %q", n, email, got, want)
			}
		}
		event("alt@example.com", "")
		event("x@example.com", y)
		res = upsert(a, segmentd.ContactPatch{Email: ptr("x@example.com"), ExternalID: &ext, AlternateEmails: &[]string{"alt@example.com"}}, lists[0])
		if len(res.Errors) > 0 {
			t.Fatalf("setting an alternate email: %+v", res.Errors)
		}
		event("alt@example.com", y)
		z := upsert(a, only("alt@example.com"), lists[4]).Contacts[0].ID
		event("alt@example.com", z)
		res = upsert(a, only("alt@example.com"), lists[1])
		if !slices.Equal(res.Joined, []string{z}) {
			t.Fatalf("alt@'s own contact joined %+v, want %s", res, z)
		}
	})
}

// Each field a patch can set makes it more than membership-only: a new
// field of ContactPatch must be added to membershipOnly.
func TestMembershipOnly(t *testing.T) {
	email := "a@example.com"
	if !membershipOnly(&segmentd.ContactPatch{Email: &email}) {
		t.Fatal("an email alone is not membership-only")
	}
	empty := ""
	if membershipOnly(&segmentd.ContactPatch{}) || membershipOnly(&segmentd.ContactPatch{Email: &empty}) {
		t.Fatal("a patch without an email is membership-only")
	}
	typ := reflect.TypeOf(segmentd.ContactPatch{})
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Name == "Email" {
			continue
		}
		p := segmentd.ContactPatch{Email: &email}
		v := reflect.ValueOf(&p).Elem().Field(i)
		switch f.Type.Kind() {
		case reflect.Pointer:
			v.Set(reflect.New(f.Type.Elem()))
		case reflect.Map:
			v.Set(reflect.MakeMap(f.Type))
			v.SetMapIndex(reflect.ValueOf("f1"), reflect.Zero(f.Type.Elem()))
		default:
			t.Fatalf("field %s of kind %s: teach the test", f.Name, f.Type.Kind())
		}
		if membershipOnly(&p) {
			t.Errorf("a patch setting %s is membership-only", f.Name)
		}
	}
}

// What an upsert learns replaces what was remembered of the same emails,
// and the entries it replaces do not fill the memory for good.
func TestUpsertOwnersReplaced(t *testing.T) {
	var o owners
	o.learn(1, 5, map[string]string{"a@example.com": "", "b@example.com": "c9"})
	o.wrote(1, 6, false, []string{"b@example.com"}, []ownedEmail{{email: "a@example.com", id: "c1", sole: true}})
	if got := o.known(1, 6, []string{"a@example.com", "b@example.com"}); got == nil || got[0] == nil || *got[0] != "c1" || got[1] != nil {
		t.Fatalf("after the upsert: %v", got)
	}
	if got := o.soleOwners(1, 7, []string{"a@example.com"}); len(got) != 1 || got[0] != "c1" {
		t.Fatalf("sole owners: %v", got)
	}
	if got := o.soleOwners(1, 8, []string{"a@example.com"}); got != nil {
		t.Fatalf("sole owners an epoch later: %v", got)
	}
	// Owners looked up as of the upsert's epoch, learned before it
	// committed: they stay, and the upsert's own are added.
	var p owners
	p.learn(1, 7, map[string]string{"d@example.com": "c4"})
	p.wrote(1, 7, false, nil, []ownedEmail{{email: "e@example.com", id: "c5", sole: true}})
	if got := p.known(1, 7, []string{"d@example.com", "e@example.com"}); got == nil || got[0] == nil || *got[0] != "c4" || got[1] == nil || *got[1] != "c5" {
		t.Fatalf("an upsert's owners and those learned of its epoch: %v", got)
	}
	ch := int64(7)
	for round := range 10 {
		own := make([]ownedEmail, 10_000)
		for i := range own {
			own[i] = ownedEmail{email: fmt.Sprintf("u%d@example.com", i), id: fmt.Sprintf("c%d", i), sole: round%2 == 0}
		}
		o.wrote(1, ch, false, nil, own)
		ch++
	}
	if o.n > 20_002 {
		t.Fatalf("%d entries remembered for 10,001 emails", o.n)
	}
	if got := o.soleOwners(1, ch, []string{"u5@example.com", "a@example.com"}); len(got) != 2 || got[0] != "" || got[1] != "c1" {
		t.Fatalf("sole owners after the last round: %v", got)
	}
}

// A call whose emails' owners are all known goes in one round trip: the
// owners not remembered are read before the account's lock, with their
// epoch. Another server's event batches leave the epoch as it is: they
// change no contact. The blocks of such a call take their numbers from
// the account's last; a redelivered id, or an email with no contact,
// sends a call the long way.
func TestEventsOneRoundTrip(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := context.Background()
		sts := twoServers(t, srv)
		a, b := sts[0], sts[1]
		now := time.Now().UTC().Truncate(time.Millisecond)
		acct, err := a.CreateAccount(ctx, "one trip", 0, now)
		if err != nil {
			t.Fatal(err)
		}
		emails := []string{"x@example.com", "y@example.com", "z@example.com"}
		owner := map[string]string{}
		for _, e := range emails {
			res, err := a.UpsertContacts(ctx, acct.ID, []segmentd.ContactPatch{{Email: &e}}, nil, now)
			if err != nil || len(res.Contacts) != 1 {
				t.Fatalf("upsert %s: %v %+v", e, err, res)
			}
			owner[e] = res.Contacts[0].ID
		}
		events := func(prefix string, n int) []segmentd.Event {
			evs := make([]segmentd.Event, n)
			for i := range evs {
				evs[i] = segmentd.Event{Email: emails[i%3], Type: "open", Timestamp: now.Add(time.Duration(i) * time.Millisecond),
					SGEventID: fmt.Sprintf("%s-%d", prefix, i)}
			}
			return evs
		}
		add := func(st *Store, batches ...[]segmentd.Event) []segmentd.EventsResult {
			t.Helper()
			res, err := st.AddEventBatches(ctx, acct.ID, batches)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		add(a, events("first", 3))
		if got := a.oneTrip.Load(); got != 1 {
			t.Fatalf("%d calls in one round trip, want 1: the owners read before the lock", got)
		}
		add(b, events("b", 2)) // another server's events
		var epoch int64
		if err := a.pool.QueryRow(ctx, "SELECT change_seq - event_changes FROM account_changes WHERE account_id = $1", acct.ID).Scan(&epoch); err != nil {
			t.Fatal(err)
		}
		if k := a.owners.known(acct.ID, epoch, emails); k == nil || k[0] == nil || *k[0] != owner[emails[0]] {
			t.Fatalf("the owners are not remembered as true after another server's events: %v", k)
		}
		// 5,000 events in two batches: two blocks (blockSpan), numbered
		// after the other server's.
		res := add(a, events("p", 3000), events("q", 2000))
		if got := a.oneTrip.Load(); got != 2 {
			t.Fatalf("%d calls in one round trip, want 2", got)
		}
		if res[0].Added != 3000 || res[1].Added != 2000 || res[1].EventsThrough != 5005 || res[0].Unmatched+res[1].Unmatched != 0 {
			t.Fatalf("results %+v / %+v", brief(res[0]), brief(res[1]))
		}
		var blocks int
		if err := a.pool.QueryRow(ctx, "SELECT count(*) FROM event_blocks WHERE account_id = $1 AND first_seq > 5", acct.ID).Scan(&blocks); err != nil {
			t.Fatal(err)
		}
		if blocks != 2 {
			t.Fatalf("%d blocks for 5,000 events, want 2", blocks)
		}
		// A redelivered id, with a new one: the long way tells them apart.
		res = add(a, []segmentd.Event{events("p", 2)[1], events("r", 1)[0]})
		if got := a.oneTrip.Load(); got != 2 || res[0].Added != 1 || res[0].Duplicates != 1 || res[0].EventsThrough != 5007 {
			t.Fatalf("a redelivery: %d calls in one round trip, result %+v", got, brief(res[0]))
		}
		// An email with no contact: its event is a row.
		nobody := segmentd.Event{Email: "nobody@example.com", Type: "open", Timestamp: now, SGEventID: "u-0"}
		res = add(a, []segmentd.Event{nobody, events("s", 1)[0]})
		if got := a.oneTrip.Load(); got != 2 || res[0].Added != 2 || res[0].Unmatched != 1 || res[0].EventsThrough != 5009 {
			t.Fatalf("an email with no contact: %d calls in one round trip, result %+v", got, brief(res[0]))
		}
		stored, last, err := a.ScanEvents(ctx, acct.ID, 0, 10_000)
		if err != nil {
			t.Fatal(err)
		}
		if len(stored) != 5008 || last != 5009 {
			t.Fatalf("%d events stored through %d, want 5,008 through 5,009", len(stored), last)
		}
		want := append(append(append(append(append(events("first", 3), events("b", 2)...), events("p", 3000)...), events("q", 2000)...),
			events("r", 1)...), nobody, events("s", 1)[0])
		for i, ev := range stored {
			w := want[i]
			if ev.SGEventID != w.SGEventID || ev.Email != w.Email || ev.ContactID != owner[w.Email] || !ev.Timestamp.Equal(w.Timestamp) {
				t.Fatalf("event %d: %s %s %s %v, want %s %s %s %v", i, ev.SGEventID, ev.Email, ev.ContactID, ev.Timestamp,
					w.SGEventID, w.Email, owner[w.Email], w.Timestamp)
			}
		}
	})
}

// brief is an EventsResult without its events, to print.
func brief(r segmentd.EventsResult) segmentd.EventsResult {
	r.Events = nil
	return r
}

// membershipOnlyEmails answers aligned with the patches: the email of
// each membership-only patch, unless another patch naming it sets
// something.
func TestMembershipOnlyEmails(t *testing.T) {
	name := "Ann"
	ptr := func(s string) *string { return &s }
	for _, tc := range []struct {
		name    string
		patches []segmentd.ContactPatch
		want    []string
	}{
		{"none", []segmentd.ContactPatch{{Email: ptr("a@example.com"), FirstName: &name}, {}}, nil},
		{"all", []segmentd.ContactPatch{{Email: ptr("a@example.com")}, {Email: ptr("b@example.com")}, {Email: ptr("a@example.com")}},
			[]string{"a@example.com", "b@example.com", "a@example.com"}},
		{"mixed", []segmentd.ContactPatch{{Email: ptr("a@example.com")}, {Email: ptr("b@example.com")}, {Email: ptr("a@example.com"), FirstName: &name}, {FirstName: &name}},
			[]string{"", "b@example.com", "", ""}},
	} {
		if got := membershipOnlyEmails(tc.patches); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A contact an upsert took from the remembered owners and did not change
// is left out of what it tells wrote (owned): the memory holds it as it
// stands already. It is still remembered after wrote, as of the upsert's
// epoch; the contact the upsert read is learned. Until session 18 owned
// named it, and wrote looked each such email up again.
func TestUpsertOwnedLeavesRemembered(t *testing.T) {
	var o owners
	o.wrote(1, 5, false, nil, []ownedEmail{{email: "a@example.com", id: "c1", sole: true}})
	a, b := "a@example.com", "b@example.com"
	patches := []segmentd.ContactPatch{{Email: &a}, {Email: &b}}
	sole := o.soleOwners(1, 6, membershipOnlyEmails(patches))
	if !slices.Equal(sole, []string{"c1", ""}) {
		t.Fatalf("sole owners %q, want [c1 \"\"]", sole)
	}
	// The batch as load and apply leave it: a@ from the memory, b@ read.
	remembered := &upsertEntry{c: segmentd.Contact{ID: "c1", Email: "a@example.com"}, stored: true, touched: true, remembered: true}
	read := &upsertEntry{c: segmentd.Contact{ID: "c2", Email: "b@example.com"}, stored: true, touched: true}
	batch := &upsertBatch{sole: sole, stored: []*upsertEntry{remembered, read}, order: []*upsertEntry{remembered, read}}
	forget, own := batch.owned()
	if want := []ownedEmail{{email: "b@example.com", id: "c2", sole: true}}; len(forget) != 0 || !slices.Equal(own, want) {
		t.Fatalf("owned: forget %q, own %+v; want none and %+v", forget, own, want)
	}
	o.wrote(1, 6, false, forget, own)
	if got := o.soleOwners(1, 7, []string{"a@example.com", "b@example.com"}); !slices.Equal(got, []string{"c1", "c2"}) {
		t.Fatalf("sole owners after the upsert: %q, want [c1 c2]", got)
	}
}

// A batch whose every patch is membership-only on a remembered contact
// (repeats included) goes straight to its memberships (upsertTx), with
// the result a store that remembers nothing gives the same batch: each
// patch one update, the contacts joined once each in their ids' order,
// none rewritten.
func TestUpsertAllRemembered(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := context.Background()
		sts := twoServers(t, srv)
		a, b := sts[0], sts[1]
		now := time.Now().UTC()
		acctID, lists := accountWithLists(t, a, "all remembered", "full", "fast", "slow", "none")
		name := "Ann"
		var full []segmentd.ContactPatch
		var emails []string
		for i := range 40 {
			email := fmt.Sprintf("ar%02d@example.com", i)
			emails = append(emails, email)
			full = append(full, segmentd.ContactPatch{Email: &emails[i], FirstName: &name})
		}
		res, err := a.UpsertContacts(ctx, acctID, full, lists[:1], now)
		if err != nil || res.Created != 40 {
			t.Fatalf("full records: %v %+v", err, res.Errors)
		}
		var ids []string
		for _, c := range res.Contacts {
			ids = append(ids, c.ID)
		}
		slices.Sort(ids)
		var only []segmentd.ContactPatch
		for _, i := range []int{39, 3, 17, 3, 0, 22, 39, 8} {
			only = append(only, segmentd.ContactPatch{Email: &emails[i]})
		}
		var want []string
		for _, i := range []int{0, 3, 8, 17, 22, 39} {
			want = append(want, res.Contacts[i].ID)
		}
		slices.Sort(want)
		before := a.upsertsRemembered.Load()
		fast, err := a.UpsertContacts(ctx, acctID, only, lists[1:2], now)
		if err != nil {
			t.Fatal(err)
		}
		if got := a.upsertsRemembered.Load() - before; got != 1 {
			t.Fatalf("the batch of remembered contacts was matched one by one (%d straight)", got)
		}
		// Without lists the same batch changes nothing and joins nothing.
		// (Before the other server writes: its write moves the epoch the
		// memory is true as of.)
		none, err := a.UpsertContacts(ctx, acctID, only, nil, now)
		if err != nil || none.Updated != len(only) || len(none.Joined) != 0 || len(none.Contacts) != 0 {
			t.Fatalf("membership-only batch without lists: %v %+v", err, none)
		}
		if got := a.upsertsRemembered.Load() - before; got != 2 {
			t.Fatalf("the batch without lists went straight %d times of 2", got)
		}
		slow, err := b.UpsertContacts(ctx, acctID, only, lists[2:3], now)
		if err != nil {
			t.Fatal(err)
		}
		if b.upsertsRemembered.Load() != 0 {
			t.Fatal("a store that remembers nothing went straight to the memberships")
		}
		for _, r := range []segmentd.UpsertResult{fast, slow} {
			if r.Updated != len(only) || r.Created != 0 || len(r.Errors) != 0 || len(r.Contacts) != 0 || !slices.Equal(r.Joined, want) {
				t.Fatalf("membership-only batch: updated %d, created %d, errors %+v, %d contacts, joined %q; want %d updated and joined %q",
					r.Updated, r.Created, r.Errors, len(r.Contacts), r.Joined, len(only), want)
			}
		}
		for _, l := range lists[1:3] {
			var got []string
			rows, err := a.pool.Query(ctx, "SELECT contact_id FROM list_members WHERE account_id = $1 AND list_id = $2 ORDER BY contact_id", acctID, l)
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				got = append(got, id)
			}
			if rows.Close(); !slices.Equal(got, want) {
				t.Fatalf("list %s holds %q, want %q", l, got, want)
			}
		}
		var n int
		if err := a.pool.QueryRow(ctx, "SELECT count(*) FROM contacts WHERE account_id = $1 AND change_seq > $2", acctID, res.Change).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d contacts rewritten by membership-only batches (%v)", n, err)
		}
	})
}

// Events prepared ahead of their write (PrepareEvents, on the webhook
// request's goroutine: their owners, and a batch's blocks) go to the
// contact their email names when they are stored: an email moved to another contact between the preparation and
// the write (by another server here) moves the owners' epoch, and the
// write finds the owners again under the lock. Prepared batches of one
// call keep each event with its own owner where an id repeated in the
// call is skipped, and a redelivered id stays a duplicate.
func TestPreparedEvents(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := context.Background()
		sts := twoServers(t, srv)
		a, b := sts[0], sts[1]
		now := time.Now().UTC().Truncate(time.Millisecond)
		acct, err := a.CreateAccount(ctx, "prepared", 0, now)
		if err != nil {
			t.Fatal(err)
		}
		upsert := func(st *Store, email string) string {
			t.Helper()
			res, err := st.UpsertContacts(ctx, acct.ID, []segmentd.ContactPatch{{Email: &email}}, nil, now)
			if err != nil || len(res.Errors) > 0 || len(res.Contacts) != 1 {
				t.Fatalf("upsert %s: %v %+v", email, err, res)
			}
			return res.Contacts[0].ID
		}
		ev := func(email, id string) segmentd.Event {
			return segmentd.Event{Email: email, Type: "open", Timestamp: now, SGEventID: id}
		}
		prepare := func(evs ...segmentd.Event) segmentd.PreparedEvents {
			t.Helper()
			p := a.PrepareEvents(ctx, acct.ID, evs)
			if p.Ahead == nil {
				t.Fatalf("nothing prepared of %v", evs)
			}
			return p
		}
		add := func(batches ...segmentd.PreparedEvents) []segmentd.EventsResult {
			t.Helper()
			res, err := a.AddPreparedEventBatches(ctx, acct.ID, batches)
			if err != nil {
				t.Fatal(err)
			}
			return res
		}
		contacts := func(r segmentd.EventsResult) []string {
			var out []string
			for _, e := range r.Events {
				out = append(out, e.ContactID)
			}
			return out
		}
		x, y := upsert(a, "x@example.com"), upsert(a, "y@example.com")

		res := add(prepare(ev("x@example.com", "1"), ev("Y@example.com", "2")))
		if got, want := contacts(res[0]), []string{x, y}; !slices.Equal(got, want) || a.oneTrip.Load() != 1 {
			t.Fatalf("prepared, nothing between: contacts %v, want %v; %d calls in one round trip, want 1", got, want, a.oneTrip.Load())
		}

		// x@ moves to a new contact after the preparation.
		stale := prepare(ev("x@example.com", "3"))
		if _, err := b.DeleteContacts(ctx, acct.ID, []string{x}); err != nil {
			t.Fatal(err)
		}
		x2 := upsert(b, "x@example.com")
		res = add(stale)
		if got := contacts(res[0]); !slices.Equal(got, []string{x2}) {
			t.Fatalf("an owner moved after the preparation: contacts %v, want the new contact %s (the old one was %s)", got, x2, x)
		}

		// Two prepared batches in one call, the second repeating the
		// first's id before an event of another email.
		res = add(prepare(ev("x@example.com", "4")), prepare(ev("x@example.com", "4"), ev("y@example.com", "5"), ev("x@example.com", "6")))
		if res[1].Duplicates != 1 || res[1].Added != 2 || !slices.Equal(contacts(res[0]), []string{x2}) || !slices.Equal(contacts(res[1]), []string{y, x2}) {
			t.Fatalf("grouped: %+v %v / %+v %v, want x2 %s then y %s, x2", brief(res[0]), contacts(res[0]), brief(res[1]), contacts(res[1]), x2, y)
		}

		// Two prepared batches in one call, every event kept: each
		// batch's blocks encoded ahead, numbered in the call.
		res = add(prepare(ev("y@example.com", "8"), ev("x@example.com", "9")), prepare(ev("x@example.com", "10")))
		if res[0].Added != 2 || res[1].Added != 1 || !slices.Equal(contacts(res[0]), []string{y, x2}) || !slices.Equal(contacts(res[1]), []string{x2}) {
			t.Fatalf("grouped, all kept: %+v %v / %+v %v", brief(res[0]), contacts(res[0]), brief(res[1]), contacts(res[1]))
		}

		// Redelivered ids, prepared again: duplicates.
		res = add(prepare(ev("y@example.com", "5"), ev("y@example.com", "7"), ev("x@example.com", "1")))
		if res[0].Added != 1 || res[0].Duplicates != 2 || !slices.Equal(contacts(res[0]), []string{y}) {
			t.Fatalf("redelivered: %+v %v, want one added for %s", brief(res[0]), contacts(res[0]), y)
		}

		stored, _, err := a.ScanEvents(ctx, acct.ID, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range stored {
			got = append(got, e.SGEventID+"="+e.ContactID)
		}
		want := []string{"1=" + x, "2=" + y, "3=" + x2, "4=" + x2, "5=" + y, "6=" + x2, "8=" + y, "9=" + x2, "10=" + x2, "7=" + y}
		if !slices.Equal(got, want) {
			t.Fatalf("stored %v, want %v", got, want)
		}
	})
}

// A batch of new contacts, each its own email alone (allNew), is made as
// COPY asks for each row (writeNew): the same result, rows and
// memberships as a store that matches the batch first, on an empty
// account and on one whose remembered owners are complete; and the
// tombstones of its emails go.
func TestUpsertNewStreamed(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := context.Background()
		sts := twoServers(t, srv)
		stream, match := sts[0], sts[1]
		match.testOnlyNoStreaming = true
		now := time.Now().UTC()
		type side struct {
			st   *Store
			acct int64
			list string
		}
		var sides []side
		for i, st := range []*Store{stream, match} {
			acct, lists := accountWithLists(t, st, fmt.Sprintf("new streamed %d", i), "L")
			sides = append(sides, side{st, acct, lists[0]})
		}
		batch := func(from, n int) []segmentd.ContactPatch {
			var ps []segmentd.ContactPatch
			for i := from; i < from+n; i++ {
				email, name := fmt.Sprintf("ns%05d@example.com", i), fmt.Sprintf("N%d", i)
				p := segmentd.ContactPatch{Email: &email}
				if i%3 != 0 {
					p.FirstName = &name
					p.CustomFields = map[string]*segmentd.Value{"w1": {Type: segmentd.FieldText, Text: name}, "n2": {Type: segmentd.FieldNumber, Number: float64(i)}}
				}
				ps = append(ps, p)
			}
			return ps
		}
		strip := func(cs []segmentd.Contact) []segmentd.Contact {
			out := slices.Clone(cs)
			for i := range out {
				out[i].ID, out[i].CreatedAt, out[i].UpdatedAt, out[i].ListIDs = "", time.Time{}, time.Time{}, nil
			}
			return out
		}
		for round, ps := range [][]segmentd.ContactPatch{batch(0, 3000), batch(3000, 2000)} {
			var got [2]segmentd.UpsertResult
			for k, sd := range sides {
				res, err := sd.st.UpsertContacts(ctx, sd.acct, ps, []string{sd.list}, now)
				if err != nil {
					t.Fatalf("round %d, store %d: %v", round, k, err)
				}
				got[k] = res
			}
			if n := stream.upsertsNew.Load(); n != int64(round+1) {
				t.Fatalf("round %d: %d batches made as COPY asked, want %d", round, n, round+1)
			}
			if match.upsertsNew.Load() != 0 {
				t.Fatal("the matching store made a batch as COPY asked")
			}
			a, b := got[0], got[1]
			if a.Created != len(ps) || b.Created != len(ps) || len(a.Errors)+len(b.Errors) != 0 || a.Updated+b.Updated != 0 {
				t.Fatalf("round %d: created %d and %d, errors %v %v", round, a.Created, b.Created, a.Errors, b.Errors)
			}
			if !reflect.DeepEqual(strip(a.Contacts), strip(b.Contacts)) {
				t.Fatalf("round %d: the contacts differ", round)
			}
			for i, c := range a.Contacts {
				if c.ID == "" || !slices.Equal(c.ListIDs, []string{sides[0].list}) || c.CreatedAt.IsZero() || i > 0 && c.ID <= a.Contacts[i-1].ID {
					t.Fatalf("round %d: contact %d: %+v", round, i, c)
				}
			}
			for _, sd := range sides {
				stored, err := sd.st.CountContacts(ctx, sd.acct)
				if err != nil {
					t.Fatal(err)
				}
				members, err := sd.st.CountListMembers(ctx, sd.acct, sd.list)
				if err != nil {
					t.Fatal(err)
				}
				want := 3000 + 2000*round
				if stored != want || members != want {
					t.Fatalf("round %d: %d contacts, %d on the list; want %d", round, stored, members, want)
				}
			}
			back, err := stream.Contact(ctx, sides[0].acct, a.Contacts[1].ID)
			if err != nil || back.FirstName != a.Contacts[1].FirstName || !reflect.DeepEqual(back.CustomFields, a.Contacts[1].CustomFields) {
				t.Fatalf("round %d: read back %+v, %v; want %+v", round, back, err, a.Contacts[1])
			}
		}
		// Every contact buried, the account is empty: a new batch with a
		// buried address drops its tombstone. (On the other store, which
		// remembers nothing of the account and so asks whether it has a
		// contact: this one's memory, complete as of an epoch before the
		// burial, is not used, and the batch is matched.)
		var ids []string
		if err := stream.pool.QueryRow(ctx, "SELECT array_agg(id) FROM contacts WHERE account_id = $1", sides[0].acct).Scan(&ids); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.BuryContacts(ctx, sides[0].acct, ids, now); err != nil {
			t.Fatal(err)
		}
		if _, err := stream.DeletedContactByEmail(ctx, sides[0].acct, "ns00007@example.com"); err != nil {
			t.Fatalf("the buried address has no record: %v", err)
		}
		match.testOnlyNoStreaming = false
		if _, err := match.UpsertContacts(ctx, sides[0].acct, batch(7, 1), nil, now); err != nil {
			t.Fatal(err)
		}
		if n := match.upsertsNew.Load(); n != 1 {
			t.Fatalf("the batch on the emptied account was matched first (%d made as COPY asked)", n)
		}
		if _, err := stream.DeletedContactByEmail(ctx, sides[0].acct, "ns00007@example.com"); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
			t.Fatalf("the new contact's address keeps its tombstone: %v", err)
		}
	})
}

// A new contact whose custom fields do not encode (a number JSON cannot
// hold) fails a batch of new contacts with its own message while COPY
// streams it (newContactRows): nothing of the batch is stored, and the
// store's connections serve the next upsert.
func TestUpsertNewNotEncoded(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := context.Background()
		st := twoServers(t, srv)[0]
		now := time.Now().UTC()
		acct, err := st.CreateAccount(ctx, "not encoded", 0, now)
		if err != nil {
			t.Fatal(err)
		}
		var patches []segmentd.ContactPatch
		for i := range 3000 {
			email := fmt.Sprintf("ne%04d@example.com", i)
			patches = append(patches, segmentd.ContactPatch{Email: &email, CustomFields: map[string]*segmentd.Value{"n1": {Type: segmentd.FieldNumber, Number: float64(i)}}})
		}
		patches[2500].CustomFields["n1"].Number = math.NaN()
		for range 2 { // the second on a connection the first may have used
			_, err := st.UpsertContacts(ctx, acct.ID, patches, nil, now)
			if err == nil || !strings.HasPrefix(err.Error(), "contact ") || !strings.Contains(err.Error(), "custom_fields: field n1: NaN is not a JSON number") {
				t.Fatalf("upsert with a NaN custom field: %v", err)
			}
		}
		var n int
		if err := st.pool.QueryRow(ctx, "SELECT count(*) FROM contacts WHERE account_id = $1", acct.ID).Scan(&n); err != nil || n != 0 {
			t.Fatalf("%d contacts stored by failed upserts (%v)", n, err)
		}
		patches[2500].CustomFields["n1"].Number = 1
		before := st.upsertsNew.Load()
		res, err := st.UpsertContacts(ctx, acct.ID, patches, nil, now)
		if err != nil || res.Created != 3000 || st.upsertsNew.Load() != before+1 {
			t.Fatalf("the batch made good: %v, %d created", err, res.Created)
		}
	})
}

// accountWithLists creates an account named name on st, with a list of
// each of lists' names, and returns its id and the lists' ids.
func accountWithLists(t *testing.T, st *Store, name string, lists ...string) (int64, []string) {
	t.Helper()
	now := time.Now().UTC()
	acct, err := st.CreateAccount(t.Context(), name, 0, now)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(lists))
	for i, l := range lists {
		list, err := st.CreateList(t.Context(), acct.ID, l, now)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = list.ID
	}
	return acct.ID, ids
}
