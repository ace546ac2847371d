package sendgrid

import (
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/jsonenc"
)

// A segment's answer (Segment2xx) with its 50-contact sample is written
// here byte by byte rather than through encoding/json: building the
// sampleContact values and encoding them by reflection (custom_fields as
// a map whose keys encoding/json sorts) took about a third of the
// server's CPU for a segment GET (docs/decisions.md §11). The bytes are
// those writeJSON sends for segment2JSON's value, which stays the schema's
// statement and the test's reference (segjson_test.go compares the two).

// appendSegment2 appends the JSON of segment2JSON(v, cr) and the newline
// writeJSON's encoder ends with.
func appendSegment2(b []byte, v audience.SegmentView, cr *contactRenderer) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = jsonenc.AppendString(b, v.ID)
	b = append(b, `,"name":`...)
	b = jsonenc.AppendString(b, v.Name)
	b = append(b, `,"query_dsl":`...)
	b = jsonenc.AppendString(b, v.QueryDSL)
	b = append(b, `,"contacts_count":`...)
	b = strconv.AppendInt(b, int64(v.ContactsCount), 10)
	b = append(b, `,"contacts_sample":[`...)
	if cr != nil {
		for i, c := range v.Sample {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = cr.appendSample(b, c); err != nil {
				return nil, err
			}
		}
	}
	b = append(b, `],"created_at":`...)
	b = appendJSONTime(b, v.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendJSONTime(b, v.UpdatedAt)
	b = append(b, `,"sample_updated_at":`...)
	b = appendJSONTime(b, v.SampleUpdatedAt)
	b = append(b, `,"next_sample_update":`...)
	b = appendJSONTime(b, v.NextSampleUpdate)
	b = append(b, `,"parent_list_ids":`...)
	b = appendJSONStrings(b, v.ParentListIDs)
	b = append(b, `,"query_version":`...)
	b = jsonenc.AppendString(b, v.QueryVersion)
	st := queryStatus(v)
	b = append(b, `,"status":{"query_validation":`...)
	b = jsonenc.AppendString(b, st.QueryValidation)
	if st.ErrorMessage != "" {
		b = append(b, `,"error_message":`...)
		b = jsonenc.AppendString(b, st.ErrorMessage)
	}
	b = append(b, `},"refreshes_used":`...)
	b = strconv.AppendInt(b, int64(v.RefreshesUsed), 10)
	b = append(b, `,"max_refreshes":`...)
	b = strconv.AppendInt(b, segmentd.MaxRefreshesPerSegmentDay, 10)
	if !v.LastRefreshedAt.IsZero() {
		b = append(b, `,"last_refreshed_at":`...)
		b = appendJSONTime(b, v.LastRefreshedAt)
	}
	ic := v.Identifiers
	b = append(b, `,"identifier_counts":{"AID":`...)
	b = strconv.AppendInt(b, int64(ic.AnonymousID), 10)
	b = append(b, `,"EID":`...)
	b = strconv.AppendInt(b, int64(ic.Email), 10)
	b = append(b, `,"EXTID":`...)
	b = strconv.AppendInt(b, int64(ic.ExternalID), 10)
	b = append(b, `,"PHNID":`...)
	b = strconv.AppendInt(b, int64(ic.PhoneNumberID), 10)
	return append(b, "}}\n"...), nil
}

// appendSample appends c as sampleContact (ContactResponse) encodes.
func (cr *contactRenderer) appendSample(b []byte, c segmentd.Contact) ([]byte, error) {
	b = append(b, `{"id":`...)
	b = jsonenc.AppendString(b, c.ID)
	for _, f := range [...]struct{ key, val string }{
		{`,"email":`, c.Email}, {`,"phone_number_id":`, c.PhoneNumberID},
		{`,"external_id":`, c.ExternalID}, {`,"anonymous_id":`, c.AnonymousID},
	} {
		if f.val != "" { // omitempty
			b = append(b, f.key...)
			b = jsonenc.AppendString(b, f.val)
		}
	}
	b = append(b, `,"alternate_emails":`...)
	b = appendJSONStrings(b, c.AlternateEmails)
	for _, f := range [...]struct{ key, val string }{
		{`,"first_name":`, c.FirstName}, {`,"last_name":`, c.LastName},
		{`,"address_line_1":`, c.AddressLine1}, {`,"address_line_2":`, c.AddressLine2},
		{`,"city":`, c.City}, {`,"state_province_region":`, c.StateProvinceRegion},
		{`,"postal_code":`, c.PostalCode}, {`,"country":`, c.Country},
	} {
		b = append(b, f.key...)
		b = jsonenc.AppendString(b, f.val)
	}
	b = append(b, `,"list_ids":`...)
	b = appendJSONStrings(b, c.ListIDs)
	b = append(b, `,"segment_ids":`...)
	b = appendJSONStrings(b, c.SegmentIDs)
	b = append(b, `,"custom_fields":{`...)
	// encoding/json writes a map's members sorted by key.
	type member struct {
		name string
		v    segmentd.Value
	}
	var buf [16]member
	ms := buf[:0]
	for id, v := range c.CustomFields {
		if def, ok := cr.fields[id]; ok { // else deleted since the contact was read
			ms = append(ms, member{def.Name, v})
		}
	}
	slices.SortFunc(ms, func(x, y member) int { return strings.Compare(x.name, y.name) })
	for i, m := range ms {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, m.name)
		b = append(b, ':')
		switch m.v.Type {
		case segmentd.FieldNumber:
			var err error
			if b, err = appendJSONFloat(b, m.v.Number); err != nil {
				return nil, err
			}
		case segmentd.FieldDate:
			b = appendJSONTime(b, m.v.Time)
		default:
			b = jsonenc.AppendString(b, m.v.Text)
		}
	}
	return append(b, "}}"...), nil
}

// appendJSONTime appends t as timestamp writes it, quoted (its digits,
// '-', ':', '.', 'T' and 'Z' need no escape).
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, timestampLayout)
	return append(b, '"')
}

// appendJSONStrings appends ss as a JSON array, [] when nil (nonNil).
func appendJSONStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendString(b, s)
	}
	return append(b, ']')
}

// appendJSONFloat appends f as encoding/json writes a float64, and
// refuses NaN and the infinities as it does.
func appendJSONFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return nil, errors.New("json: unsupported value: " + strconv.FormatFloat(f, 'g', -1, 64))
	}
	return jsonenc.AppendFloat(b, f), nil
}
