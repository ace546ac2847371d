package segmentd

import "time"

// List is a static set of contacts.
type List struct {
	ID   string
	Name string
	// ContactCount is the number of contacts on the list. The Service
	// fills it; a store leaves it zero (Store.List).
	ContactCount int
	CreatedAt    time.Time
	UpdatedAt    time.Time
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
)
