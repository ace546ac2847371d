package postgres

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

// contactColumns are the columns contactScanner reads, from contacts as c:
// the id, the text columns of textFields (NULL as ""), the jsonb columns,
// the times, the contact's lists and tags, and its Constant Contact-only
// attributes (NULL for none). The subqueries names the account
// as $1 rather than c.account_id: Citus routes a statement to one node
// only when every table in it is filtered on the distribution column.
const contactColumns = contactRowColumns + ", " + contactSideColumns

// contactRowColumns are contactColumns from the contacts row alone.
const contactRowColumns = `c.id, coalesce(c.email, ''), coalesce(c.phone_number_id, ''), coalesce(c.external_id, ''),
	coalesce(c.anonymous_id, ''), coalesce(c.first_name, ''), coalesce(c.last_name, ''), coalesce(c.address_line_1, ''),
	coalesce(c.address_line_2, ''), coalesce(c.city, ''), coalesce(c.state_province_region, ''), coalesce(c.postal_code, ''),
	coalesce(c.country, ''), coalesce(c.phone_number, ''), coalesce(c.whatsapp, ''), coalesce(c.line, ''),
	coalesce(c.facebook, ''), coalesce(c.unique_name, ''), c.alternate_emails, c.custom_fields, c.created_at, c.updated_at`

// contactSideColumns are the rest of contactColumns: what other tables
// hold of the contact c.id.
const contactSideColumns = `ARRAY(SELECT m.list_id::text FROM list_members m WHERE m.account_id = $1 AND m.contact_id = c.id::uuid ORDER BY m.list_id),
	ARRAY(SELECT t.tag_id FROM contact_tags t WHERE t.account_id = $1 AND t.contact_id = c.id ORDER BY t.tag_id),
	(SELECT d.details FROM contact_cc d WHERE d.account_id = $1 AND d.contact_id = c.id)`

// qContacts selects contacts of the account $1; append the condition.
const qContacts = "SELECT " + contactColumns + " FROM contacts c WHERE c.account_id = $1 AND "

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

// contactScanner reads rows of contactColumns into c (after the lookup
// key, for the qContactsBy queries), with one set of scan targets for all
// the rows of a query.
type contactScanner struct {
	key              string
	c                segmentd.Contact
	alt, custom      string
	cc               *string
	created, updated int64
	dst              []any
}

func newContactScanner(keyed bool) *contactScanner {
	sc := &contactScanner{}
	if keyed {
		sc.dst = append(sc.dst, &sc.key)
	}
	sc.dst = append(sc.dst, &sc.c.ID)
	for _, p := range textFields(&sc.c) {
		sc.dst = append(sc.dst, p)
	}
	sc.dst = append(sc.dst, &sc.alt, &sc.custom, &sc.created, &sc.updated, &sc.c.ListIDs, &sc.c.TagIDs, &sc.cc)
	return sc
}

// scan reads one row.
func (sc *contactScanner) scan(row pgx.Row) (segmentd.Contact, error) {
	sc.c, sc.cc = segmentd.Contact{}, nil
	if err := row.Scan(sc.dst...); err != nil {
		return segmentd.Contact{}, err
	}
	c := sc.c
	var err error
	if c.AlternateEmails, err = decodeAlternateEmails(sc.alt); err != nil {
		return c, fmt.Errorf("contact %s: alternate_emails: %w", c.ID, err)
	}
	if c.CustomFields, err = decodeCustomFields(sc.custom); err != nil {
		return c, fmt.Errorf("contact %s: custom_fields: %w", c.ID, err)
	}
	if len(c.ListIDs) == 0 {
		c.ListIDs = nil
	}
	if len(c.TagIDs) == 0 {
		c.TagIDs = nil
	}
	if sc.cc != nil {
		if c.CC, err = segmentd.DecodeCCDetails(*sc.cc); err != nil {
			return c, fmt.Errorf("contact %s: contact_cc: %w", c.ID, err)
		}
	}
	c.CreatedAt = fromMS(sc.created)
	c.UpdatedAt = fromMS(sc.updated)
	return c, nil
}

// queryContacts runs a query that selects contactColumns (qContacts).
func queryContacts(ctx context.Context, q querier, query string, args ...any) ([]segmentd.Contact, error) {
	return queryContactsInto(ctx, q, nil, query, args...)
}

// queryContactsInto is queryContacts appending to out.
func queryContactsInto(ctx context.Context, q querier, out []segmentd.Contact, query string, args ...any) ([]segmentd.Contact, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	sc := newContactScanner(false)
	for rows.Next() {
		c, err := sc.scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (s *Store) Contact(ctx context.Context, acct int64, id string) (segmentd.Contact, error) {
	cs, err := queryContacts(ctx, s.db, qContacts+"c.id = $2", acct, id)
	if err != nil {
		return segmentd.Contact{}, err
	}
	if len(cs) == 0 {
		return segmentd.Contact{}, notFound("id", "contact %s does not exist", segmentd.Quote(id))
	}
	return cs[0], nil
}

// qContactsBy selects, for each value v.key of $2, the contacts of the
// account $1 that cond (on c and v.key) names: one probe of an index per
// value, whatever the planner's statistics say, where "= ANY($2)" may be
// planned as a scan of the account. The LATERAL subquery's OFFSET 0 keeps
// the planner from flattening it into a join, which it planned as a hash
// of every contact of the account from a few thousand contacts on
// (TestLookupsProbeAnIndex; until 2026-12-06 every upsert of the
// realistic bench hashed the whole account to find its batch's emails).
func qContactsBy(cond string) string { return qColumnsBy(contactColumns, cond) }

// qColumnsBy is qContactsBy selecting columns (of contacts as c).
func qColumnsBy(columns, cond string) string {
	return "SELECT v.key, " + columns + ` FROM unnest($2::text[]) AS v (key)
		CROSS JOIN LATERAL (SELECT * FROM contacts c WHERE c.account_id = $1 AND ` + cond + " OFFSET 0) c"
}

// byIdentifier is query (of a condition on c and v.key) for each
// identifier type.
func byIdentifier(query func(cond string) string) map[segmentd.IdentifierType]string {
	return map[segmentd.IdentifierType]string{
		segmentd.IdentifierEmail:         query("c.email = v.key"),
		segmentd.IdentifierPhoneNumberID: query("c.phone_number_id = v.key"),
		segmentd.IdentifierExternalID:    query("c.external_id = v.key"),
		segmentd.IdentifierAnonymousID:   query("c.anonymous_id = v.key"),
	}
}

var (
	qContactsByID = qContactsBy("c.id = v.key")
	// qContactsByEmail: a contact whose email it is, or else the lowest
	// contact id among those listing it as an alternate email.
	qContactsByEmail = qContactsBy(`c.id = coalesce(
		(SELECT e.id FROM contacts e WHERE e.account_id = $1 AND e.email = v.key),
		(SELECT min(a.contact_id) FROM contact_alternate_emails a WHERE a.account_id = $1 AND a.email = v.key))`)
	qContactsByIdentifier = byIdentifier(qContactsBy)
)

// contactsBy runs a qContactsBy query and calls fn with each value's
// contact.
func contactsBy(ctx context.Context, q querier, query string, acct int64, keys []string, fn func(key string, c segmentd.Contact)) error {
	rows, err := q.Query(ctx, query, acct, keys)
	if err != nil {
		return err
	}
	defer rows.Close()
	sc := newContactScanner(true)
	for rows.Next() {
		c, err := sc.scan(rows)
		if err != nil {
			return err
		}
		fn(sc.key, c)
	}
	return rows.Err()
}

// ContactsByIDs returns the contacts that exist, in the order of ids; an id
// given twice yields its contact once.
func (s *Store) ContactsByIDs(ctx context.Context, acct int64, ids []string) ([]segmentd.Contact, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	ids = slices.Clone(ids)
	slices.Sort(ids)
	byID := make(map[string]segmentd.Contact, len(ids))
	if err := contactsBy(ctx, s.db, qContactsByID, acct, slices.Compact(ids), func(_ string, c segmentd.Contact) { byID[c.ID] = c }); err != nil {
		return nil, err
	}
	out := make([]segmentd.Contact, 0, len(byID))
	for _, id := range ids {
		if c, ok := byID[id]; ok {
			out = append(out, c)
			delete(byID, id)
		}
	}
	return out, nil
}

// ContactsByEmails matches each address against contacts' emails first, then
// their alternate emails (the lowest contact id wins when several contacts
// list the same alternate address), in one statement.
func (s *Store) ContactsByEmails(ctx context.Context, acct int64, emails []string) (map[string]segmentd.Contact, error) {
	out := make(map[string]segmentd.Contact)
	if len(emails) == 0 {
		return out, nil
	}
	if err := contactsBy(ctx, s.db, qContactsByEmail, acct, emails, func(e string, c segmentd.Contact) { out[e] = c }); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) ContactsByIdentifier(ctx context.Context, acct int64, t segmentd.IdentifierType, values []string) (map[string]segmentd.Contact, error) {
	if _, err := identifierCol(t); err != nil {
		return nil, err
	}
	out := make(map[string]segmentd.Contact)
	if len(values) == 0 {
		return out, nil
	}
	if err := contactsBy(ctx, s.db, qContactsByIdentifier[t], acct, values, func(v string, c segmentd.Contact) { out[v] = c }); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) CountContacts(ctx context.Context, acct int64) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, "SELECT count(*) FROM contacts WHERE account_id = $1", acct).Scan(&n)
	return n, err
}

// ScanContacts returns up to limit contacts with ids greater than afterID,
// in id order, as readContactPage reads them, from one view of the
// database.
func (s *Store) ScanContacts(ctx context.Context, acct int64, afterID string, limit int) ([]segmentd.Contact, error) {
	var cs []segmentd.Contact
	err := s.readTx(ctx, func(tx pgx.Tx) error {
		var err error
		cs, err = readContactPage(ctx, tx, acct, afterID, limit, nil)
		return err
	})
	return cs, err
}

// The statements of readContactPage: a page of contacts' rows in id order,
// then what the other tables hold of the contacts in (after, last], each
// one range of the table's primary key in contact order. list_members'
// range is [first, last] of the page, as uuid (migration 26), whose order
// is the text order of the lower-case ids; its ids come back as text.
const (
	qPageRows = "SELECT " + contactRowColumns + `, NULL::text[], NULL::text[], NULL::text
		FROM contacts c WHERE c.account_id = $1 AND c.id > $2 ORDER BY c.id LIMIT $3`
	qPageLists = `SELECT contact_id::text, list_id::text FROM list_members
		WHERE account_id = $1 AND contact_id >= $2 AND contact_id <= $3 ORDER BY contact_id, list_id`
	qPageTags = `SELECT contact_id, tag_id FROM contact_tags
		WHERE account_id = $1 AND contact_id > $2 AND contact_id <= $3 ORDER BY contact_id, tag_id`
	qPageCC = `SELECT contact_id, details FROM contact_cc
		WHERE account_id = $1 AND contact_id > $2 AND contact_id <= $3 ORDER BY contact_id`
)

// readContactPage returns up to limit contacts with ids greater than
// after, in id order, whole: the engine's rebuild (ReadAccount) and
// ScanContacts page through an account with it. It reads the contacts'
// rows, then their lists, tags and Constant Contact attributes as one
// range of each table for the whole page (three statements sent
// together), merged by contact id. contactColumns' subqueries, one index
// probe of each table per contact, cost the database about three times
// as much per page (docs/postgres.md, "Reads for the engine's rebuild").
// tx must be a REPEATABLE READ transaction, so that the rows and the
// ranges come from one view of the database. The page is into (a page of
// the caller's to reuse, or nil) with room for limit.
func readContactPage(ctx context.Context, tx pgx.Tx, acct int64, after string, limit int, into []segmentd.Contact) ([]segmentd.Contact, error) {
	cs, err := queryContactsInto(ctx, tx, slices.Grow(into[:0], limit), qPageRows, acct, after, limit)
	if err != nil || len(cs) == 0 {
		return cs, err
	}
	last := cs[len(cs)-1].ID
	// merge walks cs along rows in contact order, calling set for each row
	// with the contact it names.
	merge := func(rows pgx.Rows, set func(c *segmentd.Contact, value []byte) error) error {
		i := 0
		for rows.Next() {
			raw := rows.RawValues()
			for i < len(cs) && cs[i].ID < string(raw[0]) {
				i++
			}
			if i == len(cs) || cs[i].ID != string(raw[0]) {
				continue // a row without its contact (no key ties them)
			}
			if err := set(&cs[i], raw[1]); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	var b pgx.Batch
	b.Queue(qPageLists, acct, memberID(cs[0].ID), memberID(last)).Query(func(rows pgx.Rows) error {
		return merge(rows, func(c *segmentd.Contact, v []byte) error {
			c.ListIDs = append(c.ListIDs, string(v))
			return nil
		})
	})
	b.Queue(qPageTags, acct, after, last).Query(func(rows pgx.Rows) error {
		return merge(rows, func(c *segmentd.Contact, v []byte) error {
			c.TagIDs = append(c.TagIDs, string(v))
			return nil
		})
	})
	b.Queue(qPageCC, acct, after, last).Query(func(rows pgx.Rows) error {
		return merge(rows, func(c *segmentd.Contact, v []byte) error {
			var err error
			if c.CC, err = segmentd.DecodeCCDetails(string(v)); err != nil {
				return fmt.Errorf("contact %s: contact_cc: %w", c.ID, err)
			}
			return nil
		})
	})
	if err := tx.SendBatch(ctx, &b).Close(); err != nil {
		return nil, err
	}
	return cs, nil
}

// SampleContacts returns up to limit of the most recently updated contacts
// (ties: the greatest ids, which are the newest contacts), sorted by email
// (contacts without one last, by id). contacts_updated yields the first
// order, so the query stops after limit rows.
func (s *Store) SampleContacts(ctx context.Context, acct int64, limit int) ([]segmentd.Contact, error) {
	if limit <= 0 {
		return nil, nil
	}
	cs, err := queryContacts(ctx, s.db, qContacts+"true ORDER BY c.updated_at DESC, c.id DESC LIMIT $2", acct, limit)
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

const qDeleteContacts = "DELETE FROM contacts WHERE account_id = $1 AND id = ANY($2)"

// deleteContacts removes the contacts ids names, with their memberships
// and alternate-email rows, and records the deletions under change seq.
func deleteContacts(ctx context.Context, tx pgx.Tx, acct, seq int64, ids []string) (int, error) {
	if _, err := tx.Exec(ctx, `INSERT INTO deletions (account_id, change_seq, kind, id)
		SELECT $1, $2, 'contact', id FROM unnest($3::text[]) AS id ON CONFLICT DO NOTHING`, acct, seq, ids); err != nil {
		return 0, err
	}
	tag, err := tx.Exec(ctx, qDeleteContacts, acct, ids)
	if err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, "DELETE FROM list_members WHERE account_id = $1 AND contact_id = ANY($2)", acct, memberKeys(ids)); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, "DELETE FROM contact_tags WHERE account_id = $1 AND contact_id = ANY($2)", acct, ids); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, "DELETE FROM contact_cc WHERE account_id = $1 AND contact_id = ANY($2)", acct, ids); err != nil {
		return 0, err
	}
	if _, err := tx.Exec(ctx, "DELETE FROM contact_alternate_emails WHERE account_id = $1 AND contact_id = ANY($2)", acct, ids); err != nil {
		return 0, err
	}
	return int(tag.RowsAffected()), nil
}

func (s *Store) DeleteContacts(ctx context.Context, acct int64, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		seq, err := nextChange(ctx, tx, acct)
		if err != nil {
			return err
		}
		n, err = deleteContacts(ctx, tx, acct, seq, ids)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

func (s *Store) DeleteAllContacts(ctx context.Context, acct int64) (int, error) {
	var n int64
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		seq, err := nextChange(ctx, tx, acct)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM list_members WHERE account_id = $1", acct); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM contact_tags WHERE account_id = $1", acct); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM contact_cc WHERE account_id = $1", acct); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM contact_alternate_emails WHERE account_id = $1", acct); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, "DELETE FROM contacts WHERE account_id = $1", acct)
		if err != nil {
			return err
		}
		n = tag.RowsAffected()
		_, err = tx.Exec(ctx, "INSERT INTO deletions (account_id, change_seq, kind, id) VALUES ($1, $2, 'all', '') ON CONFLICT DO NOTHING", acct, seq)
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
	return s.inTx(ctx, func(tx pgx.Tx) error {
		seq, err := nextChange(ctx, tx, acct)
		if err != nil {
			return err
		}
		cs, err := queryContacts(ctx, tx, qContacts+"c.id = $2", acct, contactID)
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
		_, err = tx.Exec(ctx, "UPDATE contacts SET "+col+" = NULL, updated_at = $3, change_seq = $4 WHERE account_id = $1 AND id = $2",
			acct, contactID, toMS(now), seq)
		return err
	})
}

// sortedUnique returns the distinct values of s, sorted.
func sortedUnique(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}
