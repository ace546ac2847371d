package segmentd

import "time"

// List is a static set of contacts.
type List struct {
	ID   string
	Name string
	// ContactCount is the number of contacts on the list. The Service
	// fills it; a store leaves it zero (Store.List).
	ContactCount int
	// Description and Favorite are Constant Contact's (SendGrid's lists
	// have neither).
	Description string
	Favorite    bool
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// List limits.
const (
	MaxListNameLength = 100
	// MaxCCListNameLength is Constant Contact's limit (ListInput's
	// maxLength), for lists named through its face.
	MaxCCListNameLength = 255
	DefaultListPageSize = 100
	MaxListPageSize     = 1000
	MaxListRemoveIDs    = 30000 // contact ids in one DELETE /lists/{id}/contacts call (segmentd's limit)
	ListSampleSize      = 50
	// MaxCCLists is Constant Contact's bound on an account's lists,
	// enforced on lists created through its face.
	MaxCCLists = 1000
	// MaxListDescriptionLength bounds a list's description (segmentd's
	// limit; Constant Contact states none).
	MaxListDescriptionLength = 1000
)
