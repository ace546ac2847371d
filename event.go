package segmentd

import (
	"context"
	"time"
)

// Event is one engagement event, in the shape of a SendGrid Event Webhook
// event reduced to the event_data columns segments can query
// (docs/decisions.md §5).
type Event struct {
	// Email is the recipient, lower-cased. It is what an event is matched
	// to a contact by.
	Email string
	// ContactID is the contact whose email or alternate email Email is, or
	// "" while no such contact exists. Stores set it; callers leave it "".
	ContactID string

	Source string // event_source: "mail" when empty
	// Type is SendGrid's Event Webhook name ("open", "click", "delivered",
	// …), already normalised by the caller: the past-tense forms a query may
	// use ("opened") are not stored.
	Type      string
	Timestamp time.Time // UTC; stores keep milliseconds

	SinglesendID        string
	AutomationID        string
	MarketingCampaignID string
	URL                 string
	// SGEventID is SendGrid's unique event id. An event whose SGEventID an
	// account already holds is a redelivery and changes nothing; an event
	// without one is always stored.
	SGEventID string
}

// DefaultEventSource is the event_source of events that name none: the Event
// Webhook only reports mail events.
const DefaultEventSource = "mail"

// Event limits.
const (
	// MaxAddEvents bounds one AddEvents call (the webhook splits bigger
	// batches).
	MaxAddEvents = 100_000
	// DefaultEventRetention is how long events are kept before pruning
	// (1,825 days, docs/decisions.md §9).
	DefaultEventRetention = 1825 * 24 * time.Hour
)

// EventsResult reports what AddEvents stored.
type EventsResult struct {
	Added      int // events stored
	Duplicates int // events skipped: their SGEventID was already stored (or repeated in the batch)
	Unmatched  int // stored events whose email matches no contact yet (ContactID "")
	// Events are the stored events in request order, with ContactID set
	// where a contact matched, for the membership engine.
	Events []Event
	// Change is the change number the call took in the account's history
	// and EventsThrough the number of the last event it stored (0 for
	// none), the same in every result of one AddEventBatches call; Change
	// is 0 when the store does not say. As UpsertResult.Change, they let a
	// server sharing the store apply its own events without reading them
	// back.
	Change, EventsThrough int64
}

// EventStore keeps engagement events. It is separate from Store so that a
// store can grow it without breaking the contacts contract; the SQLite and
// PostgreSQL stores implement it.
//
// Events whose email matches no contact are kept with no contact. They are
// attached when a contact with that email appears: whoever creates or
// re-addresses contacts calls AttachEvents with them after the write has
// committed (audience.Service does so), and the engine rebuild at start
// reads contact ids as stored. A contact's events are never detached: when
// its email changes, its past events stay its own, as at SendGrid, where
// engagement follows the contact id.
type EventStore interface {
	// AddEvents stores events in one transaction, matching each event's
	// email (lower-cased) to the contact whose email or alternate email it
	// is. An event whose SGEventID is already stored, or repeated earlier in
	// evs, is counted in Duplicates and changes nothing.
	AddEvents(ctx context.Context, acct int64, evs []Event) (EventsResult, error)
	// AddEventBatches stores batches in one transaction, each as AddEvents
	// would in turn (an id stored by an earlier batch is a duplicate in a
	// later one), and returns each batch's result. On an error nothing is
	// stored.
	AddEventBatches(ctx context.Context, acct int64, batches [][]Event) ([]EventsResult, error)
	// AttachEvents gives the unattached events whose email is the email or
	// an alternate email of one of cs to that contact, and returns them
	// (with ContactID set) for the membership engine.
	AttachEvents(ctx context.Context, acct int64, cs []Contact) ([]Event, error)
	// ScanEvents pages through an account's events in insertion order: up
	// to limit events stored after the sequence number afterSeq (0 to
	// start). last is the sequence number of the last event returned
	// (afterSeq when none is).
	ScanEvents(ctx context.Context, acct int64, afterSeq int64, limit int) (evs []Event, last int64, err error)
	// PruneEvents deletes the account's events that happened before before
	// (retention) and returns how many it deleted.
	PruneEvents(ctx context.Context, acct int64, before time.Time) (int, error)
	// LastEventSeq returns the sequence number of the account's newest
	// event (0 when it has none).
	LastEventSeq(ctx context.Context, acct int64) (int64, error)
}

// EventPreparer is an EventStore that does part of an event batch's work
// ahead of its write, on the caller's goroutine: an account's event
// writes run one at a time, and what needs no transaction (finding each
// event's contact among the owners the store remembers) then neither
// waits for the writes before it nor holds up the ones after it. The
// PostgreSQL store implements it.
type EventPreparer interface {
	// PrepareEvents returns a batch of events with what the store could
	// work out of them ahead of their write. It fails nothing: what it
	// could not work out, the write works out.
	PrepareEvents(ctx context.Context, acct int64, evs []Event) PreparedEvents
	// AddPreparedEventBatches is AddEventBatches of prepared batches.
	// What was prepared may have gone stale meanwhile (an upsert moved an
	// email to another contact): the write checks it under the account's
	// lock, and works it out again when it did.
	AddPreparedEventBatches(ctx context.Context, acct int64, batches []PreparedEvents) ([]EventsResult, error)
}

// PreparedEvents is a batch of events and what the store that prepared it
// worked out ahead (EventPreparer), which only that store reads; Ahead nil
// is nothing.
type PreparedEvents struct {
	Events []Event
	Ahead  any
}

// ContactEmails returns the emails of cs, each contact's own then its
// alternate ones, each once, "" left out: the emails events waiting for
// a contact may name (a store's AttachEvents).
func ContactEmails(cs []Contact) []string {
	seen := make(map[string]bool)
	var out []string
	add := func(e string) {
		if e != "" && !seen[e] {
			seen[e] = true
			out = append(out, e)
		}
	}
	for i := range cs {
		add(cs[i].Email)
		for _, a := range cs[i].AlternateEmails {
			add(a)
		}
	}
	return out
}

// WaitedEmails returns the emails of cs (as ContactEmails) that waiting,
// the emails of events waiting for a contact, names, each once, in the
// order cs names them.
func WaitedEmails(cs []Contact, waiting []string) []string {
	want := make(map[string]bool, len(waiting))
	for _, e := range waiting {
		want[e] = true
	}
	var out []string
	for _, e := range ContactEmails(cs) {
		if want[e] {
			out = append(out, e)
		}
	}
	return out
}
