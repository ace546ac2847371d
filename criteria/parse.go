package criteria

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentd/segmentd/internal/jsoncheck"
	"github.com/segmentd/segmentd/query"
)

// Version is the only segment_criteria version Constant Contact documents.
const Version = "1.0.0"

// Limits. MaxLength, MaxCampaigns and MaxDays are Constant Contact's (the
// spec's maxLength and the documented 400 for "more than 500 email
// campaigns" and "a date range longer than 1825 days"); MaxDepth and
// MaxNodes are segmentd's bound on untrusted input, in the spirit of the
// query package's limits (a criteria document is at most 20,000
// characters, so these only stop pathological nesting).
const (
	// MaxLength is the longest accepted document, in characters.
	MaxLength = 20000
	// MaxCampaigns is the most email campaigns one document may evaluate.
	MaxCampaigns = 500
	// MaxDays is the longest date range, in days.
	MaxDays = 1825
	// MaxDepth is the deepest nesting of groups (the top group is 1).
	MaxDepth = 16
	// MaxNodes is the most groups and conditions in one document.
	MaxNodes = 200
)

// Error is a criteria error. Path names the JSON value at fault, as in
// "criteria.group[1].op"; it is empty for the document as a whole.
type Error struct {
	Path string
	Msg  string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Msg
	}
	return e.Path + ": " + e.Msg
}

func errorf(path, format string, args ...any) *Error {
	return &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Criteria is a parsed, valid segment_criteria document. It is immutable
// and safe for concurrent use.
type Criteria struct {
	root *group
	// lastN is the largest N of the last-n-campaigns conditions, 0 when
	// there are none.
	lastN int
}

// UsesCampaigns reports whether the translation depends on the account's
// campaigns, newest first (a last-n-campaigns condition): Select must then
// be called again whenever that order changes.
func (c *Criteria) UsesCampaigns() bool { return c.lastN > 0 }

// LastCampaigns returns how many of the newest campaigns the criteria look
// at: the largest N of its last-n-campaigns conditions (0 when none). Only
// that prefix of the campaign order matters to Select.
func (c *Criteria) LastCampaigns() int { return c.lastN }

// group is an "and" or "or" group.
type group struct {
	or    bool
	items []node
}

// node is a *group or a *leaf.
type node interface{ isNode() }

func (*group) isNode() {}
func (*leaf) isNode()  {}

// The sources of a condition.
const (
	srcTracking = "tracking"
	srcContact  = "contact"
	srcLists    = "list_membership"
	srcTags     = "tags"
)

// leaf is one condition, with its values decoded.
type leaf struct {
	path   string
	source string
	field  string
	op     string

	// tracking
	scope    campaignScope
	lastN    int      // scopeLastN
	ids      []string // scopeIDs; also the list or tag id (one)
	window   dateWindow
	days     int   // windowLastDays; contact in-last-n-days
	from, to int64 // windowBetween: [from, to) in unix ms

	// contact
	cf    contactField
	text  string // text or number operand, as written
	date  int64  // date operand, unix ms
	dated bool   // the date operand is a day (YYYY-MM-DD), not an instant
}

type campaignScope uint8

const (
	scopeAny   campaignScope = iota + 1 // "campaigns"
	scopeLastN                          // "last-n-campaigns"
	scopeIDs                            // "campaign-ids"
)

type dateWindow uint8

const (
	windowNone dateWindow = iota
	windowLastDays
	windowBetween
)

// The keys a condition may have; every value is a JSON string.
var leafKeys = []string{"source", "field", "op", "const_value", "param", "const_date_value", "date_param"}

// Parse reads and validates a segment_criteria document. Errors are
// *Error naming the JSON path of the fault. Contact conditions on custom
// fields are resolved later, by Select, against the account's fields.
func Parse(src string) (*Criteria, error) {
	if n := utf8.RuneCountInString(src); n > MaxLength {
		return nil, errorf("", "segment_criteria is %d characters long; the limit is %d (MaxLength)", n, MaxLength)
	}
	// segmentd's rules for every JSON document (docs/decisions.md §18):
	// syntax, repeated keys, invalid UTF-8 and lone surrogate escapes are
	// refused here, with the JSON path, in the wording of every face.
	if _, err := jsoncheck.Check([]byte(src)); err != nil {
		je := err.(*jsoncheck.Error)
		return nil, &Error{Path: je.Path, Msg: je.Msg}
	}
	p := &parser{ids: map[string]bool{}}
	top, err := p.object(json.RawMessage(src), "")
	if err != nil {
		return nil, err
	}
	var version, crit json.RawMessage
	for _, m := range top {
		switch m.key {
		case "version":
			version = m.val
		case "criteria":
			crit = m.val
		default:
			return nil, errorf(m.key, "unknown key (want version and criteria)")
		}
	}
	if version == nil {
		return nil, errorf("version", "required")
	}
	v, err := str(version, "version")
	if err != nil {
		return nil, err
	}
	if v != Version {
		return nil, errorf("version", "unsupported version %q (want %q)", query.Clip(v), Version)
	}
	if crit == nil {
		return nil, errorf("criteria", "required")
	}
	root, err := p.group(crit, "criteria", 1)
	if err != nil {
		return nil, err
	}
	return &Criteria{root: root, lastN: p.lastN}, nil
}

type parser struct {
	nodes int
	lastN int
	ids   map[string]bool // every campaign id named by campaign-ids
}

type member struct {
	key string
	val json.RawMessage
}

// object returns the members of a JSON object in order. raw is valid
// JSON without repeated keys (Parse checked the document).
func (p *parser) object(raw json.RawMessage, path string) ([]member, error) {
	if k := kind(raw); k != "object" {
		if path == "" {
			return nil, errorf("", "segment_criteria must be a JSON object, found %s", k)
		}
		return nil, errorf(path, "must be an object, found %s", k)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil {
		return nil, errorf(path, "must be an object")
	}
	var out []member
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, errorf(path, "must be an object")
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, errorf(path, "must be an object")
		}
		out = append(out, member{key, v})
	}
	return out, nil
}

// join appends key to path; a client's key is clipped, so that an error
// naming a megabyte-long key does not echo it whole.
func join(path, key string) string {
	key = query.Clip(key)
	if path == "" {
		return key
	}
	return path + "." + key
}

// kind names the JSON type of a valid value.
func kind(raw json.RawMessage) string {
	b := bytes.TrimLeft(raw, " \t\r\n")
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// str decodes a JSON string value.
func str(raw json.RawMessage, path string) (string, error) {
	if k := kind(raw); k != "string" {
		return "", errorf(path, "must be a string, found %s", k)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", errorf(path, "must be a string")
	}
	return s, nil
}

func (p *parser) count(path string) error {
	p.nodes++
	if p.nodes > MaxNodes {
		return errorf(path, "more than %d groups and conditions (MaxNodes)", MaxNodes)
	}
	return nil
}

// group reads {"type":"and"|"or","group":[...]}.
func (p *parser) group(raw json.RawMessage, path string, depth int) (*group, error) {
	if depth > MaxDepth {
		return nil, errorf(path, "groups nest deeper than %d levels (MaxDepth)", MaxDepth)
	}
	if err := p.count(path); err != nil {
		return nil, err
	}
	ms, err := p.object(raw, path)
	if err != nil {
		return nil, err
	}
	g := &group{}
	var typ string
	var items json.RawMessage
	for _, m := range ms {
		switch m.key {
		case "type":
			if typ, err = str(m.val, join(path, "type")); err != nil {
				return nil, err
			}
			if typ != "and" && typ != "or" {
				return nil, errorf(join(path, "type"), "unknown group type %q (want \"and\" or \"or\")", query.Clip(typ))
			}
		case "group":
			items = m.val
		default:
			return nil, errorf(join(path, m.key), "unknown key in a group (want type and group)")
		}
	}
	if typ == "" {
		return nil, errorf(join(path, "type"), "required")
	}
	g.or = typ == "or"
	gpath := join(path, "group")
	if items == nil {
		return nil, errorf(gpath, "required")
	}
	if k := kind(items); k != "array" {
		return nil, errorf(gpath, "must be an array, found %s", k)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(items, &elems); err != nil {
		return nil, errorf(gpath, "must be an array")
	}
	if len(elems) == 0 {
		return nil, errorf(gpath, "must hold at least one condition")
	}
	onlyOr := map[string]int{}
	for i, e := range elems {
		ipath := gpath + "[" + strconv.Itoa(i) + "]"
		if kind(e) == "object" && isGroup(e) {
			sub, err := p.group(e, ipath, depth+1)
			if err != nil {
				return nil, err
			}
			g.items = append(g.items, sub)
			continue
		}
		l, err := p.leaf(e, ipath)
		if err != nil {
			return nil, err
		}
		// Constant Contact combines list_membership and tags conditions
		// with "or" only.
		if l.source == srcLists || l.source == srcTags {
			onlyOr[l.source]++
			if !g.or && onlyOr[l.source] > 1 {
				return nil, errorf(ipath, "%s conditions can only be combined in an \"or\" group", l.source)
			}
		}
		g.items = append(g.items, l)
	}
	return g, nil
}

// isGroup reports whether an object is a group: it has a type or group key.
func isGroup(raw json.RawMessage) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return false
	}
	_, t := m["type"]
	_, g := m["group"]
	return t || g
}

// leaf reads one condition.
func (p *parser) leaf(raw json.RawMessage, path string) (*leaf, error) {
	if err := p.count(path); err != nil {
		return nil, err
	}
	ms, err := p.object(raw, path)
	if err != nil {
		return nil, err
	}
	vals := map[string]string{}
	for _, m := range ms {
		known := false
		for _, k := range leafKeys {
			known = known || k == m.key
		}
		if !known {
			return nil, errorf(join(path, m.key), "unknown key in a condition (want %s)", strings.Join(leafKeys, ", "))
		}
		s, err := str(m.val, join(path, m.key))
		if err != nil {
			return nil, err
		}
		vals[m.key] = s
	}
	l := &leaf{path: path}
	for _, k := range []string{"source", "field", "op"} {
		if _, ok := vals[k]; !ok {
			return nil, errorf(join(path, k), "required")
		}
	}
	l.source, l.field, l.op = vals["source"], vals["field"], vals["op"]
	c := &cond{p: p, l: l, vals: vals}
	switch l.source {
	case srcTracking:
		err = c.tracking()
	case srcContact:
		err = c.contact()
	case srcLists:
		err = c.membership("list_id")
	case srcTags:
		err = c.membership("tag_id")
	default:
		return nil, errorf(join(path, "source"), "unknown source %q (want tracking, contact, list_membership or tags)", query.Clip(l.source))
	}
	if err != nil {
		return nil, err
	}
	// Every value given must have been used by the operator.
	for _, k := range leafKeys[3:] {
		if _, ok := vals[k]; ok && !c.used[k] {
			return nil, errorf(join(path, k), "not used by operator %q of source %q", query.Clip(l.op), query.Clip(l.source))
		}
	}
	return l, nil
}

// cond validates one condition's values, remembering which keys it read.
type cond struct {
	p    *parser
	l    *leaf
	vals map[string]string
	used map[string]bool
}

func (c *cond) path(key string) string { return join(c.l.path, key) }

// need returns a required value.
func (c *cond) need(key string) (string, error) {
	v, ok := c.vals[key]
	if !ok {
		return "", errorf(c.path(key), "required by operator %q of source %q", query.Clip(c.l.op), query.Clip(c.l.source))
	}
	if c.used == nil {
		c.used = map[string]bool{}
	}
	c.used[key] = true
	return v, nil
}

// optional marks a key read and returns its value.
func (c *cond) optional(key string) (string, bool) {
	v, ok := c.vals[key]
	if ok {
		if c.used == nil {
			c.used = map[string]bool{}
		}
		c.used[key] = true
	}
	return v, ok
}

func (c *cond) unknownOp(want string) error {
	return errorf(c.path("op"), "unknown operator %q for source %q (want %s)", query.Clip(c.l.op), query.Clip(c.l.source), want)
}

// wholeNumber reads a count written as a string of digits; a longer
// number than any limit reads as 1<<30.
func wholeNumber(s string) (int, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = min(n*10+int(s[i]-'0'), 1<<30)
	}
	return n, true
}

// days reads a number of days, 1..MaxDays.
func (c *cond) days(key string) (int, error) {
	s, err := c.need(key)
	if err != nil {
		return 0, err
	}
	n, ok := wholeNumber(s)
	if !ok || n < 1 {
		return 0, errorf(c.path(key), "must be a whole number of days from 1 to %d, found %q", MaxDays, query.Clip(s))
	}
	if n > MaxDays {
		return 0, errorf(c.path(key), "the date range is longer than %d days (%s days)", MaxDays, query.Clip(s))
	}
	return n, nil
}

// ---- tracking ----

// trackingFields are the campaign-activity fields: the event types that
// count for each (SendGrid Event Webhook names). A not_ field is "was sent
// some campaign in scope and has none of these events for the campaigns in
// scope".
var trackingFields = map[string][]string{
	"sent":          sentTypes,
	"delivered":     {"delivered"},
	"opened":        openTypes,
	"clicked":       {"click"},
	"bounced":       {"bounce"},
	"unsubscribed":  {"unsubscribe", "group_unsubscribe"},
	"spam_reported": {"spamreport"},
	"not_opened":    openTypes,
	"not_clicked":   {"click"},
}

// sentTypes are the events that show a campaign was sent to the contact:
// all but dropped (SendGrid did not send it) and group_resubscribe.
var sentTypes = []string{"processed", "deferred", "delivered", "bounce", "open", "click", "spamreport", "unsubscribe", "group_unsubscribe"}

// openTypes: Constant Contact's reports count a click as an open (the
// contact saw the email even if its images did not load).
var openTypes = []string{"open", "click"}

const trackingFieldNames = "sent, delivered, opened, not_opened, clicked, not_clicked, bounced, unsubscribed or spam_reported"

func (c *cond) tracking() error {
	l := c.l
	if _, ok := trackingFields[l.field]; !ok {
		return errorf(c.path("field"), "unknown field %q for source %q (want %s)", query.Clip(l.field), query.Clip(l.source), trackingFieldNames)
	}
	if l.op != "contains-any" && l.op != "contains-none" {
		return c.unknownOp(`"contains-any" or "contains-none"`)
	}
	cv, err := c.need("const_value")
	if err != nil {
		return err
	}
	switch cv {
	case "campaigns":
		l.scope = scopeAny
	case "last-n-campaigns":
		l.scope = scopeLastN
		s, err := c.need("param")
		if err != nil {
			return err
		}
		n, ok := wholeNumber(s)
		if !ok || n < 1 {
			return errorf(c.path("param"), "must be a whole number of campaigns from 1 to %d, found %q", MaxCampaigns, query.Clip(s))
		}
		if n > MaxCampaigns {
			return errorf(c.path("param"), "the criteria would evaluate more than %d email campaigns (%s)", MaxCampaigns, query.Clip(s))
		}
		l.lastN = n
		c.p.lastN = max(c.p.lastN, n)
	case "campaign-ids":
		l.scope = scopeIDs
		s, err := c.need("param")
		if err != nil {
			return err
		}
		seen := map[string]bool{}
		for _, id := range strings.Split(s, ",") {
			id = strings.TrimSpace(id)
			if id == "" {
				return errorf(c.path("param"), "must be a comma-separated list of campaign ids, found %q", query.Clip(s))
			}
			if !seen[id] {
				seen[id] = true
				l.ids = append(l.ids, id)
			}
			c.p.ids[id] = true
		}
	default:
		return errorf(c.path("const_value"), "unknown value %q (want \"campaigns\", \"last-n-campaigns\" or \"campaign-ids\")", query.Clip(cv))
	}
	// The campaigns the whole document evaluates: the newest lastN plus
	// every campaign named by id (counted as distinct from them, the most
	// there can be).
	if c.p.lastN+len(c.p.ids) > MaxCampaigns {
		return errorf(c.path("param"), "the criteria would evaluate more than %d email campaigns", MaxCampaigns)
	}
	dv, ok := c.optional("const_date_value")
	if !ok {
		if _, ok := c.vals["date_param"]; ok {
			return errorf(c.path("date_param"), "needs const_date_value")
		}
		return nil
	}
	switch dv {
	case "last-n-days":
		l.window = windowLastDays
		l.days, err = c.days("date_param")
		return err
	case "between-dates":
		l.window = windowBetween
		s, err := c.need("date_param")
		if err != nil {
			return err
		}
		from, to, ok := strings.Cut(s, ",")
		f, err1 := time.Parse(time.DateOnly, strings.TrimSpace(from))
		t, err2 := time.Parse(time.DateOnly, strings.TrimSpace(to))
		if !ok || err1 != nil || err2 != nil {
			return errorf(c.path("date_param"), "must be two dates \"YYYY-MM-DD,YYYY-MM-DD\", found %q", query.Clip(s))
		}
		if t.Before(f) {
			return errorf(c.path("date_param"), "the range ends before it starts (%q)", query.Clip(s))
		}
		end := t.AddDate(0, 0, 1)
		if end.Sub(f) > MaxDays*24*time.Hour {
			return errorf(c.path("date_param"), "the date range is longer than %d days (%q)", MaxDays, query.Clip(s))
		}
		l.from, l.to = f.UnixMilli(), end.UnixMilli()
		return nil
	}
	return errorf(c.path("const_date_value"), "unknown value %q (want \"last-n-days\" or \"between-dates\")", query.Clip(dv))
}

// ---- list_membership and tags ----

func (c *cond) membership(field string) error {
	l := c.l
	if l.field != field {
		return errorf(c.path("field"), "unknown field %q for source %q (want %q)", query.Clip(l.field), query.Clip(l.source), field)
	}
	if l.op != "contains-any" && l.op != "contains-none" {
		return c.unknownOp(`"contains-any" or "contains-none"`)
	}
	v, err := c.need("const_value")
	if err != nil {
		return err
	}
	id, ok := uuid(v)
	if !ok {
		return errorf(c.path("const_value"), "must be a %s (a UUID), found %q", field, query.Clip(v))
	}
	l.ids = []string{id}
	return nil
}

// uuid reads a UUID in its 8-4-4-4-12 hex form, any case, and returns it
// lower-cased as segmentd stores ids.
func uuid(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return "", false
			}
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return "", false
		}
	}
	return strings.ToLower(s), true
}
