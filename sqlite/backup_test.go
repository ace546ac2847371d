package sqlite

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/segmentd/segmentd"
)

// TestBackup: the copy opens as a store and holds what the source held at
// the copy's moment, its marks and counts read from it; a missing source
// is not created and an existing destination is not overwritten.
func TestBackup(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	src := filepath.Join(dir, "segmentd.db")
	s, err := Open(ctx, src)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a := fill(t, s)
	patch := func(email string) segmentd.ContactPatch {
		return segmentd.ContactPatch{Email: str(email)}
	}
	if _, err := s.UpsertContacts(ctx, a.ID, []segmentd.ContactPatch{patch("x1@example.com"), patch("x2@example.com")}, nil, testNow); err != nil {
		t.Fatal(err)
	}
	want, err := s.ChangeMark(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantCount, err := s.CountContacts(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}

	dst := filepath.Join(dir, "copy", "segmentd.db")
	if err := os.Mkdir(filepath.Dir(dst), 0o700); err != nil {
		t.Fatal(err)
	}
	info, err := Backup(ctx, src, dst)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mark.StoreID != want.StoreID || info.Mark.Seq(a.ID) != want.Seq(a.ID) || info.Contacts[a.ID] != wantCount || info.Bytes <= 0 {
		t.Fatalf("backup info %+v, want the source's mark %+v and %d contacts", info, want, wantCount)
	}
	// The source goes on; the copy stays as it was.
	if _, err := s.UpsertContacts(ctx, a.ID, []segmentd.ContactPatch{patch("x3@example.com")}, nil, testNow); err != nil {
		t.Fatal(err)
	}
	c, err := Open(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, err := c.CountContacts(ctx, a.ID)
	if err != nil || got != wantCount {
		t.Fatalf("copy's contacts: %d %v, want %d", got, err, wantCount)
	}
	if m, err := c.ChangeMark(ctx); err != nil || m.StoreID != want.StoreID || m.Seq(a.ID) != want.Seq(a.ID) {
		t.Fatalf("copy's mark %+v %v, want %+v", m, err, want)
	}

	if _, err := Backup(ctx, src, dst); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("backup over an existing file: %v", err)
	}
	missing := filepath.Join(dir, "none", "segmentd.db")
	if _, err := Backup(ctx, missing, filepath.Join(dir, "x.db")); err == nil {
		t.Fatal("backup of a missing store succeeded")
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatalf("backup created the missing source: %v", err)
	}
}
