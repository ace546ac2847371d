package criteria

import (
	"strings"
	"testing"
)

// TestErrorsQuoteAShortPrefix: an error quotes at most 40 characters of a
// bad value or key (query.Clip), however long the value sent.
func TestErrorsQuoteAShortPrefix(t *testing.T) {
	long := strings.Repeat("x", 15000)
	clipped := strings.Repeat("x", 40) + "…"
	tests := []struct{ doc, want string }{
		{`{"version":"` + long + `","criteria":{"type":"and","group":[]}}`,
			`version: unsupported version "` + clipped + `" (want "1.0.0")`},
		{leafDoc(`{"source":"` + long + `","field":"city","op":"eq"}`),
			`criteria.group[0].source: unknown source "` + clipped + `" (want tracking, contact, list_membership or tags)`},
		{leafDoc(`{"source":"tracking","field":"` + long + `","op":"contains-any","const_value":"campaigns"}`),
			`criteria.group[0].field: unknown field "` + clipped + `" for source "tracking"`},
		{leafDoc(`{"source":"contact","field":"city","op":"eq","const_value":"a","` + long + `":1}`),
			`criteria.group[0].` + clipped + `: unknown key in a condition`},
		{leafDoc(`{"source":"tracking","field":"sent","op":"contains-any","const_value":"campaigns","const_date_value":"between-dates","date_param":"` + long + `"}`),
			`criteria.group[0].date_param: must be two dates "YYYY-MM-DD,YYYY-MM-DD", found "` + clipped + `"`},
	}
	for _, tt := range tests {
		_, err := Parse(tt.doc)
		if err == nil {
			t.Errorf("%.80s…: accepted", tt.doc)
			continue
		}
		if got := err.Error(); !strings.HasPrefix(got, tt.want) || len(got) > 300 {
			t.Errorf("%.80s…:\n got %.400s\nwant %s", tt.doc, got, tt.want)
		}
	}
}
