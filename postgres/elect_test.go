package postgres

import (
	"context"
	"io"
	"log/slog"
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
