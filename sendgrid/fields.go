package sendgrid

import (
	"net/http"

	"github.com/segmentd/segmentd"
)

// Custom field definitions: tsg_mc_custom_fields_v3, docs/sendgrid.md
// "Custom fields".

type fieldRequest struct {
	Name      *string `json:"name"`
	FieldType *string `json:"field_type"`
}

type fieldResponse struct {
	ID        string        `json:"id"`
	Name      string        `json:"name"`
	FieldType string        `json:"field_type"`
	Metadata  *selfMetadata `json:"_metadata,omitempty"`
}

type reservedFieldResponse struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	FieldType string `json:"field_type"`
	ReadOnly  bool   `json:"read_only"`
}

type fieldsResponse struct {
	CustomFields   []fieldResponse         `json:"custom_fields"`
	ReservedFields []reservedFieldResponse `json:"reserved_fields"`
	Metadata       selfMetadata            `json:"_metadata"`
}

type selfMetadata struct {
	Self string `json:"self"`
}

func (h *handler) fieldJSON(r *http.Request, f segmentd.FieldDefinition) fieldResponse {
	return fieldResponse{ID: f.ID, Name: f.Name, FieldType: string(f.Type),
		Metadata: &selfMetadata{Self: h.baseURL(r) + "/v3/marketing/field_definitions/" + f.ID}}
}

// createField answers 200, not 201: SendGrid's create for custom fields
// differs from lists and segments (docs/sendgrid.md "Spec contradictions" 6).
func (h *handler) createField(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var req fieldRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return invalid("name", "name is required")
	}
	if req.FieldType == nil {
		return invalid("field_type", "field_type is required")
	}
	f, err := h.svc.CreateField(r.Context(), acct.ID, *req.Name, segmentd.FieldType(*req.FieldType))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, h.fieldJSON(r, f))
}

func (h *handler) listFields(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	defs, err := h.svc.FieldDefinitions(r.Context(), acct.ID)
	if err != nil {
		return err
	}
	resp := fieldsResponse{
		CustomFields:   make([]fieldResponse, 0, len(defs)),
		ReservedFields: make([]reservedFieldResponse, 0, len(segmentd.ReservedFields)),
		Metadata:       selfMetadata{Self: h.baseURL(r) + "/v3/marketing/field_definitions"},
	}
	for _, d := range defs {
		// Items of the list carry no _metadata in SendGrid's example.
		resp.CustomFields = append(resp.CustomFields, fieldResponse{ID: d.ID, Name: d.Name, FieldType: string(d.Type)})
	}
	for _, d := range segmentd.ReservedFields {
		resp.ReservedFields = append(resp.ReservedFields, reservedFieldResponse{ID: d.ID, Name: d.Name, FieldType: string(d.Type), ReadOnly: d.ReadOnly})
	}
	return writeJSON(w, http.StatusOK, resp)
}

func (h *handler) renameField(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id := r.PathValue("custom_field_id")
	var req fieldRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	if req.Name == nil {
		return invalid("name", "name is required")
	}
	if req.FieldType != nil {
		// Only the name can change. Clients that send the whole object back
		// are served; a different type is refused, not silently ignored.
		defs, err := h.svc.FieldsByID(r.Context(), acct.ID)
		if err != nil {
			return err
		}
		if d, ok := defs[id]; ok && string(d.Type) != *req.FieldType {
			return invalid("field_type", "field_type cannot be changed")
		}
	}
	f, err := h.svc.RenameField(r.Context(), acct.ID, id, *req.Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, h.fieldJSON(r, f))
}

// deleteField answers 204. Deleting a reserved field is 400 although the
// spec lists only 204 and 404: SendGrid says reserved fields cannot be
// deleted, and 400 is how it refuses a request it understood.
func (h *handler) deleteField(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	if err := h.svc.DeleteField(r.Context(), acct.ID, r.PathValue("custom_field_id")); err != nil {
		return err
	}
	return noContent(w)
}
