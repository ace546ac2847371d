package console

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/jsoncheck"
	"github.com/segmentd/segmentd/internal/ownapi"
)

// previewSample is how many matching contacts a preview shows.
const previewSample = 10

// decode reads a JSON body of at most MaxBody bytes, checked by
// jsoncheck's rules, into v.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		return segmentd.Errorf(segmentd.KindTooLarge, "", "the request body must be at most %d bytes", MaxBody)
	}
	kind, err := jsoncheck.CheckFolded(b)
	if err != nil {
		return segmentd.Errorf(segmentd.KindInvalid, "", "%s", err.Error())
	}
	if kind != jsoncheck.Object {
		return segmentd.Errorf(segmentd.KindInvalid, "", "the request body must be a JSON object")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return segmentd.Errorf(segmentd.KindInvalid, "", "the request body does not match the expected shape")
	}
	return nil
}

// completions is what the editor completes: the account's fields
// (reserved and custom), event_data's columns, the tables, and the
// account's lists.
type completions struct {
	Fields       []completionField `json:"fields"`
	EventColumns []string          `json:"event_columns"`
	Tables       []string          `json:"tables"`
	Lists        []completionList  `json:"lists"`
}

type completionField struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Custom bool   `json:"custom"`
}

type completionList struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// identifierFields are the contact columns a query may name besides the
// reserved fields: the other identifiers and the lists
// (docs/query-language.md).
var identifierFields = []segmentd.FieldDefinition{
	{Name: "phone_number_id", Type: segmentd.FieldText, Reserved: true},
	{Name: "external_id", Type: segmentd.FieldText, Reserved: true},
	{Name: "anonymous_id", Type: segmentd.FieldText, Reserved: true},
	{Name: "list_ids", Type: "Array", Reserved: true},
}

// eventColumns are Segments 2.0's event_data columns
// (docs/query-language.md).
var eventColumns = []string{"contact_id", "event_source", "event_type", "event_timestamp", "singlesend_id", "automation_id", "marketing_campaign_id", "url"}

func (h *handler) completions(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	ctx, acct := r.Context(), p.Account.ID
	defs, err := h.Service.FieldDefinitions(ctx, acct)
	if err != nil {
		return err
	}
	ls, err := h.allLists(ctx, acct)
	if err != nil {
		return err
	}
	out := completions{Fields: []completionField{}, EventColumns: eventColumns, Tables: []string{"contact_data", "event_data"}, Lists: []completionList{}}
	for _, d := range slices.Concat(segmentd.ReservedFields, identifierFields, defs) {
		if d.Reserved && slices.ContainsFunc(out.Fields, func(f completionField) bool { return f.Name == d.Name }) {
			continue // FieldDefinitions may list the reserved fields too
		}
		out.Fields = append(out.Fields, completionField{Name: d.Name, Type: string(d.Type), Custom: !d.Reserved})
	}
	for _, l := range ls {
		out.Lists = append(out.Lists, completionList{ID: l.ID, Name: l.Name})
	}
	ownapi.WriteJSON(w, http.StatusOK, out)
	return nil
}
