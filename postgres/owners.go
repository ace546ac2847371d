package postgres

import (
	"hash/maphash"
	"math"
	"sync"
)

// The owners of events' emails, remembered between event batches. Finding
// each event's contact by its email was about half of an event batch's
// statement (one probe of contacts_email per event). The store remembers,
// per account, the contact each email of its stored events named, as of
// the account's change number of the batch that stored them; a batch
// whose change number is the next one (no write of any server took a
// number in between, and every write that can change which contact an
// email names takes one) sends the owners it knows with the events, and
// the statement looks up only the others. Any other number, a write of
// this server's or another's in between, and the account's owners are
// forgotten. The owners are taken from what the statement stored, and
// only after its transaction committed: a rolled-back batch's number is
// taken again by the next writer.

// maxOwners bounds the emails remembered, all accounts together: an
// account of the 1M-contact bench's size is remembered whole. A map of a
// million emails and contact ids takes about 164 MB of heap (164 bytes
// each); forgetting them all costs a 1,000-event batch about 4 ms more
// of the database's CPU and 1.5 ms more of segmentd's, about 40 % more
// of each (docs/postgres.md, *Remembered email owners*). Until
// 2026-12-06 the bound was 200,000, which the 1M bench's account
// overflowed.
const maxOwners = 1_000_000

// owners remembers the owners of events' emails, per account.
type owners struct {
	mu    sync.Mutex
	accts map[int64]*accountOwners
	n     int // emails remembered, all accounts together
	// hash hashes an email for accountOwners.slot: maphash with seed,
	// unless a test sets it.
	hash func(string) uint64
	seed maphash.Seed
}

// accountOwners are an account's remembered owners, kept without
// pointers but for three slices, so that the garbage collector does not
// walk a million emails on every cycle (with a map of strings it spent
// about a tenth of the server's CPU over the events of the realistic
// bench marking them, and the lookups as much again; docs/postgres.md,
// *Remembered email owners*).
type accountOwners struct {
	change int64             // the change number they are true as of
	slot   map[uint64]uint32 // the email's hash → its entry
	ents   []ownerEntry
	text   []byte // each entry's email then its owner's id, appended
}

// ownerEntry is one remembered email: text[off:off+email] is the email,
// and the owner's id ("" for none) follows it.
type ownerEntry struct {
	off       uint32
	email, id uint16
}

// lookup returns the owner remembered for email, if any. Two emails whose
// hashes are equal share no entry: the second is never remembered
// (learn), so it is looked up in the database every time.
func (a *accountOwners) lookup(h uint64, email string) (string, bool) {
	i, ok := a.slot[h]
	if !ok {
		return "", false
	}
	e := a.ents[i]
	end := e.off + uint32(e.email)
	if string(a.text[e.off:end]) != email {
		return "", false
	}
	return string(a.text[end : end+uint32(e.id)]), true
}

func (o *owners) hashOf(email string) uint64 {
	if o.hash != nil {
		return o.hash(email)
	}
	return maphash.String(o.seed, email)
}

// known returns, for each of emails, the owner remembered (nil: not
// remembered; "": no contact) when the account's owners are true as of
// change-1, the number before the batch's own; nil otherwise.
func (o *owners) known(acct, change int64, emails []string) []*string {
	o.mu.Lock()
	defer o.mu.Unlock()
	a := o.accts[acct]
	if a != nil && a.change < change-1 {
		// A write came in between: what is remembered is stale for good.
		o.n -= len(a.ents)
		delete(o.accts, acct)
		return nil
	}
	if a == nil || a.change != change-1 {
		return nil
	}
	out := make([]*string, len(emails))
	ids := make([]string, len(emails))
	hit := false
	for i, e := range emails {
		if id, ok := a.lookup(o.hashOf(e), e); ok {
			ids[i] = id
			out[i] = &ids[i]
			hit = true
		}
	}
	if !hit {
		return nil
	}
	return out
}

// learn records the owners a batch that took change number change looked
// up (email → contact id, "" for none), once it committed. The owners it
// knew already (known) stay as they are: the batch's number is the next
// one after theirs.
func (o *owners) learn(acct, change int64, found map[string]string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.accts == nil {
		o.accts = map[int64]*accountOwners{}
		o.seed = maphash.MakeSeed()
	}
	a := o.accts[acct]
	switch {
	case a != nil && a.change > change:
		return // a later batch learned already
	case a != nil && a.change == change-1:
		a.change = change
	default:
		if a != nil {
			o.n -= len(a.ents)
		}
		a = &accountOwners{change: change, slot: make(map[uint64]uint32, len(found))}
		o.accts[acct] = a
	}
	if o.n+len(found) > maxOwners {
		// Full: the other accounts' owners make room (they may be stale,
		// and an idle account's would otherwise be kept for good).
		for k, b := range o.accts {
			if k != acct {
				o.n -= len(b.ents)
				delete(o.accts, k)
			}
		}
	}
	for e, id := range found {
		if o.n >= maxOwners || len(a.text)+len(e)+len(id) > math.MaxUint32 {
			return
		}
		if len(e) > math.MaxUint16 || len(id) > math.MaxUint16 {
			continue
		}
		h := o.hashOf(e)
		if _, ok := a.slot[h]; ok {
			continue // remembered already, or another email with its hash
		}
		a.slot[h] = uint32(len(a.ents))
		a.ents = append(a.ents, ownerEntry{off: uint32(len(a.text)), email: uint16(len(e)), id: uint16(len(id))})
		a.text = append(append(a.text, e...), id...)
		o.n++
	}
}
