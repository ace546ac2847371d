package constantcontact

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
)

// An import's contact properties (JsonImportContact, and the CSV file's
// column headings): email, names, job title, company, birthday,
// anniversary, up to 3 phones of the kinds below, up to 3 street
// addresses (the primary one, street…, is a home address), cf:<custom
// field name>. docs/constantcontact.md "Imports" says how they map.

// importPhones are the phone properties and their kinds (phone's is
// other, as Constant Contact documents).
var importPhones = []struct{ key, kind string }{
	{"phone", "other"}, {"home_phone", "home"}, {"work_phone", "work"}, {"mobile_phone", "mobile"}, {"other_phone", "other"}}

// importAddresses are the address properties' prefixes and their kinds.
var importAddresses = []struct{ prefix, kind string }{{"", "home"}, {"home_", "home"}, {"work_", "work"}, {"other_", "other"}}

// addressPart names an address property's part (street, street2, city,
// state, zip, country) and prefix; ok is false for other properties.
// "home country" is the spelling Constant Contact's document gives.
func addressPart(k string) (prefix, part string, ok bool) {
	if k == "home country" {
		return "home_", "country", true
	}
	for _, a := range importAddresses[1:] {
		if rest, found := strings.CutPrefix(k, a.prefix); found {
			prefix, k = a.prefix, rest
			break
		}
	}
	switch k {
	case "street", "street2", "city", "state", "zip", "country":
		return prefix, k, true
	}
	return "", "", false
}

// importProperties are the properties besides phones, addresses and
// custom fields.
var importProperties = []string{"email", "first_name", "last_name", "job_title", "company_name", "birthday_month", "birthday_day", "anniversary",
	"sms_number", "sms_consent_date"}

// knownImportProperty reports whether k is a property of an import (a
// custom field's is checked against the account's fields).
func knownImportProperty(k string) bool {
	if slices.Contains(importProperties, k) || strings.HasPrefix(k, "cf:") {
		return true
	}
	if slices.ContainsFunc(importPhones, func(p struct{ key, kind string }) bool { return p.key == k }) {
		return true
	}
	_, _, ok := addressPart(k)
	return ok
}

// importRow maps one contact of an import, its properties to their
// values, onto the shared fields (its patch) and its Constant
// Contact-only attributes. An empty value is not given: an import only
// updates the properties it gives a value. A malformed row is returned
// with Err, the activity's error for it; path names the contact
// ("import_data[3]", "line 4").
func importRow(row map[string]string, byName map[string]segmentd.FieldDefinition, path string) audience.CCImportRow {
	var out audience.CCImportRow
	if err := readImportRow(&out, row, byName, path); err != nil {
		out.Err = err
	}
	return out
}

func readImportRow(out *audience.CCImportRow, row map[string]string, byName map[string]segmentd.FieldDefinition, path string) error {
	p, d := &out.Patch, &out.Details
	keys := make([]string, 0, len(row))
	for k, v := range row {
		if v != "" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	fields := 0
	addrs := map[string]*audience.CCAddressPatch{}
	phones := make([]string, len(importPhones)) // by importPhones' order
	var month, day string
	for _, k := range keys {
		v := row[k]
		name := path + "." + k
		if err := segmentd.CheckText(name, v); err != nil {
			return err
		}
		switch k {
		case "email":
			p.Email = &v
			continue
		case "first_name", "last_name", "job_title", "company_name":
			if n := len([]rune(v)); n > maxNameLength {
				return invalid(name, "%s must be at most %d characters, not %d", name, maxNameLength, n)
			}
			*map[string]**string{"first_name": &p.FirstName, "last_name": &p.LastName, "job_title": &d.JobTitle, "company_name": &d.CompanyName}[k] = &v
			continue
		case "birthday_month":
			month = v
			continue
		case "birthday_day":
			day = v
			continue
		case "anniversary":
			if err := checkAnniversary(name, v); err != nil {
				return err
			}
			d.Anniversary = &v
			continue
		case "sms_number", "sms_consent_date":
			return invalid(name, "%s: segmentd does not keep %s yet; leave it out", path, k)
		}
		if i := slices.IndexFunc(importPhones, func(ph struct{ key, kind string }) bool { return ph.key == k }); i >= 0 {
			if n := len([]rune(v)); n > maxPhoneNumberLength {
				return invalid(name, "%s must be at most %d characters, not %d", name, maxPhoneNumberLength, n)
			}
			phones[i] = v
			continue
		}
		if label, ok := strings.CutPrefix(k, "cf:"); ok {
			f, ok := byName[strings.ToLower(label)]
			if !ok {
				return invalid(name, "%s: custom field %s does not exist", name, segmentd.Quote(label))
			}
			if fields++; fields > maxContactFields {
				return invalid(path, "%s may set at most %d custom fields", path, maxContactFields)
			}
			if n := len([]rune(v)); n > maxCustomValueLength {
				return invalid(name, "%s must be at most %d characters, not %d", name, maxCustomValueLength, n)
			}
			val, err := fieldValue(f, v, name)
			if err != nil {
				return fieldRenamed(err, name+".value", name)
			}
			if p.CustomFields == nil {
				p.CustomFields = map[string]*segmentd.Value{}
			}
			p.CustomFields[f.ID] = val
			continue
		}
		prefix, part, ok := addressPart(k)
		if !ok {
			return invalid(name, "%s: %s is not a contact property of Constant Contact's imports", path, segmentd.Quote(k))
		}
		limit := maxAddressPartLength
		if part == "street" || part == "street2" {
			limit = 100 // an address line's, shared with SendGrid
		}
		if n := len([]rune(v)); n > limit {
			return invalid(name, "%s must be at most %d characters, not %d", name, limit, n)
		}
		a := addrs[prefix]
		if a == nil {
			a = &audience.CCAddressPatch{}
			addrs[prefix] = a
		}
		*map[string]*string{"street": &a.Street, "street2": &a.Street2, "city": &a.City, "state": &a.State, "zip": &a.PostalCode, "country": &a.Country}[part] = v
	}
	if p.Email == nil {
		return invalid(path+".email", "%s.email is required (segmentd keeps contacts by email, not by SMS number)", path)
	}
	for i, v := range phones {
		if v != "" {
			d.Phones = append(d.Phones, segmentd.CCPhone{Number: v, Kind: importPhones[i].kind})
		}
	}
	if len(d.Phones) > segmentd.MaxCCPhones {
		return invalid(path, "%s may give at most %d phone numbers, not %d", path, segmentd.MaxCCPhones, len(d.Phones))
	}
	if addrs[""] != nil && addrs["home_"] != nil {
		return invalid(path, "%s gives two home addresses: the primary address (street, city, …) is the home one, so leave out home_street, home_city, …", path)
	}
	for _, a := range importAddresses {
		if ap := addrs[a.prefix]; ap != nil {
			ap.Kind = a.kind
			d.Addresses = append(d.Addresses, *ap)
		}
	}
	return readBirthday(d, month, day, path)
}

// readBirthday sets the birthday of an import row, whose month and day
// come together.
func readBirthday(d *audience.CCDetailsPatch, month, day, path string) error {
	if month == "" && day == "" {
		return nil
	}
	if month == "" || day == "" {
		return invalid(path+".birthday_month", "%s: birthday_month and birthday_day must be given together", path)
	}
	m, err := strconv.Atoi(month)
	if err != nil || m < 1 || m > 12 {
		return invalid(path+".birthday_month", "%s.birthday_month must be from 1 to 12, not %s", path, segmentd.Quote(month))
	}
	dd, err := strconv.Atoi(day)
	if err != nil || dd < 1 || dd > 31 {
		return invalid(path+".birthday_day", "%s.birthday_day must be from 1 to 31, not %s", path, segmentd.Quote(day))
	}
	d.BirthdayMonth, d.BirthdayDay = m, dd
	return nil
}

// checkAnniversary checks an anniversary: at most 10 characters, in one of
// the date forms Constant Contact documents.
func checkAnniversary(name, a string) error {
	if n := len([]rune(a)); n > segmentd.MaxCCAnniversary {
		return invalid(name, "%s must be at most %d characters, not %d", name, segmentd.MaxCCAnniversary, n)
	}
	for _, l := range anniversaryLayouts {
		if _, err := time.Parse(l, a); err == nil {
			return nil
		}
	}
	return invalid(name, "%s must be a date as MM/DD/YYYY, YYYY/MM/DD, YYYY-MM-DD or MM-DD-YYYY, not %s", name, segmentd.Quote(a))
}

// jsonImportRow reads one contact of a JSON import: its values are
// strings, but a birthday's month and day may be numbers.
func jsonImportRow(c map[string]json.RawMessage, byName map[string]segmentd.FieldDefinition, path string) audience.CCImportRow {
	row := make(map[string]string, len(c))
	for k, raw := range c {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			var n json.Number
			if k != "birthday_month" && k != "birthday_day" || json.Unmarshal(raw, &n) != nil {
				return audience.CCImportRow{Err: invalid(path+"."+k, "%s.%s must be a string", path, k)}
			}
			s = n.String()
		}
		row[k] = s
	}
	return importRow(row, byName, path)
}

// readImportCSV reads an import file: a header row of contact properties
// (importRow's), then one contact a line, at most maxImportLines lines.
// A file without a header or an email column, with a column that is not
// a property, or over the limit, is refused; a line that cannot be read
// is its activity's error.
func readImportCSV(body []byte, byName map[string]segmentd.FieldDefinition) ([]audience.CCImportRow, error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")) // a spreadsheet's byte-order mark
	cr := csv.NewReader(bytes.NewReader(body))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, invalid("file", "file must be a CSV file whose first line names its columns")
	}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		header[i] = h
		if !knownImportProperty(h) {
			return nil, invalid("file", "file: column %s is not a contact property of Constant Contact's imports", segmentd.Quote(h))
		}
		if label, ok := strings.CutPrefix(h, "cf:"); ok && byName[strings.ToLower(label)].ID == "" {
			return nil, invalid("file", "file: column %s names no custom field of the account", segmentd.Quote(h))
		}
	}
	if !slices.Contains(header, "email") {
		return nil, invalid("file", "file must have an email column (segmentd keeps contacts by email, not by SMS number)")
	}
	var rows []audience.CCImportRow
	for lines := 1; ; {
		offset := cr.InputOffset()
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		var line int
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			line = pe.StartLine
		} else {
			line, _ = cr.FieldPos(0)
		}
		if lines++; lines > maxImportLines {
			return nil, invalid("file", "file may hold at most %d lines, its header included", maxImportLines)
		}
		path := "line " + strconv.Itoa(line)
		switch {
		case err != nil:
			rows = append(rows, audience.CCImportRow{Err: invalid("file", "%s is not valid CSV", path)})
			if cr.InputOffset() == offset {
				return rows, nil // nothing more can be read
			}
			continue
		case len(rec) != len(header):
			rows = append(rows, audience.CCImportRow{Err: invalid("file", "%s has %d values for %d columns", path, len(rec), len(header))})
			continue
		}
		row := make(map[string]string, len(header))
		for i, h := range header {
			row[h] = strings.TrimSpace(rec[i])
		}
		rows = append(rows, importRow(row, byName, path))
	}
	return rows, nil
}
