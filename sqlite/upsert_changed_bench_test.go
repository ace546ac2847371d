package sqlite

import (
	"fmt"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/cputime"
)

// BenchmarkUpsertChanged measures an upsert that changes a field of
// 30,000 stored contacts spread over issue 14's account (a daily sync
// re-sending changed contacts): the account of BenchmarkUpsertRealistic
// (-realistic.contacts, 3 of 50 lists each) is loaded once, then each op
// upserts the same 30,000 contacts with a new first name onto one list.
// It reports the process's CPU per op.
//
//	go test ./sqlite -run '^$' -bench UpsertChanged -benchtime 5x -realistic.contacts 1000000
func BenchmarkUpsertChanged(b *testing.B) {
	total := *realisticContacts
	const changed = 30_000
	if total < changed {
		b.Skipf("-realistic.contacts %d is fewer than %d", total, changed)
	}
	bs := newBenchStore(b)
	ctx := b.Context()
	now := time.Now()
	fields, lists := bs.realisticAccount(b, now)
	load := newRealisticLoad(total, fields)
	for _, rs := range [][]realisticRequest{load.full, load.member} {
		for len(rs) > 0 {
			g := rs[:min(len(rs), 4)]
			rs = rs[len(g):]
			ups := make([]segmentd.ContactUpsert, len(g))
			for i, r := range g {
				ups[i] = segmentd.ContactUpsert{Patches: r.patches, ListIDs: []string{lists[r.list]}}
			}
			if _, _, err := bs.s.UpsertContactsGroup(ctx, bs.acct, ups, time.Now()); err != nil {
				b.Fatal(err)
			}
		}
	}
	emails := make([]string, changed)
	for i := range emails {
		emails[i] = realisticEmail(i * (total / changed))
	}
	var cpu time.Duration
	round := 0
	for b.Loop() {
		round++
		patches := make([]segmentd.ContactPatch, changed)
		for i := range patches {
			first := fmt.Sprintf("Name%d-%d", round, i)
			patches[i] = segmentd.ContactPatch{Email: &emails[i], FirstName: &first}
		}
		c0 := cputime.Process()
		res, err := bs.s.UpsertContacts(ctx, bs.acct, patches, lists[:1], time.Now())
		cpu += cputime.Process() - c0
		if err != nil {
			b.Fatal(err)
		}
		if res.Updated != changed || len(res.Contacts) != changed {
			b.Fatalf("updated %d, %d contacts; want %d", res.Updated, len(res.Contacts), changed)
		}
	}
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
}
