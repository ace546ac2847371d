package segmentd

// Preview and explain (docs/explain.md): segmentd's own read-only answers
// to "what would this query select" and "why is this contact (not) in this
// segment", served under /segmentd/v1/.

// Preview limits.
const (
	// DefaultPreviewSample is how many matching contacts a preview shows
	// when the request does not say: a segment's sample size.
	DefaultPreviewSample = SegmentSampleSize
	// MaxPreviewSample is the largest sample a preview shows.
	MaxPreviewSample = 100
)

// QueryError is an invalid query or criteria document, saying where: a
// line and column (1-based) in query text, or the JSON path of the value at
// fault in a criteria document. Message is segmentd's message as the
// vendor faces show it (with the position or path in front). It unwraps
// to an *Error of KindInvalid on Field, so that any face renders it as a
// 400; segmentd's own API adds the position to its error envelope.
type QueryError struct {
	Field        string
	Line, Column int
	Path         string
	Message      string
}

func (e *QueryError) Error() string { return e.Field + ": " + e.Message }

// Unwrap returns the error as the faces' one error type.
func (e *QueryError) Unwrap() error {
	return &Error{Kind: KindInvalid, Field: e.Field, Message: e.Message}
}

// Verdict is a clause's value for one contact, in SQL's three-valued
// logic.
type Verdict string

const (
	VerdictTrue  Verdict = "true"
	VerdictFalse Verdict = "false"
	// VerdictUnknown: the clause is neither true nor false because a value
	// it compares is NULL (unset); a segment holds only contacts for which
	// its query is true.
	VerdictUnknown Verdict = "unknown"
)

// Clause is one node of an explained query: a logical operator over
// clauses (Op "AND", "OR", "NOT"), or a condition (Op "") with the
// contact's values it looked at.
type Clause struct {
	Op string
	// Text is the clause as query text (for a criteria document, as the
	// translated Segments 2.0 query reads).
	Text string
	// Line and Column locate the clause in the query text (0 when the
	// query has no text of its own: criteria, or a condition segmentd
	// adds).
	Line, Column int
	// Path is the JSON path of the criteria document's group or condition
	// the clause stands for ("" for a query).
	Path    string
	Verdict Verdict
	Values  []LookedAt
	// Event is, for a condition on the contact's events that holds, the
	// first event that satisfies it (its children are explained against
	// that event).
	Event    map[string]any
	Children []Clause
}

// LookedAt is one value a condition read: a contact field or an event
// column by its query name, and its value (nil when NULL; a number, a
// string, a list of strings, or a time in RFC 3339).
type LookedAt struct {
	Name  string
	Value any
}

// Explanation is why a contact is or is not in a segment as of a time.
type Explanation struct {
	// Member is whether the engine holds the contact in the segment.
	Member bool
	// Verdict is the query's value for the contact (Member is Verdict ==
	// true and, with a parent list, being on it).
	Verdict Verdict
	// ParentListID is the segment's parent list ("" for none) and
	// OnParentList whether the contact is on it.
	ParentListID string
	OnParentList bool
	Tree         Clause
}
