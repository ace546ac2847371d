package segmentd

import (
	"context"
	"strconv"
	"time"
)

// CCSegment is a Constant Contact V3 segment. Its id is a per-account
// sequence number, as Constant Contact's small integer segment_ids
// suggest; its criteria are Constant Contact's segment_criteria JSON,
// kept byte for byte as the client sent them. A deleted segment keeps its
// details, readable by id (Constant Contact keeps them for campaign
// history).
type CCSegment struct {
	ID        int64
	Name      string
	Criteria  string
	CreatedAt time.Time
	EditedAt  time.Time // last change of name or criteria
	DeletedAt time.Time // zero while live
}

// Live reports whether the segment has not been deleted.
func (s *CCSegment) Live() bool { return s.DeletedAt.IsZero() }

// CCEnginePrefix starts the id of every Constant Contact segment in the
// membership engine, so that its ids never collide with SendGrid's UUIDs
// and the SendGrid face can leave them out of segment_ids.
const CCEnginePrefix = "cc:"

// queryVersionCC marks a Constant Contact segment handed to the engine as
// a Segment (Segment.Lang reads it).
const queryVersionCC = "cc"

// EngineID is the segment's id in the membership engine.
func (s *CCSegment) EngineID() string { return CCEnginePrefix + strconv.FormatInt(s.ID, 10) }

// EngineSegment is the segment in the shape the engine takes it (a
// Segment of QueryVersion "cc").
func (s *CCSegment) EngineSegment() Segment {
	return Segment{ID: s.EngineID(), Name: s.Name, QueryDSL: s.Criteria, QueryVersion: queryVersionCC}
}

// Constant Contact segment limits (docs/constantcontact.md). The criteria
// limit is the spec's maxLength; the name and count limits are segmentd's
// (Constant Contact publishes none; its list names allow 255 characters
// and an account holds at most 1,000 lists).
const (
	MaxCCSegmentNameLength     = 255
	MaxCCSegmentCriteriaLength = 20000
	DefaultMaxLiveCCSegments   = 1000
)

// CCSegmentOrder is the order of GET /v3/segments.
type CCSegmentOrder int

const (
	// CCByDate: most recently edited first (edited_at descending, then
	// segment_id descending).
	CCByDate CCSegmentOrder = iota
	// CCByName: name ascending, ignoring case (then segment_id).
	CCByName
)

// CCSegmentPage selects a page of live segments in Order, starting after
// the segment After (keyset paging: the zero value starts at the top).
// Limit 0 returns every remaining segment.
type CCSegmentPage struct {
	Order CCSegmentOrder
	After *CCSegment // the last segment of the previous page
	Limit int
}

// CCSegmentStore keeps Constant Contact segments. Like SegmentStore it is
// separate from Store; the SQLite store implements all of them.
type CCSegmentStore interface {
	// CreateCCSegment stores a new live segment under the account's next
	// segment id (ids are never reused, deleted segments included) and
	// returns it. A live segment of the same name ignoring case is
	// KindConflict; maxLive live segments already is KindInvalid.
	CreateCCSegment(ctx context.Context, acct int64, s CCSegment, maxLive int) (CCSegment, error)
	// CCSegments returns a page of the account's live segments.
	CCSegments(ctx context.Context, acct int64, p CCSegmentPage) ([]CCSegment, error)
	// CCSegment returns a segment by id, deleted ones included.
	CCSegment(ctx context.Context, acct int64, id int64) (CCSegment, error)
	// UpdateCCSegment replaces a live segment's name, criteria and
	// EditedAt; a deleted or unknown segment is KindNotFound, a name taken
	// by another live segment KindConflict.
	UpdateCCSegment(ctx context.Context, acct int64, s CCSegment) (CCSegment, error)
	// DeleteCCSegment marks a live segment deleted (KindNotFound when it is
	// unknown or already deleted).
	DeleteCCSegment(ctx context.Context, acct int64, id int64, now time.Time) error
}
