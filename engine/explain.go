package engine

import (
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/query"
)

// Explain says why contact contactID is or is not in segment segmentID as
// of now: the segment's query evaluated for that contact clause by clause
// (query.Explain, the evaluator's own code, over the same Record the
// engine's membership reads), whether the engine holds it as a member,
// and its parent list. A Constant Contact segment's clauses carry the
// JSON paths of the criteria they translate.
//
// An unknown segment or contact is a KindNotFound error; a segment whose
// query no longer checks against the account's fields is KindConflict.
func (e *Engine) Explain(acct int64, segmentID, contactID string, now time.Time) (segmentd.Explanation, error) {
	a := e.reader(acct, now)
	if a == nil {
		return segmentd.Explanation{}, segmentd.Errorf(segmentd.KindNotFound, "segment_id", "segment %s does not exist", segmentd.Quote(segmentID))
	}
	defer a.mu.RUnlock()
	s := a.segs[segmentID]
	if s == nil {
		return segmentd.Explanation{}, segmentd.Errorf(segmentd.KindNotFound, "segment_id", "segment %s does not exist", segmentd.Quote(segmentID))
	}
	idx, ok := a.ids.lookup(contactID)
	if !ok {
		return segmentd.Explanation{}, segmentd.Errorf(segmentd.KindNotFound, "contact_id", "contact %s does not exist", segmentd.Quote(contactID))
	}
	if s.prog == nil {
		return segmentd.Explanation{}, segmentd.Errorf(segmentd.KindConflict, "segment_id", "the segment matches nobody: its query no longer checks (%v)", s.err)
	}
	ch, err := query.Check(s.q, a.cat)
	if err != nil {
		return segmentd.Explanation{}, segmentd.Errorf(segmentd.KindConflict, "segment_id", "the segment matches nobody: its query no longer checks (%v)", err)
	}
	var paths map[query.Expr]string
	if s.cc != nil {
		paths = s.cc.Paths(s.q.Stmt)
	}
	sc := a.scanScratch(&s.need)
	r := a.record(idx, sc, &s.need)
	ms := max(now.UnixMilli(), a.now)
	cl := query.Explain(ch, r, unixMilli(ms))
	ex := segmentd.Explanation{
		Member:       s.members.Contains(idx),
		Verdict:      verdict(cl.Verdict),
		ParentListID: s.parent,
		OnParentList: s.parent == "" || a.candidates(s.parent).Contains(idx),
		Tree:         clause(cl, paths),
	}
	return ex, nil
}

func verdict(t query.Truth) segmentd.Verdict {
	switch t {
	case query.True:
		return segmentd.VerdictTrue
	case query.False:
		return segmentd.VerdictFalse
	}
	return segmentd.VerdictUnknown
}

// clause converts an explained clause to the domain's, naming criteria
// paths where paths has them.
func clause(cl *query.Clause, paths map[query.Expr]string) segmentd.Clause {
	out := segmentd.Clause{Op: cl.Op, Text: cl.Text, Verdict: verdict(cl.Verdict), Path: paths[cl.Expr]}
	if paths == nil {
		// Criteria have no text of their own: a position in their
		// translation would point nowhere.
		out.Line, out.Column = cl.Pos.Line, cl.Pos.Col
	}
	for _, v := range cl.Values {
		val := v.Value
		if t, ok := val.(time.Time); ok {
			val = t.Format("2006-01-02T15:04:05.000Z07:00")
		}
		out.Values = append(out.Values, segmentd.LookedAt{Name: v.Name, Value: val})
	}
	if ev := cl.Event; ev != nil {
		out.Event = map[string]any{"event_type": ev.Type, "event_source": ev.Source,
			"event_timestamp": unixMilli(ev.Timestamp).Format("2006-01-02T15:04:05.000Z07:00")}
		for k, v := range map[string]string{"singlesend_id": ev.SinglesendID, "automation_id": ev.AutomationID,
			"marketing_campaign_id": ev.MarketingCampaignID, "url": ev.URL} {
			if v != "" {
				out.Event[k] = v
			}
		}
	}
	for _, k := range cl.Children {
		out.Children = append(out.Children, clause(k, paths))
	}
	return out
}
