package sendgrid

import (
	"net/http"

	"github.com/segmentd/segmentd"
)

// Contacts search: POST /v3/marketing/contacts/search (tsg_mc_contacts_v3,
// docs/sendgrid.md "Contacts"). The body is {"query": SGQL}; the answer
// holds the first 50 matches and the number of all matches. A query that
// does not parse or check is 400 on "query" with the positioned message
// ("1:7: …"); a search the service cuts off (20 s, as SendGrid
// documents) is 408.

type searchRequest struct {
	Query *string `json:"query"`
}

type sgqlSearchResponse struct {
	Result       []contactResponse `json:"result"`
	ContactCount int               `json:"contact_count"`
	Metadata     selfMetadata      `json:"_metadata"`
}

func (h *handler) searchContacts(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var req searchRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Query == nil {
		return invalid("query", "query is required")
	}
	cs, n, err := h.svc.SearchContacts(r.Context(), acct.ID, *req.Query)
	if err != nil {
		return err
	}
	cr, err := h.renderer(r.Context(), r, acct.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sgqlSearchResponse{Result: cr.renderAll(cs), ContactCount: n,
		Metadata: selfMetadata{Self: cr.base + "/v3/marketing/contacts/search"}})
}
