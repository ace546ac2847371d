package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/postgres"
	"github.com/segmentd/segmentd/sqlite"
)

// store is what segmentd runs on: the embedded SQLite store, or the
// PostgreSQL store that several servers may share (--database-url).
type store interface {
	segmentd.Store
	segmentd.SegmentStore
	segmentd.CCSegmentStore
	segmentd.EventStore
	segmentd.WebhookKeyStore
	segmentd.ExportStore
	segmentd.HookStore
	segmentd.HistoryStore
	segmentd.ImportStore
	Ping(context.Context) error
}

// opened is an open store and where it is.
type opened struct {
	store
	// where names it for people: the SQLite file, or the database URL
	// with its password removed.
	where string
	// shared is the PostgreSQL store, which other servers may write to;
	// nil for SQLite, which one server holds.
	shared *postgres.Store
}

// isPostgres reports whether a --database-url selects PostgreSQL.
func isPostgres(u string) bool {
	return strings.HasPrefix(u, "postgres://") || strings.HasPrefix(u, "postgresql://")
}

// dataPath makes the configured data directory and returns the absolute
// path of the SQLite database in it. With PostgreSQL the directory holds
// only the engine snapshot and the lock.
func dataPath(cfg config) (string, error) {
	if cfg.databaseURL != "" && !isPostgres(cfg.databaseURL) {
		return "", fmt.Errorf("--database-url must be a postgres:// or postgresql:// URL, not %s", segmentd.Quote(redact(cfg.databaseURL)))
	}
	if err := os.MkdirAll(cfg.data, 0o700); err != nil {
		return "", err
	}
	return filepath.Abs(filepath.Join(cfg.data, "segmentd.db"))
}

// openStore opens the configured store. A PostgreSQL server that cannot be
// reached is tried again, backing off, for --database-wait, and then the
// error names the URL without its password; errors the server answers
// (a wrong password, a missing database) are not tried again.
func openStore(ctx context.Context, cfg config, log io.Writer) (opened, error) {
	path, err := dataPath(cfg)
	if err != nil {
		return opened{}, err
	}
	if cfg.databaseURL == "" {
		st, err := sqlite.Open(ctx, path)
		if err != nil {
			return opened{}, fmt.Errorf("opening %s: %w", path, err)
		}
		return opened{store: st, where: path}, nil
	}
	where := redact(cfg.databaseURL)
	deadline := time.Now().Add(cfg.databaseWait)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		st, err := postgres.Open(ctx, cfg.databaseURL, postgres.Options{MaxConns: int32(cfg.databasePool)})
		if err == nil {
			return opened{store: st, where: where, shared: st}, nil
		}
		left := time.Until(deadline)
		if segmentd.ErrorKindOf(err) != segmentd.KindUnavailable || left <= 0 {
			return opened{}, fmt.Errorf("opening the PostgreSQL database %s: %w", where, err)
		}
		wait = min(wait, left)
		fmt.Fprintf(log, "segmentd: the PostgreSQL database %s cannot be reached yet; trying again in %v\n", where, wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return opened{}, ctx.Err()
		}
	}
}

// redact removes the password from a database URL.
func redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(a URL that does not parse)"
	}
	if _, has := p.User.Password(); has {
		p.User = url.UserPassword(p.User.Username(), "xxxxx")
	}
	return p.String()
}

// configure fills the Service's store seams from an open store: every
// seam on SQLite; on PostgreSQL, also those of a store other servers share
// (following its change history, its job queue).
func (o opened) configure(c *audience.Config) {
	c.Segments, c.CCSegments, c.Events, c.WebhookKeys = o.store, o.store, o.store, o.store
	c.Exports, c.Hooks, c.Imports = o.store, o.store, o.store
	if o.shared != nil {
		c.Shared, c.Notifier, c.Jobs = true, o.shared, o.shared
	}
}

// warmEvents loads what the SQLite store keeps in memory for event
// ingestion (sg_event_id hashes), beside the engine's load; the
// PostgreSQL store keeps nothing so.
func (o opened) warmEvents(ctx context.Context, log *slog.Logger) {
	w, ok := o.store.(interface{ WarmEvents(context.Context) error })
	if !ok {
		return
	}
	start := time.Now()
	if err := w.WarmEvents(ctx); err != nil {
		log.Warn("loading the events' sg_event_id set (the first webhook batch will)", "err", err)
		return
	}
	log.Info("events' sg_event_id set loaded", "duration_ms", millis(time.Since(start)))
}

// packEventRows packs, in the background, the PostgreSQL store's event
// rows stored before its packed blocks (postgres.Store.PackEventRows,
// docs/postgres.md "Packing the rows stored before"), logging how far it
// got every packLogEvery, and tries again after a failure (a database
// outage); SQLite packs its own when it opens. It returns
// a function that stops the packing and waits for it to end, to call
// before the store closes: a transaction cut short rolls back, and the
// next start goes on. With hold (for tests only) it stops after its first
// transaction, holding the packing's lock, until the server stops.
func (o opened) packEventRows(ctx context.Context, log *slog.Logger, hold bool) (stop func()) {
	if o.shared == nil {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		var logged time.Time // the first transaction is logged at once
		waiting := false
		total := 0 // packed by the runs before this one
		progress := func(p postgres.PackProgress) {
			switch {
			case p.Waiting && !waiting:
				waiting = true
				log.Info("another server packs the event rows stored before event blocks; this one takes over if it stops")
			case !p.Waiting && hold:
				log.Warn("packing of event rows held after its first transaction", "events", p.Packed)
				<-ctx.Done()
			case !p.Waiting && time.Since(logged) >= packLogEvery:
				logged = time.Now()
				log.Info("packing the event rows stored before event blocks", "events", total+p.Packed, "account", p.Account, "duration_ms", millis(time.Since(start)))
			}
		}
		for {
			n, err := o.shared.PackEventRows(ctx, progress)
			total += n
			switch {
			case ctx.Err() != nil:
				if total > 0 {
					log.Info("packing the event rows stopped; the next start goes on", "events", total)
				}
				return
			case err == nil:
				if total > 0 {
					log.Info("event rows stored before event blocks packed", "events", total, "duration_ms", millis(time.Since(start)))
				}
				return
			}
			// A database outage, say: the rows left are the state, and a
			// later run goes on from them.
			log.Error("packing the event rows stored before event blocks; trying again later", "events", total, "retry_ms", millis(packRetryAfter), "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(packRetryAfter):
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// packLogEvery is how often packEventRows logs its progress, and
// packRetryAfter how long it waits after a failed run.
const (
	packLogEvery   = 10 * time.Second
	packRetryAfter = time.Minute
)

// slowOutbox holds up every store of transitions by delay
// (SEGMENTD_TEST_ONLY_OUTBOX_DELAY, for tests only).
type slowOutbox struct {
	segmentd.HookStore
	delay time.Duration
}

func (s slowOutbox) AppendTransitions(ctx context.Context, acct int64, ts []segmentd.Transition, deliver []bool, history bool) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(s.delay):
	}
	return s.HookStore.AppendTransitions(ctx, acct, ts, deliver, history)
}

// gatedLock takes the delivery lock only once a file exists
// (SEGMENTD_TEST_ONLY_ELECT_AFTER, for tests only).
type gatedLock struct {
	segmentd.DeliveryLock
	after string
}

func (g gatedLock) TryLockDelivery(ctx context.Context) (bool, <-chan struct{}, func(), error) {
	if _, err := os.Stat(g.after); err != nil {
		return false, nil, nil, nil
	}
	return g.DeliveryLock.TryLockDelivery(ctx)
}

// slowExports holds up every chunk st stores by delay
// (SEGMENTD_TEST_ONLY_EXPORT_DELAY, for tests only), keeping what else st
// is (an ExportTaker on a shared store).
func slowExports(st segmentd.ExportStore, delay time.Duration) segmentd.ExportStore {
	slow := slowExportStore{st, delay}
	if taker, ok := st.(segmentd.ExportTaker); ok {
		return struct {
			slowExportStore
			segmentd.ExportTaker
		}{slow, taker}
	}
	return slow
}

type slowExportStore struct {
	segmentd.ExportStore
	delay time.Duration
}

func (s slowExportStore) AddExportChunk(ctx context.Context, acct int64, id string, file, seq int, data []byte) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(s.delay):
	}
	return s.ExportStore.AddExportChunk(ctx, acct, id, file, seq, data)
}
