package engine

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/criteria"
	"github.com/segmentd/segmentd/internal/querytest"
	"github.com/segmentd/segmentd/query"
)

// The differential test of Constant Contact segments: random contacts,
// lists, events of several campaigns and random criteria of every source;
// after every step each segment's members must be what the query
// package's evaluator says of the criteria translated with the campaigns
// the test computes itself, over every contact and its events.

var ccLists = []string{
	"0b2c8e3a-1d3f-4f5a-9b6c-7d8e9f0a1b2c",
	"11111111-2222-3333-4444-555555555555",
	"aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
}

// ccTags are the tags contacts get; criteria also name a tag nobody has.
var ccTags = []string{
	"22222222-2222-3333-4444-555555555555",
	"33333333-2222-3333-4444-555555555555",
}

var ccFields = []segmentd.FieldDefinition{
	{ID: "w1", Name: "color", Type: segmentd.FieldText},
	{ID: "n2", Name: "score", Type: segmentd.FieldNumber},
	{ID: "d3", Name: "birthday", Type: segmentd.FieldDate},
}

// ccModel is the test's own account.
type ccModel struct {
	fields   []segmentd.FieldDefinition
	contacts map[string]*segmentd.Contact
	events   map[string][]query.Event
	first    map[string]int64 // campaign → first event, over every event given
	segs     map[string]string
}

// campaigns computes the account's campaigns newest first.
func (m *ccModel) campaigns() []string {
	var out []string
	for id := range m.first {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool {
		if a, b := m.first[out[i]], m.first[out[j]]; a != b {
			return a > b
		}
		return out[i] < out[j]
	})
	return out
}

func (m *ccModel) noteEvents(evs []query.Event) {
	for _, e := range evs {
		for _, id := range []string{e.SinglesendID, e.MarketingCampaignID} {
			if t, ok := m.first[id]; id != "" && (!ok || e.Timestamp < t) {
				m.first[id] = e.Timestamp
			}
		}
	}
}

func (m *ccModel) want(t *testing.T, now time.Time) map[string][]string {
	cat := (&model{fields: m.fields}).catalog(t)
	camps := m.campaigns()
	out := map[string][]string{}
	for id, src := range m.segs {
		c, err := criteria.Parse(src)
		if err != nil {
			t.Fatal(err)
		}
		var members []string
		stmt, err := c.Select(cat, camps)
		if err == nil {
			ch, err := query.Check(&query.Query{Lang: query.SQL, Stmt: stmt, Tags: true}, cat)
			if err != nil {
				t.Fatalf("%s: translation does not check: %v", src, err)
			}
			p := query.Compile(ch)
			for cid, ct := range m.contacts {
				r := querytest.Record(ct, m.events[cid], cat)
				if p.Match(r, now) {
					members = append(members, cid)
				}
			}
		}
		sort.Strings(members)
		out[id] = members
	}
	return out
}

func ccContact(rng *rand.Rand, id string, now time.Time, fields []segmentd.FieldDefinition) segmentd.Contact {
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	c := segmentd.Contact{
		ID:                  id,
		Email:               pick("a@gmail.com", "b@example.com", id+"@gmail.com", id+"@x.org"),
		FirstName:           pick("Alice", "alice", "Bob", "Al_ice", ""),
		City:                pick("Paris", "Greenville", "", "BERLIN"),
		StateProvinceRegion: pick("MD", "md", "CA", ""),
		PostalCode:          pick("20001", "", "9%1"),
		CreatedAt:           now.Add(-time.Duration(rng.IntN(6*24)) * time.Hour),
		UpdatedAt:           now.Add(-time.Duration(rng.IntN(3*24)) * time.Hour),
	}
	for _, l := range ccLists {
		if rng.IntN(2) == 0 {
			c.ListIDs = append(c.ListIDs, l)
		}
	}
	for _, tag := range ccTags {
		if rng.IntN(2) == 0 {
			c.TagIDs = append(c.TagIDs, tag)
		}
	}
	c.CustomFields = map[string]segmentd.Value{}
	for _, f := range fields {
		if rng.IntN(3) == 0 {
			continue
		}
		switch f.Type {
		case segmentd.FieldText:
			c.CustomFields[f.ID] = segmentd.Value{Type: f.Type, Text: pick("Red", "red", "blue")}
		case segmentd.FieldNumber:
			c.CustomFields[f.ID] = segmentd.Value{Type: f.Type, Number: float64(rng.IntN(11) - 2)}
		case segmentd.FieldDate:
			d := time.Date(2025, 12, 25+rng.IntN(14), rng.IntN(24), 0, 0, 0, time.UTC)
			c.CustomFields[f.ID] = segmentd.Value{Type: f.Type, Time: d}
		}
	}
	return c
}

// ccGen generates criteria documents; campaign ids come from a pool that
// grows as the test sends campaigns.
type ccGen struct {
	rng   *rand.Rand
	camps *[]string
}

func (g ccGen) pick(s ...string) string { return s[g.rng.IntN(len(s))] }

func (g ccGen) doc() string {
	return `{"version":"1.0.0","criteria":` + g.group(1) + `}`
}

func (g ccGen) group(depth int) string {
	typ := g.pick("and", "or")
	var items []string
	lists, tags := 0, 0
	for n := 1 + g.rng.IntN(3); len(items) < n; {
		if depth < 3 && g.rng.IntN(5) == 0 {
			items = append(items, g.group(depth+1))
			continue
		}
		src, leaf := g.leaf()
		if typ == "and" && (src == "list_membership" && lists > 0 || src == "tags" && tags > 0) {
			continue // Constant Contact combines these with "or" only
		}
		if src == "list_membership" {
			lists++
		}
		if src == "tags" {
			tags++
		}
		items = append(items, leaf)
	}
	return `{"type":"` + typ + `","group":[` + strings.Join(items, ",") + `]}`
}

func kv(pairs ...string) string {
	var b []string
	for i := 0; i < len(pairs); i += 2 {
		b = append(b, fmt.Sprintf("%q:%q", pairs[i], pairs[i+1]))
	}
	return "{" + strings.Join(b, ",") + "}"
}

func (g ccGen) leaf() (string, string) {
	switch n := g.rng.IntN(10); {
	case n < 5:
		f := g.pick("sent", "delivered", "opened", "not_opened", "clicked", "not_clicked", "bounced", "unsubscribed", "spam_reported")
		p := []string{"source", "tracking", "field", f, "op", g.pick("contains-any", "contains-none")}
		switch g.rng.IntN(3) {
		case 0:
			p = append(p, "const_value", "campaigns")
		case 1:
			p = append(p, "const_value", "last-n-campaigns", "param", fmt.Sprint(1+g.rng.IntN(4)))
		default:
			ids := []string{"ss-nope"}
			for _, c := range *g.camps {
				if g.rng.IntN(3) == 0 {
					ids = append(ids, c)
				}
			}
			p = append(p, "const_value", "campaign-ids", "param", strings.Join(ids, ","))
		}
		switch g.rng.IntN(3) {
		case 0:
			p = append(p, "const_date_value", "last-n-days", "date_param", fmt.Sprint(1+g.rng.IntN(8)))
		case 1:
			p = append(p, "const_date_value", "between-dates", "date_param", g.pick("2025-12-28,2026-01-02", "2026-01-01,2026-01-01", "2026-01-03,2026-02-01"))
		}
		return "tracking", kv(p...)
	case n < 8:
		var p []string
		switch f := g.pick("first_name", "email_address", "state", "city", "postal_code", "color", "custom_fields.color", "score", "birthday", "created_at", "updated_at"); f {
		case "score":
			p = []string{"field", f, "op", g.pick("eq", "ne", "gt", "gte", "lt", "lte"), "const_value", g.pick("3", "-1", "4.5", "0")}
		case "birthday", "created_at", "updated_at":
			switch op := g.pick("before", "after", "on", "in-last-n-days"); op {
			case "in-last-n-days":
				p = []string{"field", f, "op", op, "date_param", fmt.Sprint(1 + g.rng.IntN(5))}
			case "on":
				p = []string{"field", f, "op", op, "const_value", g.pick("2025-12-30", "2026-01-01", "2026-01-03")}
			default:
				p = []string{"field", f, "op", op, "const_value", g.pick("2025-12-30", "2026-01-01", "2026-01-02T12:00:00Z")}
			}
		default:
			op := g.pick("eq", "ne", "contains", "not-contains", "starts-with", "ends-with")
			p = []string{"field", f, "op", op, "const_value", g.pick("al", "AL_", "md", "Red", "ville", "@GMAIL.com", "9%", "paris", "c0")}
		}
		if g.rng.IntN(8) == 0 {
			p = []string{"field", p[1], "op", g.pick("is-empty", "is-not-empty")}
		}
		// A custom field by the UUID Constant Contact's face gives it.
		for _, f := range ccFields {
			if strings.TrimPrefix(p[1], "custom_fields.") == f.Name && g.rng.IntN(2) == 0 {
				p = append([]string{"field", "custom_field", "param", criteria.FieldUUID(f.ID)}, p[2:]...)
			}
		}
		return "contact", kv(append([]string{"source", "contact"}, p...)...)
	case n < 9:
		return "list_membership", kv("source", "list_membership", "field", "list_id", "op", g.pick("contains-any", "contains-none"),
			"const_value", strings.ToUpper(g.pick(append(ccLists, "22222222-2222-3333-4444-555555555555")...)))
	}
	return "tags", kv("source", "tags", "field", "tag_id", "op", g.pick("contains-any", "contains-none"),
		"const_value", strings.ToUpper(g.pick(append(ccTags, "44444444-2222-3333-4444-555555555555")...)))
}

func TestCriteriaAgainstEvaluator(t *testing.T) {
	seeds, steps := propertyRuns()
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 6))
			e := New()
			mem := Membership{Engine: e}
			const acct = 3
			m := &ccModel{contacts: map[string]*segmentd.Contact{}, events: map[string][]query.Event{}, first: map[string]int64{}, segs: map[string]string{}}
			var camps []string
			gen := ccGen{rng: rng, camps: &camps}
			now := base
			ids := walkIDs(25)
			history := stepLog(t)
			for step := range steps {
				var what string
				switch op := rng.IntN(100); {
				case op < 25:
					batch := make([]segmentd.Contact, 1+rng.IntN(5))
					for i := range batch {
						batch[i] = ccContact(rng, ids[rng.IntN(len(ids))], now, m.fields)
					}
					for i := range batch {
						c := batch[i]
						m.contacts[c.ID] = &c
					}
					e.PutContacts(acct, batch, now)
					what = fmt.Sprintf("put %d", len(batch))
				case op < 30:
					del := []string{ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))]}
					for _, id := range del {
						delete(m.contacts, id)
						delete(m.events, id)
					}
					e.DeleteContacts(acct, del, now)
					what = fmt.Sprint("delete ", del)
				case op < 50: // events, through the seam: some of no or unknown contacts
					if rng.IntN(4) == 0 || len(camps) == 0 {
						camps = append(camps, fmt.Sprintf("ss%d", len(camps)))
					}
					var evs []segmentd.Event
					for k := 0; k < 1+rng.IntN(6); k++ {
						ev := segmentd.Event{
							ContactID: gen.pick(append(ids[:10:10], "", "gone")...),
							Type:      gen.pick("processed", "delivered", "open", "click", "bounce", "dropped", "unsubscribe", "spamreport", "group_resubscribe"),
							Timestamp: now.Add(-time.Duration(rng.IntN(10*24*60)) * time.Minute),
						}
						switch rng.IntN(5) {
						case 0:
							ev.MarketingCampaignID = gen.pick("mc1", "mc2")
						case 1:
							ev.MarketingCampaignID = gen.pick("mc1", "mc2")
							ev.SinglesendID = camps[rng.IntN(len(camps))]
						case 2: // no campaign
						default:
							ev.SinglesendID = camps[max(0, len(camps)-1-rng.IntN(3))]
						}
						evs = append(evs, ev)
						qe := queryEvent(&ev)
						m.noteEvents([]query.Event{qe})
						if _, ok := m.contacts[ev.ContactID]; ok {
							m.events[ev.ContactID] = append(m.events[ev.ContactID], qe)
						}
					}
					mem.AddEvents(acct, evs, now)
					what = fmt.Sprintf("%d events", len(evs))
				case op < 55:
					fs := slices.Clone(m.fields)
					f := ccFields[rng.IntN(len(ccFields))]
					if i := slices.IndexFunc(fs, func(d segmentd.FieldDefinition) bool { return d.ID == f.ID }); i >= 0 {
						fs = slices.Delete(fs, i, i+1)
						for _, c := range m.contacts {
							cf := cloneValues(c.CustomFields)
							delete(cf, f.ID)
							c.CustomFields = cf
						}
						what = "delete field " + f.Name
					} else {
						fs = append(fs, f)
						what = "add field " + f.Name
					}
					m.fields = fs
					if err := e.SetFields(acct, fs, now); err != nil {
						t.Fatal(err)
					}
				case op < 72:
					sid := fmt.Sprintf("cc:%d", rng.IntN(6))
					src := gen.doc()
					if err := mem.CheckQuery(acct, segmentd.LangCC, src); err != nil {
						what = "rejected " + src // a custom field the account lacks
						break
					}
					m.segs[sid] = src
					if err := mem.PutSegment(acct, sid, segmentd.LangCC, src, "", now); err != nil {
						t.Fatal(err)
					}
					what = "segment " + sid + " = " + src
				case op < 75: // a rebuild's load
					var segs []segmentd.Segment
					for id, src := range m.segs {
						segs = append(segs, segmentd.Segment{ID: id, QueryDSL: src, QueryVersion: "cc"})
					}
					var defs []SegmentDef
					for _, s := range segs {
						c, err := criteria.Parse(s.QueryDSL)
						if err != nil {
							t.Fatal(err)
						}
						defs = append(defs, SegmentDef{ID: s.ID, Criteria: c})
					}
					for i, err := range e.PutSegments(acct, defs, now) {
						if err != nil && !strings.Contains(err.Error(), "unknown contact field") && !strings.Contains(err.Error(), "unknown custom field") {
							t.Fatalf("%s: %v", defs[i].ID, err)
						}
					}
					what = "reload segments"
				case op < 78:
					sid := fmt.Sprintf("cc:%d", rng.IntN(6))
					delete(m.segs, sid)
					e.RemoveSegment(acct, sid)
					what = "remove " + sid
				case op < 81: // a tag deleted: every contact loses it
					tag := ccTags[rng.IntN(len(ccTags))]
					for _, c := range m.contacts {
						c.TagIDs = slices.DeleteFunc(slices.Clone(c.TagIDs), func(s string) bool { return s == tag })
					}
					mem.DeleteTag(acct, tag, now)
					what = "delete tag " + tag
				default:
					d := []time.Duration{time.Minute, time.Hour, 11 * time.Hour, 26 * time.Hour, 3 * 24 * time.Hour}[rng.IntN(5)]
					now = now.Add(d)
					what = "clock +" + d.String()
				}
				*history = append(*history, what+"\n")
				if got, want := e.Campaigns(acct), m.campaigns(); !slices.Equal(got, want) && (len(got) > 0 || len(want) > 0) {
					t.Fatalf("step %d (%s): campaigns %v, want %v", step, what, got, want)
				}
				for id, w := range m.want(t, now) {
					got := e.Members(acct, id, -1, now)
					sort.Strings(got)
					if !slices.Equal(got, w) {
						t.Fatalf("step %d (%s): segment %s %s\ncampaigns %v\n got %v\nwant %v", step, what, id, m.segs[id], m.campaigns(), got, w)
					}
				}
				checkExplain(t, e, acct, slices.Collect(maps.Keys(m.segs)), slices.Collect(maps.Keys(m.contacts)), now, fmt.Sprintf("step %d (%s)", step, what))
				for id, src := range m.segs {
					c, err := criteria.Parse(src)
					if err != nil {
						t.Fatal(err)
					}
					if e.SegmentError(acct, id) == nil {
						checkPreview(t, e, acct, id, nil, c, "", now)
					}
				}
			}
		})
	}
}

// BenchmarkAddEventsCampaigns: recording events (about 10 per contact, of
// 50 campaigns in random order, the worst case for noting campaigns) into
// an account of 100,000 contacts with no segment; reports ns per event.
func BenchmarkAddEventsCampaigns(b *testing.B) {
	const n = 100_000
	e := buildWorld(b, n, false)
	ids := make([]string, n)
	evs := make([][]query.Event, n)
	total := 0
	for i := range ids {
		ids[i] = genContact(i, base).ID
		evs[i] = genEvents(i, base)
		total += len(evs[i])
	}
	b.ResetTimer()
	for b.Loop() {
		for i, id := range ids {
			e.AddEvents(1, id, evs[i], base)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*total), "ns/event")
}

// BenchmarkNewCampaign: a new campaign's first event with a
// last-n-campaigns segment over 100,000 contacts and their events: the
// segment is translated again and re-evaluated in full.
func BenchmarkNewCampaign(b *testing.B) {
	e := buildWorld(b, 100_000, true)
	c, err := criteria.Parse(`{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"tracking","field":"not_opened","op":"contains-any","const_value":"last-n-campaigns","param":"5"}]}}`)
	if err != nil {
		b.Fatal(err)
	}
	if err := e.PutCriteriaSegment(1, "cc:1", c, "", base); err != nil {
		b.Fatal(err)
	}
	id := genContact(0, base).ID
	k := 0
	for b.Loop() {
		k++
		ev := query.Event{Source: "mail", Type: "processed", Timestamp: base.Add(time.Duration(k) * time.Second).UnixMilli(), SinglesendID: fmt.Sprint("new", k)}
		e.AddEvents(1, id, []query.Event{ev}, base.Add(time.Hour))
	}
	b.ReportMetric(float64(e.Count(1, "cc:1", base.Add(time.Hour))), "members")
}
