package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/jsonenc"
)

// textCols are the contacts table's text columns, in the order of
// textFields.
var textCols = []string{
	"email", "phone_number_id", "external_id", "anonymous_id",
	"first_name", "last_name", "address_line_1", "address_line_2", "city",
	"state_province_region", "postal_code", "country", "phone_number",
	"whatsapp", "line", "facebook", "unique_name",
}

// textFields returns pointers to c's fields in the order of textCols.
func textFields(c *segmentd.Contact) [17]*string {
	return [17]*string{
		&c.Email, &c.PhoneNumberID, &c.ExternalID, &c.AnonymousID,
		&c.FirstName, &c.LastName, &c.AddressLine1, &c.AddressLine2, &c.City,
		&c.StateProvinceRegion, &c.PostalCode, &c.Country, &c.PhoneNumber,
		&c.WhatsApp, &c.Line, &c.Facebook, &c.UniqueName,
	}
}

// identifierCol maps an identifier type to its column. It is the only way an
// identifier type reaches SQL text.
func identifierCol(t segmentd.IdentifierType) (string, error) {
	switch t {
	case segmentd.IdentifierEmail, segmentd.IdentifierPhoneNumberID, segmentd.IdentifierExternalID, segmentd.IdentifierAnonymousID:
		return string(t), nil
	}
	return "", segmentd.Errorf(segmentd.KindInvalid, "identifier_type", "unknown identifier type %s", segmentd.Quote(string(t)))
}

// scanContact reads one row of contactCols. ListIDs are left empty.
func scanContact(rows *sql.Rows) (segmentd.Contact, error) {
	return scanContactAnd(rows)
}

// scanContactLists scans a row of contactColumnsLists: the contact with
// its sorted TagIDs and its CC (its lists are read after: fillLists).
func scanContactLists(rows *sql.Rows) (segmentd.Contact, error) {
	var tags, cc sql.NullString
	c, err := scanContactAnd(rows, &tags, &cc)
	if err == nil && tags.String != "" {
		c.TagIDs = strings.Split(tags.String, ",")
		slices.Sort(c.TagIDs)
	}
	if err == nil {
		if c.CC, err = segmentd.DecodeCCDetails(cc.String); err != nil {
			err = fmt.Errorf("contact %s: contact_cc: %w", c.ID, err)
		}
	}
	return c, err
}

// scanContactAnd scans contactColumns, then into more.
func scanContactAnd(rows *sql.Rows, more ...any) (segmentd.Contact, error) {
	var c segmentd.Contact
	var sc contactScanner
	err := sc.scan(rows, &c, more...)
	return c, err
}

// contactScanner scans rows of contactColumns; one scanner reused over a
// page's rows allocates its destinations once (a page of the rebuild
// allocated them, and the contact, for every row).
type contactScanner struct {
	text             [17]sql.NullString
	alt, custom      string
	created, updated int64
	dst              []any
}

// scan scans a row of contactColumns into c, then into more.
func (sc *contactScanner) scan(rows *sql.Rows, c *segmentd.Contact, more ...any) error {
	if sc.dst == nil {
		sc.dst = make([]any, 0, 22+len(more))
		sc.dst = append(sc.dst, nil)
		for i := range sc.text {
			sc.dst = append(sc.dst, &sc.text[i])
		}
		sc.dst = append(sc.dst, &sc.alt, &sc.custom, &sc.created, &sc.updated)
		sc.dst = append(sc.dst, more...)
	}
	sc.dst[0] = &c.ID
	if err := rows.Scan(sc.dst...); err != nil {
		return err
	}
	for i, p := range textFields(c) {
		*p = sc.text[i].String
	}
	var err error
	if c.AlternateEmails, err = decodeAlternateEmails(sc.alt); err != nil {
		return fmt.Errorf("contact %s: alternate_emails: %w", c.ID, err)
	}
	if c.CustomFields, err = decodeCustomFields(sc.custom); err != nil {
		return fmt.Errorf("contact %s: custom_fields: %w", c.ID, err)
	}
	c.CreatedAt = fromMS(sc.created)
	c.UpdatedAt = fromMS(sc.updated)
	return nil
}

func decodeAlternateEmails(s string) ([]string, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var out []string
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func encodeAlternateEmails(a []string) string {
	if len(a) == 0 {
		return "[]"
	}
	return jsonStrings(a)
}

// decodeCustomFields reads the custom_fields column. The type of each value
// comes from its field id's prefix: w Text, n Number, d Date (unix ms).
func decodeCustomFields(s string) (map[string]segmentd.Value, error) {
	if s == "" || s == "{}" {
		return nil, nil
	}
	if m, ok := decodeFlatObject(s); ok {
		return m, nil
	}
	var raw map[string]any
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	if err := d.Decode(&raw); err != nil {
		return nil, err
	}
	if len(raw) == 0 {
		return nil, nil
	}
	out := make(map[string]segmentd.Value, len(raw))
	for id, v := range raw {
		var text string
		var isString bool
		switch v := v.(type) {
		case string:
			text, isString = v, true
		case json.Number:
			text = string(v)
		default:
			return nil, fmt.Errorf("field %s: unexpected %T", id, v)
		}
		if err := setCustomValue(out, id, text, isString); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// setCustomValue stores field id's value: text is a JSON string's content
// (isString) or a JSON number's literal.
func setCustomValue(m map[string]segmentd.Value, id, text string, isString bool) error {
	if id == "" {
		return nil
	}
	switch id[0] {
	case 'w':
		if !isString {
			return fmt.Errorf("field %s: want a string, have %s", id, text)
		}
		m[id] = segmentd.Value{Type: segmentd.FieldText, Text: text}
	case 'n':
		f, err := strconv.ParseFloat(text, 64)
		if isString || err != nil {
			return fmt.Errorf("field %s: want a number, have %q", id, text)
		}
		m[id] = segmentd.Value{Type: segmentd.FieldNumber, Number: f}
	case 'd':
		ms, err := strconv.ParseInt(text, 10, 64)
		if err != nil && !isString {
			f, ferr := strconv.ParseFloat(text, 64)
			ms, err = int64(f), ferr
		}
		if isString || err != nil {
			return fmt.Errorf("field %s: want unix milliseconds, have %q", id, text)
		}
		m[id] = segmentd.Value{Type: segmentd.FieldDate, Time: fromMS(ms)}
	}
	return nil
}

// decodeFlatObject reads the common shape of custom_fields quickly: an
// object of plain strings (no escapes) and numbers, without spaces. It
// reports false for anything else, which encoding/json then reads.
func decodeFlatObject(s string) (map[string]segmentd.Value, bool) {
	if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' {
		return nil, false
	}
	m := make(map[string]segmentd.Value, strings.Count(s, ":"))
	i := 1
	str := func() (string, bool) { // a plain JSON string at s[i]
		if i >= len(s) || s[i] != '"' {
			return "", false
		}
		j := i + 1
		for j < len(s) && s[j] != '"' {
			if s[j] == '\\' || s[j] < 0x20 {
				return "", false
			}
			j++
		}
		if j >= len(s) {
			return "", false
		}
		v := s[i+1 : j]
		i = j + 1
		return v, true
	}
	for i < len(s)-1 {
		k, ok := str()
		if !ok || i >= len(s) || s[i] != ':' {
			return nil, false
		}
		i++
		var v string
		isString := i < len(s) && s[i] == '"'
		if isString {
			if v, ok = str(); !ok {
				return nil, false
			}
		} else {
			j := i
			for j < len(s) && s[j] != ',' && s[j] != '}' {
				j++
			}
			v, i = s[i:j], j
		}
		if setCustomValue(m, k, v, isString) != nil {
			return nil, false
		}
		if i < len(s)-1 {
			if s[i] != ',' || i+1 >= len(s)-1 {
				return nil, false
			}
			i++
		}
	}
	if i != len(s)-1 {
		return nil, false
	}
	return m, true
}

// encodeCustomFields renders values in the custom_fields column's form,
// keys sorted, numbers and strings as encoding/json writes them (an upsert
// encodes one object per contact, so this avoids reflection).
func encodeCustomFields(m map[string]segmentd.Value) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	var keysBuf [8]string
	keys := keysBuf[:0]
	for id := range m {
		keys = append(keys, id)
	}
	slices.Sort(keys)
	b := make([]byte, 0, 32*len(keys))
	b = append(b, '{')
	for i, id := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonenc.AppendStored(b, id)
		b = append(b, ':')
		v := m[id]
		switch v.Type {
		case segmentd.FieldNumber:
			f := v.Number
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return "", fmt.Errorf("field %s: %v is not a JSON number", id, f)
			}
			b = jsonenc.AppendFloat(b, f)
		case segmentd.FieldDate:
			b = strconv.AppendInt(b, toMS(v.Time), 10)
		default:
			b = jsonenc.AppendStored(b, v.Text)
		}
	}
	b = append(b, '}')
	return string(b), nil
}

// queryContacts runs query, which selects contactCols, and fills each
// contact's ListIDs and TagIDs.
func queryContacts(ctx context.Context, q queryer, acct int64, query string, args ...any) ([]segmentd.Contact, error) {
	return readContacts(ctx, q, acct, true, query, args...)
}

// readContacts is queryContacts, which without lists leaves ListIDs
// empty (a read whose caller asked segmentd.WithoutLists).
func readContacts(ctx context.Context, q queryer, acct int64, lists bool, query string, args ...any) ([]segmentd.Contact, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []segmentd.Contact
	for rows.Next() {
		c, err := scanContact(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	ptrs := make([]*segmentd.Contact, len(out))
	for i := range out {
		ptrs[i] = &out[i]
	}
	if err := fillSetsOf(ctx, q, acct, ptrs, lists); err != nil {
		return nil, err
	}
	return out, nil
}

// queryContactsLists runs a query of contactColumnsLists over the account
// acct (its first parameter) and returns its contacts with their lists,
// unless ctx asks to leave them out (segmentd.WithoutLists). It serves
// reads only.
func queryContactsLists(ctx context.Context, q queryer, query string, acct int64, args ...any) ([]segmentd.Contact, error) {
	rows, err := q.QueryContext(ctx, query, append([]any{acct}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []segmentd.Contact
	for rows.Next() {
		c, err := scanContactLists(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows.Close()
	if segmentd.ListsLeftOut(ctx) {
		return out, nil
	}
	idx := make(map[string]*segmentd.Contact, len(out))
	for i := range out {
		idx[out[i].ID] = &out[i]
	}
	return out, fillLists(ctx, q, acct, idx)
}

// fillListIDsOf sets the sorted ListIDs and TagIDs, and the CC, of the
// contacts cs point to.
func fillListIDsOf(ctx context.Context, q queryer, acct int64, cs []*segmentd.Contact) error {
	return fillSetsOf(ctx, q, acct, cs, true)
}

// fillSetsOf is fillListIDsOf, which without lists leaves ListIDs as they
// are (an upsert's, UpsertResult.ListsAdded).
func fillSetsOf(ctx context.Context, q queryer, acct int64, cs []*segmentd.Contact, lists bool) error {
	if len(cs) == 0 {
		return nil
	}
	idx := make(map[string]*segmentd.Contact, len(cs))
	ids := make([]string, len(cs))
	for i, c := range cs {
		idx[c.ID] = c
		ids[i] = c.ID
	}
	arr := jsonStrings(ids)
	if lists {
		if err := fillLists(ctx, q, acct, idx); err != nil {
			return err
		}
	}
	if err := fillSets(ctx, q, qTagIDsOf, acct, arr, idx, func(c *segmentd.Contact) *[]string { return &c.TagIDs }); err != nil {
		return err
	}
	return fillCCDetails(ctx, q, acct, arr, idx)
}

// seekListsAlone is the number of contacts up to which fillLists seeks
// their memberships without trying their range first.
const seekListsAlone = 32

// rangeRowsPerSeek is how many rows of a range of list_members cost about
// one seek into it: at 200,000 contacts on 50 lists, a seek took about
// 2.9 µs of CPU and a row of a range 0.7 µs (BenchmarkContactReadsLoaded).
const rangeRowsPerSeek = 4

// fillLists sets the sorted ListIDs of the contacts of idx (by id).
// list_members is keyed by (account, list, contact): a contact's
// memberships are one seek per list of the account (qListNumsOf), and the
// memberships of a dense set of contacts (a page of an export, the
// contacts of one upsert's batch) are cheaper read as one range per list,
// from the set's first id to its last (qPageLists), those of other
// contacts skipped. Which one a set is shows only while reading the
// range: it is read until it has given rangeRowsPerSeek rows for each
// seek the other way would make (the set's contacts times the account's
// lists), and abandoned for the seeks past that.
func fillLists(ctx context.Context, q queryer, acct int64, idx map[string]*segmentd.Contact) error {
	if len(idx) == 0 {
		return nil
	}
	lists, err := listsByNum(ctx, q, acct)
	if err != nil || len(lists) == 0 {
		return err
	}
	ids := slices.Sorted(maps.Keys(idx))
	dense := false
	if len(ids) > seekListsAlone {
		had := make(map[*segmentd.Contact]int, len(idx)) // the lists the caller set (an upsert's)
		for _, c := range idx {
			had[c] = len(c.ListIDs)
		}
		if dense, err = listRange(ctx, q, acct, ids, idx, lists); err != nil {
			return err
		}
		if !dense {
			for c, n := range had {
				c.ListIDs = c.ListIDs[:n]
			}
		}
	}
	if !dense {
		if err := listSeeks(ctx, q, acct, ids, idx, lists); err != nil {
			return err
		}
	}
	for _, c := range idx {
		if len(c.ListIDs) > 1 {
			slices.Sort(c.ListIDs)
			c.ListIDs = slices.Compact(c.ListIDs) // a list the caller set and the store holds
		}
	}
	return nil
}

// listRange adds to the contacts of idx their lists from the ranges of
// list_members from ids' first to its last, and reports whether it read
// them all: it stops, false, once the ranges gave more rows than seeking
// each contact in each list would cost (rangeRowsPerSeek).
func listRange(ctx context.Context, q queryer, acct int64, ids []string, idx map[string]*segmentd.Contact, lists map[int64]string) (bool, error) {
	rows, err := q.QueryContext(ctx, qPageLists, acct, ids[0], ids[len(ids)-1])
	if err != nil {
		return false, err
	}
	defer rows.Close()
	budget := rangeRowsPerSeek * len(ids) * len(lists)
	var num int64
	var cid sql.RawBytes
	for n := 0; rows.Next(); n++ {
		if n == budget {
			return false, nil
		}
		if err := rows.Scan(&num, &cid); err != nil {
			return false, err
		}
		if c, ok := idx[string(cid)]; ok {
			if id, ok := lists[num]; ok {
				c.ListIDs = append(c.ListIDs, id)
			}
		}
	}
	return true, rows.Err()
}

// listSeeks adds to the contacts of idx their lists, seeking each
// contact of ids in each list.
func listSeeks(ctx context.Context, q queryer, acct int64, ids []string, idx map[string]*segmentd.Contact, lists map[int64]string) error {
	rows, err := q.QueryContext(ctx, qListNumsOf, acct, jsonStrings(ids))
	if err != nil {
		return err
	}
	defer rows.Close()
	var num int64
	var cid sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&num, &cid); err != nil {
			return err
		}
		if c, ok := idx[string(cid)]; ok {
			if id, ok := lists[num]; ok {
				c.ListIDs = append(c.ListIDs, id)
			}
		}
	}
	return rows.Err()
}

// fillCCDetails sets the CC of the contacts in the JSON array ids.
func fillCCDetails(ctx context.Context, q queryer, acct int64, ids string, idx map[string]*segmentd.Contact) error {
	rows, err := q.QueryContext(ctx, qCCDetailsOf, acct, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var cid, details string
		if err := rows.Scan(&cid, &details); err != nil {
			return err
		}
		if c, ok := idx[cid]; ok {
			if c.CC, err = segmentd.DecodeCCDetails(details); err != nil {
				return fmt.Errorf("contact %s: contact_cc: %w", cid, err)
			}
		}
	}
	return rows.Err()
}

// fillSets runs query, which selects (contact id, member id) pairs of the
// contacts in the JSON array ids, and sets each contact's set (its lists
// or its tags) to its members, sorted.
func fillSets(ctx context.Context, q queryer, query string, acct int64, ids string, idx map[string]*segmentd.Contact, set func(*segmentd.Contact) *[]string) error {
	rows, err := q.QueryContext(ctx, query, acct, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var cid, mid string
		if err := rows.Scan(&cid, &mid); err != nil {
			return err
		}
		if c, ok := idx[cid]; ok {
			*set(c) = append(*set(c), mid)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, c := range idx {
		s := set(c)
		slices.Sort(*s)
		*s = slices.Compact(*s) // an id given twice
	}
	return nil
}

// Contact reads one contact; with its lists unless ctx asks to leave them
// out (segmentd.WithoutLists), as do the other reads by contact: the
// list-first key of list_members makes them a seek per list of the
// account (docs/sqlite.md, "Lists from the engine").
func (s *Store) Contact(ctx context.Context, acct int64, id string) (segmentd.Contact, error) {
	var cs []segmentd.Contact
	err := s.readPrepared(ctx, func(tx queryer) error {
		var err error
		cs, err = readContacts(ctx, tx, acct, !segmentd.ListsLeftOut(ctx), qContactByID, acct, id)
		return err
	})
	if err != nil {
		return segmentd.Contact{}, err
	}
	if len(cs) == 0 {
		return segmentd.Contact{}, notFound("id", "contact %s does not exist", segmentd.Quote(id))
	}
	return cs[0], nil
}

// ContactsByIDs returns the contacts that exist, in the order of ids; an id
// given twice yields its contact once.
func (s *Store) ContactsByIDs(ctx context.Context, acct int64, ids []string) ([]segmentd.Contact, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var cs []segmentd.Contact
	err := s.readPrepared(ctx, func(tx queryer) error { // the contacts, then their lists (fillLists)
		var err error
		cs, err = queryContactsLists(ctx, tx, qContactsByIDs, acct, jsonStrings(ids))
		return err
	})
	if err != nil {
		return nil, err
	}
	byID := make(map[string]int, len(cs))
	for i, c := range cs {
		byID[c.ID] = i
	}
	out := make([]segmentd.Contact, 0, len(cs))
	for _, id := range ids {
		if i, ok := byID[id]; ok {
			out = append(out, cs[i])
			delete(byID, id)
		}
	}
	return out, nil
}

// ContactsByEmails matches each address against contacts' emails first, then
// their alternate emails (the lowest contact id wins when several contacts
// list the same alternate address).
func (s *Store) ContactsByEmails(ctx context.Context, acct int64, emails []string) (map[string]segmentd.Contact, error) {
	out := make(map[string]segmentd.Contact)
	if len(emails) == 0 {
		return out, nil
	}
	err := s.readPrepared(ctx, func(tx queryer) error {
		lists := !segmentd.ListsLeftOut(ctx)
		cs, err := readContacts(ctx, tx, acct, lists, qContactsWhere+"email"+qInValues, acct, jsonStrings(emails))
		if err != nil {
			return err
		}
		for _, c := range cs {
			out[c.Email] = c
		}
		var rest []string
		for _, e := range emails {
			if _, ok := out[e]; !ok {
				rest = append(rest, e)
			}
		}
		if len(rest) == 0 {
			return nil
		}
		rows, err := tx.QueryContext(ctx, qAlternateEmailOwners, acct, jsonStrings(rest))
		if err != nil {
			return err
		}
		alt := make(map[string]string) // email -> contact id
		var ids []string
		for rows.Next() {
			var e, id string
			if err := rows.Scan(&e, &id); err != nil {
				rows.Close()
				return err
			}
			alt[e] = id
			ids = append(ids, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(ids) == 0 {
			return nil
		}
		cs, err = readContacts(ctx, tx, acct, lists, qContactsWhere+"id"+qInValues, acct, jsonStrings(ids))
		if err != nil {
			return err
		}
		byID := make(map[string]segmentd.Contact, len(cs))
		for _, c := range cs {
			byID[c.ID] = c
		}
		for e, id := range alt {
			if c, ok := byID[id]; ok {
				out[e] = c
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) ContactsByIdentifier(ctx context.Context, acct int64, t segmentd.IdentifierType, values []string) (map[string]segmentd.Contact, error) {
	col, err := identifierCol(t)
	if err != nil {
		return nil, err
	}
	out := make(map[string]segmentd.Contact)
	if len(values) == 0 {
		return out, nil
	}
	err = s.readPrepared(ctx, func(tx queryer) error {
		cs, err := readContacts(ctx, tx, acct, !segmentd.ListsLeftOut(ctx), qContactsWhere+col+qInValues, acct, jsonStrings(values))
		for _, c := range cs {
			out[c.Identifier(t)] = c
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) CountContacts(ctx context.Context, acct int64) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM contacts WHERE account_id = ?", acct).Scan(&n)
	return n, err
}

// SampleContacts returns up to limit of the most recently updated contacts
// (ties: the most recently inserted rows), sorted by email (contacts without
// one last, by id). Both orders come from the contacts_updated index (whose
// entries end with the rowid), so no sort of a whole batch's rows.
func (s *Store) SampleContacts(ctx context.Context, acct int64, limit int) ([]segmentd.Contact, error) {
	if limit <= 0 {
		return nil, nil
	}
	var cs []segmentd.Contact
	err := s.readPrepared(ctx, func(tx queryer) error { // the contacts, then their lists (fillLists)
		var err error
		cs, err = queryContactsLists(ctx, tx, qSampleContacts, acct, limit)
		return err
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(cs, func(i, j int) bool {
		a, b := cs[i], cs[j]
		if (a.Email == "") != (b.Email == "") {
			return b.Email == ""
		}
		if a.Email != b.Email {
			return a.Email < b.Email
		}
		return a.ID < b.ID
	})
	return cs, nil
}

// deleteContacts removes the contacts whose ids are in the JSON array ids,
// with their memberships and alternate-email rows, and records the
// deletions in the change history.
func deleteContacts(ctx context.Context, tx *sql.Tx, acct int64, ids string) (int, error) {
	seq, err := nextChange(ctx, tx)
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, qRecordDeletions, acct, seq, ids); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, qDeleteContacts, acct, ids)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, qDeleteMembershipsOf, acct, ids); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, qDeleteTaggingsOf, acct, ids); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, qDeleteCCDetailsOf, acct, ids); err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, qDeleteAlternatesOf, acct, ids); err != nil {
		return 0, err
	}
	return int(n), nil
}

func (s *Store) DeleteContacts(ctx context.Context, acct int64, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var err error
		n, err = deleteContacts(ctx, tx, acct, jsonStrings(ids))
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

func (s *Store) DeleteAllContacts(ctx context.Context, acct int64) (int, error) {
	var n int64
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM contacts WHERE account_id = ?", acct)
		if err != nil {
			return err
		}
		if n, err = res.RowsAffected(); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM list_members WHERE account_id = ?", acct); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM contact_tags WHERE account_id = ?", acct); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM contact_cc WHERE account_id = ?", acct); err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, "DELETE FROM contact_alternate_emails WHERE account_id = ?", acct); err != nil {
			return err
		}
		seq, err := nextChange(ctx, tx)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, qRecordDeletion, acct, seq, "all", "")
		return err
	})
	if err != nil {
		return 0, err
	}
	return int(n), nil
}

// DeleteIdentifier clears identifier t of a contact when its value is value.
func (s *Store) DeleteIdentifier(ctx context.Context, acct int64, contactID string, t segmentd.IdentifierType, value string, now time.Time) error {
	col, err := identifierCol(t)
	if err != nil {
		return err
	}
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		cs, err := queryContacts(ctx, tx, acct, "SELECT "+contactColumns+" FROM contacts WHERE account_id = ? AND id = ?", acct, contactID)
		if err != nil {
			return err
		}
		if len(cs) == 0 {
			return notFound("contact_id", "contact %s does not exist", segmentd.Quote(contactID))
		}
		c := cs[0]
		if value == "" || c.Identifier(t) != value {
			return notFound("identifier_value", "contact %s has no %s %s", contactID, t, segmentd.Quote(value))
		}
		c.SetIdentifier(t, "")
		if !c.HasIdentifier() {
			return segmentd.Errorf(segmentd.KindInvalid, "identifier_type",
				"%s is the contact's last identifier: a contact must keep at least one identifier", t)
		}
		seq, err := nextChange(ctx, tx)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE contacts SET "+col+" = NULL, updated_at = ?, change_seq = ? WHERE account_id = ? AND id = ?",
			toMS(now), seq, acct, contactID)
		return err
	})
}

// sortedUnique returns the distinct values of s, sorted.
func sortedUnique(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
