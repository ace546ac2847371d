package storetest

import (
	"reflect"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// HooksStore is a store that keeps webhook subscriptions.
type HooksStore interface {
	segmentd.Store
	segmentd.HookStore
	segmentd.HistoryStore
}

// RunHooks runs the webhook store contract (docs/webhooks.md). open must
// return a new, empty store.
func RunHooks(t *testing.T, open func(t *testing.T) HooksStore) {
	t.Run("Subscriptions", func(t *testing.T) { testSubscriptions(t, open(t)) })
	t.Run("Outbox", func(t *testing.T) { testOutbox(t, open(t)) })
	t.Run("Deliveries", func(t *testing.T) { testDeliveries(t, open(t)) })
	t.Run("Reset", func(t *testing.T) { testHooksReset(t, open(t)) })
	t.Run("History", func(t *testing.T) { testHistory(t, open(t)) })
	t.Run("HistoryPrune", func(t *testing.T) { testHistoryPrune(t, open(t)) })
	t.Run("HistoryPruneMarks", func(t *testing.T) { testHistoryPruneMarks(t, open(t)) })
	t.Run("HistoryLastEntries", func(t *testing.T) { testHistoryLastEntries(t, open(t)) })
	t.Run("HistoryBaseline", func(t *testing.T) { testHistoryBaseline(t, open(t)) })
	t.Run("HookReplays", func(t *testing.T) { testHookReplays(t, open(t)) })
}

func newSubscription(acct int64, id string) segmentd.Subscription {
	return segmentd.Subscription{
		ID: id, AccountID: acct, URL: "https://example.com/hook/" + id, Description: "d " + id,
		Segments:   []segmentd.HookSegment{{Vendor: segmentd.VendorSendGrid, ID: "s1"}, {Vendor: segmentd.VendorConstantContact, ID: "7"}},
		EventTypes: []string{segmentd.HookEntered}, Secret: segmentd.NewHookSecret(),
		CreatedAt: nowMS, UpdatedAt: nowMS, HookState: segmentd.HookState{Status: segmentd.HookActive},
	}
}

func testSubscriptions(t *testing.T, st HooksStore) {
	a, b := newAccount(t, st, "a"), newAccount(t, st, "b")
	s1 := must[segmentd.Subscription](t, "CreateSubscription")(st.CreateSubscription(ctx(t), newSubscription(a, "h1"), 2))
	want := newSubscription(a, "h1")
	want.Secret = s1.Secret
	if !reflect.DeepEqual(s1, want) {
		t.Fatalf("created\n%+v, want\n%+v", s1, want)
	}
	all := newSubscription(a, "h2")
	all.Segments, all.EventTypes = nil, segmentd.HookEventTypes
	must[segmentd.Subscription](t, "CreateSubscription")(st.CreateSubscription(ctx(t), all, 2))
	if _, err := st.CreateSubscription(ctx(t), newSubscription(a, "h3"), 2); segmentd.ErrorKindOf(err) != segmentd.KindInvalid {
		t.Fatalf("third subscription over a limit of 2: %v, want KindInvalid", err)
	}
	must[segmentd.Subscription](t, "CreateSubscription(b)")(st.CreateSubscription(ctx(t), newSubscription(b, "h1"), 2))
	got := must[[]segmentd.Subscription](t, "Subscriptions")(st.Subscriptions(ctx(t), a))
	if len(got) != 2 || got[0].ID != "h1" || got[1].ID != "h2" || got[1].Segments != nil {
		t.Fatalf("Subscriptions(a) = %+v", got)
	}
	if every := must[[]segmentd.Subscription](t, "Subscriptions(0)")(st.Subscriptions(ctx(t), 0)); len(every) != 3 {
		t.Fatalf("Subscriptions(0): %d, want 3", len(every))
	}
	if _, err := st.Subscription(ctx(t), b, "h2"); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("another account's subscription: %v, want KindNotFound", err)
	}
	up := s1
	up.URL, up.Segments, up.EventTypes, up.UpdatedAt = "http://127.0.0.1:9/x", nil, segmentd.HookEventTypes, nowMS.Add(time.Hour)
	// A rotation's grace.
	up.Secret, up.OldSecret, up.OldSecretUntil = segmentd.NewHookSecret(), s1.Secret, nowMS.Add(24*time.Hour)
	up.Status = segmentd.HookFailing // not the owner's to set here: ignored
	got1 := must[segmentd.Subscription](t, "UpdateSubscription")(st.UpdateSubscription(ctx(t), up))
	up.Status = segmentd.HookActive
	if !reflect.DeepEqual(got1, up) {
		t.Fatalf("updated\n%+v, want\n%+v", got1, up)
	}
	up.OldSecret, up.OldSecretUntil = "", time.Time{} // its end
	if got := must[segmentd.Subscription](t, "UpdateSubscription")(st.UpdateSubscription(ctx(t), up)); !reflect.DeepEqual(got, up) {
		t.Fatalf("updated\n%+v, want\n%+v", got, up)
	}
	state := segmentd.HookState{Status: segmentd.HookFailing, FailingReason: "HTTP 500", Cursor: 4, Inflight: 9, Attempts: 3,
		FirstFailure: nowMS, NextAttempt: nowMS.Add(time.Minute)}
	if err := st.SetHookState(ctx(t), a, "h1", state, false); err != nil {
		t.Fatal(err)
	}
	if got := must[segmentd.Subscription](t, "Subscription")(st.Subscription(ctx(t), a, "h1")); !reflect.DeepEqual(got.HookState, state) {
		t.Fatalf("state %+v, want %+v", got.HookState, state)
	}
	// The cursor never moves back (a server fenced out as another takes
	// delivery over must not take the new one's back).
	back := state
	back.Cursor = 2
	if err := st.SetHookState(ctx(t), a, "h1", back, false); err != nil {
		t.Fatal(err)
	}
	if got := must[segmentd.Subscription](t, "Subscription")(st.Subscription(ctx(t), a, "h1")); got.Cursor != 4 {
		t.Fatalf("cursor %d after a write of 2, want 4 kept", got.Cursor)
	}
	if err := st.SetHookState(ctx(t), b, "h2", state, false); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("SetHookState of another account's: %v", err)
	}
	if _, err := st.UpdateSubscription(ctx(t), segmentd.Subscription{AccountID: b, ID: "h2"}); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("UpdateSubscription of another account's: %v", err)
	}
	if err := st.DeleteSubscription(ctx(t), b, "h2"); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("DeleteSubscription of another account's: %v", err)
	}
	if err := st.DeleteSubscription(ctx(t), a, "h2"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Subscription(ctx(t), a, "h2"); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("deleted subscription: %v", err)
	}
}

func transition(seg, contact string, entered bool, at time.Time) segmentd.Transition {
	return segmentd.Transition{SegmentID: seg, ContactID: contact, Email: contact + "@example.com", Entered: entered, At: at, Cause: segmentd.CauseContact}
}

func testOutbox(t *testing.T, st HooksStore) {
	a, b := newAccount(t, st, "a"), newAccount(t, st, "b")
	ts := []segmentd.Transition{transition("s1", "c1", true, nowMS), transition("cc:7", "c2", true, nowMS), transition("s1", "c1", false, nowMS.Add(time.Second))}
	if err := st.AppendTransitions(ctx(t), a, ts, nil, false); err != nil {
		t.Fatal(err)
	}
	for i, tr := range ts {
		if tr.Seq != int64(i+1) || tr.AccountID != a {
			t.Fatalf("transition %d numbered %d in account %d", i, tr.Seq, tr.AccountID)
		}
	}
	if err := st.AppendTransitions(ctx(t), b, []segmentd.Transition{transition("s9", "c9", true, nowMS)}, nil, false); err != nil {
		t.Fatal(err)
	}
	got := must[[]segmentd.Transition](t, "Transitions")(st.Transitions(ctx(t), a, 0, 0, 10))
	if !reflect.DeepEqual(got, ts) {
		t.Fatalf("Transitions\n%+v, want\n%+v", got, ts)
	}
	if got := must[[]segmentd.Transition](t, "Transitions")(st.Transitions(ctx(t), a, 1, 2, 10)); len(got) != 1 || got[0].Seq != 2 {
		t.Fatalf("Transitions(1, 2] = %+v", got)
	}
	if got := must[[]segmentd.Transition](t, "Transitions")(st.Transitions(ctx(t), a, 0, 0, 2)); len(got) != 2 {
		t.Fatalf("Transitions limit 2: %d", len(got))
	}
	// A new subscription starts after the last number.
	sub := must[segmentd.Subscription](t, "CreateSubscription")(st.CreateSubscription(ctx(t), newSubscription(a, "h"), 5))
	if sub.Cursor != 3 {
		t.Fatalf("new subscription's cursor %d, want 3", sub.Cursor)
	}
	if err := st.ForgetTransitions(ctx(t), a, 2); err != nil {
		t.Fatal(err)
	}
	if got := must[[]segmentd.Transition](t, "Transitions")(st.Transitions(ctx(t), a, 0, 0, 10)); len(got) != 1 || got[0].Seq != 3 {
		t.Fatalf("after ForgetTransitions(2): %+v", got)
	}
	more := []segmentd.Transition{transition("s1", "c3", true, nowMS)}
	if err := st.AppendTransitions(ctx(t), a, more, nil, false); err != nil {
		t.Fatal(err)
	}
	if more[0].Seq != 4 {
		t.Fatalf("numbers go on after a forget: %d, want 4", more[0].Seq)
	}
	// Restarting a subscription moves its cursor to the last number.
	if err := st.SetHookState(ctx(t), a, "h", segmentd.HookState{Status: segmentd.HookActive}, true); err != nil {
		t.Fatal(err)
	}
	if got := must[segmentd.Subscription](t, "Subscription")(st.Subscription(ctx(t), a, "h")); got.Cursor != 4 {
		t.Fatalf("restarted cursor %d, want 4", got.Cursor)
	}
	if got := must[[]segmentd.Transition](t, "Transitions(b)")(st.Transitions(ctx(t), b, 0, 0, 10)); len(got) != 1 || got[0].SegmentID != "s9" {
		t.Fatalf("account b's transitions: %+v", got)
	}
}

func testDeliveries(t *testing.T, st HooksStore) {
	a := newAccount(t, st, "a")
	must[segmentd.Subscription](t, "CreateSubscription")(st.CreateSubscription(ctx(t), newSubscription(a, "h"), 5))
	var added []segmentd.Delivery
	for i := range 5 {
		d := segmentd.Delivery{SubscriptionID: "h", MessageID: "msg_h_1", At: nowMS.Add(time.Duration(i) * time.Second), Transitions: 2,
			StatusCode: 500, Latency: 1500 * time.Microsecond, Error: "HTTP 500"}
		d = must[segmentd.Delivery](t, "AddDelivery")(st.AddDelivery(ctx(t), a, d, 3))
		if d.Seq != int64(i+1) {
			t.Fatalf("delivery %d numbered %d", i, d.Seq)
		}
		added = append(added, d)
	}
	got := must[[]segmentd.Delivery](t, "Deliveries")(st.Deliveries(ctx(t), a, "h", 0, 10))
	if want := []segmentd.Delivery{added[4], added[3], added[2]}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Deliveries keep 3\n%+v, want\n%+v", got, want)
	}
	if got := must[[]segmentd.Delivery](t, "Deliveries")(st.Deliveries(ctx(t), a, "h", 5, 1)); len(got) != 1 || got[0].Seq != 4 {
		t.Fatalf("page before 5: %+v", got)
	}
	if err := st.DeleteSubscription(ctx(t), a, "h"); err != nil {
		t.Fatal(err)
	}
	if got := must[[]segmentd.Delivery](t, "Deliveries")(st.Deliveries(ctx(t), a, "h", 0, 10)); len(got) != 0 {
		t.Fatalf("a deleted subscription's log: %+v", got)
	}
}

func testHooksReset(t *testing.T, st HooksStore) {
	a := newAccount(t, st, "a")
	must[segmentd.Subscription](t, "CreateSubscription")(st.CreateSubscription(ctx(t), newSubscription(a, "h"), 5))
	if err := st.AppendTransitions(ctx(t), a, []segmentd.Transition{transition("s1", "c1", true, nowMS)}, nil, false); err != nil {
		t.Fatal(err)
	}
	must[segmentd.Delivery](t, "AddDelivery")(st.AddDelivery(ctx(t), a, segmentd.Delivery{SubscriptionID: "h", MessageID: "m", At: nowMS}, 5))
	if _, err := st.ResetAccount(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	if got := must[[]segmentd.Subscription](t, "Subscriptions")(st.Subscriptions(ctx(t), a)); len(got) != 0 {
		t.Fatalf("after a reset: %+v", got)
	}
	if got := must[[]segmentd.Transition](t, "Transitions")(st.Transitions(ctx(t), a, 0, 0, 10)); len(got) != 0 {
		t.Fatalf("outbox after a reset: %+v", got)
	}
	if got := must[[]segmentd.Delivery](t, "Deliveries")(st.Deliveries(ctx(t), a, "h", 0, 10)); len(got) != 0 {
		t.Fatalf("log after a reset: %+v", got)
	}
	// Transition numbers are never given twice in an account.
	ts := []segmentd.Transition{transition("s1", "c1", true, nowMS)}
	if err := st.AppendTransitions(ctx(t), a, ts, nil, false); err != nil {
		t.Fatal(err)
	}
	if ts[0].Seq != 2 {
		t.Fatalf("number after a reset: %d, want 2", ts[0].Seq)
	}
	must[segmentd.Subscription](t, "CreateSubscription")(st.CreateSubscription(ctx(t), newSubscription(a, "h"), 5))
	if err := st.DeleteAccount(ctx(t), a); err != nil {
		t.Fatal(err)
	}
	if got := must[[]segmentd.Subscription](t, "Subscriptions")(st.Subscriptions(ctx(t), 0)); len(got) != 0 {
		t.Fatalf("after the account's deletion: %+v", got)
	}
}
