package engine

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/query"
)

func mustCheck(t testing.TB, e *Engine, acct int64, lang query.Lang, src string) *query.Checked {
	t.Helper()
	ch, err := e.Check(acct, lang, src)
	if err != nil {
		t.Fatalf("%s: %v", src, err)
	}
	return ch
}

// A contact leaves "opened in the last 7 days" exactly when its last open
// becomes 7 days old, with no write in between, in both dialects.
func TestTimeWindowBoundary(t *testing.T) {
	queries := []struct {
		lang query.Lang
		src  string
	}{
		{query.SGQL, "(event_type = 'open' AND event_timestamp > NOW() - INTERVAL 7 day)"},
		{query.SQL, "SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' AND e.event_timestamp > timestampadd(day, -7, current_timestamp)"},
	}
	for _, q := range queries {
		t.Run(q.lang.String(), func(t *testing.T) {
			e := New()
			now := base
			e.PutContacts(1, []segmentd.Contact{{ID: "a", Email: "a@x.test"}, {ID: "b", Email: "b@x.test"}}, now)
			if err := e.PutSegment(1, "seg", mustCheck(t, e, 1, q.lang, q.src), "", now); err != nil {
				t.Fatal(err)
			}
			open := base.Add(time.Hour)
			e.AddEvents(1, "a", []query.Event{{Source: "mail", Type: "open", Timestamp: open.UnixMilli()}}, open)
			e.AddEvents(1, "b", []query.Event{{Source: "mail", Type: "click", Timestamp: open.UnixMilli()}}, open)
			leave := open.Add(7 * 24 * time.Hour) // ts > now-7d stops holding at now = ts+7d
			for _, tt := range []struct {
				at   time.Time
				want []string
			}{
				{open, []string{"a"}},
				{leave.Add(-time.Millisecond), []string{"a"}},
				{leave, nil},
				{leave.Add(time.Hour), nil},
			} {
				got := e.Members(1, "seg", -1, tt.at)
				if !slices.Equal(got, tt.want) {
					t.Errorf("at open+%v: members %v, want %v", tt.at.Sub(open), got, tt.want)
				}
				if got := e.SegmentsOf(1, "a", tt.at); len(got) != len(tt.want) {
					t.Errorf("at open+%v: SegmentsOf(a) = %v", tt.at.Sub(open), got)
				}
			}
			// Setting the clock back brings the contact back.
			e.Advance(leave.Add(-time.Millisecond))
			if got := e.Count(1, "seg", leave.Add(-time.Millisecond)); got != 1 {
				t.Errorf("after setting the clock back: count %d, want 1", got)
			}
			// A fresh open re-enters it until that one is 7 days old.
			again := leave.Add(24 * time.Hour)
			e.AddEvents(1, "a", []query.Event{{Source: "mail", Type: "open", Timestamp: again.UnixMilli()}}, again)
			if got := e.Count(1, "seg", again.Add(7*24*time.Hour-time.Millisecond)); got != 1 {
				t.Errorf("after a new open: count %d, want 1", got)
			}
			if got := e.Count(1, "seg", again.Add(7*24*time.Hour)); got != 0 {
				t.Errorf("7 days after the new open: count %d, want 0", got)
			}
		})
	}
}

// Calendar months are not a fixed shift (AddDate(Jan 31, 1 month) = Mar 3):
// step the clock a millisecond at a time around every flip and compare with
// the evaluator.
func TestTimeWindowMonths(t *testing.T) {
	e := New()
	start := time.Date(2026, 1, 25, 0, 0, 0, 0, time.UTC)
	var cs []segmentd.Contact
	for d := 0; d < 10; d++ {
		for _, h := range []int{0, 13} {
			at := start.Add(time.Duration(d*24+h) * time.Hour)
			cs = append(cs, segmentd.Contact{ID: at.Format("0102T15"), Email: "x@x.test", CreatedAt: at, UpdatedAt: at})
		}
	}
	e.PutContacts(1, cs, start)
	srcs := []string{
		"SELECT contact_id, updated_at FROM contact_data WHERE created_at > timestampadd(month, -1, current_timestamp)",
		"SELECT contact_id, updated_at FROM contact_data WHERE created_at <= timestampadd(month, -1, timestampadd(hour, 5, current_timestamp))",
		"SELECT contact_id, updated_at FROM contact_data WHERE timestampadd(month, 1, created_at) < current_timestamp",
		// Two calendar steps: not schedulable, re-evaluated as the clock moves.
		"SELECT contact_id, updated_at FROM contact_data WHERE created_at >= timestampadd(month, 1, timestampadd(year, -1, current_timestamp))",
	}
	m := newModel()
	for i, src := range srcs {
		id := string(rune('a' + i))
		e.PutSegment(1, id, mustCheck(t, e, 1, query.SQL, src), "", start)
		m.segs[id] = refSegment{query.SQL, src, ""}
	}
	for i := range cs {
		m.contacts[cs[i].ID] = &cs[i]
	}
	// Probe every hour for 45 days, plus both sides of every hour mark.
	for now := start; now.Before(start.AddDate(0, 1, 20)); now = now.Add(time.Hour) {
		for _, at := range []time.Time{now.Add(-time.Millisecond), now} {
			checkAgainst(t, e, 1, m, at, "months")
		}
	}
	// Between probes the wakes must have fired exactly at the flips, not
	// only when a read forced a rescan: Stats shows no rescan segments.
	for _, s := range e.Stats(1).Segments {
		if !s.TimeDependent || s.Rescan != (s.ID == "d") {
			t.Errorf("segment %s: time-dependent %v, rescan %v", s.ID, s.TimeDependent, s.Rescan)
		}
	}
}

// Accounts never see each other's contacts, fields or segments.
func TestAccountIsolation(t *testing.T) {
	e := New()
	now := base
	fields := []segmentd.FieldDefinition{{ID: "w1", Name: "color", Type: segmentd.FieldText}}
	if err := e.SetFields(1, fields, now); err != nil {
		t.Fatal(err)
	}
	e.PutContacts(1, []segmentd.Contact{{ID: "a", Email: "a@x.test", Country: "US", ListIDs: []string{"L"},
		CustomFields: map[string]segmentd.Value{"w1": {Type: segmentd.FieldText, Text: "red"}}}}, now)
	e.PutContacts(2, []segmentd.Contact{{ID: "b", Email: "b@x.test", Country: "US"}}, now)

	if err := e.PutSegment(1, "s", mustCheck(t, e, 1, query.SGQL, "country = 'US'"), "", now); err != nil {
		t.Fatal(err)
	}
	if err := e.PutSegment(2, "s", mustCheck(t, e, 2, query.SGQL, "country = 'US'"), "", now); err != nil {
		t.Fatal(err)
	}
	if got := e.Members(1, "s", -1, now); !slices.Equal(got, []string{"a"}) {
		t.Errorf("account 1: %v", got)
	}
	if got := e.Members(2, "s", -1, now); !slices.Equal(got, []string{"b"}) {
		t.Errorf("account 2: %v", got)
	}
	// Account 2 has no field "color".
	if _, err := e.Check(2, query.SGQL, "color = 'red'"); err == nil {
		t.Error("account 2 resolved account 1's custom field")
	}
	if got := e.SegmentsOf(2, "a", now); got != nil {
		t.Errorf("account 2 sees account 1's contact in %v", got)
	}
	ids, n, err := e.Search(2, mustCheck(t, e, 2, query.SGQL, "email LIKE '%'"), 10, now)
	if err != nil || n != 1 || !slices.Equal(ids, []string{"b"}) {
		t.Errorf("search in account 2: %v %d %v", ids, n, err)
	}
	e.DeleteAllContacts(2, now)
	if got := e.Count(1, "s", now); got != 1 {
		t.Errorf("deleting account 2's contacts changed account 1: count %d", got)
	}
	if got := e.Count(3, "s", now); got != 0 {
		t.Errorf("unknown account: count %d", got)
	}
}

// A segment whose field is deleted matches nobody and says why; when the
// field comes back under its name the segment comes back too.
func TestSegmentErrorOnFieldDelete(t *testing.T) {
	e := New()
	now := base
	fields := []segmentd.FieldDefinition{{ID: "n1", Name: "score", Type: segmentd.FieldNumber}}
	e.SetFields(1, fields, now)
	e.PutContacts(1, []segmentd.Contact{{ID: "a", Email: "a@x.test",
		CustomFields: map[string]segmentd.Value{"n1": {Type: segmentd.FieldNumber, Number: 9}}}}, now)
	e.PutSegment(1, "s", mustCheck(t, e, 1, query.SGQL, "score > 5"), "", now)
	if e.Count(1, "s", now) != 1 || e.SegmentError(1, "s") != nil {
		t.Fatal("segment should hold a")
	}
	e.SetFields(1, nil, now)
	if e.Count(1, "s", now) != 0 || e.SegmentError(1, "s") == nil {
		t.Fatalf("after deleting the field: count %d, err %v", e.Count(1, "s", now), e.SegmentError(1, "s"))
	}
	// A new field with the same name has no values: still nobody, but fine.
	e.SetFields(1, []segmentd.FieldDefinition{{ID: "n2", Name: "score", Type: segmentd.FieldNumber}}, now)
	if e.Count(1, "s", now) != 0 || e.SegmentError(1, "s") != nil {
		t.Fatalf("after re-creating the field: count %d, err %v", e.Count(1, "s", now), e.SegmentError(1, "s"))
	}
}

// Readers run in parallel with a writer (run with -race).
func TestConcurrentReadersAndWriter(t *testing.T) {
	e := New()
	now := base
	e.PutSegment(1, "s", mustCheck(t, e, 1, query.SGQL, "created_at > NOW() - INTERVAL 1 hour"), "", now)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				at := now.Add(time.Duration(i) * time.Minute)
				e.Count(1, "s", at)
				e.Members(1, "s", 5, at)
				e.SegmentsOf(1, "c1", at)
				e.Stats(1)
			}
		}()
	}
	for i := 0; i < 300; i++ {
		at := now.Add(time.Duration(i) * time.Second)
		e.PutContacts(1, []segmentd.Contact{{ID: "c" + string(rune('0'+i%10)), Email: "x@y.test", CreatedAt: at}}, at)
		if i%50 == 0 {
			e.Advance(at)
		}
	}
	close(stop)
	wg.Wait()
}

// Non-strict comparisons flip one millisecond after the boundary: a contact
// read exactly at the boundary is still in, and leaves a millisecond later.
func TestTimeWindowInclusiveBoundary(t *testing.T) {
	for _, src := range []string{
		"created_at >= NOW() - INTERVAL 3 day",
		"NOT (created_at < NOW() - INTERVAL 3 day)",
	} {
		e := New()
		created := base
		e.PutContacts(1, []segmentd.Contact{{ID: "a", Email: "a@x.test", CreatedAt: created}}, created)
		e.PutSegment(1, "s", mustCheck(t, e, 1, query.SGQL, src), "", created)
		edge := created.Add(3 * 24 * time.Hour)
		for _, tt := range []struct {
			at   time.Time
			want int
		}{{edge.Add(-time.Millisecond), 1}, {edge, 1}, {edge.Add(time.Millisecond), 0}, {edge.Add(time.Hour), 0}} {
			if got := e.Count(1, "s", tt.at); got != tt.want {
				t.Errorf("%s at boundary%+v: count %d, want %d", src, tt.at.Sub(edge), got, tt.want)
			}
		}
	}
}
