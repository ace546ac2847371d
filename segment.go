package segmentd

import (
	"context"
	"io"
	"time"
)

// Segment is a saved query over an account's contacts. SendGrid segments
// are either v1 (SGQL, QueryVersion "") or 2.0 (SQL, QueryVersion "2").
// Constant Contact segments are CCSegments, stored apart; they cross the
// Membership seam as Segments of QueryVersion "cc" (CCSegment.EngineSegment).
type Segment struct {
	ID            string
	Name          string
	QueryDSL      string
	QueryVersion  string   // "2" for Segments 2.0 SQL, "" for a v1 SGQL segment, "cc" for Constant Contact criteria
	ParentListIDs []string // at most one ("only one for now", as at SendGrid)

	CreatedAt time.Time
	UpdatedAt time.Time

	// SampleUpdatedAt is when contacts_count and contacts_sample were last
	// recomputed in --refresh=scheduled mode; zero until then.
	SampleUpdatedAt time.Time
	// LastRefreshedAt is the last manual refresh (zero when never).
	LastRefreshedAt time.Time

	// DeletedAt is set when the segment was deleted. SendGrid forgets a
	// deleted segment; Constant Contact keeps its details readable by id.
	DeletedAt time.Time
}

// Live reports whether the segment has not been deleted.
func (s *Segment) Live() bool { return s.DeletedAt.IsZero() }

// Segment limits (docs/decisions.md §8, docs/sendgrid.md "Segments").
const (
	MaxSegmentNameLength   = 100
	DefaultMaxLiveSegments = 200
	SegmentSampleSize      = 50
	MaxSegmentParentLists  = 1

	// Manual refresh limits of POST /segments/2.0/refresh/{id}.
	MaxRefreshesPerSegmentHour = 1
	MaxRefreshesPerSegmentDay  = 2
	MaxRefreshesPerAccountDay  = 10
)

// Refresh is one manual segment refresh, kept to enforce SendGrid's limits.
type Refresh struct {
	SegmentID string
	At        time.Time
	TimeZone  string // the caller's IANA zone, whose midnight starts its day
}

// SegmentStore keeps segments and their refresh history. It is separate from
// Store so that a store can grow it without breaking the contacts contract;
// the SQLite and PostgreSQL stores implement both.
type SegmentStore interface {
	// CreateSegment stores a new segment. A live segment of the same name
	// (ignoring case) is KindConflict; more than maxLive live segments is
	// KindInvalid; so is a parent list that is not a list of the account,
	// checked in the same transaction as the insert, so that a list deleted
	// meanwhile cannot leave a segment on a list that is gone.
	CreateSegment(ctx context.Context, acct int64, s Segment, maxLive int) (Segment, error)
	// Segments returns the account's live segments, oldest first.
	Segments(ctx context.Context, acct int64) ([]Segment, error)
	// Segment returns a segment by id, deleted ones included (callers decide
	// whether a deleted segment is visible).
	Segment(ctx context.Context, acct int64, id string) (Segment, error)
	// UpdateSegment replaces a live segment's name, query and timestamps; a
	// name taken by another live segment is KindConflict.
	UpdateSegment(ctx context.Context, acct int64, s Segment) (Segment, error)
	// DeleteSegment marks a live segment deleted.
	DeleteSegment(ctx context.Context, acct int64, id string, now time.Time) error
	// DeleteListWithSegments deletes a list as Store.DeleteList does and,
	// in the same transaction, marks deleted (at now) every live segment
	// whose parent list it was (docs/decisions.md §13). It returns the ids
	// of the contacts that were on the list and of the segments it deleted,
	// each sorted. An unknown list is KindNotFound and deletes nothing.
	DeleteListWithSegments(ctx context.Context, acct int64, listID string, now time.Time) (members, segments []string, err error)
	// RecordRefresh stores a manual refresh and sets the segment's
	// LastRefreshedAt, unless allow refuses it: allow is given the
	// account's refreshes at or after since, read in the same transaction
	// with the account's refreshes held against concurrent ones (several
	// servers may share the store), and its error is returned as is.
	RecordRefresh(ctx context.Context, acct int64, r Refresh, since time.Time, allow func(past []Refresh) error) error
	// Refreshes returns the account's manual refreshes at or after since.
	Refreshes(ctx context.Context, acct int64, since time.Time) ([]Refresh, error)
}

// SegmentRefreshReader is a SegmentStore that reads a segment and its own
// refreshes in one statement (the PostgreSQL store: one round trip, and on
// Citus one task on the account's worker, where Segment then Refreshes
// took two). A segment GET uses it when the store has it.
type SegmentRefreshReader interface {
	// SegmentWithRefreshes returns what Segment(acct, id) returns and,
	// with it, the segment's refreshes at or after since, oldest first.
	SegmentWithRefreshes(ctx context.Context, acct int64, id string, since time.Time) (Segment, []Refresh, error)
}

// Membership is the seam between audience.Service and the in-memory membership
// engine (package engine), which the root package cannot import. Queries
// cross it as text in their dialect; the engine parses, checks and compiles
// them against the account's fields. Every read takes now, so time-window
// segments are exact as of the request.
type Membership interface {
	// DropAccount forgets everything of an account (reset or deleted).
	DropAccount(acct int64)
	SetFields(acct int64, defs []FieldDefinition, now time.Time)
	PutContacts(acct int64, cs []Contact, now time.Time)
	// PutContactsAddingLists is PutContacts, except that a contact it
	// already holds stays on the lists it is on, and joins those of its
	// ListIDs: an upsert's contacts when UpsertResult.ListsAdded.
	PutContactsAddingLists(acct int64, cs []Contact, now time.Time)
	// AddToLists puts contacts it holds on lists (UpsertResult.Joined) and
	// re-checks them.
	AddToLists(acct int64, ids, listIDs []string, now time.Time)
	DeleteContacts(acct int64, ids []string, now time.Time)
	DeleteAllContacts(acct int64, now time.Time)
	// DeleteList takes every contact off a deleted list.
	DeleteList(acct int64, listID string, now time.Time)
	// DeleteTag takes every contact off a deleted tag (Constant
	// Contact's; a contact's tags are Contact.TagIDs).
	DeleteTag(acct int64, tagID string, now time.Time)
	// AddEvents records engagement events of their contacts (events with
	// no ContactID, or of an unknown contact, are ignored) and re-checks
	// those contacts.
	AddEvents(acct int64, evs []Event, now time.Time)

	// CheckQuery parses and checks a query without saving it (a segment's,
	// or a contacts search's: SGQL checks the same way for both).
	CheckQuery(acct int64, lang QueryLang, src string) error
	PutSegment(acct int64, id string, lang QueryLang, src string, parentListID string, now time.Time) error
	// PutSegments loads several segments in one pass over the contacts (the
	// rebuild at start); it returns, per segment, why its query no longer
	// checks (nil when it is fine).
	PutSegments(acct int64, segs []Segment, now time.Time) []error
	RemoveSegment(acct int64, id string)
	// SegmentError says why a segment matches nobody because its query no
	// longer checks against the account's fields (nil when it is fine).
	SegmentError(acct int64, id string) error
	Count(acct int64, segmentID string, now time.Time) int
	IdentifierCounts(acct int64, segmentID string, now time.Time) IdentifierCounts
	Members(acct int64, segmentID string, limit int, now time.Time) []string
	// MembersFrom pages through a segment's members in the engine's index
	// order: up to limit ids starting at the offset-th member (Constant
	// Contact's GET /v3/contacts?segment_id= cursor).
	MembersFrom(acct int64, segmentID string, offset, limit int, now time.Time) []string
	SegmentsOf(acct int64, contactID string, now time.Time) []string
	// SegmentsOfMany is SegmentsOf for several contacts at once: out[i]
	// holds the segments of contactIDs[i].
	SegmentsOfMany(acct int64, contactIDs []string, now time.Time) [][]string
	// ContactCount is the account's number of contacts, and ListCount the
	// number on one list: what the store would count, held in memory so
	// that reading them does not grow with the account (docs/decisions.md
	// §19).
	ContactCount(acct int64) int
	ListCount(acct int64, listID string) int
	// ListSample is up to limit of a list's members, the contacts that
	// reached the engine last first (newest created, but for an index a
	// deletion freed): a list's contact_sample, rendered by ContactsByIDs.
	ListSample(acct int64, listID string, limit int) []string
	// TagCount is the number of contacts that have a tag. TaggedContacts
	// pages through the contacts that have any of tagIDs in the engine's
	// index order: up to limit ids from the offset-th, and how many there
	// are in all.
	TagCount(acct int64, tagID string) int
	TaggedContacts(acct int64, tagIDs []string, offset, limit int) (ids []string, total int)
	// ContactsByIDs returns the contacts among ids that the engine holds,
	// in full (as the store holds them, but for values of fields the
	// account no longer has) with their ListIDs and SegmentIDs, in the
	// order of ids: a segment's sample, read from memory.
	ContactsByIDs(acct int64, ids []string, now time.Time) []Contact
	// SetsOfMany returns, for each of contactIDs, whether the engine
	// holds the contact and, if so, its sorted ListIDs and SegmentIDs as
	// of now, under one read lock: a store read's contacts given their
	// lists from memory (WithoutLists).
	SetsOfMany(acct int64, contactIDs []string, now time.Time) []ContactSets
	Search(acct int64, src string, limit int, now time.Time) (ids []string, count int, err error)
	// RecentEvents returns up to limit of a contact's events, newest
	// first (the web console's contact page).
	RecentEvents(acct int64, contactID string, limit int, now time.Time) []Event

	// PruneEvents forgets the account's events that happened before
	// before (the store's retention) and re-checks their contacts.
	PruneEvents(acct int64, before, now time.Time)
	// WriteSnapshot writes the engine's state to w; ReadSnapshot replaces
	// the engine's state with one WriteSnapshot wrote, after which the
	// caller loads each account's fields (SetFields), then its segments
	// (PutSegments, which reuses the saved members of unchanged segments),
	// then what changed since. On error ReadSnapshot leaves the engine
	// empty.
	WriteSnapshot(w io.Writer) error
	ReadSnapshot(r io.Reader) error
	// WriteSnapshotMarked is WriteSnapshot that also keeps, for each
	// account, mark's answer asked while the account can make no
	// transition; SnapshotMarks returns those of the snapshot ReadSnapshot
	// last read (docs/webhooks.md, "Durability").
	WriteSnapshotMarked(w io.Writer, mark func(acct int64) int64) error
	SnapshotMarks() map[int64]int64

	// RecordTransitions sets where the engine hands every change of a
	// segment's members (nil: nowhere, the default): called with the
	// account's transitions in order, under its lock, so it must not
	// block (docs/webhooks.md). wants, when not nil, says which accounts
	// anyone listens to; the engine notes no transition of the others
	// (a segment created over a million contacts would otherwise note a
	// million entries for nobody). It too is called under the account's
	// lock.
	RecordTransitions(sink func(acct int64, ts []Transition), wants func(acct int64) bool)

	// SelectForExport freezes, as of now, the contacts q selects with the
	// lists and segments each is in, for a contact export to write while
	// the engine moves on.
	SelectForExport(acct int64, q ExportQuery, now time.Time) ExportSelection

	// Preview evaluates a query in lang over the account's contacts (on
	// parentListID when it is not "") at now, saving nothing: the number
	// of matches and the first limit ids. An invalid query fails with a
	// *QueryError saying where (explain.go).
	Preview(acct int64, lang QueryLang, src, parentListID string, limit int, now time.Time) (ids []string, count int, err error)
	// Explain evaluates a segment's query for one contact as of now,
	// clause by clause, with whether the contact is a member. An unknown
	// segment or contact is KindNotFound.
	Explain(acct int64, segmentID, contactID string, now time.Time) (Explanation, error)
}

// ContactSets is what Membership.SetsOfMany says of one contact: Held is
// false for a contact the engine does not hold (not yet, or no longer),
// whose lists only the store knows.
type ContactSets struct {
	Held       bool
	ListIDs    []string
	SegmentIDs []string
}

// QueryLang names a query dialect at the Membership seam.
type QueryLang int

const (
	LangSGQL QueryLang = iota // SendGrid v1 segments and contacts search
	LangSQL                   // SendGrid Segments 2.0
	LangCC                    // Constant Contact segment_criteria JSON
)

// Lang returns the dialect of a segment's query.
func (s *Segment) Lang() QueryLang {
	switch s.QueryVersion {
	case "2":
		return LangSQL
	case queryVersionCC:
		return LangCC
	}
	return LangSGQL
}

// IdentifierCounts counts a segment's members having each identifier
// (SendGrid's identifier_counts: EID, PHNID, EXTID, AID).
type IdentifierCounts struct {
	Email         int
	PhoneNumberID int
	ExternalID    int
	AnonymousID   int
}

// ParentListNotFound is the error of a segment whose parent list is not a
// list of its account.
func ParentListNotFound(id string) error {
	return Errorf(KindInvalid, "parent_list_ids", "list %s does not exist", Quote(id))
}
