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
// the account's owners' epoch when the batch that looked them up stored
// them: its change number less the change numbers event batches took
// (account_changes.event_changes, migration 0024). Every write that can
// change which contact an email names takes a change number and no event
// batch changes a contact, so the owners of two moments of one epoch are
// the same, whichever server wrote in between. A batch whose epoch, read
// under the account's lock, is the remembered one uses the owners it
// knows and looks up only the others; a batch of emails all remembered
// sends its blocks with its lock in one round trip, each block's data on
// the condition that the epoch is still the one remembered
// (AddEventBatches). A later epoch, and the account's owners are
// forgotten. The owners are taken from what the lookup read, and only
// after its transaction committed. Until 2026-12-06 they were kept as of
// a change number, which any write in between made stale, another
// server's event batch among them.

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
	epoch int64             // the owners' epoch they are true as of
	slot  map[uint64]uint32 // the email's hash → its entry
	ents  []ownerEntry
	text  []byte // each entry's email then its owner's id, appended
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
// epoch, the batch's own; nil otherwise.
func (o *owners) known(acct, epoch int64, emails []string) []*string {
	o.mu.Lock()
	defer o.mu.Unlock()
	a := o.accts[acct]
	if a != nil && a.epoch < epoch {
		// A contact may have changed: what is remembered is stale for good.
		o.n -= len(a.ents)
		delete(o.accts, acct)
		return nil
	}
	if a == nil || a.epoch != epoch {
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

// resolve returns, in one pass, the owner remembered for each of emails
// ("" where it is not), whether any is (known) and the epoch they are true
// as of, the distinct emails not remembered, and whether one is
// remembered as naming no contact (none).
func (o *owners) resolve(acct int64, emails []string) (epoch int64, ids []string, known bool, missing []string, none bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	a := o.accts[acct]
	ids = make([]string, len(emails))
	var asked map[string]bool
	for i, e := range emails {
		if a != nil {
			if id, ok := a.lookup(o.hashOf(e), e); ok {
				ids[i], known, none = id, true, none || id == ""
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
	if o.accts == nil {
		o.accts = map[int64]*accountOwners{}
		o.seed = maphash.MakeSeed()
	}
	a := o.accts[acct]
	switch {
	case a != nil && a.epoch > epoch:
		return // a later batch learned already
	case a != nil && a.epoch == epoch:
	default:
		if a != nil {
			o.n -= len(a.ents)
		}
		a = &accountOwners{epoch: epoch, slot: make(map[uint64]uint32, len(found))}
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
