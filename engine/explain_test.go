package engine

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/criteria"
	"github.com/segmentd/segmentd/internal/querycorpus"
	"github.com/segmentd/segmentd/query"
)

// checkExplain checks, for every segment and contact, that Explain agrees
// with the engine's membership: the contact is a member exactly when the
// query's top clause is true and it is on the parent list (if any).
func checkExplain(t *testing.T, e *Engine, acct int64, segIDs, contactIDs []string, now time.Time, step string) {
	t.Helper()
	for _, sid := range segIDs {
		if e.SegmentError(acct, sid) != nil {
			continue
		}
		for _, cid := range contactIDs {
			ex, err := e.Explain(acct, sid, cid, now)
			if err != nil {
				t.Fatalf("%s: Explain(%s, %s): %v", step, sid, cid, err)
			}
			member := slices.Contains(e.SegmentsOf(acct, cid, now), sid)
			if ex.Member != member || member != (ex.Verdict == segmentd.VerdictTrue && ex.OnParentList) {
				t.Fatalf("%s: Explain(%s, %s): member %v, verdict %s, on parent %v; the engine says member %v\n%+v",
					step, sid, cid, ex.Member, ex.Verdict, ex.OnParentList, member, ex.Tree)
			}
			if strings.HasPrefix(sid, segmentd.CCEnginePrefix) && !strings.HasPrefix(ex.Tree.Path, "criteria") {
				t.Fatalf("%s: Explain(%s, %s): the top clause's path is %q, want criteria or its only condition", step, sid, cid, ex.Tree.Path)
			}
			if ex.Tree.Verdict != ex.Verdict || ex.Tree.Text == "" {
				t.Fatalf("%s: Explain(%s, %s): tree %+v", step, sid, cid, ex.Tree)
			}
		}
	}
}

// Every valid corpus query, as a segment over random contacts with
// events: Explain's verdict is the engine's membership.
func TestExplainCorpus(t *testing.T) {
	e := New()
	const acct = 3
	cat := querycorpus.Catalog(t, query.NewCatalog, query.Text, query.Number, query.Date)
	var fields []segmentd.FieldDefinition
	for _, f := range cat.CustomFields() {
		typ := map[query.FieldType]segmentd.FieldType{query.Text: segmentd.FieldText, query.Number: segmentd.FieldNumber, query.Date: segmentd.FieldDate}[f.Type]
		fields = append(fields, segmentd.FieldDefinition{ID: f.ID, Name: f.Name, Type: typ})
	}
	now := querycorpus.Now
	if err := e.SetFields(acct, fields, now); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 17))
	ids := walkIDs(60)
	var cs []segmentd.Contact
	for _, id := range ids {
		cs = append(cs, randContact(rng, id, now, fields))
	}
	e.PutContacts(acct, cs, now)
	types := []string{"open", "click", "delivered", "bounce"}
	for _, id := range ids {
		var evs []query.Event
		for range rng.IntN(6) {
			evs = append(evs, query.Event{Source: "mail", Type: types[rng.IntN(len(types))],
				Timestamp:    now.Add(-time.Duration(rng.IntN(90*24)) * time.Hour).UnixMilli(),
				SinglesendID: fmt.Sprint("ss", rng.IntN(3)), MarketingCampaignID: fmt.Sprint("mc", rng.IntN(2))})
		}
		e.AddEvents(acct, id, evs, now)
	}
	var segIDs []string
	members := 0
	for i, q := range querycorpus.Read(t, "../query/testdata", query.SGQL, query.SQL) {
		if !q.Valid {
			continue
		}
		ch, err := e.Check(acct, q.Lang, q.Src)
		if err != nil {
			t.Fatalf("%s:%d: %v", q.File, q.Line, err)
		}
		sid := fmt.Sprint("q", i)
		parent := ""
		if i%3 == 0 {
			parent = "L2"
		}
		if err := e.PutSegment(acct, sid, ch, parent, now); err != nil {
			t.Fatal(err)
		}
		members += e.Count(acct, sid, now)
		segIDs = append(segIDs, sid)
		checkPreview(t, e, acct, sid, ch.Query, nil, parent, now)
	}
	if len(segIDs) < 100 || members == 0 {
		t.Fatalf("%d segments, %d members in all", len(segIDs), members)
	}
	checkExplain(t, e, acct, segIDs, ids, now, "corpus")
	checkExplain(t, e, acct, segIDs, ids, now.Add(40*24*time.Hour), "corpus, 40 days on")
}

func TestExplainErrors(t *testing.T) {
	e := New()
	if _, err := e.Explain(1, "s", "c", base); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("unknown account: %v", err)
	}
	e.PutContacts(1, []segmentd.Contact{{ID: "c1", Email: "a@example.com", CreatedAt: base, UpdatedAt: base}}, base)
	if err := e.SetFields(1, []segmentd.FieldDefinition{{ID: "w1", Name: "color", Type: segmentd.FieldText}}, base); err != nil {
		t.Fatal(err)
	}
	if err := e.PutSegment(1, "s", mustCheck(t, e, 1, query.SGQL, "color = 'red'"), "", base); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		seg, contact string
		kind         segmentd.ErrorKind
	}{{"nope", "c1", segmentd.KindNotFound}, {"s", "nope", segmentd.KindNotFound}} {
		if _, err := e.Explain(1, tc.seg, tc.contact, base); segmentd.ErrorKindOf(err) != tc.kind {
			t.Errorf("Explain(%s, %s): %v, want kind %v", tc.seg, tc.contact, err, tc.kind)
		}
	}
	_ = e.SetFields(1, nil, base)
	if e.SegmentError(1, "s") == nil {
		t.Fatal("deleting the field the segment reads left it working")
	}
	if _, err := e.Explain(1, "s", "c1", base); segmentd.ErrorKindOf(err) != segmentd.KindConflict {
		t.Fatalf("broken segment: %v", err)
	}
}

// checkPreview checks that previewing a segment's query (or criteria)
// selects exactly its members, in the same order.
func checkPreview(t *testing.T, e *Engine, acct int64, sid string, q *query.Query, c *criteria.Criteria, parent string, now time.Time) {
	t.Helper()
	want := e.Members(acct, sid, -1, now)
	ids, n, err := e.Preview(acct, q, c, parent, len(want)+1, now)
	if err != nil {
		t.Fatalf("Preview(%s): %v", sid, err)
	}
	if n != len(want) || !slices.Equal(ids, want) {
		t.Fatalf("Preview(%s) = %d %v, want the members %d %v", sid, n, ids, len(want), want)
	}
	if ids, n2, _ := e.Preview(acct, q, c, parent, 2, now); n2 != n || len(ids) != min(2, n) {
		t.Fatalf("Preview(%s) with a sample of 2: %d %v", sid, n2, ids)
	}
}
