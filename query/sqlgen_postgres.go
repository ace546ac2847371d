package query

import (
	"fmt"
	"strconv"
	"strings"
)

type postgresDialect struct{}

// PostgreSQL returns the dialect of the PostgreSQL store (plain PostgreSQL
// or Citus), whose schema mirrors the SQLite store's: custom_fields and
// alternate_emails are jsonb, times are bigint unix ms, unset text is NULL
// (docs/query-language.md §12).
func PostgreSQL() Dialect { return postgresDialect{} }

// placeholder casts every parameter to the type of its Go value. PostgreSQL
// infers a parameter's type from where it stands, and some places give it
// none ($1 IS NULL, $1 + $2, $1 || $2); the cast also keeps the statement's
// meaning independent of how the driver sends the value.
func (postgresDialect) placeholder(n int, v any) string {
	p := "$" + strconv.Itoa(n)
	switch v.(type) {
	case string:
		return p + "::text"
	case float64:
		return p + "::float8"
	case int64:
		return p + "::bigint"
	case int:
		return p + "::integer"
	}
	panic(fmt.Sprintf("query: no PostgreSQL type for a parameter of type %T", v))
}

// null is the literal: an untyped NULL takes the type its place asks for,
// where a parameter would need one named.
func (postgresDialect) null(*sqlGen) string { return "NULL" }

// customField reads the field only when its JSON value has the field's
// kind, as the evaluator reads only a Value of the field's Kind; PostgreSQL
// may reuse a parameter, so the field id is bound once.
func (postgresDialect) customField(g *sqlGen, id string, t FieldType) string {
	p := g.bind(id)
	e := "c.custom_fields -> " + p
	switch t {
	case Number:
		return "(CASE WHEN jsonb_typeof(" + e + ") = 'number' THEN CAST(" + e + " AS float8) END)"
	case Date:
		return "(CASE WHEN jsonb_typeof(" + e + ") = 'number' THEN CAST(" + e + " AS bigint) END)"
	}
	// An empty text value is NULL (docs/decisions.md §7).
	return "(CASE WHEN jsonb_typeof(" + e + ") = 'string' THEN NULLIF(c.custom_fields ->> " + p + ", '') END)"
}

func (postgresDialect) jsonArray(col string) string {
	return "jsonb_array_elements_text(" + col + ") AS j(value)"
}

// PostgreSQL's LIKE is case-sensitive already, and a pattern character
// after a backslash (its default escape) is literal.
func (postgresDialect) like(g *sqlGen, x string, lp *likePattern, not bool) string {
	op := " LIKE "
	if not {
		op = " NOT LIKE "
	}
	return "(" + x + op + g.bind(lp.postgres()) + ")"
}

// postgres renders the pattern for PostgreSQL's LIKE.
func (lp *likePattern) postgres() string {
	var b strings.Builder
	for _, p := range lp.parts {
		switch p.kind {
		case '%', '_':
			b.WriteByte(p.kind)
		default:
			for i := 0; i < len(p.s); i++ {
				if c := p.s[i]; c == '%' || c == '_' || c == '\\' {
					b.WriteByte('\\')
				}
				b.WriteByte(p.s[i])
			}
		}
	}
	return b.String()
}

// addMonths does time.AddDate's calendar arithmetic in integers: the date is
// split into days and the millisecond of the day, the day count into a
// March-based year, month and day (the civil-from-days algorithm of Howard
// Hinnant's "chrono-Compatible Low-Level Date Algorithms"), the months are
// added to the month count, and the day count of the first of the new
// month plus the old day of the month minus one is turned back into
// milliseconds. A day past the end of the new month rolls over into the
// next, as AddDate does (Jan 31 + 1 month = Mar 3). PostgreSQL's own
// timestamp + interval clamps to the month's end instead (Feb 29), and its
// timestamps stop at 4713 BC, which a query's 10,000-year intervals can
// reach; bigint arithmetic has neither limit.
//
// PostgreSQL's / and % truncate toward zero; floor division and modulo are
// spelt out where an operand may be negative (times before 1970). Each step
// is a LATERAL subquery so that x is written, and evaluated, once; OFFSET 0
// keeps the planner from pulling the first one up, which would copy x into
// every later step that reads it (twenty nested month additions then took
// seconds to plan).
func (postgresDialect) addMonths(g *sqlGen, x func() string, months int64) string {
	const (
		dayMs = "86400000"
		// Days from 0000-03-01 to 1970-01-01, and days in 400 years.
		epoch = "719468"
		era   = "146097"
	)
	floorMod := func(a, m string) string { return "((" + a + " % " + m + ") + " + m + ") % " + m }
	t := x()
	n := g.bind(months)
	return "(SELECT (((s7.m - s8.r) / 4800) * " + era + " + (s8.r / 12) * 365 + (s8.r / 12) / 4 - (s8.r / 12) / 100" +
		" + (153 * (s8.r % 12) + 2) / 5 - " + epoch + " + s7.d - 1) * " + dayMs + " + s2.ms" +
		" FROM (SELECT " + t + " AS t OFFSET 0) AS s1" +
		// The millisecond of the day, and days since 0000-03-01.
		", LATERAL (SELECT " + floorMod("s1.t", dayMs) + " AS ms) AS s2" +
		", LATERAL (SELECT (s1.t - s2.ms) / " + dayMs + " + " + epoch + " AS z) AS s3" +
		// The day of the 400-year era, and the era.
		", LATERAL (SELECT " + floorMod("s3.z", era) + " AS doe) AS s4" +
		", LATERAL (SELECT (s4.doe - s4.doe / 1460 + s4.doe / 36524 - s4.doe / 146096) / 365 AS yoe) AS s5" +
		", LATERAL (SELECT s4.doe - (365 * s5.yoe + s5.yoe / 4 - s5.yoe / 100) AS doy) AS s6" +
		// The month count from March of year 0 plus the months added, and
		// the day of the month.
		", LATERAL (SELECT ((s3.z - s4.doe) / " + era + " * 400 + s5.yoe) * 12 + (5 * s6.doy + 2) / 153 + " + n + " AS m" +
		", s6.doy - (153 * ((5 * s6.doy + 2) / 153) + 2) / 5 + 1 AS d) AS s7" +
		// The month within its 400-year era.
		", LATERAL (SELECT " + floorMod("s7.m", "4800") + " AS r) AS s8)"
}

// account is the account id's own parameter, not the contact's column:
// Citus routes a statement to one shard only when it can see that every
// distributed table in it, subqueries' included, is filtered on one value
// of account_id, which it cannot infer through a correlated subquery under
// OR or NOT.
func (postgresDialect) account(g *sqlGen) string { return g.acct }

// anyList: PostgreSQL's list_members is keyed by (account, contact, list).
func (postgresDialect) anyList(*sqlGen) string { return "" }

// listIn: PostgreSQL's list_members keeps a list's id as uuid (the
// store's migration 0026), and a value of the query is any text: the
// account's lists give the uuid of those whose id it is, as the SQLite
// dialect reads their numbers. Text that is not a list's id, which a cast
// to uuid would refuse or read as another list's, selects none.
func (postgresDialect) listIn(g *sqlGen, lists func() string) string {
	return "m.list_id IN (SELECT l.id::uuid FROM lists AS l WHERE l.account_id = " + g.acct + " AND l.id IN (" + lists() + "))"
}

// memberContact: list_members keeps the contact's id as uuid (migration
// 0026); the contact's text is cast, not the column, so that the primary
// key (account_id, contact_id, list_id) still serves.
func (postgresDialect) memberContact() string { return "c.id::uuid" }

// lastEvent with a HAVING condition groups the events in a derived table
// and tests the condition in its WHERE: Citus refuses a subquery in HAVING
// that refers to the outer query ("Subqueries in HAVING cannot refer to
// outer query"), and addMonths and remainder are such subqueries.
func (postgresDialect) lastEvent(g *sqlGen, where, having string) string {
	if having == "" {
		return sqliteDialect{}.lastEvent(g, where, having)
	}
	if where != "" {
		where = " AND " + where
	}
	return "EXISTS (SELECT 1 FROM (SELECT MAX(e0.event_timestamp) AS ts FROM events AS e0 WHERE " + g.eventsOf(0) + where +
		" GROUP BY e0.contact_id) AS g WHERE " + having + ")"
}

func (postgresDialect) maxTimestamp() string { return "g.ts" }

// caseFold folds ASCII letters only, as the evaluator does: under the "C"
// collation PostgreSQL's lower() and upper() change A-Z and a-z and nothing
// else, whatever the database's own collation.
func (postgresDialect) caseFold(x string, upper bool) string {
	if upper {
		return "upper(" + x + " COLLATE \"C\")"
	}
	return "lower(" + x + " COLLATE \"C\")"
}

// textOrder compares in byte order, as strings.Compare does, whatever the
// database's collation (en_US would put 'a' before 'B').
func (postgresDialect) textOrder(x string) string { return "(" + x + " COLLATE \"C\")" }

func (postgresDialect) indexAt(x string) string { return "strpos(" + x + ", '@')" }

// PostgreSQL raises an error on division by zero where the evaluator (and
// SQLite) answer NULL.
func (postgresDialect) divide(a, b string) string {
	return "(CAST(" + a + " AS float8) / NULLIF(" + b + ", 0))"
}

// remainder copies arith: both operands are truncated toward zero and
// clamped to the int64 range, % 0 is NULL, and the result is a float8 again
// so that arithmetic on it stays floating point (bigint % -1 is 0 in
// PostgreSQL, as in arith). float8 cannot hold 2^63 - 1, so the upper bound
// compared with is 2^63, as in Go's float64(math.MaxInt64). Each operand is
// written once, in a subquery kept from being pulled up (as in addMonths),
// so that nested remainders do not repeat their operands.
func (postgresDialect) remainder(a, b string) string {
	clamp := func(x string) string {
		return "CASE WHEN " + x + " >= 9223372036854775807 THEN 9223372036854775807 WHEN " + x + " <= -9223372036854775808" +
			" THEN CAST(-9223372036854775808 AS bigint) ELSE CAST(" + x + " AS bigint) END"
	}
	return "(SELECT CAST(r2.a % NULLIF(r2.b, 0) AS float8)" +
		" FROM (SELECT trunc(CAST(" + a + " AS float8)) AS a, trunc(CAST(" + b + " AS float8)) AS b OFFSET 0) AS r1" +
		", LATERAL (SELECT " + clamp("r1.a") + " AS a, " + clamp("r1.b") + " AS b) AS r2)"
}
