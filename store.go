package segmentd

import (
	"context"
	"time"
)

// Store is the durable system of record. SQLite (package sqlite) and
// PostgreSQL implement it. Every method is scoped to one account; an id from
// another account is "not found". Writes are atomic: a method that returns an
// error has changed nothing. Errors meant for clients are *Error values;
// anything else is internal.
type Store interface {
	// Accounts and keys.
	CreateAccount(ctx context.Context, name string, parentID int64, now time.Time) (Account, error) // duplicate name: KindConflict
	Account(ctx context.Context, id int64) (Account, error)
	AccountByName(ctx context.Context, name string) (Account, error)
	Accounts(ctx context.Context) ([]Account, error)
	CreateAPIKey(ctx context.Context, k APIKey) (APIKey, error) // k.Hash is set; returns it with its id
	APIKeyByHash(ctx context.Context, hash string) (APIKey, error)
	CountAPIKeys(ctx context.Context) (int, error)
	// APIKeys returns the keys of an account (acct 0: of every account),
	// ordered by id.
	APIKeys(ctx context.Context, acct int64) ([]APIKey, error)
	// RevokeAPIKey deletes a key: from then on APIKeyByHash does not find
	// it. An unknown id is KindNotFound.
	RevokeAPIKey(ctx context.Context, id int64) error

	// ResetAccount deletes everything the account holds, in every table of
	// the store: its contacts, lists, field definitions, tags, segments of
	// both vendors, events and finished jobs (pending ones belong to writes
	// queued after the reset and stay), as one write that takes a change
	// number and records it as the account's reset (AccountChanges.ResetAt).
	// The account, its API keys and its webhook key are kept, and so are
	// its counters: a field id is never given out twice in an account. It
	// returns the change number of the reset.
	ResetAccount(ctx context.Context, acct int64) (int64, error)
	// DeleteAccount deletes the account, everything ResetAccount deletes,
	// its pending jobs, API keys and webhook key, and records the deletion
	// in the change history (AccountChanges.Dropped). An account with
	// subusers is KindConflict and changes nothing. An account id is never
	// given out again.
	DeleteAccount(ctx context.Context, acct int64) error

	// Custom field definitions (reserved fields are constants, never stored).
	FieldDefinitions(ctx context.Context, acct int64) ([]FieldDefinition, error) // custom fields, by creation order
	// CreateFieldDefinition assigns the next id (FieldIDPrefix(t) + a per-account
	// counter that never reuses a number), rejects a name equal ignoring case to
	// an existing one (KindConflict) and a create beyond max fields (KindInvalid).
	CreateFieldDefinition(ctx context.Context, acct int64, name string, t FieldType, max int, now time.Time) (FieldDefinition, error)
	RenameFieldDefinition(ctx context.Context, acct int64, id, name string) (FieldDefinition, error)
	// DeleteFieldDefinition removes the definition and its value from every contact.
	DeleteFieldDefinition(ctx context.Context, acct int64, id string) error

	// Lists.
	CreateList(ctx context.Context, acct int64, name string, now time.Time) (List, error) // duplicate name ignoring case: KindConflict
	// Lists returns up to limit lists ordered by id, starting after the id
	// afterID ("" for the first page), with their contact counts.
	Lists(ctx context.Context, acct int64, afterID string, limit int) ([]List, error)
	CountLists(ctx context.Context, acct int64) (int, error)
	// List, Lists and RenameList leave ContactCount zero: counting reads
	// every membership of the list, so the Service takes the count from
	// the engine. CountListMembers is the store's count (0 for a list
	// that does not exist), for a Service without an engine and for tests.
	List(ctx context.Context, acct int64, id string) (List, error)
	CountListMembers(ctx context.Context, acct int64, id string) (int, error)
	RenameList(ctx context.Context, acct int64, id, name string, now time.Time) (List, error)
	// CreateListWith creates a list as CreateList does, with l's Name,
	// Description and Favorite, unless the account has max lists already
	// (KindInvalid).
	CreateListWith(ctx context.Context, acct int64, l List, max int, now time.Time) (List, error)
	// UpdateList sets list l.ID's name (RenameList's rules), description
	// and favorite flag.
	UpdateList(ctx context.Context, acct int64, l List, now time.Time) (List, error)
	// DeleteList removes the list and its memberships and returns the ids of
	// the contacts that were on it.
	DeleteList(ctx context.Context, acct int64, id string) ([]string, error)
	// RemoveListMembers takes contacts off a list; it returns how many were on it.
	RemoveListMembers(ctx context.Context, acct int64, listID string, contactIDs []string) (int, error)

	// Contacts.
	// UpsertContacts applies validated patches in order inside one
	// transaction: each is matched to an existing contact by its identifiers
	// (email, phone_number_id, external_id, anonymous_id), merged with
	// ApplyPatch, and added to listIDs (a contact it creates takes the
	// place of a DeletedContact of its email, which goes). A patch whose identifiers match two
	// different contacts, or that ApplyPatch rejects, is reported in
	// UpsertResult.Errors and skipped; the others are applied. Unknown
	// listIDs are KindNotFound and change nothing.
	UpsertContacts(ctx context.Context, acct int64, patches []ContactPatch, listIDs []string, now time.Time) (UpsertResult, error)
	Contact(ctx context.Context, acct int64, id string) (Contact, error)
	// ContactsByIDs returns the contacts that exist, in the order of ids.
	ContactsByIDs(ctx context.Context, acct int64, ids []string) ([]Contact, error)
	// ContactsByEmails maps each given (lower-cased) address to the contact
	// whose email or alternate email it is; misses are absent from the map.
	ContactsByEmails(ctx context.Context, acct int64, emails []string) (map[string]Contact, error)
	// ContactsByIdentifier maps each value to the contact with that identifier.
	ContactsByIdentifier(ctx context.Context, acct int64, t IdentifierType, values []string) (map[string]Contact, error)
	CountContacts(ctx context.Context, acct int64) (int, error)
	// ScanContacts pages through an account's contacts in id order: up to
	// limit contacts with ids greater than afterID ("" to start).
	ScanContacts(ctx context.Context, acct int64, afterID string, limit int) ([]Contact, error)
	// SampleContacts returns up to limit of the most recently updated
	// contacts, sorted by email (SendGrid's GET /contacts sample).
	SampleContacts(ctx context.Context, acct int64, limit int) ([]Contact, error)
	// DeleteContacts deletes the contacts that exist (with their list
	// memberships) and returns how many were deleted.
	DeleteContacts(ctx context.Context, acct int64, ids []string) (int, error)
	DeleteAllContacts(ctx context.Context, acct int64) (int, error)
	// DeleteIdentifier clears one identifier of a contact. Clearing its last
	// identifier is KindInvalid and changes nothing; a value that is not the
	// contact's is KindNotFound.
	DeleteIdentifier(ctx context.Context, acct int64, contactID string, t IdentifierType, value string, now time.Time) error

	// Constant Contact's tags.
	TagStore
	// Constant Contact's deleted contacts, and its one-contact PUT.
	DeletedContactStore
	// SetCCDetails replaces a contact's Constant Contact-only attributes
	// (Contact.CC) and reports whether they changed; when they did, the
	// contact's UpdatedAt becomes now and the write is a change of it in
	// the account's history. An unknown contact is KindNotFound.
	SetCCDetails(ctx context.Context, acct int64, contactID string, d CCDetails, now time.Time) (bool, error)
	// ChangeEmail gives a contact another email (normalised and valid:
	// Constant Contact's PUT /v3/contacts/{id} changes it, where SendGrid
	// matches contacts by it), moves its UpdatedAt to now and is a change
	// of it in the history. Another contact's email is KindConflict; an
	// unknown contact KindNotFound.
	ChangeEmail(ctx context.Context, acct int64, contactID, email string, now time.Time) error

	// Jobs. audience.Service stores a job once, when it has finished (a pending
	// job lives in memory), so a stored job is never updated.
	CreateJob(ctx context.Context, j Job) error // an id already stored is KindConflict
	Job(ctx context.Context, acct int64, id string) (Job, error)
	// Jobs returns a page of the account's stored jobs (finished, and a
	// shared store's pending ones) that q selects, by start time and then
	// id, both descending.
	Jobs(ctx context.Context, acct int64, q JobsQuery) ([]Job, error)
	// DeleteJobs deletes the account's finished jobs of the types that
	// started before before (Constant Contact lists activities for 10
	// days), and returns how many it deleted. Pending jobs stay.
	DeleteJobs(ctx context.Context, acct int64, types []JobType, before time.Time) (int, error)

	// Change history, for the membership engine: every transaction that
	// writes contacts (upserts, identifier deletes, removals from a list),
	// deletes contacts or a list, stores or attaches events, or writes a
	// field definition or a segment (either vendor's) takes the next number of
	// its account's change sequence, and within an account the
	// numbers increase in commit order. (A store may number every account
	// from one sequence: an account's numbers then skip.) The engine's
	// snapshot replays what changed after the numbers it was taken at.
	//
	// ChangeMark returns the store's identity and each account's last
	// number taken.
	ChangeMark(ctx context.Context) (ChangeMark, error)
	// ReadAccount reads all of an account's live contacts (in id order)
	// and, when events is not nil, its events (in sequence order), page by
	// page from one consistent view of the store, and returns the change
	// number and event sequence number that view is at: the engine's
	// rebuild reads an account so, and then follows Changes from there.
	// An error from a callback stops the read and is returned. The slice
	// a callback is given is its own only until it returns: the store may
	// reuse it for the next page (the values in it may be kept).
	ReadAccount(ctx context.Context, acct int64, contacts func([]Contact) error, events func([]Event) error) (change, event int64, err error)
	// Changes reads, from one consistent view of the store, what changed
	// in an account after its change number after, with the events stored
	// after its event sequence number afterEvent (at most eventLimit of
	// them). Applying the result in field order brings a copy of the
	// account taken at (after, afterEvent) up to (Through, EventsThrough):
	// the membership engine's snapshot replay reads it so, and so does a
	// server that follows a store other servers write to.
	Changes(ctx context.Context, acct int64, after, afterEvent int64, eventLimit int) (AccountChanges, error)
	// ForgetChanges drops the records of deletions, attached events and
	// (where a store keeps them apart) contacts that only joined lists,
	// that each account of mark made at or before its number there: a
	// snapshot has taken them in, and Changes is not asked about them
	// again.
	ForgetChanges(ctx context.Context, mark ChangeMark) error

	Close() error
}

// ChangeMark is a point in a store's change history.
type ChangeMark struct {
	// StoreID tells one database from another: a mark from another store
	// means nothing here.
	StoreID string
	// Seqs holds each account's last change number; an account missing
	// from it had taken none.
	Seqs map[int64]int64
}

// Seq is acct's last change number at the mark.
func (m ChangeMark) Seq(acct int64) int64 { return m.Seqs[acct] }

// AccountChanges is what changed in an account after a point of its
// history (Store.Changes). Unless Dropped or ResetAt say otherwise,
// applied in field order (Catalog reloaded,
// AllDeleted, Deleted, DeletedLists, Changed re-read from the store, then
// Attached and Events) it brings a copy taken at that point up to date.
type AccountChanges struct {
	// Dropped reports that the account was deleted (Store.DeleteAccount):
	// a reader forgets it, and the other fields are empty.
	Dropped bool
	// ResetAt is the change number of the account's last reset
	// (Store.ResetAccount) after the point asked for, 0 when none. Nothing
	// the account held before it is left, and the other fields are empty:
	// a reader drops its copy of the account, reloads its fields and
	// segments, and reads the changes after (ResetAt, event 0) instead
	// (event sequence numbers may start again after a reset).
	ResetAt int64
	// Catalog reports that the account's field definitions or segments
	// (SendGrid's or Constant Contact's) changed: a reader reloads them.
	Catalog    bool
	AllDeleted bool // every contact of the account was deleted
	// Deleted are the contacts deleted. An id comes back only when
	// Constant Contact's face revives its contact (Store.PutContact):
	// Changed then has it too, and applied after Deleted it is live again.
	Deleted      []string
	DeletedLists []string
	Changed      []string // live contacts created or written, by id
	// Through is the account's change number the changes run through.
	Through int64
	// Attached are the events, with sequence numbers up to the event point
	// asked for, that these changes gave a contact (they were stored
	// before their contact existed), with ContactID set.
	Attached []Event
	// Events are the events stored after the event point asked for, in
	// order, with ContactID where a contact matched.
	Events []Event
	// EventsThrough is the sequence number of the last event in Events
	// (the event point asked for when there is none).
	EventsThrough int64
}

// UpsertResult counts what an upsert did.
type UpsertResult struct {
	Created int
	Updated int
	Errors  []JobError // Index is the patch's position in the request
	// Contacts are the created and updated contacts as stored (full state,
	// with ListIDs, unless ListsAdded), in request order, for the
	// membership engine.
	Contacts []Contact
	// ListsAdded says that the stored contacts of Contacts carry in
	// ListIDs only the lists the upsert put them on, not every list they
	// are on: the store did not read their lists back (the SQLite store,
	// for many changed contacts, docs/sqlite.md). Contacts it created
	// carry their lists in full either way, and every other field is the
	// stored state. An upsert only adds lists, so the engine keeps the
	// lists it holds of each contact and adds these
	// (Membership.PutContactsAddingLists); a reader that needs a
	// contact's lists reads it from the store.
	ListsAdded bool
	// Joined are the ids of stored contacts the upsert changed no field of
	// (ApplyPatch) and only put on its listIDs, sorted. A store may report
	// them in Contacts instead; one that does not need not read their
	// fields or lists back (a client re-sending identifiers to add
	// contacts to a list, the bulk of an account's load).
	Joined []string
	// Change is the change number the write took in its account's history
	// (Store.Changes), or 0 when the store does not say: a server sharing
	// the store whose engine stands just before it applies Contacts
	// without reading them back.
	Change int64
}

// LeanAccountReader is a Store that reads an account for the engine's
// rebuild without what the engine does not read: writing out each
// event's email and sg_event_id was about a tenth of what reading the
// events allocated (the SQLite store). The rebuild uses it when the store
// has it, and ReadAccount otherwise.
type LeanAccountReader interface {
	// ReadAccountLean is ReadAccount with every event's Email and
	// SGEventID empty.
	ReadAccountLean(ctx context.Context, acct int64, contacts func([]Contact) error, events func([]Event) error) (change, event int64, err error)
}

// APIKeyAccountReader is a Store that reads an API key by its hash and the
// key's account in one statement (the PostgreSQL store: one round trip
// rather than two, on every request). Authentication uses it when the
// store has it.
type APIKeyAccountReader interface {
	// APIKeyWithAccount returns what APIKeyByHash(hash) returns and the
	// key's account, as Account(key.AccountID) returns it (KindNotFound
	// when either is unknown).
	APIKeyWithAccount(ctx context.Context, hash string) (APIKey, Account, error)
}

// ContactUpsert is one upsert of an UpsertGrouper's group: what
// Store.UpsertContacts takes.
type ContactUpsert struct {
	Patches []ContactPatch
	ListIDs []string
}

// UpsertGrouper is a store that can apply several upserts of one account
// in one transaction (the SQLite store): each as UpsertContacts would,
// in order, each seeing the ones before it. A queue of upserts then pays
// the commit and the pages every upsert rewrites once for the group
// (docs/jobs.md, "Upserts grouped"). errs[i] is upsert i's own failure
// (an unknown list: KindNotFound), which leaves the store as it was
// before it and the other upserts applied; err, when not nil, is a
// failure of the whole group, which then changed nothing.
type UpsertGrouper interface {
	UpsertContactsGroup(ctx context.Context, acct int64, ups []ContactUpsert, now time.Time) (res []UpsertResult, errs []error, err error)
}

// Notifier wakes the servers that share a store when one of them changes
// an account (PostgreSQL's LISTEN/NOTIFY). Listen calls changed with the
// id of each account whose change history moved, until ctx ends or the
// notifications fail (its error); a follower polls the change marks as
// well, so a lost notification delays a change but never loses it.
// Listen leaves out the changes the listening store itself made (as well
// as it can tell): the server that made a write brings it to its own
// engine, and hearing of it again would only read it back.
type Notifier interface {
	Listen(ctx context.Context, changed func(acct int64)) error
}

// yieldKey keys the function WithYield puts in a context.
type yieldKey struct{}

// WithYield returns ctx carrying f, which a store's long write calls at
// its yield points (Yield): segmentd's job worker passes one that waits
// while requests are being accepted, so that applying a backlog does not
// hold up the 202 of the requests that add to it (docs/jobs.md, "The
// apply yields").
func WithYield(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, yieldKey{}, f)
}

// Yield calls the function WithYield put in ctx, if any: a store calls it
// between the pieces of a long write (every few hundred rows), where
// waiting holds nothing but its own transaction.
func Yield(ctx context.Context) {
	if f, ok := ctx.Value(yieldKey{}).(func()); ok {
		f()
	}
}

// listsKey keys the mark WithoutLists puts in a context.
type listsKey struct{}

// WithoutLists returns ctx asking a store's reads by contact (Contact,
// ContactsByIDs, ContactsByEmails, ContactsByIdentifier, SampleContacts)
// to leave the contacts' ListIDs out: the caller fills them
// from the membership engine, which holds every contact's lists in
// memory, where the SQLite store seeks each contact in each list of the
// account (docs/sqlite.md, "Lists from the engine"). A store may fill
// them all the same (the PostgreSQL store does); everything else it
// reads as without the mark. Only a caller whose engine is at least as
// current as the store for what its client may rely on asks: the job
// worker's own engine, not a follower of a shared store
// (docs/decisions.md §19).
func WithoutLists(ctx context.Context) context.Context {
	return context.WithValue(ctx, listsKey{}, true)
}

// ListsLeftOut reports whether ctx carries WithoutLists.
func ListsLeftOut(ctx context.Context) bool {
	v, _ := ctx.Value(listsKey{}).(bool)
	return v
}
