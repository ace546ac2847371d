package query

import (
	"math/rand/v2"
	"testing"
)

// TestInputs checks, for every valid corpus query, that a Record holding
// only what Inputs names gives the same result as the full Record.
func TestInputs(t *testing.T) {
	cat := corpusCatalog(t)
	rng := rand.New(rand.NewPCG(3, 4))
	now := corpusNow.UnixMilli()
	day := int64(86400000)
	pick := func(vs ...string) string { return vs[rng.IntN(len(vs))] }
	var recs []*Record
	for i := range 300 {
		r := &Record{ID: pick("a", "b", "c"), CreatedAt: now - rng.Int64N(90)*day, UpdatedAt: now - rng.Int64N(9)*day}
		for f := range r.Text {
			r.Text[f] = pick("", "US", "Ann", "ann@gmail.com", "x")
		}
		r.ListIDs = []string{pick("L1", "L2")}
		r.AlternateEmails = []string{pick("c@work.com", "d@gmail.com")}
		r.EmailDomains = EmailDomains(r.Text[FieldEmail], r.AlternateEmails)
		r.Custom = []Value{TextValue(pick("", "Annie", "pro")), NumberValue(float64(rng.IntN(60))), DateValue(now - rng.Int64N(20000)*day),
			NumberValue(float64(rng.IntN(9))), TextValue(pick("", "pro")), TextValue(pick("", "home"))}
		for range rng.IntN(6) {
			r.Events = append(r.Events, Event{Source: pick("mail", ""), Type: pick("open", "click", "delivered", "bounce"),
				Timestamp: now - rng.Int64N(60)*day, SinglesendID: pick("", "ss1"), AutomationID: pick("", "a1"),
				MarketingCampaignID: pick("", "mc1"), URL: pick("", "https://x.test/a")})
		}
		if i%7 == 0 {
			r.Custom = r.Custom[:i%4]
		}
		recs = append(recs, r)
	}
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
		in := ch.Inputs()
		p := Compile(ch)
		for _, r := range recs {
			s := &Record{}
			if in.ID {
				s.ID = r.ID
			}
			for f := range r.Text {
				if in.Text&(1<<f) != 0 {
					s.Text[f] = r.Text[f]
				}
			}
			if in.CreatedAt {
				s.CreatedAt = r.CreatedAt
			}
			if in.UpdatedAt {
				s.UpdatedAt = r.UpdatedAt
			}
			if in.ListIDs {
				s.ListIDs = r.ListIDs
			}
			if in.AlternateEmails {
				s.AlternateEmails = r.AlternateEmails
			}
			if in.EmailDomains {
				s.EmailDomains = r.EmailDomains
			}
			s.Custom = make([]Value, len(r.Custom))
			for _, slot := range in.Custom {
				if slot < len(r.Custom) {
					s.Custom[slot] = r.Custom[slot]
				}
			}
			if in.Events {
				for _, ev := range r.Events {
					x := Event{Timestamp: ev.Timestamp}
					if in.EventColumns&EventSource != 0 {
						x.Source = ev.Source
					}
					if in.EventColumns&EventType != 0 {
						x.Type = ev.Type
					}
					if in.EventColumns&EventSinglesendID != 0 {
						x.SinglesendID = ev.SinglesendID
					}
					if in.EventColumns&EventAutomationID != 0 {
						x.AutomationID = ev.AutomationID
					}
					if in.EventColumns&EventCampaignID != 0 {
						x.MarketingCampaignID = ev.MarketingCampaignID
					}
					if in.EventColumns&EventURL != 0 {
						x.URL = ev.URL
					}
					s.Events = append(s.Events, x)
				}
			}
			if got, want := p.Match(s, corpusNow), p.Match(r, corpusNow); got != want {
				t.Fatalf("%s:%d %s: inputs %+v: restricted record gives %v, full %v", e.File, e.Line, e.Src, in, got, want)
			}
		}
	}
}
