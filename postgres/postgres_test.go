package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
	"github.com/segmentd/segmentd/storetest"
)

// The tests run against real servers, which they find only through the
// environment (.ci/services starts them and prints the variables): plain
// PostgreSQL and a Citus cluster. Each test works in a fresh schema of its
// own, named in the DSN's search_path, which Open creates and the test
// drops at the end, so tests run side by side and again on the same
// servers.

// server is a database server the tests run against.
type server struct {
	name string // subtest name
	env  string // the variable holding its DSN
}

var (
	plainServer = server{"postgres", "SEGMENTD_TEST_POSTGRES"}
	citusServer = server{"citus", "SEGMENTD_TEST_CITUS"}
	servers     = []server{plainServer, citusServer}
)

// dsn returns the server's DSN. Without it a test skips, saying how to
// start the servers, except under CI=true, where it fails: CI must run
// these tests.
func (srv server) dsn(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(srv.env)
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must run the PostgreSQL store tests (eval \"$(.ci/services)\" starts the servers)", srv.env)
		}
		t.Skipf("%s is not set: start the test servers with eval \"$(.ci/services)\"", srv.env)
	}
	return dsn
}

// eachServer runs fn as a subtest per server.
func eachServer(t *testing.T, fn func(t *testing.T, srv server)) {
	for _, srv := range servers {
		t.Run(srv.name, func(t *testing.T) {
			srv.dsn(t) // skip, or fail, once for the whole server
			fn(t, srv)
		})
	}
}

// withSearchPath returns dsn with its search_path set to schema, in the
// DSN's own form (URL or key=value words).
func withSearchPath(t testing.TB, dsn, schema string) string {
	t.Helper()
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("search_path", schema)
		u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20") // pgx reads "+" as itself
		return u.String()
	}
	return dsn + " search_path=" + schema
}

// freshSchema returns a DSN for a new schema of srv (not created yet: Open
// creates it), dropped when the test ends.
func freshSchema(t testing.TB, srv server) string {
	t.Helper()
	base := srv.dsn(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping schema %s: %v", schema, err)
		}
	})
	return withSearchPath(t, base, schema)
}

// openFresh opens a store in a fresh schema of srv, closed when the test
// ends.
func openFresh(t testing.TB, srv server) *Store {
	t.Helper()
	st, err := Open(context.Background(), freshSchema(t, srv), Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func TestContract(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		storetest.Run(t, func(t *testing.T) segmentd.Store { return openFresh(t, srv) })
	})
}

func TestSegmentContract(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		storetest.RunSegments(t, func(t *testing.T) storetest.SegmentsStore { return openFresh(t, srv) })
	})
}

func TestCCSegmentContract(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		storetest.RunCCSegments(t, func(t *testing.T) storetest.CCSegmentsStore { return openFresh(t, srv) })
	})
}

func TestEventContract(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		storetest.RunEvents(t, func(t *testing.T) storetest.EventsStore { return openFresh(t, srv) })
	})
}

func TestJobQueueContract(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		storetest.RunJobQueue(t, func(t *testing.T) storetest.JobQueueStore { return openFresh(t, srv) })
	})
}

func TestControlContract(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		storetest.RunControl(t, func(t *testing.T) storetest.ControlStore { return openFresh(t, srv) })
	})
}

// TestListen: a server listening on the database hears each account that
// another server's committed write changed, and nothing of a write rolled
// back.
func TestListen(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		dsn := freshSchema(t, srv)
		open := func() *Store {
			st, err := Open(t.Context(), dsn, Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close() })
			return st
		}
		listener, writer := open(), open()
		acct, err := writer.CreateAccount(t.Context(), "a", 0, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		heard := make(chan int64, 16)
		ctx, stop := context.WithCancel(t.Context())
		listening := make(chan error, 1)
		go func() { listening <- listener.Listen(ctx, func(a int64) { heard <- a }) }()
		// Writes until one is heard: LISTEN takes effect at some point
		// after the goroutine starts.
		deadline := time.After(time.Minute)
		for got := false; !got; {
			if _, err := writer.CreateList(t.Context(), acct.ID, segmentd.NewID(), time.Now()); err != nil {
				t.Fatal(err)
			}
			email := segmentd.NewID() + "@example.com"
			if _, err := writer.UpsertContacts(t.Context(), acct.ID, []segmentd.ContactPatch{{Email: &email}}, nil, time.Now()); err != nil {
				t.Fatal(err)
			}
			select {
			case a := <-heard:
				if a != acct.ID {
					t.Fatalf("heard account %d, want %d", a, acct.ID)
				}
				got = true
			case <-time.After(50 * time.Millisecond):
			case <-deadline:
				t.Fatal("no notification within a minute")
			}
		}
		// The listening store's own write is left out: notifications
		// arrive in commit order, so once the writer's later one is heard,
		// the listener's own would have been.
		own, err := listener.CreateAccount(t.Context(), "own", 0, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		other, err := writer.CreateAccount(t.Context(), "other", 0, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		mine, theirs := "mine@example.com", "theirs@example.com"
		if _, err := listener.UpsertContacts(t.Context(), own.ID, []segmentd.ContactPatch{{Email: &mine}}, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, err := writer.UpsertContacts(t.Context(), other.ID, []segmentd.ContactPatch{{Email: &theirs}}, nil, time.Now()); err != nil {
			t.Fatal(err)
		}
		for got := false; !got; {
			select {
			case a := <-heard:
				if a == own.ID {
					t.Fatal("the listener heard its own write")
				}
				got = a == other.ID
			case <-deadline:
				t.Fatal("no notification within a minute")
			}
		}
		stop()
		if err := <-listening; err != nil {
			t.Fatalf("Listen after its context ended: %v", err)
		}
	})
}

// TestSharedStore runs two Services over one database
// (facetest.RunShared): each follows the other's writes and applies its
// own.
func TestSharedStore(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		facetest.RunShared(t, openFresh(t, srv))
	})
}

// TestSharedReset resets and deletes an account on one of two Services
// over one database (facetest.RunSharedReset): the other's engine follows.
func TestSharedReset(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		facetest.RunSharedReset(t, openFresh(t, srv))
	})
}

func TestHooksContract(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		storetest.RunHooks(t, func(t *testing.T) storetest.HooksStore { return openFresh(t, srv) })
	})
}
