package audience_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/criteria"
	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/internal/facetest"
	"github.com/segmentd/segmentd/internal/querytest"
	"github.com/segmentd/segmentd/query"
	"github.com/segmentd/segmentd/sqlite"
	_ "modernc.org/sqlite"
)

// world is a Service over a real SQLite file and the real engine, plus a
// second read-only connection to the file for running generated SQL.
type world struct {
	t       *testing.T
	ctx     context.Context
	svc     *audience.Service
	store   *sqlite.Store
	members engine.Membership
	db      *sql.DB
	clock   *segmentd.DevClock
	acct    int64
	rng     *rand.Rand

	lists    []string
	fields   []segmentd.FieldDefinition
	segments map[string]segmentd.Segment
	// Constant Contact's tags, and its segments by tag (criteria by
	// engine id).
	tags       []string
	ccSegments map[string]string
}

func newWorld(t *testing.T, seed uint64) *world {
	return newWorldWith(t, seed, func(*audience.Config) {})
}

// newWorldWith is newWorld with the Service's configuration adjusted by
// configure.
func newWorldWith(t *testing.T, seed uint64, configure func(*audience.Config)) *world {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "segmentd.db")
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1) // one connection, whose temporary events table (eventsTable) every query sees
	clock := segmentd.NewDevClock()
	clock.Set(time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC))
	m := engine.NewMembership()
	cfg := audience.Config{Segments: st, CCSegments: st, Membership: m}
	configure(&cfg)
	svc := audience.New(st, clock, slog.New(slog.NewTextHandler(io.Discard, nil)), cfg)
	t.Cleanup(func() { svc.Close(); db.Close(); st.Close() })
	acct, err := svc.EnsureDefaultAccount(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return &world{t: t, ctx: ctx, svc: svc, store: st, members: m, db: db, clock: clock, acct: acct.ID,
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), segments: map[string]segmentd.Segment{}, ccSegments: map[string]string{}}
}

func (w *world) pick(options ...string) string { return options[w.rng.IntN(len(options))] }

func (w *world) wait(jobID string) {
	w.t.Helper()
	facetest.WaitJob(w.t, w.svc, w.acct, jobID)
}

func (w *world) field(t segmentd.FieldType) (segmentd.FieldDefinition, bool) {
	for _, f := range w.fields {
		if f.Type == t {
			return f, true
		}
	}
	return segmentd.FieldDefinition{}, false
}

// step performs one random write and returns a description of it.
func (w *world) step() string {
	if w.rng.IntN(8) == 0 {
		return w.tagStep()
	}
	switch n := w.rng.IntN(100); {
	case n < 40:
		var patches []segmentd.ContactPatch
		for i := 0; i < 1+w.rng.IntN(6); i++ {
			p := segmentd.ContactPatch{Email: facetest.Ptr(fmt.Sprintf("p%02d@%s", w.rng.IntN(40), w.pick("gmail.com", "example.org", "yahoo.com")))}
			if w.rng.IntN(3) > 0 {
				p.Country = facetest.Ptr(w.pick("US", "PT", "", "FR"))
			}
			if w.rng.IntN(2) == 0 {
				p.FirstName = facetest.Ptr(w.pick("Ada", "Grace", "", "Alan"))
			}
			if w.rng.IntN(4) == 0 {
				// Fields no query here reads, which a segment's sample
				// (rendered by the engine) shows.
				p.ExternalID = facetest.Ptr(w.pick("x-", "") + *p.Email)
				p.City = facetest.Ptr(w.pick("Lisbon", "Paris", ""))
				p.PhoneNumber = facetest.Ptr(w.pick("+351 555 0100", ""))
				alt := []string{}
				if w.rng.IntN(2) == 0 {
					alt = append(alt, "alt."+*p.Email, "other@example.net")
				}
				p.AlternateEmails = &alt
			}
			if len(w.fields) > 0 && w.rng.IntN(2) == 0 {
				f := w.fields[w.rng.IntN(len(w.fields))]
				p.CustomFields = map[string]*segmentd.Value{}
				switch f.Type {
				case segmentd.FieldText:
					p.CustomFields[f.ID] = &segmentd.Value{Type: f.Type, Text: w.pick("free", "pro", "")}
				case segmentd.FieldNumber:
					p.CustomFields[f.ID] = &segmentd.Value{Type: f.Type, Number: float64(w.rng.IntN(100))}
				case segmentd.FieldDate:
					p.CustomFields[f.ID] = &segmentd.Value{Type: f.Type, Time: w.clock.Now().Add(-time.Duration(w.rng.IntN(20*24)) * time.Hour)}
				}
			}
			patches = append(patches, p)
		}
		var lists []string
		if len(w.lists) > 0 && w.rng.IntN(2) == 0 {
			lists = []string{w.lists[w.rng.IntN(len(w.lists))]}
		}
		id, err := w.svc.UpsertContacts(w.ctx, w.acct, patches, lists)
		if err != nil {
			w.t.Fatal(err)
		}
		w.wait(id)
		return fmt.Sprintf("upsert %d contacts to lists %v", len(patches), lists)
	case n < 47:
		l, err := w.svc.CreateList(w.ctx, w.acct, fmt.Sprintf("list %d", w.rng.Int()))
		if err != nil {
			w.t.Fatal(err)
		}
		w.lists = append(w.lists, l.ID)
		return "create list"
	case n < 52 && len(w.lists) > 0:
		i := w.rng.IntN(len(w.lists))
		withContacts := w.rng.IntN(3) == 0
		job, err := w.svc.DeleteList(w.ctx, w.acct, w.lists[i], withContacts)
		if err != nil {
			w.t.Fatal(err)
		}
		if job != "" {
			w.wait(job)
		}
		// The segments built on the list went with it (docs/decisions.md §13).
		for id, seg := range w.segments {
			if slices.Contains(seg.ParentListIDs, w.lists[i]) {
				if _, err := w.svc.Segment(w.ctx, w.acct, id, false); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
					w.t.Fatalf("segment %s of a deleted list: err = %v, want not found", id, err)
				}
				delete(w.segments, id)
			}
		}
		w.lists = slices.Delete(w.lists, i, i+1)
		return fmt.Sprintf("delete list (contacts too: %v)", withContacts)
	case n < 58:
		cs, err := w.store.ScanContacts(w.ctx, w.acct, "", 1000)
		if err != nil || len(cs) == 0 {
			return "nothing to delete"
		}
		slices.SortFunc(cs, func(a, b segmentd.Contact) int { return strings.Compare(a.Email, b.Email) })
		victim := cs[w.rng.IntN(len(cs))]
		if len(w.lists) > 0 && len(victim.ListIDs) > 0 && w.rng.IntN(2) == 0 {
			job, err := w.svc.RemoveListContacts(w.ctx, w.acct, victim.ListIDs[0], []string{victim.ID})
			if err != nil {
				w.t.Fatal(err)
			}
			w.wait(job)
			return "remove a contact from a list"
		}
		job, err := w.svc.DeleteContacts(w.ctx, w.acct, []string{victim.ID}, false)
		if err != nil {
			w.t.Fatal(err)
		}
		w.wait(job)
		return "delete a contact"
	case n < 64:
		t := []segmentd.FieldType{segmentd.FieldText, segmentd.FieldNumber, segmentd.FieldDate}[w.rng.IntN(3)]
		if _, ok := w.field(t); ok && w.rng.IntN(2) == 0 {
			f, _ := w.field(t)
			if err := w.svc.DeleteField(w.ctx, w.acct, f.ID); err != nil {
				w.t.Fatal(err)
			}
			w.fields = slices.DeleteFunc(w.fields, func(x segmentd.FieldDefinition) bool { return x.ID == f.ID })
			return "delete field " + f.Name
		}
		if _, ok := w.field(t); ok {
			return "field exists"
		}
		name := map[segmentd.FieldType]string{segmentd.FieldText: "plan", segmentd.FieldNumber: "score", segmentd.FieldDate: "signup"}[t]
		f, err := w.svc.CreateField(w.ctx, w.acct, name, t)
		if err != nil {
			w.t.Fatal(err)
		}
		w.fields = append(w.fields, f)
		return "create field " + name
	case n < 82:
		q, version := w.randomQuery()
		var parents []string
		if len(w.lists) > 0 && w.rng.IntN(3) == 0 {
			parents = []string{w.lists[w.rng.IntN(len(w.lists))]}
		}
		if len(w.segments) > 0 && w.rng.IntN(3) == 0 {
			for id, seg := range w.segments {
				if seg.QueryVersion != version {
					continue
				}
				v, err := w.svc.UpdateSegment(w.ctx, w.acct, id, nil, &q)
				if segmentd.ErrorKindOf(err) == segmentd.KindInvalid {
					return "update rejected: " + err.Error()
				}
				if err != nil {
					w.t.Fatal(err)
				}
				w.segments[id] = v.Segment
				return "update segment to " + q
			}
		}
		v, err := w.svc.CreateSegment(w.ctx, w.acct, fmt.Sprintf("segment %d", w.rng.Int()), q, version, parents)
		if segmentd.ErrorKindOf(err) == segmentd.KindInvalid {
			return "create rejected: " + err.Error()
		}
		if err != nil {
			w.t.Fatal(err)
		}
		w.segments[v.ID] = v.Segment
		return "create segment " + q
	case n < 88 && len(w.segments) > 0:
		for id := range w.segments {
			if err := w.svc.DeleteSegment(w.ctx, w.acct, id); err != nil {
				w.t.Fatal(err)
			}
			delete(w.segments, id)
			break
		}
		return "delete segment"
	default:
		d := time.Duration(w.rng.IntN(72)) * time.Hour
		w.clock.Advance(d)
		return fmt.Sprintf("clock +%s", d)
	}
}

// tagStep writes Constant Contact tags: a new tag with a segment by it,
// contacts tagged or untagged, or a tag deleted.
func (w *world) tagStep() string {
	if len(w.tags) < 2 || w.rng.IntN(6) == 0 {
		tag, err := w.svc.CreateTag(w.ctx, w.acct, fmt.Sprintf("tag %d", w.rng.Int()), "")
		if err != nil {
			w.t.Fatal(err)
		}
		w.tags = append(w.tags, tag.ID)
		op := w.pick("contains-any", "contains-none")
		crit := fmt.Sprintf(`{"version":"1.0.0","criteria":{"type":"or","group":[{"source":"tags","field":"tag_id","op":%q,"const_value":%q}]}}`, op, tag.ID)
		seg, err := w.svc.CreateCCSegment(w.ctx, w.acct, "by "+tag.ID, crit)
		if err != nil {
			w.t.Fatal(err)
		}
		w.ccSegments[seg.EngineID()] = crit
		return "create tag and segment " + op
	}
	tag := w.tags[w.rng.IntN(len(w.tags))]
	cs, err := w.store.ScanContacts(w.ctx, w.acct, "", 1000)
	if err != nil {
		w.t.Fatal(err)
	}
	// Contact ids are random, so the store's order is not the seed's:
	// picking by email keeps a seed's run the same from one run to the next.
	slices.SortFunc(cs, func(a, b segmentd.Contact) int { return strings.Compare(a.Email, b.Email) })
	var ids []string
	for _, c := range cs {
		if w.rng.IntN(3) == 0 {
			ids = append(ids, c.ID)
		}
	}
	if len(ids) == 0 && len(cs) > 0 {
		ids = append(ids, cs[w.rng.IntN(len(cs))].ID)
	}
	switch w.rng.IntN(5) {
	case 0:
		if _, err := w.svc.DeleteTag(w.ctx, w.acct, tag); err != nil {
			w.t.Fatal(err)
		}
		w.tags = slices.DeleteFunc(w.tags, func(t string) bool { return t == tag })
		return "delete tag"
	case 1, 2:
		n, err := w.svc.UntagContacts(w.ctx, w.acct, []string{tag}, ids)
		if err != nil {
			w.t.Fatal(err)
		}
		return fmt.Sprintf("untag %d contacts", n)
	}
	n, err := w.svc.TagContacts(w.ctx, w.acct, []string{tag}, ids)
	if err != nil {
		w.t.Fatal(err)
	}
	return fmt.Sprintf("tag %d contacts", n)
}

// randomQuery returns a query over the current fields and lists, in 2.0 SQL
// (version "2") or SGQL (version "").
func (w *world) randomQuery() (string, string) {
	var preds []string
	preds = append(preds, "country = 'US'", "country != 'US'", "email LIKE '%@gmail.com'", "first_name IS NULL",
		"country IN ('US', 'PT') AND first_name = 'Ada'", "created_at > timestampadd(day, -2, current_timestamp)")
	if len(w.lists) > 0 {
		preds = append(preds, fmt.Sprintf("array_contains(list_ids, ['%s'])", w.lists[w.rng.IntN(len(w.lists))]))
	}
	if f, ok := w.field(segmentd.FieldNumber); ok {
		preds = append(preds, f.Name+" > 50", f.Name+" < 20 OR first_name = 'Grace'")
	}
	if f, ok := w.field(segmentd.FieldText); ok {
		preds = append(preds, f.Name+" = 'pro'", "NOT ("+f.Name+" = 'free')")
	}
	if f, ok := w.field(segmentd.FieldDate); ok {
		preds = append(preds, f.Name+" > timestampadd(day, -7, current_timestamp)")
	}
	if w.rng.IntN(4) == 0 {
		sgql := []string{"country = 'US'", "email LIKE '%@gmail.com'", "updated_at > NOW() - INTERVAL 1 DAY", "country NOT IN ('US')"}
		if len(w.lists) > 0 {
			sgql = append(sgql, fmt.Sprintf("CONTAINS(list_ids, '%s')", w.lists[w.rng.IntN(len(w.lists))]))
		}
		return sgql[w.rng.IntN(len(sgql))], ""
	}
	p := preds[w.rng.IntN(len(preds))]
	if w.rng.IntN(3) == 0 {
		p += " OR " + preds[w.rng.IntN(len(preds))]
	}
	return "SELECT contact_id, updated_at FROM contact_data WHERE " + p, "2"
}

// eventsByContact reads every stored event of the world's account in the
// evaluator's form, by contact.
func (w *world) eventsByContact() map[string][]query.Event {
	out := map[string][]query.Event{}
	for after := int64(0); ; {
		evs, last, err := w.store.ScanEvents(w.ctx, w.acct, after, 1000)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, e := range evs {
			if e.ContactID != "" {
				out[e.ContactID] = append(out[e.ContactID], query.Event{Source: e.Source, Type: query.NormalizeEventType(e.Type),
					Timestamp: e.Timestamp.UnixMilli(), SinglesendID: e.SinglesendID, AutomationID: e.AutomationID,
					MarketingCampaignID: e.MarketingCampaignID, URL: e.URL})
			}
		}
		if len(evs) < 1000 {
			return out
		}
		after = last
	}
}

// eventsTable fills a temporary table events with every stored event, as
// the store's view of that name gives them, on w.db's connection; the
// generated SQL reads it instead of the view, which shows only the events
// kept as rows (the store writes the others into blocks: docs/events.md
// "Packed event blocks").
func (w *world) eventsTable() {
	w.t.Helper()
	_, err := w.db.Exec(`DROP TABLE IF EXISTS temp.events; CREATE TEMP TABLE events (account_id INTEGER, seq INTEGER, contact_id TEXT,
		email TEXT, event_source TEXT, event_type TEXT, event_timestamp INTEGER, singlesend_id TEXT, automation_id TEXT,
		marketing_campaign_id TEXT, url TEXT)`)
	if err != nil {
		w.t.Fatal(err)
	}
	null := func(s string) any {
		if s == "" {
			return nil
		}
		return s
	}
	seq := 0
	for after := int64(0); ; {
		evs, last, err := w.store.ScanEvents(w.ctx, w.acct, after, 1000)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, e := range evs {
			seq++
			_, err := w.db.Exec("INSERT INTO temp.events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", w.acct, seq, null(e.ContactID), e.Email,
				e.Source, e.Type, e.Timestamp.UnixMilli(), null(e.SinglesendID), null(e.AutomationID), null(e.MarketingCampaignID), null(e.URL))
			if err != nil {
				w.t.Fatal(err)
			}
		}
		if len(evs) < 1000 {
			return
		}
		after = last
	}
}

// verify checks every live segment three ways: the engine's members, the Go
// evaluator over every stored contact, and the generated SQL on the store.
func (w *world) verify(what string) {
	w.t.Helper()
	w.eventsTable()
	now := w.clock.Now()
	defs, err := w.store.FieldDefinitions(w.ctx, w.acct)
	if err != nil {
		w.t.Fatal(err)
	}
	custom := make([]query.CustomField, len(defs))
	for i, d := range defs {
		t := map[segmentd.FieldType]query.FieldType{segmentd.FieldText: query.Text, segmentd.FieldNumber: query.Number, segmentd.FieldDate: query.Date}[d.Type]
		custom[i] = query.CustomField{ID: d.ID, Name: d.Name, Type: t}
	}
	cat, err := query.NewCatalog(custom)
	if err != nil {
		w.t.Fatal(err)
	}
	contacts, err := w.store.ScanContacts(w.ctx, w.acct, "", 100000)
	if err != nil {
		w.t.Fatal(err)
	}
	events := w.eventsByContact()
	segsOf := map[string][]string{}
	for id, seg := range w.segments {
		lang := query.SQL
		if seg.QueryVersion == "" {
			lang = query.SGQL
		}
		var want []string
		q, err := query.Parse(lang, seg.QueryDSL)
		if err != nil {
			w.t.Fatalf("after %s: stored query %q does not parse: %v", what, seg.QueryDSL, err)
		}
		ch, checkErr := query.Check(q, cat)
		parent := ""
		if len(seg.ParentListIDs) > 0 {
			parent = seg.ParentListIDs[0]
		}
		if checkErr == nil {
			prog := query.Compile(ch)
			for _, c := range contacts {
				if parent != "" && !slices.Contains(c.ListIDs, parent) {
					continue
				}
				r := querytest.Record(&c, events[c.ID], cat)
				if prog.Match(r, now) {
					want = append(want, c.ID)
				}
			}
		}
		got := w.members.Members(w.acct, id, -1, now)
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			w.t.Fatalf("after %s: segment %q (parent %q): engine has %d members %v, evaluator %d %v", what, seg.QueryDSL, parent, len(got), got, len(want), want)
		}
		if n := w.members.Count(w.acct, id, now); n != len(want) {
			w.t.Fatalf("after %s: segment %q: Count = %d, want %d", what, seg.QueryDSL, n, len(want))
		}
		v, err := w.svc.Segment(w.ctx, w.acct, id, true)
		if err != nil || v.ContactsCount != len(want) || len(v.Sample) != min(len(want), segmentd.SegmentSampleSize) {
			w.t.Fatalf("after %s: Service.Segment = count %d sample %d, %v; want %d", what, v.ContactsCount, len(v.Sample), err, len(want))
		}
		if checkErr == nil {
			stmt := query.GenerateSQL(ch, query.SQLite(), query.SQLOptions{AccountID: w.acct, Now: now, ParentListID: parent})
			rows, err := w.db.Query(stmt.SQL, stmt.Args...)
			if err != nil {
				w.t.Fatalf("after %s: SQL for %q: %v\n%s", what, seg.QueryDSL, err, stmt.SQL)
			}
			var fromSQL []string
			for rows.Next() {
				var cid string
				if err := rows.Scan(&cid); err != nil {
					w.t.Fatal(err)
				}
				fromSQL = append(fromSQL, cid)
			}
			rows.Close()
			slices.Sort(fromSQL)
			if !slices.Equal(fromSQL, want) {
				w.t.Fatalf("after %s: segment %q: SQL on the store returns %v, evaluator %v", what, seg.QueryDSL, fromSQL, want)
			}
		}
		for _, cid := range want {
			segsOf[cid] = append(segsOf[cid], id)
		}
	}
	// Constant Contact's segments by tag, the same three ways.
	for id, crit := range w.ccSegments {
		c, err := criteria.Parse(crit)
		if err != nil {
			w.t.Fatal(err)
		}
		q, err := c.Query(cat, nil)
		if err != nil {
			w.t.Fatal(err)
		}
		ch, err := query.Check(q, cat)
		if err != nil {
			w.t.Fatal(err)
		}
		prog := query.Compile(ch)
		var want []string
		for _, c := range contacts {
			if prog.Match(querytest.Record(&c, events[c.ID], cat), now) {
				want = append(want, c.ID)
			}
		}
		got := w.members.Members(w.acct, id, -1, now)
		slices.Sort(got)
		if !slices.Equal(got, want) {
			w.t.Fatalf("after %s: segment %s: engine has %v, evaluator %v", what, crit, got, want)
		}
		stmt := query.GenerateSQL(ch, query.SQLite(), query.SQLOptions{AccountID: w.acct, Now: now})
		fromSQL, err := queryIDs(w.db, stmt)
		if err != nil {
			w.t.Fatalf("after %s: SQL for %s: %v\n%s", what, crit, err, stmt.SQL)
		}
		if !slices.Equal(fromSQL, want) {
			w.t.Fatalf("after %s: segment %s: SQL on the store returns %v, evaluator %v", what, crit, fromSQL, want)
		}
	}
	for _, c := range contacts {
		want := segsOf[c.ID]
		slices.Sort(want)
		got, err := w.svc.Contact(w.ctx, w.acct, c.ID)
		if err != nil {
			w.t.Fatal(err)
		}
		if !slices.Equal(got.SegmentIDs, want) && !(len(got.SegmentIDs) == 0 && len(want) == 0) {
			w.t.Fatalf("after %s: contact %s segment_ids = %v, want %v", what, c.Email, got.SegmentIDs, want)
		}
	}
	// The engine renders every contact as the store holds it (a segment's
	// sample is read from the engine), with its segment_ids.
	w.verifyEngineContacts(what, contacts, defs, segsOf)
	// A batch of contacts gets its segment_ids in one engine call.
	sample, _, err := w.svc.SampleContacts(w.ctx, w.acct)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, c := range sample {
		want := segsOf[c.ID]
		slices.Sort(want)
		if !slices.Equal(c.SegmentIDs, want) && !(len(c.SegmentIDs) == 0 && len(want) == 0) {
			w.t.Fatalf("after %s: sampled contact %s segment_ids = %v, want %v", what, c.Email, c.SegmentIDs, want)
		}
	}
	w.verifyCounts(what)
}

// verifyEngineContacts checks that the engine's rendering of each stored
// contact equals the store's, but for values of fields the account no
// longer has (which the engine does not hold and no face renders), and
// that segment samples are those contacts.
func (w *world) verifyEngineContacts(what string, stored []segmentd.Contact, defs []segmentd.FieldDefinition, segsOf map[string][]string) {
	w.t.Helper()
	ids := make([]string, 0, len(stored)+1)
	for _, c := range stored {
		ids = append(ids, c.ID)
	}
	ids = append(ids, segmentd.NewID()) // unknown: left out
	got := w.members.ContactsByIDs(w.acct, ids, w.clock.Now())
	if len(got) != len(stored) {
		w.t.Fatalf("after %s: engine ContactsByIDs returned %d contacts, the store holds %d", what, len(got), len(stored))
	}
	defined := map[string]bool{}
	for _, d := range defs {
		defined[d.ID] = true
	}
	for i, want := range stored {
		for id := range want.CustomFields {
			if !defined[id] {
				delete(want.CustomFields, id)
			}
		}
		if len(want.CustomFields) == 0 {
			want.CustomFields = nil
		}
		want.SegmentIDs = slices.Sorted(slices.Values(segsOf[want.ID]))
		// The engine's ids include Constant Contact's segments, which the
		// Service leaves out of SendGrid's segment_ids.
		got[i].SegmentIDs = slices.DeleteFunc(got[i].SegmentIDs, func(id string) bool { return strings.HasPrefix(id, segmentd.CCEnginePrefix) })
		if len(got[i].SegmentIDs) == 0 {
			got[i].SegmentIDs = nil
		}
		if !reflect.DeepEqual(got[i], want) {
			w.t.Fatalf("after %s: the engine renders contact\n%+v\nthe store holds\n%+v", what, got[i], want)
		}
	}
	for id := range w.segments {
		v, err := w.svc.Segment(w.ctx, w.acct, id, true)
		if err != nil {
			w.t.Fatal(err)
		}
		var sampled []string
		for _, c := range v.Sample {
			sampled = append(sampled, c.ID)
		}
		if want := w.members.Members(w.acct, id, segmentd.SegmentSampleSize, w.clock.Now()); !slices.Equal(sampled, want) {
			w.t.Fatalf("after %s: segment sample %v, want the engine's first members %v", what, sampled, want)
		}
	}
}

// verifyCounts checks the counts the Service answers from the engine
// against the store's own COUNTs: the account's contacts, and every list's
// (through each of the reads that carry a list count).
func (w *world) verifyCounts(what string) {
	w.t.Helper()
	want, err := w.store.CountContacts(w.ctx, w.acct)
	if err != nil {
		w.t.Fatal(err)
	}
	if got, err := w.svc.CountContacts(w.ctx, w.acct); err != nil || got != want {
		w.t.Fatalf("after %s: CountContacts = %d, %v; the store counts %d", what, got, err, want)
	}
	if _, got, err := w.svc.SampleContacts(w.ctx, w.acct); err != nil || got != want {
		w.t.Fatalf("after %s: SampleContacts count = %d, %v; the store counts %d", what, got, err, want)
	}
	page, err := w.svc.Lists(w.ctx, w.acct, "", segmentd.MaxListPageSize)
	if err != nil {
		w.t.Fatal(err)
	}
	for _, l := range page.Lists {
		want, err := w.store.CountListMembers(w.ctx, w.acct, l.ID)
		if err != nil {
			w.t.Fatal(err)
		}
		got, err := w.svc.ListContactCount(w.ctx, w.acct, l.ID)
		one, _, err2 := w.svc.List(w.ctx, w.acct, l.ID, false)
		if err != nil || err2 != nil || l.ContactCount != want || got != want || one.ContactCount != want {
			w.t.Fatalf("after %s: list %s counts: Lists %d, ListContactCount %d (%v), List %d (%v); the store counts %d",
				what, l.Name, l.ContactCount, got, err, one.ContactCount, err2, want)
		}
	}
}

// queryIDs runs a generated statement and returns the contact ids it
// selects, sorted.
func queryIDs(db *sql.DB, stmt query.Statement) ([]string, error) {
	rows, err := db.Query(stmt.SQL, stmt.Args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return out, rows.Err()
}

// TestMembershipProperty runs random sequences of contact, list, field and
// segment writes and clock moves; after every step each segment's members
// are the same in the engine, in the Go evaluator over all stored contacts,
// and in the generated SQL run on the store.
func TestMembershipProperty(t *testing.T) {
	seeds := []uint64{1, 2, 3}
	steps := 120
	if testing.Short() {
		seeds, steps = seeds[:1], 40
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			w := newWorld(t, seed)
			var history []string
			for i := 0; i < steps; i++ {
				what := w.step()
				history = append(history, what)
				w.verify(fmt.Sprintf("step %d (%s); history:\n  %s", i, what, strings.Join(history, "\n  ")))
			}
			if len(w.segments) == 0 || len(w.ccSegments) == 0 {
				t.Fatal("the sequence created no segment of a kind: the generator is broken")
			}
			if !slices.ContainsFunc(history, func(h string) bool { return strings.HasPrefix(h, "tag ") && h != "tag 0 contacts" }) {
				t.Fatal("the sequence tagged no contact: the generator is broken")
			}
		})
	}
}

// TestUpsertManyChangedKeepsLists: an upsert changing the fields of more
// stored contacts than the SQLite store reads the lists of
// (UpsertResult.ListsAdded) leaves the engine's lists equal to the
// store's: each contact keeps the lists it was on and joins the
// request's.
func TestUpsertManyChangedKeepsLists(t *testing.T) {
	w := newWorld(t, 1)
	for i := range 3 {
		l, err := w.svc.CreateList(w.ctx, w.acct, fmt.Sprintf("list %d", i))
		if err != nil {
			t.Fatal(err)
		}
		w.lists = append(w.lists, l.ID)
	}
	const n = 100
	upsert := func(patches []segmentd.ContactPatch, list string) {
		t.Helper()
		id, err := w.svc.UpsertContacts(w.ctx, w.acct, patches, []string{list})
		if err != nil {
			t.Fatal(err)
		}
		w.wait(id)
	}
	patches := make([]segmentd.ContactPatch, n)
	for i := range patches {
		patches[i] = segmentd.ContactPatch{Email: facetest.Ptr(fmt.Sprintf("c%03d@example.com", i))}
	}
	upsert(patches, w.lists[0])
	upsert(patches[:n/2], w.lists[1])
	changed := make([]segmentd.ContactPatch, n)
	for i := range changed {
		changed[i] = segmentd.ContactPatch{Email: patches[i].Email, FirstName: facetest.Ptr(fmt.Sprint("F", i))}
	}
	upsert(changed, w.lists[2])
	w.verify("an upsert changing 100 stored contacts")
	if got := w.members.ListCount(w.acct, w.lists[1]); got != n/2 {
		t.Fatalf("engine's count of list 1 = %d, want %d", got, n/2)
	}
}
