package query

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// TestEventTypes checks EventTypes against the evaluator: for every valid
// corpus query, a contact's result is the same with and without its events
// of the types EventTypes leaves out.
func TestEventTypes(t *testing.T) {
	cat := corpusCatalog(t)
	rng := rand.New(rand.NewPCG(5, 6))
	now := corpusNow.UnixMilli()
	day := int64(86400000)
	pick := func(vs ...string) string { return vs[rng.IntN(len(vs))] }
	var recs []*Record
	for range 300 {
		r := &Record{ID: pick("a", "b"), CreatedAt: now - rng.Int64N(90)*day, UpdatedAt: now - rng.Int64N(9)*day}
		for f := range r.Text {
			r.Text[f] = pick("", "US", "ann@gmail.com")
		}
		for range rng.IntN(8) {
			r.Events = append(r.Events, Event{Source: "mail", Type: pick("open", "click", "delivered", "bounce", "processed", "unsubscribe"),
				Timestamp: now - rng.Int64N(60)*day, SinglesendID: pick("", "ss1"), AutomationID: pick("", "a1"),
				MarketingCampaignID: pick("", "mc1"), URL: pick("", "https://x.test/a")})
		}
		recs = append(recs, r)
	}
	restricted := 0
	for _, e := range readCorpus(t) {
		if !e.Valid {
			continue
		}
		q, err := Parse(e.Lang, e.Src)
		if err != nil {
			continue
		}
		ch, err := Check(q, cat)
		if err != nil {
			continue
		}
		types, all := ch.EventTypes()
		if all {
			continue
		}
		if len(types) > 0 {
			restricted++
		}
		if !ch.Inputs().Events && len(types) > 0 {
			t.Errorf("%s:%d %s: reads no events but EventTypes = %q", e.File, e.Line, e.Src, types)
		}
		p := Compile(ch)
		for _, r := range recs {
			s := *r
			s.Events = slices.DeleteFunc(slices.Clone(r.Events), func(ev Event) bool { return !slices.Contains(types, ev.Type) })
			if got, want := p.Match(&s, corpusNow), p.Match(r, corpusNow); got != want {
				t.Fatalf("%s:%d %s: EventTypes %q: without the other events %v, with them %v", e.File, e.Line, e.Src, types, got, want)
			}
		}
	}
	if restricted < 10 {
		t.Errorf("only %d corpus queries read events of known types; the test checks little", restricted)
	}
	t.Logf("%d corpus queries read events of known types only", restricted)
}

func TestEventTypesShapes(t *testing.T) {
	cat := corpusCatalog(t)
	for _, tc := range []struct {
		lang  Lang
		src   string
		types []string
		all   bool
	}{
		{SQL, "SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'", nil, false},
		{SQL, "SELECT c.contact_id, c.updated_at FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' AND e.event_timestamp > timestampadd(day, -30, current_timestamp)", []string{"open"}, false},
		{SQL, "SELECT contact_id, updated_at FROM contact_data WHERE contact_id NOT IN (SELECT contact_id FROM event_data WHERE event_type = 'click')", []string{"click"}, false},
		{SQL, "SELECT c.contact_id, c.updated_at FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' OR c.country = 'US'", nil, true},
		{SQL, "SELECT c.contact_id, c.updated_at FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.event_type != 'open'", nil, true},
	} {
		q, err := Parse(tc.lang, tc.src)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := Check(q, cat)
		if err != nil {
			t.Fatal(err)
		}
		if types, all := ch.EventTypes(); !slices.Equal(types, tc.types) || all != tc.all {
			t.Errorf("%s: EventTypes = %q, %v; want %q, %v", tc.src, types, all, tc.types, tc.all)
		}
	}
}
