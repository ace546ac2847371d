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
