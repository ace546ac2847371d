package audience

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
)

// ContactFilter is what Constant Contact's GET /v3/contacts filters by
// (docs/constantcontact.md "Members: GET /v3/contacts"). The zero value
// filters nothing.
type ContactFilter struct {
	Email string   // the contact's email address, lower-cased
	Lists []string // on any of these lists
	// UpdatedAfter, … bound the contact's timestamps, each exclusive;
	// zero: unbounded.
	UpdatedAfter, UpdatedBefore time.Time
	CreatedAfter, CreatedBefore time.Time
	// Nobody is a status no contact of segmentd's has (every contact is
	// active: segmentd keeps no consent state).
	Nobody bool
}

// Empty reports whether f filters nothing.
func (f ContactFilter) Empty() bool {
	return f.Email == "" && len(f.Lists) == 0 && f.UpdatedAfter.IsZero() && f.UpdatedBefore.IsZero() &&
		f.CreatedAfter.IsZero() && f.CreatedBefore.IsZero() && !f.Nobody
}

// sgql is the filter as an SGQL contacts-search predicate, which the
// engine evaluates over the account's contacts.
func (f ContactFilter) sgql() string {
	var terms []string
	if f.Email != "" {
		terms = append(terms, "email = "+sgqlString(f.Email))
	}
	if len(f.Lists) > 0 {
		var or []string
		for _, l := range f.Lists {
			or = append(or, "CONTAINS(list_ids, "+sgqlString(l)+")")
		}
		terms = append(terms, "("+strings.Join(or, " OR ")+")")
	}
	for _, b := range []struct {
		field, op string
		t         time.Time
	}{{"updated_at", ">", f.UpdatedAfter}, {"updated_at", "<", f.UpdatedBefore}, {"created_at", ">", f.CreatedAfter}, {"created_at", "<", f.CreatedBefore}} {
		if !b.t.IsZero() {
			terms = append(terms, b.field+" "+b.op+" TIMESTAMP "+sgqlString(b.t.UTC().Format(time.RFC3339Nano)))
		}
	}
	return strings.Join(terms, " AND ")
}

// sgqlString quotes s as an SGQL string literal.
func sgqlString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(s) + "'"
}

// FilterContacts returns the account's contacts that f selects, in id
// order after the id after ("" to start), up to limit of them, and how
// many f selects in all. The engine answers which contacts match, exact as
// of the request; the page is read from the store.
func (s *Service) FilterContacts(ctx context.Context, acct int64, f ContactFilter, after string, limit int) (ContactPage, int, error) {
	if f.Nobody {
		return ContactPage{}, 0, nil
	}
	if s.members == nil {
		return ContactPage{}, 0, errors.New("segmentd: contact filters need the membership engine")
	}
	ids, _, err := s.members.Search(acct, f.sgql(), -1, s.clock.Now())
	if err != nil {
		return ContactPage{}, 0, err
	}
	slices.Sort(ids)
	start, _ := slices.BinarySearch(ids, after)
	if start < len(ids) && ids[start] == after {
		start++
	}
	page := ids[start:]
	more := len(page) > limit
	if more {
		page = page[:limit]
	}
	cs, err := s.store.ContactsByIDs(ctx, acct, page)
	if err != nil {
		return ContactPage{}, 0, err
	}
	return ContactPage{Contacts: cs, More: more}, len(ids), nil
}

// CountFiltered is how many contacts f selects.
func (s *Service) CountFiltered(ctx context.Context, acct int64, f ContactFilter) (int, error) {
	if f.Empty() {
		return s.CountContacts(ctx, acct)
	}
	if f.Nobody {
		return 0, nil
	}
	_, n, err := s.members.Search(acct, f.sgql(), 0, s.clock.Now())
	return n, err
}
