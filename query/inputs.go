package query

import "sort"

// Inputs is what a checked query can read of a contact: the parts of a
// Record its Program may look at. A Record filled only in these parts (the
// rest left zero) gives the same result.
type Inputs struct {
	// Text has bit f set when Record.Text[f] is read (FieldEmail is set
	// when EmailDomains is, since it derives from the email).
	Text uint32
	// Custom lists the catalogue slots read, ascending.
	Custom []int

	ID, CreatedAt, UpdatedAt               bool
	ListIDs, AlternateEmails, EmailDomains bool
	TagIDs                                 bool

	// Events reports whether Record.Events is read; EventColumns has bit
	// 1<<c set for each Event field read besides the timestamp, in
	// EventSource … EventURL order.
	Events       bool
	EventColumns uint8
}

// Bits of Inputs.EventColumns.
const (
	EventSource uint8 = 1 << iota
	EventType
	EventSinglesendID
	EventAutomationID
	EventCampaignID
	EventURL
)

// Inputs returns what the query reads, from its checked tree.
func (ch *Checked) Inputs() Inputs { return inputsOf(ch.root) }

// inputsOf is what the checked tree under root reads.
func inputsOf(root *cnode) Inputs {
	var in Inputs
	slots := map[int]bool{}
	var walk func(n *cnode)
	walk = func(n *cnode) {
		if n == nil {
			return
		}
		switch n.k {
		case kField, kContains:
			switch n.f.kind {
			case fkText:
				in.Text |= 1 << n.f.text
			case fkID:
				in.ID = true
			case fkCreatedAt:
				in.CreatedAt = true
			case fkUpdatedAt:
				in.UpdatedAt = true
			case fkListIDs:
				in.ListIDs = true
			case fkTagIDs:
				in.TagIDs = true
			case fkAltEmails:
				in.AlternateEmails = true
			case fkEmailDomains:
				in.EmailDomains = true
				in.AlternateEmails = true
				in.Text |= 1 << FieldEmail
			case fkCustom:
				slots[n.f.slot] = true
			}
		case kEvField:
			in.Events = true
			switch n.ec {
			case ecContactID:
				in.ID = true
			case ecSource:
				in.EventColumns |= EventSource
			case ecType:
				in.EventColumns |= EventType
			case ecSinglesendID:
				in.EventColumns |= EventSinglesendID
			case ecAutomationID:
				in.EventColumns |= EventAutomationID
			case ecCampaignID:
				in.EventColumns |= EventCampaignID
			case ecURL:
				in.EventColumns |= EventURL
			}
		case kExists, kLastEvent:
			in.Events = true
		}
		for _, a := range n.args {
			walk(a)
		}
	}
	walk(root)
	for s := range slots {
		in.Custom = append(in.Custom, s)
	}
	sort.Ints(in.Custom)
	return in
}

// IntervalUnit reads a time unit of INTERVAL and timestampadd (singular or
// plural, any case): fixed-length units as ms, calendar units as months.
func IntervalUnit(name string) (ms, months int64, ok bool) {
	u, ok := lookupUnit(name)
	return u.ms, u.months, ok
}

// AddTime is the queries' time arithmetic: t (unix ms, UTC) plus months
// calendar months (time.AddDate, as SQLite's '+N months': Jan 31 + 1 month
// is Mar 3), then plus ms.
func AddTime(t, months, ms int64) int64 { return addTime(t, months, ms) }
