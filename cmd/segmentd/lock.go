package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// One process at a time writes a data directory's contacts and events
// (docs/decisions.md §17): the membership engine of a server sees only the
// writes it makes itself, so a second server or an offline loader on the
// same directory would leave contacts the store holds but no segment or
// search ever finds. serve and `events load` hold the directory through a
// lock the operating system releases when the process ends, however it
// ends, so a `kill -9` leaves nothing stale. The commands that touch only
// accounts and keys take no lock and run beside a server.

// lockFile is the lock's name in the data directory. It is never removed:
// removing a lock file while another process waits to open it would let
// two processes hold two different files.
const lockFile = "segmentd.lock"

// dataLock is a data directory held by this process. The lock file's one
// line names the holder (pid, command, address, since when), for the
// message a refused process prints.
type dataLock struct {
	f     *os.File
	since time.Time
}

// holdData makes the configured data directory and holds it for this
// process, which is doing what (such as "segmentd serve"). If another
// process holds it, the error names that process and gives advice.
func holdData(cfg config, what, advice string) (*dataLock, error) {
	db, err := dataPath(cfg)
	if err != nil {
		return nil, err
	}
	dir := filepath.Dir(db)
	path := filepath.Join(dir, lockFile)
	f, held, err := lockExclusive(path)
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	if held {
		holder := readHolder(path)
		if holder == "" { // it has the lock but has not written its line yet
			holder = "another segmentd process"
		}
		return nil, fmt.Errorf("data directory %s is in use by %s; %s", dir, holder, advice)
	}
	l := &dataLock{f: f, since: time.Now().UTC()}
	if err := l.describe(what); err != nil {
		f.Close()
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return l, nil
}

// describe writes the holder's line: this process's id and what it is
// doing. A server describes itself again once it knows its address.
func (l *dataLock) describe(what string) error {
	line := fmt.Sprintf("pid %d (%s, since %s)\n", os.Getpid(), what, l.since.Format(time.RFC3339))
	// Written over the old line and then cut to length: a reader between
	// the two reads the new line first, and only the first line counts.
	if _, err := l.f.WriteAt([]byte(line), 0); err != nil {
		return err
	}
	return l.f.Truncate(int64(len(line)))
}

// release empties the holder's line and lets the directory go. (The
// operating system lets it go anyway when the process ends.)
func (l *dataLock) release() {
	_ = l.f.Truncate(0)
	_ = l.f.Close()
}

// readHolder reads the holder's line from the lock file, or "" if there is
// none yet. The line is cut short, like any value segmentd quotes.
func readHolder(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	if len(line) > 200 {
		return strings.ToValidUTF8(string(line[:200]), "") + "…"
	}
	return strings.TrimSpace(string(line))
}
