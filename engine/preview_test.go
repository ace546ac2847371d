package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/querytest"
	"github.com/segmentd/segmentd/query"
)

// previewSet exercises the preview's fast paths (colwise.go, derived.go):
// LIKE shapes on email and on a custom Text field, both dialects' pattern
// rules, and the event conditions the latest-event arrays decide, with
// their windows, next to shapes that must keep the general path.
var previewSet = []refSegment{
	// email LIKE '%@D': decided per email domain.
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%@gmail.com'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email NOT LIKE '%@gmail.com'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%@'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%@gmail.com' AND country = 'US'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE NOT (email LIKE '%@x.org') OR country = 'FR'", "L1"},
	{query.SGQL, "email LIKE '%@gmail.com'", ""},
	// Other shapes: per distinct value, by the pattern's own match.
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%@_mail.com'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%@GMAIL.COM'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE 'a%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%mail%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '_@%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE ''", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%'", ""},
	{query.SQL, `SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%\\_%'`, ""},
	{query.SQL, `SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%\\%%'`, ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE 'é%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE lower(email) LIKE '%@gmail.com'", ""},
	// Shapes with a literal of three bytes or more (counting the start
	// and the end): narrowed by the email trigram index.
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE 'a@g%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE 'A@G%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email NOT LIKE 'a@%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%b@%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email NOT LIKE '%b@g%' AND country <> 'FR'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE 'ab@gmail.com'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE 'trailing@'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE 'noatsign'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%.com'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%l.c%m'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE 'x@y@%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%a_b%.com%'", ""},
	{query.SQL, `SELECT contact_id, updated_at FROM contact_data WHERE email LIKE 'a\\_b@%'`, ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%gmail.com.evil'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%zzz%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email NOT LIKE '%zzz%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '_é@%'", ""},
	// Plain patterns of a needle of three bytes at most (marks counted):
	// the union of the trigrams holding it is exactly the matches, unless
	// some email holds a zero byte.
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%@%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email NOT LIKE '%@%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%a%' AND country = 'US'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email NOT LIKE '%a%'", "L1"},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE 'b%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%g'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%@'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE 'a'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE 'ab'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE 'ab%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%@x%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%b@g%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%é%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email NOT LIKE '%rg'", ""},
	{query.SGQL, "email LIKE '%%%'", ""},
	// Two-byte needles: the trigrams holding them narrow the candidates.
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email NOT LIKE 'a%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE 'A%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%@x%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%b'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE 'x%y'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '_b%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%é%'", ""},
	{query.SQL, `SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%\\%%' OR email LIKE 'a%' AND country = 'US'`, ""},
	{query.SGQL, "email LIKE 'a_%'", ""},
	{query.SGQL, "email LIKE 'a_b@%'", ""},
	{query.SGQL, "email NOT LIKE 'x@%'", ""},
	{query.SGQL, "email LIKE '%100%%%'", ""},
	{query.SGQL, "email NOT LIKE '%@%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE color LIKE 're%'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE color NOT LIKE '%e%' OR color = 'blue'", ""},
	// Conditions on a Number or Date field: decided per distinct value
	// (value codes); ANDs and ORs of coded conditions in one pass.
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE score BETWEEN 3 AND 6 OR first_name = 'Anna'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE score > 5 AND country = 'US' AND color = 'red'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE NOT (score = 4 OR color LIKE 'b%')", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE score IS NULL OR score <> 2", "L3"},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE score NOT IN (1, 2, 3) AND (city = 'Paris' OR country IS NULL)", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE birthday > timestampadd(day, -12, current_timestamp) OR city = 'Paris'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE birthday <= timestampadd(year, -18, current_timestamp) AND NOT (score < 3)", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE birthday IS NOT NULL AND first_name <> 'Bob' OR array_contains(list_ids, ['L1']) AND score >= 9", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE first_name = 'Anna' OR country = 'DE' OR email LIKE '%@gmail.com' OR email LIKE 'a@g%'", ""},
	{query.SGQL, "score BETWEEN 2 AND 5 AND country != 'FR'", ""},
	// Event conditions decided by each type's latest event.
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open')", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id NOT IN (SELECT contact_id FROM event_data WHERE event_type = 'click')", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND event_timestamp >= timestampadd(day, -2, current_timestamp))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE timestampadd(day, -2, current_timestamp) < event_timestamp AND event_type = 'click')", "L2"},
	{query.SQL, "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' AND e.event_timestamp > timestampadd(day, -7, current_timestamp)", ""},
	{query.SQL, "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' GROUP BY c.contact_id, c.updated_at HAVING MAX(e.event_timestamp) < timestampadd(day, -2, current_timestamp)", ""},
	{query.SQL, "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'click' GROUP BY c.contact_id, c.updated_at HAVING timestampadd(day, -2, current_timestamp) <= MAX(e.event_timestamp)", ""},
	{query.SQL, "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'delivered' GROUP BY c.contact_id, c.updated_at", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE country = 'US' AND contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'click' AND event_timestamp > '2026-01-02T00:00:00Z')", ""},
	{query.SGQL, "(event_type = 'open' AND event_timestamp > NOW() - INTERVAL 2 day)", ""},
	{query.SGQL, "NOT (event_type = 'click')", ""},
	// Event conditions by single send, automation or campaign: decided
	// by the keyed latest-event columns.
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND singlesend_id = 'ss1')", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id NOT IN (SELECT contact_id FROM event_data WHERE 'ss0' = singlesend_id AND event_type = 'click')", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'click' AND singlesend_id IN ('ss0', NULL, '') AND event_timestamp >= timestampadd(day, -2, current_timestamp))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_timestamp > timestampadd(day, -7, current_timestamp) AND event_type = 'open' AND (singlesend_id IN ('ss1') OR marketing_campaign_id IN ('ss1', 'c1')))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND (automation_id = 'a0' OR singlesend_id = 'nope'))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND singlesend_id = 'nope')", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'click' AND (singlesend_id IS NOT NULL OR marketing_campaign_id IS NOT NULL) AND event_timestamp >= timestampadd(day, -7, current_timestamp))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id NOT IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND (automation_id IS NOT NULL OR singlesend_id = 'ss0'))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND singlesend_id IS NULL)", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE country = 'US' OR contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'delivered' AND marketing_campaign_id = 'c0' AND event_timestamp > '2026-01-02T00:00:00Z')", ""},
	{query.SQL, "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' AND e.singlesend_id = 'ss0' AND e.event_timestamp > timestampadd(day, -7, current_timestamp)", ""},
	// Some event of a type before a time, or between two: the earliest
	// and latest arrays, the contacts' events read only when the window
	// lies strictly between their earliest and latest.
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND event_timestamp < timestampadd(day, -2, current_timestamp))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND event_timestamp >= timestampadd(day, -7, current_timestamp) AND event_timestamp < timestampadd(day, -2, current_timestamp))", ""},
	{query.SQL, "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'click' AND e.event_timestamp <= timestampadd(day, -2, current_timestamp) AND timestampadd(day, -7, current_timestamp) < e.event_timestamp", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id NOT IN (SELECT contact_id FROM event_data WHERE event_timestamp <= '2026-01-03T00:00:00Z' AND event_type = 'delivered')", "L1"},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND event_timestamp > timestampadd(day, -2, current_timestamp) AND event_timestamp < timestampadd(day, -7, current_timestamp))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE country = 'US' OR contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'bounce' AND event_timestamp >= timestampadd(day, -7, current_timestamp) AND event_timestamp <= timestampadd(day, -7, current_timestamp))", ""},
	{query.SGQL, "(event_type = 'open' AND event_timestamp > NOW() - INTERVAL 7 day AND event_timestamp < NOW() - INTERVAL 2 day)", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND event_timestamp >= timestampadd(day, -2, current_timestamp) AND event_timestamp <= timestampadd(day, -2, current_timestamp))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'click' AND event_timestamp >= timestampadd(day, -7, current_timestamp) AND event_timestamp <= timestampadd(day, -7, current_timestamp))", ""},
	// Windows whose bounds are UTC midnights, the day indexes' bucket
	// bounds (events are put on them, give or take 1 ms).
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND event_timestamp >= '2026-01-04T00:00:00Z' AND event_timestamp < '2026-01-06T00:00:00Z')", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'click' AND event_timestamp > '2026-01-03T00:00:00Z' AND event_timestamp <= '2026-01-04T00:00:00Z')", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND event_timestamp > '2026-01-05T00:00:00Z' AND event_timestamp < '2026-01-05T00:00:00.002Z')", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'delivered' AND event_timestamp >= '2026-01-02T23:59:59.999Z' AND event_timestamp <= '2026-01-12T00:00:00Z')", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND event_timestamp >= '2026-01-08T00:00:00Z')", ""},
	{query.SQL, "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'click' GROUP BY c.contact_id, c.updated_at HAVING MAX(e.event_timestamp) > '2026-01-06T00:00:00Z'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'bounce' AND event_timestamp < '2026-01-07T00:00:00Z')", ""},
	// Several event types at once: the OR of each type's answer.
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type IN ('open', 'click') AND event_timestamp >= timestampadd(day, -2, current_timestamp))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id NOT IN (SELECT contact_id FROM event_data WHERE (event_type = 'bounce' OR event_type IN ('delivered', NULL, 'nope')))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type IN ('open', 'click', 'open') AND event_timestamp > timestampadd(day, -7, current_timestamp) AND event_timestamp <= timestampadd(day, -2, current_timestamp))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE country = 'US' AND contact_id IN (SELECT contact_id FROM event_data WHERE event_type IN ('open', 'delivered') AND singlesend_id = 'ss1')", ""},
	{query.SQL, "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type IN ('click', 'bounce') AND e.event_timestamp < '2026-01-05T00:00:00Z'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type IN (NULL))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type NOT IN ('open'))", ""},
	{query.SGQL, "(event_type IN ('open', 'click') AND event_timestamp > NOW() - INTERVAL 2 day)", ""},
	// Keys and an upper bound: the keyed events' least and greatest
	// timestamps, the events read when they straddle the window.
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND singlesend_id = 'ss1' AND event_timestamp < timestampadd(day, -2, current_timestamp))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'click' AND event_timestamp <= timestampadd(day, -2, current_timestamp) AND (singlesend_id IN ('ss0') OR marketing_campaign_id IN ('ss1', 'c1')) AND event_timestamp > timestampadd(day, -7, current_timestamp))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id NOT IN (SELECT contact_id FROM event_data WHERE event_type IN ('open', 'delivered') AND automation_id IS NOT NULL AND event_timestamp >= '2026-01-04T00:00:00Z' AND event_timestamp < '2026-01-06T00:00:00Z')", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND singlesend_id IN ('ss0', 'nope') AND event_timestamp >= timestampadd(day, -7, current_timestamp) AND event_timestamp <= timestampadd(day, -7, current_timestamp))", ""},
	// Keys on the URL: the keyed columns of a URL, or of any URL.
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND (singlesend_id = 'ss1' OR url = 'u'))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'click' AND url = 'https://x.test/a')", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id NOT IN (SELECT contact_id FROM event_data WHERE 'u' = url AND event_type = 'click' AND event_timestamp >= timestampadd(day, -2, current_timestamp))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND url IN ('https://x.test/b', NULL, '', 'nope') AND event_timestamp > timestampadd(day, -7, current_timestamp) AND event_timestamp < timestampadd(day, -2, current_timestamp))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE country = 'US' OR contact_id IN (SELECT contact_id FROM event_data WHERE event_type IN ('click', 'delivered') AND url IS NOT NULL AND event_timestamp < '2026-01-05T00:00:00Z')", ""},
	{query.SQL, "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'click' AND e.url = 'u'", ""},
	// Conditions on the contact inside an event condition: hoisted out
	// (query.Split), each side by its own path; unknown is false inside.
	{query.SQL, "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' AND c.country = 'US' AND e.event_timestamp > timestampadd(day, -7, current_timestamp)", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id NOT IN (SELECT contact_id FROM event_data WHERE event_type = 'click' AND country = 'US')", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE score > 50 AND event_type = 'open' AND singlesend_id = 'ss1' AND event_timestamp > timestampadd(day, -7, current_timestamp))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE color = 'red')", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE NOT (contact_id IN (SELECT contact_id FROM event_data WHERE country <> 'US' AND event_type = 'open' AND birthday < '1990-01-01' AND event_timestamp < timestampadd(day, -2, current_timestamp)))", "L1"},
	{query.SQL, "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'click' AND (c.country = 'US' OR e.url = 'u')", ""},
	// Event conditions the arrays cannot decide: contact by contact.
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND singlesend_id NOT IN ('ss1'))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'click' AND url LIKE '%x.test/%')", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND url = 'u' AND singlesend_id = 'ss1')", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND event_timestamp > created_at)", ""},
}

// previewEmails are the emails of TestPreviewFastPaths's contacts: the
// corners of the LIKE shapes ("" is no email).
var previewEmails = []string{
	"a@gmail.com", "b@gmail.com", "A@GMAIL.COM", "a_b@gmail.com", "ab@gmail.com", "a%b@x.org", "100%@x.org",
	"x@y@gmail.com", "x@gmail.com@y", "noatsign", "trailing@", "@", "é@gmail.com", "a@gmail.com.evil",
	"a@mail.com", "a@qmail.com", "aXb@gmail.com", "a", "ab", "xé@gmail.com", "", "",
}

// TestPreviewFastPaths checks every query of previewSet, previewed after
// every step of a random sequence (contacts written and deleted, events
// added at the edges of the queries' windows and pruned, the clock
// moving), against the Go evaluator over the model: the derived indexes
// are built by the first preview and then kept in step by the writes.
func TestPreviewFastPaths(t *testing.T) {
	seeds, steps := propertyRuns()
	seeds = max(1, seeds/2) // each step previews every query of previewSet
	fields := []segmentd.FieldDefinition{
		{ID: "w1", Name: "color", Type: segmentd.FieldText},
		{ID: "n2", Name: "score", Type: segmentd.FieldNumber},
		{ID: "d3", Name: "birthday", Type: segmentd.FieldDate},
	}
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 99))
			e := New()
			const acct = 3
			m := newModel()
			m.fields = fields
			if err := e.SetFields(acct, fields, base); err != nil {
				t.Fatal(err)
			}
			if seed%2 == 1 {
				noDayIndexes(e, acct) // the earliest and latest arrays instead
			}
			now := base
			ids := walkIDs(40)
			history := stepLog(t)
			put := func(id string) {
				c := randContact(rng, id, now, fields)
				c.Email = previewEmails[rng.IntN(len(previewEmails))]
				if rng.IntN(15) == 0 {
					// Zero bytes, which could pass for the trigram index's
					// marks: rare, so that most previews have none.
					c.Email = []string{"\x00a@x.org", "b\x00@"}[rng.IntN(2)]
				}
				if c.Email == "" {
					c.ExternalID = "x-" + id
				}
				m.contacts[id] = &c
				e.PutContacts(acct, []segmentd.Contact{c}, now)
			}
			for _, id := range ids[:20] {
				put(id)
			}
			for step := range steps {
				var what string
				switch op := rng.IntN(100); {
				case op < 30:
					id := ids[rng.IntN(len(ids))]
					put(id)
					what = "put " + id + " " + m.contacts[id].Email
				case op < 38:
					id := ids[rng.IntN(len(ids))]
					delete(m.contacts, id)
					delete(m.events, id)
					e.DeleteContacts(acct, []string{id}, now)
					what = "delete " + id
				case op < 70:
					id := ids[rng.IntN(len(ids))]
					if _, ok := m.contacts[id]; !ok {
						continue
					}
					// On a window's edge (2 or 7 days back, to the
					// millisecond, either side), or anywhere in 10 days.
					ts := now.Add(-time.Duration(rng.IntN(10*24*60)) * time.Minute).UnixMilli()
					switch rng.IntN(5) {
					case 0:
						ts = now.AddDate(0, 0, -2).UnixMilli() + int64(rng.IntN(3)-1)
					case 1:
						ts = now.AddDate(0, 0, -7).UnixMilli() + int64(rng.IntN(3)-1)
					case 2:
						// On a UTC midnight, the day indexes' bucket
						// bounds, give or take 1 ms.
						ts = now.Truncate(24*time.Hour).AddDate(0, 0, -rng.IntN(10)).UnixMilli() + int64(rng.IntN(3)-1)
					}
					if rng.IntN(60) == 0 {
						ts = math.MinInt64 // the latest arrays' marker of none
					}
					typ := []string{"open", "click", "delivered", "bounce"}[rng.IntN(4)]
					ev := query.Event{Source: "mail", Type: typ, Timestamp: ts, SinglesendID: fmt.Sprint("ss", rng.IntN(2))}
					switch rng.IntN(4) {
					case 0:
						ev.SinglesendID = ""
					case 1:
						ev.MarketingCampaignID = []string{"c0", "c1", "ss1"}[rng.IntN(3)]
					case 2:
						ev.AutomationID = "a0"
					}
					if rng.IntN(2) == 0 {
						ev.URL = []string{"u", "https://x.test/a", "https://x.test/b"}[rng.IntN(3)]
					}
					m.events[id] = append(m.events[id], ev)
					e.AddEvents(acct, id, []query.Event{ev}, now)
					what = fmt.Sprintf("event %s %s at %d", typ, id, ts)
				case op < 75:
					cut := now.Add(-time.Duration(rng.IntN(8*24)) * time.Hour)
					for id, evs := range m.events {
						m.events[id] = slices.DeleteFunc(slices.Clone(evs), func(ev query.Event) bool { return ev.Timestamp < cut.UnixMilli() })
					}
					e.PruneEvents(acct, cut, now)
					what = "prune before " + cut.Format(time.RFC3339)
				case op < 90:
					// To an instant where a window flips, give or take 1 ms.
					var edges []int64
					for _, evs := range m.events {
						for _, ev := range evs {
							if ev.Timestamp != math.MinInt64 {
								edges = append(edges, time.UnixMilli(ev.Timestamp).AddDate(0, 0, 2).UnixMilli(), time.UnixMilli(ev.Timestamp).AddDate(0, 0, 7).UnixMilli())
							}
						}
					}
					if len(edges) == 0 {
						continue
					}
					v := time.UnixMilli(edges[rng.IntN(len(edges))] + int64(rng.IntN(3)-1)).UTC()
					if !v.After(now) {
						continue
					}
					now = v
					what = "clock to " + now.Format(time.RFC3339Nano)
				default:
					now = now.Add(time.Duration(rng.IntN(48)) * time.Hour)
					what = "clock to " + now.Format(time.RFC3339Nano)
				}
				if step%50 == 49 {
					dropDerived(e, acct) // built again by the next preview, from the events as they are
					what += "; derived indexes dropped"
				}
				*history = append(*history, what+"\n")
				checkPreviewSet(t, e, acct, m, now, fmt.Sprintf("step %d (%s)", step, what))
			}
		})
	}
}

// checkPreviewSet previews every query of previewSet and compares the
// count and the contacts with the Go evaluator's over the model.
func checkPreviewSet(t *testing.T, e *Engine, acct int64, m *model, now time.Time, step string) {
	t.Helper()
	cat := m.catalog(t)
	for _, s := range previewSet {
		q, err := query.Parse(s.lang, s.src)
		if err != nil {
			t.Fatalf("%s: %v", s.src, err)
		}
		ch, err := query.Check(q, cat)
		if err != nil {
			t.Fatalf("%s: %v", s.src, err)
		}
		p := query.Compile(ch)
		var want []string
		for cid, c := range m.contacts {
			if s.parent != "" && !slices.Contains(c.ListIDs, s.parent) {
				continue
			}
			if p.Match(querytest.Record(c, m.events[cid], cat), now) {
				want = append(want, cid)
			}
		}
		sort.Strings(want)
		got, n, err := e.Preview(acct, q, nil, s.parent, len(m.contacts)+1, now)
		if err != nil {
			t.Fatalf("%s: Preview(%s): %v", step, s.src, err)
		}
		sort.Strings(got)
		if n != len(want) || !slices.Equal(got, want) {
			t.Fatalf("%s: Preview(%s) at %s = %d %v, want %d %v", step, s.src, now.Format(time.RFC3339Nano), n, got, len(want), want)
		}
	}
}

// TestPreviewDerivedIndexes checks that the fast paths are taken: the
// previews of an email-domain LIKE and of windowed event conditions build
// the derived indexes (derived.go), a type's array once, and a type
// beyond maxLatestTypes falls back to the contact-by-contact evaluation
// with the same answer.
func TestPreviewDerivedIndexes(t *testing.T) {
	e := New()
	e.PutContacts(1, []segmentd.Contact{
		{ID: "c1", Email: "a@gmail.com", CreatedAt: base, UpdatedAt: base},
		{ID: "c2", Email: "b@x.org", CreatedAt: base, UpdatedAt: base},
	}, base)
	var evs []query.Event
	for i := range maxLatestTypes + 1 {
		evs = append(evs, query.Event{Type: fmt.Sprint("t", i), Timestamp: base.Add(-time.Duration(i) * time.Hour).UnixMilli()})
	}
	e.AddEvents(1, "c1", evs, base)
	preview := func(src string) (int, []string) {
		t.Helper()
		q, err := query.Parse(query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE "+src)
		if err != nil {
			t.Fatal(err)
		}
		ids, n, err := e.Preview(1, q, nil, "", 10, base)
		if err != nil {
			t.Fatal(err)
		}
		return n, ids
	}
	if n, ids := preview("email LIKE '%@gmail.com'"); n != 1 || ids[0] != "c1" {
		t.Fatalf("gmail: %d %v", n, ids)
	}
	a := e.get(1)
	if a.der.domains == nil || a.der.domains.dict.index.n != 2 {
		t.Fatalf("domain column not built: %+v", a.der.domains)
	}
	// The trigram index: built by a LIKE with a literal, kept in step,
	// and emptied when no contact holds an email any more.
	if n, ids := preview("email LIKE 'b@x%'"); n != 1 || ids[0] != "c2" {
		t.Fatalf("b@x%%: %d %v", n, ids)
	}
	if a.der.grams == nil || len(a.der.grams.post) != 18 { // 11 + 7 trigrams, none shared
		t.Fatalf("trigram index: %v", a.der.grams)
	}
	e.PutContacts(1, []segmentd.Contact{{ID: "c3", Email: "b@xyz.org", CreatedAt: base, UpdatedAt: base}}, base)
	if n, _ := preview("email LIKE 'b@x%'"); n != 2 {
		t.Fatalf("b@x%% after a new contact: %d", n)
	}
	e.DeleteContacts(1, []string{"c3"}, base)
	for i := range maxLatestTypes + 1 {
		src := fmt.Sprintf("contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 't%d' AND event_timestamp > timestampadd(hour, -%d, current_timestamp))", i, i+1)
		if n, ids := preview(src); n != 1 || ids[0] != "c1" {
			t.Fatalf("t%d: %d %v", i, n, ids)
		}
		if n, _ := preview(fmt.Sprintf("contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 't%d' AND event_timestamp > timestampadd(hour, -%d, current_timestamp))", i, i)); n != 0 {
			t.Fatalf("t%d, a window that ends before its event: %d", i, n)
		}
	}
	if got := len(a.der.latest); got != maxLatestTypes {
		t.Fatalf("%d latest-event arrays, want %d", got, maxLatestTypes)
	}
	if _, ok := a.der.latest[fmt.Sprint("t", maxLatestTypes)]; ok {
		t.Fatal("an array beyond maxLatestTypes")
	}
	if st := e.Stats(1); st.DerivedBytes <= 0 || st.EventBytes <= 0 {
		t.Fatalf("Stats: derived %d, events %d bytes", st.DerivedBytes, st.EventBytes)
	}
	// Writes keep them in step: c2 moves to gmail and gets a t0 event.
	e.PutContacts(1, []segmentd.Contact{{ID: "c2", Email: "b@gmail.com", CreatedAt: base, UpdatedAt: base}}, base)
	e.AddEvents(1, "c2", []query.Event{{Type: "t0", Timestamp: base.UnixMilli()}}, base)
	if n, _ := preview("email LIKE '%@gmail.com'"); n != 2 {
		t.Fatalf("gmail after the write: %d", n)
	}
	if n, _ := preview("contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 't0')"); n != 2 {
		t.Fatalf("t0 after the event: %d", n)
	}
	e.DeleteContacts(1, []string{"c1"}, base)
	if n, ids := preview("contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 't0')"); n != 1 || ids[0] != "c2" {
		t.Fatalf("t0 after the delete: %d %v", n, ids)
	}

	// Keyed columns: one per (type, key) asked for, at most maxKeyed, the
	// least recently used dropped first and built again when asked for.
	evs = nil
	for i := range maxKeyed + 1 {
		evs = append(evs, query.Event{Type: "open", SinglesendID: fmt.Sprint("ss", i), Timestamp: base.Add(-time.Duration(i) * time.Hour).UnixMilli()})
	}
	e.AddEvents(1, "c2", evs, base)
	opened := func(i int) string {
		return fmt.Sprintf("contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND singlesend_id = 'ss%d' AND event_timestamp > timestampadd(minute, -%d, current_timestamp))", i, i*60+1)
	}
	for i := range maxKeyed + 1 {
		if n, ids := preview(opened(i)); n != 1 || ids[0] != "c2" {
			t.Fatalf("ss%d: %d %v", i, n, ids)
		}
	}
	if a.der.nKeyed != maxKeyed || a.der.keyed["open"][query.EventKey{Col: "singlesend_id", Value: "ss0"}] != nil {
		t.Fatalf("%d keyed columns (want %d), ss0's kept: %v", a.der.nKeyed, maxKeyed, a.der.keyed["open"][query.EventKey{Col: "singlesend_id", Value: "ss0"}] != nil)
	}
	if m := a.der.keyed["open"][query.EventKey{Col: "singlesend_id", Value: "ss1"}]; m == nil || len(m.spans) != 1 {
		t.Fatalf("ss1's column: %+v", m)
	}
	e.AddEvents(1, "c2", []query.Event{{Type: "open", SinglesendID: "ss1", Timestamp: base.Add(time.Minute).UnixMilli()}}, base)
	if n, _ := preview("contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND singlesend_id = 'ss1' AND event_timestamp > current_timestamp)"); n != 1 {
		t.Fatalf("ss1 after a later event: %d", n)
	}
	if n, _ := preview(opened(0)); n != 1 {
		t.Fatalf("ss0 built again: %d", n)
	}
	e.DeleteContacts(1, []string{"c2"}, base)
	if n, _ := preview(opened(0)); n != 0 {
		t.Fatalf("ss0 after the delete: %d", n)
	}
	if len(a.der.grams.post) != 0 {
		t.Fatalf("%d trigrams left with no contact", len(a.der.grams.post))
	}
}

// TestPreviewValueCodes checks the value-coded Number and Date columns
// (derived.go): built by the first preview of a condition on the field,
// kept in step by writes and deletions, at most maxValueCols (the least
// recently used dropped and built again), dropped with their field, and
// not used for a field of more than maxValueCodes distinct values (whose
// previews keep their answers).
func TestPreviewValueCodes(t *testing.T) {
	e := New()
	var fields []segmentd.FieldDefinition
	for i := range maxValueCols + 1 {
		fields = append(fields, segmentd.FieldDefinition{ID: fmt.Sprint("n", i), Name: fmt.Sprint("num", i), Type: segmentd.FieldNumber})
	}
	fields = append(fields, segmentd.FieldDefinition{ID: "d1", Name: "day", Type: segmentd.FieldDate})
	if err := e.SetFields(1, fields, base); err != nil {
		t.Fatal(err)
	}
	const n = maxValueCodes + 100
	cs := make([]segmentd.Contact, n)
	for i := range cs {
		cs[i] = segmentd.Contact{ID: fmt.Sprint("c", i), Email: fmt.Sprint(i, "@x.org"), CreatedAt: base, UpdatedAt: base,
			CustomFields: map[string]segmentd.Value{"d1": {Type: segmentd.FieldDate, Time: base.Add(time.Duration(i) * time.Millisecond)}}}
		for f := range maxValueCols + 1 {
			if i%(f+2) != 0 {
				cs[i].CustomFields[fmt.Sprint("n", f)] = segmentd.Value{Type: segmentd.FieldNumber, Number: float64(i % 10)}
			}
		}
	}
	e.PutContacts(1, cs, base)
	preview := func(src string) int {
		t.Helper()
		q, err := query.Parse(query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE "+src)
		if err != nil {
			t.Fatal(err)
		}
		_, count, err := e.Preview(1, q, nil, "", 0, base)
		if err != nil {
			t.Fatal(err)
		}
		return count
	}
	a := e.get(1)
	want := func(f, lo, hi int) int { // contacts with lo <= num<f> <= hi
		w := 0
		for i := range n {
			if i%(f+2) != 0 && lo <= i%10 && i%10 <= hi {
				w++
			}
		}
		return w
	}
	for f := range maxValueCols + 1 {
		if got, w := preview(fmt.Sprintf("num%d BETWEEN 3 AND 5", f)), want(f, 3, 5); got != w {
			t.Fatalf("num%d: %d, want %d", f, got, w)
		}
	}
	if len(a.der.values) != maxValueCols || a.der.values[a.cols["n0"]] != nil {
		t.Fatalf("%d value-coded columns (want %d), n0's kept: %v", len(a.der.values), maxValueCols, a.der.values[a.cols["n0"]] != nil)
	}
	if c := a.der.values[a.cols["n1"]]; c == nil || len(c.index) != 10 {
		t.Fatalf("n1's codes: %+v", c)
	}
	// Writes: c5 moves from 5 to 7 in every field, c6 is deleted.
	c5 := cs[5]
	for f := range maxValueCols + 1 {
		c5.CustomFields[fmt.Sprint("n", f)] = segmentd.Value{Type: segmentd.FieldNumber, Number: 7}
	}
	e.PutContacts(1, []segmentd.Contact{c5}, base)
	e.DeleteContacts(1, []string{"c6"}, base)
	for _, f := range []int{1, 0, 8} {
		w := want(f, 3, 6)
		if 5%(f+2) != 0 {
			w--
		}
		if 6%(f+2) != 0 {
			w--
		}
		if got := preview(fmt.Sprintf("num%d BETWEEN 3 AND 6", f)); got != w {
			t.Fatalf("num%d after the writes: %d, want %d", f, got, w)
		}
	}
	if c := a.der.values[a.cols["n1"]]; c.refs[c.index[math.Float64bits(5)]] != uint32(want(1, 5, 5)-1) {
		t.Fatalf("n1's references to 5: %d", c.refs[c.index[math.Float64bits(5)]])
	}
	// A field of more distinct values than codes is not coded.
	if got := preview(fmt.Sprintf("day < '%s'", base.Add(1000*time.Millisecond).Format(time.RFC3339Nano))); got != 999 { // c6 deleted
		t.Fatalf("day: %d", got)
	}
	if c := a.der.values[a.cols["d1"]]; c == nil || !c.full || c.codes != nil {
		t.Fatalf("d1's codes: %+v", c)
	}
	// A deleted field's codes go at the next look-up.
	if err := e.SetFields(1, fields[1:], base); err != nil {
		t.Fatal(err)
	}
	n1 := a.cols["n1"]
	preview("num1 = 2")
	if len(a.der.values) != maxValueCols-1 || a.der.values[n1] == nil { // n0 was one
		t.Fatalf("after deleting n0: %d columns", len(a.der.values))
	}
	for k := range a.der.values {
		if a.cols[k.id] != k {
			t.Fatalf("column %s kept after its field was deleted", k.id)
		}
	}
}

// TestPreviewEventWindows checks windows of some event between two
// times on contacts whose earliest and latest events of the type lie
// on either side of them (so the events themselves are read), with
// events on the windows' very bounds, against a full scan.
func TestPreviewEventWindows(t *testing.T) {
	for _, days := range []bool{true, false} {
		t.Run(fmt.Sprint("days=", days), func(t *testing.T) { testEventWindows(t, days) })
	}
}

func testEventWindows(t *testing.T, days bool) {
	e := New()
	if !days {
		noDayIndexes(e, 1)
	}
	day := int64(24 * time.Hour / time.Millisecond)
	at := func(days int64, ms int64) int64 { return base.UnixMilli() - days*day + ms }
	contacts := map[string][]int64{
		"c1": {at(10, 0), at(5, 0), at(1, 0)},            // one on a bound
		"c2": {at(10, 0), at(5, -1), at(5, 1), at(1, 0)}, // either side of it
		"c3": {at(5, 0)},
		"c4": {at(10, 0), at(1, 0)},
		"c5": {at(10, 0), at(1, 0)}, // and events of other keys in between
	}
	for id, tss := range contacts {
		e.PutContacts(1, []segmentd.Contact{{ID: id, Email: id + "@x.org", CreatedAt: base, UpdatedAt: base}}, base)
		var evs []query.Event
		for _, ts := range tss {
			evs = append(evs, query.Event{Type: "open", Timestamp: ts, SinglesendID: "ss1"}, query.Event{Type: "click", Timestamp: ts + day, AutomationID: "a1"})
		}
		if id == "c5" {
			for _, ts := range []int64{at(5, -1), at(5, 0), at(5, 1)} {
				evs = append(evs, query.Event{Type: "open", Timestamp: ts, SinglesendID: "ss2"}, query.Event{Type: "click", Timestamp: ts + day, SinglesendID: "ss1"})
			}
		}
		e.AddEvents(1, id, evs, base)
	}
	for _, w := range []string{
		"event_timestamp >= timestampadd(day, -5, current_timestamp) AND event_timestamp <= timestampadd(day, -5, current_timestamp)",
		"event_timestamp > timestampadd(day, -5, current_timestamp) AND event_timestamp <= timestampadd(day, -2, current_timestamp)",
		"event_timestamp >= timestampadd(day, -6, current_timestamp) AND event_timestamp < timestampadd(day, -5, current_timestamp)",
		"event_timestamp > timestampadd(day, -6, current_timestamp) AND event_timestamp < timestampadd(day, -4, current_timestamp)",
		"event_timestamp < timestampadd(day, -5, current_timestamp)",
		"event_timestamp <= timestampadd(day, -10, current_timestamp)",
		"event_timestamp >= timestampadd(day, -5, current_timestamp)",
		"event_timestamp > timestampadd(day, -5, current_timestamp)",
	} {
		for _, typ := range []string{"'open'", "'click'", "'open' AND singlesend_id = 'ss1'", "'click' AND (singlesend_id = 'ss2' OR automation_id IS NOT NULL)"} {
			src := fmt.Sprintf("SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = %s AND %s)", typ, w)
			q, err := query.Parse(query.SQL, src)
			if err != nil {
				t.Fatal(err)
			}
			got, n, err := e.Preview(1, q, nil, "", 10, base)
			if err != nil {
				t.Fatal(err)
			}
			want, wn, err := e.Search(1, mustCheck(t, e, 1, query.SQL, src), 10, base)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(got)
			slices.Sort(want)
			if n != wn || !slices.Equal(got, want) {
				t.Errorf("%s: %d %v, want %d %v", src, n, got, wn, want)
			}
		}
	}
	a := e.get(1)
	if got := a.der.days["open"] != nil && a.der.days["click"] != nil; got != days {
		t.Fatalf("day indexes built: %v, want %v", got, days)
	}
	if got := a.der.earliest["open"] != nil && a.der.earliest["click"] != nil; !days && !got {
		t.Fatal("no earliest-event arrays")
	}
}

// noDayIndexes makes account acct of e decide event windows by the
// earliest and latest arrays, as if every type's day index were too big.
// dropDerived drops the account's derived indexes but for the day
// indexes' settings, so that the next preview builds them again.
func dropDerived(e *Engine, acct int64) {
	a := e.get(acct)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.der = derived{dayTooBig: a.der.dayTooBig}
}

func noDayIndexes(e *Engine, acct int64) {
	e.PutContacts(acct, nil, base)
	a := e.get(acct)
	a.der.dayTooBig = make(map[string]bool)
	for _, typ := range []string{"open", "click", "delivered", "bounce"} {
		a.der.dayTooBig[typ] = true
	}
}

// TestPreviewDayIndex checks an event type's day index (eventdays.go):
// built by a window's preview, its stale contacts (deleted, their
// indexes reused) read from their events and then compacted away, its
// entries pruned with the events, and bounded in bytes (the least
// recently used dropped, a type too big for the bound left to the
// arrays), every answer the same as a full scan's.
func TestPreviewDayIndex(t *testing.T) {
	e := New()
	hour := int64(time.Hour / time.Millisecond)
	put := func(i int, shift int64) {
		id := fmt.Sprint("c", i)
		e.PutContacts(1, []segmentd.Contact{{ID: id, Email: id + "@x.org", CreatedAt: base, UpdatedAt: base}}, base)
		var evs []query.Event
		for k := range 5 {
			ts := base.UnixMilli() - int64(i+k*37)*hour + shift
			evs = append(evs, query.Event{Type: "open", Timestamp: ts}, query.Event{Type: []string{"click", "bounce"}[k%2], Timestamp: ts - 1})
		}
		e.AddEvents(1, id, evs, base)
	}
	const n = 100
	for i := range n {
		put(i, 0)
	}
	windows := []string{
		"event_timestamp >= timestampadd(day, -5, current_timestamp) AND event_timestamp < timestampadd(hour, -7, current_timestamp)",
		"event_timestamp > timestampadd(day, -3, current_timestamp) AND event_timestamp <= timestampadd(day, -2, current_timestamp)",
		"event_timestamp < timestampadd(day, -6, current_timestamp)",
	}
	check := func(step string, now time.Time, typs ...string) {
		t.Helper()
		for _, w := range windows {
			for _, typ := range typs {
				src := fmt.Sprintf("SELECT contact_id, updated_at FROM contact_data WHERE contact_id IN (SELECT contact_id FROM event_data WHERE event_type = '%s' AND %s)", typ, w)
				q, err := query.Parse(query.SQL, src)
				if err != nil {
					t.Fatal(err)
				}
				got, c, err := e.Preview(1, q, nil, "", n+1, now)
				if err != nil {
					t.Fatal(err)
				}
				want, wc, err := e.Search(1, mustCheck(t, e, 1, query.SQL, src), n+1, now)
				if err != nil {
					t.Fatal(err)
				}
				slices.Sort(got)
				slices.Sort(want)
				if c != wc || !slices.Equal(got, want) {
					t.Fatalf("%s: %s: %d %v, want %d %v", step, src, c, got, wc, want)
				}
			}
		}
	}
	countOpens := func() int {
		k := 0
		a := e.get(1)
		for _, run := range a.events {
			er := eventReader{b: run}
			var ev event
			for er.next(&ev) {
				if a.evDict.vals[ev.typ] == "open" {
					k++
				}
			}
		}
		return k
	}
	check("built", base, "open")
	a := e.get(1)
	x := a.der.days["open"]
	if x == nil || x.entries != 5*n || len(x.buckets) < 8 {
		t.Fatalf("open's day index: %+v", x)
	}
	// Stale contacts: deleted, their indexes reused by contacts whose
	// events are an hour later; read from their events until there are
	// more than staleLimit, then compacted away.
	for i := range 10 {
		e.DeleteContacts(1, []string{fmt.Sprint("c", i)}, base)
		put(i, hour)
	}
	check("10 stale", base, "open")
	if a.der.days["open"] != x || x.stale.GetCardinality() != 10 {
		t.Fatalf("after 10 rewritten: %d stale", x.stale.GetCardinality())
	}
	for i := 10; i < 30; i++ {
		e.DeleteContacts(1, []string{fmt.Sprint("c", i)}, base)
		put(i, hour)
	}
	check("30 stale", base, "open")
	y := a.der.days["open"]
	if y == x || !y.stale.IsEmpty() || y.entries != countOpens() {
		t.Fatalf("not compacted: %d stale, %d entries, want %d", y.stale.GetCardinality(), y.entries, countOpens())
	}
	// Pruned with the events, none marked stale.
	cut := base.Add(-100 * time.Hour)
	e.PruneEvents(1, cut, base)
	if !y.stale.IsEmpty() || y.entries != countOpens() || y.buckets[0].day != dayNumber(cut.UnixMilli()) {
		t.Fatalf("after the prune: %d stale, %d entries, want %d", y.stale.GetCardinality(), y.entries, countOpens())
	}
	check("pruned", base, "open")
	check("a day later", base.Add(24*time.Hour), "open")
	// Bounded: with room for one index, the least recently used goes,
	// and a type bigger than the bound alone is left to the arrays.
	a.der.dayMax = y.size() + 1
	check("bounded", base, "click")
	if a.der.days["click"] == nil || a.der.days["open"] != nil {
		t.Fatalf("after click's: open's kept %v, click's built %v", a.der.days["open"] != nil, a.der.days["click"] != nil)
	}
	a.der.dayMax = a.der.days["click"].size() + 1
	for i := range 1000 {
		e.AddEvents(1, "c50", []query.Event{{Type: "click", Timestamp: base.UnixMilli() - int64(i)*hour}}, base)
	}
	if a.der.days["click"] != nil {
		t.Fatal("click's index kept past the bound after more events")
	}
	check("click evicted", base, "click", "open")
	a.der.dayMax = 100
	check("too big", base, "bounce")
	if a.der.days["bounce"] != nil || !a.der.dayTooBig["bounce"] || a.der.earliest["bounce"] == nil {
		t.Fatalf("bounce: index %v, too big %v", a.der.days["bounce"] != nil, a.der.dayTooBig["bounce"])
	}
}
