package segmentd

import (
	"context"
	"time"
)

// Limits of CSV contact imports (SendGrid's PUT /v3/marketing/contacts/imports;
// docs/sendgrid.md "Contact imports").
const (
	// MaxImportContacts and MaxImportBytes are SendGrid's limits of one
	// import file: a million contacts or 5 GB, whichever is smaller.
	// segmentd counts the bytes of the file as uploaded and, when it is
	// gzip-compressed, as unpacked, each against 5 GiB.
	MaxImportContacts       = 1_000_000
	MaxImportBytes    int64 = 5 << 30
	// MaxImportColumns bounds field_mappings, and so the columns of an
	// import file (segmentd's limit: 15 reserved fields, 3 identifiers
	// and 500 custom fields leave room for skipped columns).
	MaxImportColumns = 1000
	// MaxImportRowBytes bounds one record of an import file (segmentd's
	// limit, so that one row never holds more memory than that; the
	// widest row of valid values is about half of it).
	MaxImportRowBytes = 4 << 20
	// MaxImportListIDs bounds an import's list_ids (segmentd's limit).
	MaxImportListIDs = 100
	// ImportUploadLifetime is how long an upload URI takes its file:
	// an upload must start before it ends (segmentd's choice, on the
	// server's clock; SendGrid does not say).
	ImportUploadLifetime = time.Hour
	// ImportLifetime is how long an import's errors file is kept after
	// its job finished, as long as an export's files.
	ImportLifetime = 72 * time.Hour
)

// ImportState is where a CSV import stands. Its job, polled at
// GET /v3/marketing/contacts/imports/{id}, has SendGrid's statuses; these
// are segmentd's, for the upload and the files.
type ImportState string

const (
	// ImportAwaiting: the upload URI was handed out and nothing has
	// arrived at it.
	ImportAwaiting ImportState = "awaiting"
	// ImportUploading: a server is receiving the file; the URI is spent.
	ImportUploading ImportState = "uploading"
	// ImportQueued: the file was read whole and its rows are stored as
	// batches, which the import's job applies.
	ImportQueued ImportState = "queued"
	// ImportDone: its job finished (or failed); what is left is its
	// errors file, until ExpiresAt.
	ImportDone ImportState = "done"
)

// Import is a CSV contact import: the mapping of its file's columns, the
// lists its contacts join, the secret of its upload URI and errors file,
// and where it stands. Its id is its job's.
type Import struct {
	ID        string
	AccountID int64
	// Token is the secret part of the upload URI and of the errors file's
	// URL (64 hex digits).
	Token string
	// Mappings are the field ids of the file's columns, in order; ""
	// skips a column.
	Mappings []string
	ListIDs  []string
	State    ImportState
	// Rows and Batches are the data rows the file held and the batches
	// they are stored in (set once it is queued).
	Rows      int
	Batches   int
	CreatedAt time.Time
	// ExpiresAt is, while awaiting, the end of the upload URI; once done,
	// when the import and its errors file are deleted.
	ExpiresAt time.Time
	// Lease is how long (wall time) the server receiving an upload owns it
	// without renewing: past it, the upload was abandoned.
	Lease time.Time
}

// ImportChunkKind is what an import's stored chunk holds.
type ImportChunkKind int

const (
	// ImportBatch is one batch of the file's rows, as the Service encodes
	// them: the upload stores them, its job applies them.
	ImportBatch ImportChunkKind = 0
	// ImportErrors is part of the errors file (CSV rows), written by the
	// job as it applies the batches.
	ImportErrors ImportChunkKind = 1
)

// ImportStore keeps CSV imports and their chunks, so that any server
// sharing the store can take an upload, apply it and serve its errors
// file.
type ImportStore interface {
	CreateImport(ctx context.Context, imp Import) error
	Import(ctx context.Context, acct int64, id string) (Import, error)
	// ImportByToken finds an account's import by its token.
	ImportByToken(ctx context.Context, acct int64, token string) (Import, error)
	// UpdateImport stores imp's State, Rows, Batches, ExpiresAt and Lease
	// if the stored import is in state from: anything else is
	// KindConflict (so that one upload alone takes an URI), an import that
	// is gone KindNotFound.
	UpdateImport(ctx context.Context, imp Import, from ImportState) error
	// PutImportChunk stores chunk seq of kind, in place of one stored
	// already. An import that is gone is KindNotFound.
	PutImportChunk(ctx context.Context, acct int64, id string, kind ImportChunkKind, seq int, data []byte) error
	// ImportChunk reads chunk seq of kind (KindNotFound when missing).
	ImportChunk(ctx context.Context, acct int64, id string, kind ImportChunkKind, seq int) ([]byte, error)
	// NextImportChunk reads the chunk of kind with the least seq above
	// after (KindNotFound when there is none).
	NextImportChunk(ctx context.Context, acct int64, id string, kind ImportChunkKind, after int) (int, []byte, error)
	// DropImportChunks deletes an import's chunks of kind.
	DropImportChunks(ctx context.Context, acct int64, id string, kind ImportChunkKind) error
	// UnfinishedImports returns the imports of every account that are not
	// done, oldest first.
	UnfinishedImports(ctx context.Context) ([]Import, error)
	// DeleteExpiredImports deletes the done imports whose ExpiresAt is at
	// or before now, with their chunks, and returns how many.
	DeleteExpiredImports(ctx context.Context, now time.Time) (int, error)
}
