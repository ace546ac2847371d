package sqlite

import (
	"fmt"
	"runtime"
	"testing"
)

// TestOwnerTable: every email set is found with its latest owner, an
// email never set is not, and a truncated table keeps its first emails
// only and takes new ones again.
func TestOwnerTable(t *testing.T) {
	owner := func(i int) emailOwner {
		var o emailOwner
		o.id[0], o.id[1], o.id[15] = byte(i), byte(i>>8), byte(i>>16)
		o.has = i%3 != 0
		return o
	}
	email := func(i int) string { return fmt.Sprintf("user%d@example.com", i) }
	m := newOwnerTable()
	if _, ok := m.get(email(0)); ok {
		t.Fatal("an empty table holds an email")
	}
	const n = 5000
	for i := range n {
		if !m.set(email(i), owner(i)) {
			t.Fatalf("%s: not new", email(i))
		}
	}
	// Set again with another owner: not new, and the new owner wins.
	for i := 0; i < n; i += 7 {
		if m.set(email(i), owner(i+1)) {
			t.Fatalf("%s set again: new", email(i))
		}
	}
	check := func(held int) {
		t.Helper()
		if m.len() != held {
			t.Fatalf("len %d, want %d", m.len(), held)
		}
		for i := range n + 100 {
			o, ok := m.get(email(i))
			want := owner(i)
			if i%7 == 0 {
				want = owner(i + 1)
			}
			switch {
			case i < held && (!ok || o != want):
				t.Fatalf("%s: %v %v, want %v", email(i), o, ok, want)
			case i >= held && ok:
				t.Fatalf("%s: held, but only the first %d are", email(i), held)
			}
		}
		// A prefix or an extension of a held email is another email.
		if _, ok := m.get("user1@example.co"); ok {
			t.Fatal("a prefix of an email is held")
		}
		if _, ok := m.get(""); ok {
			t.Fatal("the empty email is held")
		}
	}
	check(n)
	m.truncate(1234)
	check(1234)
	m.truncate(0)
	check(0)
	for i := range 10 {
		m.set(email(i), owner(i))
	}
	for i := 0; i < 10; i += 7 {
		m.set(email(i), owner(i+1))
	}
	check(10)
}

// BenchmarkEmailOwners reports the heap a million remembered emails take
// (bytes-per-email, after a collection) in the store's table and in a map
// of strings, the form it replaced, and the cost of a lookup.
func BenchmarkEmailOwners(b *testing.B) {
	const n = 1_000_000
	emails := make([]string, n)
	for i := range emails {
		emails[i] = fmt.Sprintf("contact%07d@example%d.com", i, i%100)
	}
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	b.Run("table", func(b *testing.B) {
		for b.Loop() {
			before := heap()
			m := newOwnerTable()
			for i, e := range emails {
				m.set(string([]byte(e)), emailOwner{id: [16]byte{byte(i)}, has: true})
			}
			b.ReportMetric(float64(heap()-before)/n, "bytes-per-email")
			for _, e := range emails[:100_000] {
				if _, ok := m.get(e); !ok {
					b.Fatal("an email not found")
				}
			}
			runtime.KeepAlive(m)
		}
	})
	b.Run("map", func(b *testing.B) {
		for b.Loop() {
			before := heap()
			m := map[string]emailOwner{}
			for i, e := range emails {
				m[string([]byte(e))] = emailOwner{id: [16]byte{byte(i)}, has: true}
			}
			b.ReportMetric(float64(heap()-before)/n, "bytes-per-email")
			for _, e := range emails[:100_000] {
				if _, ok := m[e]; !ok {
					b.Fatal("an email not found")
				}
			}
			runtime.KeepAlive(m)
		}
	})
}
