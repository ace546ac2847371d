package sendgrid

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/segmentd/segmentd"
)

// Contacts (except upsert, in upsert.go): tsg_mc_contacts_v3,
// docs/sendgrid.md "Contacts".

type sampleResponse struct {
	Result       []contactResponse `json:"result"`
	Metadata     selfMetadata      `json:"_metadata"`
	ContactCount int               `json:"contact_count"`
}

// sampleContacts returns up to 50 recent contacts sorted by email and the
// account's contact count.
func (h *handler) sampleContacts(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	cs, n, err := h.svc.SampleContacts(r.Context(), acct.ID)
	if err != nil {
		return err
	}
	cr, err := h.renderer(r.Context(), r, acct.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, sampleResponse{Result: cr.renderAll(cs),
		Metadata: selfMetadata{Self: cr.base + "/v3/marketing/contacts"}, ContactCount: n})
}

func (h *handler) getContact(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := pathUUID(r, "id", "contact")
	if err != nil {
		return err
	}
	c, err := h.svc.Contact(r.Context(), acct.ID, id)
	if err != nil {
		return err
	}
	cr, err := h.renderer(r.Context(), r, acct.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, cr.render(c))
}

type batchRequest struct {
	IDs []string `json:"ids"`
}

type batchResponse struct {
	Result []contactResponse `json:"result"`
}

// batchContacts returns the contacts that exist among up to 100 ids, in the
// order asked; ids that name no contact (malformed ones included) are left
// out, and 404 answers when none exists. More than 100 ids is 400, which the
// spec does not list but is how SendGrid refuses over-limit input.
func (h *handler) batchContacts(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var req batchRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	ids := make([]string, len(req.IDs))
	for i, id := range req.IDs {
		ids[i] = strings.ToLower(strings.TrimSpace(id))
	}
	cs, err := h.svc.ContactsByIDs(r.Context(), acct.ID, ids)
	if err != nil {
		return err
	}
	if len(cs) == 0 {
		return notFound("ids", "no contacts found for the given ids")
	}
	cr, err := h.renderer(r.Context(), r, acct.ID)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, batchResponse{Result: cr.renderAll(cs)})
}

// searchResult is one entry of a search-by-emails or by-identifiers result:
// the contact, or SendGrid's "contact not found" for a miss.
type searchResult struct {
	Contact *contactResponse `json:"contact,omitempty"`
	Error   string           `json:"error,omitempty"`
}

type searchResponse struct {
	Result map[string]searchResult `json:"result"`
}

type searchEmailsRequest struct {
	Emails []string `json:"emails"`
	// Accepted as the spec documents them; SendGrid does not say what they
	// do in an email search, and segmentd ignores them.
	PhoneNumberID string `json:"phone_number_id"`
	ExternalID    string `json:"external_id"`
	AnonymousID   string `json:"anonymous_id"`
}

// searchEmails matches emails and alternate emails case-insensitively: 200
// with an error entry per miss, 404 when nothing matches, 400 when any
// address is malformed (E1 for both).
func (h *handler) searchEmails(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var req searchEmailsRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Emails == nil {
		return invalid("emails", "emails is required")
	}
	keys, found, err := h.svc.ContactsByEmails(r.Context(), acct.ID, req.Emails)
	if err != nil {
		return err
	}
	return h.writeSearch(w, r, acct.ID, keys, found)
}

type searchIdentifiersRequest struct {
	Identifiers []string `json:"identifiers"`
}

// searchIdentifiers looks contacts up by one identifier type. Its 400 and
// 404 are E2-bare (see the route table).
func (h *handler) searchIdentifiers(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	t := segmentd.IdentifierType(r.PathValue("identifier_type"))
	known := false
	for _, k := range segmentd.Identifiers {
		known = known || k == t
	}
	if !known {
		return invalid("identifier_type", "identifier_type must be one of email, phone_number_id, external_id, anonymous_id")
	}
	var req searchIdentifiersRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Identifiers == nil {
		return invalid("identifiers", "identifiers is required")
	}
	values := append([]string(nil), req.Identifiers...)
	found, err := h.svc.ContactsByIdentifier(r.Context(), acct.ID, t, values)
	if err != nil {
		return err
	}
	// The service normalises values in place (emails lower-cased); results
	// are keyed by the normalised value.
	return h.writeSearch(w, r, acct.ID, values, found)
}

func (h *handler) writeSearch(w http.ResponseWriter, r *http.Request, acct int64, keys []string, found map[string]segmentd.Contact) error {
	if len(found) == 0 {
		return notFound("", "no contacts found")
	}
	cr, err := h.renderer(r.Context(), r, acct)
	if err != nil {
		return err
	}
	resp := searchResponse{Result: make(map[string]searchResult, len(keys))}
	for _, k := range keys {
		if c, ok := found[k]; ok {
			rc := cr.render(c)
			resp.Result[k] = searchResult{Contact: &rc}
		} else {
			resp.Result[k] = searchResult{Error: msgContactNotFound}
		}
	}
	return writeJSON(w, http.StatusOK, resp)
}

type countResponse struct {
	ContactCount  int                `json:"contact_count"`
	BillableCount int                `json:"billable_count"`
	Breakdown     *billableBreakdown `json:"billable_breakdown,omitempty"`
}

type billableBreakdown struct {
	Total     int            `json:"total"`
	Breakdown map[string]int `json:"breakdown"`
}

// countContacts answers the account's contact count. segmentd bills
// nothing, so billable_count is every contact; billable_breakdown appears
// only for a parent account with subusers, as SendGrid documents.
func (h *handler) countContacts(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	n, err := h.svc.CountContacts(r.Context(), acct.ID)
	if err != nil {
		return err
	}
	resp := countResponse{ContactCount: n, BillableCount: n}
	subs, err := h.svc.SubuserContactCounts(r.Context(), acct.ID)
	if err != nil {
		return err
	}
	if len(subs) > 0 {
		resp.Breakdown = &billableBreakdown{Breakdown: map[string]int{}}
		for id, sub := range subs {
			resp.Breakdown.Breakdown[strconv.FormatInt(id, 10)] = sub
			resp.Breakdown.Total += sub
		}
	}
	return writeJSON(w, http.StatusOK, resp)
}

// deleteContacts deletes by ids or all (exactly one) in a job: 202 with
// job_id as a string, although the spec types it as an object
// (docs/sendgrid.md "Spec contradictions" 1).
func (h *handler) deleteContacts(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	ids := queryList(r, "ids")
	all := false
	if v := r.URL.Query().Get("delete_all_contacts"); v != "" {
		// SendGrid: "Must be set to "true" to delete all contacts."
		if v != "true" {
			return invalid("delete_all_contacts", `delete_all_contacts must be "true" when given`)
		}
		all = true
	}
	if len(ids) > 0 && all {
		return invalid("ids", "give either ids or delete_all_contacts=true, not both")
	}
	if len(ids) == 0 && !all {
		return invalid("ids", "one of ids or delete_all_contacts=true is required")
	}
	for i, id := range ids {
		ids[i] = strings.ToLower(id)
	}
	jobID, err := h.svc.DeleteContacts(r.Context(), acct.ID, ids, all)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, jobIDResponse{jobID})
}

type deleteIdentifierRequest struct {
	IdentifierType  *string `json:"identifier_type"`
	IdentifierValue *string `json:"identifier_value"`
}

// identifierTypes maps the request's upper-case names (this endpoint's
// spelling) to the identifier types.
var identifierTypes = map[string]segmentd.IdentifierType{
	"EMAIL":         segmentd.IdentifierEmail,
	"PHONENUMBERID": segmentd.IdentifierPhoneNumberID,
	"EXTERNALID":    segmentd.IdentifierExternalID,
	"ANONYMOUSID":   segmentd.IdentifierAnonymousID,
}

// deleteIdentifier removes one identifier from a contact in a job (202).
// Removing the contact's last identifier fails the job, not the request, as
// SendGrid describes.
func (h *handler) deleteIdentifier(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := pathUUID(r, "contact_id", "contact")
	if err != nil {
		return err
	}
	var req deleteIdentifierRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.IdentifierType == nil {
		return invalid("identifier_type", "identifier_type is required")
	}
	t, ok := identifierTypes[*req.IdentifierType]
	if !ok {
		return invalid("identifier_type", `identifier_type must be one of "EMAIL", "PHONENUMBERID", "EXTERNALID", "ANONYMOUSID"`)
	}
	if req.IdentifierValue == nil || *req.IdentifierValue == "" {
		return invalid("identifier_value", "identifier_value is required")
	}
	jobID, err := h.svc.DeleteIdentifier(r.Context(), acct.ID, id, t, *req.IdentifierValue)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, jobIDResponse{jobID})
}

// jobResponse is SendGrid's ContactImport.
type jobResponse struct {
	ID         string     `json:"id"`
	Status     string     `json:"status"`
	JobType    string     `json:"job_type"`
	Results    jobResults `json:"results"`
	StartedAt  string     `json:"started_at"`
	FinishedAt string     `json:"finished_at,omitempty"`
}

// jobResults carries the counts that fit the job type, as SendGrid's
// description says. An import's rows that failed are in the file
// errors_url names, as at SendGrid; an upsert's or a delete's per-item
// errors, and the reason an import failed as a whole, are listed inline
// as errors, a segmentd extension the schema allows.
type jobResults struct {
	RequestedCount int                 `json:"requested_count"`
	CreatedCount   *int                `json:"created_count,omitempty"`
	UpdatedCount   *int                `json:"updated_count,omitempty"`
	DeletedCount   *int                `json:"deleted_count,omitempty"`
	ErroredCount   int                 `json:"errored_count"`
	ErrorsURL      string              `json:"errors_url,omitempty"`
	Errors         []segmentd.JobError `json:"errors,omitempty"`
}

// getJob reports an upsert or delete job. A malformed id is 400 (the one
// client error the spec gives this endpoint for its only input), an unknown
// one 404. The 400 body is {"errors":[…]} although the spec types errors as
// one object here (docs/sendgrid.md "Spec contradictions" 8): every other
// SendGrid 400 is an array, and that is what clients parse.
func (h *handler) getJob(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id := r.PathValue("id")
	if !segmentd.IsUUID(id) {
		return invalid("id", "job id %s is not a valid UUID", segmentd.Quote(id))
	}
	j, err := h.svc.Job(r.Context(), acct.ID, strings.ToLower(id))
	if err != nil {
		return err
	}
	resp := jobResponse{ID: j.ID, Status: string(j.Status), JobType: string(j.Type),
		Results:   jobResults{RequestedCount: j.Requested, ErroredCount: j.Errored, Errors: j.Errors},
		StartedAt: timestamp(j.StartedAt)}
	if j.Type == segmentd.JobUpsert {
		resp.Results.CreatedCount, resp.Results.UpdatedCount = &j.Created, &j.Updated
		if j.Errored > 0 && j.Status != segmentd.JobPending {
			if token, ok := h.svc.ImportErrorsToken(r.Context(), acct.ID, j.ID); ok {
				resp.Results.ErrorsURL = h.baseURL(r) + importUploadPath(segmentd.Import{AccountID: acct.ID, Token: token}) + "/" + importErrorsFile
			}
		}
	} else {
		resp.Results.DeletedCount = &j.Deleted
	}
	if !j.FinishedAt.IsZero() {
		resp.FinishedAt = timestamp(j.FinishedAt)
	}
	return writeJSON(w, http.StatusOK, resp)
}
