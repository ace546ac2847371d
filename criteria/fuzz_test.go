package criteria

import (
	"errors"
	"testing"
	"time"

	"github.com/segmentd/segmentd/query"
)

// FuzzParse: Parse never panics and fails only with an *Error; accepted
// criteria translate into a statement the query checker accepts against a
// catalogue, and that evaluates without panicking.
func FuzzParse(f *testing.F) {
	for _, file := range []string{"valid.txt", "invalid.txt"} {
		for _, src := range readCases(f, file) {
			f.Add(src)
		}
	}
	cat := testCatalog(f)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := &query.Record{ID: "c1", Custom: make([]query.Value, 4), Events: []query.Event{
		{Source: "mail", Type: "open", Timestamp: now.Add(-time.Hour).UnixMilli(), SinglesendID: "c7"},
		{Source: "mail", Type: "processed", Timestamp: now.Add(-48 * time.Hour).UnixMilli(), MarketingCampaignID: "c2"},
	}}
	r.Text[query.FieldStateProvinceRegion] = "MD"
	f.Fuzz(func(t *testing.T, src string) {
		c, err := Parse(src)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("error of type %T: %v", err, err)
			}
			return
		}
		stmt, err := c.Select(cat, testCampaigns)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) || ce.Path == "" {
				t.Fatalf("Select: error %T without a path: %v", err, err)
			}
			return
		}
		ch, err := query.Check(&query.Query{Lang: query.SQL, Stmt: stmt, Tags: true}, cat)
		if err != nil {
			t.Fatalf("accepted criteria do not check: %v\n%s", err, src)
		}
		query.Compile(ch).Match(r, now)
	})
}
