package audience

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/segmentd/segmentd"
)

// Following a shared store (Config.Shared). When several servers share one
// store, a write committed by another server reaches this server's engine
// only through the store's change history (Store.Changes). So in a shared
// store the engine learns every write, this server's own included, from
// the history: after each write the Service catches the account up (sync)
// before it answers, and a follower goroutine catches up the accounts that
// other servers wrote, woken by the store's notifications
// (Config.Notifier) or, failing those, by polling the change marks.
//
// Each account's point is where the engine stands in its history: the
// change number and the event sequence number everything up to which the
// engine holds. A catch-up of an account holds that account's lock, so two
// never apply the same changes; one account's catch-up never waits for
// another's.

// point is where the engine stands in an account's history.
type point struct {
	mu            sync.Mutex
	change, event int64
	known         bool // set once the engine holds the account (rebuilt, loaded or caught up from the start)

	// ownMu guards own and missed. It is not mu: an upsert's store stage
	// counts itself in (ownBegin) while the previous upsert's engine
	// update holds mu (applyOwn), and would wait for it. followUp holds
	// ownMu around its check and its catch-up, taking mu inside it;
	// nothing takes ownMu while holding mu.
	ownMu  sync.Mutex
	own    int  // this server's pipelined upserts of the account in flight (ownBegin)
	missed bool // the follower left the account alone while own > 0 (followUp)

	// The ids of the last reflectedJobs jobs of this server's the engine
	// is known to hold (noteReflected), a ring made at the first: reading
	// one of them finished needs no catch-up (Service.job).
	reflected []string
	next      int
}

// reflectedJobs is how many of an account's jobs noteReflected remembers:
// a client that polls its jobs in turn lags the server by the jobs it has
// not read yet, and a job read past the ring costs one catch-up. Under a
// loaded machine a test's poller fell 16 jobs behind.
const reflectedJobs = 64

// points holds each account's point.
type points struct {
	mu sync.Mutex
	m  map[int64]*point
}

func (ps *points) get(acct int64) *point {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	if ps.m == nil {
		ps.m = map[int64]*point{}
	}
	p := ps.m[acct]
	if p == nil {
		p = &point{}
		ps.m[acct] = p
	}
	return p
}

// set records where the engine stands after a rebuild or a snapshot load.
func (ps *points) set(acct, change, event int64) {
	p := ps.get(acct)
	p.mu.Lock()
	p.change, p.event, p.known = change, event, true
	p.mu.Unlock()
}

// sync brings the engine up to date with an account's history in a shared
// store: once it returns, every write committed before it was called, by
// any server, is in the engine. In a store of its own it does nothing: the
// Service gives the engine each of its writes directly.
func (s *Service) sync(ctx context.Context, acct int64) error {
	if !s.cfg.Shared || s.members == nil {
		return nil
	}
	p := s.follow.get(acct)
	p.mu.Lock()
	defer p.mu.Unlock()
	return s.syncLocked(ctx, acct, p)
}

// syncLocked is sync with the account's point p locked.
func (s *Service) syncLocked(ctx context.Context, acct int64, p *point) error {
	now := s.clock.Now()
	if !p.known {
		// An account this server has not seen (another server created
		// it): its whole history is its contents.
		if err := s.reloadCatalog(ctx, acct, now); err != nil {
			return err
		}
		p.known = true
	}
	change, event, err := s.catchUp(ctx, acct, p.change, p.event, now, nil)
	p.change, p.event = change, event
	return err
}

// ownBegin counts one of this server's pipelined upserts of acct in flight
// (runAccountJobs), from before its transaction until its engine update
// has run (ownEnd). Meanwhile the follower leaves the account alone
// (followUp): it would read the upsert back from the history, contacts
// and all, as soon as it committed (the store's notification wakes it),
// ahead of the engine update that gives the engine the same contacts from
// memory (applyOwn). At 200,000 contacts on Citus those reads were most
// of the database's CPU over the contacts (docs/postgres.md, "Session
// 15").
//
// It takes the point's ownMu, not its lock: the account's previous
// upsert's engine update holds that (applyOwn), and the store stage
// waited for it, 7 % of its time at a million contacts on PostgreSQL
// (docs/postgres.md, "Session 18").
func (s *Service) ownBegin(acct int64) {
	p := s.follow.get(acct)
	p.ownMu.Lock()
	p.own++
	p.ownMu.Unlock()
}

// ownEnd ends what ownBegin counted, and reports whether the follower
// should now catch the account up: it was asked to while upserts were in
// flight, and none is left.
func (s *Service) ownEnd(acct int64) (catchUp bool) {
	p := s.follow.get(acct)
	p.ownMu.Lock()
	defer p.ownMu.Unlock()
	p.own--
	if p.own == 0 && p.missed {
		p.missed = false
		return true
	}
	return false
}

// noteReflected records that the engine holds job id of acct, a
// pipelined upsert of this server's whose engine update ran, before its
// result is stored: a client that polls its jobs in turn then reads each
// finished without a catch-up, which, the account's next upsert having
// committed meanwhile, read that one back from the history ahead of its
// own engine update.
func (s *Service) noteReflected(acct int64, id string) {
	p := s.follow.get(acct)
	p.mu.Lock()
	if p.reflected == nil {
		p.reflected = make([]string, reflectedJobs)
	}
	p.reflected[p.next] = id
	p.next = (p.next + 1) % len(p.reflected)
	p.mu.Unlock()
}

// isReflected reports whether noteReflected recorded job id of acct among
// the last it did.
func (s *Service) isReflected(acct int64, id string) bool {
	p := s.follow.get(acct)
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.known && slices.Contains(p.reflected, id)
}

// followUp is the follower's sync: it leaves alone an account whose own
// upserts this server has in flight (ownBegin), noting that it was asked,
// and brings the rest up to date. The check and the catch-up hold the
// point's ownMu together, so an upsert that begins meanwhile commits
// after the catch-up has read the history.
func (s *Service) followUp(ctx context.Context, acct int64) error {
	if !s.cfg.Shared || s.members == nil {
		return nil
	}
	p := s.follow.get(acct)
	p.ownMu.Lock()
	defer p.ownMu.Unlock()
	if p.own > 0 {
		p.missed = true
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return s.syncLocked(ctx, acct, p)
}

// applyOwn gives the engine a write of this server's, one that took change
// number change and stored events up to number eventsThrough, without
// reading it back from the history, when the engine stands just before it
// (the change number before it): then the write is all that change holds,
// and apply brings it exactly as a catch-up would. It reports whether the
// engine holds the write now; when not (another write came between, or
// the store gave no change number), a catch-up brings it.
func (s *Service) applyOwn(acct, change, eventsThrough int64, apply func()) bool {
	if !s.cfg.Shared || s.members == nil || change == 0 {
		return false
	}
	p := s.follow.get(acct)
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case !p.known || p.change >= change:
		return p.known
	case p.change != change-1:
		return false
	}
	apply()
	p.change, p.event = change, max(p.event, eventsThrough)
	return true
}

// reflect makes the engine reflect a committed write of acct: apply, the
// write's own engine update, in a store of its own; a catch-up with the
// history in a shared store, which brings other servers' writes as well.
// The transitions the update made are stored before it returns
// (docs/webhooks.md).
func (s *Service) reflect(ctx context.Context, acct int64, apply func()) error {
	defer s.flushOutbox()
	if s.cfg.Shared {
		return s.sync(ctx, acct)
	}
	if s.members != nil && apply != nil {
		apply()
	}
	return nil
}

// reflectErr is reflect for an engine update that can fail.
func (s *Service) reflectErr(ctx context.Context, acct int64, apply func() error) error {
	defer s.flushOutbox()
	if s.cfg.Shared {
		return s.sync(ctx, acct)
	}
	if s.members == nil {
		return nil
	}
	return apply()
}

// defaultFollowInterval is how often the follower polls the change marks
// when no notification woke it.
const defaultFollowInterval = time.Second

// runFollower catches up, until ctx ends, the accounts other servers write:
// those the notifier names at once, and every account whose change number
// moved at each poll.
func (s *Service) runFollower(ctx context.Context) {
	if n := s.cfg.Notifier; n != nil {
		go func() {
			err := n.Listen(ctx, s.nudge)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("change notifications stopped; following by polling", "err", err)
			}
		}()
	}
	interval := s.cfg.FollowInterval
	if interval <= 0 {
		interval = defaultFollowInterval
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case acct := <-s.wake:
			if err := s.followUp(ctx, acct); err != nil && ctx.Err() == nil {
				s.log.Warn("following an account's changes", "account", acct, "err", err)
			}
		case <-tick.C:
			if err := s.pollChanges(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("polling the change history", "err", err)
			}
		}
	}
}

// nudge asks the follower to catch up an account soon, without waiting
// for it.
func (s *Service) nudge(acct int64) {
	select {
	case s.wake <- acct:
	default: // the poll catches up what a full queue drops
	}
}

// pollChanges catches up every account whose change number moved past
// where the engine stands.
func (s *Service) pollChanges(ctx context.Context) error {
	mark, err := s.store.ChangeMark(ctx)
	if err != nil {
		return err
	}
	// An account that had changes and is no longer in the mark was
	// deleted (a store whose mark keeps deleted accounts says so in their
	// history instead: AccountChanges.Dropped).
	for _, acct := range s.follow.missing(mark) {
		if _, err := s.store.Account(ctx, acct); segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
			s.forgetAccount(acct)
			s.follow.remove(acct)
		} else if err != nil {
			return err
		}
	}
	for acct, seq := range mark.Seqs {
		p := s.follow.get(acct)
		p.mu.Lock()
		behind := !p.known || p.change < seq
		p.mu.Unlock()
		if behind {
			if err := s.followUp(ctx, acct); err != nil {
				return err
			}
		}
	}
	return nil
}
