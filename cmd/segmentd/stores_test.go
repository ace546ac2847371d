package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/segmentd/segmentd/postgres"
)

// storeUnderTest is a store a real-binary test runs segmentd on: a data
// directory, and for PostgreSQL a database URL whose search_path is a
// fresh schema of the test's own.
type storeUnderTest struct {
	dir string
	url string // "" for SQLite
}

// args are the serve flags that select the store beside --data.
func (st storeUnderTest) args() []string {
	if st.url == "" {
		return nil
	}
	return []string{"--database-url", st.url}
}

// start starts the real binary on the store (startBinary).
func (st storeUnderTest) start(t *testing.T, bin, key string, extra ...string) (liveServer, *exec.Cmd) {
	t.Helper()
	return startBinary(t, bin, st.dir, key, append(st.args(), extra...)...)
}

// testServers are the database servers the real-binary tests run against
// beside SQLite, named by .ci/services's variables.
var testServers = []struct{ name, env string }{
	{"postgres", "SEGMENTD_TEST_POSTGRES"},
	{"citus", "SEGMENTD_TEST_CITUS"},
}

// eachStore runs fn on SQLite and on each database server: in CI a
// server's missing variable fails the test; elsewhere it skips that
// server, saying so.
func eachStore(t *testing.T, fn func(t *testing.T, st storeUnderTest)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, storeUnderTest{dir: t.TempDir()}) })
	eachDatabase(t, fn)
}

// eachDatabase runs fn on each database server (eachStore without SQLite).
func eachDatabase(t *testing.T, fn func(t *testing.T, st storeUnderTest)) {
	for _, srv := range testServers {
		t.Run(srv.name, func(t *testing.T) {
			base := os.Getenv(srv.env)
			if base == "" {
				if os.Getenv("CI") == "true" {
					t.Fatalf("%s is not set: CI runs .ci/services, which starts the server and names it", srv.env)
				}
				t.Skipf("%s is not set (eval \"$(.ci/services)\" starts the servers)", srv.env)
			}
			fn(t, storeUnderTest{dir: t.TempDir(), url: freshSchema(t, base)})
		})
	}
}

// freshSchema returns base with its search_path set to a new schema,
// dropped when the test ends.
func freshSchema(t *testing.T, base string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", "t_"+hex.EncodeToString(b[:]))
	u.RawQuery = strings.ReplaceAll(q.Encode(), "+", "%20")
	dsn := u.String()
	t.Cleanup(func() {
		if err := postgres.DropSchema(context.Background(), dsn); err != nil {
			t.Errorf("dropping the test's schema: %v", err)
		}
	})
	return dsn
}
