package constantcontact

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
)

// The bulk activities' requests (docs/constantcontact.md "Bulk
// activities"): each is validated in full, then accepted as an activity
// (audience/ccactivities.go) and answered 201.

// maxImportBytes bounds an import's body: the spec's 4 MB for the JSON
// payload and for the CSV file (a multipart body gets room for its
// form fields besides).
const (
	maxImportBytes    = 4 << 20
	maxMultipartBytes = maxImportBytes + 64<<10
	maxImportLines    = audience.MaxImportContacts + 1 // a CSV file's lines, its header included
)

// fieldsByName indexes the account's custom fields by lower-cased name.
func (h *handler) fieldsByName(r *http.Request, acct int64) (map[string]segmentd.FieldDefinition, error) {
	defs, err := h.svc.FieldDefinitions(r.Context(), acct)
	if err != nil {
		return nil, err
	}
	out := make(map[string]segmentd.FieldDefinition, len(defs))
	for _, f := range defs {
		out[strings.ToLower(f.Name)] = f
	}
	return out, nil
}

// jsonImportInput is ContactsJsonImport.
type jsonImportInput struct {
	ImportData          []map[string]json.RawMessage `json:"import_data"`
	ListIDs             []string                     `json:"list_ids"`
	SMSPermissionToSend *string                      `json:"sms_permission_to_send"`
}

// jsonImport is POST /v3/activities/contacts_json_import. Like SendGrid's
// upsert, it counts as a request being accepted from its first byte read
// to its answer (Service.Accepting), so that the job worker yields the
// CPU to its decoding (docs/jobs.md, "The apply yields").
func (h *handler) jsonImport(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	defer h.svc.Accepting()()
	var in jsonImportInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.ImportData == nil {
		return invalid("import_data", "import_data is required")
	}
	if len(in.ImportData) > audience.MaxImportContacts {
		return invalid("import_data", "import_data may hold at most %d contacts, not %d", audience.MaxImportContacts, len(in.ImportData))
	}
	if in.ListIDs == nil {
		return invalid("list_ids", "list_ids is required")
	}
	byName, err := h.fieldsByName(r, acct.ID)
	if err != nil {
		return err
	}
	rows := make([]audience.CCImportRow, 0, len(in.ImportData))
	for i, c := range in.ImportData {
		rows = append(rows, jsonImportRow(c, byName, fmt.Sprintf("import_data[%d]", i)))
	}
	j, err := h.svc.ImportCCContacts(r.Context(), acct.ID, segmentd.JobCCJSONImport, "import_data", rows, lowerAll(in.ListIDs))
	if err != nil {
		return err
	}
	return accepted(w, j)
}

// fileImport is POST /v3/activities/contacts_file_import: a multipart
// form with the CSV file (file) and the lists (list_ids, comma-separated
// or repeated). It counts as being accepted, as jsonImport does.
func (h *handler) fileImport(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	defer h.svc.Accepting()()
	if err := r.ParseMultipartForm(maxMultipartBytes); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return segmentd.Errorf(segmentd.KindTooLarge, "file", "the request body must not exceed %d MB", maxImportBytes>>20)
		}
		return invalid("file", "the body must be a multipart form holding file and list_ids")
	}
	f, hdr, err := r.FormFile("file")
	if err != nil {
		return invalid("file", "file is required: the CSV file to import")
	}
	defer f.Close()
	if hdr.Size > maxImportBytes {
		return segmentd.Errorf(segmentd.KindTooLarge, "file", "file must not exceed %d MB", maxImportBytes>>20)
	}
	var lists []string
	for _, v := range r.MultipartForm.Value["list_ids"] {
		for _, id := range strings.Split(v, ",") {
			if id = strings.TrimSpace(id); id != "" {
				lists = append(lists, strings.ToLower(id))
			}
		}
	}
	if len(lists) == 0 {
		return invalid("list_ids", "list_ids is required")
	}
	body, err := io.ReadAll(f)
	if err != nil {
		return invalid("file", "file could not be read")
	}
	byName, err := h.fieldsByName(r, acct.ID)
	if err != nil {
		return err
	}
	rows, err := readImportCSV(body, byName)
	if err != nil {
		return err
	}
	j, err := h.svc.ImportCCContacts(r.Context(), acct.ID, segmentd.JobCCFileImport, "file", rows, lists)
	if err != nil {
		return err
	}
	return accepted(w, j)
}

// sourceInput is the source of ListActivityAddContacts and
// ListActivityRemoveContacts.
type sourceInput struct {
	ContactIDs        []string        `json:"contact_ids"`
	ListIDs           []string        `json:"list_ids"`
	AllActiveContacts bool            `json:"all_active_contacts"`
	SegmentID         *int64          `json:"segment_id"`
	TagIDs            []string        `json:"tag_ids"`
	EngagementLevel   json.RawMessage `json:"engagement_level"`
}

// listActivityInput is ListActivityAddContacts and
// ListActivityRemoveContacts.
type listActivityInput struct {
	Source  *sourceInput `json:"source"`
	Exclude *struct {
		ContactIDs []string `json:"contact_ids"`
	} `json:"exclude"`
	ListIDs []string `json:"list_ids"`
}

func (h *handler) addListMemberships(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	return h.listMemberships(w, r, acct, true)
}

func (h *handler) removeListMemberships(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	return h.listMemberships(w, r, acct, false)
}

// listMemberships is POST /v3/activities/add_list_memberships and
// remove_list_memberships.
func (h *handler) listMemberships(w http.ResponseWriter, r *http.Request, acct segmentd.Account, add bool) error {
	var in listActivityInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Source == nil {
		return invalid("source", "source is required")
	}
	if in.ListIDs == nil {
		return invalid("list_ids", "list_ids is required")
	}
	s := in.Source
	if len(s.EngagementLevel) > 0 && string(s.EngagementLevel) != "null" {
		return invalid("source.engagement_level", "segmentd does not support the source engagement_level")
	}
	src := audience.ActivitySource{ContactIDs: lowerAll(s.ContactIDs), ListIDs: lowerAll(s.ListIDs), All: s.AllActiveContacts, TagIDs: lowerAll(s.TagIDs)}
	if s.SegmentID != nil {
		if *s.SegmentID <= 0 {
			return invalid("source.segment_id", "source.segment_id must be a segment id, not %d", *s.SegmentID)
		}
		src.Segment = *s.SegmentID
	}
	if in.Exclude != nil {
		src.Exclude = lowerAll(in.Exclude.ContactIDs)
	}
	j, err := h.svc.CCListMemberships(r.Context(), acct.ID, add, src, lowerAll(in.ListIDs))
	if err != nil {
		return err
	}
	return accepted(w, j)
}

// taggingInput is TagAddRemoveContacts.
type taggingInput struct {
	Source *struct {
		ContactIDs        []string `json:"contact_ids"`
		ListIDs           []string `json:"list_ids"`
		TagIDs            []string `json:"tag_ids"`
		AllActiveContacts bool     `json:"all_active_contacts"`
		NewSubscriber     bool     `json:"new_subscriber"`
	} `json:"source"`
	Exclude *struct {
		ContactIDs []string `json:"contact_ids"`
	} `json:"exclude"`
	TagIDs []string `json:"tag_ids"`
}

func (h *handler) addTaggings(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	return h.taggings(w, r, acct, true)
}

func (h *handler) removeTaggings(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	return h.taggings(w, r, acct, false)
}

// taggings is POST /v3/activities/contacts_taggings_add and
// contacts_taggings_remove.
func (h *handler) taggings(w http.ResponseWriter, r *http.Request, acct segmentd.Account, add bool) error {
	var in taggingInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Source == nil {
		return invalid("source", "source is required")
	}
	if in.TagIDs == nil {
		return invalid("tag_ids", "tag_ids is required")
	}
	s := in.Source
	if s.NewSubscriber {
		return invalid("source.new_subscriber", "segmentd keeps no subscription dates: new_subscriber cannot be a source")
	}
	src := audience.ActivitySource{ContactIDs: lowerAll(s.ContactIDs), ListIDs: lowerAll(s.ListIDs), All: s.AllActiveContacts, TagIDs: lowerAll(s.TagIDs)}
	if in.Exclude != nil {
		src.Exclude = lowerAll(in.Exclude.ContactIDs)
	}
	j, err := h.svc.CCTaggings(r.Context(), acct.ID, add, src, lowerAll(in.TagIDs))
	if err != nil {
		return err
	}
	return accepted(w, j)
}

// tagsDelete is POST /v3/activities/contacts_tags_delete
// (TagIdList500Limit).
func (h *handler) tagsDelete(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var in struct {
		TagIDs []string `json:"tag_ids"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	j, err := h.svc.DeleteCCTags(r.Context(), acct.ID, lowerAll(in.TagIDs))
	if err != nil {
		return err
	}
	return accepted(w, j)
}

// contactDeleteInput is ContactDelete.
type contactDeleteInput struct {
	ContactIDs []string `json:"contact_ids"`
	ListIDs    []string `json:"list_ids"`
}

// contactDelete is POST /v3/activities/contact_delete.
func (h *handler) contactDelete(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var in contactDeleteInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	j, err := h.svc.CCDeleteContacts(r.Context(), acct.ID, lowerAll(in.ContactIDs), lowerAll(in.ListIDs))
	if err != nil {
		return err
	}
	return accepted(w, j)
}

// listDelete is POST /v3/activities/list_delete (ListIdList100).
func (h *handler) listDelete(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var in struct {
		ListIDs []string `json:"list_ids"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	j, err := h.svc.DeleteCCLists(r.Context(), acct.ID, lowerAll(in.ListIDs))
	if err != nil {
		return err
	}
	return accepted(w, j)
}

// customFieldsDelete is POST /v3/activities/custom_fields_delete
// (CustomFieldId100): the UUIDs name fields of the account, 404 otherwise.
func (h *handler) customFieldsDelete(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var in struct {
		CustomFieldIDs []string `json:"custom_field_ids"`
	}
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if len(in.CustomFieldIDs) > audience.MaxActivityDeleteFields {
		return invalid("custom_field_ids", "custom_field_ids may name at most %d custom fields, not %d", audience.MaxActivityDeleteFields, len(in.CustomFieldIDs))
	}
	defs, err := h.svc.FieldDefinitions(r.Context(), acct.ID)
	if err != nil {
		return err
	}
	byUUID := make(map[string]string, len(defs))
	for _, f := range defs {
		byUUID[customFieldUUID(f.ID)] = f.ID
	}
	var ids []string
	for _, u := range in.CustomFieldIDs {
		id, ok := byUUID[strings.ToLower(u)]
		if !ok {
			return segmentd.Errorf(segmentd.KindNotFound, "custom_field_ids", "custom field %s does not exist", segmentd.Quote(u))
		}
		ids = append(ids, id)
	}
	j, err := h.svc.DeleteCCFields(r.Context(), acct.ID, ids)
	if err != nil {
		return err
	}
	return accepted(w, j)
}

func lowerAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.ToLower(s)
	}
	return out
}

// requireMultipart answers 415 unless the body is a multipart form.
func requireMultipart(r *http.Request) error {
	ct := r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "multipart/form-data" {
		if ct == "" {
			ct = "none"
		}
		return errUnsupportedMediaType{ct, "multipart/form-data"}
	}
	return nil
}
