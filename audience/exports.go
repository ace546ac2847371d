package audience

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segmentd/segmentd"
)

// Contact exports (SendGrid's POST /v3/marketing/contacts/exports,
// docs/sendgrid.md "Contact exports"). An export freezes its selection
// in the engine when it is asked for (which contacts, and the lists and
// segments each is in), then writes the contacts on a goroutine of its
// own: read from the store in pages by id, encoded by the face's format,
// gzip-compressed, and stored as chunks of about exportChunkBytes as they
// fill, so that memory stays bounded whatever the export's size. Files
// are split where the next contact would take a file's uncompressed size
// past the export's maximum.
//
// The server writing an export holds a lease on it (wall time), renewed
// while it writes. An export whose server stopped stays pending only
// until someone looks: a store of one server fails it as soon as it is
// read (no other server can be writing it). A store several servers
// share (segmentd.ExportTaker) keeps the export's input with it
// (exportinput.go: the frozen selection and the file format), and the
// first server to look once the lease has ended takes the export over and
// writes it from there; the lease is then Config.JobLease, as for jobs.
// The sweep does the same every exportSweepEvery (a third of the lease on
// a shared store), and deletes expired exports.

const (
	exportLease      = time.Minute
	exportRenewEvery = 15 * time.Second
	exportSweepEvery = time.Minute
	// exportPage is how many contacts one store read returns.
	exportPage = 500
	// exportChunkBytes is the size compressed bytes are stored in.
	exportChunkBytes = 1 << 20
	// exportWriters bounds the exports a server writes at once; the others
	// wait, pending, with their selection frozen.
	exportWriters = 2
	// exportTokenBytes is the download token's entropy.
	exportTokenBytes = 32
)

// msgExportFailed is the message of an export that failed for a reason
// the log holds (never shown to the client).
const msgExportFailed = "the export could not be written; start a new export"

// ExportRequest is what a contact export asks for.
type ExportRequest struct {
	ListIDs    []string
	SegmentIDs []string // SendGrid segments (v1 or 2.0)
	// FileType names the format (SetExportFormat): "csv", "json" or
	// CCExportFileType.
	FileType string
	// Columns are the columns the request chose, for the format to write
	// (nil: the format's own).
	Columns []string
	// MaxFileBytes bounds each file's uncompressed size.
	MaxFileBytes int64
	Notify       bool
	// CCSegment is a Constant Contact segment whose members are exported
	// (0: none).
	CCSegment int64
	// TagIDs and ContactIDs select the contacts with any of the tags, and
	// those named, besides; Exclude leaves contacts out (Constant Contact's
	// exports; the face checks them).
	TagIDs, ContactIDs, Exclude []string
}

// ExportFormat writes contacts in an export file format (a face's).
type ExportFormat interface {
	// Header starts every file (nil for none).
	Header() []byte
	// Append appends one contact's record to dst. The contact's ListIDs
	// and SegmentIDs are those it had when the export started.
	Append(dst []byte, c segmentd.Contact) ([]byte, error)
}

// ExportFormatBuilder builds a face's export file format from the
// account's fields when the export was accepted and the columns it asked
// for (ExportRequest.Columns).
type ExportFormatBuilder func(fields []segmentd.FieldDefinition, columns []string) ExportFormat

// SetExportFormat makes fileType's exports written in b's format: each
// face sets its own formats when it is built, so that the server that
// writes an export, whichever accepted it, builds the same format. It
// does nothing on a Service without exports.
func (s *Service) SetExportFormat(fileType string, b ExportFormatBuilder) {
	if s.exp == nil {
		return
	}
	s.exp.formatsMu.Lock()
	defer s.exp.formatsMu.Unlock()
	s.exp.formats[fileType] = b
}

func (s *Service) exportFormat(fileType string) ExportFormatBuilder {
	s.exp.formatsMu.Lock()
	defer s.exp.formatsMu.Unlock()
	return s.exp.formats[fileType]
}

// exports is the Service's state of the exports it writes.
type exports struct {
	formatsMu sync.Mutex
	formats   map[string]ExportFormatBuilder // by file type
	running   idSet                          // the exports this server writes
	slots     chan struct{}                  // exportWriters tokens
	ctx       context.Context                // ends at Close
	stop      context.CancelFunc
	wg        sync.WaitGroup // writers and the sweep
}

func (x *exports) start(id string)          { x.running.add(id) }
func (x *exports) startOnce(id string) bool { return x.running.addNew(id) }
func (x *exports) done(id string)           { x.running.remove(id) }
func (x *exports) isRunning(id string) bool { return x.running.has(id) }

// idSet is a set of ids that goroutines share: the exports a server
// writes, the uploads it receives.
type idSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (x *idSet) add(id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.ids == nil {
		x.ids = map[string]bool{}
	}
	x.ids[id] = true
}

// addNew adds id unless the set holds it, and says whether it did.
func (x *idSet) addNew(id string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.ids[id] {
		return false
	}
	if x.ids == nil {
		x.ids = map[string]bool{}
	}
	x.ids[id] = true
	return true
}

func (x *idSet) remove(id string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.ids, id)
}

func (x *idSet) has(id string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.ids[id]
}

// sweepEvery runs sweep at once and then every d, on a goroutine counted
// in wg, until ctx ends.
func sweepEvery(ctx context.Context, wg *sync.WaitGroup, d time.Duration, sweep func(context.Context)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			sweep(ctx)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

// startExports starts the sweep of exports (Config.Exports set).
func (s *Service) startExports() {
	ctx, stop := context.WithCancel(context.Background())
	s.exp = &exports{formats: map[string]ExportFormatBuilder{}, slots: make(chan struct{}, exportWriters), ctx: ctx, stop: stop}
	every := exportSweepEvery
	if _, ok := s.exportTaker(); ok {
		every = min(every, s.exportLease()/3)
	}
	sweepEvery(ctx, &s.exp.wg, every, s.sweepExports)
}

// exportTaker is the store's ExportTaker when several servers share it.
func (s *Service) exportTaker() (segmentd.ExportTaker, bool) {
	if !s.cfg.Shared {
		return nil, false
	}
	t, ok := s.cfg.Exports.(segmentd.ExportTaker)
	return t, ok
}

// exportLease is how long this server owns an export it writes without
// renewing it: Config.JobLease on a shared store, whose exports another
// server takes over once it ends, as jobs.
func (s *Service) exportLease() time.Duration {
	if _, ok := s.exportTaker(); ok {
		return s.cfg.JobLease
	}
	return exportLease
}

// stopExports stops the sweep and the writers, and waits for them. Their
// exports are failed (their selection lives in this process only), but
// on a shared store, where another server takes them over.
func (s *Service) stopExports() {
	if s.exp == nil {
		return
	}
	s.exp.stop()
	s.exp.wg.Wait()
}

// sweepExports fails abandoned exports and deletes expired ones.
func (s *Service) sweepExports(ctx context.Context) {
	st := s.cfg.Exports
	now := s.clock.Now()
	if taker, ok := s.exportTaker(); ok {
		es, err := taker.LapsedExports(ctx, time.Now())
		if err != nil && ctx.Err() == nil {
			s.log.Error("finding lapsed exports", "err", err)
		}
		for _, e := range es {
			if _, err := s.takeExport(ctx, e); err != nil && ctx.Err() == nil {
				s.log.Error("taking over an export", "account", e.AccountID, "export", e.ID, "err", err)
			}
		}
	} else if n, err := st.FailAbandonedExports(ctx, time.Now(), segmentd.MsgExportAbandoned, now); err != nil {
		if ctx.Err() == nil {
			s.log.Error("failing abandoned exports", "err", err)
		}
	} else if n > 0 {
		s.log.Info("failed abandoned exports", "exports", n)
	}
	if n, err := st.DeleteExpiredExports(ctx, now); err != nil {
		if ctx.Err() == nil {
			s.log.Error("deleting expired exports", "err", err)
		}
	} else if n > 0 {
		s.log.Info("deleted expired exports", "exports", n)
	}
}

func (s *Service) exportStore() (segmentd.ExportStore, error) {
	if s.cfg.Exports == nil || s.members == nil {
		return nil, errors.New("audience: contact exports need Config.Exports and Config.Membership")
	}
	return s.cfg.Exports, nil
}

// CreateExport validates an export, freezes its selection and starts
// writing it in the format set for its file type (SetExportFormat), built
// from the account's fields. It returns the export, pending.
func (s *Service) CreateExport(ctx context.Context, acct int64, req ExportRequest) (segmentd.Export, error) {
	st, err := s.exportStore()
	if err != nil {
		return segmentd.Export{}, err
	}
	if req.FileType != "csv" && req.FileType != "json" && req.FileType != CCExportFileType {
		return segmentd.Export{}, segmentd.Errorf(segmentd.KindInvalid, "file_type", "file_type must be csv or json")
	}
	newFormat := s.exportFormat(req.FileType)
	if newFormat == nil {
		return segmentd.Export{}, fmt.Errorf("audience: no export format is set for file type %q", req.FileType)
	}
	if req.MaxFileBytes < 1 {
		return segmentd.Export{}, segmentd.Errorf(segmentd.KindInvalid, "max_file_size", "max_file_size must be at least 1")
	}
	listIDs, segIDs := dedupe(req.ListIDs), dedupe(req.SegmentIDs)
	if len(listIDs) > segmentd.MaxExportIDs {
		return segmentd.Export{}, segmentd.Errorf(segmentd.KindTooLarge, "list_ids", "list_ids may hold at most %d ids", segmentd.MaxExportIDs)
	}
	if len(segIDs) > segmentd.MaxExportIDs {
		return segmentd.Export{}, segmentd.Errorf(segmentd.KindTooLarge, "segment_ids", "segment_ids may hold at most %d ids", segmentd.MaxExportIDs)
	}
	e := segmentd.Export{ID: segmentd.NewID(), AccountID: acct, Status: segmentd.ExportPending, Type: segmentd.ExportContacts,
		FileType: req.FileType, MaxFileBytes: req.MaxFileBytes, Notify: req.Notify, Token: newExportToken()}
	for _, id := range listIDs {
		if !segmentd.IsUUID(id) {
			return segmentd.Export{}, segmentd.Errorf(segmentd.KindInvalid, "list_ids", "list id %s is not a valid UUID", segmentd.Quote(id))
		}
		l, err := s.store.List(ctx, acct, id)
		if segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
			return segmentd.Export{}, segmentd.Errorf(segmentd.KindNotFound, "list_ids", "list %s does not exist", segmentd.Quote(id))
		}
		if err != nil {
			return segmentd.Export{}, err
		}
		e.Lists = append(e.Lists, segmentd.ExportRef{ID: l.ID, Name: l.Name})
	}
	for _, id := range segIDs {
		seg, err := s.liveSegment(ctx, acct, id)
		if segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
			return segmentd.Export{}, segmentd.Errorf(segmentd.KindNotFound, "segment_ids", "segment %s does not exist", segmentd.Quote(id))
		}
		if err != nil {
			return segmentd.Export{}, err
		}
		e.Segments = append(e.Segments, segmentd.ExportRef{ID: seg.ID, Name: seg.Name})
	}
	if len(req.TagIDs) > 0 {
		if req.TagIDs, err = s.existingTags(ctx, acct, req.TagIDs, MaxActivityTagIDs, segmentd.KindNotFound); err != nil {
			return segmentd.Export{}, err
		}
	}
	if req.CCSegment != 0 {
		seg, err := s.liveCCSegment(ctx, acct, req.CCSegment)
		if err != nil {
			return segmentd.Export{}, err
		}
		e.Segments = append(e.Segments, segmentd.ExportRef{ID: seg.EngineID(), Name: seg.Name})
	}
	switch {
	case len(e.Segments) > 0:
		e.Type = segmentd.ExportSegments
	case len(e.Lists) > 0:
		e.Type = segmentd.ExportLists
	}
	fields, err := s.store.FieldDefinitions(ctx, acct)
	if err != nil {
		return segmentd.Export{}, err
	}
	// A shared store: what other servers wrote before this request reaches
	// the engine first.
	if err := s.sync(ctx, acct); err != nil {
		return segmentd.Export{}, err
	}

	now := s.clock.Now()
	e.CreatedAt, e.UpdatedAt, e.ExpiresAt = now, now, now.Add(segmentd.ExportLifetime)
	sel := s.members.SelectForExport(acct, segmentd.ExportQuery{ListIDs: idsOf(e.Lists), SegmentIDs: idsOf(e.Segments), TagIDs: req.TagIDs,
		ContactIDs: req.ContactIDs, Exclude: req.Exclude}, now)
	if _, ok := s.exportTaker(); ok {
		// Stored with the export, so that another server can write it.
		e.Input = encodeExportInput(fields, req.Columns, sel)
	}
	e.Lease = time.Now().Add(s.exportLease())
	s.exp.start(e.ID)
	if err := st.CreateExport(ctx, e, segmentd.MaxPendingExports); err != nil {
		s.exp.done(e.ID)
		return segmentd.Export{}, err
	}
	takeable := e.Input != nil
	e.Input = nil
	s.exp.wg.Add(1)
	go s.writeExport(e, sel, newFormat(fields, req.Columns), takeable)
	return e, nil
}

// takeExport takes over a pending export whose lease has ended (a shared
// store) and writes it from its stored input; one stored without an
// input is failed. It returns the export as it stands. A server whose
// faces have not set the export's format (they are built after the
// Service, whose first sweep may come before) leaves it to a later look
// or to another server.
func (s *Service) takeExport(ctx context.Context, e segmentd.Export) (segmentd.Export, error) {
	taker, _ := s.exportTaker()
	newFormat := s.exportFormat(e.FileType)
	if newFormat == nil {
		return e, nil
	}
	if !s.exp.startOnce(e.ID) {
		return e, nil // this server writes it already
	}
	input, err := taker.TakeExport(ctx, e.AccountID, e.ID, time.Now(), time.Now().Add(s.exportLease()))
	if err != nil {
		s.exp.done(e.ID)
		if k := segmentd.ErrorKindOf(err); k == segmentd.KindConflict || k == segmentd.KindNotFound {
			// Taken by another server, renewed, or finished meanwhile.
			return s.cfg.Exports.Export(ctx, e.AccountID, e.ID)
		}
		return e, err
	}
	var f ExportFormat
	var sel segmentd.ExportSelection
	msg := segmentd.MsgExportAbandoned // stored before exports kept their input
	if input != nil {
		fields, columns, stored, err := decodeExportInput(input)
		if err != nil {
			s.log.Error("taking over an export", "account", e.AccountID, "export", e.ID, "err", err)
			msg = msgExportFailed
		} else {
			f, sel = newFormat(fields, columns), stored
		}
	}
	if f == nil {
		defer s.exp.done(e.ID)
		fe := failed(e, msg, s.clock.Now())
		if err := s.cfg.Exports.FinishExport(ctx, fe); segmentd.ErrorKindOf(err) == segmentd.KindConflict {
			return s.cfg.Exports.Export(ctx, e.AccountID, e.ID)
		} else if err != nil {
			return e, err
		}
		return fe, nil
	}
	s.log.Info("taking over an export whose server stopped", "account", e.AccountID, "export", e.ID, "contacts", sel.Len())
	s.exp.wg.Add(1)
	go s.writeExport(e, sel, f, true)
	return e, nil
}

func idsOf(refs []segmentd.ExportRef) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.ID
	}
	return out
}

func newExportToken() string {
	var b [exportTokenBytes]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("audience: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b[:])
}

// Export returns a SendGrid export of the account. One that expired is
// not found; one whose server stopped is failed first.
func (s *Service) Export(ctx context.Context, acct int64, id string) (segmentd.Export, error) {
	e, err := s.anyExport(ctx, acct, id)
	if err == nil && e.FileType == CCExportFileType {
		return segmentd.Export{}, segmentd.Errorf(segmentd.KindNotFound, "id", "export %s does not exist", segmentd.Quote(id))
	}
	return e, err
}

// anyExport is Export, of either face.
func (s *Service) anyExport(ctx context.Context, acct int64, id string) (segmentd.Export, error) {
	st, err := s.exportStore()
	if err != nil {
		return segmentd.Export{}, err
	}
	e, err := st.Export(ctx, acct, id)
	if err != nil {
		return e, err
	}
	if !e.ExpiresAt.After(s.clock.Now()) {
		return segmentd.Export{}, segmentd.Errorf(segmentd.KindNotFound, "id", "export %s does not exist", segmentd.Quote(id))
	}
	return s.settle(ctx, e)
}

// Exports returns the account's SendGrid exports that have not expired,
// newest first.
func (s *Service) Exports(ctx context.Context, acct int64) ([]segmentd.Export, error) {
	st, err := s.exportStore()
	if err != nil {
		return nil, err
	}
	es, err := st.Exports(ctx, acct)
	if err != nil {
		return nil, err
	}
	now := s.clock.Now()
	out := es[:0]
	for _, e := range es {
		if !e.ExpiresAt.After(now) || e.FileType == CCExportFileType {
			continue
		}
		if e, err = s.settle(ctx, e); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// settle fails a pending export whose server stopped: on a store of one
// server, any this server is not writing; on a shared one, any whose
// lease has ended.
func (s *Service) settle(ctx context.Context, e segmentd.Export) (segmentd.Export, error) {
	if e.Status != segmentd.ExportPending || s.exp.isRunning(e.ID) || (s.cfg.Shared && e.Lease.After(time.Now())) {
		return e, nil
	}
	if _, ok := s.exportTaker(); ok {
		return s.takeExport(ctx, e)
	}
	f := failed(e, segmentd.MsgExportAbandoned, s.clock.Now())
	err := s.cfg.Exports.FinishExport(ctx, f)
	if segmentd.ErrorKindOf(err) == segmentd.KindConflict {
		// Finished meanwhile (by its server, or failed by another reader).
		return s.cfg.Exports.Export(ctx, e.AccountID, e.ID)
	}
	return f, err
}

func failed(e segmentd.Export, msg string, now time.Time) segmentd.Export {
	e.Status, e.Message, e.ContactCount, e.Files = segmentd.ExportFailure, msg, 0, nil
	e.UpdatedAt, e.CompletedAt, e.ExpiresAt = now, now, now.Add(segmentd.ExportLifetime)
	return e
}

// ExportFile finds file n (from 0) of a ready export by its download
// token. An unknown token or file, or an export that is not ready or has
// expired, is not found.
func (s *Service) ExportFile(ctx context.Context, acct int64, token string, n int) (segmentd.Export, error) {
	st, err := s.exportStore()
	if err != nil {
		return segmentd.Export{}, err
	}
	e, err := st.ExportByToken(ctx, acct, token)
	if err != nil {
		return e, err
	}
	if e.Status != segmentd.ExportReady || n < 0 || n >= len(e.Files) || !e.ExpiresAt.After(s.clock.Now()) {
		return segmentd.Export{}, segmentd.Errorf(segmentd.KindNotFound, "", "no such export file")
	}
	return e, nil
}

// ExportChunk reads chunk seq of file n of an export ExportFile found.
func (s *Service) ExportChunk(ctx context.Context, e segmentd.Export, n, seq int) ([]byte, error) {
	return s.cfg.Exports.ExportChunk(ctx, e.AccountID, e.ID, n, seq)
}

// writeExport writes a pending export and stores its outcome. A takeable
// export (its input stored) is left pending when this server stops, for
// another to take over.
func (s *Service) writeExport(e segmentd.Export, sel segmentd.ExportSelection, f ExportFormat, takeable bool) {
	defer s.exp.wg.Done()
	defer s.exp.done(e.ID)
	ctx := s.exp.ctx
	st := s.cfg.Exports
	var err error
	select {
	case s.exp.slots <- struct{}{}:
		defer func() { <-s.exp.slots }()
		renewCtx, stopRenew := context.WithCancel(ctx)
		go s.renewExport(renewCtx, e)
		e.ContactCount, e.Files, err = s.writeFiles(ctx, e, sel, f)
		stopRenew()
	case <-ctx.Done():
		err = ctx.Err()
	}
	now := s.clock.Now()
	switch {
	case err == nil:
		e.Status = segmentd.ExportReady
		e.UpdatedAt, e.CompletedAt, e.ExpiresAt = now, now, now.Add(segmentd.ExportLifetime)
	case ctx.Err() != nil && takeable:
		// This server stops: another takes the export over from its input.
		return
	case ctx.Err() != nil:
		e = failed(e, segmentd.MsgExportAbandoned, now)
	case segmentd.ErrorKindOf(err) == segmentd.KindNotFound:
		// The export is no longer pending: failed as abandoned by a
		// reader that thought its server gone, or deleted as expired.
		s.log.Warn("export stopped: no longer pending", "account", e.AccountID, "export", e.ID)
		return
	default:
		s.log.Error("writing an export", "account", e.AccountID, "export", e.ID, "err", err)
		e = failed(e, msgExportFailed, now)
	}
	if err := st.FinishExport(context.WithoutCancel(ctx), e); err != nil {
		s.log.Error("storing an export's outcome", "account", e.AccountID, "export", e.ID, "status", e.Status, "err", err)
	}
}

// renewExport keeps the export's lease until ctx ends.
func (s *Service) renewExport(ctx context.Context, e segmentd.Export) {
	t := time.NewTicker(min(exportRenewEvery, s.exportLease()/3))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.cfg.Exports.RenewExport(ctx, e.AccountID, e.ID, time.Now().Add(s.exportLease())); err != nil && ctx.Err() == nil {
				s.log.Warn("renewing an export's lease", "account", e.AccountID, "export", e.ID, "err", err)
			}
		}
	}
}

// writeFiles writes the selected contacts into the export's files.
func (s *Service) writeFiles(ctx context.Context, e segmentd.Export, sel segmentd.ExportSelection, f ExportFormat) (int, []segmentd.ExportFile, error) {
	w := &exportWriter{ctx: ctx, st: s.cfg.Exports, e: &e, header: f.Header()}
	ids := make([]string, 0, exportPage)
	var rec []byte
	count := 0
	for i := 0; i < sel.Len(); i += exportPage {
		ids = ids[:0]
		for k := i; k < min(i+exportPage, sel.Len()); k++ {
			ids = append(ids, sel.ID(k))
		}
		// Contacts deleted since the export started are left out; the
		// others are written as they are now, with the memberships they
		// had when it started.
		cs, err := s.store.ContactsByIDs(ctx, e.AccountID, ids)
		if err != nil {
			return 0, nil, err
		}
		k := 0 // cs comes in the order of ids, without the missing
		for _, c := range cs {
			for ids[k] != c.ID {
				k++
			}
			c.ListIDs = sel.Lists(i + k)
			c.SegmentIDs = slices.DeleteFunc(sel.Segments(i+k), func(id string) bool { return strings.HasPrefix(id, segmentd.CCEnginePrefix) })
			if rec, err = f.Append(rec[:0], c); err != nil {
				return 0, nil, err
			}
			if err := w.add(rec); err != nil {
				return 0, nil, err
			}
			count++
		}
	}
	if err := w.finish(); err != nil {
		return 0, nil, err
	}
	return count, w.files, nil
}

// exportWriter cuts an export's records into files and its files'
// compressed bytes into stored chunks.
type exportWriter struct {
	ctx    context.Context
	st     segmentd.ExportStore
	e      *segmentd.Export
	header []byte

	files []segmentd.ExportFile
	raw   int64 // uncompressed bytes in the current file
	gz    *gzip.Writer
	buf   bytes.Buffer // compressed bytes not stored yet
}

func (w *exportWriter) cur() *segmentd.ExportFile { return &w.files[len(w.files)-1] }

// add writes one record, in a new file when it would take the current
// one past the maximum (a file holds at least one record).
func (w *exportWriter) add(rec []byte) error {
	if w.gz == nil || (w.cur().Contacts > 0 && w.raw+int64(len(rec)) > w.e.MaxFileBytes) {
		if err := w.newFile(); err != nil {
			return err
		}
	}
	if _, err := w.gz.Write(rec); err != nil {
		return err
	}
	w.raw += int64(len(rec))
	w.cur().Contacts++
	if w.buf.Len() >= exportChunkBytes {
		return w.store()
	}
	return nil
}

func (w *exportWriter) newFile() error {
	if err := w.closeFile(); err != nil {
		return err
	}
	w.files = append(w.files, segmentd.ExportFile{})
	if w.gz == nil {
		// BestSpeed: half the compression CPU of the default level for
		// files 5% larger (docs/sendgrid.md "Contact exports").
		gz, err := gzip.NewWriterLevel(&w.buf, gzip.BestSpeed)
		if err != nil {
			return err
		}
		w.gz = gz
	} else {
		w.gz.Reset(&w.buf)
	}
	w.raw = int64(len(w.header))
	_, err := w.gz.Write(w.header)
	return err
}

// closeFile ends the current file, if any, and stores what is left of it.
func (w *exportWriter) closeFile() error {
	if len(w.files) == 0 {
		return nil
	}
	if err := w.gz.Close(); err != nil {
		return err
	}
	return w.store()
}

// store stores the compressed bytes held as the current file's next chunk.
func (w *exportWriter) store() error {
	if w.buf.Len() == 0 {
		return nil
	}
	cur := w.cur()
	if err := w.st.AddExportChunk(w.ctx, w.e.AccountID, w.e.ID, len(w.files)-1, cur.Chunks, w.buf.Bytes()); err != nil {
		return err
	}
	cur.Bytes += int64(w.buf.Len())
	cur.Chunks++
	w.buf.Reset()
	return nil
}

// finish ends the last file; an export of no contacts has one file,
// holding the header alone.
func (w *exportWriter) finish() error {
	if len(w.files) == 0 {
		if err := w.newFile(); err != nil {
			return err
		}
	}
	return w.closeFile()
}
