package sqlite

import (
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/cputime"
)

// realisticContacts sizes BenchmarkUpsertRealistic.
var realisticContacts = flag.Int("realistic.contacts", 200_000, "contacts of BenchmarkUpsertRealistic")

// realisticGroup is how many requests share a transaction
// (UpsertContactsGroup); the server groups up to maxGroupedUpserts.
var realisticGroup = flag.Int("realistic.group", 1, "requests of BenchmarkUpsertRealistic per transaction")

const (
	realisticLists        = 50 // lists of the account
	realisticListsPerUser = 3  // lists each contact is on
)

// realisticLoad is the account issue 14 describes, as a SendGrid client
// must send it: every contact has 5 custom fields (2 Text, 2 Number, 1
// Date) and 3 of 50 lists. An upsert's list_ids apply to every contact of
// the request, so each contact is sent once in full with its first list
// (the requests of one list: its contacts in 30,000-contact chunks), then
// once per other list with its email alone.
type realisticLoad struct {
	full, member []realisticRequest
}

type realisticRequest struct {
	list    int
	patches []segmentd.ContactPatch
}

// contactLists returns contact n's lists: three distinct of
// realisticLists, spread by a multiplicative hash.
func contactLists(n int) [realisticListsPerUser]int {
	h := uint64(n)*0x9e3779b97f4a7c15 + 1
	var out [realisticListsPerUser]int
	for i := range out {
	again:
		h ^= h >> 29
		h *= 0xbf58476d1ce4e5b9
		l := int(h>>33) % realisticLists
		for _, have := range out[:i] {
			if have == l {
				goto again
			}
		}
		out[i] = l
	}
	return out
}

func realisticEmail(n int) string {
	return fmt.Sprintf("user%08d@%s", n, benchDomain[n%len(benchDomain)])
}

// newRealisticLoad builds the requests for contacts 0 … total-1; fields
// are the ids of the Text, Text, Number, Number, Date fields.
func newRealisticLoad(total int, fields [5]string) *realisticLoad {
	byFirst := make([][]int, realisticLists)
	byOther := make([][]int, realisticLists)
	for n := range total {
		ls := contactLists(n)
		byFirst[ls[0]] = append(byFirst[ls[0]], n)
		for _, l := range ls[1:] {
			byOther[l] = append(byOther[l], n)
		}
	}
	t0 := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	load := &realisticLoad{}
	chunks := func(l int, ns []int, full bool) (out []realisticRequest) {
		for len(ns) > 0 {
			k := min(len(ns), benchBatch)
			r := realisticRequest{list: l, patches: make([]segmentd.ContactPatch, k)}
			for i, n := range ns[:k] {
				email := realisticEmail(n)
				p := segmentd.ContactPatch{Email: &email}
				if full {
					first, last, city := benchFirst[n%len(benchFirst)], benchLast[(n/7)%len(benchLast)], benchCity[(n/3)%len(benchCity)]
					p.FirstName, p.LastName, p.City = &first, &last, &city
					p.CustomFields = map[string]*segmentd.Value{
						fields[0]: {Type: segmentd.FieldText, Text: benchCity[(n/11)%len(benchCity)]},
						fields[1]: {Type: segmentd.FieldText, Text: fmt.Sprintf("plan-%d", n%7)},
						fields[2]: {Type: segmentd.FieldNumber, Number: float64(n % 1000)},
						fields[3]: {Type: segmentd.FieldNumber, Number: float64(n%97) / 4},
						fields[4]: {Type: segmentd.FieldDate, Time: t0.Add(time.Duration(n%2000) * 24 * time.Hour)},
					}
				}
				r.patches[i] = p
			}
			out = append(out, r)
			ns = ns[k:]
		}
		return out
	}
	for l := range realisticLists {
		load.full = append(load.full, chunks(l, byFirst[l], true)...)
	}
	for l := range realisticLists {
		load.member = append(load.member, chunks(l, byOther[l], false)...)
	}
	return load
}

// BenchmarkUpsertRealistic loads issue 14's account through UpsertContacts,
// the store's share of `segmentd bench ingest`'s realistic workload:
// -realistic.contacts contacts (200,000 by default; the size is
// 1,000,000) with 5 custom fields and 3 of 50 lists, as full records
// (each contact once, with its first list) and then membership-only
// re-upserts (the email alone, once per other list), in requests of at
// most 30,000, -realistic.group of them to a transaction
// (UpsertContactsGroup; 1 by default, as UpsertContacts). Each op loads a
// new database. It reports records (full and
// membership-only patches) per second of the whole load and of each phase.
//
//	go test ./sqlite -run '^$' -bench UpsertRealistic -benchtime 1x -realistic.contacts 1000000
func BenchmarkUpsertRealistic(b *testing.B) {
	total := *realisticContacts
	var full, member time.Duration
	var cpu, memberCPU time.Duration
	var records int
	for b.Loop() {
		b.StopTimer()
		bs := newBenchStore(b)
		ctx := b.Context()
		now := time.Now()
		fields, lists := bs.realisticAccount(b, now)
		load := newRealisticLoad(total, fields)
		run := func(rs []realisticRequest, wantCreated bool) time.Duration {
			t0 := time.Now()
			for len(rs) > 0 {
				g := rs[:min(len(rs), *realisticGroup)]
				rs = rs[len(g):]
				ups := make([]segmentd.ContactUpsert, len(g))
				for i, r := range g {
					ups[i] = segmentd.ContactUpsert{Patches: r.patches, ListIDs: []string{lists[r.list]}}
				}
				results, errs, err := bs.s.UpsertContactsGroup(ctx, bs.acct, ups, time.Now())
				if err != nil {
					b.Fatal(err)
				}
				for i, res := range results {
					if errs[i] != nil {
						b.Fatal(errs[i])
					}
					if len(res.Errors) > 0 {
						b.Fatalf("upsert errors: %+v", res.Errors[0])
					}
					if n := len(g[i].patches); wantCreated && res.Created != n || !wantCreated && res.Updated != n {
						b.Fatalf("created %d, updated %d of %d", res.Created, res.Updated, n)
					}
					records += len(g[i].patches)
				}
			}
			return time.Since(t0)
		}
		b.StartTimer()
		c0 := cputime.Process()
		full += run(load.full, true)
		c1 := cputime.Process()
		member += run(load.member, false)
		memberCPU += cputime.Process() - c1
		cpu += cputime.Process() - c0
		b.StopTimer()
		n, err := bs.s.CountContacts(ctx, bs.acct)
		if err != nil || n != total {
			b.Fatalf("CountContacts = %d, %v; want %d", n, err, total)
		}
		// The list's own count (Store.List leaves it to the engine,
		// docs/decisions.md §19).
		members, err := bs.s.CountListMembers(ctx, bs.acct, lists[0])
		if err != nil {
			b.Fatal(err)
		}
		want := 0
		for n := range total {
			for _, x := range contactLists(n) {
				if x == 0 {
					want++
				}
			}
		}
		if members != want {
			b.Fatalf("list 0 has %d contacts, want %d", members, want)
		}
		b.StartTimer()
	}
	fullRecords, memberRecords := b.N*total, b.N*total*(realisticListsPerUser-1)
	b.ReportMetric(float64(records)/(full+member).Seconds(), "records/s")
	b.ReportMetric(float64(fullRecords)/full.Seconds(), "full/s")
	b.ReportMetric(float64(memberRecords)/member.Seconds(), "member/s")
	b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
	b.ReportMetric(memberCPU.Seconds()/float64(b.N), "member-cpu-s/op")
	b.ReportMetric(0, "ns/op")
}

// realisticAccount creates the realistic account's five custom fields
// (two Text, two Number, a Date) and its realisticLists lists.
func (bs *benchStore) realisticAccount(b *testing.B, now time.Time) (fields [5]string, lists []string) {
	b.Helper()
	ctx := b.Context()
	for i, t := range []segmentd.FieldType{segmentd.FieldText, segmentd.FieldText, segmentd.FieldNumber, segmentd.FieldNumber, segmentd.FieldDate} {
		f, err := bs.s.CreateFieldDefinition(ctx, bs.acct, fmt.Sprintf("field_%d", i), t, 100, now)
		if err != nil {
			b.Fatal(err)
		}
		fields[i] = f.ID
	}
	lists = make([]string, realisticLists)
	for i := range lists {
		l, err := bs.s.CreateList(ctx, bs.acct, fmt.Sprintf("list %02d", i), now)
		if err != nil {
			b.Fatal(err)
		}
		lists[i] = l.ID
	}
	return fields, lists
}
