package console

import (
	"cmp"
	"net/http"
	"slices"
	"strings"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/criteria"
	"github.com/segmentd/segmentd/internal/ownapi"
	"github.com/segmentd/segmentd/query"
)

// criteriaForm is GET /console/api/criteria-form's answer: what the
// editor's Constant Contact criteria form offers, the account's custom
// fields, lists and tags by name with the ids a condition names them by,
// and the criteria package's fields and operators.
type criteriaForm struct {
	ContactFields  []formField         `json:"contact_fields"`
	CustomFields   []formField         `json:"custom_fields"`
	Operators      map[string][]string `json:"operators"` // by field type: text, number, date
	TrackingFields []string            `json:"tracking_fields"`
	Lists          []formChoice        `json:"lists"`
	Tags           []formChoice        `json:"tags"`
}

type formField struct {
	ID   string `json:"id,omitempty"` // a custom field's custom_field_id (criteria.FieldUUID)
	Name string `json:"name"`
	Type string `json:"type"` // text, number or date
}

type formChoice struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

var formTypes = map[query.FieldType]string{query.Text: "text", query.Number: "number", query.Date: "date"}

func (h *handler) criteriaForm(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	ctx, acct := r.Context(), p.Account.ID
	out := criteriaForm{ContactFields: []formField{}, CustomFields: []formField{}, Operators: map[string][]string{},
		TrackingFields: criteria.TrackingFields(), Lists: []formChoice{}, Tags: []formChoice{}}
	for _, f := range criteria.ContactFields() {
		out.ContactFields = append(out.ContactFields, formField{Name: f.Name, Type: formTypes[f.Type]})
	}
	for t, name := range formTypes {
		out.Operators[name] = criteria.ContactOps(t)
	}
	defs, err := h.Service.FieldDefinitions(ctx, acct)
	if err != nil {
		return err
	}
	for _, d := range defs {
		if !d.Reserved {
			out.CustomFields = append(out.CustomFields, formField{ID: criteria.FieldUUID(d.ID), Name: d.Name, Type: strings.ToLower(string(d.Type))})
		}
	}
	ls, err := h.allLists(ctx, acct)
	if err != nil {
		return err
	}
	for _, l := range ls {
		out.Lists = append(out.Lists, formChoice{ID: l.ID, Name: l.Name})
	}
	// An account holds at most segmentd.MaxTags tags: one page reads them all.
	tags, err := h.Service.Tags(ctx, acct, "", segmentd.MaxTags)
	if err != nil {
		return err
	}
	for _, t := range tags.Tags {
		out.Tags = append(out.Tags, formChoice{ID: t.ID, Name: t.Name})
	}
	byName := func(a, b formChoice) int { return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) }
	slices.SortStableFunc(out.Lists, byName)
	slices.SortStableFunc(out.Tags, byName)
	slices.SortStableFunc(out.CustomFields, func(a, b formField) int { return cmp.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	ownapi.WriteJSON(w, http.StatusOK, out)
	return nil
}
