// Command segmentd serves SendGrid's marketing contacts and segments APIs
// and Constant Contact's V3 segments API over a durable store. main only wires packages
// together: run parses the command line and environment and starts what was
// asked for.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/admin"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/console"
	"github.com/segmentd/segmentd/constantcontact"
	"github.com/segmentd/segmentd/engine"
	"github.com/segmentd/segmentd/hooks"
	"github.com/segmentd/segmentd/internal/bench"
	"github.com/segmentd/segmentd/internal/cli"
	"github.com/segmentd/segmentd/internal/journal"
	"github.com/segmentd/segmentd/internal/metrics"
	"github.com/segmentd/segmentd/sendgrid"
	"github.com/segmentd/segmentd/server"
	"github.com/segmentd/segmentd/webhook"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "segmentd:", err)
		os.Exit(1)
	}
}

const usage = `usage: segmentd [command] [flags]

commands:
  serve                 run the server (the default)
  accounts create NAME  create an account (--parent NAME makes it a subuser)
  accounts set-webhook-key NAME --key BASE64
                        verify the account's signed Event Webhook requests
  keys create           create an API key and print it once (--account NAME,
                        default "default"; --name NAME; --scopes LIST)
  keys list             list API keys (--account NAME: of one account)
  keys revoke ID        revoke an API key: it is refused at once
  events load           load engagement events (NDJSON, Event Webhook shape)
                        into a data directory no server is using, or into
                        a PostgreSQL database (--database-url), servers or not
  events bench          measure Event Webhook ingestion against live segments
  events pack           pack a PostgreSQL store's event rows stored before event blocks
  migrate-v1            convert a SendGrid v1 (SGQL) segment query to Segments 2.0 SQL
  migrate-store         copy a data directory's SQLite store into an empty PostgreSQL
                        database (--data DIR --database-url postgres://…)
  backup                copy a data directory's SQLite store and engine snapshot into a
                        new directory, while a server serves it (--data DIR --out NEWDIR)
  healthcheck           ask a server's /healthz (--addr, SEGMENTD_ADDR) and fail unless
                        it answers 200: a container's HEALTHCHECK
  bench ingest          measure contact ingest through the HTTP API; with --realistic,
                        contacts with custom fields and lists as SendGrid clients send
                        them, then events, reads, disk by table and the engine rebuild
  bench segments        measure segment counts and samples over generated contacts and events
  bench servers         measure how soon a write to one server is counted by another (PostgreSQL)

The server's bootstrap account is named "default".
Run "segmentd COMMAND -h" for a command's flags.
`

// run is main without the process: tests call it with their own arguments,
// environment and output, and cancel ctx to stop a server.
func run(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) error {
	err := runCommand(ctx, args, env, stdin, stdout, stderr)
	if errors.Is(err, flag.ErrHelp) {
		// -h or --help printed the command's usage on stdout, as asked.
		return nil
	}
	return err
}

func runCommand(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, usage)
		return nil
	}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		cfg, err := parseConfig("serve", args, env, stdout, stderr)
		if err != nil {
			return err
		}
		return serve(ctx, cfg, stdout, stderr)
	case "accounts":
		return runAccounts(ctx, args, env, stdout, stderr)
	case "keys":
		return runKeys(ctx, args, env, stdout, stderr)
	case "events":
		return runEvents(ctx, args, env, stdin, stdout, stderr)
	case "migrate-v1":
		return runMigrateV1(ctx, args, stdin, stdout, stderr)
	case "migrate-store":
		return runMigrateStore(ctx, args, env, stdout, stderr)
	case "backup":
		return runBackup(ctx, args, env, stdout, stderr)
	case "healthcheck":
		return runHealthcheck(ctx, args, env, stdout, stderr)
	case "bench":
		return bench.Run(ctx, args, env, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

// config is the server's configuration (README "Configuration"): each flag
// has an environment twin; a flag wins over its twin.
type config struct {
	addr           string
	data           string
	databaseURL    string
	databasePool   int           // PostgreSQL connections at most (0: the default)
	databaseWait   time.Duration // how long a start waits for an unreachable PostgreSQL
	apiKey         string
	refresh        string
	legacyV1Writes bool
	// publicURL is the scheme and host clients reach the server at, for
	// the URLs it hands out ("": the address each request came to).
	publicURL    string
	ccRateLimits bool
	// sgRateLimits enforces the SendGrid face's per-key limit, which its
	// X-RateLimit-* headers report either way.
	sgRateLimits  bool
	dev           bool
	adminToken    string // required on every /admin/ call when set (admin.Options.Token)
	retentionDays int
	// jobBacklog bounds an account's queued contacts and ids (SQLite).
	jobBacklog int
	// jobLease is how long a job accepted on a shared database stays this
	// server's without renewal: then another server takes it over
	// (PostgreSQL).
	jobLease time.Duration
	// snapshotInterval is how often the engine snapshot is written while
	// serving (0: only at shutdown).
	snapshotInterval time.Duration
	// Segment webhooks (docs/webhooks.md): whether this server delivers
	// them, an attempt's timeout, and how long a subscription may fail
	// before it is marked failing.
	webhookDelivery bool
	// console serves the web console at /console/ (docs/console.md).
	console        bool
	webhookTimeout time.Duration
	webhookHorizon time.Duration
	// historyRetention is how long the membership history keeps a
	// transition (docs/history.md; 0: no history is kept).
	historyRetention time.Duration
	// testOutboxDelay holds up every store of transitions by the webhook
	// dispatcher (SEGMENTD_TEST_ONLY_OUTBOX_DELAY, for tests only; 0: none):
	// tests widen with it the window between a write's acknowledgement
	// and its transitions being stored.
	testOutboxDelay time.Duration
	// testExportDelay holds up every chunk a contact export stores
	// (SEGMENTD_TEST_ONLY_EXPORT_DELAY, for tests only; 0: none): tests
	// keep an export pending with it while its server is killed.
	testExportDelay time.Duration
	// testCommitHold holds every contact job that committed before its
	// changes reach the engine (SEGMENTD_TEST_ONLY_COMMIT_HOLD, for tests
	// only; 0: none): the crash window between a job's store commit and
	// the storing of its transitions.
	testCommitHold time.Duration
	// testElectAfter names a file before whose existence this server does
	// not try to take the webhook delivery lock
	// (SEGMENTD_TEST_ONLY_ELECT_AFTER, for tests only; "": none): tests
	// write on a server that does not deliver, after the holder died and
	// before it takes over.
	testElectAfter string
	// testPackHold holds the packing of PostgreSQL event rows after its
	// first transaction, until the server stops
	// (SEGMENTD_TEST_ONLY_PACK_HOLD): a test kills it there.
	testPackHold bool
	// devClockAt, when not zero, is where --dev's clock starts, stopped.
	devClockAt time.Time
	// memory is the Go runtime's soft memory limit (zero: none set, the
	// runtime's own, which GOMEMLIMIT may give; memlimit.go).
	memory memoryLimit
	// metrics serves GET /metrics on the listen address (metrics.go).
	metrics bool
	// pprof is the loopback address Go's profiler is served on ("": none;
	// pprof.go).
	pprof string
}

func lookupEnv(env []string, name string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(env[i], name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func envOr(env []string, name, def string) string {
	if v, ok := lookupEnv(env, name); ok && v != "" {
		return v
	}
	return def
}

func envBool(env []string, name string) bool {
	v, _ := lookupEnv(env, name)
	return v == "1" || strings.EqualFold(v, "true")
}

// parseBool reads a true-or-false flag's value (true, false, 1 or 0).
func parseBool(flag, v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("%s must be true or false, not %s", flag, segmentd.Quote(v))
}

// isHelp reports whether arg asks for help, as the flag package reads it.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--h", "--help":
		return true
	}
	return false
}

// storeFlags are the flags every command that opens the store takes.
func storeFlags(fs *flag.FlagSet, cfg *config, env []string) {
	fs.StringVar(&cfg.data, "data", envOr(env, "SEGMENTD_DATA", "./segmentd-data"), "data directory: the SQLite database, or with --database-url only the engine snapshot (env SEGMENTD_DATA)")
	fs.StringVar(&cfg.databaseURL, "database-url", envOr(env, "SEGMENTD_DATABASE_URL", ""), "postgres://… selects PostgreSQL, which several servers may share (env SEGMENTD_DATABASE_URL)")
	cfg.databasePool = envInt(env, "SEGMENTD_DATABASE_POOL", 0)
	fs.IntVar(&cfg.databasePool, "database-pool", cfg.databasePool, "PostgreSQL connections at most; 0: the URL's pool_max_conns or the larger of 4 and the CPUs (env SEGMENTD_DATABASE_POOL)")
	cfg.databaseWait = envDuration(env, "SEGMENTD_DATABASE_WAIT", time.Minute)
	cfg.testOutboxDelay = envDuration(env, "SEGMENTD_TEST_ONLY_OUTBOX_DELAY", 0)
	cfg.testExportDelay = envDuration(env, "SEGMENTD_TEST_ONLY_EXPORT_DELAY", 0)
	cfg.testCommitHold = envDuration(env, "SEGMENTD_TEST_ONLY_COMMIT_HOLD", 0)
	cfg.testElectAfter = envOr(env, "SEGMENTD_TEST_ONLY_ELECT_AFTER", "")
	cfg.testPackHold = envOr(env, "SEGMENTD_TEST_ONLY_PACK_HOLD", "") != ""
	fs.DurationVar(&cfg.databaseWait, "database-wait", cfg.databaseWait, "how long a start waits for an unreachable PostgreSQL server (env SEGMENTD_DATABASE_WAIT)")
}

// storeArgs are the store flags that name this server's store, for a
// command line shown to the user.
func storeArgs(cfg config) string {
	if cfg.databaseURL != "" {
		return "--database-url '" + redact(cfg.databaseURL) + "'"
	}
	return "--data " + cfg.data
}

// envInt and envDuration read an environment twin, def when it is unset
// or malformed (the flag's own parse then names the problem when given).
func envInt(env []string, name string, def int) int {
	if v, ok := lookupEnv(env, name); ok {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}

func envDuration(env []string, name string, def time.Duration) time.Duration {
	if v, ok := lookupEnv(env, name); ok {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func parseConfig(name string, args, env []string, stdout, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", envOr(env, "SEGMENTD_ADDR", "127.0.0.1:8080"), "listen address (env SEGMENTD_ADDR)")
	storeFlags(fs, &cfg, env)
	fs.StringVar(&cfg.apiKey, "api-key", envOr(env, "SEGMENTD_API_KEY", ""), "bootstrap API key with full access to the default account (env SEGMENTD_API_KEY); generated on first start when unset")
	fs.StringVar(&cfg.refresh, "refresh", envOr(env, "SEGMENTD_REFRESH", "realtime"), "segment freshness: realtime or scheduled (env SEGMENTD_REFRESH)")
	fs.BoolVar(&cfg.legacyV1Writes, "legacy-v1-writes", envBool(env, "SEGMENTD_LEGACY_V1_WRITES"), "serve SendGrid's removed v1 segment writes (env SEGMENTD_LEGACY_V1_WRITES)")
	fs.BoolVar(&cfg.ccRateLimits, "cc-rate-limits", envBool(env, "SEGMENTD_CC_RATE_LIMITS"), "enforce Constant Contact's per-key limits, 4 requests/s and 10,000/day (env SEGMENTD_CC_RATE_LIMITS)")
	fs.BoolVar(&cfg.sgRateLimits, "sendgrid-rate-limits", envBool(env, "SEGMENTD_SENDGRID_RATE_LIMITS"), "enforce the SendGrid face's per-key limit, 600 requests a minute to each endpoint, that its X-RateLimit-* headers report (env SEGMENTD_SENDGRID_RATE_LIMITS)")
	fs.BoolVar(&cfg.dev, "dev", envBool(env, "SEGMENTD_DEV"), "development mode: a settable clock and the admin endpoints (env SEGMENTD_DEV)")
	devClockAt := envOr(env, "SEGMENTD_DEV_CLOCK", "")
	fs.Func("dev-clock", "with --dev: start the settable clock stopped at this instant (RFC 3339, such as 2025-06-01T12:00:00Z), as POST /admin/clock would, before anything reads it (env SEGMENTD_DEV_CLOCK)", func(v string) error {
		devClockAt = v
		return nil
	})
	fs.StringVar(&cfg.adminToken, "admin-token", envOr(env, "SEGMENTD_ADMIN_TOKEN", ""), "serve the admin endpoints (accounts for tests) and require this token on each as a Bearer token (env SEGMENTD_ADMIN_TOKEN)")
	fs.StringVar(&cfg.publicURL, "public-url", envOr(env, "SEGMENTD_PUBLIC_URL", ""), "scheme and host clients reach this server at, such as https://segmentd.example.com, used in the URLs it hands out (_metadata links, export downloads, import uploads and errors files); default: the address each request came to (env SEGMENTD_PUBLIC_URL)")
	retention := envOr(env, "SEGMENTD_EVENT_RETENTION_DAYS", "1825")
	fs.Func("event-retention-days", "days of engagement events kept; older ones are pruned at start (env SEGMENTD_EVENT_RETENTION_DAYS, default 1825)", func(v string) error {
		retention = v
		return nil
	})
	backlog := envOr(env, "SEGMENTD_JOB_BACKLOG", strconv.Itoa(audience.DefaultMaxBacklog))
	fs.Func("job-backlog", fmt.Sprintf("contacts and ids an account's queued jobs may hold before a new job is answered 429 (on a shared database, the jobs this server queued; env SEGMENTD_JOB_BACKLOG, default %d)", audience.DefaultMaxBacklog), func(v string) error {
		backlog = v
		return nil
	})
	lease := envOr(env, "SEGMENTD_JOB_LEASE", audience.DefaultJobLease.String())
	fs.Func("job-lease", "with --database-url, how long a stopped server's accepted jobs wait before another server takes them over, as a Go duration between 1s and 10m (env SEGMENTD_JOB_LEASE, default 30s)", func(v string) error {
		lease = v
		return nil
	})
	interval := envOr(env, "SEGMENTD_SNAPSHOT_INTERVAL", "10m")
	fs.Func("snapshot-interval", "how often the membership engine's snapshot (DATA/engine.snap) is written while serving, as a Go duration; 0 writes it only at shutdown (env SEGMENTD_SNAPSHOT_INTERVAL, default 10m)", func(v string) error {
		interval = v
		return nil
	})
	consoleOn := envOr(env, "SEGMENTD_CONSOLE", "true")
	fs.BoolFunc("console", "serve the web console at /console/: true or false (env SEGMENTD_CONSOLE, default true)", func(v string) error {
		consoleOn = v
		return nil
	})
	delivery := envOr(env, "SEGMENTD_WEBHOOK_DELIVERY", "true")
	fs.Func("webhook-delivery", "let this server deliver segment webhooks and keep the membership history: true or false; of several servers sharing a database, the one holding the delivery lock does (env SEGMENTD_WEBHOOK_DELIVERY, default true)", func(v string) error {
		delivery = v
		return nil
	})
	hookTimeout := envOr(env, "SEGMENTD_WEBHOOK_TIMEOUT", "10s")
	fs.Func("webhook-timeout", "how long one webhook delivery attempt may take, as a Go duration, 1s to 60s (env SEGMENTD_WEBHOOK_TIMEOUT, default 10s)", func(v string) error {
		hookTimeout = v
		return nil
	})
	horizon := envOr(env, "SEGMENTD_WEBHOOK_RETRY_HORIZON", "24h")
	fs.Func("webhook-retry-horizon", "how long a webhook subscription is retried without a success before it is marked failing, as a Go duration, at least 24h (env SEGMENTD_WEBHOOK_RETRY_HORIZON, default 24h)", func(v string) error {
		horizon = v
		return nil
	})
	historyRetention := envOr(env, "SEGMENTD_HISTORY_RETENTION", segmentd.DefaultHistoryRetention.String())
	fs.Func("history-retention", "how long the membership history keeps each segment entry and exit, as a Go duration, at least 1h, or 0 to keep none; kept by the server that delivers webhooks (env SEGMENTD_HISTORY_RETENTION, default 2160h: 90 days)", func(v string) error {
		historyRetention = v
		return nil
	})
	fs.StringVar(&cfg.pprof, "pprof", envOr(env, "SEGMENTD_PPROF", ""), "serve Go's profiler (/debug/pprof/) on this loopback address, such as 127.0.0.1:6060; refused unless loopback (env SEGMENTD_PPROF)")
	metricsOn := envOr(env, "SEGMENTD_METRICS", "true")
	fs.Func("metrics", "serve GET /metrics (Prometheus's text format, no key) on the listen address: true or false (env SEGMENTD_METRICS, default true)", func(v string) error {
		metricsOn = v
		return nil
	})
	// GOMEMLIMIT, which the runtime reads itself, counts as a choice made.
	memLimit, memGiven := envOr(env, "SEGMENTD_MEMORY_LIMIT", "start"), false
	if _, ok := lookupEnv(env, "SEGMENTD_MEMORY_LIMIT"); ok {
		memGiven = true
	}
	fs.Func("memory-limit", "soft memory limit of the server's heap, past which Go collects garbage harder: start (auto while the engine loads at start, with at least 256MiB of room above the live heap, then none), off, auto (the live heap and half as much again, at most 90% of the container's memory limit), or a size such as 1GiB (env SEGMENTD_MEMORY_LIMIT, default start; GOMEMLIMIT when neither is given)", func(v string) error {
		memLimit, memGiven = v, true
		return nil
	})
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
	}
	var err error
	switch strings.ToLower(delivery) {
	case "true", "1":
		cfg.webhookDelivery = true
	case "false", "0":
	default:
		return cfg, fmt.Errorf("--webhook-delivery must be true or false, not %s", segmentd.Quote(delivery))
	}
	if cfg.console, err = parseBool("--console", consoleOn); err != nil {
		return cfg, err
	}
	if cfg.metrics, err = parseBool("--metrics", metricsOn); err != nil {
		return cfg, err
	}
	if err := checkPprofAddr(cfg.pprof); err != nil {
		return cfg, err
	}
	if cfg.webhookTimeout, err = time.ParseDuration(hookTimeout); err != nil || cfg.webhookTimeout < time.Second || cfg.webhookTimeout > time.Minute {
		return cfg, fmt.Errorf("--webhook-timeout must be a duration from 1s to 60s, not %s", segmentd.Quote(hookTimeout))
	}
	if cfg.webhookHorizon, err = time.ParseDuration(horizon); err != nil || cfg.webhookHorizon < 24*time.Hour {
		return cfg, fmt.Errorf("--webhook-retry-horizon must be a duration of at least 24h, not %s", segmentd.Quote(horizon))
	}
	if cfg.historyRetention, err = time.ParseDuration(historyRetention); err != nil || cfg.historyRetention != 0 && cfg.historyRetention < time.Hour {
		return cfg, fmt.Errorf("--history-retention must be 0 or a duration of at least 1h, not %s", segmentd.Quote(historyRetention))
	}
	if _, gomem := lookupEnv(env, "GOMEMLIMIT"); memGiven || !gomem {
		var err error
		if cfg.memory, err = parseMemoryLimit(memLimit, cgroupMemoryLimit); err != nil {
			return cfg, err
		}
	}
	if devClockAt != "" {
		at, err := time.Parse(time.RFC3339Nano, devClockAt)
		if err != nil {
			return cfg, fmt.Errorf("--dev-clock must be an RFC 3339 time such as 2025-06-01T12:00:00Z, not %s", segmentd.Quote(devClockAt))
		}
		if !cfg.dev {
			return cfg, errors.New("--dev-clock needs --dev: only development mode has a settable clock")
		}
		cfg.devClockAt = at
	}
	every, err := time.ParseDuration(interval)
	if err != nil || every < 0 {
		return cfg, fmt.Errorf("--snapshot-interval must be a duration such as 10m, or 0, not %q", interval)
	}
	cfg.snapshotInterval = every
	days, err := strconv.Atoi(retention)
	if err != nil || days < 1 {
		return cfg, fmt.Errorf("--event-retention-days must be a whole number of days, at least 1, not %q", retention)
	}
	cfg.retentionDays = days
	if len(cfg.adminToken) > maxAdminToken {
		return cfg, fmt.Errorf("--admin-token must be at most %d bytes", maxAdminToken)
	}
	if strings.TrimSpace(cfg.adminToken) != cfg.adminToken || strings.ContainsFunc(cfg.adminToken, func(r rune) bool { return r < 0x21 || r == 0x7f }) {
		return cfg, errors.New("--admin-token must not hold spaces or control characters: it travels in an Authorization header")
	}
	if err := checkPublicURL(cfg.publicURL); err != nil {
		return cfg, err
	}
	if cfg.jobBacklog, err = strconv.Atoi(backlog); err != nil || cfg.jobBacklog < 1 {
		return cfg, fmt.Errorf("--job-backlog must be a whole number, at least 1, not %q", backlog)
	}
	if cfg.jobLease, err = time.ParseDuration(lease); err != nil || cfg.jobLease < time.Second || cfg.jobLease > 10*time.Minute {
		return cfg, fmt.Errorf("--job-lease must be a Go duration between 1s and 10m, not %s", segmentd.Quote(lease))
	}
	if cfg.refresh != "realtime" && cfg.refresh != "scheduled" {
		return cfg, fmt.Errorf("--refresh must be realtime or scheduled, not %q", cfg.refresh)
	}
	return cfg, nil
}

func serve(ctx context.Context, cfg config, stdout, stderr io.Writer) error {
	log := slog.New(slog.NewJSONHandler(stderr, nil))
	lock, err := holdData(cfg, "segmentd serve", "stop it first, or give this server another --data")
	if err != nil {
		return err
	}
	defer lock.release()
	// Go's profiler, on a loopback listener of its own (--pprof), from the
	// start: the store's opening (its migrations) and the engine's load
	// can be profiled as they run.
	var profiler net.Addr
	if cfg.pprof != "" {
		if profiler, err = servePprof(ctx, cfg.pprof, log); err != nil {
			return err
		}
		log.Info("serving the profiler", "addr", profiler.String())
	}
	store, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	where := store.where
	refresh := audience.RefreshRealtime
	if cfg.refresh == "scheduled" {
		refresh = audience.RefreshScheduled
	}
	// --dev runs every component on a settable clock (POST /admin/clock).
	var clock segmentd.Clock = segmentd.SystemClock{}
	devClock := segmentd.NewDevClock()
	if cfg.dev {
		clock = devClock
		if !cfg.devClockAt.IsZero() {
			devClock.Set(cfg.devClockAt)
		}
	}
	// With start (the default), the limit follows the live heap until the
	// engine is loaded: the rebuild's garbage is most of the memory a
	// restart takes, and bounding it costs little CPU (§20).
	unfollow := func() {}
	switch {
	case cfg.memory.follow && cfg.memory.start:
		unfollow = followLiveHeap(cfg.memory.bytes, loadHeadroom)
		defer unfollow()
		log.Info("soft memory limit follows the live heap while the engine loads", "ceiling_bytes", cfg.memory.bytes, "headroom_bytes", loadHeadroom)
	case cfg.memory.follow:
		defer followLiveHeap(cfg.memory.bytes, followHeadroom)()
		log.Info("soft memory limit follows the live heap", "ceiling_bytes", cfg.memory.bytes)
	case cfg.memory.bytes > 0:
		debug.SetMemoryLimit(cfg.memory.bytes)
		log.Info("soft memory limit set", "bytes", cfg.memory.bytes)
	}
	members := engine.NewMembership()
	// The metrics read the Service's queue, made below, at each scrape.
	var svc *audience.Service
	var mx *metrics.Metrics
	if cfg.metrics {
		mx = metrics.New(metrics.Options{Accounts: engineAccounts(members), PendingJobs: func() map[segmentd.JobType]int { return svc.PendingJobs() }})
	}
	svcCfg := audience.Config{
		Membership:   members,
		Refresh:      refresh,
		SnapshotPath: filepath.Join(cfg.data, snapshotFile),
		MaxBacklog:   cfg.jobBacklog,
		JobLease:     cfg.jobLease,
	}
	store.configure(&svcCfg)
	if cfg.testExportDelay > 0 {
		log.Warn("SEGMENTD_TEST_ONLY_EXPORT_DELAY holds up writing contact exports: for tests only", "delay", cfg.testExportDelay)
		svcCfg.Exports = slowExports(svcCfg.Exports, cfg.testExportDelay)
	}
	// Segment webhooks (docs/webhooks.md): the dispatcher takes the
	// engine's transitions once it is loaded.
	var dispatcher *hooks.Dispatcher
	if cfg.webhookDelivery {
		o := hooks.Options{Store: store, Clock: clock, Log: log, Timeout: cfg.webhookTimeout, Horizon: cfg.webhookHorizon,
			History: store, Retention: cfg.historyRetention}
		if store.shared != nil {
			// Servers sharing the database elect the one that delivers.
			o.Lock = store.shared
			if cfg.testElectAfter != "" {
				log.Warn("SEGMENTD_TEST_ONLY_ELECT_AFTER keeps this server from delivering webhooks until a file exists: for tests only", "file", cfg.testElectAfter)
				o.Lock = gatedLock{store.shared, cfg.testElectAfter}
			}
		}
		if mx != nil {
			o.Observe = mx.Delivered
		}
		if cfg.testOutboxDelay > 0 {
			log.Warn("SEGMENTD_TEST_ONLY_OUTBOX_DELAY holds up storing segment transitions: for tests only", "delay", cfg.testOutboxDelay)
			o.Store = slowOutbox{store, cfg.testOutboxDelay}
		}
		dispatcher = hooks.New(o)
		if err := dispatcher.Start(ctx); err != nil {
			return fmt.Errorf("starting webhook delivery: %w", err)
		}
		defer dispatcher.Close()
		svcCfg.Outbox = dispatcher
		svcCfg.ClockPath = filepath.Join(cfg.data, clockFile)
		if cfg.historyRetention > 0 {
			svcCfg.History, svcCfg.HistoryRetention = store, cfg.historyRetention
		}
	}
	if mx != nil {
		svcCfg.Observer = mx
	}
	if cfg.testCommitHold > 0 {
		log.Warn("SEGMENTD_TEST_ONLY_COMMIT_HOLD holds every committed contact job before the engine and its transitions: for tests only", "hold", cfg.testCommitHold)
		svcCfg.TestOnlyCommitHold = cfg.testCommitHold
	}
	// The store itself, not opened: what else it implements
	// (segmentd.UpsertGrouper) stays visible.
	svc = audience.New(store.store, clock, log, svcCfg)
	defer svc.Close()
	if n, err := svc.PruneEvents(ctx, time.Duration(cfg.retentionDays)*24*time.Hour); err != nil {
		return fmt.Errorf("pruning events: %w", err)
	} else if n > 0 {
		log.Info("pruned events past retention", "events", n, "retention_days", cfg.retentionDays)
	}
	// The event store's idempotency set (sg_event_id hashes) loads beside
	// the engine when a snapshot is there to load, which reads no event;
	// else after it: the rebuild's read of the events hashes them for the
	// set as it goes (sqlite's ReadAccountLean), and loaded beside it the
	// set read every event a second time.
	_, statErr := os.Stat(svcCfg.SnapshotPath)
	warmBeside := statErr == nil
	if warmBeside {
		go store.warmEvents(ctx, log)
	}
	start := time.Now()
	if err := svc.LoadMembership(ctx); err != nil {
		return fmt.Errorf("loading the membership engine: %w", err)
	}
	log.Info("membership engine loaded", "duration_ms", millis(time.Since(start)))
	if !warmBeside {
		go store.warmEvents(ctx, log)
	}
	// The event rows a PostgreSQL store kept from before its packed
	// blocks are packed in the background once the engine is loaded (whose
	// read they would slow): the server serves meanwhile.
	if cfg.testPackHold {
		log.Warn("SEGMENTD_TEST_ONLY_PACK_HOLD holds the packing of event rows after its first transaction: for tests only")
	}
	stopPacking := store.packEventRows(ctx, log, cfg.testPackHold)
	defer stopPacking()
	if cfg.memory.start {
		unfollow()
		log.Info("soft memory limit lifted: the engine is loaded")
	}
	if svcCfg.Jobs == nil {
		// Jobs accepted before a stop and not finished run first.
		n, err := svc.OpenJournal(ctx, filepath.Join(cfg.data, journalDir), journal.Options{})
		if err != nil {
			return fmt.Errorf("opening the job journal: %w", err)
		}
		if n > 0 {
			log.Info("resuming accepted jobs", "jobs", n)
		}
	} else if err := resumeSharedJobs(ctx, svc, cfg.data); err != nil {
		return err
	}
	key, err := svc.Bootstrap(ctx, cfg.apiKey)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	// Constant Contact's resource roots go to its face, every other /v3
	// path to SendGrid's (docs/decisions.md §14).
	faces := []server.Face{
		{Prefixes: sendgrid.Prefixes(), Handler: sendgrid.NewHandler(svc, log, sendgrid.Options{LegacyV1Writes: cfg.legacyV1Writes, BaseURL: cfg.publicURL, RateLimits: cfg.sgRateLimits})},
		{Prefixes: []string{sendgrid.ExportFilesPrefix}, Handler: sendgrid.NewExportFiles(svc, log)},
		{Prefixes: []string{sendgrid.ImportFilesPrefix}, Handler: sendgrid.NewImportFiles(svc, log)},
		{Prefixes: constantcontact.Prefixes(), Handler: constantcontact.NewHandler(svc, log, constantcontact.Options{RateLimits: cfg.ccRateLimits})},
		{Prefixes: []string{"/webhooks/"}, Handler: webhook.NewHandler(svc, log, webhook.Options{Clock: clock})},
		{Prefixes: []string{hooks.Prefix}, Handler: hooks.NewHandler(hooks.HandlerOptions{Service: svc, Dispatcher: dispatcher, Log: log})},
	}
	if cfg.console {
		o := console.Options{Service: svc, Log: log}
		if mx != nil {
			o.Metrics = mx.Families
		}
		faces = append(faces, server.Face{Prefixes: []string{console.Prefix}, Handler: console.NewHandler(o)})
	}
	// The control plane: with --dev, or with a token that every call
	// must carry (docs/admin.md).
	if cfg.dev || cfg.adminToken != "" {
		o := admin.Options{Control: svc, Token: cfg.adminToken, Log: log}
		if cfg.dev {
			o.Clock, o.Advance = devClock, members.Advance
		}
		faces = append(faces, server.Face{Prefixes: []string{"/admin/"}, Handler: admin.NewHandler(o)})
	}
	if mx != nil {
		faces = append(faces, metricsFace(mx))
	}
	handler := server.New(log, store.Ping, faces...)
	if mx != nil {
		handler = server.Observe(handler, func(o server.Observed) { mx.ObserveRequest(o.Method, o.Route, o.Status, o.Duration) })
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	if err := lock.describe("segmentd serve on http://" + ln.Addr().String()); err != nil {
		log.Warn("writing the server's address into the data directory's lock file", "err", err)
	}

	// The data line comes last: tests and `segmentd bench` read the banner
	// up to it.
	fmt.Fprintf(stdout, "segmentd listening on http://%s\n", ln.Addr())
	switch {
	case key != "":
		fmt.Fprintf(stdout, "API key (shown once; it is stored hashed): %s\n", key)
	case cfg.apiKey == "":
		// A restart shows no key: only hashes are kept. Say how to get one.
		fmt.Fprintf(stdout, "API keys are stored hashed and not shown again; create one with: segmentd keys create %s\n", storeArgs(cfg))
	}
	if profiler != nil {
		fmt.Fprintf(stdout, "profiler on http://%s/debug/pprof/\n", profiler)
	}
	fmt.Fprintf(stdout, "data: %s\n", where)

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	snapsDone := make(chan struct{})
	go func() {
		defer close(snapsDone)
		writeSnapshots(ctx, svc, cfg.snapshotInterval, log)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	// Graceful shutdown: the job worker starts no more jobs (those queued
	// stay in the journal for the next start); stop accepting, finish
	// in-flight requests, and write the engine snapshot so the next start
	// need not rebuild; then (svc.Close) the worker finishes the job it
	// runs.
	svc.HoldJobs()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return err
	}
	<-snapsDone
	snapshot(context.Background(), svc, log)
	log.Info("shut down")
	return nil
}

// maxAdminToken bounds --admin-token, which every admin request's header
// carries.
const maxAdminToken = 1024

// millis is d in milliseconds, as the log gives every duration (in an
// attribute named *_ms): slog's JSON handler would write a time.Duration
// as a bare count of nanoseconds.
func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// snapshotFile is the engine snapshot's name in the data directory.
const snapshotFile = "engine.snap"

// clockFile is where a delivering server notes its clock's time every
// second, in the data directory (audience/clock.go).
const clockFile = "clock"

// journalDir is the job journal's directory in the data directory
// (docs/jobs.md).
const journalDir = "jobs"

// ownerFile names, in the data directory, the server that last served
// from it on a shared database: its name on the jobs it accepted
// (docs/jobs.md).
const ownerFile = "jobs-owner"

// resumeSharedJobs takes over at once the jobs that this data directory's
// previous server accepted on the shared database and did not finish, and
// records this server's name for the next start.
func resumeSharedJobs(ctx context.Context, svc *audience.Service, data string) error {
	path := filepath.Join(data, ownerFile)
	prev, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := svc.ResumeSharedJobs(ctx, strings.TrimSpace(string(prev))); err != nil {
		return fmt.Errorf("resuming the jobs of this server's previous run: %w", err)
	}
	return os.WriteFile(path, []byte(svc.Owner()+"\n"), 0o600)
}

// writeSnapshots writes the engine snapshot every interval (when anything
// changed) until ctx ends; interval 0 writes none. A start that loaded no
// snapshot writes one at once: a start after a kill can make again the
// transitions not stored before it only from a snapshot
// (docs/webhooks.md, "Durability").
func writeSnapshots(ctx context.Context, svc *audience.Service, interval time.Duration, log *slog.Logger) {
	if interval <= 0 {
		return
	}
	if _, ok := svc.SnapshotLoaded(); !ok {
		snapshot(ctx, svc, log)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			snapshot(ctx, svc, log)
		}
	}
}

func snapshot(ctx context.Context, svc *audience.Service, log *slog.Logger) {
	info, wrote, err := svc.WriteSnapshot(ctx)
	switch {
	case err != nil:
		log.Error("writing the engine snapshot", "err", err)
	case wrote:
		log.Info("engine snapshot written", "path", info.Path, "bytes", info.Bytes, "changes", info.Mark.Seqs,
			"duration_ms", millis(info.Took), "engine_blocked_ms", millis(info.Blocked))
	}
}

func runAccounts(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "set-webhook-key" {
		return runSetWebhookKey(ctx, args[1:], env, stdout, stderr)
	}
	const use = "usage: segmentd accounts create NAME [--parent NAME] [--data DIR]\n" +
		"       segmentd accounts set-webhook-key NAME --key BASE64 [--data DIR]"
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(stdout, use)
		return nil
	}
	if len(args) == 0 || args[0] != "create" {
		return errors.New(use)
	}
	var cfg config
	var parent string
	fs := flag.NewFlagSet("accounts create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeFlags(fs, &cfg, env)
	fs.StringVar(&parent, "parent", "", "make the account a subuser of this account")
	name, err := parseNamed(fs, args[1:], stdout)
	if err != nil {
		return err
	}
	return withService(ctx, cfg, stderr, func(svc *audience.Service) error {
		a, err := svc.CreateAccount(ctx, name, parent)
		if err != nil {
			return err
		}
		kind := "account"
		if a.ParentID != 0 {
			kind = "subuser of " + parent
		}
		fmt.Fprintf(stdout, "created %s %q (id %d)\n", kind, a.Name, a.ID)
		return nil
	})
}

func runKeys(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	const use = "usage: segmentd keys create [--account NAME] [--name NAME] [--scopes LIST] [--data DIR]\n" +
		"       segmentd keys list [--account NAME] [--data DIR]\n" +
		"       segmentd keys revoke ID [--data DIR]\n" +
		"       (create: --account defaults to the bootstrap account, \"default\"; --scopes to all of them)"
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(stdout, use)
		return nil
	}
	if len(args) == 0 {
		return errors.New(use)
	}
	switch args[0] {
	case "create":
		return runKeysCreate(ctx, args[1:], env, stdout, stderr)
	case "list":
		return runKeysList(ctx, args[1:], env, stdout, stderr)
	case "revoke":
		return runKeysRevoke(ctx, args[1:], env, stdout, stderr)
	}
	return errors.New(use)
}

func runKeysCreate(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	var cfg config
	var account, name, scopes string
	fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeFlags(fs, &cfg, env)
	fs.StringVar(&account, "account", segmentd.DefaultAccountName, "account the key belongs to")
	fs.StringVar(&name, "name", "cli", "a name for the key")
	fs.StringVar(&scopes, "scopes", "", "comma-separated scopes (default: all): "+scopeList())
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	sc, err := segmentd.ParseScopes(scopes)
	if err != nil {
		return err
	}
	return withService(ctx, cfg, stderr, func(svc *audience.Service) error {
		secret, k, err := svc.CreateAPIKey(ctx, account, name, sc)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "created key %d for account %q with scopes %s\n%s\n", k.ID, account, joinScopes(k.Scopes), secret)
		return nil
	})
}

// runKeysList prints one key a line: its id (what keys revoke takes), its
// account, when it was created, its scopes and its name. The secrets are
// not kept, so they cannot be shown.
func runKeysList(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	var cfg config
	var account string
	fs := flag.NewFlagSet("keys list", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeFlags(fs, &cfg, env)
	fs.StringVar(&account, "account", "", "list only this account's keys")
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("keys list: unexpected argument %q", fs.Arg(0))
	}
	return withService(ctx, cfg, stderr, func(svc *audience.Service) error {
		keys, err := svc.APIKeys(ctx, account)
		if err != nil {
			return err
		}
		accts, err := svc.Accounts(ctx)
		if err != nil {
			return err
		}
		names := map[int64]string{}
		for _, a := range accts {
			names[a.ID] = a.Name
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tACCOUNT\tCREATED\tSCOPES\tNAME")
		for _, k := range keys {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", k.ID, strconv.Quote(names[k.AccountID]), k.CreatedAt.UTC().Format(time.RFC3339), joinScopes(k.Scopes), strconv.Quote(k.Name))
		}
		return tw.Flush()
	})
}

// runKeysRevoke deletes a key. A running server looks every request's
// key up in the store, so the key is refused at once there too.
func runKeysRevoke(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("keys revoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeFlags(fs, &cfg, env)
	arg, err := parseNamed(fs, args, stdout)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		return fmt.Errorf("keys revoke: want a key id (a positive number, as keys list shows), not %q", arg)
	}
	return withService(ctx, cfg, stderr, func(svc *audience.Service) error {
		if err := svc.RevokeAPIKey(ctx, id); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked key %d\n", id)
		return nil
	})
}

func scopeList() string { return joinScopes(segmentd.AllScopes) }

func joinScopes(s []segmentd.Scope) string {
	parts := make([]string, len(s))
	for i, x := range s {
		parts[i] = string(x)
	}
	return strings.Join(parts, ",")
}

// parseNamed parses the arguments of a subcommand that names one thing,
// the name before or after its flags (NAME --flag v, or --flag v NAME).
func parseNamed(fs *flag.FlagSet, args []string, stdout io.Writer) (string, error) {
	name := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		name, args = args[0], args[1:]
	}
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return "", err
	}
	if name == "" && fs.NArg() > 0 {
		name = fs.Arg(0)
	}
	return name, nil
}

// withService opens the store, makes sure the default account exists, and
// runs f; used by the administrative subcommands. The Service keeps events
// and webhook keys but has no membership engine: the server rebuilds it
// at start.
func withService(ctx context.Context, cfg config, stderr io.Writer, f func(*audience.Service) error) error {
	store, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer store.Close()
	svc := audience.New(store, segmentd.SystemClock{}, slog.New(slog.NewTextHandler(stderr, nil)), audience.Config{Events: store, WebhookKeys: store})
	defer svc.Close()
	if _, err := svc.EnsureDefaultAccount(ctx); err != nil {
		return err
	}
	return f(svc)
}

// checkPublicURL accepts "" or an absolute http(s) URL of a host, with no
// query or fragment (a path, such as a proxy's prefix, is kept).
func checkPublicURL(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("--public-url must be an http:// or https:// URL such as https://segmentd.example.com, not %s", segmentd.Quote(v))
	}
	return nil
}
