package segmentd_test

import (
	"fmt"
	"testing"

	"github.com/segmentd/segmentd"
)

// TestTextRules pins docs/decisions.md §18: names and identifiers refuse
// every C0 control character and DEL, free text keeps tab, line feed and
// carriage return; both refuse invalid UTF-8.
func TestTextRules(t *testing.T) {
	for _, tt := range []struct {
		s          string
		name, text string // the error, "" when accepted
	}{
		{"Chloé 😀 ok", "", ""},
		{"", "", ""},
		{"\u0080\u009f\u200b", "", ""}, // C1 controls and format characters are ordinary text
		{"a\tb", "f must not contain control characters (found U+0009)", ""},
		{"a\nb\r\n", "f must not contain control characters (found U+000A)", ""},
		{"a\x00b", "f must not contain control characters (found U+0000)", "f must not contain control characters (found U+0000)"},
		{"\x1f", "f must not contain control characters (found U+001F)", "f must not contain control characters (found U+001F)"},
		{"é\x7f", "f must not contain control characters (found U+007F)", "f must not contain control characters (found U+007F)"},
		{"a\xffb", "f is not valid UTF-8", "f is not valid UTF-8"},
		{"\xed\xa0\x80", "f is not valid UTF-8", "f is not valid UTF-8"},
	} {
		for _, c := range []struct {
			check func(string, string) error
			want  string
		}{{segmentd.CheckName, tt.name}, {segmentd.CheckText, tt.text}} {
			err := c.check("f", tt.s)
			if got := fmt.Sprint(err); c.want == "" && err != nil || c.want != "" && got != "f: "+c.want {
				t.Errorf("%q: %v, want %q", tt.s, err, c.want)
			}
			if err != nil && (segmentd.ErrorKindOf(err) != segmentd.KindInvalid || err.(*segmentd.Error).Field != "f") {
				t.Errorf("%q: %#v, want KindInvalid on field f", tt.s, err)
			}
		}
	}
}

// TestValidatePatchText: identifiers take the name rule and the other
// text fields the free-text rule, each error naming the JSON path.
func TestValidatePatchText(t *testing.T) {
	fields := map[string]segmentd.FieldDefinition{"w1": {ID: "w1", Name: "note", Type: segmentd.FieldText}}
	s := func(v string) *string { return &v }
	for _, tt := range []struct {
		name string
		p    segmentd.ContactPatch
		want string
	}{
		{"free text with tab, CR and LF", segmentd.ContactPatch{Email: s("a@example.com"), AddressLine1: s("1 Main St\r\nApt 2"), City: s("\tLisbon")}, ""},
		{"Text custom value with LF", segmentd.ContactPatch{Email: s("a@example.com"), CustomFields: map[string]*segmentd.Value{"w1": {Type: segmentd.FieldText, Text: "a\nb"}}}, ""},
		{"NUL in first_name", segmentd.ContactPatch{Email: s("a@example.com"), FirstName: s("Ann\x00")}, "contacts[2].first_name: contacts[2].first_name must not contain control characters (found U+0000)"},
		{"LF in external_id", segmentd.ContactPatch{ExternalID: s("x\ny")}, "contacts[2].external_id: contacts[2].external_id must not contain control characters (found U+000A)"},
		{"control in email", segmentd.ContactPatch{Email: s("a\x01@example.com")}, "contacts[2].email: contacts[2].email must not contain control characters (found U+0001)"},
		{"DEL in an alternate email", segmentd.ContactPatch{Email: s("a@example.com"), AlternateEmails: &[]string{"b@example.com", "c\x7f@example.com"}}, "contacts[2].alternate_emails[1]: contacts[2].alternate_emails[1] must not contain control characters (found U+007F)"},
		{"ESC in a Text custom value", segmentd.ContactPatch{Email: s("a@example.com"), CustomFields: map[string]*segmentd.Value{"w1": {Type: segmentd.FieldText, Text: "\x1b[0m"}}}, "contacts[2].custom_fields.w1: contacts[2].custom_fields.w1 must not contain control characters (found U+001B)"},
		{"invalid UTF-8 in last_name", segmentd.ContactPatch{Email: s("a@example.com"), LastName: s("\xff")}, "contacts[2].last_name: contacts[2].last_name is not valid UTF-8"},
	} {
		err := segmentd.ValidatePatch(&tt.p, "contacts[2]", fields)
		if got := fmt.Sprint(err); tt.want == "" && err != nil || tt.want != "" && got != tt.want {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
}
