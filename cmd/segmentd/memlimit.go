package main

import (
	"fmt"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"

	"github.com/segmentd/segmentd"
)

// The server's soft memory limit (--memory-limit, docs/decisions.md §20):
// the Go runtime collects garbage harder as the heap nears it, so the
// process's resident size stays near its live data instead of twice it.

// memoryLimit is what --memory-limit chose.
type memoryLimit struct {
	// bytes is a fixed limit, or with follow the ceiling the followed
	// limit never passes (0: none).
	bytes int64
	// follow keeps the limit at the live heap and half as much again
	// (auto: followLiveHeap).
	follow bool
	// start follows only while the engine loads at start (its rebuild, or
	// its snapshot's load and replay), and then lifts the limit (start,
	// the default).
	start bool
}

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
// "auto" for a limit that follows the live heap, at most 90 % of the
// container's memory limit (no ceiling outside one), "start" for the same
// while the engine loads at start and none after, or a size in bytes
// with an optional GOMEMLIMIT unit (KiB, MiB, GiB, TiB). cgroupLimit gives
// the container's limit (0: none).
func parseMemoryLimit(v string, cgroupLimit func() int64) (memoryLimit, error) {
	switch v {
	case "off", "0":
		return memoryLimit{}, nil
	case "auto":
		return memoryLimit{bytes: cgroupLimit() / 10 * 9, follow: true}, nil
	case "start":
		return memoryLimit{bytes: cgroupLimit() / 10 * 9, follow: true, start: true}, nil
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
		return memoryLimit{}, fmt.Errorf("--memory-limit must be start, off, auto, or a size such as 1GiB or 900MiB, not %s", segmentd.Quote(v))
	}
	if n*unit < minMemoryLimit {
		return memoryLimit{}, fmt.Errorf("--memory-limit must be at least 64MiB (or off), not %s", segmentd.Quote(v))
	}
	return memoryLimit{bytes: n * unit}, nil
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

// followHeadroom is the least room a followed limit leaves above the live
// heap: below about 200 MiB of live data the collector's own goal (twice
// the live heap) comes first, so a small server collects no more often
// than Go's default.
const followHeadroom = 96 << 20

// loadHeadroom is followHeadroom while the engine loads at start (start):
// the load's live heap only grows, and its peak comes at the end, so a
// limit need not bind while the heap is small. Below loadHeadroom of live
// data the collector's own goal comes first; above it the room is
// loadHeadroom until half the live heap is more (docs/decisions.md §20,
// session 15).
const loadHeadroom = 256 << 20

// followedLimit is the soft limit for a live heap of live bytes: the live
// heap and half as much again (at least headroom more: followHeadroom, or
// loadHeadroom while the engine loads), at most ceiling (0: none). Go's
// default lets the heap reach twice the live data; at a million contacts
// that was half a gigabyte of garbage (§20).
func followedLimit(live, ceiling, headroom int64) int64 {
	limit := live + max(live/2, headroom)
	if ceiling > 0 {
		limit = min(limit, ceiling)
	}
	return limit
}

// heapFollower keeps the runtime's soft memory limit at followedLimit of
// the live heap, set again after every collection: a cleanup on an
// object nothing holds runs after the next collection, and arms the next.
type heapFollower struct {
	sample []metrics.Sample

	mu       sync.Mutex
	ceiling  int64
	headroom int64 // followHeadroom, or loadHeadroom (start)
	before   int64 // the limit found when the first server started
	servers  int   // servers following; the last one to stop puts back before
	armed    bool  // a cleanup waits for the next collection
}

// following is the process's one follower. The limit is the runtime's,
// one per process, so servers in one process (tests) share it rather
// than each put back what another set.
var following = heapFollower{sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}}

// followLiveHeap starts following the live heap, at most ceiling (0:
// none), leaving at least headroom above it; stop ends it, and once no
// server follows it puts back the limit found at the start. Servers in one
// process share the first one's ceiling and headroom.
func followLiveHeap(ceiling, headroom int64) (stop func()) {
	f := &following
	f.mu.Lock()
	defer f.mu.Unlock()
	f.servers++
	if f.servers == 1 {
		f.before, f.ceiling, f.headroom = debug.SetMemoryLimit(-1), ceiling, headroom
		f.set()
		if !f.armed { // a chain ended but not yet collected goes on
			f.arm()
		}
	}
	var once sync.Once
	return func() { once.Do(f.stop) }
}

// heapSentinel is the object whose cleanup marks a collection: 64 bytes,
// so that it is never one of the runtime's tiny allocations (which share
// a block and may never be freed alone).
type heapSentinel [64]byte

func (f *heapFollower) arm() {
	f.armed = true
	runtime.AddCleanup(new(heapSentinel), (*heapFollower).collected, f)
}

// collected runs after a collection: the limit follows the heap it left.
func (f *heapFollower) collected() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.servers == 0 {
		f.armed = false // no server follows: the chain ends
		return
	}
	f.set()
	f.arm()
}

// set sets the limit from the live heap the last collection marked.
// Called with f.mu held.
func (f *heapFollower) set() {
	metrics.Read(f.sample)
	live := int64(f.sample[0].Value.Uint64())
	debug.SetMemoryLimit(followedLimit(live, f.ceiling, f.headroom))
}

func (f *heapFollower) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.servers--
	if f.servers == 0 {
		debug.SetMemoryLimit(f.before)
	}
}
