package query

// The AST is shared by both dialects. A Query carries the dialect tag; an
// SGQL query is a bare predicate (Expr), a Segments 2.0 query is a
// SelectStmt. Every node knows the position where it starts.

// Node is any AST node.
type Node interface {
	Pos() Pos
}

// Expr is an expression node.
type Expr interface {
	Node
	exprNode()
}

type (
	// Ident is a bare column or field name, or a timestampadd unit.
	// Quote is the quote it was written with: 0, '`' (SGQL) or '"' (SQL).
	Ident struct {
		NamePos Pos
		Name    string
		Quote   byte
	}

	// SelectorExpr is a qualified column: X.Sel, as in c.email.
	SelectorExpr struct {
		X   *Ident
		Sel *Ident
	}

	// BasicLit is a number or string literal. Value is the source text of a
	// number and the decoded value of a string.
	BasicLit struct {
		ValuePos Pos
		Kind     Token // INT, FLOAT or STRING
		Value    string
	}

	// BoolLit is TRUE or FALSE.
	BoolLit struct {
		ValuePos Pos
		Value    bool
	}

	// NullLit is NULL.
	NullLit struct {
		NullPos Pos
	}

	// TimestampLit is TIMESTAMP '2019-08-07T18:00:00Z'.
	TimestampLit struct {
		TimestampPos Pos
		Value        *BasicLit // STRING
	}

	// IntervalLit is INTERVAL 10 day (SGQL).
	IntervalLit struct {
		IntervalPos Pos
		Value       *BasicLit // INT
		Unit        *Ident
	}

	// ArrayLit is ['a', 'b'], the second argument of array_contains (SQL).
	ArrayLit struct {
		Lbrack Pos
		Elems  []Expr
	}

	// ParenExpr is a parenthesised expression. It is kept in the AST because
	// in SGQL a parenthesised group scopes the engagement pseudo-fields.
	ParenExpr struct {
		Lparen Pos
		X      Expr
	}

	// UnaryExpr is NOT x or -x.
	UnaryExpr struct {
		OpPos Pos
		Op    Token // NOT or SUB
		X     Expr
	}

	// BinaryExpr is x op y for AND, OR, comparisons and arithmetic.
	BinaryExpr struct {
		X     Expr
		OpPos Pos
		Op    Token
		Y     Expr
	}

	// LikeExpr is x [NOT] LIKE pattern.
	LikeExpr struct {
		X       Expr
		OpPos   Pos // position of NOT or LIKE
		Not     bool
		Pattern Expr
	}

	// InExpr is x [NOT] IN (list) or, in SQL, x [NOT] IN (SELECT ...).
	InExpr struct {
		X      Expr
		OpPos  Pos
		Not    bool
		List   []Expr      // nil when Select is set
		Select *SelectStmt // sub-query
	}

	// BetweenExpr is x [NOT] BETWEEN lo AND hi.
	BetweenExpr struct {
		X      Expr
		OpPos  Pos
		Not    bool
		Lo, Hi Expr
	}

	// IsNullExpr is x IS [NOT] NULL.
	IsNullExpr struct {
		X     Expr
		OpPos Pos
		Not   bool
	}

	// CallExpr is a function call. NoParens marks current_timestamp written
	// without parentheses.
	CallExpr struct {
		Fun      *Ident
		Args     []Expr
		NoParens bool
	}
)

func (x *Ident) Pos() Pos        { return x.NamePos }
func (x *SelectorExpr) Pos() Pos { return x.X.Pos() }
func (x *BasicLit) Pos() Pos     { return x.ValuePos }
func (x *BoolLit) Pos() Pos      { return x.ValuePos }
func (x *NullLit) Pos() Pos      { return x.NullPos }
func (x *TimestampLit) Pos() Pos { return x.TimestampPos }
func (x *IntervalLit) Pos() Pos  { return x.IntervalPos }
func (x *ArrayLit) Pos() Pos     { return x.Lbrack }
func (x *ParenExpr) Pos() Pos    { return x.Lparen }
func (x *UnaryExpr) Pos() Pos    { return x.OpPos }
func (x *BinaryExpr) Pos() Pos   { return x.X.Pos() }
func (x *LikeExpr) Pos() Pos     { return x.X.Pos() }
func (x *InExpr) Pos() Pos       { return x.X.Pos() }
func (x *BetweenExpr) Pos() Pos  { return x.X.Pos() }
func (x *IsNullExpr) Pos() Pos   { return x.X.Pos() }
func (x *CallExpr) Pos() Pos     { return x.Fun.Pos() }

func (*Ident) exprNode()        {}
func (*SelectorExpr) exprNode() {}
func (*BasicLit) exprNode()     {}
func (*BoolLit) exprNode()      {}
func (*NullLit) exprNode()      {}
func (*TimestampLit) exprNode() {}
func (*IntervalLit) exprNode()  {}
func (*ArrayLit) exprNode()     {}
func (*ParenExpr) exprNode()    {}
func (*UnaryExpr) exprNode()    {}
func (*BinaryExpr) exprNode()   {}
func (*LikeExpr) exprNode()     {}
func (*InExpr) exprNode()       {}
func (*BetweenExpr) exprNode()  {}
func (*IsNullExpr) exprNode()   {}
func (*CallExpr) exprNode()     {}

// SelectStmt is a Segments 2.0 statement or an IN sub-query.
type SelectStmt struct {
	Select  Pos
	Items   []*SelectItem
	From    *TableRef
	Joins   []*Join
	Where   Expr // nil if absent
	GroupBy []Expr
	Having  Expr // nil if absent
}

// SelectItem is one entry of the select list, with an optional alias.
type SelectItem struct {
	X     Expr
	Alias *Ident
}

// TableRef is a table name with an optional alias.
type TableRef struct {
	Name  *Ident
	Alias *Ident
}

// Join is [INNER] JOIN table ON cond. On is the bare Ident contact_id for
// the documented shorthand "ON contact_id".
type Join struct {
	JoinPos Pos
	Inner   bool
	Table   *TableRef
	On      Expr
}

func (x *SelectStmt) Pos() Pos { return x.Select }
func (x *SelectItem) Pos() Pos { return x.X.Pos() }
func (x *TableRef) Pos() Pos   { return x.Name.Pos() }
func (x *Join) Pos() Pos       { return x.JoinPos }

// Query is a parsed query of either dialect.
type Query struct {
	Lang Lang
	Expr Expr        // SGQL: the predicate
	Stmt *SelectStmt // SQL: the statement
	// Tags makes tag_ids a contact_data column: the contact's Constant
	// Contact tags (Record.TagIDs), an array like list_ids. Only the
	// translations of Constant Contact's segment criteria set it
	// (criteria.Criteria.Query); the parsers never do, so SendGrid's SGQL
	// and Segments 2.0 queries have no such column (docs/query-language.md).
	Tags bool
	// Nodes is the number of AST nodes, counted against MaxNodes.
	Nodes int
}

// Pos returns the position of the query's first token.
func (q *Query) Pos() Pos {
	if q.Stmt != nil {
		return q.Stmt.Pos()
	}
	if q.Expr != nil {
		return q.Expr.Pos()
	}
	return Pos{}
}
