package sqlite

// The statements that run against tables which grow with the number of
// contacts. TestQueryPlans checks that each one searches an index rather
// than scanning an account's rows: the database carries no ANALYZE
// statistics, and without them SQLite's planner can prefer a covering scan
// of a whole account to an index probe per value.
const (
	// qContactsWhere selects contacts by an indexed column (append the
	// column name, then qInValues).
	qContactsWhere = "SELECT " + contactColumns + " FROM contacts WHERE account_id = ? AND "
	qInValues      = " IN (SELECT value FROM json_each(?))"
	// qContactByID reads one contact (Contact).
	qContactByID = qContactsWhere + "id = ?"

	// qListNumsOf reads the memberships of the contacts in a JSON array of
	// ids, as list numbers. list_members is keyed by (account_id,
	// list_num, contact_id), so this is one seek per list of the account
	// (lists_num, in number order) and contact; CROSS JOIN keeps lists the
	// outer loop. fillLists reads a dense set of contacts by qPageLists
	// instead.
	qListNumsOf = `SELECT m.list_num, m.contact_id FROM lists l CROSS JOIN list_members m
		WHERE l.account_id = ?1 AND m.account_id = ?1 AND m.list_num = l.num
		AND m.contact_id IN (SELECT value FROM json_each(?2))`

	// qTagIDsOf reads the taggings of the contacts in a JSON array of ids,
	// a range of contact_tags' primary key per contact.
	qTagIDsOf = `SELECT contact_id, tag_id FROM contact_tags
		WHERE account_id = ? AND contact_id IN (SELECT value FROM json_each(?))`

	// qCCDetailsOf reads the Constant Contact-only attributes of the
	// contacts in a JSON array of ids.
	qCCDetailsOf = `SELECT contact_id, details FROM contact_cc
		WHERE account_id = ? AND contact_id IN (SELECT value FROM json_each(?))`

	qAlternateEmailOwners = `SELECT email, min(contact_id) FROM contact_alternate_emails
		WHERE account_id = ? AND email IN (SELECT value FROM json_each(?)) GROUP BY email`

	// The samples (a segment's, the contacts') read their
	// contacts with contactColumnsLists: each contact's tag ids and
	// Constant Contact-only attributes in the same statement, then the
	// lists of all of them (fillLists).

	// qContactsByIDs selects the contacts whose ids are in a JSON array.
	qContactsByIDs = "SELECT " + contactColumnsLists + " FROM contacts c WHERE c.account_id = ? AND c.id" + qInValues

	// qSampleContacts: contacts_updated's entries end with the rowid, so the
	// index yields this order and the query stops after LIMIT rows, even
	// when a whole 30,000-contact batch shares one updated_at.
	qSampleContacts = "SELECT " + contactColumnsLists + " FROM contacts c WHERE c.account_id = ? ORDER BY c.updated_at DESC, c.rowid DESC LIMIT ?"

	// qAccountListNums are the numbers of the account ?1's lists: a
	// statement by contact names them so that it seeks into list_members
	// once per list and contact (its key starts with the list) rather than
	// walking the account's memberships.
	qAccountListNums = "(SELECT num FROM lists WHERE account_id = ?1)"

	// qListNum is the number of the list ?2 of the account ?1 (NULL when
	// there is none), which list_members holds instead of its id.
	qListNum = "(SELECT num FROM lists WHERE account_id = ?1 AND id = ?2)"

	qDeleteContacts       = "DELETE FROM contacts WHERE account_id = ? AND id IN (SELECT value FROM json_each(?))"
	qDeleteMembershipsOf  = "DELETE FROM list_members WHERE account_id = ?1 AND list_num IN " + qAccountListNums + " AND contact_id IN (SELECT value FROM json_each(?2))"
	qDeleteTaggingsOf     = "DELETE FROM contact_tags WHERE account_id = ? AND contact_id IN (SELECT value FROM json_each(?))"
	qDeleteCCDetailsOf    = "DELETE FROM contact_cc WHERE account_id = ? AND contact_id IN (SELECT value FROM json_each(?))"
	qDeleteAlternatesOf   = "DELETE FROM contact_alternate_emails WHERE account_id = ? AND contact_id IN (SELECT value FROM json_each(?))"
	qRemoveListMembers    = "DELETE FROM list_members WHERE account_id = ?1 AND list_num = " + qListNum + " AND contact_id IN (SELECT value FROM json_each(?3))"
	qCountListMembers     = "SELECT count(*) FROM list_members WHERE account_id = ?1 AND list_num = " + qListNum
	qDeleteListMembers    = "DELETE FROM list_members WHERE account_id = ? AND list_num = ? RETURNING contact_id"
	qListsIn              = "SELECT id, num FROM lists WHERE account_id = ? AND id IN (SELECT value FROM json_each(?))"
	qAddListMembers       = "INSERT OR IGNORE INTO list_members (account_id, list_num, contact_id, added_at) SELECT ?, ?, value, ? FROM json_each(?)"
	qDeleteAlternatesOne  = "DELETE FROM contact_alternate_emails WHERE account_id = ? AND contact_id = ?"
	qInsertAlternateEmail = "INSERT OR IGNORE INTO contact_alternate_emails (account_id, email, contact_id) VALUES (?, ?, ?)"

	// contactColumns are the columns scanContact reads: id, textCols,
	// then the rest (TestQueryPlans checks the order); contactColumnsC the
	// same qualified by "c.".
	contactColumns = "id, email, phone_number_id, external_id, anonymous_id, first_name, last_name, " +
		"address_line_1, address_line_2, city, state_province_region, postal_code, country, phone_number, " +
		"whatsapp, line, facebook, unique_name, alternate_emails, custom_fields, created_at, updated_at"
	contactColumnsC = "c.id, c.email, c.phone_number_id, c.external_id, c.anonymous_id, c.first_name, c.last_name, " +
		"c.address_line_1, c.address_line_2, c.city, c.state_province_region, c.postal_code, c.country, c.phone_number, " +
		"c.whatsapp, c.line, c.facebook, c.unique_name, c.alternate_emails, c.custom_fields, c.created_at, c.updated_at"
	// contactColumnsLists is contactColumnsC and the contact's tag ids,
	// comma-separated (ids are UUIDs), in no particular order (a range of
	// contact_tags' primary key, as for qTagIDsOf), then its Constant
	// Contact-only attributes (NULL for none). Its lists are read after the
	// statement, for all its contacts at once (fillLists): list_members is
	// keyed by list first, so a subquery would seek once per list of the
	// account for every contact, list ids read from lists each time.
	contactColumnsLists = contactColumnsC + `, (SELECT group_concat(ct.tag_id) FROM contact_tags ct
		WHERE ct.account_id = c.account_id AND ct.contact_id = c.id),
		(SELECT d.details FROM contact_cc d WHERE d.account_id = c.account_id AND d.contact_id = c.id)`
)
