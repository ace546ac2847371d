package criteria

import (
	"strconv"
	"strings"
	"time"

	"github.com/segmentd/segmentd/query"
)

// Select translates the criteria into a Segments 2.0 statement:
//
//	SELECT contact_id, updated_at FROM contact_data WHERE <groups>
//
// with each tracking condition a contact_id [NOT] IN (SELECT contact_id
// FROM event_data WHERE …) sub-query. cat resolves custom fields by name
// (case-insensitively, as the query checker does; nil means none);
// campaigns are the account's campaigns, newest first, of which the
// last-n-campaigns conditions take a prefix. Errors are *Error naming the
// condition's JSON path (an unknown custom field, an operator that does
// not apply to the field's type). The statement has no source positions.
func (c *Criteria) Select(cat *query.Catalog, campaigns []string) (*query.SelectStmt, error) {
	t := &translator{cat: cat, campaigns: campaigns}
	if cat != nil {
		t.custom = cat.CustomFields()
	}
	where, err := t.group(c.root)
	if err != nil {
		return nil, err
	}
	return &query.SelectStmt{
		Items: []*query.SelectItem{{X: ident("contact_id")}, {X: ident("updated_at")}},
		From:  &query.TableRef{Name: ident("contact_data")},
		Where: where,
	}, nil
}

// Query is Select as a query to check and run: a Segments 2.0 query
// whose contact_data has the tag_ids column the tags conditions read
// (query.Query.Tags).
func (c *Criteria) Query(cat *query.Catalog, campaigns []string) (*query.Query, error) {
	stmt, err := c.Select(cat, campaigns)
	if err != nil {
		return nil, err
	}
	return &query.Query{Lang: query.SQL, Stmt: stmt, Tags: true}, nil
}

type translator struct {
	cat       *query.Catalog
	custom    []query.CustomField
	campaigns []string
}

func ident(name string) *query.Ident { return &query.Ident{Name: name} }

func strLit(s string) *query.BasicLit { return &query.BasicLit{Kind: query.STRING, Value: s} }

func boolean(b bool) *query.BoolLit { return &query.BoolLit{Value: b} }

func bin(x query.Expr, op query.Token, y query.Expr) *query.BinaryExpr {
	return &query.BinaryExpr{X: x, Op: op, Y: y}
}

func paren(x query.Expr) query.Expr { return &query.ParenExpr{X: x} }

func call(name string, args ...query.Expr) *query.CallExpr {
	return &query.CallExpr{Fun: ident(name), Args: args}
}

// ago is timestampadd(day, -days, current_timestamp()).
func ago(days int) query.Expr {
	n := &query.UnaryExpr{Op: query.SUB, X: &query.BasicLit{Kind: query.INT, Value: strconv.Itoa(days)}}
	return call("timestampadd", ident("day"), n, call("current_timestamp"))
}

// timeLit is a time as a string literal, which the checker reads as a
// time when it is compared with one.
func timeLit(ms int64) query.Expr {
	return strLit(time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z"))
}

func (t *translator) group(g *group) (query.Expr, error) {
	op := query.AND
	if g.or {
		op = query.OR
	}
	var out query.Expr
	for _, n := range g.items {
		var x query.Expr
		var err error
		switch n := n.(type) {
		case *group:
			x, err = t.group(n)
			x = paren(x)
		case *leaf:
			x, err = t.leaf(n)
		}
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = x
		} else {
			out = bin(out, op, x)
		}
	}
	return out, nil
}

func (t *translator) leaf(l *leaf) (query.Expr, error) {
	switch l.source {
	case srcTracking:
		return t.tracking(l), nil
	case srcContact:
		return t.contact(l)
	}
	// list_membership and tags: the contact's list ids or tag ids
	// (tag_ids, a column of the queries Query makes) hold the id, or not.
	col := "list_ids"
	if l.source == srcTags {
		col = "tag_ids"
	}
	in := call("array_contains", ident(col), &query.ArrayLit{Elems: []query.Expr{strLit(l.ids[0])}})
	if l.op == "contains-none" {
		return paren(&query.UnaryExpr{Op: query.NOT, X: in}), nil
	}
	return in, nil
}

// ---- tracking ----

// tracking translates a campaign-activity condition. For a field F with
// event types T, "F contains-any S" is "some event of a type in T names a
// campaign of S (within the window)"; contains-none is its negation. For
// not_F, contains-any is "some sent event for S and no F event for S";
// contains-none is its negation.
func (t *translator) tracking(l *leaf) query.Expr {
	types := trackingFields[l.field]
	neg := strings.HasPrefix(l.field, "not_")
	if !neg {
		return t.events(l, types, l.op == "contains-none")
	}
	if l.op == "contains-any" {
		return paren(bin(t.events(l, sentTypes, false), query.AND, t.events(l, types, true)))
	}
	return paren(bin(t.events(l, sentTypes, true), query.OR, t.events(l, types, false)))
}

// events is contact_id [NOT] IN (SELECT contact_id FROM event_data WHERE
// event_type IN types AND <campaign scope> [AND <window>]).
func (t *translator) events(l *leaf, types []string, not bool) query.Expr {
	var cond query.Expr
	if len(types) == 1 {
		cond = bin(ident("event_type"), query.EQL, strLit(types[0]))
	} else {
		in := &query.InExpr{X: ident("event_type")}
		for _, ty := range types {
			in.List = append(in.List, strLit(ty))
		}
		cond = in
	}
	cond = bin(cond, query.AND, t.scope(l))
	switch l.window {
	case windowLastDays:
		cond = bin(cond, query.AND, bin(ident("event_timestamp"), query.GEQ, ago(l.days)))
	case windowBetween:
		cond = bin(cond, query.AND, bin(ident("event_timestamp"), query.GEQ, timeLit(l.from)))
		cond = bin(cond, query.AND, bin(ident("event_timestamp"), query.LSS, timeLit(l.to)))
	}
	sub := &query.SelectStmt{
		Items: []*query.SelectItem{{X: ident("contact_id")}},
		From:  &query.TableRef{Name: ident("event_data")},
		Where: cond,
	}
	return &query.InExpr{X: ident("contact_id"), Not: not, Select: sub}
}

// scope is the condition on an event's campaign: an event belongs to the
// campaign its singlesend_id names and to the one its
// marketing_campaign_id names.
func (t *translator) scope(l *leaf) query.Expr {
	ids := l.ids
	switch l.scope {
	case scopeAny:
		return paren(bin(
			&query.IsNullExpr{X: ident("singlesend_id"), Not: true}, query.OR,
			&query.IsNullExpr{X: ident("marketing_campaign_id"), Not: true}))
	case scopeLastN:
		ids = t.campaigns[:min(l.lastN, len(t.campaigns))]
	}
	if len(ids) == 0 {
		return boolean(false) // no campaign yet
	}
	list := make([]query.Expr, len(ids))
	for i, id := range ids {
		list[i] = strLit(id)
	}
	return paren(bin(
		&query.InExpr{X: ident("singlesend_id"), List: list}, query.OR,
		&query.InExpr{X: ident("marketing_campaign_id"), List: list}))
}

// ---- contact ----

// resolve finds a custom field in the account's catalogue.
func (t *translator) resolve(l *leaf) (contactField, error) {
	if !l.cf.custom {
		return l.cf, nil
	}
	if l.cf.uuid != "" {
		for _, f := range t.custom {
			if FieldUUID(f.ID) == l.cf.uuid {
				return contactField{name: f.Name, typ: f.Type, custom: true}, nil
			}
		}
		return contactField{}, errorf(join(l.path, "param"), "unknown custom field %q (no custom field of the account has this custom_field_id)", l.cf.uuid)
	}
	if t.cat != nil {
		if slot, ok := t.cat.Slot(l.cf.name); ok {
			f := t.custom[slot]
			return contactField{name: f.Name, typ: f.Type, custom: true}, nil
		}
	}
	return contactField{}, errorf(join(l.path, "field"), "unknown contact field %q (no such reserved or custom field)", query.Clip(l.field))
}

func (t *translator) contact(l *leaf) (query.Expr, error) {
	f, err := t.resolve(l)
	if err != nil {
		return nil, err
	}
	if err := l.typed(f.typ); err != nil {
		return nil, err
	}
	x := ident(f.name)
	switch l.op {
	case "is-empty":
		return &query.IsNullExpr{X: x}, nil
	case "is-not-empty":
		return &query.IsNullExpr{X: x, Not: true}, nil
	}
	switch f.typ {
	case query.Number:
		return numberCond(l, x), nil
	case query.Date:
		return dateCond(l, x), nil
	}
	return textCond(l, x), nil
}

// orUnset makes a negative condition hold for a contact without the value
// too ("state ne MD" includes contacts with no state), where SQL's NULL
// comparison alone would leave them out.
func orUnset(x, cond query.Expr) query.Expr {
	return paren(bin(&query.IsNullExpr{X: x}, query.OR, cond))
}

// textCond compares ignoring the case of ASCII letters: lower() on the
// field (which folds ASCII only) and the operand folded the same way.
func textCond(l *leaf, x query.Expr) query.Expr {
	v := asciiLower(l.text)
	lx := call("lower", x)
	like := func(pat string, not bool) query.Expr {
		return &query.LikeExpr{X: lx, Not: not, Pattern: strLit(pat)}
	}
	switch l.op {
	case "eq":
		return bin(lx, query.EQL, strLit(v))
	case "ne":
		return orUnset(x, bin(lx, query.NEQ, strLit(v)))
	case "contains":
		return like("%"+escapeLike(v)+"%", false)
	case "not-contains":
		return orUnset(x, like("%"+escapeLike(v)+"%", true))
	case "starts-with":
		return like(escapeLike(v)+"%", false)
	}
	return like("%"+escapeLike(v), false) // ends-with
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// escapeLike makes every character of s literal in a Segments 2.0 LIKE
// pattern.
func escapeLike(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '%' || c == '_' || c == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func numberCond(l *leaf, x query.Expr) query.Expr {
	var n query.Expr
	if v, neg := strings.CutPrefix(l.text, "-"); neg {
		n = &query.UnaryExpr{Op: query.SUB, X: numLit(v)}
	} else {
		n = numLit(v)
	}
	ops := map[string]query.Token{"eq": query.EQL, "ne": query.NEQ, "gt": query.GTR, "gte": query.GEQ, "lt": query.LSS, "lte": query.LEQ}
	cond := bin(x, ops[l.op], n)
	if l.op == "ne" {
		return orUnset(x, cond)
	}
	return cond
}

func numLit(v string) *query.BasicLit {
	if strings.Contains(v, ".") {
		return &query.BasicLit{Kind: query.FLOAT, Value: v}
	}
	return &query.BasicLit{Kind: query.INT, Value: v}
}

// dateCond: a day operand (YYYY-MM-DD) means the whole UTC day, so "after
// 2024-03-01" starts on March 2nd; an instant compares as it is.
func dateCond(l *leaf, x query.Expr) query.Expr {
	const day = 24 * int64(time.Hour/time.Millisecond)
	switch l.op {
	case "before":
		return bin(x, query.LSS, timeLit(l.date))
	case "after":
		if l.dated {
			return bin(x, query.GEQ, timeLit(l.date+day))
		}
		return bin(x, query.GTR, timeLit(l.date))
	case "on":
		return paren(bin(bin(x, query.GEQ, timeLit(l.date)), query.AND, bin(x, query.LSS, timeLit(l.date+day))))
	}
	// in-last-n-days: from N days ago up to now.
	return paren(bin(bin(x, query.GEQ, ago(l.days)), query.AND, bin(x, query.LEQ, call("current_timestamp"))))
}
