package query

// Limits for untrusted input. Queries arrive from API clients; these bound
// the work and the stack a single query can cost. SendGrid documents none
// (legacy ContactDB capped segments at 15 conditions), so the values are
// generous for hand-written or UI-generated segments and small for an attacker.
const (
	// MaxQueryLength is the longest accepted query text, in bytes.
	MaxQueryLength = 16 << 10
	// MaxDepth is the deepest accepted nesting of expressions (parentheses,
	// NOT, unary minus and operands of operators each add a level).
	MaxDepth = 64
	// MaxNodes is the largest accepted number of AST nodes.
	MaxNodes = 2000
)

// maxQuotedRunes is how much of an identifier or a literal an error
// message quotes.
const maxQuotedRunes = 40

// Clip returns s, or when s is longer than 40 characters its first 40
// characters followed by "…": what an error message quotes of a query's
// identifier or literal, or of a segment_criteria value (package
// criteria), so that a 16 KB identifier is not echoed back whole. It never
// splits a UTF-8 sequence. It is segmentd.Clip's copy for the query
// packages, which import only the standard library.
func Clip(s string) string {
	n := 0
	for i := range s {
		if n == maxQuotedRunes {
			return s[:i] + "…"
		}
		n++
	}
	return s
}
