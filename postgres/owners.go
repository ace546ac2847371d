package postgres

import (
	"hash/maphash"
	"math"
	"sync"
)

// The owners of emails, remembered between write batches. Finding each
// event's contact by its email was about half of an event batch's
// statement (one probe of contacts_email per event), and reading the row
// of each stored contact an upsert names was the largest of its
// statements. The store remembers, per account, the contact each email
// of its stored events named, and the contact each email of the contacts
// its upserts read or wrote is the own email of, as of the account's
// owners' epoch: its change number less the change numbers event batches
// took (account_changes.event_changes, migration 0024). Every write that
// can change which contact an email names takes a change number and no
// event batch changes a contact, so the owners of two moments of one
// epoch are the same, whichever server wrote in between.
//
// An event batch whose epoch, read under the account's lock, is the
// remembered one uses the owners it knows and looks up only the others;
// a batch of emails all remembered sends its blocks with its lock in one
// round trip, each block's data on the condition that the epoch is still
// the one remembered (AddEventBatches). An upsert, which takes a change
// number and so moves the epoch by one, trusts what is remembered when
// it is as of the epoch just before its own (no other write that can
// change an owner came in between): it does not read the rows of the
// contacts its membership-only patches name (upsert.go); then it learns
// its contacts' emails anew and forgets the emails whose owner it may
// have changed (wrote), and what is remembered is as of its epoch. A
// later epoch than the remembered one, and the account's owners are
// forgotten. The owners are learned from what a batch read or stored,
// and only after its transaction committed (a rolled-back batch's number
// is taken again by the next writer), or from one statement that read
// the epoch with them (qEmailOwnersNow). Until 2026-12-06 they were kept
// as of a change number, which any write in between made stale, another
// server's event batch among them.
//
// An account's owners may be complete (accountOwners.complete): every
// email that is the own email (contacts.email) of one of its contacts
// remembered with its owner, as of their epoch. An upsert that found the
// account without a contact, under its lock (qNoContacts), makes them so;
// an upsert whose change number follows their epoch keeps them so, since
// the account's own emails after it are those before it and the own
// emails of the contacts it wrote (a stored contact's email changes only
// from none to one), which it remembers. Anything else leaves them
// incomplete: an own email the memory cannot take (maxOwners, a hash
// another email holds, a length), an email forgotten that was
// remembered with an owner (an alternate email the upsert set may be
// another contact's own), and any other epoch, which replaces them (a
// write of another server, or of this one but an upsert: a deletion, a
// change of email, PutContact); a new store starts without. An event
// batch's learning keeps them (what it adds is true of the same epoch,
// and it drops nothing); what drops an entry with an owner must make
// them incomplete. While they are complete and as of the epoch just
// before an upsert's, an email not remembered with an owner names no
// contact, and the upsert does not look it up (unowned, upsert.go).

// maxOwners bounds the emails remembered, all accounts together: an
// account of the 1M-contact bench's size is remembered whole. A million
// emails and contact ids take a table of 2^21 16-byte slots (34 MB) and
// their text (about 60 MB for the bench's emails, more while the text's
// slice grows); a Go map of strings took about 164 MB; forgetting them all costs a 1,000-event batch about 4 ms more
// of the database's CPU and 1.5 ms more of segmentd's, about 40 % more
// of each (docs/postgres.md, *Remembered email owners*). Until
// 2026-12-06 the bound was 200,000, which the 1M bench's account
// overflowed.
const maxOwners = 1_000_000

// owners remembers the owners of emails, per account.
type owners struct {
	mu    sync.Mutex
	accts map[int64]*accountOwners
	n     int // entries, all accounts together (the dead ones too)
	// hash hashes an email for accountOwners.tab: maphash with seed,
	// unless a test sets it.
	hash func(string) uint64
	seed maphash.Seed
}

// accountOwners are an account's remembered owners, kept without
// pointers but for two slices, so that the garbage collector does not
// walk a million emails on every cycle (with a map of strings it spent
// about a tenth of the server's CPU over the events of the realistic
// bench marking them, and the lookups as much again; docs/postgres.md,
// *Remembered email owners*).
type accountOwners struct {
	epoch int64      // the owners' epoch they are true as of
	tab   ownerTable // the email's hash → its entry
	text  []byte     // each entry's email then its owner's id, appended
	dead  int        // texts no entry names: an upsert replaced or forgot them
	// complete: every email that is the own email (contacts.email) of
	// one of the account's contacts is remembered with its owner, as of
	// epoch, so that an email not remembered with one names no contact
	// (unowned). Only an upsert's wrote sets it; any other change of the
	// entries replaces them or leaves it false (owners.go's header).
	complete bool
}

// ownerEntry is one remembered email: text[off:off+email] is the email,
// and the owner's id ("" for none) follows it. An email is never empty
// (ownerTable marks a free slot with 0).
type ownerEntry struct {
	off   uint32
	email uint16
	id    uint8
	// sole: the email is the owner's own (contacts.email, not an
	// alternate one) and the owner has no other identifier, so that a
	// patch naming the email alone matches it and changes nothing of it
	// but its lists. Only an upsert, which read or wrote the contact,
	// knows it; an event batch's lookups do not.
	sole bool
}

// lookup returns the owner remembered for email, if any, as bytes of the
// account's text: good only while the owners' lock is held (idStrings
// makes strings of them). Two emails whose
// hashes are equal share no entry: the second is never remembered
// (learn), so it is looked up in the database every time.
func (a *accountOwners) lookup(h uint64, email string) ([]byte, bool) {
	e, ok := a.entry(h, email)
	if !ok {
		return nil, false
	}
	return a.id(e), true
}

// texts is how many entries' texts text holds, the dead ones among them:
// what the account counts towards maxOwners.
func (a *accountOwners) texts() int { return a.tab.n + a.dead }

// id returns the owner's id of entry e, in the account's text.
func (a *accountOwners) id(e ownerEntry) []byte {
	end := e.off + uint32(e.email)
	return a.text[end : end+uint32(e.id)]
}

// idStrings makes the owners' ids one call finds strings that share one
// allocation: a string each was as many allocations as lookups, 30,000
// for a membership-only upsert, and 1,000 for an event batch.
type idStrings struct {
	buf  []byte
	hits []idHit
}

type idHit struct{ i, end int }

// add notes id as the one of out[i] (into).
func (g *idStrings) add(i int, id []byte) {
	g.buf = append(g.buf, id...)
	g.hits = append(g.hits, idHit{i, len(g.buf)})
}

// into sets the ids noted in out.
func (g *idStrings) into(out []string) {
	s, start := string(g.buf), 0
	for _, h := range g.hits {
		out[h.i] = s[start:h.end]
		start = h.end
	}
}

// entry returns email's entry, if it is remembered.
func (a *accountOwners) entry(h uint64, email string) (ownerEntry, bool) {
	e, ok := a.tab.get(h)
	if !ok || string(a.text[e.off:e.off+uint32(e.email)]) != email {
		return ownerEntry{}, false
	}
	return e, true
}

// drop forgets email's entry, if it is remembered (an entry of another
// email with its hash stays).
func (a *accountOwners) drop(h uint64, email string) {
	if _, ok := a.entry(h, email); ok {
		a.tab.remove(h)
		a.dead++
	}
}

func (o *owners) hashOf(email string) uint64 {
	if o.hash != nil {
		return o.hash(email)
	}
	return maphash.String(o.seed, email)
}

// known returns, for each of emails, the owner remembered (nil: not
// remembered; "": no contact) when the account's owners are true as of
// epoch, the batch's own; nil otherwise.
func (o *owners) known(acct, epoch int64, emails []string) []*string {
	o.mu.Lock()
	defer o.mu.Unlock()
	a := o.accts[acct]
	if a != nil && a.epoch < epoch {
		// A contact may have changed: what is remembered is stale for good.
		o.n -= a.texts()
		delete(o.accts, acct)
		return nil
	}
	if a == nil || a.epoch != epoch {
		return nil
	}
	out := make([]*string, len(emails))
	ids := make([]string, len(emails))
	var g idStrings
	for i, e := range emails {
		if id, ok := a.lookup(o.hashOf(e), e); ok {
			g.add(i, id)
			out[i] = &ids[i]
		}
	}
	if len(g.hits) == 0 {
		return nil
	}
	g.into(ids)
	return out
}

// epochOf returns the owners' epoch acct's remembered owners are true as
// of, and whether any are remembered.
func (o *owners) epochOf(acct int64) (int64, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if a := o.accts[acct]; a != nil {
		return a.epoch, true
	}
	return 0, false
}

// resolve returns, in one pass, the owner remembered for each of emails
// ("" where it is not), whether any is (known) and the epoch they are true
// as of, the distinct emails not remembered, and whether one is
// remembered as naming no contact (none).
func (o *owners) resolve(acct int64, emails []string) (epoch int64, ids []string, known bool, missing []string, none bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	a := o.accts[acct]
	ids = make([]string, len(emails))
	var g idStrings
	defer g.into(ids)
	var asked map[string]bool
	for i, e := range emails {
		if a != nil {
			if id, ok := a.lookup(o.hashOf(e), e); ok {
				g.add(i, id)
				known, none = true, none || len(id) == 0
				continue
			}
		}
		if asked == nil {
			asked = make(map[string]bool)
		}
		if !asked[e] {
			asked[e] = true
			missing = append(missing, e)
		}
	}
	if a != nil {
		epoch = a.epoch
	}
	return epoch, ids, known, missing, none
}

// learn records the owners looked up as of epoch epoch (email → contact
// id, "" for none): by a batch under its lock, once it committed, or by
// one statement that read the epoch with them. The owners remembered of
// the same epoch stay; those of an earlier one go.
func (o *owners) learn(acct, epoch int64, found map[string]string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	a := o.advance(acct, epoch, false, len(found))
	if a == nil {
		return
	}
	for e, id := range found {
		if !o.add(a, o.hashOf(e), e, id, false) {
			return
		}
	}
}

// ownedEmail is what an upsert knows of one of its contacts' emails once
// it committed: the contact whose own email it is (ownerEntry.sole).
type ownedEmail struct {
	email, id string
	sole      bool
}

// soleOwners returns, aligned with emails, the contact of each that is
// remembered as the own email of a contact with no other identifier
// (ownerEntry.sole), "" for the others and for the emails given as "",
// when the account's owners are true as of epoch-1, the one before the
// upsert's own (its change number moved the epoch by one); nil otherwise
// and when none is. Unlike known, it forgets nothing: an upsert waiting
// for the account's lock takes its number as soon as the one before
// commits, often before that one learned. Aligned, not a map: a
// membership-only batch asks for 30,000 emails, and the map's inserts
// and its readers' lookups were a fifth of the call (docs/postgres.md,
// "Session 18").
func (o *owners) soleOwners(acct, epoch int64, emails []string) []string {
	if len(emails) == 0 {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	a := o.accts[acct]
	if a == nil || a.epoch != epoch-1 {
		return nil
	}
	var g idStrings
	for i, email := range emails {
		if email == "" {
			continue
		}
		e, ok := a.entry(o.hashOf(email), email)
		if !ok || !e.sole {
			continue
		}
		g.add(i, a.id(e))
	}
	if len(g.hits) == 0 {
		return nil
	}
	out := make([]string, len(emails))
	g.into(out)
	return out
}

// unowned returns, aligned with emails, whether each names no contact
// as its own email (contacts.email) for an upsert whose change number
// moved the owners' epoch to epoch: true for each email not remembered
// with an owner ("" is false), when the account's owners are complete
// and true as of epoch-1; nil otherwise. An email remembered with an
// owner may still name none (an event batch learns an alternate email's
// owner): the upsert looks it up. nil too when emails is empty.
func (o *owners) unowned(acct, epoch int64, emails []string) []bool {
	if len(emails) == 0 {
		return nil
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	a := o.accts[acct]
	if a == nil || !a.complete || a.epoch != epoch-1 {
		return nil
	}
	out := make([]bool, len(emails))
	for i, email := range emails {
		if email == "" {
			continue
		}
		e, ok := a.entry(o.hashOf(email), email)
		out[i] = !ok || e.id == 0
	}
	return out
}

// completeAny reports whether acct's owners are complete, as of
// whichever epoch: if not, its next upsert asks whether the account has
// a contact at all (qNoContacts), and one with none makes them complete.
func (o *owners) completeAny(acct int64) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	a := o.accts[acct]
	return a != nil && a.complete
}

// wrote records what an upsert whose change number moved the owners'
// epoch to epoch knows once it committed: the own emails of the contacts
// it read or wrote, as they stand after it, and the emails whose owner it
// may have changed otherwise (forget: a contact's email it replaced, the
// alternate emails it set or added), which are forgotten. The owners
// remembered as of epoch-1 are made true as of epoch by it, being the one
// write in between.
//
// The owners are complete as of epoch (accountOwners.complete) when the
// upsert found the account without a contact (empty), or when they were
// complete as of epoch-1; and, either way, when every own email is
// remembered and no email forgotten was remembered with an owner: the
// upsert changed no contact's own email but by giving one to a contact
// it wrote (own), so the account's own emails after it are those before
// and its own ones. A forgotten email may be another contact's own (an
// alternate email the upsert set), and an own email the memory cannot
// take (the bound, a hash another email holds, a length) is missing.
func (o *owners) wrote(acct, epoch int64, empty bool, forget []string, own []ownedEmail) {
	o.mu.Lock()
	defer o.mu.Unlock()
	prev := o.accts[acct]
	complete := empty || prev != nil && prev.complete && prev.epoch == epoch-1
	a := o.advance(acct, epoch, true, len(own))
	if a == nil {
		return
	}
	a.complete = false // until all is remembered
	for _, e := range forget {
		h := o.hashOf(e)
		if x, ok := a.entry(h, e); ok && x.id > 0 {
			complete = false
		}
		a.drop(h, e)
	}
	// Every entry that differs is dropped before any is added, since room
	// may run out: an entry left as it was would be wrong, a missing one
	// is only looked up.
	hs := make([]uint64, len(own))
	for i, w := range own {
		hs[i] = o.hashOf(w.email)
		e, ok := a.entry(hs[i], w.email)
		if ok && e.sole == w.sole && string(a.id(e)) == w.id {
			own[i].email = "" // remembered as it is
			continue
		}
		a.drop(hs[i], w.email)
	}
	o.compact(a)
	for i, w := range own {
		if w.email == "" {
			continue
		}
		room, kept := o.put(a, hs[i], w.email, w.id, w.sole)
		if !room {
			return
		}
		complete = complete && kept
	}
	a.complete = complete
}

// advance returns acct's owners made true as of epoch, which a batch
// that learned as of epoch is about to add n entries to (nil: a later
// epoch's are remembered already): the same ones when they are of epoch,
// or, for an upsert (upsert: the batch moved the epoch by one, and
// changes what it changed), of epoch-1; else new ones. When the memory
// cannot take n more, the other accounts' owners make room (they may be
// stale, and an idle account's would otherwise be kept for good).
func (o *owners) advance(acct, epoch int64, upsert bool, n int) *accountOwners {
	if o.accts == nil {
		o.accts = map[int64]*accountOwners{}
		o.seed = maphash.MakeSeed()
	}
	a := o.accts[acct]
	switch {
	case a != nil && a.epoch > epoch:
		return nil
	case a != nil && (a.epoch == epoch || upsert && a.epoch == epoch-1):
		a.epoch = epoch
	default:
		if a != nil {
			o.n -= a.texts()
		}
		a = &accountOwners{epoch: epoch, tab: newOwnerTable(n)}
		o.accts[acct] = a
	}
	if o.n+n > maxOwners {
		for k, b := range o.accts {
			if k != acct {
				o.n -= b.texts()
				delete(o.accts, k)
			}
		}
	}
	return a
}

// add remembers email's owner unless an entry has its hash already (the
// same email, or another: the second is never remembered); false when
// the memory is full.
func (o *owners) add(a *accountOwners, h uint64, email, id string, sole bool) bool {
	room, _ := o.put(a, h, email, id, sole)
	return room
}

// put is add that also tells whether email has an entry once it
// returns (kept): not when another email holds its hash, or the email or
// the id is too long to remember.
func (o *owners) put(a *accountOwners, h uint64, email, id string, sole bool) (room, kept bool) {
	if o.n >= maxOwners || len(a.text)+len(email)+len(id) > math.MaxUint32 {
		return false, false
	}
	if email == "" || len(email) > math.MaxUint16 || len(id) > math.MaxUint8 {
		return true, false
	}
	if e, ok := a.tab.get(h); ok {
		// Remembered already, or another email with its hash.
		return true, string(a.text[e.off:e.off+uint32(e.email)]) == email
	}
	a.tab.insert(h, ownerEntry{off: uint32(len(a.text)), email: uint16(len(email)), id: uint8(len(id)), sole: sole})
	a.text = append(append(a.text, email...), id...)
	o.n++
	return true, true
}

// compact drops the dead entries once they are half of the account's, so
// that contacts updated again and again do not fill the memory.
func (o *owners) compact(a *accountOwners) {
	if a.dead < 1024 || 2*a.dead < a.texts() {
		return
	}
	text := make([]byte, 0, len(a.text))
	for i := range a.tab.slots {
		e := &a.tab.slots[i].e
		if e.email == 0 {
			continue
		}
		end := e.off + uint32(e.email) + uint32(e.id)
		off := uint32(len(text))
		text = append(text, a.text[e.off:end]...)
		e.off = off
	}
	o.n -= a.dead
	a.text, a.dead = text, 0
}
