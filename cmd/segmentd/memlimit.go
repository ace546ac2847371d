package main

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"

	"github.com/segmentd/segmentd"
)

// The server's soft memory limit (--memory-limit, docs/decisions.md §20):
// the Go runtime collects garbage harder as the heap nears it, so the
// process's resident size stays near its live data instead of twice it.

// memoryUnits are the suffixes GOMEMLIMIT takes, which --memory-limit
// takes too.
var memoryUnits = []struct {
	suffix string
	bytes  int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// minMemoryLimit is the smallest limit taken: below it the collector would
// run without pause on any account worth serving.
const minMemoryLimit = 64 << 20

// parseMemoryLimit reads a --memory-limit value: "off" or "0" for none,
// "auto" for 90 % of the container's memory limit (none outside one), or
// a size in bytes with an optional GOMEMLIMIT unit (KiB, MiB, GiB, TiB).
// cgroupLimit gives the container's limit (0: none).
func parseMemoryLimit(v string, cgroupLimit func() int64) (int64, error) {
	switch v {
	case "off", "0":
		return 0, nil
	case "auto":
		if n := cgroupLimit(); n > 0 {
			return n / 10 * 9, nil
		}
		return 0, nil
	}
	num, unit := v, int64(1)
	for _, u := range memoryUnits {
		if s, ok := strings.CutSuffix(v, u.suffix); ok {
			num, unit = s, u.bytes
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/unit {
		return 0, fmt.Errorf("--memory-limit must be off, auto, or a size such as 1GiB or 900MiB, not %s", segmentd.Quote(v))
	}
	if n*unit < minMemoryLimit {
		return 0, fmt.Errorf("--memory-limit must be at least 64MiB (or off), not %s", segmentd.Quote(v))
	}
	return n * unit, nil
}

// cgroupMemoryLimit is the memory limit of the control group the process
// runs in (cgroup v2's memory.max, else v1's memory.limit_in_bytes), or 0
// when there is none: "max", an unreadable file, or v1's "no limit" value
// (a number near the largest int64).
func cgroupMemoryLimit() int64 {
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || n <= 0 || n >= 1<<62 {
			return 0
		}
		return n
	}
	return 0
}
