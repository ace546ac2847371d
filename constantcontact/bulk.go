package constantcontact

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
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

// importRow maps one contact of an import, its properties (a JSON
// object's keys, a CSV file's column headings) to their values, onto the
// shared fields: email; first_name, last_name; one phone (phone or a
// kind's: home_phone, …); one street address (street, street2, city,
// state, zip, country, with or without a kind's prefix: home_, work_,
// other_); cf:<custom field name>. Empty values are not given: an import
// only updates the properties it gives a value. path names the contact
// in errors ("import_data[3]", "line 4").
func importRow(row map[string]string, byName map[string]segmentd.FieldDefinition, path string) (segmentd.ContactPatch, error) {
	var p segmentd.ContactPatch
	var phoneKey, addressKind string
	fields := 0
	keys := make([]string, 0, len(row))
	for k := range row {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := row[k]
		if v == "" {
			continue
		}
		name := path + "." + k
		switch k {
		case "email":
			p.Email = &v
			continue
		case "first_name", "last_name":
			if n := len([]rune(v)); n > maxNameLength {
				return p, invalid(name, "%s must be at most %d characters, not %d", name, maxNameLength, n)
			}
			if k == "first_name" {
				p.FirstName = &v
			} else {
				p.LastName = &v
			}
			continue
		case "phone", "home_phone", "work_phone", "mobile_phone", "other_phone":
			if phoneKey != "" {
				return p, invalid(name, "%s: segmentd keeps one phone number per contact, and %s is given too", path, phoneKey)
			}
			if n := len([]rune(v)); n > maxPhoneNumberLength {
				return p, invalid(name, "%s must be at most %d characters, not %d", name, maxPhoneNumberLength, n)
			}
			phoneKey, p.PhoneNumber = k, &v
			continue
		case "sms_number", "sms_consent_date":
			return p, invalid(name, "segmentd does not keep %s yet; leave it out", k)
		case "job_title", "company_name", "birthday_month", "birthday_day", "anniversary":
			return p, invalid(name, msgNotTakenHere, k)
		}
		if label, ok := strings.CutPrefix(k, "cf:"); ok {
			f, ok := byName[strings.ToLower(label)]
			if !ok {
				return p, invalid(name, "%s: custom field %s does not exist", name, segmentd.Quote(label))
			}
			if fields++; fields > maxContactFields {
				return p, invalid(path, "%s may set at most %d custom fields", path, maxContactFields)
			}
			if n := len([]rune(v)); n > maxCustomValueLength {
				return p, invalid(name, "%s must be at most %d characters, not %d", name, maxCustomValueLength, n)
			}
			val, err := fieldValue(f, v, name)
			if err != nil {
				return p, fieldRenamed(err, name+".value", name)
			}
			if p.CustomFields == nil {
				p.CustomFields = map[string]*segmentd.Value{}
			}
			p.CustomFields[f.ID] = val
			continue
		}
		kind, part := "", k
		for _, prefix := range []string{"home_", "work_", "other_"} {
			if rest, ok := strings.CutPrefix(k, prefix); ok {
				kind, part = prefix, rest
			}
		}
		var dst **string
		max := maxAddressPartLength
		switch part {
		case "street":
			dst, max = &p.AddressLine1, 100
		case "street2":
			dst, max = &p.AddressLine2, 100
		case "city":
			dst = &p.City
		case "state":
			dst = &p.StateProvinceRegion
		case "zip":
			dst = &p.PostalCode
		case "country":
			dst = &p.Country
		default:
			return p, invalid(name, "%s: %s is not a contact property of Constant Contact's imports", path, segmentd.Quote(k))
		}
		if addressKind != "" && addressKind != kind+"." {
			return p, invalid(name, "%s: segmentd keeps one street address per contact, and %s gives a second", path, k)
		}
		addressKind = kind + "."
		if n := len([]rune(v)); n > max {
			return p, invalid(name, "%s must be at most %d characters, not %d", name, max, n)
		}
		*dst = &v
	}
	if p.Email == nil {
		return p, invalid(path+".email", "%s.email is required (segmentd keeps contacts by email, not by SMS number)", path)
	}
	return p, nil
}

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

// jsonImport is POST /v3/activities/contacts_json_import.
func (h *handler) jsonImport(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
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
	patches := make([]segmentd.ContactPatch, 0, len(in.ImportData))
	for i, c := range in.ImportData {
		path := fmt.Sprintf("import_data[%d]", i)
		row := make(map[string]string, len(c))
		for k, raw := range c {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				var n json.Number
				if k != "birthday_month" && k != "birthday_day" || json.Unmarshal(raw, &n) != nil {
					return invalid(path+"."+k, "%s.%s must be a string", path, k)
				}
				s = n.String()
			}
			row[k] = s
		}
		p, err := importRow(row, byName, path)
		if err != nil {
			return err
		}
		patches = append(patches, p)
	}
	j, err := h.svc.ImportCCContacts(r.Context(), acct.ID, segmentd.JobCCJSONImport, "import_data", patches, lowerAll(in.ListIDs))
	if err != nil {
		return err
	}
	return accepted(w, j)
}

// fileImport is POST /v3/activities/contacts_file_import: a multipart
// form with the CSV file (file) and the lists (list_ids, comma-separated
// or repeated).
func (h *handler) fileImport(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
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
	patches, err := readImportCSV(body, byName)
	if err != nil {
		return err
	}
	j, err := h.svc.ImportCCContacts(r.Context(), acct.ID, segmentd.JobCCFileImport, "file", patches, lists)
	if err != nil {
		return err
	}
	return accepted(w, j)
}

// readImportCSV reads an import file: a header row of contact properties
// (importRow's), then one contact a line, at most maxImportLines lines.
func readImportCSV(body []byte, byName map[string]segmentd.FieldDefinition) ([]segmentd.ContactPatch, error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf")) // a spreadsheet's byte-order mark
	cr := csv.NewReader(bytes.NewReader(body))
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err != nil {
		return nil, invalid("file", "file must be a CSV file whose first line names its columns")
	}
	for i, h := range header {
		header[i] = strings.ToLower(strings.TrimSpace(h))
	}
	if !slices.Contains(header, "email") {
		return nil, invalid("file", "file must have an email column (segmentd keeps contacts by email, not by SMS number)")
	}
	var patches []segmentd.ContactPatch
	for line := 2; ; line++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if line > maxImportLines {
			return nil, invalid("file", "file may hold at most %d lines, its header included", maxImportLines)
		}
		if err != nil {
			return nil, invalid("file", "file: line %d is not valid CSV", line)
		}
		if len(rec) != len(header) {
			return nil, invalid("file", "file: line %d has %d values for %d columns", line, len(rec), len(header))
		}
		row := make(map[string]string, len(header))
		for i, h := range header {
			row[h] = strings.TrimSpace(rec[i])
		}
		p, err := importRow(row, byName, "line "+strconv.Itoa(line))
		if err != nil {
			return nil, err
		}
		patches = append(patches, p)
	}
	return patches, nil
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
	switch {
	case len(s.TagIDs) > 0:
		return invalid("source.tag_ids", "segmentd does not support the source tag_ids yet")
	case len(s.EngagementLevel) > 0 && string(s.EngagementLevel) != "null":
		return invalid("source.engagement_level", "segmentd does not support the source engagement_level")
	}
	src := audience.ActivitySource{ContactIDs: lowerAll(s.ContactIDs), ListIDs: lowerAll(s.ListIDs), All: s.AllActiveContacts}
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
	switch {
	case len(s.TagIDs) > 0:
		return invalid("source.tag_ids", "segmentd does not support the source tag_ids yet")
	case s.NewSubscriber:
		return invalid("source.new_subscriber", "segmentd does not support the source new_subscriber")
	}
	src := audience.ActivitySource{ContactIDs: lowerAll(s.ContactIDs), ListIDs: lowerAll(s.ListIDs), All: s.AllActiveContacts}
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
