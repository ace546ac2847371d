package query

import (
	"strings"
	"unicode/utf8"
)

// likePattern is a compiled LIKE pattern. LIKE is case-sensitive
// (docs/decisions.md §7). In SGQL only '%' is a wildcard and '%%' is a literal
// percent sign, as SendGrid's SGQL reference documents; '_' is an ordinary
// character there, which keeps e-mail patterns such as 'first_last@%'
// literal. Segments 2.0 SQL follows SQL: '%' and '_' are wildcards and a
// backslash in the pattern makes the next character literal (written '\\_'
// inside a query's string literal).
type likePattern struct {
	parts []likePart
	src   string
	// fast is set for the common shapes that need no backtracking.
	fast func(string) bool
}

type likePart struct {
	kind byte // 'l' literal, '%' any sequence, '_' one character
	s    string
}

func compileLike(lang Lang, pat string) *likePattern {
	lp := &likePattern{src: pat}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			lp.parts = append(lp.parts, likePart{kind: 'l', s: lit.String()})
			lit.Reset()
		}
	}
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		switch {
		case c == '\\' && lang == SQL && i+1 < len(pat):
			// SQL: a backslash makes the next character literal.
			lit.WriteByte(pat[i+1])
			i++
		case c == '%' && lang == SGQL && i+1 < len(pat) && pat[i+1] == '%':
			lit.WriteByte('%')
			i++
		case c == '%':
			flush()
			if n := len(lp.parts); n == 0 || lp.parts[n-1].kind != '%' {
				lp.parts = append(lp.parts, likePart{kind: '%'})
			}
		case c == '_' && lang == SQL:
			flush()
			lp.parts = append(lp.parts, likePart{kind: '_'})
		default:
			lit.WriteByte(c)
		}
	}
	flush()
	lp.fast = fastLike(lp.parts)
	return lp
}

func (lp *likePattern) match(s string) bool {
	if lp.fast != nil {
		return lp.fast(s)
	}
	return matchParts(lp.parts, s)
}

// fastLike returns a direct test equivalent to matchParts for the shapes
// 'lit', 'lit%', '%lit', '%lit%', 'lit%lit' and '%', or nil. matchParts
// tries a '%' at every rune boundary; a literal that starts at a rune-start
// byte can only begin at such a boundary (a boundary is skipped only inside
// a valid multi-byte rune, whose inner bytes are continuation bytes), so
// searching bytewise finds the same positions. Literals starting with a
// continuation byte keep the general matcher.
func fastLike(parts []likePart) func(string) bool {
	kinds := make([]byte, len(parts))
	for i, p := range parts {
		kinds[i] = p.kind
		if p.kind == 'l' && !utf8.RuneStart(p.s[0]) && i > 0 {
			return nil
		}
	}
	switch string(kinds) {
	case "l":
		v := parts[0].s
		return func(s string) bool { return s == v }
	case "l%":
		v := parts[0].s
		return func(s string) bool { return strings.HasPrefix(s, v) }
	case "%l":
		v := parts[1].s
		return func(s string) bool { return strings.HasSuffix(s, v) }
	case "%l%":
		v := parts[1].s
		return func(s string) bool { return strings.Contains(s, v) }
	case "l%l":
		v, w := parts[0].s, parts[2].s
		return func(s string) bool {
			return len(s) >= len(v)+len(w) && strings.HasPrefix(s, v) && strings.HasSuffix(s, w)
		}
	case "%":
		return func(string) bool { return true }
	}
	return nil
}

// matchParts is the classic wildcard match with one backtrack point (the
// last '%'), which is O(len(parts) * len(s)) even for hostile patterns such
// as '%a%a%a...%b'.
func matchParts(parts []likePart, s string) bool {
	pi, si := 0, 0
	starPi, starSi := -1, 0
	for {
		if pi < len(parts) {
			switch p := parts[pi]; p.kind {
			case '%':
				starPi, starSi = pi, si
				pi++
				continue
			case 'l':
				if strings.HasPrefix(s[si:], p.s) {
					si += len(p.s)
					pi++
					continue
				}
			case '_':
				if si < len(s) {
					_, n := utf8.DecodeRuneInString(s[si:])
					si += n
					pi++
					continue
				}
			}
		} else if si == len(s) {
			return true
		}
		if starPi < 0 || starSi >= len(s) {
			return false
		}
		_, n := utf8.DecodeRuneInString(s[starSi:])
		starSi += n
		pi, si = starPi+1, starSi
	}
}

// glob renders the pattern for SQLite's GLOB, which is case-sensitive where
// SQLite's LIKE is not.
func (lp *likePattern) glob() string {
	var b strings.Builder
	for _, p := range lp.parts {
		switch p.kind {
		case '%':
			b.WriteByte('*')
		case '_':
			b.WriteByte('?')
		default:
			for _, r := range p.s {
				switch r {
				case '*', '?', '[':
					b.WriteByte('[')
					b.WriteRune(r)
					b.WriteByte(']')
				default:
					b.WriteRune(r)
				}
			}
		}
	}
	return b.String()
}
