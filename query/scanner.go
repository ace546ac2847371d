package query

import (
	"fmt"
	"strings"
)

// Error is a query error with the position it refers to. Error() renders it
// as "line:col: message", the form every API face shows to users.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string {
	if !e.Pos.IsValid() {
		return e.Msg
	}
	return e.Pos.String() + ": " + e.Msg
}

func errorf(pos Pos, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// Scanner splits query text into tokens, in the manner of go/scanner. It
// stops at the first illegal character and reports it through Err.
type Scanner struct {
	src  string
	lang Lang

	off      int // byte offset of the next unread character
	line     int
	lineOff  int // offset of the first byte of the current line
	err      *Error
	litQuote byte // quote of the last IDENT or STRING ('`', '"', '\'' or 0)
}

// Init prepares s to scan src in dialect lang.
func (s *Scanner) Init(src string, lang Lang) {
	*s = Scanner{src: src, lang: lang, line: 1}
}

// Err returns the first scanning error, if any.
func (s *Scanner) Err() *Error { return s.err }

func (s *Scanner) pos(off int) Pos { return Pos{Line: s.line, Col: off - s.lineOff + 1} }

func (s *Scanner) error(pos Pos, format string, args ...any) {
	if s.err == nil {
		s.err = errorf(pos, format, args...)
	}
}

func (s *Scanner) skipSpace() {
	for s.off < len(s.src) {
		switch s.src[s.off] {
		case '\n':
			s.off++
			s.line++
			s.lineOff = s.off
		case ' ', '\t', '\r', '\f', '\v':
			s.off++
		default:
			return
		}
	}
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

// Scan returns the next token, its position and its literal value. For
// STRING and quoted IDENT the literal is the decoded value; for numbers and
// plain identifiers it is the source text. After an error Scan returns
// ILLEGAL.
func (s *Scanner) Scan() (pos Pos, tok Token, lit string) {
	s.skipSpace()
	pos = s.pos(s.off)
	s.litQuote = 0
	if s.err != nil {
		return pos, ILLEGAL, ""
	}
	if s.off >= len(s.src) {
		return pos, EOF, ""
	}
	c := s.src[s.off]
	switch {
	case isLetter(c):
		start := s.off
		for s.off < len(s.src) && (isLetter(s.src[s.off]) || isDigit(s.src[s.off])) {
			s.off++
		}
		lit = s.src[start:s.off]
		return pos, keywordToken(s.lang, lit), lit
	case isDigit(c):
		start := s.off
		for s.off < len(s.src) && isDigit(s.src[s.off]) {
			s.off++
		}
		tok = INT
		if s.off+1 < len(s.src) && s.src[s.off] == '.' && isDigit(s.src[s.off+1]) {
			s.off++
			for s.off < len(s.src) && isDigit(s.src[s.off]) {
				s.off++
			}
			tok = FLOAT
		}
		if s.off < len(s.src) && isLetter(s.src[s.off]) {
			s.error(pos, "malformed number %q", Clip(s.src[start:s.off+1]))
			return pos, ILLEGAL, ""
		}
		return pos, tok, s.src[start:s.off]
	}
	s.off++
	switch c {
	case '\'':
		return s.scanString(pos, c)
	case '"':
		if s.lang == SQL {
			// In SQL a double-quoted word is an identifier, as in Snowflake.
			return s.scanQuotedIdent(pos, c)
		}
		return s.scanString(pos, c)
	case '`':
		return s.scanQuotedIdent(pos, c)
	case '(':
		return pos, LPAREN, ""
	case ')':
		return pos, RPAREN, ""
	case '[':
		return pos, LBRACK, ""
	case ']':
		return pos, RBRACK, ""
	case ',':
		return pos, COMMA, ""
	case '.':
		return pos, PERIOD, ""
	case ';':
		return pos, SEMICOLON, ""
	case '=':
		return pos, EQL, ""
	case '+':
		return pos, ADD, ""
	case '-':
		return pos, SUB, ""
	case '*':
		return pos, MUL, ""
	case '/':
		return pos, QUO, ""
	case '%':
		return pos, REM, ""
	case '!':
		if s.off < len(s.src) && s.src[s.off] == '=' {
			s.off++
			return pos, NEQ, ""
		}
	case '<':
		if s.off < len(s.src) {
			switch s.src[s.off] {
			case '=':
				s.off++
				return pos, LEQ, ""
			case '>':
				s.off++
				return pos, NEQ, ""
			}
		}
		return pos, LSS, ""
	case '>':
		if s.off < len(s.src) && s.src[s.off] == '=' {
			s.off++
			return pos, GEQ, ""
		}
		return pos, GTR, ""
	}
	s.error(pos, "illegal character %s", quoteChar(s.src[s.off-1:]))
	return pos, ILLEGAL, ""
}

func quoteChar(rest string) string {
	r := []rune(rest)
	if len(r) == 0 {
		return "''"
	}
	return fmt.Sprintf("%q", r[0])
}

// scanString reads a string literal whose opening quote q was consumed.
// SGQL escapes the delimiter and the backslash with a backslash
// ('It\'s'); SQL doubles the quote ('It”s'). Both forms are accepted in
// both dialects, since users copy queries between them.
func (s *Scanner) scanString(pos Pos, q byte) (Pos, Token, string) {
	var b strings.Builder
	for {
		if s.off >= len(s.src) {
			s.error(pos, "string literal not terminated")
			return pos, ILLEGAL, ""
		}
		c := s.src[s.off]
		s.off++
		switch c {
		case 0:
			// No text column of PostgreSQL can hold U+0000, so a segment
			// whose query held one could not be stored there; SQLite
			// could, and both stores take the same queries.
			s.error(s.pos(s.off-1), "a quoted literal must not contain U+0000")
			return pos, ILLEGAL, ""
		case q:
			if s.off < len(s.src) && s.src[s.off] == q {
				s.off++
				b.WriteByte(q)
				continue
			}
			s.litQuote = q
			return pos, STRING, b.String()
		case '\\':
			if s.off >= len(s.src) {
				continue // reported as unterminated above
			}
			e := s.src[s.off]
			s.off++
			switch e {
			case '\\', '\'', '"':
				b.WriteByte(e)
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			default:
				s.error(s.pos(s.off-2), "unknown escape sequence \\%c", e)
				return pos, ILLEGAL, ""
			}
		case '\n':
			b.WriteByte(c)
			s.line++
			s.lineOff = s.off
		default:
			b.WriteByte(c)
		}
	}
}

func (s *Scanner) scanQuotedIdent(pos Pos, q byte) (Pos, Token, string) {
	start := s.off
	for s.off < len(s.src) && s.src[s.off] != q {
		if s.src[s.off] == '\n' {
			break
		}
		s.off++
	}
	if s.off >= len(s.src) || s.src[s.off] != q {
		s.error(pos, "quoted identifier not terminated")
		return pos, ILLEGAL, ""
	}
	lit := s.src[start:s.off]
	s.off++
	if lit == "" {
		s.error(pos, "empty quoted identifier")
		return pos, ILLEGAL, ""
	}
	s.litQuote = q
	if s.lang == SQL {
		s.litQuote = '"' // one spelling per dialect, so printing round-trips
	}
	return pos, IDENT, lit
}
