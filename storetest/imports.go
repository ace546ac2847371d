package storetest

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// ImportsStore is a store that keeps CSV imports.
type ImportsStore interface {
	segmentd.Store
	segmentd.ImportStore
}

// RunImports runs the import store contract. open must return a new,
// empty store.
func RunImports(t *testing.T, open func(t *testing.T) ImportsStore) {
	t.Run("Lifecycle", func(t *testing.T) { testImportLifecycle(t, open(t)) })
	t.Run("Chunks", func(t *testing.T) { testImportChunks(t, open(t)) })
	t.Run("Expired", func(t *testing.T) { testImportExpired(t, open(t)) })
	t.Run("ResetAndDelete", func(t *testing.T) { testImportReset(t, open(t)) })
}

var importT0 = time.Date(2026, 5, 2, 9, 0, 0, 0, time.UTC)

func newImport(acct int64, at time.Time) segmentd.Import {
	return segmentd.Import{
		ID: segmentd.NewID(), AccountID: acct, Token: segmentd.NewID() + segmentd.NewID(),
		Mappings: []string{"_rf2_T", "", "w1", "external_id"}, ListIDs: []string{segmentd.NewID(), segmentd.NewID()},
		State: segmentd.ImportAwaiting, CreatedAt: at, ExpiresAt: at.Add(segmentd.ImportUploadLifetime),
	}
}

// testImportLifecycle: an import reads back as stored, by id and by token,
// in its own account only; UpdateImport moves it from one state to the
// next only from the state given, so that one upload alone takes it.
func testImportLifecycle(t *testing.T, st ImportsStore) {
	acct, other := newAccount(t, st, "a"), newAccount(t, st, "b")
	imp := newImport(acct, importT0)
	noErr(t, "CreateImport", st.CreateImport(ctx(t), imp))
	got := must[segmentd.Import](t, "Import")(st.Import(ctx(t), acct, imp.ID))
	if !reflect.DeepEqual(got, imp) {
		t.Fatalf("an import reads\n%+v\nwant\n%+v", got, imp)
	}
	if got := must[segmentd.Import](t, "ImportByToken")(st.ImportByToken(ctx(t), acct, imp.Token)); got.ID != imp.ID {
		t.Fatalf("ImportByToken found %s", got.ID)
	}
	wantKind(t, "Import(other account)", errOnly(st.Import(ctx(t), other, imp.ID)), segmentd.KindNotFound)
	wantKind(t, "ImportByToken(other account)", errOnly(st.ImportByToken(ctx(t), other, imp.Token)), segmentd.KindNotFound)
	wantKind(t, "ImportByToken(wrong)", errOnly(st.ImportByToken(ctx(t), acct, imp.Token[1:]+"0")), segmentd.KindNotFound)

	noLists := newImport(acct, importT0)
	noLists.ListIDs = nil
	noErr(t, "CreateImport(no lists)", st.CreateImport(ctx(t), noLists))
	if got := must[segmentd.Import](t, "Import")(st.Import(ctx(t), acct, noLists.ID)); got.ListIDs != nil {
		t.Fatalf("an import without lists reads ListIDs %#v", got.ListIDs)
	}

	up := imp
	up.State, up.Lease = segmentd.ImportUploading, importT0.Add(time.Minute)
	noErr(t, "UpdateImport(awaiting → uploading)", st.UpdateImport(ctx(t), up, segmentd.ImportAwaiting))
	wantKind(t, "UpdateImport(a second upload)", st.UpdateImport(ctx(t), up, segmentd.ImportAwaiting), segmentd.KindConflict)
	queued := up
	queued.State, queued.Rows, queued.Batches = segmentd.ImportQueued, 12345, 3
	noErr(t, "UpdateImport(uploading → queued)", st.UpdateImport(ctx(t), queued, segmentd.ImportUploading))
	if got := must[segmentd.Import](t, "Import")(st.Import(ctx(t), acct, imp.ID)); !reflect.DeepEqual(got, queued) {
		t.Fatalf("a queued import reads\n%+v\nwant\n%+v", got, queued)
	}
	unfinished := must[[]segmentd.Import](t, "UnfinishedImports")(st.UnfinishedImports(ctx(t)))
	if len(unfinished) != 2 {
		t.Fatalf("UnfinishedImports = %d imports, want 2", len(unfinished))
	}
	done := queued
	done.State, done.ExpiresAt = segmentd.ImportDone, importT0.Add(segmentd.ImportLifetime)
	noErr(t, "UpdateImport(queued → done)", st.UpdateImport(ctx(t), done, segmentd.ImportQueued))
	unfinished = must[[]segmentd.Import](t, "UnfinishedImports")(st.UnfinishedImports(ctx(t)))
	if len(unfinished) != 1 || unfinished[0].ID != noLists.ID {
		t.Fatalf("UnfinishedImports = %+v, want the import still awaiting", unfinished)
	}
	gone := newImport(acct, importT0)
	wantKind(t, "UpdateImport(unknown)", st.UpdateImport(ctx(t), gone, segmentd.ImportAwaiting), segmentd.KindNotFound)
	gone.AccountID = other
	gone.ID = imp.ID
	wantKind(t, "UpdateImport(other account)", st.UpdateImport(ctx(t), gone, segmentd.ImportDone), segmentd.KindNotFound)
}

// testImportChunks: chunks read back byte for byte, by seq and in seq
// order, each kind apart; a chunk put again replaces the first; dropping
// one kind leaves the other; an import that is gone takes no chunk.
func testImportChunks(t *testing.T, st ImportsStore) {
	acct, other := newAccount(t, st, "a"), newAccount(t, st, "b")
	imp := newImport(acct, importT0)
	noErr(t, "CreateImport", st.CreateImport(ctx(t), imp))
	big := bytes.Repeat([]byte{0, 1, 2, 255}, 1<<16)
	noErr(t, "PutImportChunk", st.PutImportChunk(ctx(t), acct, imp.ID, segmentd.ImportBatch, 0, big))
	noErr(t, "PutImportChunk", st.PutImportChunk(ctx(t), acct, imp.ID, segmentd.ImportBatch, 1, []byte("first")))
	noErr(t, "PutImportChunk(again)", st.PutImportChunk(ctx(t), acct, imp.ID, segmentd.ImportBatch, 1, []byte("second")))
	noErr(t, "PutImportChunk", st.PutImportChunk(ctx(t), acct, imp.ID, segmentd.ImportErrors, 7, []byte("2,email,bad\n")))
	noErr(t, "PutImportChunk", st.PutImportChunk(ctx(t), acct, imp.ID, segmentd.ImportErrors, 3, []byte("1,,x\n")))
	wantKind(t, "PutImportChunk(other account)", st.PutImportChunk(ctx(t), other, imp.ID, segmentd.ImportBatch, 9, []byte("x")), segmentd.KindNotFound)
	wantKind(t, "PutImportChunk(unknown)", st.PutImportChunk(ctx(t), acct, segmentd.NewID(), segmentd.ImportBatch, 0, []byte("x")), segmentd.KindNotFound)

	if got := must[[]byte](t, "ImportChunk")(st.ImportChunk(ctx(t), acct, imp.ID, segmentd.ImportBatch, 0)); !bytes.Equal(got, big) {
		t.Fatalf("chunk 0 reads %d bytes, want %d", len(got), len(big))
	}
	if got := must[[]byte](t, "ImportChunk")(st.ImportChunk(ctx(t), acct, imp.ID, segmentd.ImportBatch, 1)); string(got) != "second" {
		t.Fatalf("chunk 1 put twice reads %q", got)
	}
	wantKind(t, "ImportChunk(missing)", errOnly(st.ImportChunk(ctx(t), acct, imp.ID, segmentd.ImportBatch, 2)), segmentd.KindNotFound)
	wantKind(t, "ImportChunk(other kind)", errOnly(st.ImportChunk(ctx(t), acct, imp.ID, segmentd.ImportErrors, 0)), segmentd.KindNotFound)
	wantKind(t, "ImportChunk(other account)", errOnly(st.ImportChunk(ctx(t), other, imp.ID, segmentd.ImportBatch, 0)), segmentd.KindNotFound)

	var seqs []int
	var text string
	for after := -1; ; {
		seq, data, err := st.NextImportChunk(ctx(t), acct, imp.ID, segmentd.ImportErrors, after)
		if segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
			break
		}
		noErr(t, "NextImportChunk", err)
		seqs, text, after = append(seqs, seq), text+string(data), seq
	}
	if !reflect.DeepEqual(seqs, []int{3, 7}) || text != "1,,x\n2,email,bad\n" {
		t.Fatalf("the errors chunks read in order: %v %q", seqs, text)
	}

	noErr(t, "DropImportChunks", st.DropImportChunks(ctx(t), acct, imp.ID, segmentd.ImportBatch))
	wantKind(t, "ImportChunk(dropped)", errOnly(st.ImportChunk(ctx(t), acct, imp.ID, segmentd.ImportBatch, 0)), segmentd.KindNotFound)
	if seq, _, err := st.NextImportChunk(ctx(t), acct, imp.ID, segmentd.ImportErrors, -1); err != nil || seq != 3 {
		t.Fatalf("the errors chunks after the batches were dropped: %d %v", seq, err)
	}
}

// testImportExpired: done imports that expired at or before now are
// deleted with their chunks, in every account; imports not done, and
// done ones still young, stay.
func testImportExpired(t *testing.T, st ImportsStore) {
	acct, other := newAccount(t, st, "a"), newAccount(t, st, "b")
	old, young, otherOld, awaiting := newImport(acct, importT0), newImport(acct, importT0), newImport(other, importT0), newImport(acct, importT0)
	for _, imp := range []*segmentd.Import{&old, &young, &otherOld, &awaiting} {
		noErr(t, "CreateImport", st.CreateImport(ctx(t), *imp))
		noErr(t, "PutImportChunk", st.PutImportChunk(ctx(t), imp.AccountID, imp.ID, segmentd.ImportErrors, 0, []byte("data")))
		if imp == &awaiting {
			continue
		}
		done := *imp
		done.State, done.ExpiresAt = segmentd.ImportDone, importT0.Add(segmentd.ImportLifetime)
		if imp == &young {
			done.ExpiresAt = done.ExpiresAt.Add(time.Hour)
		}
		noErr(t, "UpdateImport", st.UpdateImport(ctx(t), done, segmentd.ImportAwaiting))
	}
	n := must[int](t, "DeleteExpiredImports")(st.DeleteExpiredImports(ctx(t), importT0.Add(segmentd.ImportLifetime)))
	if n != 2 {
		t.Fatalf("DeleteExpiredImports = %d, want 2", n)
	}
	for _, imp := range []segmentd.Import{old, otherOld} {
		wantKind(t, "Import(expired)", errOnly(st.Import(ctx(t), imp.AccountID, imp.ID)), segmentd.KindNotFound)
		wantKind(t, "ImportChunk(expired)", errOnly(st.ImportChunk(ctx(t), imp.AccountID, imp.ID, segmentd.ImportErrors, 0)), segmentd.KindNotFound)
	}
	for _, imp := range []segmentd.Import{young, awaiting} {
		noErr(t, "Import(kept)", errOnly(st.Import(ctx(t), acct, imp.ID)))
		if got := must[[]byte](t, "ImportChunk")(st.ImportChunk(ctx(t), acct, imp.ID, segmentd.ImportErrors, 0)); string(got) != "data" {
			t.Fatalf("a kept import's chunk reads %q", got)
		}
	}
}

// testImportReset: an account's reset and deletion take its imports and
// their chunks, and leave another account's.
func testImportReset(t *testing.T, st ImportsStore) {
	acct, gone, other := newAccount(t, st, "a"), newAccount(t, st, "gone"), newAccount(t, st, "b")
	imps := map[int64]segmentd.Import{}
	for _, a := range []int64{acct, gone, other} {
		imp := newImport(a, importT0)
		noErr(t, "CreateImport", st.CreateImport(ctx(t), imp))
		noErr(t, "PutImportChunk", st.PutImportChunk(ctx(t), a, imp.ID, segmentd.ImportBatch, 0, []byte("rows")))
		imps[a] = imp
	}
	must[int64](t, "ResetAccount")(st.ResetAccount(ctx(t), acct))
	noErr(t, "DeleteAccount", st.DeleteAccount(ctx(t), gone))
	for _, a := range []int64{acct, gone} {
		wantKind(t, "Import(after reset)", errOnly(st.Import(ctx(t), a, imps[a].ID)), segmentd.KindNotFound)
		wantKind(t, "ImportChunk(after reset)", errOnly(st.ImportChunk(ctx(t), a, imps[a].ID, segmentd.ImportBatch, 0)), segmentd.KindNotFound)
	}
	noErr(t, "Import(other account)", errOnly(st.Import(ctx(t), other, imps[other].ID)))
	noErr(t, "ImportChunk(other account)", errOnly(st.ImportChunk(ctx(t), other, imps[other].ID, segmentd.ImportBatch, 0)))
}
