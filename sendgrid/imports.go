package sendgrid

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
)

// CSV contact imports: tsg_mc_contacts_v3's ImportContact, the upload of
// its file, which SendGrid takes on S3 and segmentd at ImportFilesPrefix,
// and the errors file that GetImportContact's errors_url names
// (docs/sendgrid.md "Contact imports").

type importRequest struct {
	ListIDs       []string  `json:"list_ids"`
	FileType      *string   `json:"file_type"`
	FieldMappings []*string `json:"field_mappings"`
}

type importResponse struct {
	JobID         string         `json:"job_id"`
	UploadURI     string         `json:"upload_uri"`
	UploadHeaders []uploadHeader `json:"upload_headers"`
}

type uploadHeader struct {
	Header string `json:"header"`
	Value  string `json:"value"`
}

// The header SendGrid's upload_headers name: its upload URI is a
// pre-signed S3 PUT that asks for server-side encryption (client code
// sends it, as a sendgrid-java issue of 2021 shows). segmentd hands out
// the same one and requires it, so that code which leaves out the
// upload_headers fails here as it would at SendGrid.
const (
	uploadHeaderName  = "x-amz-server-side-encryption"
	uploadHeaderValue = "aws:kms"
)

// createImport is PUT /v3/marketing/contacts/imports: it checks the
// columns' mappings and the lists, and answers 200 with the job id, the
// upload URI and the headers the upload must send.
func (h *handler) createImport(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var req importRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	switch {
	case req.FileType == nil:
		return invalid("file_type", "file_type is required")
	case *req.FileType != "csv":
		return invalid("file_type", `file_type must be "csv"; got %s`, segmentd.Quote(*req.FileType))
	case req.FieldMappings == nil:
		return invalid("field_mappings", "field_mappings is required: one field id (or null, to skip the column) per column of the file")
	case len(req.FieldMappings) == 0:
		return invalid("field_mappings", "field_mappings must name at least one column")
	case len(req.FieldMappings) > segmentd.MaxImportColumns:
		return segmentd.Errorf(segmentd.KindTooLarge, "field_mappings", "field_mappings may hold at most %d columns, got %d", segmentd.MaxImportColumns, len(req.FieldMappings))
	}
	fields, err := h.svc.FieldsByID(r.Context(), acct.ID)
	if err != nil {
		return err
	}
	mappings := make([]string, len(req.FieldMappings))
	for i, m := range req.FieldMappings {
		if m != nil {
			mappings[i] = *m
			if *m == "" {
				return invalid(fmt.Sprintf("field_mappings[%d]", i), "field_mappings[%d] must be a field id, or null to skip the column", i)
			}
		}
	}
	if _, err := importColumnsOf(mappings, fields); err != nil {
		return err
	}
	listIDs := make([]string, len(req.ListIDs))
	for i, id := range req.ListIDs {
		listIDs[i] = strings.ToLower(id) // UUIDs are case-insensitive
	}
	imp, err := h.svc.CreateImport(r.Context(), acct.ID, mappings, listIDs)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, importResponse{
		JobID:         imp.ID,
		UploadURI:     h.baseURL(r) + importUploadPath(imp),
		UploadHeaders: []uploadHeader{{Header: uploadHeaderName, Value: uploadHeaderValue}},
	})
}

// --- the columns

// columnKind is what a column of an import file sets.
type columnKind int

const (
	columnSkip       columnKind = iota
	columnText                  // a reserved text field or an identifier
	columnAlternates            // alternate_emails: addresses separated by commas
	columnCustom                // a custom field, by its type
)

// importColumn is one column of an import file, resolved from its
// mapping.
type importColumn struct {
	kind columnKind
	name string // the field's name in the API (custom_fields.<id> for a custom field)
	bind func(*segmentd.ContactPatch) **string
	def  segmentd.FieldDefinition
}

// identifierColumns are the field ids (or names) an import's columns
// need one of: email's reserved id, and the identifiers SendGrid's
// reserved field list gives no id (segmentd takes their names).
var identifierColumns = []string{"_rf2_T", "phone_number_id", "external_id", "anonymous_id"}

// importColumnsOf resolves an import's mappings ("" skips a column)
// against the account's custom fields: a writable reserved field's id
// (_rf0_T … _rf14_T), phone_number_id, external_id or anonymous_id, or a
// custom field's id; each at most once, and one of them an identifier.
func importColumnsOf(mappings []string, fields map[string]segmentd.FieldDefinition) ([]importColumn, error) {
	cols := make([]importColumn, len(mappings))
	seen := map[string]int{}
	identifier := false
	for i, id := range mappings {
		path := fmt.Sprintf("field_mappings[%d]", i)
		if id == "" {
			continue
		}
		if first, ok := seen[id]; ok {
			return nil, invalid(path, "%s: field %s is mapped twice, to columns %d and %d", path, segmentd.Quote(id), first+1, i+1)
		}
		seen[id] = i
		identifier = identifier || slices.Contains(identifierColumns, id)
		col, err := importColumnOf(id, fields)
		if err != nil {
			return nil, invalid(path, "%s: %s", path, err.Error())
		}
		cols[i] = col
	}
	if !identifier {
		return nil, invalid("field_mappings", "field_mappings must map a column to an identifier: email (_rf2_T), phone_number_id, external_id or anonymous_id")
	}
	return cols, nil
}

// importColumnOf resolves one mapping; its error is the message's tail.
func importColumnOf(id string, fields map[string]segmentd.FieldDefinition) (importColumn, error) {
	for _, f := range segmentd.ReservedFields {
		if f.ID != id {
			continue
		}
		switch {
		case f.ReadOnly:
			return importColumn{}, fmt.Errorf("the reserved field %s (%s) is read-only", segmentd.Quote(id), f.Name)
		case f.Name == "alternate_emails":
			return importColumn{kind: columnAlternates, name: f.Name}, nil
		}
		return importColumn{kind: columnText, name: f.Name, bind: contactStringFields[f.Name]}, nil
	}
	if slices.Contains(identifierColumns[1:], id) {
		return importColumn{kind: columnText, name: id, bind: contactStringFields[id]}, nil
	}
	if def, ok := fields[id]; ok {
		return importColumn{kind: columnCustom, name: "custom_fields." + id, def: def}, nil
	}
	return importColumn{}, fmt.Errorf("no reserved or custom field has the id %s", segmentd.Quote(id))
}

// blank reports whether every cell of a record is empty or white space:
// such a row (a spreadsheet's trailing empty rows) is skipped, as an
// empty line is.
func blank(rec []string) bool {
	for _, c := range rec {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// importPatch turns a record of an import file into a patch. A cell that
// is empty or white space leaves its field as it is (a CSV cannot tell an
// absent value from one to clear). An error names the field at fault.
func importPatch(cols []importColumn, rec []string) (segmentd.ContactPatch, error) {
	var p segmentd.ContactPatch
	for i, col := range cols {
		cell := rec[i]
		if col.kind == columnSkip || strings.TrimSpace(cell) == "" {
			continue
		}
		switch col.kind {
		case columnText:
			*col.bind(&p) = &cell
		case columnAlternates:
			var emails []string
			for _, e := range strings.Split(cell, ",") {
				if e = strings.TrimSpace(e); e != "" {
					emails = append(emails, e)
				}
			}
			if len(emails) > 0 { // "," alone is as blank as ""
				p.AlternateEmails = &emails
			}
		case columnCustom:
			v, err := customText(cell, col.name, col.def)
			if err != nil {
				return p, err
			}
			if p.CustomFields == nil {
				p.CustomFields = map[string]*segmentd.Value{}
			}
			p.CustomFields[col.def.ID] = v
		}
	}
	return p, nil
}

// --- the upload and the errors file

// ImportFilesPrefix is where imports' files are: an upload is a PUT to
// ImportFilesPrefix + "<account>/<token>", its errors file a GET of
// that + "/errors.csv". The token (256 random bits) is the only
// credential, as in SendGrid's pre-signed S3 URLs: neither takes an API
// key.
const ImportFilesPrefix = "/files/imports/"

func importUploadPath(imp segmentd.Import) string {
	return fmt.Sprintf("%s%d/%s", ImportFilesPrefix, imp.AccountID, imp.Token)
}

const importErrorsFile = "errors.csv"

// Messages of the import files' handler.
const (
	msgUploadNotFound = "upload URI not found"
	msgErrorsNotFound = "errors file not found; it may have expired"
)

// NewImportFiles returns the handler of ImportFilesPrefix: uploads (PUT)
// and errors files (GET, HEAD). Its errors are SendGrid's envelope with
// "field":null, as the export files' are.
func NewImportFiles(svc *audience.Service, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		acct, token, errorsFile, ok := parseImportFilePath(r.URL.Path)
		switch {
		case !ok:
			writeFileError(w, http.StatusNotFound, msgNotFound)
		case errorsFile && r.Method != http.MethodGet && r.Method != http.MethodHead:
			w.Header().Set("Allow", "GET, HEAD")
			writeFileError(w, http.StatusMethodNotAllowed, msgMethodNotAllowed)
		case errorsFile:
			serveImportErrors(w, r, svc, log, acct, token)
		case r.Method != http.MethodPut:
			w.Header().Set("Allow", "PUT")
			writeFileError(w, http.StatusMethodNotAllowed, msgMethodNotAllowed)
		default:
			u := &upload{svc: svc, log: log, w: w, r: r}
			u.serve(acct, token)
		}
	})
}

// parseImportFilePath reads <account>/<token>[/errors.csv] after the
// prefix.
func parseImportFilePath(p string) (acct int64, token string, errorsFile, ok bool) {
	rest, ok := strings.CutPrefix(p, ImportFilesPrefix)
	if !ok {
		return 0, "", false, false
	}
	parts := strings.Split(rest, "/")
	switch {
	case len(parts) == 3 && parts[2] == importErrorsFile:
		errorsFile = true
	case len(parts) != 2:
		return 0, "", false, false
	}
	acct, err := strconv.ParseInt(parts[0], 10, 64)
	if err != nil || acct <= 0 || len(parts[1]) != 64 || strings.Trim(parts[1], "0123456789abcdef") != "" {
		return 0, "", false, false
	}
	return acct, parts[1], errorsFile, true
}

// serveImportErrors serves an import's errors file: a header row, then
// the rows that could not be imported, by row number, one stored chunk at
// a time.
func serveImportErrors(w http.ResponseWriter, r *http.Request, svc *audience.Service, log *slog.Logger, acct int64, token string) {
	imp, err := svc.ImportErrorsFile(r.Context(), acct, token)
	if err != nil {
		if segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
			log.Error("import errors file", "path", r.URL.Path, "err", err)
			writeFileError(w, http.StatusInternalServerError, msgInternal)
			return
		}
		writeFileError(w, http.StatusNotFound, msgErrorsNotFound)
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", "text/csv; charset=utf-8")
	hdr.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="contacts_import_%s_errors.csv"`, imp.ID))
	hdr.Set("Cache-Control", "private, no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	if _, err := w.Write(audience.ImportErrorsHeader()); err != nil {
		return
	}
	for after := -1; ; {
		seq, data, err := svc.ImportErrorsChunk(r.Context(), imp, after)
		if segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
			return
		}
		if err != nil {
			// Halfway: cut the connection rather than end the file short.
			log.Error("import errors file chunk", "path", r.URL.Path, "after", after, "err", err)
			panic(http.ErrAbortHandler)
		}
		if _, err := w.Write(data); err != nil {
			return // the client went away
		}
		after = seq
	}
}

// errUploadTooLarge stops reading a file past segmentd.MaxImportBytes.
var errUploadTooLarge = segmentd.Errorf(segmentd.KindTooLarge, "", "the file is larger than 5 GB (%d bytes), the most one import takes", segmentd.MaxImportBytes)

// errRowTooLarge stops reading a record past segmentd.MaxImportRowBytes.
var errRowTooLarge = errors.New("row too large")

// counted counts the bytes read from r and refuses more than max.
type counted struct {
	r   io.Reader
	n   int64
	max int64
	err error // the first error r returned, EOF included
}

func (c *counted) Read(p []byte) (int, error) {
	// One byte past max tells a file of exactly max bytes from a longer one.
	n, err := c.r.Read(p[:min(int64(len(p)), c.max-c.n+1)])
	c.n += int64(n)
	if c.n > c.max {
		return 0, errUploadTooLarge
	}
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}

// rowBudget refuses more than segmentd.MaxImportRowBytes read since its
// last reset (once per record): the CSV reader buffers a record whole,
// so this bounds its memory (give or take its 4 kB read-ahead).
type rowBudget struct {
	r    io.Reader
	left int
}

func (b *rowBudget) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, errRowTooLarge
	}
	n, err := b.r.Read(p[:min(len(p), b.left)])
	b.left -= n
	return n, err
}

func (b *rowBudget) reset() { b.left = segmentd.MaxImportRowBytes }

// upload is one PUT of an import's file.
type upload struct {
	svc *audience.Service
	log *slog.Logger
	w   http.ResponseWriter
	r   *http.Request
}

// fileError is a file that cannot be read: its import fails, with
// nothing applied, and the upload (which was received) answers 200, as
// SendGrid's S3 does. row is where reading stopped.
type fileError struct {
	row int
	msg string
}

func (e *fileError) Error() string { return e.msg }

// serve takes the upload: the request's headers are checked before the
// URI is spent (a refusal there leaves it usable), then the file is read
// through, its rows stored batch by batch, and the import's job accepted.
func (u *upload) serve(acct int64, token string) {
	r := u.r
	if got := r.Header.Get(uploadHeaderName); got != uploadHeaderValue {
		writeFileError(u.w, http.StatusForbidden, fmt.Sprintf("the upload must send the header %s: %s, as upload_headers said", uploadHeaderName, uploadHeaderValue))
		return
	}
	gz := false
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		gz = true
	default:
		writeFileError(u.w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Encoding %s is not supported: send the CSV file plain or gzip-compressed", segmentd.Quote(enc)))
		return
	}
	if r.ContentLength > segmentd.MaxImportBytes {
		writeFileError(u.w, http.StatusRequestEntityTooLarge, errUploadTooLarge.Message)
		return
	}
	up, err := u.svc.StartImportUpload(r.Context(), acct, token)
	switch {
	case errors.Is(err, audience.ErrUploadUsed):
		writeFileError(u.w, http.StatusConflict, messageOf(err))
		return
	case errors.Is(err, audience.ErrUploadExpired):
		writeFileError(u.w, http.StatusGone, messageOf(err))
		return
	case segmentd.ErrorKindOf(err) == segmentd.KindNotFound:
		writeFileError(u.w, http.StatusNotFound, msgUploadNotFound)
		return
	case err != nil:
		u.internal(err)
		return
	}
	raw := &counted{r: r.Body, max: segmentd.MaxImportBytes}
	err = readFile(r.Context(), up, raw, gz)
	var fe *fileError
	switch {
	case err == nil:
		err = up.Finish(r.Context())
		if err == nil {
			u.w.Header().Set("Content-Length", "0")
			u.w.WriteHeader(http.StatusOK)
			return
		}
		if segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
			// The account was reset or deleted meanwhile.
			writeFileError(u.w, http.StatusNotFound, msgUploadNotFound)
			return
		}
		u.internal(err)
	case segmentd.ErrorKindOf(err) == segmentd.KindTooLarge:
		// More than an import takes: the rest is not read.
		msg := messageOf(err)
		if ferr := up.Fail(r.Context(), up.Rows()+2, msg); ferr != nil {
			u.log.Error("failing an import", "path", r.URL.Path, "err", ferr)
		}
		writeFileError(u.w, http.StatusRequestEntityTooLarge, msg)
	case errors.As(err, &fe):
		if ferr := up.Fail(r.Context(), fe.row, fe.msg); ferr != nil {
			if segmentd.ErrorKindOf(ferr) == segmentd.KindNotFound {
				writeFileError(u.w, http.StatusNotFound, msgUploadNotFound)
				return
			}
			up.Abort(r.Context())
			u.internal(ferr)
			return
		}
		// The rest of the file is read and dropped, so that the client
		// gets its answer rather than a connection cut mid-send.
		_, _ = io.Copy(io.Discard, raw)
		u.w.Header().Set("Content-Length", "0")
		u.w.WriteHeader(http.StatusOK)
	default:
		up.Abort(r.Context())
		if raw.err != nil && raw.err != io.EOF {
			// The client went away, or its body broke off.
			writeFileError(u.w, http.StatusBadRequest, "the file could not be read to its end")
			return
		}
		u.internal(err)
	}
}

// messageOf is the client's message of a *segmentd.Error.
func messageOf(err error) string {
	var e *segmentd.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return msgInternal
}

func (u *upload) internal(err error) {
	u.log.Error("import upload", "path", u.r.URL.Path, "err", err)
	writeFileError(u.w, http.StatusInternalServerError, msgInternal)
}

// rowSink is what the rows of an import file go to: the upload
// (*audience.ImportUpload), or a test that records them.
type rowSink interface {
	Import() segmentd.Import
	Fields() map[string]segmentd.FieldDefinition
	Add(ctx context.Context, row int, p *segmentd.ContactPatch) error
	Skip(ctx context.Context, row int, field, msg string) error
}

// readFile reads an import file through, gunzipping it when gz says so
// or its magic number does, and hands each data row to up. It returns a
// *fileError for a file that cannot be read, a KindTooLarge error past a
// limit, and any other error as it comes (the body broke off, the store
// failed).
func readFile(ctx context.Context, up rowSink, raw *counted, gz bool) error {
	var src io.Reader = raw
	br := bufio.NewReader(raw)
	if !gz {
		// A gzip file sent without Content-Encoding (as to SendGrid's S3,
		// which stores bytes) is told by its magic number: no CSV starts
		// with the control character 0x1f.
		if head, _ := br.Peek(2); len(head) == 2 && head[0] == 0x1f && head[1] == 0x8b {
			gz = true
		}
	}
	src = br
	if gz {
		zr, err := gzip.NewReader(br)
		if err != nil {
			if raw.err != nil && raw.err != io.EOF || errors.Is(err, errUploadTooLarge) {
				return readError(err, raw, false, 1)
			}
			return &fileError{row: 1, msg: "the file could not be decompressed: it is not gzip data"}
		}
		src = &counted{r: zr, max: raw.max} // unpacked, the same limit: a gzip bomb stops there
	}
	budget := &rowBudget{r: src}
	budget.reset()
	cr := csv.NewReader(budget)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if err == io.EOF {
			return &fileError{row: 1, msg: "the file is empty: it must start with a header row"}
		}
		return readError(err, raw, gz, 1)
	}
	imp := up.Import()
	if len(header) != len(imp.Mappings) {
		// SendGrid's words for it (a sendgrid-java issue of 2021), and the
		// numbers.
		return &fileError{row: 1, msg: fmt.Sprintf("we were unable to upload your contacts because the field mapping doesn't match the CSV: the header row has %d columns, field_mappings %d", len(header), len(imp.Mappings))}
	}
	cols, err := importColumnsOf(imp.Mappings, up.Fields())
	if err != nil {
		// A custom field deleted since the import was asked for.
		return &fileError{row: 1, msg: "field_mappings no longer match the account's fields: " + messageOf(err)}
	}
	for row := 2; ; row++ {
		budget.reset()
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return readError(err, raw, gz, row)
		}
		if len(rec) != len(cols) {
			if err := up.Skip(ctx, row, "", fmt.Sprintf("the row has %d columns; the header row has %d", len(rec), len(cols))); err != nil {
				return err
			}
			continue
		}
		if blank(rec) {
			continue
		}
		p, err := importPatch(cols, rec)
		if err != nil {
			var e *segmentd.Error
			if !errors.As(err, &e) {
				return err
			}
			err = up.Skip(ctx, row, e.Field, e.Message)
		} else {
			err = up.Add(ctx, row, &p)
		}
		if err != nil {
			return err
		}
	}
}

// readError classifies an error reading the file at row: past a limit, a
// body that broke off (returned as is), or a file that cannot be read.
func readError(err error, raw *counted, gz bool, row int) error {
	var pe *csv.ParseError
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, errUploadTooLarge):
		return errUploadTooLarge
	case raw.err != nil && raw.err != io.EOF:
		return err
	case errors.Is(err, errRowTooLarge):
		return &fileError{row: row, msg: fmt.Sprintf("row %d is longer than %d bytes, the most segmentd reads in one row", row, segmentd.MaxImportRowBytes)}
	case errors.As(err, &pe):
		what := "a quote in a field that is not quoted"
		if errors.Is(pe.Err, csv.ErrQuote) {
			what = "a quoted field that does not end where it should"
		}
		return &fileError{row: row, msg: fmt.Sprintf("the file is not valid CSV: line %d, column %d: %s", pe.Line, pe.Column, what)}
	case gz && (errors.Is(err, gzip.ErrChecksum) || errors.Is(err, gzip.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &corrupt)):
		return &fileError{row: row, msg: "the file could not be decompressed: its gzip data is damaged or cut short"}
	}
	return err
}
