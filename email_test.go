package segmentd

import (
	"net/mail"
	"strings"
	"testing"
)

// TestPlainEmail checks plainEmail's promise: every address it accepts,
// net/mail's ParseAddress accepts and gives back unchanged, so ValidEmail
// answers the same with or without it. Every string of up to six
// characters over an alphabet with each kind of character is tried.
func TestPlainEmail(t *testing.T) {
	const alphabet = "a0.-_+@Z"
	plain := 0
	buf := make([]byte, 0, 6)
	var walk func()
	walk = func() {
		s := string(buf)
		if plainEmail(s) {
			plain++
			if a, err := mail.ParseAddress(s); err != nil || a.Address != s {
				t.Fatalf("plainEmail(%q) but ParseAddress = %v, %v", s, a, err)
			}
		}
		if len(buf) == cap(buf) {
			return
		}
		for i := range len(alphabet) {
			buf = append(buf, alphabet[i])
			walk()
			buf = buf[:len(buf)-1]
		}
	}
	walk()
	if plain == 0 {
		t.Fatal("plainEmail accepted nothing")
	}
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"ann@example.com", true},
		{"first.last+tag@mail.example-1.co.uk", true},
		{"user_9@example.com", true},
		{"Ann@example.com", false}, // upper case: ParseAddress decides
		{".ann@example.com", false},
		{"ann.@example.com", false},
		{"a..b@example.com", false},
		{"ann@example..com", false},
		{"ann@.example.com", false},
		{"ann@example.com.", false},
		{"ann@", false},
		{"@example.com", false},
		{"a@b@c.com", false},
		{"ann@exa+mple.com", false},
		{"\"ann\"@example.com", false},
	} {
		if got := plainEmail(tc.s); got != tc.want {
			t.Errorf("plainEmail(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

// FuzzValidEmail checks that ValidEmail answers as net/mail alone would.
func FuzzValidEmail(f *testing.F) {
	for _, s := range []string{"ann@example.com", "a.b+c@d-e.fg", "x@y", "a..b@c.d", "\"q\"@x.y", "Ann <ann@x.y>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidEmail(s), validEmailByMail(s); got != want {
			t.Fatalf("ValidEmail(%q) = %v, net/mail alone %v", s, got, want)
		}
	})
}

// validEmailByMail is ValidEmail as it was before plainEmail: the oracle.
func validEmailByMail(s string) bool {
	if len(s) > 254 || strings.ContainsAny(s, " <>\t\r\n") {
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	return at > 0 && strings.Contains(s[at+1:], ".")
}
