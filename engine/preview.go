package engine

import (
	"errors"
	"slices"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/criteria"
	"github.com/segmentd/segmentd/query"
)

// Preview evaluates a query (q, or Constant Contact criteria c when c is
// not nil) over the account's contacts at now, restricted to the members
// of parentListID when it is not "", without keeping anything: the
// number of matches and the ids of the first limit of them, in index
// order (as a segment's sample). The query is checked against the
// account's current fields (criteria translated against its campaigns
// too); the error is *query.Error or *criteria.Error.
//
// Queries with conditions on one reserved text field are evaluated column
// by column (colwise.go); others by one scan of the candidates by the
// compiled program, as a new segment's evaluation is (docs/explain.md has
// the costs).
func (e *Engine) Preview(acct int64, q *query.Query, c *criteria.Criteria, parentListID string, limit int, now time.Time) ([]string, int, error) {
	var campaigns []string
	if c != nil && c.UsesCampaigns() {
		campaigns = e.Campaigns(acct) // taken before the read lock: listing sorts
		campaigns = campaigns[:min(c.LastCampaigns(), len(campaigns))]
	}
	a := e.reader(acct, now)
	if a == nil {
		_, err := checkDef(emptyCatalog(), q, c, campaigns)
		return nil, 0, err
	}
	defer a.mu.RUnlock()
	ch, err := checkDef(a.cat, q, c, campaigns)
	if err != nil {
		return nil, 0, err
	}
	ms := max(now.UnixMilli(), a.now)
	cands := a.candidates(parentListID)
	limit = max(limit, 0)
	var found []uint32
	var count int
	if f, c, ok := a.colwiseScan(ch, cands, ms, limit, &e.memos, &e.bitsets); ok {
		found, count = f, c
	} else {
		n := needOf(ch)
		found = a.scan(query.Compile(ch), &n, cands, ms)
		count = len(found)
		found = found[:min(limit, len(found))]
	}
	ids := make([]string, len(found))
	for i, idx := range found {
		ids[i] = a.ids.str(idx)
	}
	return ids, count, nil
}

// checkDef checks a query, or translates criteria (against campaigns)
// and checks their query, against cat.
func checkDef(cat *query.Catalog, q *query.Query, c *criteria.Criteria, campaigns []string) (*query.Checked, error) {
	if c != nil {
		var err error
		if q, err = c.Query(cat, slices.Clone(campaigns)); err != nil {
			return nil, err
		}
	}
	return query.Check(q, cat)
}

func emptyCatalog() *query.Catalog {
	cat, _ := query.NewCatalog(nil)
	return cat
}

// Preview implements segmentd.Membership. An invalid query fails with a
// *segmentd.QueryError on "query" (with its line and column) or
// "criteria" (with the JSON path).
func (m Membership) Preview(acct int64, l segmentd.QueryLang, src, parentListID string, limit int, now time.Time) ([]string, int, error) {
	var q *query.Query
	var c *criteria.Criteria
	var err error
	if l == segmentd.LangCC {
		c, err = criteria.Parse(src)
	} else {
		q, err = query.Parse(lang(l), src)
	}
	if err != nil {
		return nil, 0, queryError(err)
	}
	ids, n, err := m.Engine.Preview(acct, q, c, parentListID, limit, now)
	if err != nil {
		return nil, 0, queryError(err)
	}
	return ids, n, nil
}

// queryError turns the query and criteria packages' errors into the
// domain's, keeping where they are.
func queryError(err error) error {
	var qe *query.Error
	if errors.As(err, &qe) {
		return &segmentd.QueryError{Field: "query", Line: qe.Pos.Line, Column: qe.Pos.Col, Message: qe.Error()}
	}
	var ce *criteria.Error
	if errors.As(err, &ce) {
		return &segmentd.QueryError{Field: "criteria", Path: ce.Path, Message: ce.Error()}
	}
	return err
}
