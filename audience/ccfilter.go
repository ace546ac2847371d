package audience

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
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
	// Nobody leaves out the live contacts: the statuses asked for are
	// none a live contact has (every live contact is active: segmentd
	// keeps no consent state), or only deleted.
	Nobody bool
	// Deleted takes in the contacts Constant Contact's face deleted
	// (status deleted or all), which the other filters select by their
	// email, creation and deletion times; they are on no list.
	Deleted bool
}

// Empty reports whether f filters nothing: the live contacts, all of
// them.
func (f ContactFilter) Empty() bool {
	return !f.narrows() && !f.Nobody && !f.Deleted
}

// narrows reports whether f selects by a contact's fields.
func (f ContactFilter) narrows() bool {
	return f.Email != "" || len(f.Lists) > 0 || !f.UpdatedAfter.IsZero() || !f.UpdatedBefore.IsZero() ||
		!f.CreatedAfter.IsZero() || !f.CreatedBefore.IsZero()
}

// selectsDeleted reports whether f selects deleted contact d, whose
// updated_at is its deletion.
func (f ContactFilter) selectsDeleted(d segmentd.DeletedContact) bool {
	after := func(t, bound time.Time) bool { return bound.IsZero() || t.After(bound) }
	before := func(t, bound time.Time) bool { return bound.IsZero() || t.Before(bound) }
	return f.Deleted && (f.Email == "" || d.Email == f.Email) && len(f.Lists) == 0 &&
		after(d.DeletedAt, f.UpdatedAfter) && before(d.DeletedAt, f.UpdatedBefore) &&
		after(d.CreatedAt, f.CreatedAfter) && before(d.CreatedAt, f.CreatedBefore)
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
	cs, err := s.store.ContactsByIDs(s.readCtx(ctx), acct, page)
	if err == nil {
		cs, err = s.withSets(ctx, acct, cs, false, s.clock.Now())
	}
	if err != nil {
		return ContactPage{}, 0, err
	}
	return ContactPage{Contacts: cs, More: more}, len(ids), nil
}

// CountFiltered is how many contacts f selects.
func (s *Service) CountFiltered(ctx context.Context, acct int64, f ContactFilter) (int, error) {
	n := 0
	switch {
	case f.Nobody:
	case !f.narrows():
		var err error
		if n, err = s.CountContacts(ctx, acct); err != nil {
			return 0, err
		}
	default:
		_, k, err := s.members.Search(acct, f.sgql(), 0, s.clock.Now())
		if err != nil {
			return 0, err
		}
		n = k
	}
	if !f.Deleted {
		return n, nil
	}
	if !f.narrows() {
		k, err := s.store.CountDeletedContacts(ctx, acct)
		return n + k, err
	}
	ds, err := s.deletedSelected(ctx, acct, f, "", -1)
	return n + len(ds), err
}

// deletedPage is how many deleted contacts one read of the store takes.
const deletedPage = 500

// deletedSelected returns the deleted contacts f selects, in id order
// after the id after, up to limit of them (-1: all).
func (s *Service) deletedSelected(ctx context.Context, acct int64, f ContactFilter, after string, limit int) ([]segmentd.DeletedContact, error) {
	var out []segmentd.DeletedContact
	for limit < 0 || len(out) < limit {
		ds, err := s.store.DeletedContacts(ctx, acct, after, deletedPage)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			if f.selectsDeleted(d) && (limit < 0 || len(out) < limit) {
				out = append(out, d)
			}
		}
		if len(ds) < deletedPage {
			break
		}
		after = ds[len(ds)-1].ID
	}
	return out, nil
}

// CCContacts is GET /v3/contacts without segment_id or tags: the contacts
// f selects, live and deleted, in id order after the id after, up to
// limit of them. deletedAt holds, for each deleted contact of the page
// (shown as what is kept of it), the time it was deleted.
func (s *Service) CCContacts(ctx context.Context, acct int64, f ContactFilter, after string, limit int) (page ContactPage, deletedAt map[string]time.Time, err error) {
	switch {
	case f.Nobody:
	case !f.narrows():
		page, err = s.ScanContacts(ctx, acct, after, limit)
	default:
		page, _, err = s.FilterContacts(ctx, acct, f, after, limit)
	}
	if err != nil || !f.Deleted {
		return page, nil, err
	}
	ds, err := s.deletedSelected(ctx, acct, f, after, limit+1)
	if err != nil || len(ds) == 0 {
		return page, nil, err
	}
	deletedAt = make(map[string]time.Time, len(ds))
	for _, d := range ds {
		page.Contacts = append(page.Contacts, DeletedAsContact(d))
		deletedAt[d.ID] = d.DeletedAt
	}
	slices.SortFunc(page.Contacts, func(a, b segmentd.Contact) int { return strings.Compare(a.ID, b.ID) })
	if len(page.Contacts) > limit {
		page.Contacts, page.More = page.Contacts[:limit], true
	}
	return page, deletedAt, nil
}
