package engine

import (
	"bytes"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/querytest"
	"github.com/segmentd/segmentd/query"
)

// The reference: what query.Compile(...).Match says over every live contact,
// built straight from the domain values (querytest.Record), with no engine
// code involved.

type refSegment struct {
	lang   query.Lang
	src    string
	parent string
}

// model is the test's own account: plain maps, evaluated the slow way.
type model struct {
	fields   []segmentd.FieldDefinition
	contacts map[string]*segmentd.Contact
	events   map[string][]query.Event
	segs     map[string]refSegment
}

func newModel() *model {
	return &model{contacts: map[string]*segmentd.Contact{}, events: map[string][]query.Event{}, segs: map[string]refSegment{}}
}

func (m *model) catalog(t testing.TB) *query.Catalog {
	var cf []query.CustomField
	for _, f := range m.fields {
		cf = append(cf, query.CustomField{ID: f.ID, Name: f.Name, Type: queryType(f.Type)})
	}
	cat, err := query.NewCatalog(cf)
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

// want returns each segment's expected sorted members at now.
func (m *model) want(t testing.TB, now time.Time) map[string][]string {
	cat := m.catalog(t)
	out := map[string][]string{}
	for id, s := range m.segs {
		q, err := query.Parse(s.lang, s.src)
		if err != nil {
			t.Fatalf("%s: %v", s.src, err)
		}
		var members []string
		ch, err := query.Check(q, cat)
		if err == nil {
			p := query.Compile(ch)
			for cid, c := range m.contacts {
				if s.parent != "" && !slices.Contains(c.ListIDs, s.parent) {
					continue
				}
				if p.Match(querytest.Record(c, m.events[cid], cat), now) {
					members = append(members, cid)
				}
			}
		}
		sort.Strings(members)
		out[id] = members
	}
	return out
}

// The generated world: a few fields, lists, values and queries, small enough
// that random sequences hit every combination.

var fieldPool = []segmentd.FieldDefinition{
	{ID: "w1", Name: "color", Type: segmentd.FieldText},
	{ID: "n2", Name: "score", Type: segmentd.FieldNumber},
	{ID: "d3", Name: "birthday", Type: segmentd.FieldDate},
	{ID: "w4", Name: "tier", Type: segmentd.FieldText},
}

var renames = map[string]string{"color": "colour", "colour": "color", "tier": "level", "level": "tier"}

var querySet = []refSegment{
	{query.SGQL, "country = 'US'", ""},
	{query.SGQL, "first_name LIKE 'A%' OR country = 'FR'", ""},
	{query.SGQL, "CONTAINS(list_ids, 'L1')", ""},
	{query.SGQL, "country != 'US'", "L2"},
	{query.SGQL, "color = 'red' AND score > 5", ""},
	{query.SGQL, "colour = 'blue' OR level IS NOT NULL", ""},
	{query.SGQL, "tier IS NULL", "L1"},
	{query.SGQL, "email LIKE '%@gmail.com'", ""},
	{query.SGQL, "CONTAINS(email_domains, 'example.com')", ""},
	{query.SGQL, "created_at > NOW() - INTERVAL 3 day", ""},
	{query.SGQL, "created_at >= NOW() - INTERVAL 3 day AND updated_at <= NOW() - INTERVAL 36 hour", ""},
	{query.SGQL, "birthday + INTERVAL 18 year <= NOW()", ""},
	{query.SGQL, "updated_at > NOW() - interval 1 months", ""},
	{query.SGQL, "(event_type = 'opened' AND event_timestamp > NOW() - INTERVAL 7 day)", ""},
	{query.SGQL, "NOT (event_type = 'click')", ""},
	{query.SGQL, "(event_source = 'mail' AND event_type = 'delivered')", ""},
	{query.SQL, "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.url LIKE '%x.test/a%' AND e.event_type = 'click'", ""},
	{query.SGQL, "(event_type = 'click') AND country = 'US'", "L3"},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'", "L1"},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE array_contains(list_ids, ['L2', 'L3'])", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE score BETWEEN 2 AND 8 OR first_name = 'Bob'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE created_at > timestampadd(hour, -36, current_timestamp)", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE created_at > timestampadd(month, -1, CURRENT_TIMESTAMP)", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE timestampadd(day, 10, birthday) > current_timestamp", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE birthday < timestampadd(year, -18, timestampadd(hour, 30, current_timestamp))", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE created_at >= timestampadd(day, 1, timestampadd(month, -1, timestampadd(year, 1, current_timestamp)))", ""},
	{query.SQL, "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' AND e.event_timestamp > timestampadd(day, -7, current_timestamp)", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id NOT IN (SELECT contact_id FROM event_data WHERE event_type = 'click')", ""},
	{query.SQL, "SELECT c.contact_id, c.updated_at, MAX(e.event_timestamp) AS last_open FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' GROUP BY c.contact_id, c.updated_at HAVING MAX(e.event_timestamp) < timestampadd(day, -2, current_timestamp)", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE current_timestamp > '2026-01-03T00:00:00Z' AND country = 'DE'", ""},
	{query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE lower(color) = 'red' AND birthday < current_timestamp", "L1"},
}

var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func randContact(rng *rand.Rand, id string, now time.Time, fields []segmentd.FieldDefinition) segmentd.Contact {
	pick := func(s ...string) string { return s[rng.IntN(len(s))] }
	c := segmentd.Contact{
		ID:        id,
		Email:     pick("a@gmail.com", "b@example.com", "c@x.org", "", id+"@gmail.com"),
		FirstName: pick("Alice", "Bob", "Anna", ""),
		Country:   pick("US", "FR", "DE", ""),
		City:      pick("Paris", "", "Berlin"),
		CreatedAt: now.Add(-time.Duration(rng.IntN(6*24)) * time.Hour),
	}
	c.UpdatedAt = now
	if c.Email == "" {
		c.ExternalID = "x-" + id
	}
	if rng.IntN(4) == 0 {
		c.AlternateEmails = []string{pick("z@example.com", "y@gmail.com")}
	}
	for _, l := range []string{"L1", "L2", "L3"} {
		if rng.IntN(2) == 0 {
			c.ListIDs = append(c.ListIDs, l)
		}
	}
	c.CustomFields = map[string]segmentd.Value{}
	for _, f := range fields {
		if rng.IntN(3) == 0 {
			continue
		}
		switch f.Type {
		case segmentd.FieldText:
			c.CustomFields[f.ID] = segmentd.Value{Type: f.Type, Text: pick("red", "blue", "")}
		case segmentd.FieldNumber:
			c.CustomFields[f.ID] = segmentd.Value{Type: f.Type, Number: float64(rng.IntN(11))}
		case segmentd.FieldDate:
			// Around "18 years ago" and "10 days ago", so both birthday
			// windows flip while the test's clock moves.
			back := pick("18y", "10d", "0")
			d := now.Add(time.Duration(rng.IntN(96)-48) * time.Hour)
			switch back {
			case "18y":
				d = d.AddDate(-18, 0, 0)
			case "10d":
				d = d.AddDate(0, 0, -10)
			}
			c.CustomFields[f.ID] = segmentd.Value{Type: f.Type, Time: d.Truncate(time.Millisecond)}
		}
	}
	return c
}

func checkAgainst(t *testing.T, e *Engine, acct int64, m *model, now time.Time, step string) {
	t.Helper()
	want := m.want(t, now)
	segsOf := map[string][]string{}
	for id, w := range want {
		got := e.Members(acct, id, -1, now)
		sort.Strings(got)
		if !slices.Equal(got, w) {
			t.Fatalf("%s: segment %s (%q parent %q) at %s:\n got %v\nwant %v", step, id, m.segs[id].src, m.segs[id].parent, now.Format(time.RFC3339), got, w)
		}
		if n := e.Count(acct, id, now); n != len(w) {
			t.Fatalf("%s: Count(%s) = %d, want %d", step, id, n, len(w))
		}
		for _, c := range w {
			segsOf[c] = append(segsOf[c], id)
		}
	}
	for cid := range m.contacts {
		w := segsOf[cid]
		sort.Strings(w)
		if got := e.SegmentsOf(acct, cid, now); !slices.Equal(got, w) {
			t.Fatalf("%s: SegmentsOf(%s) = %v, want %v", step, cid, got, w)
		}
	}
	if st := e.Stats(acct); st.Contacts != len(m.contacts) {
		t.Fatalf("%s: Stats.Contacts = %d, want %d", step, st.Contacts, len(m.contacts))
	}
	checkExplain(t, e, acct, slices.Collect(maps.Keys(m.segs)), slices.Collect(maps.Keys(m.contacts)), now, step)
	for id, q := range m.segs {
		parsed, err := query.Parse(q.lang, q.src)
		if err != nil {
			t.Fatal(err)
		}
		if e.SegmentError(acct, id) == nil {
			checkPreview(t, e, acct, id, parsed, nil, q.parent, now)
		}
	}
}

var propertySeeds = flag.Int("engine.seeds", 12, "random sequences the property test runs")

// propertyRuns returns how many random sequences a property test runs
// (-engine.seeds; 3 with -short) and how many steps each takes.
func propertyRuns() (seeds, steps int) {
	if testing.Short() {
		return 3, 150
	}
	return *propertySeeds, 150
}

// walkIDs returns n contact ids: c00, c01, ….
func walkIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("c%02d", i)
	}
	return ids
}

// stepLog returns the list of a random sequence's steps, logged if t has
// failed when it ends.
func stepLog(t *testing.T) *[]string {
	var history []string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("history:\n%s", history)
		}
	})
	return &history
}

func TestPropertyAgainstEvaluator(t *testing.T) {
	seeds, steps := propertyRuns()
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(seed), 42))
			e := New()
			const acct = 7
			m := newModel()
			now := base
			ids := walkIDs(30)
			history := stepLog(t)
			for step := range steps {
				var what string
				switch op := rng.IntN(100); {
				case op < 35: // upsert a batch
					n := 1 + rng.IntN(5)
					batch := make([]segmentd.Contact, n)
					for i := range batch {
						batch[i] = randContact(rng, ids[rng.IntN(len(ids))], now, m.fields)
					}
					for i := range batch {
						c := batch[i]
						m.contacts[c.ID] = &c
					}
					e.PutContacts(acct, batch, now)
					what = fmt.Sprintf("put %d", n)
				case op < 39: // contacts only join lists (an upsert's Joined)
					join := []string{ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))], "nobody"}
					lists := []string{[]string{"L1", "L2", "L3", "L4"}[rng.IntN(4)], "L3"}
					for _, cid := range join {
						if c, ok := m.contacts[cid]; ok {
							c2 := *c
							c2.ListIDs = slices.Compact(slices.Sorted(slices.Values(append(slices.Clone(c.ListIDs), lists...))))
							m.contacts[cid] = &c2
						}
					}
					e.AddToLists(acct, join, lists, now)
					what = fmt.Sprint("join ", join, " to ", lists)
				case op < 42: // list change only
					cid := ids[rng.IntN(len(ids))]
					c, ok := m.contacts[cid]
					if !ok {
						continue
					}
					c2 := *c
					c2.ListIDs = nil
					for _, l := range []string{"L1", "L2", "L3"} {
						if rng.IntN(2) == 0 {
							c2.ListIDs = append(c2.ListIDs, l)
						}
					}
					m.contacts[cid] = &c2
					e.PutContacts(acct, []segmentd.Contact{c2}, now)
					what = "lists " + cid
				case op < 48:
					del := []string{ids[rng.IntN(len(ids))], ids[rng.IntN(len(ids))], "nobody"}
					for _, id := range del {
						delete(m.contacts, id)
						delete(m.events, id)
					}
					e.DeleteContacts(acct, del, now)
					what = fmt.Sprint("delete ", del)
				case op < 49:
					m.contacts = map[string]*segmentd.Contact{}
					m.events = map[string][]query.Event{}
					e.DeleteAllContacts(acct, now)
					what = "delete all"
				case op < 51:
					e.RemoveList(acct, "L2", now)
					for _, c := range m.contacts {
						c.ListIDs = slices.DeleteFunc(slices.Clone(c.ListIDs), func(s string) bool { return s == "L2" })
					}
					what = "remove list L2"
				case op < 60: // events
					cid := ids[rng.IntN(len(ids))]
					if _, ok := m.contacts[cid]; !ok {
						continue
					}
					typ := []string{"open", "click", "delivered"}[rng.IntN(3)]
					ev := query.Event{Source: "mail", Type: typ, Timestamp: now.Add(-time.Duration(rng.IntN(10*24*60)) * time.Minute).UnixMilli(), URL: "https://x.test/a"}
					m.events[cid] = append(m.events[cid], ev)
					if !e.AddEvents(acct, cid, []query.Event{ev}, now) {
						t.Fatalf("AddEvents(%s) = false", cid)
					}
					what = "event " + typ + " " + cid
				case op < 67: // field definitions: add, remove, rename, reorder
					fs := slices.Clone(m.fields)
					f := fieldPool[rng.IntN(len(fieldPool))]
					i := slices.IndexFunc(fs, func(d segmentd.FieldDefinition) bool { return d.ID == f.ID })
					switch {
					case i < 0:
						fs = append([]segmentd.FieldDefinition{f}, fs...)
						what = "add field " + f.ID
					case rng.IntN(2) == 0:
						fs = slices.Delete(fs, i, i+1)
						for _, c := range m.contacts {
							if _, ok := c.CustomFields[f.ID]; ok {
								cf := cloneValues(c.CustomFields)
								delete(cf, f.ID)
								c.CustomFields = cf
							}
						}
						what = "delete field " + f.ID
					default:
						if nn, ok := renames[fs[i].Name]; ok {
							fs[i].Name = nn
						}
						rng.Shuffle(len(fs), func(i, j int) { fs[i], fs[j] = fs[j], fs[i] })
						what = "rename field " + f.ID + " to " + fs[slices.IndexFunc(fs, func(d segmentd.FieldDefinition) bool { return d.ID == f.ID })].Name
					}
					m.fields = fs
					if err := e.SetFields(acct, append(slices.Clone(segmentd.ReservedFields), fs...), now); err != nil {
						t.Fatal(err)
					}
				case op < 80: // segment create or replace
					sid := fmt.Sprintf("s%d", rng.IntN(8))
					q := querySet[rng.IntN(len(querySet))]
					ch, err := e.Check(acct, q.lang, q.src)
					if err != nil {
						// The query names a field the account lacks now:
						// the API would answer 400 and store nothing.
						what = "rejected " + q.src
						break
					}
					m.segs[sid] = q
					if err := e.PutSegment(acct, sid, ch, q.parent, now); err != nil {
						t.Fatal(err)
					}
					what = "segment " + sid + " = " + q.src
				case op < 82: // several segments at once, as a rebuild loads them
					var defs []SegmentDef
					for k := 0; k < 3; k++ {
						sid := fmt.Sprintf("s%d", rng.IntN(8))
						q := querySet[rng.IntN(len(querySet))]
						ch, err := e.Check(acct, q.lang, q.src)
						if err != nil {
							continue
						}
						m.segs[sid] = q
						defs = append(defs, SegmentDef{ID: sid, Query: ch.Query, ParentListID: q.parent})
						what += sid + " = " + q.src + "; "
					}
					for _, err := range e.PutSegments(acct, defs, now) {
						if err != nil {
							t.Fatal(err)
						}
					}
					what = "segments " + what
				case op < 85:
					sid := fmt.Sprintf("s%d", rng.IntN(8))
					delete(m.segs, sid)
					e.RemoveSegment(acct, sid)
					what = "remove " + sid
				case op < 90: // the clock moves to (around) an instant where a window flips
					var vals []time.Time
					for cid, c := range m.contacts {
						vals = append(vals, c.CreatedAt, c.UpdatedAt)
						if v, ok := c.CustomFields["d3"]; ok {
							vals = append(vals, v.Time)
						}
						for _, ev := range m.events[cid] {
							vals = append(vals, time.UnixMilli(ev.Timestamp).UTC())
						}
					}
					if len(vals) == 0 {
						continue
					}
					v := vals[rng.IntN(len(vals))]
					switch rng.IntN(8) {
					case 7:
						v = v.Add(2 * 24 * time.Hour)
					case 0:
						v = v.Add(3 * 24 * time.Hour)
					case 1:
						v = v.Add(36 * time.Hour)
					case 2:
						v = v.Add(7 * 24 * time.Hour)
					case 3:
						v = v.AddDate(0, 1, 0)
					case 4:
						v = v.AddDate(18, 0, 0)
					case 5:
						v = v.AddDate(18, 0, 0).Add(-30 * time.Hour)
					case 6:
						v = v.Add(-10 * 24 * time.Hour)
					}
					v = v.Add(time.Duration(rng.IntN(3)-1) * time.Millisecond)
					if !v.After(now) {
						continue
					}
					now = v
					what = "clock to " + now.Format(time.RFC3339Nano)
				case op < 97: // the clock moves on
					d := []time.Duration{time.Millisecond, time.Minute, time.Hour, 7 * time.Hour, 26 * time.Hour, 9 * 24 * time.Hour}[rng.IntN(6)]
					now = now.Add(d)
					if rng.IntN(2) == 0 {
						e.Advance(now)
					}
					what = "clock +" + d.String()
				default: // the clock is set back
					now = now.Add(-time.Duration(1+rng.IntN(72)) * time.Hour)
					e.Advance(now)
					what = "clock set back to " + now.Format(time.RFC3339)
				}
				*history = append(*history, what+"\n")
				checkAgainst(t, e, acct, m, now, fmt.Sprintf("step %d (%s)", step, what))
			}
		})
	}
}

func cloneValues(m map[string]segmentd.Value) map[string]segmentd.Value {
	out := make(map[string]segmentd.Value, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func TestMembersFromPages(t *testing.T) {
	e := New()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var cs []segmentd.Contact
	for i := range 25 {
		cs = append(cs, segmentd.Contact{ID: fmt.Sprintf("c%02d", i), Email: fmt.Sprintf("u%02d@example.com", i)})
	}
	e.PutContacts(1, cs, now)
	ch, err := e.Check(1, query.SQL, "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%@example.com'")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.PutSegment(1, "s", ch, "", now); err != nil {
		t.Fatal(err)
	}
	all := e.Members(1, "s", -1, now)
	var paged []string
	for off := 0; ; off += 10 {
		page := e.MembersFrom(1, "s", off, 10, now)
		if len(page) == 0 {
			break
		}
		paged = append(paged, page...)
	}
	if !slices.Equal(all, paged) || len(all) != 25 {
		t.Fatalf("paged %v, want %v", paged, all)
	}
	if got := e.MembersFrom(1, "s", 25, 10, now); got != nil {
		t.Fatalf("past the end: %v", got)
	}
}

// TestAddEventsManyMatchesOneByOne: a batch through AddEventsMany (contacts
// repeated, not in order, one unknown, verdicts applied in chunks) leaves
// every segment as AddEvents called contact by contact does, entries and
// exits included.
//
// Both ways AddEventsMany finds the changed verdicts are checked against
// AddEvents comparing with the members: the members themselves (small
// accounts), and evaluating before and after the events (large ones).
func TestAddEventsManyMatchesOneByOne(t *testing.T) {
	for _, compare := range []bool{false, true} {
		t.Run(fmt.Sprint("compare=", compare), func(t *testing.T) { testAddEventsMany(t, compare) })
	}
}

func testAddEventsMany(t *testing.T, compare bool) {
	queries := append(segmentMix(30), webhookSegments...)
	world := func() *Engine {
		e := buildWorld(t, 2000, true)
		for i, src := range queries {
			if err := e.PutSegment(1, fmt.Sprint("s", i), mustCheck(t, e, 1, query.SQL, src), "", base); err != nil {
				t.Fatal(err)
			}
		}
		return e
	}
	one, many := world(), world()
	if compare {
		many.compareAbove = 0
	}
	rng := rand.New(rand.NewPCG(9, 9))
	types := []string{"open", "click", "delivered", "processed", "bounce"}
	var batch []ContactEvents
	for range 8000 { // more verdicts than maxEventChecks

		id := genContact(rng.IntN(300), base).ID
		if rng.IntN(100) == 0 {
			id = "unknown"
		}
		evs := make([]query.Event, 1+rng.IntN(2))
		for k := range evs {
			evs[k] = query.Event{Source: "mail", Type: types[rng.IntN(len(types))], Timestamp: base.Add(-time.Duration(rng.IntN(60*24)) * time.Hour).UnixMilli(), SinglesendID: "ss7"}
		}
		batch = append(batch, ContactEvents{ContactID: id, Events: evs})
	}
	now := base.Add(time.Minute)
	// A contact's events of one batch apply together: entering and leaving
	// a segment within the batch counts neither.
	var order []string
	byContact := make(map[string][]query.Event)
	for _, ce := range batch {
		if _, ok := byContact[ce.ContactID]; !ok {
			order = append(order, ce.ContactID)
		}
		byContact[ce.ContactID] = append(byContact[ce.ContactID], ce.Events...)
	}
	for _, id := range order {
		one.AddEvents(1, id, byContact[id], now)
	}
	many.AddEventsMany(1, batch, now)
	for i := range queries {
		id := fmt.Sprint("s", i)
		s1, s2 := one.get(1).segs[id], many.get(1).segs[id]
		if !s1.members.Equals(s2.members) || s1.entries != s2.entries || s1.exits != s2.exits {
			t.Errorf("%s (%s): one by one %d members, %d entries, %d exits; AddEventsMany %d, %d, %d",
				id, queries[i], s1.members.GetCardinality(), s1.entries, s1.exits, s2.members.GetCardinality(), s2.entries, s2.exits)
		}
	}
}

// TestEventReaderSkip: skip reads the timestamps next reads, codes of one
// byte or several in between.
func TestEventReaderSkip(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	var b []byte
	var prev int64
	var want []int64
	for range 500 {
		code := func() uint32 { return []uint32{0, 1, 127, 128, 300, 1 << 20}[rng.IntN(6)] }
		ev := event{ts: prev + rng.Int64N(1<<40) - 1<<39, typ: code(), src: code(), ss: code(), auto: code(), camp: code(), u: code()}
		b = appendEvent(b, prev, &ev)
		prev = ev.ts
		want = append(want, ev.ts)
	}
	r, s := eventReader{b: b}, eventReader{b: b}
	var ev event
	for i := 0; r.next(&ev); i++ {
		if !s.skip() || s.ts != ev.ts || s.ts != want[i] {
			t.Fatalf("event %d: skip read %d, next %d, want %d", i, s.ts, ev.ts, want[i])
		}
	}
	if s.skip() || lastTS(b) != prev {
		t.Fatalf("lastTS = %d, want %d", lastTS(b), prev)
	}
}

// TestPreparedEventsPacked: a rebuild's pages through PrepareEvents and
// EndEvents leave every run as AddEventsMany does, each exactly as long
// as it is (packEvents), and a run that grows after the pack moves out
// rather than overwriting the run packed after it. The campaigns, noted
// page by page as PrepareEvents prepares them, are AddEventsMany's too,
// each with its first event's time (pages come in any order of time).
func TestPreparedEventsPacked(t *testing.T) {
	plain, packed := buildWorld(t, 500, false), buildWorld(t, 500, false)
	m := Membership{packed}
	rng := rand.New(rand.NewPCG(5, 5))
	types := []string{"open", "click", "delivered", "processed"}
	camps := []string{"", "ss7", "ss8", "ss9"}
	for range 20 {
		var evs []segmentd.Event
		for range 400 {
			evs = append(evs, segmentd.Event{ContactID: genContact(rng.IntN(500), base).ID, Type: types[rng.IntN(len(types))],
				Timestamp: base.Add(time.Duration(rng.IntN(20_000)) * time.Second), SinglesendID: camps[rng.IntN(len(camps))],
				MarketingCampaignID: camps[rng.IntN(len(camps))] + "m"})
		}
		plain.AddEventsMany(1, contactRuns(evs), base)
		m.PrepareEvents(1, evs)(base)
	}
	m.EndEvents(1)
	pa, pb := plain.get(1), packed.get(1)
	if pb.loading || pa.nEvents != pb.nEvents || len(pa.events) != len(pb.events) {
		t.Fatalf("loading %v, events %d and %d, runs %d and %d", pb.loading, pa.nEvents, pb.nEvents, len(pa.events), len(pb.events))
	}
	if len(pa.camps.first) != 7 || !maps.Equal(pa.camps.first, pb.camps.first) || !slices.Equal(pa.camps.list(), pb.camps.list()) {
		t.Fatalf("campaigns %v, want %v", pb.camps.first, pa.camps.first)
	}
	for i := range pa.events {
		if !bytes.Equal(pa.events[i], pb.events[i]) || cap(pb.events[i]) != len(pb.events[i]) {
			t.Fatalf("contact %d: run %x (cap %d), want %x", i, pb.events[i], cap(pb.events[i]), pa.events[i])
		}
	}
	more := []query.Event{{Source: "mail", Type: "open", Timestamp: base.Add(time.Hour * 24 * 30).UnixMilli()}}
	for _, e := range []*Engine{plain, packed} {
		e.AddEvents(1, genContact(0, base).ID, more, base)
	}
	for i := range pa.events {
		if !bytes.Equal(pa.events[i], pb.events[i]) {
			t.Fatalf("after a later event, contact %d: run %x, want %x", i, pb.events[i], pa.events[i])
		}
	}
}
