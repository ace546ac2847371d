package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// Several segmentd servers share one database, so names, limits and
// idempotency must hold across them: these tests run the same writes from
// goroutines spread over two stores (two pools, as two servers have) on one
// schema, and check that the database kept the rules.

const workers = 8

// twoServers opens two stores on one fresh schema of srv.
func twoServers(t *testing.T, srv server) [2]*Store {
	t.Helper()
	dsn := freshSchema(t, srv)
	var out [2]*Store
	for i := range out {
		st, err := Open(t.Context(), dsn, Options{MaxConns: workers})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		out[i] = st
	}
	return out
}

// noErrors is the want of race when no call may fail.
const noErrors segmentd.ErrorKind = -1

// race runs fn(worker, call, store) on workers goroutines at once,
// alternating the stores, and returns how many calls succeeded. Each error
// must be a *segmentd.Error of kind want.
func race(t *testing.T, sts [2]*Store, calls int, want segmentd.ErrorKind, fn func(w, i int, st *Store) error) int {
	t.Helper()
	var ok atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan error, workers*calls)
	for w := range workers {
		wg.Go(func() {
			<-start
			for i := range calls {
				err := fn(w, i, sts[w%2])
				switch {
				case err == nil:
					ok.Add(1)
				case want == noErrors || segmentd.ErrorKindOf(err) != want:
					errs <- fmt.Errorf("worker %d call %d: %w (kind %v, want %v)", w, i, err, segmentd.ErrorKindOf(err), want)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	return int(ok.Load())
}

func TestConcurrentLimits(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		sts := twoServers(t, srv)
		ctx := t.Context()
		a, err := sts[0].CreateAccount(ctx, "acme", 0, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		const limit = 5
		t.Run("fields", func(t *testing.T) {
			n := race(t, sts, 3, segmentd.KindInvalid, func(w, i int, st *Store) error {
				_, err := st.CreateFieldDefinition(ctx, a.ID, fmt.Sprintf("f_%d_%d", w, i), segmentd.FieldText, limit, time.Now())
				return err
			})
			fs, err := sts[0].FieldDefinitions(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if n != limit || len(fs) != limit {
				t.Fatalf("%d creates succeeded, %d fields stored; want %d", n, len(fs), limit)
			}
		})
		t.Run("segments", func(t *testing.T) {
			n := race(t, sts, 3, segmentd.KindInvalid, func(w, i int, st *Store) error {
				s := segmentd.Segment{ID: segmentd.NewID(), Name: fmt.Sprintf("s %d %d", w, i), QueryDSL: "SELECT contact_id, updated_at FROM contact_data",
					QueryVersion: "2", CreatedAt: time.Now(), UpdatedAt: time.Now()}
				_, err := st.CreateSegment(ctx, a.ID, s, limit)
				return err
			})
			segs, err := sts[0].Segments(ctx, a.ID)
			if err != nil {
				t.Fatal(err)
			}
			if n != limit || len(segs) != limit {
				t.Fatalf("%d creates succeeded, %d live segments; want %d", n, len(segs), limit)
			}
		})
		t.Run("cc segments", func(t *testing.T) {
			n := race(t, sts, 3, segmentd.KindInvalid, func(w, i int, st *Store) error {
				s := segmentd.CCSegment{Name: fmt.Sprintf("s %d %d", w, i), Criteria: "{}", CreatedAt: time.Now(), EditedAt: time.Now()}
				_, err := st.CreateCCSegment(ctx, a.ID, s, limit)
				return err
			})
			segs, err := sts[0].CCSegments(ctx, a.ID, segmentd.CCSegmentPage{Order: segmentd.CCByName})
			if err != nil {
				t.Fatal(err)
			}
			ids := map[int64]bool{}
			for _, s := range segs {
				ids[s.ID] = true
			}
			if n != limit || len(segs) != limit || len(ids) != limit {
				t.Fatalf("%d creates succeeded, %d live segments with %d ids; want %d", n, len(segs), len(ids), limit)
			}
		})
		t.Run("refreshes", func(t *testing.T) {
			s := segmentd.Segment{ID: segmentd.NewID(), Name: "refreshed", QueryDSL: "SELECT contact_id, updated_at FROM contact_data",
				QueryVersion: "2", CreatedAt: time.Now(), UpdatedAt: time.Now()}
			if _, err := sts[0].CreateSegment(ctx, a.ID+1, s, limit); err != nil {
				t.Fatal(err)
			}
			// A limit of one refresh: allow refuses once it sees another.
			n := race(t, sts, 2, segmentd.KindRateLimited, func(w, i int, st *Store) error {
				return st.RecordRefresh(ctx, a.ID+1, segmentd.Refresh{SegmentID: s.ID, At: time.Now()}, time.Time{}, func(past []segmentd.Refresh) error {
					if len(past) > 0 {
						return segmentd.Errorf(segmentd.KindRateLimited, "", "refreshed already")
					}
					return nil
				})
			})
			rs, err := sts[1].Refreshes(ctx, a.ID+1, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			if n != 1 || len(rs) != 1 {
				t.Fatalf("%d refreshes passed, %d stored; want 1", n, len(rs))
			}
		})
	})
}

func TestConcurrentNames(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		sts := twoServers(t, srv)
		ctx := t.Context()
		n := race(t, sts, 1, segmentd.KindConflict, func(w, i int, st *Store) error {
			_, err := st.CreateAccount(ctx, "same", 0, time.Now())
			return err
		})
		if n != 1 {
			t.Fatalf("%d accounts named alike were created, want 1", n)
		}
		a, err := sts[0].AccountByName(ctx, "same")
		if err != nil {
			t.Fatal(err)
		}
		n = race(t, sts, 1, segmentd.KindConflict, func(w, i int, st *Store) error {
			_, err := st.CreateList(ctx, a.ID, fmt.Sprintf("Same%.*s", w%2, "!"), time.Now()) // "Same" and "Same!"
			return err
		})
		if lists, _ := sts[1].Lists(ctx, a.ID, "", 100); n != 2 || len(lists) != 2 {
			t.Fatalf("%d list creates succeeded, %d lists stored; want 2", n, len(lists))
		}
		n = race(t, sts, 1, segmentd.KindConflict, func(w, i int, st *Store) error {
			_, err := st.CreateFieldDefinition(ctx, a.ID, fmt.Sprintf("NAME%.*s", w%2, "_"), segmentd.FieldText, 100, time.Now())
			return err
		})
		if fs, _ := sts[1].FieldDefinitions(ctx, a.ID); n != 2 || len(fs) != 2 {
			t.Fatalf("%d field creates succeeded, %d fields stored; want 2", n, len(fs))
		}
		key := segmentd.HashAPIKey("SG.same.key")
		n = race(t, sts, 1, segmentd.KindConflict, func(w, i int, st *Store) error {
			_, err := st.CreateAPIKey(ctx, segmentd.APIKey{AccountID: a.ID, Name: "k", Hash: key, CreatedAt: time.Now()})
			return err
		})
		if keys, _ := sts[0].CountAPIKeys(ctx); n != 1 || keys != 1 {
			t.Fatalf("%d key creates succeeded, %d keys stored; want 1", n, keys)
		}
	})
}

// TestConcurrentEventIDs delivers the same events from every worker at
// once: each sg_event_id is stored once, and the results count each
// event added once in all.
func TestConcurrentEventIDs(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		sts := twoServers(t, srv)
		ctx := t.Context()
		a, err := sts[0].CreateAccount(ctx, "acme", 0, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		const events = 200
		var added, dups atomic.Int64
		race(t, sts, 1, noErrors, func(w, i int, st *Store) error {
			evs := make([]segmentd.Event, events)
			for j, k := range rand.Perm(events) {
				evs[j] = segmentd.Event{Email: fmt.Sprintf("u%d@example.com", k%7), Type: "open",
					Timestamp: time.UnixMilli(int64(k)), SGEventID: fmt.Sprintf("sg-%d", k)}
			}
			res, err := st.AddEvents(ctx, a.ID, evs)
			added.Add(int64(res.Added))
			dups.Add(int64(res.Duplicates))
			return err
		})
		stored, _, err := sts[0].ScanEvents(ctx, a.ID, 0, 10*events)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]int{}
		for _, ev := range stored {
			ids[ev.SGEventID]++
		}
		if len(stored) != events || len(ids) != events || added.Load() != events || dups.Load() != (workers-1)*events {
			t.Fatalf("%d events stored (%d ids); results added %d and refused %d; want %d stored once each, %d refused",
				len(stored), len(ids), added.Load(), dups.Load(), events, (workers-1)*events)
		}
	})
}

// TestAccountsDoNotWait holds one account's lock in an open transaction:
// that account's writers wait, another account's do not.
func TestAccountsDoNotWait(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		dsn := freshSchema(t, srv)
		st, err := Open(t.Context(), dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		ctx := t.Context()
		a, err := st.CreateAccount(ctx, "held", 0, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		b, err := st.CreateAccount(ctx, "free", 0, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		email := "x@example.com"
		upsert := func(acct int64, timeout time.Duration) error {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			_, err := st.UpsertContacts(ctx, acct, []segmentd.ContactPatch{{Email: &email}}, nil, time.Now())
			return err
		}
		conn := connect(t, dsn)
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, qNextChange, a.ID); err != nil {
			t.Fatal(err)
		}
		if err := upsert(b.ID, 10*time.Second); err != nil {
			t.Fatalf("account %d waited for account %d's lock: %v", b.ID, a.ID, err)
		}
		if err := upsert(a.ID, 300*time.Millisecond); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a write of the locked account: %v, want it to wait (deadline exceeded)", err)
		}
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if err := upsert(a.ID, 10*time.Second); err != nil {
			t.Fatalf("after the lock was released: %v", err)
		}
	})
}

// TestTailingMissesNothing tails an account's changes and events while
// writers on two stores add to them, as a server keeping its engine fresh
// does: read the mark, then what changed after the last mark. Numbers
// taken under the account's row lock become visible in number order, so
// the reader sees every change and every event. (Numbers from a SEQUENCE
// could become visible out of order, and a tailing reader skip one.)
func TestTailingMissesNothing(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		sts := twoServers(t, srv)
		ctx := t.Context()
		a, err := sts[0].CreateAccount(ctx, "tailed", 0, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		const rounds, perRound = 15, 4
		done := make(chan struct{})
		written := make(chan []string, workers*rounds)
		go func() {
			defer close(done)
			race(t, sts, rounds, noErrors, func(w, i int, st *Store) error {
				var ps []segmentd.ContactPatch
				var evs []segmentd.Event
				for k := range perRound {
					e := fmt.Sprintf("w%d-r%d-%d@example.com", w, i, k)
					ps = append(ps, segmentd.ContactPatch{Email: &e})
					evs = append(evs, segmentd.Event{Email: e, Type: "open", Timestamp: time.Now(), SGEventID: e})
				}
				res, err := st.UpsertContacts(ctx, a.ID, ps, nil, time.Now())
				if err != nil {
					return err
				}
				var ids []string
				for _, c := range res.Contacts {
					ids = append(ids, c.ID)
				}
				written <- ids
				_, err = st.AddEvents(ctx, a.ID, evs)
				return err
			})
		}()
		seenContacts := map[string]bool{}
		seenEvents := map[string]int{}
		var lastChange, lastEvent int64
		tail := func() {
			for {
				ch, err := sts[1].Changes(ctx, a.ID, lastChange, lastEvent, 7)
				if err != nil {
					t.Fatal(err)
				}
				for _, id := range ch.Changed {
					seenContacts[id] = true
				}
				for _, ev := range ch.Events {
					seenEvents[ev.SGEventID]++
				}
				lastChange, lastEvent = ch.Through, ch.EventsThrough
				if len(ch.Events) < 7 {
					break
				}
			}
		}
		for running := true; running; {
			select {
			case <-done:
				running = false
			default:
			}
			tail()
		}
		tail()
		close(written)
		n := 0
		for ids := range written {
			for _, id := range ids {
				n++
				if !seenContacts[id] {
					t.Errorf("the tailing reader missed contact %s", id)
				}
			}
		}
		if n != workers*rounds*perRound || len(seenEvents) != n {
			t.Errorf("%d contacts written, %d events seen; want %d of each", n, len(seenEvents), workers*rounds*perRound)
		}
		for id, k := range seenEvents {
			if k != 1 {
				t.Errorf("event %s seen %d times", id, k)
			}
		}
	})
}
