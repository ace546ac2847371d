package segmentd

import (
	"context"
	"time"
)

// ExportStatus is SendGrid's contact export status.
type ExportStatus string

const (
	ExportPending ExportStatus = "pending" // being written
	ExportReady   ExportStatus = "ready"   // its files can be downloaded
	ExportFailure ExportStatus = "failure" // it could not be finished (Export.Message says why)
)

// ExportType is SendGrid's export_type: what an export was asked for.
type ExportType string

const (
	ExportContacts ExportType = "contacts_export" // every contact (no list or segment given)
	ExportLists    ExportType = "list_export"     // lists only
	ExportSegments ExportType = "segment_export"  // segments, with or without lists
)

// Limits of contact exports (docs/sendgrid.md "Contact exports").
const (
	// ExportLifetime is how long an export, and its files, are kept after
	// it finishes: SendGrid's UI documents 72 hours of downloads.
	ExportLifetime = 72 * time.Hour
	// DefaultExportFileMB is max_file_size when the request leaves it out
	// (SendGrid's documented default).
	DefaultExportFileMB = 5000
	// MaxExportIDs bounds list_ids and segment_ids each (segmentd's limit;
	// SendGrid states none).
	MaxExportIDs = 100
	// MaxPendingExports bounds an account's exports being written at once
	// (segmentd's limit; SendGrid states none): each holds its selection
	// in memory until it finishes.
	MaxPendingExports = 5
)

// MsgExportAbandoned is the message of an export whose server stopped
// before it finished.
const MsgExportAbandoned = "the server writing this export stopped before it finished; start a new export"

// Export is a contact export (SendGrid's POST /v3/marketing/contacts/exports):
// the contacts of some lists and segments (or all of them), with their
// membership as of CreatedAt, written as gzip-compressed files that are
// downloaded at unguessable URLs until ExpiresAt.
type Export struct {
	ID        string
	AccountID int64
	Status    ExportStatus
	Type      ExportType
	FileType  string // "csv" or "json"
	// Lists and Segments are what was asked for, with their names when
	// the export started.
	Lists    []ExportRef
	Segments []ExportRef
	// MaxFileBytes bounds each file's uncompressed size; a file holds at
	// least one contact whatever its size.
	MaxFileBytes int64
	Notify       bool // notifications.email: accepted, no mail is sent
	// Token is the secret part of the download URLs (64 hex digits).
	Token   string
	Message string // why it failed (status failure)
	// ContactCount and Files are set once it is ready.
	ContactCount int
	Files        []ExportFile
	CreatedAt    time.Time
	UpdatedAt    time.Time
	CompletedAt  time.Time // zero while pending
	ExpiresAt    time.Time
	// Lease is how long (wall time) the server writing a pending export
	// owns it without renewing: past it, the export is abandoned (or, in
	// a store several servers share, taken over: ExportTaker).
	Lease time.Time
	// Input is what another server needs to write the export (its frozen
	// selection and file format, encoded by the service). CreateExport
	// stores it only in a store that implements ExportTaker; no store
	// reads it back but through TakeExport.
	Input []byte
}

// ExportRef names a list or segment an export was asked for.
type ExportRef struct {
	ID   string `json:"id"` // the stores keep refs as JSON in these names
	Name string `json:"name"`
}

// ExportFile is one file of a ready export: its gzip-compressed size,
// the number of chunks it is stored in, and how many contacts it holds.
type ExportFile struct {
	Bytes    int64 `json:"bytes"`
	Chunks   int   `json:"chunks"`
	Contacts int   `json:"contacts"`
}

// ErrTooManyExports refuses an export beyond MaxPendingExports.
var ErrTooManyExports = Errorf(KindInvalid, "", "an account may have at most %d exports pending at once; wait for one to finish", MaxPendingExports)

// ExportStore keeps contact exports with the contents of their files, so
// that any server sharing the store can serve a download. Files are
// stored as numbered chunks of their gzip bytes, written while the export
// is pending.
type ExportStore interface {
	// CreateExport stores e, pending, leased until e.Lease. An account
	// with max exports pending already is ErrTooManyExports.
	CreateExport(ctx context.Context, e Export, max int) error
	// RenewExport extends a pending export's lease.
	RenewExport(ctx context.Context, acct int64, id string, lease time.Time) error
	// AddExportChunk stores chunk seq (from 0) of file (from 0) of a pending
	// export. An export that is no longer pending, or gone, is
	// KindNotFound.
	AddExportChunk(ctx context.Context, acct int64, id string, file, seq int, data []byte) error
	// FinishExport stores a pending export's outcome: e.Status ready (with
	// ContactCount and Files) or failure (with Message; its chunks are
	// dropped), and e's UpdatedAt, CompletedAt and ExpiresAt. An export no
	// longer pending is KindConflict and changes nothing.
	FinishExport(ctx context.Context, e Export) error
	Export(ctx context.Context, acct int64, id string) (Export, error)
	// ExportByToken finds an account's export by its download token.
	ExportByToken(ctx context.Context, acct int64, token string) (Export, error)
	// Exports returns an account's exports, newest first.
	Exports(ctx context.Context, acct int64) ([]Export, error)
	// ExportChunk reads one chunk of a file (KindNotFound when missing).
	ExportChunk(ctx context.Context, acct int64, id string, file, seq int) ([]byte, error)
	// FailAbandonedExports fails (with msg, at now) every pending export
	// whose lease ended before leaseBefore, and returns how many.
	FailAbandonedExports(ctx context.Context, leaseBefore time.Time, msg string, now time.Time) (int, error)
	// DeleteExpiredExports deletes the exports, with their files, that
	// expired at or before now, and returns how many.
	DeleteExpiredExports(ctx context.Context, now time.Time) (int, error)
}

// ExportTaker is what a store that several servers share adds to
// ExportStore, so that a pending export outlives the server writing it:
// its Input, stored by CreateExport, is handed to the server that takes
// it over once its lease has ended.
type ExportTaker interface {
	// LapsedExports returns the pending exports, of every account, whose
	// lease ended before leaseBefore (without their Input).
	LapsedExports(ctx context.Context, leaseBefore time.Time) ([]Export, error)
	// TakeExport takes a pending export whose lease ended before
	// leaseBefore: it is leased until lease, the chunks its previous
	// writer stored are dropped, and its Input is returned (nil for an
	// export stored without one). Only one of several servers taking the
	// same export at once passes; the others, and an export leased or no
	// longer pending, get KindConflict. A missing export is KindNotFound.
	TakeExport(ctx context.Context, acct int64, id string, leaseBefore, lease time.Time) ([]byte, error)
}

// ExportSelection is what an export writes: the contacts selected when it
// started, in ascending id order, with the lists and segments each was in
// then. The engine freezes it (Membership.SelectForExport) so that
// memberships do not move under a long export.
type ExportSelection interface {
	Len() int
	// ID is the i-th selected contact's id.
	ID(i int) string
	// Lists and Segments are the sorted ids of the lists and segments the
	// i-th contact was in (Constant Contact's segments included).
	Lists(i int) []string
	Segments(i int) []string
}

// ExportQuery is the contacts an export selects
// (Membership.SelectForExport): those on any of ListIDs, in any of
// SegmentIDs, with any of TagIDs, or named by ContactIDs (every contact
// when all four are empty; unknown ids select nobody), less those Exclude
// names.
type ExportQuery struct {
	ListIDs, SegmentIDs, TagIDs, ContactIDs []string
	Exclude                                 []string
}
