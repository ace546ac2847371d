package storetest

import (
	"bytes"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// ExportsStore is a store that keeps contact exports.
type ExportsStore interface {
	segmentd.Store
	segmentd.ExportStore
}

// RunExports runs the export store contract. open must return a new,
// empty store.
func RunExports(t *testing.T, open func(t *testing.T) ExportsStore) {
	t.Run("Lifecycle", func(t *testing.T) { testExportLifecycle(t, open(t)) })
	t.Run("Failure", func(t *testing.T) { testExportFailure(t, open(t)) })
	t.Run("PendingLimit", func(t *testing.T) { testExportPendingLimit(t, open(t)) })
	t.Run("Abandoned", func(t *testing.T) { testExportAbandoned(t, open(t)) })
	t.Run("Expired", func(t *testing.T) { testExportExpired(t, open(t)) })
}

var exportT0 = time.Date(2026, 5, 1, 8, 0, 0, 0, time.UTC)

func pendingExport(acct int64, at time.Time) segmentd.Export {
	return segmentd.Export{
		ID: segmentd.NewID(), AccountID: acct, Status: segmentd.ExportPending, Type: segmentd.ExportSegments, FileType: "csv",
		Lists:        []segmentd.ExportRef{{ID: segmentd.NewID(), Name: "Customers"}},
		Segments:     []segmentd.ExportRef{{ID: segmentd.NewID(), Name: "Openers 'quoted' \"too\""}, {ID: segmentd.NewID(), Name: "Ünïcode"}},
		MaxFileBytes: 5 << 20, Notify: true, Token: segmentd.NewID() + segmentd.NewID(),
		CreatedAt: at, UpdatedAt: at, ExpiresAt: at.Add(segmentd.ExportLifetime), Lease: at.Add(time.Minute),
	}
}

// testExportLifecycle: a pending export reads back as stored, takes
// chunks, becomes ready with its files, and is found by its token only in
// its own account; its chunks read back byte for byte.
func testExportLifecycle(t *testing.T, st ExportsStore) {
	acct, other := newAccount(t, st, "a"), newAccount(t, st, "b")
	e := pendingExport(acct, exportT0)
	noErr(t, "CreateExport", st.CreateExport(ctx(t), e, 5))
	got := must[segmentd.Export](t, "Export")(st.Export(ctx(t), acct, e.ID))
	if !reflect.DeepEqual(got, e) {
		t.Fatalf("a pending export reads\n%+v\nwant\n%+v", got, e)
	}
	wantKind(t, "Export(other account)", errOnly(st.Export(ctx(t), other, e.ID)), segmentd.KindNotFound)
	wantKind(t, "Export(unknown)", errOnly(st.Export(ctx(t), acct, segmentd.NewID())), segmentd.KindNotFound)

	chunks := [][][]byte{{[]byte("\x1f\x8b first"), bytes.Repeat([]byte{0, 1, 2, 255}, 1<<16)}, {[]byte("second file")}}
	for f, file := range chunks {
		for seq, data := range file {
			noErr(t, "AddExportChunk", st.AddExportChunk(ctx(t), acct, e.ID, f, seq, data))
		}
	}
	wantKind(t, "AddExportChunk(other account)", st.AddExportChunk(ctx(t), other, e.ID, 0, 9, []byte("x")), segmentd.KindNotFound)
	noErr(t, "RenewExport", st.RenewExport(ctx(t), acct, e.ID, exportT0.Add(time.Hour)))

	done := e
	done.Status, done.ContactCount = segmentd.ExportReady, 3
	done.Files = []segmentd.ExportFile{{Bytes: 10 + 4<<16, Chunks: 2, Contacts: 2}, {Bytes: 11, Chunks: 1, Contacts: 1}}
	done.UpdatedAt, done.CompletedAt = exportT0.Add(time.Second), exportT0.Add(time.Second)
	done.ExpiresAt = done.CompletedAt.Add(segmentd.ExportLifetime)
	noErr(t, "FinishExport", st.FinishExport(ctx(t), done))
	wantKind(t, "FinishExport(again)", st.FinishExport(ctx(t), done), segmentd.KindConflict)
	wantKind(t, "AddExportChunk(ready)", st.AddExportChunk(ctx(t), acct, e.ID, 2, 0, []byte("late")), segmentd.KindNotFound)

	got = must[segmentd.Export](t, "ExportByToken")(st.ExportByToken(ctx(t), acct, e.Token))
	done.Lease = exportT0.Add(time.Hour)
	if !reflect.DeepEqual(got, done) {
		t.Fatalf("a ready export reads\n%+v\nwant\n%+v", got, done)
	}
	wantKind(t, "ExportByToken(other account)", errOnly(st.ExportByToken(ctx(t), other, e.Token)), segmentd.KindNotFound)
	wantKind(t, "ExportByToken(wrong)", errOnly(st.ExportByToken(ctx(t), acct, e.Token[1:]+"0")), segmentd.KindNotFound)
	for f, file := range chunks {
		for seq, data := range file {
			if got := must[[]byte](t, "ExportChunk")(st.ExportChunk(ctx(t), acct, e.ID, f, seq)); !bytes.Equal(got, data) {
				t.Fatalf("chunk %d of file %d reads %d bytes, want %d", seq, f, len(got), len(data))
			}
		}
	}
	wantKind(t, "ExportChunk(past the end)", errOnly(st.ExportChunk(ctx(t), acct, e.ID, 1, 1)), segmentd.KindNotFound)

	newer := pendingExport(acct, exportT0.Add(time.Minute))
	noErr(t, "CreateExport", st.CreateExport(ctx(t), newer, 5))
	list := must[[]segmentd.Export](t, "Exports")(st.Exports(ctx(t), acct))
	if len(list) != 2 || list[0].ID != newer.ID || list[1].ID != e.ID {
		t.Fatalf("Exports = %v, want the newer then the older", exportIDs(list))
	}
	if list := must[[]segmentd.Export](t, "Exports")(st.Exports(ctx(t), other)); len(list) != 0 {
		t.Fatalf("another account's Exports = %v", exportIDs(list))
	}
}

func exportIDs(es []segmentd.Export) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

// testExportFailure: a failed export keeps its message and loses its
// chunks.
func testExportFailure(t *testing.T, st ExportsStore) {
	acct := newAccount(t, st, "a")
	e := pendingExport(acct, exportT0)
	noErr(t, "CreateExport", st.CreateExport(ctx(t), e, 5))
	noErr(t, "AddExportChunk", st.AddExportChunk(ctx(t), acct, e.ID, 0, 0, []byte("partial")))
	e.Status, e.Message = segmentd.ExportFailure, "it broke"
	e.UpdatedAt, e.CompletedAt, e.ExpiresAt = exportT0.Add(time.Second), exportT0.Add(time.Second), exportT0.Add(time.Second+segmentd.ExportLifetime)
	noErr(t, "FinishExport", st.FinishExport(ctx(t), e))
	got := must[segmentd.Export](t, "Export")(st.Export(ctx(t), acct, e.ID))
	if got.Status != segmentd.ExportFailure || got.Message != "it broke" || !got.CompletedAt.Equal(e.CompletedAt) {
		t.Fatalf("a failed export reads %+v", got)
	}
	wantKind(t, "ExportChunk(failed)", errOnly(st.ExportChunk(ctx(t), acct, e.ID, 0, 0)), segmentd.KindNotFound)
}

// testExportPendingLimit: an account has at most max exports pending;
// finished ones and other accounts' do not count.
func testExportPendingLimit(t *testing.T, st ExportsStore) {
	acct, other := newAccount(t, st, "a"), newAccount(t, st, "b")
	first := pendingExport(acct, exportT0)
	noErr(t, "CreateExport", st.CreateExport(ctx(t), first, 2))
	noErr(t, "CreateExport", st.CreateExport(ctx(t), pendingExport(acct, exportT0), 2))
	err := st.CreateExport(ctx(t), pendingExport(acct, exportT0), 2)
	if err != segmentd.ErrTooManyExports {
		t.Fatalf("a third pending export: %v, want ErrTooManyExports", err)
	}
	noErr(t, "CreateExport(other account)", st.CreateExport(ctx(t), pendingExport(other, exportT0), 2))
	first.Status, first.CompletedAt = segmentd.ExportReady, exportT0
	noErr(t, "FinishExport", st.FinishExport(ctx(t), first))
	noErr(t, "CreateExport(after one finished)", st.CreateExport(ctx(t), pendingExport(acct, exportT0), 2))
}

// testExportAbandoned: a pending export whose lease ended is failed with
// the message given, its chunks dropped; a renewed one and a finished one
// are left alone.
func testExportAbandoned(t *testing.T, st ExportsStore) {
	acct := newAccount(t, st, "a")
	gone, alive, ready := pendingExport(acct, exportT0), pendingExport(acct, exportT0), pendingExport(acct, exportT0)
	for _, e := range []segmentd.Export{gone, alive, ready} {
		noErr(t, "CreateExport", st.CreateExport(ctx(t), e, 5))
	}
	noErr(t, "AddExportChunk", st.AddExportChunk(ctx(t), acct, gone.ID, 0, 0, []byte("partial")))
	noErr(t, "RenewExport", st.RenewExport(ctx(t), acct, alive.ID, exportT0.Add(time.Hour)))
	ready.Status, ready.CompletedAt = segmentd.ExportReady, exportT0
	noErr(t, "FinishExport", st.FinishExport(ctx(t), ready))

	now := exportT0.Add(2 * time.Minute)
	n := must[int](t, "FailAbandonedExports")(st.FailAbandonedExports(ctx(t), now, segmentd.MsgExportAbandoned, now))
	if n != 1 {
		t.Fatalf("FailAbandonedExports = %d, want 1", n)
	}
	got := must[segmentd.Export](t, "Export")(st.Export(ctx(t), acct, gone.ID))
	if got.Status != segmentd.ExportFailure || got.Message != segmentd.MsgExportAbandoned || !got.CompletedAt.Equal(now) ||
		!got.ExpiresAt.Equal(now.Add(segmentd.ExportLifetime)) {
		t.Fatalf("an abandoned export reads %+v", got)
	}
	wantKind(t, "ExportChunk(abandoned)", errOnly(st.ExportChunk(ctx(t), acct, gone.ID, 0, 0)), segmentd.KindNotFound)
	for _, e := range []segmentd.Export{alive, ready} {
		if got := must[segmentd.Export](t, "Export")(st.Export(ctx(t), acct, e.ID)); got.Status == segmentd.ExportFailure {
			t.Fatalf("export %s was failed: %+v", e.ID, got)
		}
	}
	if n := must[int](t, "FailAbandonedExports")(st.FailAbandonedExports(ctx(t), now, "again", now)); n != 0 {
		t.Fatalf("FailAbandonedExports again = %d, want 0", n)
	}
}

// testExportExpired: exports that expired at or before now are deleted
// with their chunks, in every account; the others stay.
func testExportExpired(t *testing.T, st ExportsStore) {
	acct, other := newAccount(t, st, "a"), newAccount(t, st, "b")
	old, young, otherOld := pendingExport(acct, exportT0), pendingExport(acct, exportT0.Add(time.Hour)), pendingExport(other, exportT0)
	for _, e := range []segmentd.Export{old, young, otherOld} {
		noErr(t, "CreateExport", st.CreateExport(ctx(t), e, 5))
		noErr(t, "AddExportChunk", st.AddExportChunk(ctx(t), e.AccountID, e.ID, 0, 0, []byte("data")))
	}
	n := must[int](t, "DeleteExpiredExports")(st.DeleteExpiredExports(ctx(t), old.ExpiresAt))
	if n != 2 {
		t.Fatalf("DeleteExpiredExports = %d, want 2", n)
	}
	for _, e := range []segmentd.Export{old, otherOld} {
		wantKind(t, "Export(expired)", errOnly(st.Export(ctx(t), e.AccountID, e.ID)), segmentd.KindNotFound)
		wantKind(t, "ExportChunk(expired)", errOnly(st.ExportChunk(ctx(t), e.AccountID, e.ID, 0, 0)), segmentd.KindNotFound)
	}
	noErr(t, "Export(young)", errOnly(st.Export(ctx(t), acct, young.ID)))
	if got := must[[]byte](t, "ExportChunk")(st.ExportChunk(ctx(t), acct, young.ID, 0, 0)); string(got) != "data" {
		t.Fatalf("the young export's chunk reads %q", got)
	}
}

// ExportTakerStore is a store several servers share, whose pending
// exports another server takes over (segmentd.ExportTaker).
type ExportTakerStore interface {
	ExportsStore
	segmentd.ExportTaker
}

// RunExportTakeover runs the contract of a shared store's exports: a
// pending export keeps its input until it finishes, and one server, never
// two, takes it over once its lease has ended, with its input and without
// the chunks its previous writer stored.
func RunExportTakeover(t *testing.T, open func(t *testing.T) ExportTakerStore) {
	t.Run("TakeOver", func(t *testing.T) { testExportTakeOver(t, open(t)) })
}

func testExportTakeOver(t *testing.T, st ExportTakerStore) {
	acct, other := newAccount(t, st, "a"), newAccount(t, st, "b")
	e := pendingExport(acct, exportT0)
	e.Input = append(bytes.Repeat([]byte{0, 255, 7}, 1000), "the selection"...)
	old := pendingExport(acct, exportT0) // stored without an input
	alive, ready, otherAcct := pendingExport(acct, exportT0), pendingExport(acct, exportT0), pendingExport(other, exportT0)
	for _, x := range []segmentd.Export{e, old, alive, ready, otherAcct} {
		noErr(t, "CreateExport", st.CreateExport(ctx(t), x, 9))
	}
	noErr(t, "AddExportChunk", st.AddExportChunk(ctx(t), acct, e.ID, 0, 0, []byte("partial")))
	noErr(t, "RenewExport", st.RenewExport(ctx(t), acct, alive.ID, exportT0.Add(time.Hour)))
	ready.Status, ready.CompletedAt = segmentd.ExportReady, exportT0
	noErr(t, "FinishExport", st.FinishExport(ctx(t), ready))
	if got := must[segmentd.Export](t, "Export")(st.Export(ctx(t), acct, e.ID)); got.Input != nil {
		t.Fatalf("Export returns the input (%d bytes); only TakeExport does", len(got.Input))
	}

	// Before the lease ends, nobody takes it.
	wantKind(t, "TakeExport(leased)", errOnly(st.TakeExport(ctx(t), acct, e.ID, exportT0, exportT0.Add(time.Hour))), segmentd.KindConflict)
	now := exportT0.Add(2 * time.Minute)
	lapsed := must[[]segmentd.Export](t, "LapsedExports")(st.LapsedExports(ctx(t), now))
	if got, want := exportIDs(lapsed), exportIDs([]segmentd.Export{e, old, otherAcct}); !sameSet(got, want) {
		t.Fatalf("LapsedExports = %v, want %v", got, want)
	}
	input := must[[]byte](t, "TakeExport")(st.TakeExport(ctx(t), acct, e.ID, now, now.Add(time.Minute)))
	if !bytes.Equal(input, e.Input) {
		t.Fatalf("TakeExport returns %d bytes, want the %d stored", len(input), len(e.Input))
	}
	wantKind(t, "ExportChunk(taken)", errOnly(st.ExportChunk(ctx(t), acct, e.ID, 0, 0)), segmentd.KindNotFound)
	got := must[segmentd.Export](t, "Export")(st.Export(ctx(t), acct, e.ID))
	if got.Status != segmentd.ExportPending || !got.Lease.Equal(now.Add(time.Minute)) {
		t.Fatalf("a taken export reads %+v, want pending, leased until %v", got, now.Add(time.Minute))
	}
	// Taken once: a second server at the same instant does not pass.
	wantKind(t, "TakeExport(again)", errOnly(st.TakeExport(ctx(t), acct, e.ID, now, now.Add(time.Minute))), segmentd.KindConflict)
	if in := must[[]byte](t, "TakeExport(no input)")(st.TakeExport(ctx(t), acct, old.ID, now, now.Add(time.Minute))); in != nil {
		t.Fatalf("an export stored without an input is taken with %d bytes", len(in))
	}
	wantKind(t, "TakeExport(renewed)", errOnly(st.TakeExport(ctx(t), acct, alive.ID, now, now.Add(time.Minute))), segmentd.KindConflict)
	wantKind(t, "TakeExport(ready)", errOnly(st.TakeExport(ctx(t), acct, ready.ID, now, now.Add(time.Minute))), segmentd.KindConflict)
	wantKind(t, "TakeExport(other account)", errOnly(st.TakeExport(ctx(t), other, e.ID, now, now.Add(time.Minute))), segmentd.KindNotFound)
	wantKind(t, "TakeExport(unknown)", errOnly(st.TakeExport(ctx(t), acct, segmentd.NewID(), now, now.Add(time.Minute))), segmentd.KindNotFound)

	// Its new writer finishes it: the input is dropped.
	noErr(t, "AddExportChunk", st.AddExportChunk(ctx(t), acct, e.ID, 0, 0, []byte("whole")))
	e.Status, e.CompletedAt, e.Files, e.ContactCount = segmentd.ExportReady, now, []segmentd.ExportFile{{Bytes: 5, Chunks: 1, Contacts: 1}}, 1
	noErr(t, "FinishExport", st.FinishExport(ctx(t), e))
	later := now.Add(time.Hour)
	if lapsed := must[[]segmentd.Export](t, "LapsedExports")(st.LapsedExports(ctx(t), later)); !sameSet(exportIDs(lapsed), exportIDs([]segmentd.Export{old, alive, otherAcct})) {
		t.Fatalf("LapsedExports after the finish = %v", exportIDs(lapsed))
	}
	wantKind(t, "TakeExport(finished)", errOnly(st.TakeExport(ctx(t), acct, e.ID, later, later.Add(time.Minute))), segmentd.KindConflict)
	if got := must[[]byte](t, "ExportChunk")(st.ExportChunk(ctx(t), acct, e.ID, 0, 0)); string(got) != "whole" {
		t.Fatalf("the finished export's chunk reads %q", got)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
