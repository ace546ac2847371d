package storetest

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// The membership history's contract (docs/history.md), run by RunHooks:
// transitions numbered once for the outbox and the history, a segment's
// counts by interval, its transitions in a range by pages, a contact's
// next transition after a time, every contact's first one after a time,
// the transitions after a number and the last number, pruning in bounded
// batches, accounts kept apart, a reset.

func historyTransition(seg, contact string, entered bool, at time.Time, cause segmentd.TransitionCause) segmentd.Transition {
	t := transition(seg, contact, entered, at)
	t.Cause = cause
	return t
}

func testHistory(t *testing.T, st HooksStore) {
	a, b := newAccount(t, st, "a"), newAccount(t, st, "b")
	at := func(m int) time.Time { return nowMS.Add(time.Duration(m) * time.Minute) }
	ts := []segmentd.Transition{
		historyTransition("s1", "c2", true, at(0), segmentd.CauseDefinition),
		historyTransition("s1", "c1", true, at(0), segmentd.CauseDefinition),
		historyTransition("cc:7", "c1", true, at(1), segmentd.CauseContact),
		historyTransition("s1", "c1", false, at(70), segmentd.CauseEvent),
		historyTransition("s1", "c3", true, at(75), segmentd.CauseContact),
		historyTransition("s1", "c1", true, at(130), segmentd.CauseClock),
	}
	// Only the second and fourth go to the outbox; all six are numbered and kept.
	if err := st.AppendTransitions(ctx(t), a, ts, []bool{false, true, false, true, false, false}, true); err != nil {
		t.Fatal(err)
	}
	for i, tr := range ts {
		if tr.Seq != int64(i+1) {
			t.Fatalf("transition %d numbered %d", i, tr.Seq)
		}
	}
	out := must[[]segmentd.Transition](t, "Transitions")(st.Transitions(ctx(t), a, 0, 0, 10))
	if len(out) != 2 || out[0].Seq != 2 || out[1].Seq != 4 {
		t.Fatalf("the outbox holds %+v, want numbers 2 and 4", out)
	}
	if err := st.AppendTransitions(ctx(t), b, []segmentd.Transition{historyTransition("s1", "c1", true, at(0), segmentd.CauseContact)}, nil, true); err != nil {
		t.Fatal(err)
	}

	counts := must[[]segmentd.HistoryCount](t, "HistoryCounts")(st.HistoryCounts(ctx(t), a, "s1", at(-1), time.Hour))
	want := []segmentd.HistoryCount{{Bucket: 0, Entered: 2}, {Bucket: 1, Entered: 1, Exited: 1}, {Bucket: 2, Entered: 1}}
	if !reflect.DeepEqual(counts, want) {
		t.Fatalf("HistoryCounts\n%+v, want\n%+v", counts, want)
	}
	// "After" is strict: the two entries at at(0) are not after at(0).
	counts = must[[]segmentd.HistoryCount](t, "HistoryCounts")(st.HistoryCounts(ctx(t), a, "s1", at(0), 24*time.Hour))
	if want := []segmentd.HistoryCount{{Bucket: 0, Entered: 2, Exited: 1}}; !reflect.DeepEqual(counts, want) {
		t.Fatalf("HistoryCounts after at(0) by day\n%+v, want\n%+v", counts, want)
	}
	if got := must[[]segmentd.HistoryCount](t, "HistoryCounts")(st.HistoryCounts(ctx(t), a, "nope", at(-1), time.Hour)); len(got) != 0 {
		t.Fatalf("HistoryCounts of a segment without history: %+v", got)
	}

	// Transitions in [at(0), at(130)) by pages of 2, in time then number order.
	var got []segmentd.Transition
	var cur segmentd.HistoryCursor
	for range 5 {
		page := must[[]segmentd.Transition](t, "HistoryTransitions")(st.HistoryTransitions(ctx(t), a, "s1", at(0), at(130), cur, 2))
		got = append(got, page...)
		if len(page) < 2 {
			break
		}
		cur = segmentd.HistoryCursor{At: page[len(page)-1].At, Seq: page[len(page)-1].Seq}
	}
	wantTs := []segmentd.Transition{ts[0], ts[1], ts[3], ts[4]}
	if !reflect.DeepEqual(got, wantTs) {
		t.Fatalf("HistoryTransitions\n%+v, want\n%+v", got, wantTs)
	}
	if got := must[[]segmentd.Transition](t, "HistoryTransitions(b)")(st.HistoryTransitions(ctx(t), b, "s1", at(-10), at(500), segmentd.HistoryCursor{}, 10)); len(got) != 1 || got[0].AccountID != b {
		t.Fatalf("account b's history: %+v", got)
	}

	next, ok, err := st.HistoryNextOf(ctx(t), a, "s1", "c1", at(0))
	if err != nil || !ok || !reflect.DeepEqual(next, ts[3]) {
		t.Fatalf("HistoryNextOf(c1, at(0)) = %+v %v %v, want %+v", next, ok, err, ts[3])
	}
	if _, ok, err := st.HistoryNextOf(ctx(t), a, "s1", "c1", at(130)); ok || err != nil {
		t.Fatalf("HistoryNextOf after the last: ok %v err %v", ok, err)
	}
	if _, ok, err := st.HistoryNextOf(ctx(t), a, "nope", "c1", at(0)); ok || err != nil {
		t.Fatalf("HistoryNextOf of a segment without history: ok %v err %v", ok, err)
	}

	first := must[[]segmentd.Transition](t, "HistoryFirstAfter")(st.HistoryFirstAfter(ctx(t), a, "s1", at(-1)))
	if want := []segmentd.Transition{ts[1], ts[0], ts[4]}; !reflect.DeepEqual(first, want) {
		t.Fatalf("HistoryFirstAfter(at(-1))\n%+v, want\n%+v", first, want)
	}
	first = must[[]segmentd.Transition](t, "HistoryFirstAfter")(st.HistoryFirstAfter(ctx(t), a, "s1", at(70)))
	if want := []segmentd.Transition{ts[5], ts[4]}; !reflect.DeepEqual(first, want) {
		t.Fatalf("HistoryFirstAfter(at(70))\n%+v, want\n%+v", first, want)
	}

	// By number, every segment (the reconciliation at start).
	if mark := must[int64](t, "HistoryMark")(st.HistoryMark(ctx(t), a)); mark != 6 {
		t.Fatalf("HistoryMark(a) = %d, want 6", mark)
	}
	if mark := must[int64](t, "HistoryMark")(st.HistoryMark(ctx(t), newAccount(t, st, "c"))); mark != 0 {
		t.Fatalf("HistoryMark of an account without transitions = %d, want 0", mark)
	}
	after := must[[]segmentd.Transition](t, "HistoryAfter")(st.HistoryAfter(ctx(t), a, 2))
	if !reflect.DeepEqual(after, ts[2:]) {
		t.Fatalf("HistoryAfter(2)\n%+v, want\n%+v", after, ts[2:])
	}
	if got := must[[]segmentd.Transition](t, "HistoryAfter")(st.HistoryAfter(ctx(t), a, 6)); len(got) != 0 {
		t.Fatalf("HistoryAfter(the last): %+v", got)
	}
	if got := must[[]segmentd.Transition](t, "HistoryAfter(b)")(st.HistoryAfter(ctx(t), b, 0)); len(got) != 1 || got[0].AccountID != b {
		t.Fatalf("account b's history by number: %+v", got)
	}

	if _, err := st.ResetAccount(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	if got := must[[]segmentd.Transition](t, "HistoryFirstAfter")(st.HistoryFirstAfter(ctx(t), a, "s1", at(-1))); len(got) != 0 {
		t.Fatalf("history after a reset: %+v", got)
	}
	if got := must[[]segmentd.Transition](t, "HistoryFirstAfter(b)")(st.HistoryFirstAfter(ctx(t), b, "s1", at(-1))); len(got) != 1 {
		t.Fatalf("account b's history after a's reset: %+v", got)
	}
}

func testHistoryPrune(t *testing.T, st HooksStore) {
	a, b := newAccount(t, st, "a"), newAccount(t, st, "b")
	at := func(m int) time.Time { return nowMS.Add(time.Duration(m) * time.Minute) }
	var ta, tb []segmentd.Transition
	for i := range 5 {
		ta = append(ta, historyTransition("s1", "c1", i%2 == 0, at(i), segmentd.CauseContact))
		tb = append(tb, historyTransition("s2", "c2", i%2 == 0, at(0), segmentd.CauseContact))
	}
	ta = append(ta, historyTransition("s3", "c3", true, at(0), segmentd.CauseContact))
	if err := st.AppendTransitions(ctx(t), a, ta, nil, true); err != nil {
		t.Fatal(err)
	}
	if err := st.AppendTransitions(ctx(t), b, tb, nil, true); err != nil {
		t.Fatal(err)
	}
	// Before at(3): a's s1 holds 3 (at 0, 1, 2), each followed by a later
	// one; s3 one, c3's last, an entry, kept; b's s2 five at the same
	// instant, the last an entry, kept: 7 to prune, 4 at a time.
	var n []int
	for range 5 {
		k, err := st.PruneHistory(ctx(t), at(3), 4)
		if err != nil {
			t.Fatal(err)
		}
		n = append(n, k)
		if k < 4 {
			break
		}
	}
	if !reflect.DeepEqual(n, []int{4, 3}) {
		t.Fatalf("prune batches %v, want [4 3]", n)
	}
	left := must[[]segmentd.Transition](t, "HistoryTransitions")(st.HistoryTransitions(ctx(t), a, "s1", at(-10), at(10), segmentd.HistoryCursor{}, 10))
	if len(left) != 2 || left[0].At != at(3) || left[1].At != at(4) {
		t.Fatalf("after the prune: %+v", left)
	}
	for _, seg := range []struct {
		acct int64
		id   string
		seq  int64
	}{{a, "s3", ta[5].Seq}, {b, "s2", tb[4].Seq}} {
		got := must[[]segmentd.Transition](t, "HistoryTransitions")(st.HistoryTransitions(ctx(t), seg.acct, seg.id, at(-10), at(10), segmentd.HistoryCursor{}, 10))
		if len(got) != 1 || got[0].Seq != seg.seq || !got[0].Entered {
			t.Fatalf("%s after the prune: %+v, want its last entry, number %d", seg.id, got, seg.seq)
		}
	}
	// Later, every row is old: s1's last (at 4) is an entry and stays; an
	// exit after it lets it go, and the exit goes as well, being the last.
	if k, err := st.PruneHistory(ctx(t), at(100), 100); err != nil || k != 1 {
		t.Fatalf("prune of s1's at(3) = %d %v, want 1", k, err)
	}
	exit := []segmentd.Transition{historyTransition("s1", "c1", false, at(5), segmentd.CauseContact)}
	if err := st.AppendTransitions(ctx(t), a, exit, nil, true); err != nil {
		t.Fatal(err)
	}
	if k, err := st.PruneHistory(ctx(t), at(100), 100); err != nil || k != 2 {
		t.Fatalf("prune after the exit = %d %v, want 2", k, err)
	}
	if got := must[[]segmentd.Transition](t, "HistoryTransitions")(st.HistoryTransitions(ctx(t), a, "s1", at(-10), at(10), segmentd.HistoryCursor{}, 10)); len(got) != 0 {
		t.Fatalf("s1 after its exit's prune: %+v", got)
	}
}

// testHistoryPruneMarks checks passes that start from the segments'
// marks (a pass reads only what may have become prunable since the last
// complete one) against the rule itself applied to every row: rounds of
// transitions, some of pairs long left alone, some timed before the last
// cut (a remade one's time), pruned in small batches and whole, the cut
// moving forward and once back.
func testHistoryPruneMarks(t *testing.T, st HooksStore) {
	a := newAccount(t, st, "a")
	at := func(m int) time.Time { return nowMS.Add(time.Duration(m) * time.Minute) }
	rng := rand.New(rand.NewPCG(17, 6))
	type pair struct{ seg, contact string }
	lastAt := map[pair]int{}        // each pair's last time, in minutes
	var model []segmentd.Transition // every row kept, by the rule
	cuts := []int{20, 20, 45, 30, 80, 120, 200}
	for round, cut := range cuts {
		var ts []segmentd.Transition
		for range 12 {
			p := pair{fmt.Sprintf("s%d", rng.IntN(3)), fmt.Sprintf("c%d", rng.IntN(6))}
			m := max(lastAt[p], round*25+rng.IntN(30)-15) // never before the pair's last
			lastAt[p] = m
			ts = append(ts, historyTransition(p.seg, p.contact, rng.IntN(3) > 0, at(m), segmentd.CauseContact))
		}
		if err := st.AppendTransitions(ctx(t), a, ts, nil, true); err != nil {
			t.Fatal(err)
		}
		model = append(model, ts...)
		// The rule, on every row at once.
		var kept []segmentd.Transition
		for _, x := range model {
			later := false
			for _, y := range model {
				later = later || (y.SegmentID == x.SegmentID && y.ContactID == x.ContactID && y.Seq > x.Seq)
			}
			if !x.At.Before(at(cut)) || (x.Entered && !later) {
				kept = append(kept, x)
			}
		}
		limit := 3
		if round%2 == 1 {
			limit = 1000
		}
		pruned := 0
		for {
			k, err := st.PruneHistory(ctx(t), at(cut), limit)
			if err != nil {
				t.Fatal(err)
			}
			if pruned += k; k < limit {
				break
			}
		}
		if pruned != len(model)-len(kept) {
			t.Fatalf("round %d (cut %d): pruned %d, want %d", round, cut, pruned, len(model)-len(kept))
		}
		model = kept
		got := must[[]segmentd.Transition](t, "HistoryAfter")(st.HistoryAfter(ctx(t), a, 0))
		if len(got) != len(model) {
			t.Fatalf("round %d: %d rows kept, want %d", round, len(got), len(model))
		}
		for i := range got {
			if got[i].Seq != model[i].Seq {
				t.Fatalf("round %d: row %d is number %d, want %d", round, i, got[i].Seq, model[i].Seq)
			}
		}
	}
}

// testHistoryLastEntries checks the members the history says the
// receivers were last told of, by number, and the record of a gap.
func testHistoryLastEntries(t *testing.T, st HooksStore) {
	a := newAccount(t, st, "a")
	at := func(m int) time.Time { return nowMS.Add(time.Duration(m) * time.Minute) }
	if gap, err := st.HistoryGap(ctx(t), a); err != nil || gap {
		t.Fatalf("a new account's gap = %v %v, want false", gap, err)
	}
	if got := must[[]segmentd.Transition](t, "HistoryLastEntries")(st.HistoryLastEntries(ctx(t), a, "s1")); len(got) != 0 {
		t.Fatalf("last entries of a segment without history: %+v", got)
	}
	ts := []segmentd.Transition{
		historyTransition("s1", "c1", true, at(0), segmentd.CauseDefinition),
		historyTransition("s1", "c2", true, at(0), segmentd.CauseDefinition),
		historyTransition("s1", "c3", true, at(0), segmentd.CauseDefinition),
		historyTransition("s2", "c2", true, at(0), segmentd.CauseDefinition),
		historyTransition("s1", "c2", false, at(1), segmentd.CauseContact),
		// Numbered last but timed earlier (a remade transition's time):
		// the number decides.
		historyTransition("s1", "c3", false, at(2), segmentd.CauseClock),
		historyTransition("s1", "c3", true, at(1), segmentd.CauseContact),
	}
	if err := st.AppendTransitions(ctx(t), a, ts, nil, true); err != nil {
		t.Fatal(err)
	}
	got := must[[]segmentd.Transition](t, "HistoryLastEntries")(st.HistoryLastEntries(ctx(t), a, "s1"))
	slices.SortFunc(got, func(x, y segmentd.Transition) int { return strings.Compare(x.ContactID, y.ContactID) })
	want := []segmentd.Transition{ts[0], ts[6]}
	if len(got) != len(want) {
		t.Fatalf("last entries %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Seq != want[i].Seq || got[i].ContactID != want[i].ContactID || !got[i].At.Equal(want[i].At) ||
			got[i].Cause != want[i].Cause || !got[i].Entered || got[i].SegmentID != "s1" {
			t.Fatalf("last entry %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	m, ok := st.(segmentd.HistoryGapMarker)
	if !ok {
		t.Fatal("the store does not implement segmentd.HistoryGapMarker")
	}
	for range 2 { // marking twice is marking once
		if err := m.MarkHistoryGap(ctx(t), a); err != nil {
			t.Fatal(err)
		}
	}
	if gap, err := st.HistoryGap(ctx(t), a); err != nil || !gap {
		t.Fatalf("the gap after MarkHistoryGap = %v %v, want true", gap, err)
	}
	if b := newAccount(t, st, "b"); must[bool](t, "HistoryGap")(st.HistoryGap(ctx(t), b)) {
		t.Fatal("another account has the gap too")
	}
	if gap, err := st.HistoryGap(ctx(t), 987654); err != nil || !gap {
		t.Fatalf("an unknown account's gap = %v %v, want true", gap, err)
	}
}

func testHookReplays(t *testing.T, st HooksStore) {
	a := newAccount(t, st, "a")
	if err := st.AppendTransitions(ctx(t), a, []segmentd.Transition{
		historyTransition("s2", "c1", true, nowMS, segmentd.CauseContact), historyTransition("cc:7", "c1", true, nowMS, segmentd.CauseContact),
	}, nil, true); err != nil {
		t.Fatal(err)
	}
	if got := must[[]string](t, "HistorySegments")(st.HistorySegments(ctx(t), a)); !reflect.DeepEqual(got, []string{"cc:7", "s2"}) {
		t.Fatalf("HistorySegments = %q", got)
	}
	must[segmentd.Subscription](t, "CreateSubscription")(st.CreateSubscription(ctx(t), newSubscription(a, "h"), 5))
	if _, ok, err := st.HookReplay(ctx(t), a, "h"); ok || err != nil {
		t.Fatalf("a replay before any: %v %v", ok, err)
	}
	r := segmentd.HookReplay{SubscriptionID: "h", From: nowMS, To: nowMS.Add(time.Hour), Segments: []string{"s2", "cc:7"}}
	if err := st.PutHookReplay(ctx(t), a, r); err != nil {
		t.Fatal(err)
	}
	got, ok, err := st.HookReplay(ctx(t), a, "h")
	if err != nil || !ok || !reflect.DeepEqual(got, r) {
		t.Fatalf("HookReplay = %+v %v %v, want %+v", got, ok, err, r)
	}
	r.Segments, r.After = []string{"cc:7"}, segmentd.HistoryCursor{At: nowMS.Add(time.Minute), Seq: 9}
	if err := st.PutHookReplay(ctx(t), a, r); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := st.HookReplay(ctx(t), a, "h"); !reflect.DeepEqual(got, r) {
		t.Fatalf("replaced replay %+v, want %+v", got, r)
	}
	if err := st.DeleteSubscription(ctx(t), a, "h"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := st.HookReplay(ctx(t), a, "h"); ok || err != nil {
		t.Fatalf("a deleted subscription's replay: %v %v", ok, err)
	}
	must[segmentd.Subscription](t, "CreateSubscription")(st.CreateSubscription(ctx(t), newSubscription(a, "h"), 5))
	if err := st.PutHookReplay(ctx(t), a, r); err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteHookReplay(ctx(t), a, "h"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := st.HookReplay(ctx(t), a, "h"); ok || err != nil {
		t.Fatalf("a deleted replay: %v %v", ok, err)
	}
}

// testHistoryBaseline checks baseline rows (segmentd.CauseBaseline, timed
// at segmentd.HistoryBaselineAt): numbered and kept like transitions, the
// last word of their pair for HistoryLastEntries and HistoryAfter, never
// in the outbox, invisible to the history's questions about any later
// time, kept by the pruning when an entry is its pair's last; and the gap
// cleared.
func testHistoryBaseline(t *testing.T, st HooksStore) {
	a := newAccount(t, st, "a")
	at := func(m int) time.Time { return nowMS.Add(time.Duration(m) * time.Minute) }
	base := func(contact string, entered bool) segmentd.Transition {
		return historyTransition("s1", contact, entered, segmentd.HistoryBaselineAt, segmentd.CauseBaseline)
	}
	ts := []segmentd.Transition{
		historyTransition("s1", "c1", true, at(0), segmentd.CauseContact), // an entry whose exit was lost
		historyTransition("s1", "c3", true, at(0), segmentd.CauseContact), // kept, and a member
		base("c1", false), // the baseline: c1 is no member
		base("c2", true),  // c2 is one since before the history
	}
	if err := st.AppendTransitions(ctx(t), a, ts, []bool{true, true, false, false}, true); err != nil {
		t.Fatal(err)
	}
	if out := must[[]segmentd.Transition](t, "Transitions")(st.Transitions(ctx(t), a, 0, 0, 10)); len(out) != 2 || out[1].Seq != 2 {
		t.Fatalf("the outbox holds %+v, want the two transitions only", out)
	}
	last := must[[]segmentd.Transition](t, "HistoryLastEntries")(st.HistoryLastEntries(ctx(t), a, "s1"))
	slices.SortFunc(last, func(x, y segmentd.Transition) int { return strings.Compare(x.ContactID, y.ContactID) })
	if len(last) != 2 || last[0].ContactID != "c2" || last[0].Cause != segmentd.CauseBaseline || !last[0].At.Equal(segmentd.HistoryBaselineAt) ||
		last[0].Seq != 4 || last[1].ContactID != "c3" {
		t.Fatalf("last entries %+v, want c2's baseline entry (number 4) and c3's entry", last)
	}
	after := must[[]segmentd.Transition](t, "HistoryAfter")(st.HistoryAfter(ctx(t), a, 2))
	if len(after) != 2 || after[0].Cause != segmentd.CauseBaseline || after[0].Entered || after[1].ContactID != "c2" || !after[1].Entered {
		t.Fatalf("HistoryAfter(2) = %+v, want the two baseline rows", after)
	}
	// The questions about any time after the epoch see only the transitions.
	from := at(-60)
	if got := must[[]segmentd.Transition](t, "HistoryTransitions")(st.HistoryTransitions(ctx(t), a, "s1", from, at(60), segmentd.HistoryCursor{}, 10)); len(got) != 2 {
		t.Fatalf("HistoryTransitions = %+v, want the two transitions", got)
	}
	if got := must[[]segmentd.HistoryCount](t, "HistoryCounts")(st.HistoryCounts(ctx(t), a, "s1", from, time.Hour)); !reflect.DeepEqual(got, []segmentd.HistoryCount{{Bucket: 0, Entered: 2}}) {
		t.Fatalf("HistoryCounts = %+v, want the two entries", got)
	}
	if got := must[[]segmentd.Transition](t, "HistoryFirstAfter")(st.HistoryFirstAfter(ctx(t), a, "s1", from)); len(got) != 2 || got[0].ContactID != "c1" || got[1].ContactID != "c3" {
		t.Fatalf("HistoryFirstAfter = %+v, want c1's and c3's entries", got)
	}
	if _, ok, err := st.HistoryNextOf(ctx(t), a, "s1", "c2", from); ok || err != nil {
		t.Fatalf("HistoryNextOf(c2) found a transition (%v, %v): a baseline row is none", ok, err)
	}
	// The pruning deletes c1's entry and baseline exit, and keeps c2's
	// baseline entry and c3's entry (each its pair's last).
	if n, err := st.PruneHistory(ctx(t), at(100), 100); err != nil || n != 2 {
		t.Fatalf("PruneHistory = %d %v, want c1's entry and baseline exit deleted", n, err)
	}
	last = must[[]segmentd.Transition](t, "HistoryLastEntries")(st.HistoryLastEntries(ctx(t), a, "s1"))
	if len(last) != 2 {
		t.Fatalf("last entries after pruning %+v, want c2's baseline and c3's entry", last)
	}
	// A later exit of c2 follows its baseline row; the pruning then
	// deletes the row (it is followed) once the exit ages out too.
	if err := st.AppendTransitions(ctx(t), a, []segmentd.Transition{historyTransition("s1", "c2", false, at(5), segmentd.CauseContact)}, nil, true); err != nil {
		t.Fatal(err)
	}
	if got := must[[]segmentd.Transition](t, "HistoryFirstAfter")(st.HistoryFirstAfter(ctx(t), a, "s1", at(1))); len(got) != 1 || got[0].ContactID != "c2" || got[0].Entered {
		t.Fatalf("HistoryFirstAfter = %+v, want c2's exit (a member until then)", got)
	}
	if n, err := st.PruneHistory(ctx(t), at(100), 100); err != nil || n != 2 {
		t.Fatalf("PruneHistory = %d %v, want c2's baseline entry and exit deleted", n, err)
	}

	m, ok := st.(segmentd.HistoryGapMarker)
	if !ok {
		t.Fatal("the store does not implement segmentd.HistoryGapMarker")
	}
	b := newAccount(t, st, "b")
	for _, acct := range []int64{a, b} {
		if err := m.MarkHistoryGap(ctx(t), acct); err != nil {
			t.Fatal(err)
		}
	}
	for range 2 { // clearing twice is clearing once
		if err := m.ClearHistoryGap(ctx(t), a); err != nil {
			t.Fatal(err)
		}
	}
	if gap := must[bool](t, "HistoryGap")(st.HistoryGap(ctx(t), a)); gap {
		t.Fatal("the gap after ClearHistoryGap is still there")
	}
	if gap := must[bool](t, "HistoryGap")(st.HistoryGap(ctx(t), b)); !gap {
		t.Fatal("clearing one account's gap cleared another's")
	}
}
