package sendgrid

import (
	"context"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/segmentd/segmentd"
)

// Lists: tsg_mc_lists_v3, docs/sendgrid.md "Lists".
//
// Every 404 here is {"errors":[…]}. The spec gives three shapes (a bare
// array on GET, {} on PATCH and count, {"errors":[…]} on DELETE;
// docs/sendgrid.md "Spec contradictions" 7); the errors object is the one
// SendGrid uses everywhere else and satisfies the {} schemas too.

type listRequest struct {
	Name *string `json:"name"`
}

type listResponse struct {
	ID           string       `json:"id"`
	Name         string       `json:"name"`
	ContactCount int          `json:"contact_count"`
	Metadata     selfMetadata `json:"_metadata"`
	// ContactSample is an array of up to 50 contacts although the spec
	// types it as one contact: its description says "up to 50" and clients
	// treat it as an array (docs/sendgrid.md "Spec contradictions" 3).
	ContactSample *[]contactResponse `json:"contact_sample,omitempty"`
}

type pageMetadata struct {
	Prev  string `json:"prev,omitempty"`
	Self  string `json:"self"`
	Next  string `json:"next,omitempty"`
	Count int    `json:"count"`
}

type listPageResponse struct {
	Result   []listResponse `json:"result"`
	Metadata pageMetadata   `json:"_metadata"`
}

type jobIDResponse struct {
	JobID string `json:"job_id"`
}

type listCountResponse struct {
	ContactCount  int `json:"contact_count"`
	BillableCount int `json:"billable_count"`
}

func (h *handler) listJSON(r *http.Request, l segmentd.List) listResponse {
	return listResponse{ID: l.ID, Name: l.Name, ContactCount: l.ContactCount,
		Metadata: selfMetadata{Self: h.baseURL(r) + "/v3/marketing/lists/" + l.ID}}
}

func (h *handler) createList(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var req listRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return invalid("name", "name is required")
	}
	l, err := h.svc.CreateList(r.Context(), acct.ID, *req.Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, h.listJSON(r, l))
}

func (h *handler) listLists(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	pageSize := segmentd.DefaultListPageSize
	if v := r.URL.Query().Get("page_size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > segmentd.MaxListPageSize {
			return invalid("page_size", "page_size must be an integer between 1 and %d", segmentd.MaxListPageSize)
		}
		pageSize = n
	}
	token := r.URL.Query().Get("page_token")
	page, err := h.svc.Lists(r.Context(), acct.ID, token, pageSize)
	if err != nil {
		return err
	}
	pageURL := func(tok string) string {
		// SendGrid's own example keeps an empty page_token in the link.
		return h.baseURL(r) + "/v3/marketing/lists?page_size=" + strconv.Itoa(pageSize) + "&page_token=" + url.QueryEscape(tok)
	}
	resp := listPageResponse{Result: make([]listResponse, 0, len(page.Lists)),
		Metadata: pageMetadata{Self: pageURL(token), Count: page.Total}}
	for _, l := range page.Lists {
		resp.Result = append(resp.Result, h.listJSON(r, l))
	}
	if page.Next != "" {
		resp.Metadata.Next = pageURL(page.Next)
	}
	if token != "" {
		prev, ok, err := h.prevListToken(r.Context(), acct.ID, token, pageSize)
		if err != nil {
			return err
		}
		if ok {
			resp.Metadata.Prev = pageURL(prev)
		}
	}
	return writeJSON(w, http.StatusOK, resp)
}

// prevListToken finds the token of the page before the one after token. The
// service pages forward only, so it walks the account's list ids (accounts
// have few lists). ok is false when the page is already the first.
func (h *handler) prevListToken(ctx context.Context, acct int64, token string, pageSize int) (prev string, ok bool, err error) {
	var ids []string
	after := ""
	for {
		page, err := h.svc.Lists(ctx, acct, after, segmentd.MaxListPageSize)
		if err != nil {
			return "", false, err
		}
		for _, l := range page.Lists {
			ids = append(ids, l.ID)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	// The page after token starts at the first id greater than token.
	start := sort.Search(len(ids), func(i int) bool { return ids[i] > token })
	if start == 0 {
		return "", false, nil
	}
	if p := start - pageSize; p > 0 {
		return ids[p-1], true, nil
	}
	return "", true, nil
}

func (h *handler) getList(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := pathUUID(r, "id", "list")
	if err != nil {
		return err
	}
	sample, err := queryBool(r, "contact_sample", false)
	if err != nil {
		return err
	}
	l, contacts, err := h.svc.List(r.Context(), acct.ID, id, sample)
	if err != nil {
		return err
	}
	resp := h.listJSON(r, l)
	if sample {
		cr, err := h.renderer(r.Context(), r, acct.ID)
		if err != nil {
			return err
		}
		cs := cr.renderAll(contacts)
		resp.ContactSample = &cs
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (h *handler) renameList(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := pathUUID(r, "id", "list")
	if err != nil {
		return err
	}
	var req listRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return invalid("name", "name is required")
	}
	l, err := h.svc.RenameList(r.Context(), acct.ID, id, *req.Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, h.listJSON(r, l))
}

// deleteList answers 204, or 200 with a job id when delete_contacts=true
// (the contacts are deleted by that job; SendGrid's status codes).
func (h *handler) deleteList(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := pathUUID(r, "id", "list")
	if err != nil {
		return err
	}
	deleteContacts, err := queryBool(r, "delete_contacts", false)
	if err != nil {
		return err
	}
	jobID, err := h.svc.DeleteList(r.Context(), acct.ID, id, deleteContacts)
	if err != nil {
		return err
	}
	if !deleteContacts {
		return noContent(w)
	}
	return writeJSON(w, http.StatusOK, jobIDResponse{jobID})
}

// removeListContacts answers 202 with a job id; its 400 is E2-bare.
func (h *handler) removeListContacts(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := pathUUID(r, "id", "list")
	if err != nil {
		return err
	}
	ids := queryList(r, "contact_ids")
	if len(ids) == 0 {
		return invalid("contact_ids", "contact_ids is required")
	}
	for i, id := range ids {
		ids[i] = strings.ToLower(id) // segmentd's ids are lower-case; UUIDs are case-insensitive
	}
	jobID, err := h.svc.RemoveListContacts(r.Context(), acct.ID, id, ids)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, jobIDResponse{jobID})
}

// listContactCount answers the list's contact count. segmentd bills nothing,
// so billable_count is every contact on the list.
func (h *handler) listContactCount(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := pathUUID(r, "id", "list")
	if err != nil {
		return err
	}
	n, err := h.svc.ListContactCount(r.Context(), acct.ID, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, listCountResponse{ContactCount: n, BillableCount: n})
}
