// Package audience runs an account's audience: its contacts, lists,
// custom fields, segments (SendGrid's and Constant Contact's) and
// engagement events. Service applies the vendors' rules (validation,
// limits, identifier matching, asynchronous jobs, segment lifecycle,
// refresh limits, freshness modes) on top of a segmentd.Store, and keeps
// the membership engine (the segmentd.Membership seam) in step with every
// write.
//
// The API faces call it; it knows nothing of HTTP, SQL or any vendor's
// JSON shapes. Files are by resource: jobs.go (the job worker),
// accounts.go, fields.go, lists.go, contacts.go, segments.go and
// refresh.go (SendGrid segments and their refresh cadence),
// ccsegments.go, events.go, membership.go (the engine kept in step),
// snapshot.go (the engine snapshot taken and loaded), exports.go
// (contact exports) and imports.go (CSV contact imports).
package audience

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/journal"
	"github.com/segmentd/segmentd/internal/snapshot"
)

// Config holds the Service's tunable limits.
type Config struct {
	MaxCustomFields int // default MaxCustomFields
	MaxLiveSegments int // default DefaultMaxLiveSegments
	// MaxBacklog bounds the contacts and ids an account's queued jobs may
	// name: past it a new job is refused with a RateLimitError, at once
	// (default DefaultMaxBacklog, backlog.go; in a shared store, the jobs
	// this server queued, queue.go).
	MaxBacklog int
	// MaxQueuedActivities bounds an account's Constant Contact activities
	// not finished (default MaxQueuedActivities).
	MaxQueuedActivities int
	Refresh             RefreshMode
	SearchTimeout       time.Duration // contacts search deadline; default 20 s (SendGrid's 408)

	// Segments keeps segments; Membership answers who is in them. Both are
	// needed for the segment operations and contacts search. The offline
	// commands (accounts, keys, events load) run without Membership: their
	// writes then skip the engine, which the server rebuilds at start.
	Segments   segmentd.SegmentStore
	Membership segmentd.Membership
	// CCSegments keeps Constant Contact segments (nil: the Constant
	// Contact face is not served).
	CCSegments segmentd.CCSegmentStore
	// MaxLiveCCSegments bounds an account's live Constant Contact segments
	// (default DefaultMaxLiveCCSegments).
	MaxLiveCCSegments int
	// Events keeps engagement events (Service.AddEvents; nil: none).
	Events segmentd.EventStore
	// WebhookKeys keeps Event Webhook verification keys (nil: no account
	// has one, so webhook requests are not signature-checked).
	WebhookKeys segmentd.WebhookKeyStore
	// SnapshotPath is the membership engine's snapshot file
	// (WriteSnapshot, LoadMembership); "" keeps no snapshot.
	SnapshotPath string

	// Shared says that other servers write to the same store: the engine
	// then learns every write from the store's change history (follow.go),
	// woken by Notifier (nil: polling only) and polling every
	// FollowInterval (default 1 s).
	Shared         bool
	Notifier       segmentd.Notifier
	FollowInterval time.Duration
	// Jobs orders jobs across the servers of a shared store (queue.go;
	// nil: this server's one job worker orders them).
	Jobs segmentd.JobQueue
	// JobLease is how long a job accepted in a shared store stays this
	// server's without being renewed (renewed every third of it); a job
	// whose lease ended is taken over by another server (queue.go).
	// Default DefaultJobLease.
	JobLease time.Duration
	// Exports keeps contact exports (exports.go; nil: none are served).
	Exports segmentd.ExportStore
	// Hooks keeps segment webhook subscriptions (webhooks.go; nil: none
	// are served).
	Hooks segmentd.HookStore
	// Outbox, when set, takes every transition the engine makes once it
	// is loaded (docs/webhooks.md); each job's are stored before it reads
	// completed.
	Outbox segmentd.Outbox
	// YieldPause is the longest the job worker waits, at one of its
	// yield points, for the requests being accepted (Accepting;
	// docs/jobs.md, "The apply yields"). 0: DefaultYieldPause; below 0:
	// it never waits.
	YieldPause time.Duration
	// TestOnlyCommitHold, when above 0, holds every contact job that
	// committed for that long before its changes reach the engine, so
	// before its transitions are stored (SEGMENTD_TEST_ONLY_COMMIT_HOLD,
	// for tests only: the crash window of docs/webhooks.md).
	TestOnlyCommitHold time.Duration
	// Imports keeps CSV contact imports (imports.go; nil: none are
	// served).
	Imports segmentd.ImportStore
	// History reads the membership history (history.go; nil: none is
	// served), which keeps HistoryRetention of transitions.
	History          segmentd.HistoryStore
	HistoryRetention time.Duration
	// ClockPath, when set with Outbox, is the file where the server notes
	// the clock's time every second (clock.go): the next start loads the
	// engine as of that time and then lets the clock move to now with
	// transitions recorded, so that the clock transitions of the time the
	// server was down are delivered with their true times.
	ClockPath string
	// Observer, when set, is told of every finished job and of the time
	// of each task of the job worker's stages (jobs.go), for metrics.
	Observer Observer
}

// Observer is what the job worker reports as it runs (the server's
// metrics meet it).
type Observer interface {
	// JobFinished is told of a job in its final state, took after its
	// acceptance (or its resumption after a restart).
	JobFinished(j segmentd.Job, took time.Duration)
	// StageTook is told of one task of a stage: "store" (a job's store
	// transaction), "store_events" (an event batch's), "store_task"
	// (another write on the worker) or "engine" (passing a task's
	// changes to the engine).
	StageTook(stage string, took time.Duration)
}

// Service applies SendGrid's rules (validation, limits, asynchronous jobs) on
// top of a Store. The API faces call it; it never knows about HTTP.
type Service struct {
	store   segmentd.Store
	clock   segmentd.Clock
	log     *slog.Logger
	cfg     Config
	backlog *backlog      // stage 1: store writes, accounts in turns (backlog.go)
	accepts *acceptGate   // requests being accepted, which the stages yield to
	finish  chan *jobTask // stage 2: engine updates and job results, in order
	// ahead wakes readAhead, which reads the next jobs' inputs back from
	// the journal while the store stage applies the ones it took.
	ahead   chan struct{}
	journal *journal.Log // accepted jobs (OpenJournal; nil: held in memory only)
	done    chan struct{}
	closed  sync.Once

	pendingMu sync.Mutex
	pending   map[string]*segmentd.Job // queued or running jobs, by id
	// recentJobs are the ids of each account's latest jobs, oldest first
	// (console.go).
	recentJobs map[int64][]string
	// activitiesPruned is when each account's old activities were last
	// deleted (ccactivities.go), under pendingMu.
	activitiesPruned map[int64]time.Time

	segs    segmentd.SegmentStore
	members segmentd.Membership
	sched   schedule // --refresh=scheduled samples

	snapMu   sync.Mutex       // one engine snapshot written at a time
	lastSnap *snapshot.Header // the marks of the last engine snapshot written or loaded
	loaded   *SnapshotInfo    // the snapshot LoadMembership loaded
	// reconciling: LoadMembership may make again the transitions not
	// stored before the last stop, from a marked snapshot; recon buffers
	// them while it loads (reconcile.go).
	reconciling bool
	recon       *reconciler
	// standby, on a shared store whose deliverer is elected, keeps what a
	// takeover of the delivery lock needs while this server does not
	// deliver (takeover.go); loadDone is closed once LoadMembership ran.
	standby  *standby
	loadDone chan struct{}
	// prunedBefore is the retention cut of PruneEvents at start, which a
	// snapshot's events are pruned to as well.
	prunedBefore time.Time
	// stopClock stops the clock notes (clock.go).
	stopClock func()
	// loadingAt is the time the engine is loaded as of while
	// LoadMembership runs (clock.go), nil otherwise.
	loadingAt atomic.Pointer[time.Time]

	follow     points             // where the engine stands in each account's history (a shared store)
	owner      string             // this server's name on the jobs it accepts (Config.Jobs)
	queues     queues             // accepted jobs waiting for their turn (Config.Jobs)
	stopLeases context.CancelFunc // stops renewing job leases (Config.Jobs)
	sweeping   atomic.Bool        // ResumeSharedJobs ran: take over lapsed jobs (Config.Jobs)
	given      given              // the segments the engine was given, per account
	stopFollow context.CancelFunc // stops the follower (a shared store, once LoadMembership ran)
	wake       chan int64         // accounts for the follower to catch up (a shared store)
	exp        *exports           // the contact exports this server writes (Config.Exports)
	imps       *imports           // the uploads this server receives (Config.Imports)
}

// groupsUpserts reports whether the store stage applies consecutive
// upserts of an account in one transaction: on a store of its own that
// can (segmentd.UpsertGrouper). A shared store runs its jobs one by one
// (queue.go).
func groupsUpserts(store segmentd.Store, cfg Config) bool {
	_, ok := store.(segmentd.UpsertGrouper)
	return ok && !cfg.Shared && cfg.Jobs == nil
}

// New returns a Service and starts its job worker. Jobs run one at a
// time in submission order, so two upserts of one contact apply in the order
// they were acknowledged.
func New(store segmentd.Store, clock segmentd.Clock, log *slog.Logger, cfg Config) *Service {
	if cfg.MaxCustomFields == 0 {
		cfg.MaxCustomFields = segmentd.MaxCustomFields
	}
	if cfg.MaxQueuedActivities <= 0 {
		cfg.MaxQueuedActivities = MaxQueuedActivities
	}
	if cfg.JobLease <= 0 {
		cfg.JobLease = DefaultJobLease
	}
	if cfg.MaxBacklog <= 0 {
		cfg.MaxBacklog = DefaultMaxBacklog
	}
	if cfg.SearchTimeout == 0 {
		cfg.SearchTimeout = 20 * time.Second
	}
	if cfg.MaxLiveSegments == 0 {
		cfg.MaxLiveSegments = segmentd.DefaultMaxLiveSegments
	}
	if cfg.MaxLiveCCSegments == 0 {
		cfg.MaxLiveCCSegments = segmentd.DefaultMaxLiveCCSegments
	}
	s := &Service{store: store, clock: clock, log: log, cfg: cfg, backlog: newBacklog(cfg.MaxBacklog, groupsUpserts(store, cfg)), accepts: newAcceptGate(runtime.GOMAXPROCS(0), cfg.YieldPause), finish: make(chan *jobTask, 2), ahead: make(chan struct{}, 1), done: make(chan struct{}), pending: make(map[string]*segmentd.Job),
		segs: cfg.Segments, members: cfg.Membership, sched: schedule{m: make(map[string]*scheduledSample)}}
	if cfg.Shared {
		s.wake = make(chan int64, 256)
	}
	go s.write()
	go s.complete()
	if cfg.Jobs != nil {
		s.owner = segmentd.NewID()
		ctx, stop := context.WithCancel(context.Background())
		s.stopLeases = stop
		go s.renewLeases(ctx)
	}
	if cfg.Exports != nil {
		s.startExports()
	}
	if cfg.Imports != nil {
		s.startImports()
	}
	return s
}

// HoldJobs stops the worker from starting the jobs still queued, when
// they are in the journal: they run after the next start (OpenJournal).
// Event batches and internal tasks still run. A server stopping calls it
// first, so that its stop never waits for a backlog. Without a journal it
// does nothing: Close finishes the queued jobs.
func (s *Service) HoldJobs() {
	if s.journal != nil {
		s.backlog.holdJobs()
	}
}

// Close stops the worker and the follower, after the job it runs and the
// jobs still queued (HoldJobs, which Close calls, leaves those that are in
// the journal). It does not close the store.
func (s *Service) Close() {
	s.HoldJobs()
	s.closed.Do(func() {
		s.backlog.close()
		if s.stopFollow != nil {
			s.stopFollow()
		}
	})
	<-s.done
	s.queues.mu.Lock()
	s.queues.closing = true // no sweep starts an account's goroutine after the wait
	s.queues.mu.Unlock()
	s.queues.running.Wait()
	if s.stopLeases != nil {
		s.stopLeases()
	}
	s.stopExports()
	s.stopImports()
	if s.stopClock != nil {
		s.stopClock()
	}
	if s.journal != nil {
		if err := s.journal.Close(); err != nil {
			s.log.Error("closing the job journal", "err", err)
		}
	}
}

// Clock returns the service's clock.
func (s *Service) Clock() segmentd.Clock { return s.clock }
