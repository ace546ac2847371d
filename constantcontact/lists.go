package constantcontact

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/segmentd/segmentd"
)

// contactList is the spec's ContactList (and, without membership_count,
// ContactListPutPost): one of the lists SendGrid's face manages too.
type contactList struct {
	ListID          string `json:"list_id"`
	Name            string `json:"name"`
	Description     string `json:"description,omitempty"`
	Favorite        bool   `json:"favorite"`
	CreatedAt       string `json:"created_at"`
	UpdatedAt       string `json:"updated_at"`
	MembershipCount *int   `json:"membership_count,omitempty"`
}

// contactListsPage is the spec's ContactListArray.
type contactListsPage struct {
	Lists      []contactList `json:"lists"`
	ListsCount *int          `json:"lists_count,omitempty"`
	Links      *nextLinks    `json:"_links,omitempty"`
}

// listInput is ListInput, the body of POST and PUT.
type listInput struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Favorite    *bool   `json:"favorite"`
}

func (in listInput) check() error {
	if in.Name == nil {
		return invalid("name", "name is required")
	}
	return nil
}

// list is the list the body describes; a description or favorite left
// out is cur's (PUT keeps them; POST starts from none).
func (in listInput) list(cur segmentd.List) segmentd.List {
	cur.Name = *in.Name
	if in.Description != nil {
		cur.Description = *in.Description
	}
	if in.Favorite != nil {
		cur.Favorite = *in.Favorite
	}
	return cur
}

// Page sizes of GET /v3/contact_lists: the spec's parameter allows 1–1000
// (its text says 500), default 50. segmentd takes the parameter's bounds.
const (
	defaultListsLimit = 50
	maxListsLimit     = segmentd.MaxListPageSize
)

func renderList(l segmentd.List, withCount bool) contactList {
	out := contactList{ListID: l.ID, Name: l.Name, Description: l.Description, Favorite: l.Favorite, CreatedAt: timestamp(l.CreatedAt), UpdatedAt: timestamp(l.UpdatedAt)}
	if withCount {
		n := l.ContactCount
		out.MembershipCount = &n
	}
	return out
}

// listsQuery is what a GET /v3/contact_lists page reads; the cursor
// carries it to the next page.
type listsQuery struct {
	after      string // the last list id shown
	limit      int
	count      bool // include_count
	membership bool // include_membership_count

	// Filters, which select at most one page (no cursor carries them):
	name        string // the list of this full name, ignoring case
	deletedOnly bool   // status=deleted: segmentd keeps no deleted lists
}

// unsupportedListsParams are GET /v3/contact_lists filters segmentd does
// not serve: 400 rather than lists the caller did not ask for.
var unsupportedListsParams = []string{"channel_type", "include_sms_membership_count"}

// maxListNameLength is the spec's ListInput bound on a name, which the
// name filter takes too.
const maxListNameLength = 255

func (h *handler) listLists(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	q, err := readListsQuery(r)
	if err != nil {
		return err
	}
	if q.deletedOnly || q.name != "" {
		return h.filteredLists(w, r, acct, q)
	}
	page, err := h.svc.Lists(r.Context(), acct.ID, q.after, q.limit)
	if err != nil {
		return err
	}
	out := contactListsPage{Lists: make([]contactList, 0, len(page.Lists))}
	for _, l := range page.Lists {
		out.Lists = append(out.Lists, renderList(l, q.membership))
	}
	if q.count {
		out.ListsCount = &page.Total
	}
	if page.Next != "" {
		next := q
		next.after = page.Next
		out.Links = &nextLinks{Next: link{Href: "/v3/contact_lists?cursor=" + next.encode()}}
	}
	return writeJSON(w, http.StatusOK, out)
}

// filteredLists answers the name and status filters: the one list of that
// name (names are unique ignoring case, in both faces), or none for
// status=deleted, since a deleted list is gone at once (Constant Contact
// keeps deleted lists for a while; segmentd does not).
func (h *handler) filteredLists(w http.ResponseWriter, r *http.Request, acct segmentd.Account, q listsQuery) error {
	out := contactListsPage{Lists: []contactList{}}
	for after := ""; !q.deletedOnly; {
		page, err := h.svc.Lists(r.Context(), acct.ID, after, maxListsLimit)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(page.Lists, func(l segmentd.List) bool { return strings.EqualFold(l.Name, q.name) })
		if i >= 0 {
			out.Lists = append(out.Lists, renderList(page.Lists[i], q.membership))
			break
		}
		if after = page.Next; after == "" {
			break
		}
	}
	if q.count {
		n := len(out.Lists)
		out.ListsCount = &n
	}
	return writeJSON(w, http.StatusOK, out)
}

func readListsQuery(r *http.Request) (listsQuery, error) {
	v := r.URL.Query()
	for _, p := range unsupportedListsParams {
		if v.Has(p) {
			return listsQuery{}, invalid(p, "segmentd does not support the %s parameter of GET /v3/contact_lists (it serves limit, include_count, include_membership_count, name, status and cursor)", p)
		}
	}
	name := v.Get("name")
	if v.Has("name") && (strings.TrimSpace(name) == "" || len([]rune(name)) > maxListNameLength) {
		return listsQuery{}, invalid("name", "name must be a list's full name, 1 to %d characters, not %s", maxListNameLength, segmentd.Quote(name))
	}
	deletedOnly, err := readListsStatus(v)
	if err != nil {
		return listsQuery{}, err
	}
	q, err := readListsPage(r)
	q.name, q.deletedOnly = name, deletedOnly
	return q, err
}

// readListsStatus reads status, comma-separated values among all, active
// and deleted, and says whether it selects deleted lists only.
func readListsStatus(v url.Values) (deletedOnly bool, err error) {
	if !v.Has("status") {
		return false, nil
	}
	deletedOnly = true
	for _, s := range strings.Split(v.Get("status"), ",") {
		switch strings.TrimSpace(s) {
		case "all", "active":
			deletedOnly = false
		case "deleted":
		default:
			return false, invalid("status", "status must be all, active or deleted (comma-separated), not %s", segmentd.Quote(s))
		}
	}
	return deletedOnly, nil
}

// readListsPage reads the paging of GET /v3/contact_lists: a cursor, or
// the first page's parameters.
func readListsPage(r *http.Request) (listsQuery, error) {
	v := r.URL.Query()
	q := listsQuery{limit: defaultListsLimit}
	if c := v.Get("cursor"); c != "" {
		var err error
		if q, err = decodeListsCursor(c); err != nil {
			return q, err
		}
	} else {
		var err error
		if s := v.Get("include_count"); s != "" {
			if q.count, err = strconv.ParseBool(s); err != nil {
				return q, invalid("include_count", "include_count must be true or false, not %s", segmentd.Quote(s))
			}
		}
		if q.membership, err = readMembershipCount(r); err != nil {
			return q, err
		}
	}
	limit, err := queryInt(r, "limit", q.limit, 1, maxListsLimit)
	q.limit = limit
	return q, err
}

// readMembershipCount reads include_membership_count: all or active, which
// count the same contacts, since segmentd keeps no consent state and every
// contact is active (mailable).
func readMembershipCount(r *http.Request) (bool, error) {
	switch s := r.URL.Query().Get("include_membership_count"); s {
	case "":
		return false, nil
	case "all", "active":
		return true, nil
	default:
		return false, invalid("include_membership_count", "include_membership_count must be all or active, not %s", segmentd.Quote(s))
	}
}

// The /v3/contact_lists cursor is base64url of the query and the last
// list id shown (lists page in id order, a keyset).
func (q listsQuery) encode() string {
	v := url.Values{"after": {q.after}, "limit": {strconv.Itoa(q.limit)}}
	if q.count {
		v.Set("include_count", "true")
	}
	if q.membership {
		v.Set("include_membership_count", "all")
	}
	return base64.RawURLEncoding.EncodeToString([]byte(v.Encode()))
}

func decodeListsCursor(c string) (listsQuery, error) {
	bad := invalid("cursor", msgBadCursor)
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return listsQuery{}, bad
	}
	v, err := url.ParseQuery(string(raw))
	if err != nil {
		return listsQuery{}, bad
	}
	q := listsQuery{after: v.Get("after"), count: v.Get("include_count") == "true", membership: v.Get("include_membership_count") == "all"}
	if q.limit, err = strconv.Atoi(v.Get("limit")); err != nil || q.limit < 1 || q.limit > maxListsLimit || !segmentd.IsUUID(q.after) {
		return listsQuery{}, bad
	}
	return q, nil
}

// listID reads the path's list_id, a UUID (the route's kind), in the
// lower case segmentd stores ids in.
func listID(r *http.Request) (string, error) {
	return strings.ToLower(r.PathValue("list_id")), nil
}

func (h *handler) createList(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var in listInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	l, err := h.svc.CreateCCList(r.Context(), acct.ID, in.list(segmentd.List{}))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, renderList(l, false))
}

func (h *handler) getList(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := listID(r)
	if err != nil {
		return err
	}
	withCount, err := readMembershipCount(r)
	if err != nil {
		return err
	}
	l, _, err := h.svc.List(r.Context(), acct.ID, id, false)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, renderList(l, withCount))
}

// updateList is PUT: the name (required) replaces the list's, and the
// description and favorite flag when given.
func (h *handler) updateList(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := listID(r)
	if err != nil {
		return err
	}
	var in listInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if err := in.check(); err != nil {
		return err
	}
	cur, _, err := h.svc.List(r.Context(), acct.ID, id, false)
	if err != nil {
		return err
	}
	l, err := h.svc.UpdateCCList(r.Context(), acct.ID, in.list(cur))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, renderList(l, false))
}

// listDeleteActivity is the spec's ActivityDeleteListResponse.
type listDeleteActivity struct {
	ActivityID     string        `json:"activity_id"`
	State          string        `json:"state"`
	CreatedAt      string        `json:"created_at"`
	UpdatedAt      string        `json:"updated_at"`
	PercentDone    int           `json:"percent_done"`
	ActivityErrors []string      `json:"activity_errors"`
	Links          activityLinks `json:"_links"`
}

// deleteList is DELETE: Constant Contact's list_delete activity, 202. The
// list and its memberships are gone when segmentd answers, so the
// activity reads completed at once.
func (h *handler) deleteList(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := listID(r)
	if err != nil {
		return err
	}
	j, err := h.svc.DeleteCCList(r.Context(), acct.ID, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, listDeleteActivity{
		ActivityID: j.ID, State: activityState(j), CreatedAt: timestamp(j.StartedAt), UpdatedAt: timestamp(j.FinishedAt),
		PercentDone: 100, ActivityErrors: []string{}, Links: activityLinks{Self: link{Href: "/v3/activities/" + j.ID}},
	})
}
