package sqlite

import (
	"encoding/json"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

func TestCustomFieldsRoundTrip(t *testing.T) {
	date := time.Date(1969, 7, 20, 20, 17, 40, 123_000_000, time.UTC)
	for _, m := range []map[string]segmentd.Value{
		nil,
		{"w1": {Type: segmentd.FieldText, Text: "plain"}},
		{"w1": {Type: segmentd.FieldText, Text: "quote \" backslash \\ newline \n tab \t"}},
		{"w2": {Type: segmentd.FieldText, Text: "ünïcödé ✓ <b>&amp;</b> 😀"}},
		{"w3": {Type: segmentd.FieldText, Text: "bad utf8 \xff"}},
		{"n1": {Type: segmentd.FieldNumber, Number: 0}},
		{"n1": {Type: segmentd.FieldNumber, Number: -12.5}},
		{"n1": {Type: segmentd.FieldNumber, Number: 1e21}, "n2": {Type: segmentd.FieldNumber, Number: 1e-7}},
		{"n1": {Type: segmentd.FieldNumber, Number: math.MaxFloat64}, "n2": {Type: segmentd.FieldNumber, Number: 123456789012}},
		{"d1": {Type: segmentd.FieldDate, Time: date}, "d2": {Type: segmentd.FieldDate, Time: time.UnixMilli(0).UTC()}},
		{"w1": {Type: segmentd.FieldText, Text: "a"}, "n10": {Type: segmentd.FieldNumber, Number: 3}, "d2": {Type: segmentd.FieldDate, Time: date}},
	} {
		s, err := encodeCustomFields(m)
		if err != nil {
			t.Fatalf("encode %v: %v", m, err)
		}
		got, err := decodeCustomFields(s)
		if err != nil {
			t.Fatalf("decode %s: %v", s, err)
		}
		want := m
		if _, ok := m["w3"]; ok { // invalid UTF-8 is replaced, as encoding/json does
			want = map[string]segmentd.Value{"w3": {Type: segmentd.FieldText, Text: "bad utf8 \ufffd"}}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("round trip of %v through %s = %v", m, s, got)
		}
	}
}

func TestEncodeCustomFieldsForm(t *testing.T) {
	got, err := encodeCustomFields(map[string]segmentd.Value{
		"w1": {Type: segmentd.FieldText, Text: "x<y"},
		"n2": {Type: segmentd.FieldNumber, Number: 2},
		"d3": {Type: segmentd.FieldDate, Time: time.UnixMilli(1700000000123)},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Keys sorted; Date as integer unix ms; Number as a JSON number (the
	// column convention the query package's SQL generator relies on).
	if want := `{"d3":1700000000123,"n2":2,"w1":"x<y"}`; got != want {
		t.Fatalf("encode = %s, want %s", got, want)
	}
	if _, err := encodeCustomFields(map[string]segmentd.Value{"n1": {Type: segmentd.FieldNumber, Number: math.NaN()}}); err == nil {
		t.Fatal("NaN encoded without error")
	}
}

func TestDecodeCustomFieldsOtherForms(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want map[string]segmentd.Value
		bad  bool
	}{
		{in: `{}`},
		{in: `{ }`},
		{in: `{ "w1" : "a b" , "n2" : 1.5E2 }`, want: map[string]segmentd.Value{
			"w1": {Type: segmentd.FieldText, Text: "a b"}, "n2": {Type: segmentd.FieldNumber, Number: 150}}},
		{in: `{"w1":"\u00e9"}`, want: map[string]segmentd.Value{"w1": {Type: segmentd.FieldText, Text: "é"}}},
		{in: `{"d1":1.7e12}`, want: map[string]segmentd.Value{"d1": {Type: segmentd.FieldDate, Time: time.UnixMilli(1.7e12).UTC()}}},
		{in: `{"w1":5}`, bad: true},
		{in: `{"n1":"5"}`, bad: true},
		{in: `{"w1":"a"`, bad: true},
		{in: `{"w1":"a",}`, bad: true},
		{in: `[1]`, bad: true},
	} {
		got, err := decodeCustomFields(tc.in)
		if tc.bad {
			if err == nil {
				t.Errorf("decode %s = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("decode %s = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestContactIDsIncrease(t *testing.T) {
	var g contactIDs
	now := time.Now()
	prev := ""
	for i := range 10000 {
		at := now
		if i == 5000 {
			at = now.Add(-time.Hour) // the clock going back never makes an id smaller
		}
		id := g.next(at)
		if !segmentd.IsUUID(id) || id[14] != '7' || !(id[19] >= '8' && id[19] <= 'b') {
			t.Fatalf("id %q is not a version 7 UUID", id)
		}
		if id <= prev {
			t.Fatalf("id %s after %s", id, prev)
		}
		prev = id
	}
}

func TestJSONStrings(t *testing.T) {
	for _, in := range [][]string{nil, {}, {"a"}, {"a@example.com", "quote\"back\\slash", "ctl\x01\n", "ünï ✓", "bad \xff"}} {
		var got []string
		if err := json.Unmarshal([]byte(jsonStrings(in)), &got); err != nil {
			t.Fatalf("jsonStrings(%q) = %s: %v", in, jsonStrings(in), err)
		}
		want := make([]string, 0, len(in))
		for _, s := range in {
			want = append(want, strings.ToValidUTF8(s, "\ufffd"))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("jsonStrings(%q) reads back as %q", in, got)
		}
	}
}
