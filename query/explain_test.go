package query_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd/internal/querycorpus"
	"github.com/segmentd/segmentd/internal/querydiff"
	"github.com/segmentd/segmentd/query"
)

// Explain agrees with the evaluator: over every valid corpus query and
// generated contacts, the top clause is true exactly when Program.Match
// is, and every AND, OR and NOT clause's verdict is what SQL's
// three-valued logic makes of its children's.
func TestExplainAgreesWithMatch(t *testing.T) {
	cat := querydiff.Catalog(t)
	recs := querydiff.Contacts(200, 17)
	n, trues := 0, 0
	for _, e := range querycorpus.Read(t, "testdata", query.SGQL, query.SQL) {
		if !e.Valid {
			continue
		}
		q, err := query.Parse(e.Lang, e.Src)
		if err != nil {
			t.Fatalf("%s:%d: %v", e.File, e.Line, err)
		}
		ch, err := query.Check(q, cat)
		if err != nil {
			t.Fatalf("%s:%d: %v", e.File, e.Line, err)
		}
		prog := query.Compile(ch)
		for _, r := range recs {
			cl := query.Explain(ch, r, querydiff.Now)
			if m := prog.Match(r, querydiff.Now); (cl.Verdict == query.True) != m {
				t.Fatalf("%s:%d: %s\ncontact %s: explain says %v, Match %v", e.File, e.Line, e.Src, r.ID, cl.Verdict, m)
			}
			if cl.Verdict == query.True {
				trues++
			}
			consistent(t, e.Src, cl)
			n++
		}
	}
	if n < 10000 || trues == 0 || trues == n {
		t.Fatalf("%d explanations, %d true: too few to mean anything", n, trues)
	}
}

// consistent checks that every logical clause of cl combines its
// children as SQL does.
func consistent(t *testing.T, src string, cl *query.Clause) {
	t.Helper()
	if cl.Text == "" {
		t.Fatalf("%s: a clause without text: %+v", src, cl)
	}
	for _, k := range cl.Children {
		consistent(t, src, k)
	}
	var want query.Truth
	switch cl.Op {
	case "":
		return
	case "NOT":
		want = map[query.Truth]query.Truth{query.True: query.False, query.False: query.True, query.Unknown: query.Unknown}[cl.Children[0].Verdict]
	case "AND", "OR":
		dominant, other := query.False, query.True
		if cl.Op == "OR" {
			dominant, other = query.True, query.False
		}
		want = other
		for _, k := range cl.Children {
			switch k.Verdict {
			case dominant:
				want = dominant
			case query.Unknown:
				if want != dominant {
					want = query.Unknown
				}
			}
		}
		if len(cl.Children) < 2 {
			t.Fatalf("%s: %s with %d operands", src, cl.Op, len(cl.Children))
		}
	}
	if cl.Verdict != want {
		t.Fatalf("%s: %s clause %q is %v, its children make %v", src, cl.Op, cl.Text, cl.Verdict, want)
	}
}

// An explanation names the clauses as written, where they are, with the
// values each read; a condition on events names the event that holds it.
func TestExplainShape(t *testing.T) {
	cat := querydiff.Catalog(t)
	now := time.Date(2024, 6, 15, 12, 0, 0, 0, time.UTC)
	r := &query.Record{ID: "c1", ListIDs: []string{"L1"},
		Events: []query.Event{{Type: "open", Timestamp: now.Add(-time.Hour).UnixMilli(), SinglesendID: "ss1"}}}
	r.Text[query.FieldFirstName] = "Ann"
	src := "SELECT contact_id, updated_at FROM contact_data WHERE (first_name = 'Ann' OR last_name = 'Lee')\n" +
		"  AND NOT array_contains(list_ids, ['L2'])\n" +
		"  AND contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND singlesend_id = 'ss1')"
	q, err := query.Parse(query.SQL, src)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := query.Check(q, cat)
	if err != nil {
		t.Fatal(err)
	}
	cl := query.Explain(ch, r, now)
	var b strings.Builder
	var dump func(cl *query.Clause, depth int)
	dump = func(cl *query.Clause, depth int) {
		b.WriteString(strings.Repeat("  ", depth) + cl.Pos.String() + " " + cl.Op + " " + cl.Verdict.String() + " " + cl.Text)
		for _, v := range cl.Values {
			b.WriteString(" [" + v.Name + "=" + strings.ReplaceAll(strings.TrimSpace(strings.ReplaceAll(fmtValue(v.Value), "\n", " ")), "  ", " ") + "]")
		}
		if cl.Event != nil {
			b.WriteString(" event:" + cl.Event.Type)
		}
		b.WriteString("\n")
		for _, k := range cl.Children {
			dump(k, depth+1)
		}
	}
	dump(cl, 0)
	want := `1:55 AND true (first_name = 'Ann' OR last_name = 'Lee') AND NOT array_contains(list_ids, ['L2']) AND contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND singlesend_id = 'ss1')
  1:55 OR true (first_name = 'Ann' OR last_name = 'Lee')
    1:56  true first_name = 'Ann' [first_name=Ann]
    1:78  unknown last_name = 'Lee' [last_name=<nil>]
  2:7 NOT true NOT array_contains(list_ids, ['L2'])
    2:11  false array_contains(list_ids, ['L2']) [list_ids=[L1]]
  3:7  true contact_id IN (SELECT contact_id FROM event_data WHERE event_type = 'open' AND singlesend_id = 'ss1') [events=1] event:open
    3:62 AND true event_type = 'open' AND singlesend_id = 'ss1'
      3:62  true event_type = 'open' [event_type=open]
      3:86  true singlesend_id = 'ss1' [singlesend_id=ss1]
`
	if b.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func fmtValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "<nil>"
	case string:
		return v
	case []string:
		return "[" + strings.Join(v, " ") + "]"
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	}
	return "?"
}
