package audience

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/segmentd/segmentd"
)

// DefaultMaxBacklog is Config.MaxBacklog's default: the contacts and ids
// an account's queued jobs may name before a new job is refused with 429.
// It takes a million-contact account loaded as a SendGrid client must
// send it (each contact once per list it is on: 3,000,000 records for
// three lists each, docs/decisions.md §11) without a 429; a queued item
// costs the journal about 60 bytes of disk and no memory (docs/jobs.md,
// "Back-pressure").
const DefaultMaxBacklog = 4_000_000

// backlog is the work waiting for the store stage of a store of its own
// (docs/jobs.md): per account a queue of contact jobs, the accounts served
// in turns (one job each), so that one account's import never holds up
// another's jobs while each account's jobs keep their order; and one queue
// of urgent tasks (event batches, which a webhook request waits for, and
// internal tasks), taken between two jobs.
type backlog struct {
	max int // Config.MaxBacklog
	// groupUpserts: the store applies upserts in groups (UpsertGrouper), so
	// takeJob hands an account's consecutive upserts over together.
	groupUpserts bool

	mu     sync.Mutex
	cond   *sync.Cond
	accts  map[int64]*accountJobs
	turns  []int64 // accounts with queued jobs, the next to serve first
	urgent []*jobTask
	// jobTurn says a job goes before the next urgent task: urgent tasks
	// and jobs alternate while both wait, so neither starves.
	jobTurn bool
	closed  bool
	// jobsHeld stops taking jobs (urgent tasks still run): they are in
	// the journal and run after the next start (Service.HoldJobs).
	jobsHeld bool
}

// accountJobs is one account's queue.
type accountJobs struct {
	jobs []*jobTask
	// items are the backlog items of the account's queued jobs and of the
	// jobs being accepted (reserve).
	items int
	// rate is how many items a second the store stage lately applied of
	// this account's jobs (0: not measured yet), to say when a refused
	// request would pass.
	rate float64
}

func newBacklog(max int, groupUpserts bool) *backlog {
	b := &backlog{max: max, groupUpserts: groupUpserts, accts: map[int64]*accountJobs{}}
	b.cond = sync.NewCond(&b.mu)
	return b
}

func (b *backlog) account(acct int64) *accountJobs {
	a := b.accts[acct]
	if a == nil {
		a = &accountJobs{}
		b.accts[acct] = a
	}
	return a
}

// reserve counts n items of a job being accepted in acct's backlog. When
// the backlog already holds items and n more would take it past the
// bound, it refuses with SendGrid's 429, saying when the backlog should
// have room (unless force).
func (b *backlog) reserve(acct int64, n int, force bool, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.account(acct)
	if !force && a.items > 0 && a.items+n > b.max {
		return b.refusal(a, a.items+n-b.max, now)
	}
	a.items += n
	return nil
}

// admits reports whether acct's backlog has room for one more item: a
// request that changes the store before it queues its job asks first.
func (b *backlog) admits(acct int64, now time.Time) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.account(acct)
	if a.items > 0 && a.items+1 > b.max {
		return b.refusal(a, a.items+1-b.max, now)
	}
	return nil
}

// refusal is the RateLimitError of a backlog excess items over its bound:
// it lifts once the store stage has applied that many, at the account's
// measured rate (a second when not measured), rounded up to the second
// that SendGrid's X-RateLimit-Reset counts in, and at most a minute away.
func (b *backlog) refusal(a *accountJobs, excess int, now time.Time) error {
	wait := time.Second
	if a.rate > 0 {
		wait = max(wait, time.Duration(math.Ceil(float64(excess)/a.rate*float64(time.Second))))
	}
	wait = min(wait, time.Minute)
	return &segmentd.RateLimitError{
		Err:   segmentd.Errorf(segmentd.KindRateLimited, "", "the account's queued jobs hold %d contacts or ids, over the bound of %d: retry later", a.items, b.max),
		Limit: b.max,
		Reset: now.Add(wait),
	}
}

// unreserve takes back what reserve counted for a job that was not
// accepted after all.
func (b *backlog) unreserve(acct int64, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.account(acct).items -= n
}

// queuedJobs reports how many jobs of acct wait for the store stage.
func (b *backlog) queuedJobs(acct int64) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if a := b.accts[acct]; a != nil {
		return len(a.jobs)
	}
	return 0
}

// push queues an accepted job (its items already reserved) on its account.
func (b *backlog) push(t *jobTask) {
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.account(t.job.AccountID)
	if len(a.jobs) == 0 {
		b.turns = append(b.turns, t.job.AccountID)
	}
	a.jobs = append(a.jobs, t)
	b.cond.Signal()
}

// pushUrgent queues an urgent task; it reports false once closed.
func (b *backlog) pushUrgent(t *jobTask) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.urgent = append(b.urgent, t)
	b.cond.Signal()
	return true
}

// take waits for the next work of the store stage and returns it: one
// job, upsert jobs of one account queued one after the other (takeJob),
// one internal task, or event batches of one account queued one after the
// other (up to maxGroupedEvents events); each group shares a transaction.
// It returns nil once closed and nothing is left to run.
func (b *backlog) take() []*jobTask {
	b.mu.Lock()
	defer b.mu.Unlock()
	for {
		jobs := len(b.turns) > 0 && !b.jobsHeld
		switch {
		case len(b.urgent) > 0 && (!b.jobTurn || !jobs):
			b.jobTurn = true
			return b.takeUrgent()
		case jobs:
			b.jobTurn = false
			return b.takeJob()
		case b.closed:
			return nil
		}
		b.cond.Wait()
	}
}

// takeJob takes the next job of the account whose turn it is, and gives
// the turn to the next account. An import (multi) stays first in its
// account's queue, its account keeping a turn, until its last batch has
// run (endSteps): the account's later jobs wait behind it, and a reset of
// the account (which waits for its queue to empty) does too. With
// groupUpserts, an upsert takes the account's upserts queued right after
// it along, up to maxGroupedUpserts jobs and maxGroupedUpsertItems
// contacts: they share one store transaction (docs/jobs.md, "Upserts
// grouped"), and the group is the account's turn.
func (b *backlog) takeJob() []*jobTask {
	acct := b.turns[0]
	b.turns = b.turns[1:]
	a := b.accts[acct]
	t := a.jobs[0]
	if t.multi {
		b.turns = append(b.turns, acct)
		return []*jobTask{t}
	}
	n, items := b.turnJobs(a)
	group := slices.Clone(a.jobs[:n])
	clear(a.jobs[:n])
	a.jobs = a.jobs[n:]
	a.items -= items
	if len(a.jobs) > 0 {
		b.turns = append(b.turns, acct)
	} else {
		a.jobs = nil // lets the emptied array go
	}
	return group
}

// turnJobs counts the jobs at the head of a's queue that its turn takes
// (not an import: takeJob keeps those queued) and their items: one job,
// or with groupUpserts an upsert and the upserts queued right after it,
// up to maxGroupedUpserts jobs and maxGroupedUpsertItems contacts.
func (b *backlog) turnJobs(a *accountJobs) (n, items int) {
	t := a.jobs[0]
	n, items = 1, t.items
	if b.groupUpserts && groupable(t) {
		for n < len(a.jobs) && n < maxGroupedUpserts && groupable(a.jobs[n]) && items+a.jobs[n].items <= maxGroupedUpsertItems {
			items += a.jobs[n].items
			n++
		}
	}
	return n, items
}

// Bounds of a group of upserts (takeJob): four requests of SendGrid's
// 30,000 contacts. A larger group saved little more in the store
// benchmark (docs/sqlite.md), and the group is how long another account's
// job may wait for this account's turn.
const (
	maxGroupedUpserts     = 4
	maxGroupedUpsertItems = 4 * segmentd.MaxUpsertContacts
)

// next returns the journaled jobs that takeJob would take next, as far
// as the queues stand (more upserts may join the group before it is
// taken) and within maxReadAheadItems: those whose input readAhead reads
// ahead of the store stage. An import, whose input the store stage
// keeps, is left out.
func (b *backlog) next() []*jobTask {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.turns) == 0 || b.jobsHeld {
		return nil
	}
	a := b.accts[b.turns[0]]
	n, _ := b.turnJobs(a)
	var next []*jobTask
	items := 0
	for _, t := range a.jobs[:n] {
		if items > 0 && items+t.items > maxReadAheadItems {
			break
		}
		items += t.items
		if t.journal && !t.multi {
			next = append(next, t)
		}
	}
	return next
}

// maxReadAheadItems bounds the contacts and ids that readAhead holds
// decoded ahead of the store stage: the next turn's jobs as far as they
// stay within it, and at least its first job. One upsert request's worth:
// a whole group of four read ahead took the peak RSS of the realistic
// load at 1,000,000 contacts from 1,009 to 1,237 MiB (docs/jobs.md,
// "Reading ahead").
const maxReadAheadItems = segmentd.MaxUpsertContacts

// groupable reports whether t is an upsert job that may share a store
// transaction with the upserts next to it: a SendGrid upsert (an import,
// also of JobUpsert, is multi).
func groupable(t *jobTask) bool {
	return t.job.Type == segmentd.JobUpsert && !t.multi && t.write == nil && t.events == nil
}

// stepDone counts n rows of an import's batch out of its account's
// backlog: an import weighs what it has still to apply.
func (b *backlog) stepDone(t *jobTask, n int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n = min(n, t.items)
	t.items -= n
	b.account(t.job.AccountID).items -= n
}

// endSteps takes an import that ran its last batch off the head of its
// account's queue.
func (b *backlog) endSteps(t *jobTask) {
	b.mu.Lock()
	defer b.mu.Unlock()
	acct := t.job.AccountID
	a := b.accts[acct]
	if a == nil || len(a.jobs) == 0 || a.jobs[0] != t {
		return
	}
	a.jobs[0] = nil
	a.jobs = a.jobs[1:]
	a.items -= t.items
	if len(a.jobs) > 0 {
		return
	}
	a.jobs = nil
	if i := slices.Index(b.turns, acct); i >= 0 {
		b.turns = slices.Delete(b.turns, i, i+1)
	}
}

func (b *backlog) takeUrgent() []*jobTask {
	t := b.urgent[0]
	group := []*jobTask{t}
	n := 1
	if t.events != nil {
		events := len(t.events.evs)
		for n < len(b.urgent) && events < maxGroupedEvents {
			u := b.urgent[n]
			if u.events == nil || u.events.acct != t.events.acct {
				break
			}
			group = append(group, u)
			events += len(u.events.evs)
			n++
		}
	}
	clear(b.urgent[:n])
	b.urgent = b.urgent[n:]
	return group
}

// ran records that the store stage applied a job of n items of acct in d,
// for the account's rate.
func (b *backlog) ran(acct int64, n int, d time.Duration) {
	if d <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	a := b.account(acct)
	r := float64(n) / d.Seconds()
	if a.rate == 0 {
		a.rate = r
	} else {
		a.rate = 0.7*a.rate + 0.3*r
	}
}

// close makes take return nil once what must still run has run: every
// task, or, with jobs held, the urgent ones.
func (b *backlog) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
	b.cond.Broadcast()
}

// holdJobs makes take leave the queued jobs from now on.
func (b *backlog) holdJobs() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.jobsHeld = true
}

// queued counts the tasks waiting to be taken.
func (b *backlog) queued() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.urgent)
	for _, a := range b.accts {
		n += len(a.jobs)
	}
	return n
}

// acceptGate is how the job worker yields the CPU to requests being
// accepted (docs/jobs.md, "The apply yields"): a request counts itself in
// while it is read, decoded, validated and journaled; the store and
// engine stages, at their yield points, wait while limit or more are in,
// for at most maxPause at a time, so a backlog being applied takes no
// core from a 202 and yet keeps moving. They do not wait while a task
// that does not yield (an event batch, an internal task) is on the
// worker: that task waits behind the work that yields, and its caller
// (a webhook request) waits for it.
type acceptGate struct {
	limit    int
	maxPause time.Duration

	mu       sync.Mutex
	inFlight int
	// urgent counts the tasks that do not yield from when they are
	// queued until their caller hears back (Service.run).
	urgent  int
	room    chan struct{} // closed when a yield need not wait any longer
	waiting int           // yields waiting (YieldsWaiting, for tests)
}

// newAcceptGate makes the gate of a worker that yields while limit (at
// least 1) or more requests are in, at most maxPause at a time (0:
// DefaultYieldPause; below 0: never).
func newAcceptGate(limit int, maxPause time.Duration) *acceptGate {
	if maxPause == 0 {
		maxPause = DefaultYieldPause
	}
	return &acceptGate{limit: max(limit, 1), maxPause: maxPause}
}

// enter counts a request in; the function it returns counts it out.
func (g *acceptGate) enter() (leave func()) {
	g.mu.Lock()
	g.inFlight++
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		defer g.mu.Unlock()
		g.inFlight--
		if g.inFlight < g.limit {
			g.open()
		}
	}
}

// enterUrgent counts in a task that does not yield, queued on the worker;
// the function it returns counts it out once its caller has its result.
// Meanwhile no yield waits, and those waiting go on at once.
func (g *acceptGate) enterUrgent() (leave func()) {
	g.mu.Lock()
	g.urgent++
	g.open()
	g.mu.Unlock()
	return func() {
		g.mu.Lock()
		g.urgent--
		g.mu.Unlock()
	}
}

// open lets the yields waiting go on; g.mu is held.
func (g *acceptGate) open() {
	if g.room != nil {
		close(g.room)
		g.room = nil
	}
}

// yield waits while limit or more requests are in and no task that does
// not yield is on the worker, at most maxPause.
func (g *acceptGate) yield() {
	g.mu.Lock()
	if g.inFlight < g.limit || g.urgent > 0 || g.maxPause < 0 {
		g.mu.Unlock()
		return
	}
	if g.room == nil {
		g.room = make(chan struct{})
	}
	room := g.room
	g.waiting++
	g.mu.Unlock()
	t := time.NewTimer(g.maxPause)
	select {
	case <-room:
	case <-t.C:
	}
	t.Stop()
	g.mu.Lock()
	g.waiting--
	g.mu.Unlock()
}
