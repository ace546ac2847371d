package query

import (
	"fmt"
	"strings"
)

// Pos is a position in query text: a 1-based line and a 1-based byte column.
// The zero Pos means "no position" (for nodes built by code, not parsed).
type Pos struct {
	Line, Col int
}

// IsValid reports whether the position came from source text.
func (p Pos) IsValid() bool { return p.Line > 0 }

func (p Pos) String() string {
	if !p.IsValid() {
		return "-"
	}
	return fmt.Sprintf("%d:%d", p.Line, p.Col)
}

// Token is a lexical token kind.
type Token int

// The tokens of both dialects. Keywords are recognised case-insensitively and
// only in the dialect that has them (see keywordToken).
const (
	ILLEGAL Token = iota
	EOF

	IDENT  // first_name, `000id`, "Quoted" (SQL)
	INT    // 42
	FLOAT  // 4.2
	STRING // 'abc' "abc" (SGQL)

	LPAREN    // (
	RPAREN    // )
	LBRACK    // [
	RBRACK    // ]
	COMMA     // ,
	PERIOD    // .
	SEMICOLON // ;

	EQL // =
	NEQ // != or <>
	LSS // <
	LEQ // <=
	GTR // >
	GEQ // >=
	ADD // +
	SUB // -
	MUL // *
	QUO // /
	REM // %

	keywordBeg
	AND
	OR
	NOT
	IN
	IS
	NULL
	LIKE
	BETWEEN
	TRUE
	FALSE
	TIMESTAMP
	INTERVAL
	// Segments 2.0 SQL only.
	SELECT
	FROM
	AS
	JOIN
	INNER
	ON
	WHERE
	GROUP
	BY
	HAVING
	keywordEnd
)

var tokenStrings = [...]string{
	ILLEGAL: "ILLEGAL", EOF: "EOF", IDENT: "IDENT", INT: "INT", FLOAT: "FLOAT", STRING: "STRING",
	LPAREN: "(", RPAREN: ")", LBRACK: "[", RBRACK: "]", COMMA: ",", PERIOD: ".", SEMICOLON: ";",
	EQL: "=", NEQ: "!=", LSS: "<", LEQ: "<=", GTR: ">", GEQ: ">=",
	ADD: "+", SUB: "-", MUL: "*", QUO: "/", REM: "%",
	AND: "AND", OR: "OR", NOT: "NOT", IN: "IN", IS: "IS", NULL: "NULL", LIKE: "LIKE",
	BETWEEN: "BETWEEN", TRUE: "TRUE", FALSE: "FALSE", TIMESTAMP: "TIMESTAMP", INTERVAL: "INTERVAL",
	SELECT: "SELECT", FROM: "FROM", AS: "AS", JOIN: "JOIN", INNER: "INNER", ON: "ON",
	WHERE: "WHERE", GROUP: "GROUP", BY: "BY", HAVING: "HAVING",
}

func (t Token) String() string {
	if t >= 0 && int(t) < len(tokenStrings) && tokenStrings[t] != "" {
		return tokenStrings[t]
	}
	return fmt.Sprintf("token(%d)", int(t))
}

// IsKeyword reports whether t is a keyword of some dialect.
func (t Token) IsKeyword() bool { return keywordBeg < t && t < keywordEnd }

// Lang is the dialect tag of a query: which front end parsed it.
type Lang int

const (
	// SGQL is SendGrid's Segmentation Query Language: Segments v1 query_dsl
	// and the query of POST /v3/marketing/contacts/search.
	SGQL Lang = iota
	// SQL is the Segments 2.0 SQL subset.
	SQL
)

func (l Lang) String() string {
	if l == SQL {
		return "sql"
	}
	return "sgql"
}

// keywordToken returns the keyword token for an identifier in dialect l, or
// IDENT. Only SGQL's keywords are reserved in SGQL, so a custom field may be
// called "from" there; the SQL-only keywords are reserved in SQL.
func keywordToken(l Lang, lit string) Token {
	if len(lit) < 2 || len(lit) > 9 {
		return IDENT
	}
	switch strings.ToUpper(lit) {
	case "AND":
		return AND
	case "OR":
		return OR
	case "NOT":
		return NOT
	case "IN":
		return IN
	case "IS":
		return IS
	case "NULL":
		return NULL
	case "LIKE":
		return LIKE
	case "BETWEEN":
		return BETWEEN
	case "TRUE":
		return TRUE
	case "FALSE":
		return FALSE
	case "TIMESTAMP":
		return TIMESTAMP
	case "INTERVAL":
		return INTERVAL
	}
	if l != SQL {
		return IDENT
	}
	switch strings.ToUpper(lit) {
	case "SELECT":
		return SELECT
	case "FROM":
		return FROM
	case "AS":
		return AS
	case "JOIN":
		return JOIN
	case "INNER":
		return INNER
	case "ON":
		return ON
	case "WHERE":
		return WHERE
	case "GROUP":
		return GROUP
	case "BY":
		return BY
	case "HAVING":
		return HAVING
	}
	return IDENT
}

// Precedence levels of binary operators, lowest first. Predicates (=, LIKE,
// IN, BETWEEN, IS) are non-associative: a = b = c is a syntax error.
const (
	precLowest = iota
	precOr
	precAnd
	precNot
	precCmp
	precAdd
	precMul
	precUnary
	precPrimary
)

func (t Token) precedence() int {
	switch t {
	case OR:
		return precOr
	case AND:
		return precAnd
	case EQL, NEQ, LSS, LEQ, GTR, GEQ, LIKE, IN, BETWEEN, IS:
		return precCmp
	case ADD, SUB:
		return precAdd
	case MUL, QUO, REM:
		return precMul
	}
	return precLowest
}
