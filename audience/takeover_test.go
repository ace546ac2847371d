package audience

import (
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// TestStandbyKeepsPairs checks what a server that does not deliver keeps
// per segment and contact (the membership before the first change, the
// last transition), and that past its bound it keeps nothing and says so.
func TestStandbyKeepsPairs(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tr := func(seg, contact string, in bool, min int) segmentd.Transition {
		return segmentd.Transition{AccountID: 1, SegmentID: seg, ContactID: contact, Entered: in, At: at.Add(time.Duration(min) * time.Minute), Cause: segmentd.CauseContact}
	}
	sb := &standby{limit: 3}
	sb.begin(map[int64]int64{1: 7})
	if !sb.wants(1) || !sb.wants(2) {
		t.Fatal("a buffering standby does not want every account's transitions")
	}
	sb.sink(1, []segmentd.Transition{tr("s", "a", true, 1), tr("s", "a", false, 2), tr("s", "b", false, 3)})
	sb.sink(1, []segmentd.Transition{tr("s", "a", true, 4), tr("t", "a", true, 5)})
	got := sb.pending[1]
	if len(got) != 3 || sb.n != 3 {
		t.Fatalf("kept %d pairs (counted %d), want 3", len(got), sb.n)
	}
	for k, want := range map[pairKey]struct {
		before bool
		last   int
	}{{"s", "a"}: {false, 4}, {"s", "b"}: {true, 3}, {"t", "a"}: {false, 5}} {
		p := got[k]
		if p == nil || p.before != want.before || !p.last.At.Equal(at.Add(time.Duration(want.last)*time.Minute)) {
			t.Errorf("pair %v: %+v, want before %v and the transition of minute %d", k, p, want.before, want.last)
		}
	}
	// A fourth pair passes the bound: nothing is kept any more.
	sb.sink(1, []segmentd.Transition{tr("t", "b", true, 6)})
	if !sb.overflow || sb.pending != nil || sb.n != 0 {
		t.Fatalf("past the bound: overflow %v, %d accounts kept, %d pairs", sb.overflow, len(sb.pending), sb.n)
	}
	sb.sink(1, []segmentd.Transition{tr("t", "c", true, 7)})
	if sb.pending != nil {
		t.Fatal("a standby past its bound kept a pair again")
	}
	if !strings.Contains(errStandbyLost.Error(), "1000000 segment and contact pairs") {
		t.Fatalf("the error does not name the bound: %v", errStandbyLost)
	}
}

// TestTakeoverSettle checks the transitions a takeover stores: one per
// segment and contact whose receivers were told otherwise than the
// engine's membership, of live segments only, in time order.
func TestTakeoverSettle(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	now := at.Add(time.Hour)
	tr := func(seg, contact string, in bool, min int) segmentd.Transition {
		return segmentd.Transition{AccountID: 1, SegmentID: seg, ContactID: contact, Email: contact + "@example.com",
			Entered: in, At: at.Add(time.Duration(min) * time.Minute), Cause: segmentd.CauseContact}
	}
	stored := func(seg, contact string, in bool, min int) *segmentd.Transition {
		x := tr(seg, contact, in, min)
		return &x
	}
	v := &takeoverView{
		last: map[pairKey]*segmentd.Transition{
			{"s", "a"}: stored("s", "a", true, 1),  // stored, and the engine agrees (a later note)
			{"s", "b"}: stored("s", "b", true, 2),  // stored, then left without being stored
			{"s", "c"}: stored("s", "c", true, 3),  // stored; the engine saw the contact only as it is now
			{"s", "d"}: stored("s", "d", true, 30), // stored after the note's time
		},
		live:     map[string]*segmentd.Segment{"s": {ID: "s", UpdatedAt: at}},
		member:   map[pairKey]bool{{"s", "c"}: false},
		contacts: map[string]*segmentd.Contact{"c": {ID: "c", Email: "c2@example.com", UpdatedAt: at.Add(10 * time.Minute)}},
	}
	pending := map[pairKey]*pendingPair{
		{"s", "a"}:    {before: false, last: tr("s", "a", true, 1)},
		{"s", "b"}:    {before: false, last: tr("s", "b", false, 5)},
		{"s", "d"}:    {before: true, last: tr("s", "d", false, 20)},
		{"s", "e"}:    {before: false, last: tr("s", "e", true, 6)},    // never stored: entered
		{"s", "f"}:    {before: true, last: tr("s", "f", true, 7)},     // left and entered again, none stored
		{"gone", "a"}: {before: false, last: tr("gone", "a", true, 8)}, // a deleted segment
	}
	var got []string
	for _, x := range v.settle(1, pending, now) {
		got = append(got, x.SegmentID+" "+x.ContactID+" "+x.Email+" "+map[bool]string{true: "in", false: "out"}[x.Entered]+" "+x.At.Format("15:04")+" "+string(x.Cause))
	}
	// c's exit has the one rule's cause (remadeCause): its contact was
	// written after its stored entry.
	want := []string{"s b b@example.com out 00:05 contact", "s e e@example.com in 00:06 contact", "s d d@example.com out 00:30 contact", "s c c2@example.com out 01:00 contact"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("settled\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestTakeoverSettleCause checks that a pair the engine did not change
// since the mark gets the cause the one rule gives (remadeCause), as at a
// start without marks: a contact gone or written after the stored
// transition, else the segment's change after it, else the clock.
func TestTakeoverSettleCause(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	stored := func(contact string) *segmentd.Transition {
		return &segmentd.Transition{AccountID: 1, SegmentID: "s", ContactID: contact, Entered: true, At: at, Cause: segmentd.CauseContact}
	}
	for _, c := range []struct {
		name    string
		contact *segmentd.Contact
		segAt   time.Time
		want    segmentd.TransitionCause
	}{
		{"gone", nil, at.Add(-time.Hour), segmentd.CauseContact},
		{"written", &segmentd.Contact{ID: "x", UpdatedAt: at.Add(time.Minute)}, at.Add(-time.Hour), segmentd.CauseContact},
		{"redefined", &segmentd.Contact{ID: "x", UpdatedAt: at.Add(-time.Minute)}, at.Add(time.Minute), segmentd.CauseDefinition},
		{"clock", &segmentd.Contact{ID: "x", UpdatedAt: at.Add(-time.Minute)}, at.Add(-time.Hour), segmentd.CauseClock},
	} {
		v := &takeoverView{last: map[pairKey]*segmentd.Transition{{"s", "x"}: stored("x")},
			live: map[string]*segmentd.Segment{"s": {ID: "s", UpdatedAt: c.segAt}}, member: map[pairKey]bool{}, contacts: map[string]*segmentd.Contact{}}
		if c.contact != nil {
			v.contacts["x"] = c.contact
		}
		out := v.settle(1, nil, at.Add(time.Hour))
		if len(out) != 1 || out[0].Entered || out[0].Cause != c.want {
			t.Errorf("%s: settled %+v, want one exit caused by %s", c.name, out, c.want)
		}
		// The same rule at a start without marks.
		if got := remadeCause(c.contact, v.live["s"], at); got != c.want {
			t.Errorf("%s: remadeCause = %s, want %s", c.name, got, c.want)
		}
	}
}
