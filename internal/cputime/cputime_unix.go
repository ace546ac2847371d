//go:build unix

// Package cputime reads the CPU time the process has used, which
// benchmarks report: on a shared machine it says more about a cost than
// wall time does.
package cputime

import (
	"syscall"
	"time"
)

// Process is the CPU time (user + system, all threads) the process has
// used, 0 where it cannot be read.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
