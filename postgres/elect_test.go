package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/hooks"
)

// Two servers on one database elect one deliverer (docs/webhooks.md,
// "Several servers on one PostgreSQL database"): the first takes the
// lock, the second cannot while it is held, takes it when the first
// stops, and takes it again when its own session is killed.
func TestDeliveryElection(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		dsn := freshSchema(t, srv)
		open := func() *Store {
			st, err := Open(context.Background(), dsn, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
		st1, st2 := open(), open()
		dispatcher := func(st *Store) *hooks.Dispatcher {
			d := hooks.New(hooks.Options{Store: st, Clock: segmentd.SystemClock{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Lock: st, Elect: 20 * time.Millisecond, History: st, Retention: time.Hour})
			if err := d.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(d.Close)
			return d
		}
		waitFor := func(what string, ok func() bool) {
			t.Helper()
			deadline := time.Now().Add(20 * time.Second)
			for !ok() {
				if time.Now().After(deadline) {
					t.Fatalf("no %s within 20 s", what)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		d1 := dispatcher(st1)
		waitFor("leader", d1.Leading)
		if !d1.Wants(1) {
			t.Fatal("the leader does not want transitions")
		}
		d2 := dispatcher(st2)
		if ok, _, _, err := st2.TryLockDelivery(t.Context()); ok || err != nil {
			t.Fatalf("a second server took the held lock: %v %v", ok, err)
		}
		if d2.Leading() || d2.Wants(1) {
			t.Fatal("the second server delivers while the first holds the lock")
		}
		d1.Close()
		waitFor("takeover after the leader stopped", d2.Leading)

		// The leader's session dies: it loses the lock and takes it again
		// on a new session (no other server wants it).
		key := deliveryLockKey(st2.schema)
		holder := func() (pid int32) {
			_ = st1.pool.QueryRow(t.Context(), `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
				AND classid = (($1::bigint >> 32) & 4294967295)::oid AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1`, key).Scan(&pid)
			return pid
		}
		first := holder()
		if first == 0 {
			t.Fatal("no session holds the delivery lock")
		}
		if _, err := st1.pool.Exec(t.Context(), "SELECT pg_terminate_backend($1::int)", first); err != nil {
			t.Fatal(err)
		}
		waitFor("the lock taken again on a new session", func() bool { p := holder(); return p != 0 && p != first && d2.Leading() })
	})
}

// The delivery fence (docs/webhooks.md, "The fence"): a holder whose
// session ended while it runs stores nothing after another server took
// the lock over, and learns at once that its lock is lost; and a take
// waits for a store of transitions under way, so that the new holder
// reads what it stored.
func TestDeliveryFence(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := t.Context()
		st1, st2 := fencedServers(t, srv)
		at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		tr := func(contact string) []segmentd.Transition {
			return []segmentd.Transition{{SegmentID: "seg", ContactID: contact, Email: contact + "@example.com", Entered: true,
				At: at, Cause: segmentd.CauseContact}}
		}
		stored := func() (got []string) {
			t.Helper()
			ts, err := st2.HistoryAfter(ctx, 1, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range ts {
				got = append(got, fmt.Sprintf("%d:%s", x.Seq, x.ContactID))
			}
			return got
		}
		deadline := time.Now().Add(20 * time.Second)

		ok, lost1, release1, err := st1.TryLockDelivery(ctx)
		if !ok || err != nil {
			t.Fatalf("the first server did not take the free lock: %v %v", ok, err)
		}
		defer release1()
		if err := st1.AppendTransitions(ctx, 1, tr("before"), nil, true); err != nil {
			t.Fatal(err)
		}

		// The holder's lock session ends; its process lives on.
		endLockSession(t, st1)
		release2 := takeOver(t, st2, deadline)
		defer release2()

		// The old holder has not noticed yet (it looks every 2 s): its
		// store is fenced out, stores nothing, and ends its hold.
		if err := st1.AppendTransitions(ctx, 1, tr("after"), nil, true); !errors.Is(err, segmentd.ErrDeliveryFenced) {
			t.Fatalf("the old holder's store after the takeover: %v, want ErrDeliveryFenced", err)
		}
		select {
		case <-lost1:
		case <-time.After(time.Until(deadline)):
			t.Fatal("the fenced-out holder's lock was not lost")
		}
		if err := st2.AppendTransitions(ctx, 1, tr("new"), nil, true); err != nil {
			t.Fatal(err)
		}
		if got, want := stored(), []string{"1:before", "2:new"}; !slices.Equal(got, want) {
			t.Fatalf("history %v, want %v", got, want)
		}

		// A store under way (it holds the account's transition counter
		// and read the epoch it knew) when a server takes the lock: the
		// take waits for it, so the new holder reads what it stored.
		release2()
		tx, err := st1.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback(context.Background())
		if _, err := tx.Exec(ctx, `UPDATE account_counters SET value = value + 1 WHERE account_id = 1 AND name = '`+hookCounter+`'`); err != nil {
			t.Fatal(err)
		}
		took := make(chan error, 1)
		go func() {
			ok, _, rel, err := st2.TryLockDelivery(context.Background())
			if err == nil && !ok {
				err = errors.New("the lock was not free")
			}
			if ok {
				t.Cleanup(rel)
			}
			took <- err
		}()
		waits := "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'transactionid'"
		if srv == citusServer {
			waits = "SELECT count(*) FROM citus_lock_waits"
		}
		for {
			var n int
			if err := st1.pool.QueryRow(ctx, waits).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				break
			}
			select {
			case err := <-took:
				t.Fatalf("the take did not wait for the store under way (%v)", err)
			default:
			}
			if time.Now().After(deadline) {
				t.Fatal("the take never waited for the store under way")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-took; err != nil {
			t.Fatal(err)
		}
	})
}

// The fence over delivery state: the old holder, fenced out before it
// noticed its session ended, writes no cursor after the take (so it
// cannot take the new holder's back) and loses its lock; a cursor never
// moves back in any case; its API's writes (a failing subscription made
// active again) and its delivery log still go through.
func TestDeliveryFenceCursor(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := t.Context()
		st1, st2 := fencedServers(t, srv)
		now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
		if _, err := st2.CreateSubscription(ctx, segmentd.Subscription{ID: "h", AccountID: 1, URL: "https://example.com/h",
			EventTypes: segmentd.HookEventTypes, Secret: segmentd.NewHookSecret(), CreatedAt: now, UpdatedAt: now,
			HookState: segmentd.HookState{Status: segmentd.HookActive}}, 5); err != nil {
			t.Fatal(err)
		}
		cursor := func() int64 {
			t.Helper()
			sub, err := st2.Subscription(ctx, 1, "h")
			if err != nil {
				t.Fatal(err)
			}
			return sub.Cursor
		}
		state := func(c int64) segmentd.HookState { return segmentd.HookState{Status: segmentd.HookActive, Cursor: c} }
		deadline := time.Now().Add(20 * time.Second)

		ok, lost1, release1, err := st1.TryLockDelivery(ctx)
		if !ok || err != nil {
			t.Fatalf("the first server did not take the free lock: %v %v", ok, err)
		}
		defer release1()
		if err := st1.SetHookState(ctx, 1, "h", state(5), false); err != nil {
			t.Fatal(err)
		}
		endLockSession(t, st1)
		release2 := takeOver(t, st2, deadline)
		defer release2()
		if err := st2.SetHookState(ctx, 1, "h", state(8), false); err != nil {
			t.Fatal(err)
		}
		// The old holder has not noticed: its write is fenced out.
		if err := st1.SetHookState(ctx, 1, "h", state(6), false); !errors.Is(err, segmentd.ErrDeliveryFenced) {
			t.Fatalf("the old holder's cursor write after the takeover: %v, want ErrDeliveryFenced", err)
		}
		select {
		case <-lost1:
		case <-time.After(time.Until(deadline)):
			t.Fatal("the fenced-out holder's lock was not lost")
		}
		if c := cursor(); c != 8 {
			t.Fatalf("cursor %d, want the new holder's 8", c)
		}
		// A write behind the stored cursor (one that read the old epoch
		// as the take committed) leaves it.
		if err := st2.SetHookState(ctx, 1, "h", state(7), false); err != nil || cursor() != 8 {
			t.Fatalf("a cursor written back: %v, cursor %d, want 8", err, cursor())
		}
		// The old server's API and log are not delivery state: they go
		// through.
		if err := st1.SetHookState(ctx, 1, "h", state(0), true); err != nil {
			t.Fatalf("making the subscription active again on the old holder: %v", err)
		}
		if _, err := st1.AddDelivery(ctx, 1, segmentd.Delivery{SubscriptionID: "h", MessageID: "msg_h_test", At: now, StatusCode: 204}, 10); err != nil {
			t.Fatalf("the old holder's log of a test message: %v", err)
		}
	})
}

// A dispatcher whose lock session ended, fenced out by another server's
// take before it noticed: what it records is not stored, Flush returns,
// and it stops delivering.
func TestDeliveryFenceDispatcher(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := t.Context()
		st1, st2 := fencedServers(t, srv)
		d1 := hooks.New(hooks.Options{Store: st1, Clock: segmentd.SystemClock{}, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Lock: st1, Elect: 20 * time.Millisecond, History: st1, Retention: time.Hour})
		if err := d1.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(d1.Close)
		if !d1.Leading() {
			t.Fatal("the only server does not deliver")
		}
		endLockSession(t, st1)
		deadline := time.Now().Add(20 * time.Second)
		t.Cleanup(takeOver(t, st2, deadline))
		// Recorded while d1 may still believe it delivers (it looks at its
		// session every 2 s): stored by nobody, since d2's engine has it.
		d1.Record(1, []segmentd.Transition{{SegmentID: "seg", ContactID: "c1", Entered: true, At: time.Now(), Cause: segmentd.CauseContact}})
		if err := d1.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		for d1.Leading() {
			if time.Now().After(deadline) {
				t.Fatal("the fenced-out dispatcher still delivers")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if ts, err := st2.HistoryAfter(ctx, 1, 0); err != nil || len(ts) != 0 {
			t.Fatalf("history after the takeover: %v %v, want nothing", ts, err)
		}
	})
}

// fencedServers opens two stores on one fresh schema (twoServers), as two
// servers sharing a database, with an account 1.
func fencedServers(t *testing.T, srv server) (*Store, *Store) {
	t.Helper()
	sts := twoServers(t, srv)
	if _, err := sts[0].pool.Exec(t.Context(), "INSERT INTO accounts (id, name, created_at) VALUES (1, 'fenced', 0) ON CONFLICT DO NOTHING"); err != nil {
		t.Fatal(err)
	}
	return sts[0], sts[1]
}

// endLockSession ends the session that holds the delivery lock, as a
// network cut would: the process holding it lives on.
func endLockSession(t *testing.T, st *Store) {
	t.Helper()
	var pid int32
	if err := st.pool.QueryRow(t.Context(), `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
		AND classid = (($1::bigint >> 32) & 4294967295)::oid AND objid = ($1::bigint & 4294967295)::oid AND objsubid = 1`,
		deliveryLockKey(st.schema)).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	if _, err := st.pool.Exec(t.Context(), "SELECT pg_terminate_backend($1::int)", pid); err != nil {
		t.Fatal(err)
	}
}

// takeOver takes the delivery lock on st once the ended session has
// released it, before deadline, and returns its release.
func takeOver(t *testing.T, st *Store, deadline time.Time) func() {
	t.Helper()
	for {
		ok, _, release, err := st.TryLockDelivery(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			return release
		}
		if time.Now().After(deadline) {
			t.Fatal("the second server did not take the lock of the ended session in time")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
