package segmentd_test

import (
	"strings"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/query"
)

// quoteCases are the golden cases of segmentd.Quote (and of Clip, which is
// Quote without the quotes and escapes).
var quoteCases = []struct{ in, quote string }{
	{"", `""`},
	{"a@example.com", `"a@example.com"`},
	{strings.Repeat("a", 40), `"` + strings.Repeat("a", 40) + `"`},
	{strings.Repeat("a", 41), `"` + strings.Repeat("a", 40) + `…"`},
	{strings.Repeat("a", 1<<20), `"` + strings.Repeat("a", 40) + `…"`},
	// Multi-byte runes count as one character each and are never split:
	// 39 ASCII letters, then a three-byte rune as the 40th character.
	{strings.Repeat("a", 39) + "€€", `"` + strings.Repeat("a", 39) + `€…"`},
	{strings.Repeat("é", 40), `"` + strings.Repeat("é", 40) + `"`},
	{strings.Repeat("é", 41), `"` + strings.Repeat("é", 40) + `…"`},
	{strings.Repeat("😀", 50), `"` + strings.Repeat("😀", 40) + `…"`},
	// Control characters and quotes are escaped, after the cut: the
	// escapes make the quote longer, never the prefix.
	{"a\x00b\nc\"d\\", `"a\x00b\nc\"d\\"`},
	{strings.Repeat("\n", 41), `"` + strings.Repeat(`\n`, 40) + `…"`},
	{"\u202etxt", `"\u202etxt"`},
	// Invalid UTF-8: one byte, one character, escaped.
	{"\xff\xfe" + strings.Repeat("a", 39), `"\xff\xfe` + strings.Repeat("a", 38) + `…"`},
	// A sequence cut off by the end of the value stays as it was.
	{"ab\xe2\x82", `"ab\xe2\x82"`},
}

func TestQuote(t *testing.T) {
	for _, tc := range quoteCases {
		if got := segmentd.Quote(tc.in); got != tc.quote {
			t.Errorf("Quote(%.60q) = %s, want %s", tc.in, got, tc.quote)
		}
		if got := segmentd.Clip(tc.in); len(got) > 4*segmentd.MaxQuotedRunes+len("…") || !strings.HasPrefix(tc.in, strings.TrimSuffix(got, "…")) {
			t.Errorf("Clip(%.60q) = %q: not a short prefix of the value", tc.in, got)
		}
	}
}

// TestClipAgreesWithQuery: the query language's copy of Clip cuts alike.
func TestClipAgreesWithQuery(t *testing.T) {
	for _, tc := range quoteCases {
		if got, want := query.Clip(tc.in), segmentd.Clip(tc.in); got != want {
			t.Errorf("query.Clip(%.60q) = %q, segmentd.Clip gives %q", tc.in, got, want)
		}
	}
}
