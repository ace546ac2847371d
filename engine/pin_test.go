package engine

import (
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/segmentd/segmentd"
)

// TestWrittenStringsNotPinned: the list ids, tag ids and alternate emails
// the engine keeps from a written contact are copies, not slices of the
// caller's buffer (a job's input is one string of up to 6 MB, and a list
// kept for good would pin all of it).
func TestWrittenStringsNotPinned(t *testing.T) {
	buf := strings.Repeat("x", 1<<16) + "list-1" + "tag-1" + "alt@example.com"
	at := len(buf) - len("list-1tag-1alt@example.com")
	list, tag, alt := buf[at:at+6], buf[at+6:at+11], buf[at+11:]
	within := func(s string) bool {
		p, lo := uintptr(unsafe.Pointer(unsafe.StringData(s))), uintptr(unsafe.Pointer(unsafe.StringData(buf)))
		return p >= lo && p < lo+uintptr(len(buf))
	}
	if !within(list) || !within(tag) || !within(alt) {
		t.Fatal("the test's strings are not slices of its buffer")
	}
	e := New()
	base := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	e.PutContacts(1, []segmentd.Contact{{ID: "c1", Email: "c1@example.com", ListIDs: []string{list}, TagIDs: []string{tag},
		AlternateEmails: []string{alt}, CreatedAt: base, UpdatedAt: base}}, base)
	a := e.accts[1]
	l, tg := a.lists[list], a.tags.byID[tag]
	if l == nil || tg == nil || len(a.alt[0]) != 1 {
		t.Fatalf("list %v, tag %v, alternate emails %v: not recorded", l, tg, a.alt[0])
	}
	for what, s := range map[string]string{"list id": l.id, "tag id": tg.id, "alternate email": a.alt[0][0]} {
		if within(s) {
			t.Errorf("the engine keeps the %s %q as a slice of the caller's buffer", what, s)
		}
	}
	for k := range a.lists {
		if within(k) {
			t.Errorf("the list map's key %q is a slice of the caller's buffer", k)
		}
	}
	for k := range a.tags.byID {
		if within(k) {
			t.Errorf("the tag map's key %q is a slice of the caller's buffer", k)
		}
	}
}
