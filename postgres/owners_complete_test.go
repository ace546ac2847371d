package postgres

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// Complete remembered owners (owners.go, accountOwners.complete): an
// upsert of an account that has no contact makes them complete, each
// following upsert of the same store keeps them so, and while they are,
// an upsert looks up only the emails remembered with an owner. Each way
// the memory can miss an own email makes the next upserts look every
// email up again, and they find the contact that has it. Two stores on one
// schema stand for two servers.
func TestUpsertOwnersComplete(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := context.Background()
		sts := twoServers(t, srv)
		a, b := sts[0], sts[1]
		now := time.Now().UTC()
		// twin@ shares its hash with one@ (TestEventOwnersHashCollision):
		// the memory can hold only one of them.
		seed := maphash.MakeSeed()
		a.owners.hash = func(e string) uint64 {
			if strings.HasPrefix(e, "twin@") {
				e = "one@" + e[len("twin@"):]
			}
			return maphash.String(seed, e)
		}
		ptr := func(s string) *string { return &s }
		full := func(email, name string) segmentd.ContactPatch {
			return segmentd.ContactPatch{Email: ptr(email), FirstName: ptr(name)}
		}
		type account struct {
			id   int64
			list string
		}
		// upsert runs patches on st and checks the counts of contacts
		// created and updated, and how many emails were not looked up
		// (unread: -1 for any, on the other store).
		upsert := func(st *Store, acct account, created, updated, unread int, patches ...segmentd.ContactPatch) segmentd.UpsertResult {
			t.Helper()
			before := st.emailsUnread.Load()
			res, err := st.UpsertContacts(ctx, acct.id, patches, []string{acct.list}, now)
			if err != nil {
				t.Fatalf("upsert: %v", err)
			}
			if len(res.Errors) > 0 || res.Created != created || res.Updated != updated {
				t.Fatalf("upsert: %d created, %d updated, errors %+v; want %d and %d", res.Created, res.Updated, res.Errors, created, updated)
			}
			if got := st.emailsUnread.Load() - before; unread >= 0 && got != int64(unread) {
				t.Fatalf("%d emails not looked up, want %d", got, unread)
			}
			return res
		}
		// owner returns the id of the contact whose own email email is
		// ("" for none), and checks that no other has it.
		owner := func(acct account, email string) string {
			t.Helper()
			ids, err := queryAll(ctx, a.pool, scanString, "SELECT id FROM contacts WHERE account_id = $1 AND email = $2", acct.id, email)
			if err != nil || len(ids) > 1 {
				t.Fatalf("contacts of %s: %v, %v", email, ids, err)
			}
			if len(ids) == 0 {
				return ""
			}
			return ids[0]
		}
		n := 0
		// fresh is an account whose first upsert, on a, found it empty:
		// its owners are complete, with one@, two@ and three@.
		fresh := func() account {
			t.Helper()
			n++
			acct, lists := accountWithLists(t, a, fmt.Sprintf("complete %d", n), "l")
			ac := account{acct, lists[0]}
			upsert(a, ac, 3, 0, 3, full("one@example.com", "A"), full("two@example.com", "B"), full("three@example.com", "C"))
			return ac
		}
		ownersComplete := func(acct account) bool {
			a.owners.mu.Lock()
			defer a.owners.mu.Unlock()
			o := a.owners.accts[acct.id]
			return o != nil && o.complete
		}

		t.Run("used", func(t *testing.T) {
			ac := fresh()
			if !ownersComplete(ac) {
				t.Fatal("the owners are not complete after the account's first upsert")
			}
			// Two new emails are not looked up; one@ (a full record) and
			// two@ (membership-only) are found.
			upsert(a, ac, 2, 2, 2, full("four@example.com", "D"), full("one@example.com", "A2"),
				segmentd.ContactPatch{Email: ptr("two@example.com")}, full("five@example.com", "E"))
			// A patch that gives an email to a stored contact without one
			// (found by its external id): the email, which named no contact,
			// is its own now and looked up next time.
			upsert(a, ac, 1, 0, 0, segmentd.ContactPatch{ExternalID: ptr("ext-1"), FirstName: ptr("F")})
			res := upsert(a, ac, 0, 1, 1, segmentd.ContactPatch{ExternalID: ptr("ext-1"), Email: ptr("six@example.com")})
			six := res.Contacts[0].ID
			res = upsert(a, ac, 0, 1, 0, segmentd.ContactPatch{ExternalID: ptr("ext-1"), Email: ptr("six@example.com"), FirstName: ptr("F2")})
			if res.Contacts[0].ID != six || owner(ac, "six@example.com") != six {
				t.Fatalf("six@ updated %s, want %s", res.Contacts[0].ID, six)
			}
			if !ownersComplete(ac) {
				t.Fatal("the owners are not complete after this store's own upserts")
			}
		})

		t.Run("another server's upsert", func(t *testing.T) {
			ac := fresh()
			x := upsert(b, ac, 1, 0, -1, full("x@example.com", "X")).Contacts[0].ID
			// The epoch moved by two: nothing is trusted.
			res := upsert(a, ac, 1, 1, 0, full("x@example.com", "X2"), full("y@example.com", "Y"))
			if res.Contacts[0].ID != x {
				t.Fatalf("x@ updated %s, want %s", res.Contacts[0].ID, x)
			}
			// The owners that upsert left hold only its own emails: not
			// complete, so one@ is looked up.
			one := owner(ac, "one@example.com")
			res = upsert(a, ac, 0, 1, 0, full("one@example.com", "A2"))
			if res.Contacts[0].ID != one {
				t.Fatalf("one@ updated %s, want %s", res.Contacts[0].ID, one)
			}
		})

		t.Run("another server's delete", func(t *testing.T) {
			ac := fresh()
			if _, err := b.DeleteContacts(ctx, ac.id, []string{owner(ac, "two@example.com")}); err != nil {
				t.Fatal(err)
			}
			upsert(a, ac, 2, 0, 0, full("two@example.com", "B"), full("seven@example.com", "G"))
			one := owner(ac, "one@example.com")
			if res := upsert(a, ac, 0, 1, 0, full("one@example.com", "A2")); res.Contacts[0].ID != one {
				t.Fatalf("one@ updated %s, want %s", res.Contacts[0].ID, one)
			}
		})

		t.Run("an email changed", func(t *testing.T) {
			// This store's own write that is not an upsert moves the epoch
			// and teaches the memory nothing.
			ac := fresh()
			one := owner(ac, "one@example.com")
			if err := a.ChangeEmail(ctx, ac.id, one, "changed@example.com", now); err != nil {
				t.Fatal(err)
			}
			if res := upsert(a, ac, 0, 1, 0, full("changed@example.com", "A2")); res.Contacts[0].ID != one {
				t.Fatalf("changed@ updated %s, want %s", res.Contacts[0].ID, one)
			}
		})

		t.Run("bound", func(t *testing.T) {
			ac := fresh()
			// Fill the memory as of the account's epoch (what an event batch
			// would learn) to one entry short of maxOwners.
			var epoch int64
			if err := a.pool.QueryRow(ctx, "SELECT change_seq - event_changes FROM account_changes WHERE account_id = $1", ac.id).Scan(&epoch); err != nil {
				t.Fatal(err)
			}
			// The other accounts' owners go first, as advance would let
			// them go to make room.
			a.owners.mu.Lock()
			for k, o := range a.owners.accts {
				if k != ac.id {
					a.owners.n -= o.texts()
					delete(a.owners.accts, k)
				}
			}
			room := maxOwners - a.owners.n
			a.owners.mu.Unlock()
			filler := make(map[string]string, room-1)
			for i := range room - 1 {
				filler[fmt.Sprintf("u%d@example.com", i)] = ""
			}
			a.owners.learn(ac.id, epoch, filler)
			if !ownersComplete(ac) {
				t.Fatal("learning true owners of the same epoch made the owners incomplete")
			}
			// nine@ is not remembered: the memory is full.
			upsert(a, ac, 2, 0, 2, full("eight@example.com", "H"), full("nine@example.com", "I"))
			nine := owner(ac, "nine@example.com")
			if res := upsert(a, ac, 0, 1, 0, full("nine@example.com", "I2")); res.Contacts[0].ID != nine {
				t.Fatalf("nine@ updated %s, want %s", res.Contacts[0].ID, nine)
			}
			a.owners.mu.Lock()
			delete(a.owners.accts, ac.id)
			a.owners.n = 0
			a.owners.mu.Unlock()
		})

		t.Run("hash collision", func(t *testing.T) {
			ac := fresh()
			twin := upsert(a, ac, 1, 0, 1, full("twin@example.com", "T")).Contacts[0].ID
			if res := upsert(a, ac, 0, 1, 0, full("twin@example.com", "T2")); res.Contacts[0].ID != twin {
				t.Fatalf("twin@ updated %s, want %s", res.Contacts[0].ID, twin)
			}
		})

		t.Run("forgotten", func(t *testing.T) {
			// three@ is made one@'s contact's alternate email: the
			// upsert forgets three@, which is another contact's own.
			ac := fresh()
			upsert(a, ac, 0, 1, 0, segmentd.ContactPatch{Email: ptr("one@example.com"), AlternateEmails: &[]string{"three@example.com"}})
			three := owner(ac, "three@example.com")
			if res := upsert(a, ac, 0, 1, 0, full("three@example.com", "C2")); res.Contacts[0].ID != three {
				t.Fatalf("three@ updated %s, want %s", res.Contacts[0].ID, three)
			}
		})
	})
}

// The owners' completeness, in memory: wrote keeps it from one epoch to
// the next and loses it on a gap, on an email it cannot remember and on
// one it forgets that had an owner; unowned answers only while it holds.
func TestOwnersCompleteRules(t *testing.T) {
	var o owners
	own := func(email, id string) []ownedEmail { return []ownedEmail{{email: email, id: id, sole: true}} }
	o.wrote(1, 5, true, nil, own("a@example.com", "c1"))
	if got := o.unowned(1, 6, []string{"a@example.com", "b@example.com", ""}); !slices.Equal(got, []bool{false, true, false}) {
		t.Fatalf("unowned after the first upsert: %v", got)
	}
	if got := o.unowned(1, 7, []string{"b@example.com"}); got != nil {
		t.Fatalf("unowned an epoch late: %v", got)
	}
	// An event batch's "no contact" of the same epoch keeps them complete.
	o.learn(1, 5, map[string]string{"b@example.com": "", "alt@example.com": "c1"})
	if got := o.unowned(1, 6, []string{"b@example.com", "alt@example.com"}); !slices.Equal(got, []bool{true, false}) {
		t.Fatalf("unowned after learning: %v", got)
	}
	o.wrote(1, 6, false, []string{"b@example.com"}, own("b@example.com", "c2"))
	if got := o.unowned(1, 7, []string{"a@example.com", "b@example.com", "c@example.com"}); !slices.Equal(got, []bool{false, false, true}) {
		t.Fatalf("unowned after the second upsert: %v", got)
	}
	long := strings.Repeat("l", 70_000) + "@example.com"
	for _, tc := range []struct {
		name   string
		epoch  int64 // of the upsert, after one at 10 that found the account empty
		forget []string
		own    []ownedEmail
	}{
		{"a gap", 12, nil, nil},
		{"a long email", 11, nil, own(long, "c3")},
		{"a long id", 11, nil, own("d@example.com", strings.Repeat("i", 70_000))},
		{"an owner forgotten", 11, []string{"a@example.com"}, nil},
	} {
		var o owners
		o.wrote(1, 10, true, nil, own("a@example.com", "c1"))
		o.wrote(1, tc.epoch, false, tc.forget, tc.own)
		if got := o.unowned(1, tc.epoch+1, []string{"z@example.com"}); got != nil {
			t.Errorf("%s: still complete: %v", tc.name, got)
		}
	}
	// Forgetting an email remembered without an owner keeps them.
	var p owners
	p.wrote(1, 10, true, nil, own("a@example.com", "c1"))
	p.learn(1, 10, map[string]string{"b@example.com": ""})
	p.wrote(1, 11, false, []string{"b@example.com"}, nil)
	if got := p.unowned(1, 12, []string{"b@example.com"}); !slices.Equal(got, []bool{true}) {
		t.Errorf("forgetting an email without an owner: %v", got)
	}
	// A later epoch learned by an event batch: new owners, not complete.
	p.learn(1, 13, map[string]string{"a@example.com": "c1"})
	if p.completeAny(1) {
		t.Error("complete after learning a later epoch")
	}
}

// An upsert that trusts complete owners gives what one that looks every
// email up gives: the same operations, drawn at random, on two accounts,
// one through a store whose owners are complete (its first upsert of each
// round finds the account empty) and one through a store that forgets
// the account's owners before each of its calls, with a contact of its
// own so that none of its upserts finds the account empty. Another
// store's upserts and deletions, and the first store's changes of email,
// come in between. Each round starts from no contact, the stores' owners
// forgotten (as after a restart).
func TestUpsertOwnersCompleteSame(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := context.Background()
		dsn := freshSchema(t, srv)
		var sts [3]*Store
		for i := range sts {
			st, err := Open(ctx, dsn, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			sts[i] = st
		}
		mem, ref, other := sts[0], sts[1], sts[2]
		now := time.Now().UTC()
		type side struct {
			st    *Store // this side's store
			acct  int64
			lists []string
		}
		var sides [2]side
		for i, st := range []*Store{mem, ref} {
			acct, lists := accountWithLists(t, st, fmt.Sprintf("same %d", i), "l0", "l1")
			sides[i] = side{st: st, acct: acct, lists: lists}
		}
		forget := func(st *Store, acct int64) {
			st.owners.mu.Lock()
			defer st.owners.mu.Unlock()
			if a := st.owners.accts[acct]; a != nil {
				st.owners.n -= a.texts()
				delete(st.owners.accts, acct)
			}
		}
		seedEmail := "seed@elsewhere.example.com"
		emails := make([]string, 14)
		for i := range emails {
			emails[i] = fmt.Sprintf("p%d@example.com", i)
		}
		exts := []string{"e0", "e1", "e2", "e3"}
		rng := rand.New(rand.NewPCG(18, 6))
		ptr := func(s string) *string { return &s }
		patch := func() segmentd.ContactPatch {
			email := emails[rng.IntN(len(emails))]
			switch rng.IntN(7) {
			case 0, 1:
				return segmentd.ContactPatch{Email: &email}
			case 2:
				return segmentd.ContactPatch{ExternalID: ptr(exts[rng.IntN(len(exts))]), FirstName: ptr("x")}
			case 3:
				return segmentd.ContactPatch{Email: &email, ExternalID: ptr(exts[rng.IntN(len(exts))])}
			case 4:
				return segmentd.ContactPatch{Email: &email, AlternateEmails: &[]string{emails[rng.IntN(len(emails))]}}
			default:
				return segmentd.ContactPatch{Email: &email, FirstName: ptr(fmt.Sprint("n", rng.IntN(3)))}
			}
		}
		// idOf is the contact of the side whose own email email is.
		idOf := func(s side, email string) string {
			ids, err := queryAll(ctx, s.st.pool, scanString, "SELECT id FROM contacts WHERE account_id = $1 AND email = $2", s.acct, email)
			if err != nil {
				t.Fatal(err)
			}
			if len(ids) == 0 {
				return ""
			}
			return ids[0]
		}
		// outcome is what an upsert gave, without ids.
		outcome := func(res segmentd.UpsertResult, err error) string {
			if err != nil {
				return "error: " + err.Error()
			}
			var es []string
			for _, e := range res.Errors {
				es = append(es, fmt.Sprintf("%d %s", e.Index, e.Field))
			}
			var cs []string
			for _, c := range res.Contacts {
				cs = append(cs, c.Email+"/"+c.ExternalID+"/"+strings.Join(c.AlternateEmails, ","))
			}
			return fmt.Sprintf("created %d updated %d joined %d errors %v contacts %v", res.Created, res.Updated, len(res.Joined), es, cs)
		}
		// contacts are the side's contacts, without ids and the seed.
		contacts := func(s side) []string {
			cs, err := s.st.ScanContacts(ctx, s.acct, "", 1000)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, c := range cs {
				if c.Email == seedEmail {
					continue
				}
				var lists []int
				for _, l := range c.ListIDs {
					lists = append(lists, slices.Index(s.lists, l))
				}
				slices.Sort(lists)
				out = append(out, fmt.Sprintf("%s/%s/%s/%s/%v", c.Email, c.ExternalID, c.FirstName, strings.Join(c.AlternateEmails, ","), lists))
			}
			slices.Sort(out)
			return out
		}
		before := mem.emailsUnread.Load()
		ops := 0
		for round := range 6 {
			for i, s := range sides {
				if _, err := other.DeleteAllContacts(ctx, s.acct); err != nil {
					t.Fatal(err)
				}
				for _, st := range sts {
					forget(st, s.acct)
				}
				if i == 1 {
					if _, err := other.UpsertContacts(ctx, s.acct, []segmentd.ContactPatch{{Email: &seedEmail}}, nil, now); err != nil {
						t.Fatal(err)
					}
				}
			}
			for op := range 25 {
				var got [2]string
				k := 3 + rng.IntN(22) // 0-2: another server's upsert or deletion, a change of email
				if op > 0 {
					k = rng.IntN(25)
				}
				var ps []segmentd.ContactPatch
				for range 1 + rng.IntN(6) {
					ps = append(ps, patch())
				}
				list := rng.IntN(2)
				email, email2 := emails[rng.IntN(len(emails))], emails[rng.IntN(len(emails))]
				for i, s := range sides {
					if i == 1 {
						forget(ref, s.acct)
						forget(other, s.acct)
					}
					switch k {
					case 0:
						got[i] = outcome(other.UpsertContacts(ctx, s.acct, ps[:1], []string{s.lists[list]}, now))
					case 1:
						if id := idOf(s, email); id != "" {
							_, err := other.DeleteContacts(ctx, s.acct, []string{id})
							got[i] = fmt.Sprint(err)
						}
					case 2:
						if id := idOf(s, email); id != "" {
							got[i] = segmentd.ErrorKindOf(s.st.ChangeEmail(ctx, s.acct, id, email2, now)).String()
						}
					default:
						got[i] = outcome(s.st.UpsertContacts(ctx, s.acct, ps, []string{s.lists[list]}, now))
					}
				}
				if got[0] != got[1] {
					t.Fatalf("round %d, operation %d (%d): with complete owners %s, looking every email up %s", round, op, k, got[0], got[1])
				}
				ops++
			}
			if p, q := contacts(sides[0]), contacts(sides[1]); !slices.Equal(p, q) {
				t.Fatalf("round %d: contacts with complete owners:\n%s\nlooking every email up:\n%s", round, strings.Join(p, "\n"), strings.Join(q, "\n"))
			}
		}
		spared := mem.emailsUnread.Load() - before
		if spared < 50 {
			t.Fatalf("the complete owners spared %d lookups: the test does not exercise them", spared)
		}
		t.Logf("%d operations; %d lookups spared", ops, spared)
	})
}
