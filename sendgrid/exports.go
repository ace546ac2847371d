package sendgrid

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
)

// Contact exports: tsg_mc_contacts_v3's ExportContact, ListExportContact
// and GetExportContact, and the download of their files, which SendGrid
// serves from S3 and segmentd from ExportFilesPrefix (docs/sendgrid.md
// "Contact exports").

type exportRequest struct {
	ListIDs       []string             `json:"list_ids"`
	SegmentIDs    []string             `json:"segment_ids"`
	Notifications *exportNotifications `json:"notifications"`
	FileType      *string              `json:"file_type"`
	// MaxFileSize is read by hand: a JSON integer only, never a string or
	// a fraction.
	MaxFileSize json.RawMessage `json:"max_file_size"`
}

type exportNotifications struct {
	Email *bool `json:"email"`
}

type exportCreatedResponse struct {
	Metadata selfMetadata `json:"_metadata"`
	ID       string       `json:"id"`
}

// exportResponse is both ContactExport (GET /exports/{id}) and an item of
// ListExportContact's result: the list item's fields and the status's
// together, so that either call tells everything.
type exportResponse struct {
	ID           string          `json:"id"`
	Status       string          `json:"status"`
	CreatedAt    string          `json:"created_at"`
	UpdatedAt    string          `json:"updated_at"`
	CompletedAt  string          `json:"completed_at,omitempty"`
	ExpiresAt    string          `json:"expires_at"`
	URLs         []string        `json:"urls,omitempty"`
	Message      string          `json:"message,omitempty"`
	ContactCount *int            `json:"contact_count,omitempty"`
	UserID       string          `json:"user_id"`
	ExportType   string          `json:"export_type"`
	Segments     []exportRefJSON `json:"segments"`
	Lists        []exportRefJSON `json:"lists"`
	Metadata     selfMetadata    `json:"_metadata"`
}

// exportRefJSON names a list or segment with the capitalised keys
// SendGrid's ListExportContact documents.
type exportRefJSON struct {
	ID   string `json:"ID"`
	Name string `json:"Name"`
}

type exportListResponse struct {
	Result   []exportResponse `json:"result"`
	Metadata selfMetadata     `json:"_metadata"`
}

// maxFileMB caps max_file_size where megabytes turn into bytes: a larger
// value splits nothing anyway.
const maxFileMB = 1 << 40

// createExport starts an export. The body is optional (every field is):
// no body exports every contact as CSV.
func (h *handler) createExport(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	b, err := readBody(r)
	if err != nil {
		return err
	}
	var req exportRequest
	if len(bytes.TrimSpace(b)) > 0 {
		if err := unmarshal(b, &req); err != nil {
			return err
		}
	}
	ar := audience.ExportRequest{ListIDs: req.ListIDs, SegmentIDs: req.SegmentIDs, FileType: "csv", MaxFileBytes: segmentd.DefaultExportFileMB << 20}
	if req.FileType != nil {
		ar.FileType = *req.FileType
	}
	if req.Notifications != nil && req.Notifications.Email != nil {
		ar.Notify = *req.Notifications.Email
	}
	if raw := strings.TrimSpace(string(req.MaxFileSize)); raw != "" && raw != "null" {
		mb, err := strconv.ParseInt(raw, 10, 64)
		if errors.Is(err, strconv.ErrRange) && !strings.HasPrefix(raw, "-") {
			mb, err = maxFileMB, nil
		}
		if err != nil || mb < 1 {
			return invalid("max_file_size", "max_file_size must be a whole number of megabytes, at least 1")
		}
		ar.MaxFileBytes = min(mb, maxFileMB) << 20
	}
	e, err := h.svc.CreateExport(r.Context(), acct.ID, ar)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, exportCreatedResponse{ID: e.ID, Metadata: selfMetadata{Self: h.exportSelf(r, e.ID)}})
}

func (h *handler) listExports(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	es, err := h.svc.Exports(r.Context(), acct.ID)
	if err != nil {
		return err
	}
	resp := exportListResponse{Result: make([]exportResponse, 0, len(es)), Metadata: selfMetadata{Self: h.baseURL(r) + "/v3/marketing/contacts/exports"}}
	for _, e := range es {
		resp.Result = append(resp.Result, h.exportJSON(r, e))
	}
	return writeJSON(w, http.StatusOK, resp)
}

// getExport reports an export. As for a job, a malformed id is 400 (the
// spec's one client error for its one input) and an unknown one 404.
func (h *handler) getExport(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id := r.PathValue("id")
	if !segmentd.IsUUID(id) {
		return invalid("id", "export id %s is not a valid UUID", segmentd.Quote(id))
	}
	e, err := h.svc.Export(r.Context(), acct.ID, strings.ToLower(id))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, h.exportJSON(r, e))
}

func (h *handler) exportSelf(r *http.Request, id string) string {
	return h.baseURL(r) + "/v3/marketing/contacts/exports/" + id
}

func (h *handler) exportJSON(r *http.Request, e segmentd.Export) exportResponse {
	out := exportResponse{ID: e.ID, Status: string(e.Status), CreatedAt: timestamp(e.CreatedAt), UpdatedAt: timestamp(e.UpdatedAt),
		ExpiresAt: timestamp(e.ExpiresAt), Message: e.Message, UserID: strconv.FormatInt(e.AccountID, 10), ExportType: string(e.Type),
		Segments: refsJSON(e.Segments), Lists: refsJSON(e.Lists), Metadata: selfMetadata{Self: h.exportSelf(r, e.ID)}}
	if !e.CompletedAt.IsZero() {
		out.CompletedAt = timestamp(e.CompletedAt)
	}
	if e.Status == segmentd.ExportReady {
		n := e.ContactCount
		out.ContactCount = &n
		for i := range e.Files {
			out.URLs = append(out.URLs, h.baseURL(r)+exportFilePath(e, i))
		}
	}
	return out
}

func refsJSON(refs []segmentd.ExportRef) []exportRefJSON {
	out := make([]exportRefJSON, len(refs))
	for i, ref := range refs {
		out[i] = exportRefJSON{ID: ref.ID, Name: ref.Name}
	}
	return out
}

// --- the files

// ExportFilesPrefix is where export files are downloaded:
// ExportFilesPrefix + "<account>/<token>/<n>.<csv|json>.gz", n from 1. The
// token (256 random bits) is the only credential, as in SendGrid's
// pre-signed S3 URLs: a download takes no API key.
const ExportFilesPrefix = "/files/exports/"

func exportFilePath(e segmentd.Export, i int) string {
	return fmt.Sprintf("%s%d/%s/%d.%s.gz", ExportFilesPrefix, e.AccountID, e.Token, i+1, e.FileType)
}

// NewExportFiles returns the handler of ExportFilesPrefix. A file is
// served as the gzip file it is (Content-Type application/gzip, no
// Content-Encoding, so that no HTTP client unpacks it on the way), one
// stored chunk at a time. An unknown, expired or malformed URL is 404.
func NewExportFiles(svc *audience.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeFileError(w, http.StatusMethodNotAllowed, msgMethodNotAllowed)
			return
		}
		acct, token, n, ok := parseExportFilePath(r.URL.Path)
		if !ok {
			writeFileError(w, http.StatusNotFound, msgExportFileNotFound)
			return
		}
		e, err := svc.ExportFile(r.Context(), acct, token, n)
		if err != nil || !strings.HasSuffix(r.URL.Path, "."+e.FileType+".gz") {
			if err != nil && segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
				log.Error("export file", "path", r.URL.Path, "err", err)
				writeFileError(w, http.StatusInternalServerError, msgInternal)
				return
			}
			writeFileError(w, http.StatusNotFound, msgExportFileNotFound)
			return
		}
		f := e.Files[n]
		hdr := w.Header()
		hdr.Set("Content-Type", "application/gzip")
		hdr.Set("Content-Length", strconv.FormatInt(f.Bytes, 10))
		hdr.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="contacts_export_%s_%d.%s.gz"`, e.ID, n+1, e.FileType))
		hdr.Set("Cache-Control", "private, no-store")
		hdr.Set("Last-Modified", e.CompletedAt.UTC().Format(http.TimeFormat))
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusOK)
			return
		}
		for seq := 0; seq < f.Chunks; seq++ {
			data, err := svc.ExportChunk(r.Context(), e, n, seq)
			if err != nil {
				// Deleted (expired) or unreadable halfway: the length
				// promised cannot be kept, so the connection is cut and
				// the client sees a truncated download, not a short file.
				log.Error("export file chunk", "path", r.URL.Path, "chunk", seq, "err", err)
				panic(http.ErrAbortHandler)
			}
			if _, err := w.Write(data); err != nil {
				return // the client went away
			}
		}
	})
}

// msgExportFileNotFound answers every URL that names no export file.
const msgExportFileNotFound = "export file not found; it may have expired"

func writeFileError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(errorsBody{[]errorItem{{Message: msg}}})
	writeBody(w, status, body)
}

// parseExportFilePath reads <account>/<token>/<n>.<type>.gz after the
// prefix; n is returned from 0.
func parseExportFilePath(p string) (acct int64, token string, n int, ok bool) {
	rest, ok := strings.CutPrefix(p, ExportFilesPrefix)
	if !ok {
		return 0, "", 0, false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return 0, "", 0, false
	}
	acct, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || acct <= 0 || len(parts[1]) != 64 || strings.Trim(parts[1], "0123456789abcdef") != "" {
		return 0, "", 0, false
	}
	num, _, _ := strings.Cut(parts[2], ".")
	n, err = strconv.Atoi(num)
	if err != nil || n < 1 || strconv.Itoa(n) != num {
		return 0, "", 0, false
	}
	return acct, parts[1], n - 1, true
}

// --- the file formats

// exportTime renders a time in export files as SendGrid's JSON export
// does: RFC 3339 in UTC, whole seconds.
func exportTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05Z") }

// newExportFormat returns the builder of fileType's format (SendGrid's
// formats have no choice of columns).
func newExportFormat(fileType string) audience.ExportFormatBuilder {
	return func(fields []segmentd.FieldDefinition, _ []string) audience.ExportFormat {
		if fileType == "json" {
			return newJSONExport(fields)
		}
		return newCSVExport(fields)
	}
}

// exportColumns are the CSV columns before the custom fields: the
// contact's id, its times, identifiers and reserved fields under the names
// the API gives them, then its lists and segments. A multi-valued cell
// (alternate_emails, list_ids, segment_ids) joins its values with commas.
var exportColumns = []struct {
	name string
	get  func(c *segmentd.Contact) string
}{
	{"contact_id", func(c *segmentd.Contact) string { return c.ID }},
	{"created_at", func(c *segmentd.Contact) string { return exportTime(c.CreatedAt) }},
	{"updated_at", func(c *segmentd.Contact) string { return exportTime(c.UpdatedAt) }},
	{"email", func(c *segmentd.Contact) string { return c.Email }},
	{"phone_number_id", func(c *segmentd.Contact) string { return c.PhoneNumberID }},
	{"external_id", func(c *segmentd.Contact) string { return c.ExternalID }},
	{"anonymous_id", func(c *segmentd.Contact) string { return c.AnonymousID }},
	{"alternate_emails", func(c *segmentd.Contact) string { return strings.Join(c.AlternateEmails, ",") }},
	{"first_name", func(c *segmentd.Contact) string { return c.FirstName }},
	{"last_name", func(c *segmentd.Contact) string { return c.LastName }},
	{"unique_name", func(c *segmentd.Contact) string { return c.UniqueName }},
	{"address_line_1", func(c *segmentd.Contact) string { return c.AddressLine1 }},
	{"address_line_2", func(c *segmentd.Contact) string { return c.AddressLine2 }},
	{"city", func(c *segmentd.Contact) string { return c.City }},
	{"state_province_region", func(c *segmentd.Contact) string { return c.StateProvinceRegion }},
	{"postal_code", func(c *segmentd.Contact) string { return c.PostalCode }},
	{"country", func(c *segmentd.Contact) string { return c.Country }},
	{"phone_number", func(c *segmentd.Contact) string { return c.PhoneNumber }},
	{"whatsapp", func(c *segmentd.Contact) string { return c.WhatsApp }},
	{"line", func(c *segmentd.Contact) string { return c.Line }},
	{"facebook", func(c *segmentd.Contact) string { return c.Facebook }},
	{"list_ids", func(c *segmentd.Contact) string { return strings.Join(c.ListIDs, ",") }},
	{"segment_ids", func(c *segmentd.Contact) string { return strings.Join(c.SegmentIDs, ",") }},
}

// exportValue renders a custom field value in an export file: text as
// is, a number in plain decimal notation, a date as exportTime.
func exportValue(v segmentd.Value) string {
	switch v.Type {
	case segmentd.FieldNumber:
		return strconv.FormatFloat(v.Number, 'f', -1, 64)
	case segmentd.FieldDate:
		return exportTime(v.Time)
	}
	return v.Text
}

// csvExport writes RFC 4180 CSV: a header row, then a row per contact,
// with the custom fields, by name, in the order they were created.
type csvExport struct {
	header []byte
	fields []segmentd.FieldDefinition
	row    []string
	buf    bytes.Buffer
	w      *csv.Writer
}

func newCSVExport(fields []segmentd.FieldDefinition) *csvExport {
	x := &csvExport{fields: fields}
	x.w = csv.NewWriter(&x.buf)
	for _, col := range exportColumns {
		x.row = append(x.row, col.name)
	}
	for _, f := range fields {
		x.row = append(x.row, f.Name)
	}
	line, _ := x.line() // strings only: cannot fail
	x.header = bytes.Clone(line)
	return x
}

func (x *csvExport) Header() []byte { return x.header }

func (x *csvExport) Append(dst []byte, c segmentd.Contact) ([]byte, error) {
	x.row = x.row[:0]
	for _, col := range exportColumns {
		x.row = append(x.row, col.get(&c))
	}
	for _, f := range x.fields {
		v, ok := c.CustomFields[f.ID]
		if !ok {
			x.row = append(x.row, "")
			continue
		}
		x.row = append(x.row, exportValue(v))
	}
	line, err := x.line()
	return append(dst, line...), err
}

// line renders x.row as one CSV record, in a buffer the next call reuses.
func (x *csvExport) line() ([]byte, error) {
	x.buf.Reset()
	if err := x.w.Write(x.row); err != nil {
		return nil, err
	}
	x.w.Flush()
	return x.buf.Bytes(), x.w.Error()
}

// jsonExport writes JSON lines, one object per contact, as SendGrid's
// JSON export does: the id as contact_id, the reserved fields that are
// set, custom_fields keyed by name; segmentd adds list_ids and
// segment_ids. Keys are in alphabetical order, as in SendGrid's files.
type jsonExport struct {
	byID map[string]segmentd.FieldDefinition
	buf  bytes.Buffer
	enc  *json.Encoder
}

type exportContactJSON struct {
	AddressLine1        string         `json:"address_line_1,omitempty"`
	AddressLine2        string         `json:"address_line_2,omitempty"`
	AlternateEmails     []string       `json:"alternate_emails,omitempty"`
	AnonymousID         string         `json:"anonymous_id,omitempty"`
	City                string         `json:"city,omitempty"`
	ContactID           string         `json:"contact_id"`
	Country             string         `json:"country,omitempty"`
	CreatedAt           string         `json:"created_at"`
	CustomFields        map[string]any `json:"custom_fields"`
	Email               string         `json:"email,omitempty"`
	ExternalID          string         `json:"external_id,omitempty"`
	Facebook            string         `json:"facebook,omitempty"`
	FirstName           string         `json:"first_name,omitempty"`
	LastName            string         `json:"last_name,omitempty"`
	Line                string         `json:"line,omitempty"`
	ListIDs             []string       `json:"list_ids"`
	PhoneNumber         string         `json:"phone_number,omitempty"`
	PhoneNumberID       string         `json:"phone_number_id,omitempty"`
	PostalCode          string         `json:"postal_code,omitempty"`
	SegmentIDs          []string       `json:"segment_ids"`
	StateProvinceRegion string         `json:"state_province_region,omitempty"`
	UniqueName          string         `json:"unique_name,omitempty"`
	UpdatedAt           string         `json:"updated_at"`
	WhatsApp            string         `json:"whatsapp,omitempty"`
}

func newJSONExport(fields []segmentd.FieldDefinition) *jsonExport {
	x := &jsonExport{byID: make(map[string]segmentd.FieldDefinition, len(fields))}
	for _, f := range fields {
		x.byID[f.ID] = f
	}
	x.enc = json.NewEncoder(&x.buf)
	x.enc.SetEscapeHTML(false)
	return x
}

func (x *jsonExport) Header() []byte { return nil }

func (x *jsonExport) Append(dst []byte, c segmentd.Contact) ([]byte, error) {
	custom := make(map[string]any, len(c.CustomFields))
	for id, v := range c.CustomFields {
		f, ok := x.byID[id]
		if !ok {
			continue // created after the export started
		}
		if v.Type == segmentd.FieldNumber {
			custom[f.Name] = v.Number
		} else {
			custom[f.Name] = exportValue(v)
		}
	}
	x.buf.Reset()
	err := x.enc.Encode(exportContactJSON{
		AddressLine1: c.AddressLine1, AddressLine2: c.AddressLine2, AlternateEmails: c.AlternateEmails, AnonymousID: c.AnonymousID,
		City: c.City, ContactID: c.ID, Country: c.Country, CreatedAt: exportTime(c.CreatedAt), CustomFields: custom, Email: c.Email,
		ExternalID: c.ExternalID, Facebook: c.Facebook, FirstName: c.FirstName, LastName: c.LastName, Line: c.Line,
		ListIDs: nonNil(c.ListIDs), PhoneNumber: c.PhoneNumber, PhoneNumberID: c.PhoneNumberID, PostalCode: c.PostalCode,
		SegmentIDs: nonNil(c.SegmentIDs), StateProvinceRegion: c.StateProvinceRegion, UniqueName: c.UniqueName,
		UpdatedAt: exportTime(c.UpdatedAt), WhatsApp: c.WhatsApp,
	})
	return append(dst, x.buf.Bytes()...), err
}
