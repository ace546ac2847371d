package sendgrid

import (
	"bytes"
	"math"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
)

// TestAppendSegment2MatchesEncodingJSON: the hand-written encoder of a
// segment's answer writes exactly the bytes writeJSON writes for
// segment2JSON's value, for strings that need every kind of escape, for
// numbers in both of encoding/json's forms, for absent and deleted
// fields, with and without a sample.
func TestAppendSegment2MatchesEncodingJSON(t *testing.T) {
	texts := []string{"", "plain", `quo"te`, `back\slash`, "<b>&amp;</b>", "tab\tnew\nline\r\b\f\x01\x1f",
		"Chloé Müller", "日本語", "line\u2028sep\u2029", "bad\xffutf8\xc3", "emoji 😀", "\x7f del"}
	numbers := []float64{0, math.Copysign(0, -1), 1, -42, 3.25, 1e-7, 1.5e-9, 1e20, 1e21, 123456789012345680000, 1e-6, 0.1 + 0.2, -2.5e300, math.SmallestNonzeroFloat64}
	at := time.Date(2030, 3, 12, 8, 9, 10, 123456789, time.FixedZone("x", 3600))
	cr := &contactRenderer{base: "http://localhost", fields: map[string]segmentd.FieldDefinition{
		"e1_T": {Name: "zeta"}, "e2_N": {Name: "alpha"}, "e3_D": {Name: "Mid<&>"}, "e4_T": {Name: "名前"},
	}}
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func() string { return texts[rng.IntN(len(texts))] }
	strs := func() []string {
		switch n := rng.IntN(4); n {
		case 0:
			return nil
		default:
			out := make([]string, n)
			for i := range out {
				out[i] = pick()
			}
			return out
		}
	}
	for i := range 300 {
		var sample []segmentd.Contact
		for range rng.IntN(4) {
			c := segmentd.Contact{ID: pick(), Email: pick(), PhoneNumberID: pick(), ExternalID: pick(), AnonymousID: pick(),
				AlternateEmails: strs(), FirstName: pick(), LastName: pick(), AddressLine1: pick(), AddressLine2: pick(),
				City: pick(), StateProvinceRegion: pick(), PostalCode: pick(), Country: pick(), ListIDs: strs(), SegmentIDs: strs()}
			if rng.IntN(3) > 0 {
				c.CustomFields = map[string]segmentd.Value{
					"e1_T":    {Type: segmentd.FieldText, Text: pick()},
					"e2_N":    {Type: segmentd.FieldNumber, Number: numbers[rng.IntN(len(numbers))]},
					"e3_D":    {Type: segmentd.FieldDate, Time: at.Add(time.Duration(rng.IntN(1e6)) * time.Hour)},
					"e4_T":    {Type: segmentd.FieldText, Text: pick()},
					"deleted": {Type: segmentd.FieldText, Text: "gone"},
				}
			}
			sample = append(sample, c)
		}
		v := audience.SegmentView{Segment: segmentd.Segment{ID: pick(), Name: pick(), QueryDSL: pick(), CreatedAt: at, UpdatedAt: at.Add(time.Minute),
			ParentListIDs: strs(), QueryVersion: pick()},
			ContactsCount: rng.IntN(1e7), Sample: sample, SampleUpdatedAt: at.Add(time.Hour), NextSampleUpdate: at.Add(2 * time.Hour),
			RefreshesUsed: rng.IntN(3),
			Identifiers:   segmentd.IdentifierCounts{AnonymousID: rng.IntN(9), Email: rng.IntN(9), ExternalID: rng.IntN(9), PhoneNumberID: rng.IntN(9)}}
		if rng.IntN(2) == 0 {
			v.QueryError = pick()
		}
		if rng.IntN(2) == 0 {
			v.LastRefreshedAt = at.Add(-time.Hour)
		}
		for _, r := range []*contactRenderer{cr, nil} {
			want := httptest.NewRecorder()
			if err := writeJSON(want, 200, segment2JSON(v, r)); err != nil {
				t.Fatal(err)
			}
			got, err := appendSegment2(nil, v, r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Body.Bytes()) {
				t.Fatalf("case %d (sample %v):\n got %s\nwant %s", i, r != nil, got, want.Body.Bytes())
			}
		}
	}
}

// TestAppendSegment2RefusesNonFinite: a number JSON cannot hold fails the
// encoding, as it fails encoding/json's.
func TestAppendSegment2RefusesNonFinite(t *testing.T) {
	cr := &contactRenderer{fields: map[string]segmentd.FieldDefinition{"n": {Name: "n"}}}
	v := audience.SegmentView{Sample: []segmentd.Contact{{CustomFields: map[string]segmentd.Value{"n": {Type: segmentd.FieldNumber, Number: math.Inf(1)}}}}}
	_, err := appendSegment2(nil, v, cr)
	if err == nil || !strings.Contains(err.Error(), "unsupported value") {
		t.Fatalf("error %v, want unsupported value", err)
	}
}
