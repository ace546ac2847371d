package audience

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/journal"
)

// CSV contact imports (SendGrid's PUT /v3/marketing/contacts/imports,
// docs/sendgrid.md "Contact imports"). An import is created with its
// columns' field ids and its lists, and hands out an upload URI. The
// upload (the face parses the file) turns each data row into a patch,
// validated as an upsert's contact is, and stores the rows as batches of
// importBatchRows in the store, so that memory holds one batch whatever
// the file's size; once the whole file has been read, the import's job is
// accepted like any other (journaled, queued on its account), and only
// then does the upload succeed. A file that cannot be read fails the
// import with nothing applied.
//
// The job applies one batch per turn of its account (backlog.go), through
// the upsert's own store stage (upsertBatch): the same identifier
// matching, field rules and lists. The rows a batch could not take (those
// the upload refused, and those the store refused) are written to the
// import's errors file, a CSV stored as one chunk per batch. After each
// batch a step record in the journal says where the import stands, so
// that a restart resumes it at its next batch.

const (
	// importBatchRows and importBatchBytes bound a batch: the rows one
	// store transaction applies, and what the upload holds in memory.
	importBatchRows  = 5000
	importBatchBytes = 4 << 20
	// importLease is how long (wall time) the server receiving an upload
	// holds it without renewing, on a store shared with other servers.
	importLease      = time.Minute
	importRenewEvery = 15 * time.Second
	importSweepEvery = time.Minute
)

// The messages of an import's job that failed as a whole without its
// file being read.
const (
	MsgImportExpired     = "no file was uploaded before the upload URI expired; start a new import"
	MsgImportInterrupted = "the upload stopped before the whole file had arrived; start a new import"
)

// The refusals of an upload URI that is known but takes no file.
var (
	ErrUploadExpired = segmentd.Errorf(segmentd.KindInvalid, "", "this upload URI has expired; start a new import")
	ErrUploadUsed    = segmentd.Errorf(segmentd.KindConflict, "", "this upload URI was used already; an import takes one upload, so start a new import")
)

// importErrorsHeader starts an import's errors file.
const importErrorsHeader = "row,field,message\n"

// imports is the Service's state of the uploads it receives.
type imports struct {
	running idSet // uploads being received here, by import id
	// jobsKnown says that every accepted job of a store of one server is
	// known (OpenJournal has resumed the journal's, or there is none to
	// wait for): only then is a queued import without a job abandoned.
	jobsKnown atomic.Bool
	stop      context.CancelFunc
	wg        sync.WaitGroup
}

func (x *imports) start(id string)          { x.running.add(id) }
func (x *imports) done(id string)           { x.running.remove(id) }
func (x *imports) isRunning(id string) bool { return x.running.has(id) }

// startImports starts the sweep of imports (Config.Imports set).
func (s *Service) startImports() {
	ctx, stop := context.WithCancel(context.Background())
	s.imps = &imports{stop: stop}
	sweepEvery(ctx, &s.imps.wg, importSweepEvery, s.sweepImports)
}

func (s *Service) stopImports() {
	if s.imps == nil {
		return
	}
	s.imps.stop()
	s.imps.wg.Wait()
}

func (s *Service) importStore() (segmentd.ImportStore, error) {
	if s.cfg.Imports == nil {
		return nil, errors.New("audience: contact imports need Config.Imports")
	}
	return s.cfg.Imports, nil
}

// CreateImport creates an import of a file whose columns map to the field
// ids of mappings ("" skips a column), its contacts joining listIDs, and
// returns it, awaiting its upload until ExpiresAt. The face checks the
// mappings (they are SendGrid's field ids); the lists are checked here:
// an unknown one is KindNotFound.
func (s *Service) CreateImport(ctx context.Context, acct int64, mappings, listIDs []string) (segmentd.Import, error) {
	st, err := s.importStore()
	if err != nil {
		return segmentd.Import{}, err
	}
	listIDs = dedupe(listIDs)
	if len(listIDs) > segmentd.MaxImportListIDs {
		return segmentd.Import{}, segmentd.Errorf(segmentd.KindTooLarge, "list_ids", "list_ids may hold at most %d ids", segmentd.MaxImportListIDs)
	}
	for _, id := range listIDs {
		if !segmentd.IsUUID(id) {
			return segmentd.Import{}, segmentd.Errorf(segmentd.KindInvalid, "list_ids", "list id %s is not a valid UUID", segmentd.Quote(id))
		}
	}
	for _, id := range listIDs {
		if _, err := s.store.List(ctx, acct, id); err != nil {
			if segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
				return segmentd.Import{}, segmentd.Errorf(segmentd.KindNotFound, "list_ids", "list %s does not exist", segmentd.Quote(id))
			}
			return segmentd.Import{}, err
		}
	}
	now := s.clock.Now()
	imp := segmentd.Import{ID: segmentd.NewID(), AccountID: acct, Token: newExportToken(), Mappings: mappings, ListIDs: listIDs,
		State: segmentd.ImportAwaiting, CreatedAt: now, ExpiresAt: now.Add(segmentd.ImportUploadLifetime)}
	if len(imp.ListIDs) == 0 {
		imp.ListIDs = nil
	}
	return imp, st.CreateImport(ctx, imp)
}

// ImportUpload receives one import's file, row by row (StartImportUpload).
// It is used by one goroutine.
type ImportUpload struct {
	s      *Service
	imp    segmentd.Import
	fields map[string]segmentd.FieldDefinition
	batch  encoder // the rows of the batch being filled
	n      int     // rows in batch
	rows   int     // rows added in all
	renew  context.CancelFunc
	ended  bool
}

// StartImportUpload takes the upload URI of token, in acct: an unknown
// token is KindNotFound, a used one ErrUploadUsed, an expired one
// ErrUploadExpired. From then on the URI is spent, whatever happens to
// the upload; the caller ends it with Finish, Fail or Abort.
func (s *Service) StartImportUpload(ctx context.Context, acct int64, token string) (*ImportUpload, error) {
	st, err := s.importStore()
	if err != nil {
		return nil, err
	}
	imp, err := st.ImportByToken(ctx, acct, token)
	if err != nil {
		return nil, err
	}
	if imp.State != segmentd.ImportAwaiting {
		return nil, ErrUploadUsed
	}
	if !imp.ExpiresAt.After(s.clock.Now()) {
		return nil, ErrUploadExpired
	}
	fields, err := s.FieldsByID(ctx, acct)
	if err != nil {
		return nil, err
	}
	// Running before it is uploading: the sweep never sees the one
	// without the other.
	s.imps.start(imp.ID)
	up := imp
	up.State, up.Lease = segmentd.ImportUploading, time.Now().Add(importLease)
	if err := st.UpdateImport(ctx, up, segmentd.ImportAwaiting); err != nil {
		s.imps.done(imp.ID)
		if segmentd.ErrorKindOf(err) == segmentd.KindConflict {
			return nil, ErrUploadUsed
		}
		return nil, err
	}
	u := &ImportUpload{s: s, imp: up, fields: fields}
	if s.cfg.Shared {
		rctx, stop := context.WithCancel(context.WithoutCancel(ctx))
		u.renew = stop
		go s.renewUpload(rctx, up)
	}
	return u, nil
}

// renewUpload keeps an upload's lease until ctx ends.
func (s *Service) renewUpload(ctx context.Context, imp segmentd.Import) {
	t := time.NewTicker(importRenewEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			imp.Lease = time.Now().Add(importLease)
			// A conflict is an upload that has just ended.
			if err := s.cfg.Imports.UpdateImport(ctx, imp, segmentd.ImportUploading); err != nil && ctx.Err() == nil &&
				segmentd.ErrorKindOf(err) != segmentd.KindConflict {
				s.log.Warn("renewing an upload's lease", "account", imp.AccountID, "import", imp.ID, "err", err)
			}
		}
	}
}

// Import is the import being uploaded.
func (u *ImportUpload) Import() segmentd.Import { return u.imp }

// Fields are the account's custom fields, by id, as the upload started.
func (u *ImportUpload) Fields() map[string]segmentd.FieldDefinition { return u.fields }

// Rows counts the data rows added so far.
func (u *ImportUpload) Rows() int { return u.rows }

// Add adds the file's next data row, row being its number in the file (the
// header is row 1), as the patch p. A patch segmentd.ValidatePatch refuses
// is kept as the row's error, for the errors file; the other rows are
// applied by the job. A row past segmentd.MaxImportContacts is
// KindTooLarge.
func (u *ImportUpload) Add(ctx context.Context, row int, p *segmentd.ContactPatch) error {
	if err := u.count(); err != nil {
		return err
	}
	if err := segmentd.ValidatePatch(p, "", u.fields); err != nil {
		var e *segmentd.Error
		if !errors.As(err, &e) || e.Kind == segmentd.KindInternal {
			return err
		}
		return u.entry(ctx, row, nil, e.Field, e.Message)
	}
	return u.entry(ctx, row, p, "", "")
}

// Skip adds the file's next data row as one that cannot be imported, for
// the reason msg about field ("" when no one field is to blame).
func (u *ImportUpload) Skip(ctx context.Context, row int, field, msg string) error {
	if err := u.count(); err != nil {
		return err
	}
	return u.entry(ctx, row, nil, field, msg)
}

func (u *ImportUpload) count() error {
	if u.rows == segmentd.MaxImportContacts {
		return segmentd.Errorf(segmentd.KindTooLarge, "", "the file holds more than %d contacts, the most one import takes", segmentd.MaxImportContacts)
	}
	u.rows++
	return nil
}

// entry encodes a row into the batch: its number, then its patch, or the
// field and message of its error. A full batch is stored.
func (u *ImportUpload) entry(ctx context.Context, row int, p *segmentd.ContactPatch, field, msg string) error {
	u.batch.uint(uint64(row))
	if p != nil {
		u.batch.byte(1)
		u.batch.patch(p)
	} else {
		u.batch.byte(0)
		u.batch.str(field)
		u.batch.str(msg)
	}
	u.n++
	if u.n == importBatchRows || len(u.batch) >= importBatchBytes {
		return u.flush(ctx)
	}
	return nil
}

// flush stores the batch being filled, if it holds a row.
func (u *ImportUpload) flush(ctx context.Context) error {
	if u.n == 0 {
		return nil
	}
	if err := u.s.cfg.Imports.PutImportChunk(ctx, u.imp.AccountID, u.imp.ID, segmentd.ImportBatch, u.imp.Batches, u.batch); err != nil {
		return err
	}
	u.imp.Batches++
	u.batch, u.n = u.batch[:0], 0
	return nil
}

// Finish ends an upload whose file was read whole: its last batch is
// stored, and its job accepted (journaled, queued), which applies its
// batches. It returns once the job is accepted: from then on the import
// survives the process being killed.
func (u *ImportUpload) Finish(ctx context.Context) error {
	defer u.end()
	ctx = context.WithoutCancel(ctx) // the file is in: the client leaving changes nothing
	if err := u.flush(ctx); err != nil {
		return err
	}
	st := u.s.cfg.Imports
	q := u.imp
	q.State, q.Rows = segmentd.ImportQueued, u.rows
	if err := st.UpdateImport(ctx, q, segmentd.ImportUploading); err != nil {
		return err
	}
	u.imp = q
	in := &jobInput{op: opImport, value: q.ID, lists: q.ListIDs, batches: q.Batches, rows: q.Rows}
	// Forced: an upload is not refused for the account's backlog (an S3
	// upload is never answered 429, and its client would not retry).
	_, err := u.s.acceptJob(ctx, segmentd.Job{ID: q.ID, AccountID: q.AccountID, Type: segmentd.JobUpsert, Requested: q.Rows, StartedAt: q.CreatedAt}, in, true)
	return err
}

// Fail ends an upload whose file cannot be read (row is the row where
// reading stopped): nothing of it is applied, and its job is failed with
// msg, which its errors file holds too.
func (u *ImportUpload) Fail(ctx context.Context, row int, msg string) error {
	defer u.end()
	return u.s.failUpload(context.WithoutCancel(ctx), u.imp, u.rows, row, msg)
}

// Abort ends an upload that stopped before the whole file had arrived
// (the client went away, or the server failed): its job is failed, with
// nothing applied.
func (u *ImportUpload) Abort(ctx context.Context) {
	if u.ended {
		return
	}
	defer u.end()
	if err := u.s.failUpload(context.WithoutCancel(ctx), u.imp, u.rows, u.rows+2, MsgImportInterrupted); err != nil {
		u.s.log.Error("failing an interrupted upload", "account", u.imp.AccountID, "import", u.imp.ID, "err", err)
	}
}

func (u *ImportUpload) end() {
	if u.ended {
		return
	}
	u.ended = true
	if u.renew != nil {
		u.renew()
	}
	u.s.imps.done(u.imp.ID)
}

// failUpload fails an import whose upload read rows data rows and stopped
// at row for msg: its errors file says so, its job is stored failed, and
// its batches go.
func (s *Service) failUpload(ctx context.Context, imp segmentd.Import, rows, row int, msg string) error {
	st := s.cfg.Imports
	line, err := errorLines([]rowError{{row: row, msg: msg}})
	if err != nil {
		return err
	}
	if err := st.PutImportChunk(ctx, imp.AccountID, imp.ID, segmentd.ImportErrors, 0, line); err != nil {
		return err
	}
	now := s.clock.Now()
	j := failedImportJob(imp, rows, msg, now)
	if err := s.store.CreateJob(ctx, j); err != nil {
		return err
	}
	done := imp
	done.State, done.Rows, done.ExpiresAt = segmentd.ImportDone, rows, now.Add(segmentd.ImportLifetime)
	if err := st.UpdateImport(ctx, done, segmentd.ImportUploading); err != nil {
		return err
	}
	return st.DropImportChunks(ctx, imp.AccountID, imp.ID, segmentd.ImportBatch)
}

// failedImportJob is the job of an import that failed as a whole, at, for
// msg, after rows data rows had been read.
func failedImportJob(imp segmentd.Import, rows int, msg string, at time.Time) segmentd.Job {
	return segmentd.Job{ID: imp.ID, AccountID: imp.AccountID, Type: segmentd.JobUpsert, Status: segmentd.JobFailed,
		Requested: rows, Errored: rows, Errors: []segmentd.JobError{{Index: -1, Message: msg}}, StartedAt: imp.CreatedAt, FinishedAt: at}
}

// importJob is the job of an import that has none yet (its file was not
// accepted): pending while an upload can still come or is arriving,
// failed once the URI expired unused or the upload was abandoned.
func (s *Service) importJob(imp segmentd.Import) segmentd.Job {
	now := s.clock.Now()
	switch {
	case imp.State == segmentd.ImportAwaiting && !imp.ExpiresAt.After(now):
		return failedImportJob(imp, 0, MsgImportExpired, imp.ExpiresAt)
	case imp.State != segmentd.ImportAwaiting && s.uploadAbandoned(imp):
		return failedImportJob(imp, 0, MsgImportInterrupted, now)
	}
	return segmentd.Job{ID: imp.ID, AccountID: imp.AccountID, Type: segmentd.JobUpsert, Status: segmentd.JobPending, StartedAt: imp.CreatedAt}
}

// uploadAbandoned reports whether no server receives imp's upload any
// more: this one does not, and, on a shared store, its lease has ended.
func (s *Service) uploadAbandoned(imp segmentd.Import) bool {
	if s.imps.isRunning(imp.ID) {
		return false
	}
	return !s.cfg.Shared || !imp.Lease.After(time.Now())
}

// ImportErrorsToken returns the token of the errors file of the import
// whose job, id, has finished, if the file has not expired.
func (s *Service) ImportErrorsToken(ctx context.Context, acct int64, id string) (string, bool) {
	if s.cfg.Imports == nil {
		return "", false
	}
	imp, err := s.cfg.Imports.Import(ctx, acct, id)
	if err != nil || !s.errorsReadable(imp) {
		return "", false
	}
	return imp.Token, true
}

// errorsReadable reports whether the errors file of an import whose job
// has finished can be read: it is done and has not expired, or it is
// queued still (the moment between its job's end and its state's).
func (s *Service) errorsReadable(imp segmentd.Import) bool {
	switch imp.State {
	case segmentd.ImportDone:
		return imp.ExpiresAt.After(s.clock.Now())
	case segmentd.ImportQueued:
		return true
	}
	return false
}

// ImportErrorsFile finds, by its token, an import whose errors file can
// be read: its job finished, and it has not expired. Anything else is
// KindNotFound.
func (s *Service) ImportErrorsFile(ctx context.Context, acct int64, token string) (segmentd.Import, error) {
	st, err := s.importStore()
	if err != nil {
		return segmentd.Import{}, err
	}
	imp, err := st.ImportByToken(ctx, acct, token)
	if err != nil {
		return imp, err
	}
	readable := s.errorsReadable(imp)
	if readable && imp.State == segmentd.ImportQueued {
		j, err := s.job(ctx, acct, imp.ID)
		if err != nil && segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
			return segmentd.Import{}, err
		}
		readable = err == nil && j.Status != segmentd.JobPending
	}
	if !readable {
		return segmentd.Import{}, segmentd.Errorf(segmentd.KindNotFound, "", "no such errors file")
	}
	return imp, nil
}

// ImportErrorsChunk reads the chunk of imp's errors file after the one
// numbered after (-1 for the first): its number and its rows.
// KindNotFound says there is none.
func (s *Service) ImportErrorsChunk(ctx context.Context, imp segmentd.Import, after int) (int, []byte, error) {
	return s.cfg.Imports.NextImportChunk(ctx, imp.AccountID, imp.ID, segmentd.ImportErrors, after)
}

// ImportErrorsHeader is the first line of every errors file.
func ImportErrorsHeader() []byte { return []byte(importErrorsHeader) }

// --- the job

// rowError is a row that could not be imported.
type rowError struct {
	row        int
	field, msg string
}

// errorLines renders rows of the errors file: the row's number in the
// uploaded file, the field at fault ("" for none), and why.
func errorLines(errs []rowError) ([]byte, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	for _, e := range errs {
		if err := w.Write([]string{strconv.Itoa(e.row), e.field, e.msg}); err != nil {
			return nil, err
		}
	}
	w.Flush()
	return buf.Bytes(), w.Error()
}

// importBatch is a stored batch, decoded: the patches of its valid rows
// with their row numbers, and the rows the upload refused.
type importBatch struct {
	patches []segmentd.ContactPatch
	rowOf   []int // the row number of each patch
	refused []rowError
}

func decodeBatch(data []byte) (importBatch, error) {
	var b importBatch
	d := decoder{s: string(data)}
	for d.err == nil && len(d.s) > 0 {
		row := int(d.uint())
		if d.byte() == 1 {
			b.patches = append(b.patches, d.patch())
			b.rowOf = append(b.rowOf, row)
			continue
		}
		b.refused = append(b.refused, rowError{row: row, field: d.str(), msg: d.str()})
	}
	return b, d.err
}

// importStep applies batch seq of an import job: its valid rows through
// an upsert's store stage, every row it could not take into the errors
// file. It adds the batch's counts to j, and returns what passes its
// changes to the engine and how many rows it held. An error means the
// batch could not be read, and fails the job.
func (s *Service) importStep(j *segmentd.Job, in *jobInput, seq int) (func(), int, error) {
	ctx := context.Background()
	acct, st := j.AccountID, s.cfg.Imports
	data, err := st.ImportChunk(ctx, acct, in.value, segmentd.ImportBatch, seq)
	if err != nil {
		return nil, 0, err
	}
	b, err := decodeBatch(data)
	if err != nil {
		return nil, 0, err
	}
	fails := b.refused
	var publish func()
	if len(b.patches) > 0 {
		res, pub, err := s.upsertBatch(acct, b.patches, in.lists)
		if err != nil {
			// The whole batch was refused (a list deleted since the
			// import was asked for, or the store failing): each row says
			// why.
			msg := "the row could not be imported"
			var e *segmentd.Error
			if errors.As(err, &e) && e.Kind != segmentd.KindInternal {
				msg = e.Message
			} else {
				s.log.Error("applying a batch of an import", "account", acct, "import", in.value, "batch", seq, "err", err)
			}
			for _, row := range b.rowOf {
				fails = append(fails, rowError{row: row, msg: msg})
			}
		} else {
			publish = pub
			j.Created += res.Created
			j.Updated += res.Updated
			for _, e := range res.Errors {
				fails = append(fails, rowError{row: b.rowOf[e.Index], field: e.Field, msg: e.Message})
			}
		}
	}
	if len(fails) > 0 {
		j.Errored += len(fails)
		slices.SortStableFunc(fails, func(a, b rowError) int { return a.row - b.row })
		lines, err := errorLines(fails)
		if err == nil {
			err = st.PutImportChunk(ctx, acct, in.value, segmentd.ImportErrors, seq, lines)
		}
		if err != nil {
			s.log.Error("writing an import's errors file", "account", acct, "import", in.value, "batch", seq, "err", err)
		}
	}
	return publish, len(b.patches) + len(b.refused), nil
}

// writeImportStep runs the next batch of an import job on the store
// stage. While batches are left it returns what the engine stage takes
// for this one (the job stays first in its account's queue); after the
// last one (or an error) it sets the job's outcome on t and returns nil.
func (s *Service) writeImportStep(t *jobTask, in *jobInput, start time.Time) *jobTask {
	j := &t.job
	var publish func()
	var rows int
	var err error
	if t.next < in.batches {
		if publish, rows, err = s.importStep(j, in, t.next); err == nil {
			t.next++
		}
	}
	s.backlog.ran(j.AccountID, rows, time.Since(start))
	s.backlog.stepDone(t, rows)
	if err == nil && t.next < in.batches {
		if t.journal {
			pos, err := s.journal.Append(encodeStep(j, t.next), false)
			if err != nil {
				s.log.Error("journaling an import's progress", "job_id", j.ID, "err", err)
			} else {
				if t.step != (journal.Pos{}) {
					s.journal.Release(t.step)
				}
				t.step = pos
			}
		}
		return &jobTask{job: *j, publish: publish, partial: true}
	}
	s.backlog.endSteps(t)
	t.publish, t.err = publish, err
	return nil
}

// applyImport applies every batch of an import job at once: the store
// stage of a store shared with other servers, where each account's jobs
// run on a goroutine of their own (queue.go).
func (s *Service) applyImport(j *segmentd.Job, in *jobInput) (func(), error) {
	for seq := 0; seq < in.batches; seq++ {
		if _, _, err := s.importStep(j, in, seq); err != nil {
			return nil, err
		}
	}
	return nil, nil
}

// importFinished marks an import whose job finished as done: its batches
// go, its errors file stays until it expires.
func (s *Service) importFinished(ctx context.Context, acct int64, id string) {
	st := s.cfg.Imports
	imp, err := st.Import(ctx, acct, id)
	if err != nil || imp.State == segmentd.ImportDone {
		if err != nil && segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
			s.log.Error("finishing an import", "account", acct, "import", id, "err", err)
		}
		return
	}
	done := imp
	done.State, done.ExpiresAt = segmentd.ImportDone, s.clock.Now().Add(segmentd.ImportLifetime)
	if err := st.UpdateImport(ctx, done, imp.State); err != nil && segmentd.ErrorKindOf(err) != segmentd.KindConflict {
		s.log.Error("finishing an import", "account", acct, "import", id, "err", err)
		return
	}
	if err := st.DropImportChunks(ctx, acct, id, segmentd.ImportBatch); err != nil {
		s.log.Error("dropping an import's batches", "account", acct, "import", id, "err", err)
	}
}

// --- the sweep

// sweepImports stores the outcome of the imports that will have no job
// (their upload URI expired unused, or their upload was abandoned),
// finishes those whose job finished without saying so (a crash between
// the two), and deletes expired ones.
func (s *Service) sweepImports(ctx context.Context) {
	st := s.cfg.Imports
	now := s.clock.Now()
	imps, err := st.UnfinishedImports(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("reading unfinished imports", "err", err)
		}
		return
	}
	for _, imp := range imps {
		switch {
		case imp.State == segmentd.ImportAwaiting:
			if !imp.ExpiresAt.After(now) {
				s.closeImport(ctx, imp, failedImportJob(imp, 0, MsgImportExpired, imp.ExpiresAt))
			}
		case s.uploadAbandoned(imp):
			j, err := s.job(ctx, imp.AccountID, imp.ID)
			switch {
			case err == nil && j.Status == segmentd.JobPending:
				// Its job runs.
			case err == nil:
				s.importFinished(ctx, imp.AccountID, imp.ID)
			case segmentd.ErrorKindOf(err) != segmentd.KindNotFound:
				s.log.Error("reading an import's job", "account", imp.AccountID, "import", imp.ID, "err", err)
			case imp.State == segmentd.ImportUploading || s.cfg.Jobs != nil || s.imps.jobsKnown.Load():
				// A queued import has its job, unless the server stopped
				// between the two; on a store of one server, its job may
				// be in a journal not resumed yet.
				s.closeImport(ctx, imp, failedImportJob(imp, 0, MsgImportInterrupted, now))
			}
		}
	}
	if n, err := st.DeleteExpiredImports(ctx, now); err != nil {
		if ctx.Err() == nil {
			s.log.Error("deleting expired imports", "err", err)
		}
	} else if n > 0 {
		s.log.Info("deleted expired imports", "imports", n)
	}
}

// closeImport stores j, the failed job of an import that has none, and
// marks the import done.
func (s *Service) closeImport(ctx context.Context, imp segmentd.Import, j segmentd.Job) {
	st := s.cfg.Imports
	if err := s.store.CreateJob(ctx, j); err != nil && segmentd.ErrorKindOf(err) != segmentd.KindConflict {
		s.log.Error("failing an import", "account", imp.AccountID, "import", imp.ID, "err", err)
		return
	}
	done := imp
	done.State, done.ExpiresAt = segmentd.ImportDone, s.clock.Now().Add(segmentd.ImportLifetime)
	if err := st.UpdateImport(ctx, done, imp.State); err != nil {
		if segmentd.ErrorKindOf(err) != segmentd.KindConflict && segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
			s.log.Error("failing an import", "account", imp.AccountID, "import", imp.ID, "err", err)
		}
		return
	}
	if err := st.DropImportChunks(ctx, imp.AccountID, imp.ID, segmentd.ImportBatch); err != nil {
		s.log.Error("dropping an import's batches", "account", imp.AccountID, "import", imp.ID, "err", err)
	}
}
