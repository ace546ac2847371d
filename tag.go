package segmentd

import (
	"context"
	"time"
)

// Tag is a Constant Contact tag (docs/constantcontact.md "Contact tags"):
// a label an account gives contacts. Tags exist only on Constant
// Contact's face; SendGrid has none.
type Tag struct {
	ID   string // a UUID
	Name string
	// Source is Constant Contact's tag_source, set when the tag is
	// created and never changed ("" when none was given).
	Source    string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Tag limits (Constant Contact's).
const (
	MaxTagNameLength   = 255 // TagPost and TagPut: 1–255 characters
	MaxTagSourceLength = 255 // segmentd's limit; Constant Contact states none
	MaxTags            = 500 // tags per account
	DefaultTagPageSize = 50
	MaxTagPageSize     = 500
	// MaxContactTags bounds the taggings one contact write names
	// (ContactPostRequest and ContactPutRequest: "up to a maximum of
	// 50").
	MaxContactTags = 50
)

// TagStore keeps an account's tags. Both stores implement it. Names are
// unique in an account ignoring case.
type TagStore interface {
	// CreateTag stores a new tag with a new id: a name equal ignoring case
	// to another tag's is KindConflict, a tag beyond max in the account
	// KindInvalid.
	CreateTag(ctx context.Context, acct int64, name, source string, max int, now time.Time) (Tag, error)
	// Tags returns up to limit tags ordered by id, starting after the id
	// afterID ("" for the first page).
	Tags(ctx context.Context, acct int64, afterID string, limit int) ([]Tag, error)
	CountTags(ctx context.Context, acct int64) (int, error)
	Tag(ctx context.Context, acct int64, id string) (Tag, error)
	// RenameTag changes a tag's name (KindConflict as CreateTag) and its
	// UpdatedAt to now.
	RenameTag(ctx context.Context, acct int64, id, name string, now time.Time) (Tag, error)
	// DeleteTag deletes a tag and its taggings, and returns the ids of
	// the contacts it was on, sorted: they are changes in the account's
	// history (Store.Changes), as their TagIDs changed.
	DeleteTag(ctx context.Context, acct int64, id string) ([]string, error)

	// Taggings (Constant Contact's contact tags). TagContacts gives every
	// tag of tagIDs to every contact of contactIDs; UntagContacts takes
	// them off. Both return the ids of the contacts whose TagIDs changed,
	// sorted, which are changes in the account's history (Store.Changes)
	// taken in one write. Contacts that do not exist are skipped; a tag
	// that does not exist is KindNotFound (field "tag_id") and changes
	// nothing. Neither touches a contact's UpdatedAt.
	TagContacts(ctx context.Context, acct int64, tagIDs, contactIDs []string, now time.Time) ([]string, error)
	UntagContacts(ctx context.Context, acct int64, tagIDs, contactIDs []string) ([]string, error)
	// CountTagMembers is the store's count of the contacts a tag is on (0
	// for a tag that does not exist), for a Service without an engine and
	// for tests; the Service reads tags' counts from the engine.
	CountTagMembers(ctx context.Context, acct int64, id string) (int, error)
}
