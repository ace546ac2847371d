//go:build !(darwin || dragonfly || freebsd || illumos || linux || netbsd || openbsd || windows)

package main

import (
	"fmt"
	"os"
	"runtime"
)

// lockExclusive refuses: on this system segmentd has no lock that the
// operating system releases when the process dies, and running without one
// risks two processes on one data directory (docs/decisions.md §17).
func lockExclusive(path string) (*os.File, bool, error) {
	return nil, false, fmt.Errorf("segmentd cannot hold a data directory exclusively on %s (it needs flock(2) or Windows file sharing modes)", runtime.GOOS)
}
