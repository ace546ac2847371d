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
	DeleteTag(ctx context.Context, acct int64, id string) error
}
