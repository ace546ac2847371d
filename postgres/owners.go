package postgres

import "sync"

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
}

type accountOwners struct {
	change int64             // the change number they are true as of
	email  map[string]string // email → contact id ("": none)
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
		o.n -= len(a.email)
		delete(o.accts, acct)
		return nil
	}
	if a == nil || a.change != change-1 {
		return nil
	}
	out := make([]*string, len(emails))
	hit := false
	for i, e := range emails {
		if id, ok := a.email[e]; ok {
			out[i] = &id
			hit = true
		}
	}
	if !hit {
		return nil
	}
	return out
}

// learn records the owners a batch that took change number change found
// (email → contact id, "" for none), once it committed.
func (o *owners) learn(acct, change int64, found map[string]string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.accts == nil {
		o.accts = map[int64]*accountOwners{}
	}
	a := o.accts[acct]
	switch {
	case a != nil && a.change > change:
		return // a later batch learned already
	case a != nil && a.change == change-1:
		a.change = change
	default:
		if a != nil {
			o.n -= len(a.email)
		}
		a = &accountOwners{change: change, email: make(map[string]string, len(found))}
		o.accts[acct] = a
	}
	if o.n+len(found) > maxOwners {
		// Full: the other accounts' owners make room (they may be stale,
		// and an idle account's would otherwise be kept for good).
		for k, b := range o.accts {
			if k != acct {
				o.n -= len(b.email)
				delete(o.accts, k)
			}
		}
	}
	for e, id := range found {
		if _, ok := a.email[e]; ok {
			continue
		}
		if o.n >= maxOwners {
			return
		}
		a.email[e] = id
		o.n++
	}
}
