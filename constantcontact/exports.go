package constantcontact

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
)

// Contact exports (POST /v3/activities/contact_exports, GET
// /v3/contact_exports/{file_export_id}): SendGrid's export machinery
// (audience/exports.go) freezes the selection in the engine and writes
// the file in the background; this face gives it Constant Contact's CSV
// columns and serves the file as text/csv.

// exportColumns are the columns of an export file, in order; fields
// selects some of them (cf:<name> columns follow, one per custom field).
var exportColumns = []string{"contact_id", "email_address", "first_name", "last_name", "phone_number", "street", "city", "state", "zip", "country",
	"list_memberships", "created_at", "updated_at"}

// ccExportFormat writes contacts as CSV rows of the chosen columns.
type ccExportFormat struct {
	columns []string
	fields  map[string]string // cf:<name> column → field id
}

// newCCExportFormat is the format of an account's exports with the
// custom fields defs: the columns chosen, or all of them (columns nil).
func newCCExportFormat(defs []segmentd.FieldDefinition, columns []string) *ccExportFormat {
	f := &ccExportFormat{fields: map[string]string{}, columns: slices.Clone(exportColumns)}
	for _, d := range defs {
		f.columns = append(f.columns, "cf:"+d.Name)
		f.fields["cf:"+d.Name] = d.ID
	}
	if columns != nil {
		f.columns = columns
	}
	return f
}

func (f *ccExportFormat) Header() []byte { return csvLine(f.columns) }

func (f *ccExportFormat) Append(dst []byte, c segmentd.Contact) ([]byte, error) {
	row := make([]string, len(f.columns))
	for i, col := range f.columns {
		switch col {
		case "contact_id":
			row[i] = c.ID
		case "email_address":
			row[i] = c.Email
		case "first_name":
			row[i] = c.FirstName
		case "last_name":
			row[i] = c.LastName
		case "phone_number":
			row[i] = c.PhoneNumber
		case "street":
			row[i] = strings.TrimSpace(c.AddressLine1 + "\n" + c.AddressLine2)
		case "city":
			row[i] = c.City
		case "state":
			row[i] = c.StateProvinceRegion
		case "zip":
			row[i] = c.PostalCode
		case "country":
			row[i] = c.Country
		case "list_memberships":
			row[i] = strings.Join(c.ListIDs, ",")
		case "created_at":
			row[i] = timestamp(c.CreatedAt)
		case "updated_at":
			row[i] = timestamp(c.UpdatedAt)
		default:
			if v, ok := c.CustomFields[f.fields[col]]; ok {
				row[i] = fieldText(v)
			}
		}
	}
	return append(dst, csvLine(row)...), nil
}

func csvLine(values []string) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(values) // a bytes.Buffer does not fail
	w.Flush()
	return b.Bytes()
}

// exportInput is the spec's ContactsExport.
type exportInput struct {
	ContactIDs    []string `json:"contact_ids"`
	ListIDs       []string `json:"list_ids"`
	TagIDs        []string `json:"tag_ids"`
	NewSubscriber bool     `json:"new_subscriber"`
	SegmentID     *int64   `json:"segment_id"`
	Fields        []string `json:"fields"`
	Status        *string  `json:"status"`
	Exclude       *struct {
		ContactIDs []string `json:"contact_ids"`
	} `json:"exclude"`
}

// The bounds of an export's selectors (the spec's ContactsExport).
const (
	maxExportLists    = 50
	maxExportContacts = 500
	maxExportExcluded = 50
)

// exportCombines are, for each of an export's selectors, the others the
// spec lets it be combined with (each is "mutually exclusive with all
// other filtering criteria except" those).
var exportCombines = map[string][]string{
	"contact_ids": {"status"},
	"list_ids":    {"status", "exclude"},
	"tag_ids":     {},
	"segment_id":  {},
	"status":      {"contact_ids", "list_ids"},
	"exclude":     {"list_ids"},
}

// exportSelectors are the order exportCombines' names are checked in.
var exportSelectors = []string{"contact_ids", "list_ids", "tag_ids", "segment_id", "status", "exclude"}

// createExport is POST /v3/activities/contact_exports: every contact, or
// those the selectors choose (contacts by id, the members of some lists, a
// segment's, the contacts with some tags, less some contacts), in the
// columns fields names (all by default).
func (h *handler) createExport(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var in exportInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	var excluded []string
	if in.Exclude != nil {
		excluded = in.Exclude.ContactIDs
	}
	given := map[string]bool{"contact_ids": len(in.ContactIDs) > 0, "list_ids": len(in.ListIDs) > 0, "tag_ids": len(in.TagIDs) > 0,
		"segment_id": in.SegmentID != nil, "status": in.Status != nil, "exclude": len(excluded) > 0}
	for _, a := range exportSelectors {
		for _, b := range exportSelectors {
			if a < b && given[a] && given[b] && !slices.Contains(exportCombines[a], b) {
				return invalid(b, "%s cannot be combined with %s", a, b)
			}
		}
	}
	switch {
	case in.NewSubscriber:
		return invalid("new_subscriber", "segmentd keeps no subscription dates: new_subscriber cannot be exported")
	case in.Status != nil && *in.Status != "active" && *in.Status != "all":
		return invalid("status", "every contact of segmentd's is active: status may be active or all, not %s", segmentd.Quote(*in.Status))
	case len(in.ListIDs) > maxExportLists:
		return invalid("list_ids", "list_ids may name at most %d lists, not %d", maxExportLists, len(in.ListIDs))
	case len(in.ContactIDs) > maxExportContacts:
		return invalid("contact_ids", "contact_ids may name at most %d contacts, not %d", maxExportContacts, len(in.ContactIDs))
	case len(excluded) > maxExportExcluded:
		return invalid("exclude.contact_ids", "exclude.contact_ids may name at most %d contacts, not %d", maxExportExcluded, len(excluded))
	}
	for _, ids := range []struct {
		name string
		ids  []string
	}{{"contact_ids", in.ContactIDs}, {"exclude.contact_ids", excluded}} {
		for _, id := range ids.ids {
			if !segmentd.IsUUID(id) {
				return invalid(ids.name, "%s: %s is not a contact id (a UUID)", ids.name, segmentd.Quote(id))
			}
		}
	}
	defs, err := h.svc.FieldDefinitions(r.Context(), acct.ID)
	if err != nil {
		return err
	}
	all := newCCExportFormat(defs, nil).columns
	if in.Fields != nil {
		for _, c := range in.Fields {
			if !slices.Contains(all, c) {
				return invalid("fields", "fields may name %s, not %s", strings.Join(all, ", "), segmentd.Quote(c))
			}
		}
		if len(in.Fields) == 0 {
			return invalid("fields", "fields must name at least one column")
		}
	}
	req := audience.ExportRequest{ListIDs: lowerAll(in.ListIDs), FileType: audience.CCExportFileType, Columns: in.Fields, MaxFileBytes: 1 << 62,
		TagIDs: lowerAll(in.TagIDs), ContactIDs: lowerAll(in.ContactIDs), Exclude: lowerAll(excluded)}
	if in.SegmentID != nil {
		req.CCSegment = *in.SegmentID
	}
	e, err := h.svc.CreateExport(r.Context(), acct.ID, req)
	if err != nil {
		return err
	}
	j, err := h.svc.Activity(r.Context(), acct.ID, e.ID)
	if err != nil {
		return err
	}
	return accepted(w, j)
}

// getExport is GET /v3/contact_exports/{file_export_id}: the CSV file of
// a completed export; 404 while it is written, and once it failed or
// expired.
func (h *handler) getExport(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id := strings.ToLower(r.PathValue("file_export_id"))
	e, err := h.svc.CCExport(r.Context(), acct.ID, id)
	if err != nil {
		return err
	}
	if e.Status != segmentd.ExportReady {
		j, err := h.svc.Activity(r.Context(), acct.ID, id)
		if err != nil {
			return err
		}
		return segmentd.Errorf(segmentd.KindNotFound, "file_export_id", "export %s has no file: its activity is %s", segmentd.Quote(id), activityState(j))
	}
	e, err = h.svc.ExportFile(r.Context(), acct.ID, e.Token, 0)
	if err != nil {
		return err
	}
	zr, err := gzip.NewReader(&chunkReader{ctx: r.Context(), svc: h.svc, e: e, chunks: e.Files[0].Chunks})
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv")
	w.Header().Set("Content-Disposition", `attachment; filename="contacts_export_`+e.ID+`.csv"`)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, zr); err != nil && !errors.Is(err, context.Canceled) {
		// Headers are sent: the connection is cut so the client sees a
		// truncated download, not a short file.
		h.log.Error("constantcontact: export file", "export", e.ID, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// chunkReader reads an export file's stored gzip chunks in order.
type chunkReader struct {
	ctx    context.Context
	svc    *audience.Service
	e      segmentd.Export
	chunks int
	next   int
	buf    []byte
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		if c.next >= c.chunks {
			return 0, io.EOF
		}
		data, err := c.svc.ExportChunk(c.ctx, c.e, 0, c.next)
		if err != nil {
			return 0, err
		}
		c.buf, c.next = data, c.next+1
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}
