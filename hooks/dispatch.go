package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentd/segmentd"
)

// The dispatcher (docs/webhooks.md): it takes the engine's transitions
// (segmentd.Outbox), stores those some subscription wants in the store's
// outbox, and delivers each subscription's from its own goroutine, in
// order, one message at a time, retrying with backoff until the retry
// horizon.

// Options configures a Dispatcher.
type Options struct {
	Store segmentd.HookStore
	Clock segmentd.Clock
	Log   *slog.Logger
	// Timeout bounds one attempt (default 10 s).
	Timeout time.Duration
	// Horizon is how long a subscription may fail without a success
	// before it is marked failing (default 24 h).
	Horizon time.Duration
	// MinDelay and MaxDelay bound the delay before a retry, which doubles
	// from MinDelay (defaults 5 s and 1 h), each drawn between half and
	// all of it.
	MinDelay, MaxDelay time.Duration
	// Poll is how often a subscription waiting for its next attempt
	// looks at the clock (default 1 s): the clock may be a dev clock that
	// moves by jumps.
	Poll time.Duration
	// MaxBatch bounds the transitions of one message (default 100), and
	// MaxBody its body in bytes (default 256 KiB).
	MaxBatch, MaxBody int
	// Client sends the messages (default: a client of its own).
	Client *http.Client
	// Observe, when set, is told of every delivery attempt, test messages
	// included (metrics).
	Observe func(segmentd.Delivery)
	// History, when set, keeps every transition of every account in the
	// membership history (docs/history.md) for Retention, pruned in the
	// background every PruneEvery (default 10 min).
	History    segmentd.HistoryStore
	Retention  time.Duration
	PruneEvery time.Duration
	// Lock, when set, elects the one server of a shared store that
	// delivers and keeps the history: this dispatcher does so only while
	// it holds the lock, tries to take it every Elect (default 5 s), and
	// while it holds it reloads the subscriptions every Elect, since other
	// servers' API calls change them. Nil: this server always delivers.
	Lock  segmentd.DeliveryLock
	Elect time.Duration
}

// Limits of the messages.
const (
	DefaultMaxBatch = 100
	DefaultMaxBody  = 256 << 10
	// keepDeliveries is how many attempts a subscription's log keeps.
	keepDeliveries = segmentd.MaxHookDeliveriesKept
	// readAhead is how many outbox rows a subscription reads at once.
	readAhead = 1000
)

// Dispatcher delivers segment transitions to webhook subscriptions.
type Dispatcher struct {
	o Options

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []batch // recorded, not yet stored
	queued  uint64  // batches ever recorded
	written uint64  // batches ever stored (or dropped: nobody wanted them)
	subs    map[int64][]segmentd.Subscription
	workers map[string]*worker
	closed  bool
	// watched is the accounts of subs, as a copy the engine reads
	// without the lock (Wants).
	watched atomic.Pointer[map[int64]bool]
	// leading: this server delivers (always without Options.Lock; while
	// it holds the lock with it). Written under mu.
	leading atomic.Bool
	// standby and takeover, when set (OnTakeover), are told when this
	// server stops delivering and when it takes the delivery lock. Under
	// mu.
	standby  func(context.Context)
	takeover func(context.Context) (bool, error)
	// steady: this server has delivered since Start without a break, so
	// every transition its engine made since it was loaded is stored or
	// queued (SnapshotMark).
	steady atomic.Bool

	wakeWriter chan struct{}
	ctx        context.Context
	stop       context.CancelFunc
	wg         sync.WaitGroup
}

// batch is one Record call's transitions.
type batch struct {
	acct int64
	ts   []segmentd.Transition
}

var _ segmentd.Outbox = (*Dispatcher)(nil)

// New returns a Dispatcher; Start starts it.
func New(o Options) *Dispatcher {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Horizon <= 0 {
		o.Horizon = 24 * time.Hour
	}
	if o.MinDelay <= 0 {
		o.MinDelay = 5 * time.Second
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = time.Hour
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	if o.MaxBody <= 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.Elect <= 0 {
		o.Elect = 5 * time.Second
	}
	if o.PruneEvery <= 0 {
		o.PruneEvery = 10 * time.Minute
	}
	if o.Retention <= 0 {
		o.History = nil
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	d := &Dispatcher{o: o, subs: map[int64][]segmentd.Subscription{}, workers: map[string]*worker{}, wakeWriter: make(chan struct{}, 1)}
	d.cond = sync.NewCond(&d.mu)
	d.ctx, d.stop = context.WithCancel(context.Background())
	return d
}

// Start loads every subscription and starts delivering.
func (d *Dispatcher) Start(ctx context.Context) error {
	subs, err := d.o.Store.Subscriptions(ctx, 0)
	if err != nil {
		return err
	}
	d.mu.Lock()
	for _, s := range subs {
		d.subs[s.AccountID] = append(d.subs[s.AccountID], s)
	}
	d.publishWatched()
	if d.o.Lock == nil {
		d.leading.Store(true)
		d.steady.Store(true)
		for _, s := range subs {
			d.startWorker(s)
		}
	}
	d.mu.Unlock()
	d.wg.Go(d.writer)
	if d.o.Lock != nil {
		// The first try is made before the server serves, so that a
		// server alone on its database delivers from its first write.
		ok, lost, release, err := d.o.Lock.TryLockDelivery(ctx)
		if err != nil {
			d.o.Log.Warn("taking the webhook delivery lock", "err", err)
		}
		if ok {
			d.o.Log.Info("this server delivers webhooks and keeps the membership history (it holds the delivery lock)")
			d.setLeading(true)
			d.steady.Store(true)
		}
		d.wg.Go(func() {
			if ok {
				d.hold(lost, release)
			}
			d.elect()
		})
	}
	if d.o.History != nil {
		// After the lock's first try: a server that took it prunes at
		// start.
		d.wg.Go(d.pruner)
	}
	return nil
}

// Leading reports whether this server delivers webhooks now.
func (d *Dispatcher) Leading() bool { return d.leading.Load() }

// elect takes the delivery lock when no other server holds it, delivers
// while it holds it, and stops when it is lost.
func (d *Dispatcher) elect() {
	for d.ctx.Err() == nil {
		ok, lost, release, err := d.o.Lock.TryLockDelivery(d.ctx)
		if err != nil && d.ctx.Err() == nil {
			d.o.Log.Warn("taking the webhook delivery lock", "err", err)
		}
		if ok {
			d.o.Log.Info("this server delivers webhooks and keeps the membership history (it holds the delivery lock)")
			d.resync()
			d.setLeading(true)
			d.mu.Lock()
			take := d.takeover
			d.mu.Unlock()
			d.takeOverWhileHeld(take, lost)
			d.hold(lost, release)
			continue
		}
		select {
		case <-d.ctx.Done():
		case <-time.After(d.o.Elect):
		}
	}
}

// hold delivers until the lock is lost or the dispatcher stops, then
// stops delivering and gives the lock up.
func (d *Dispatcher) hold(lost <-chan struct{}, release func()) {
	d.lead(lost)
	d.setLeading(false)
	release()
	if d.ctx.Err() == nil {
		d.o.Log.Warn("lost the webhook delivery lock; another server may take it")
		d.mu.Lock()
		standby := d.standby
		d.mu.Unlock()
		if standby != nil {
			standby(d.ctx)
		}
	}
}

// OnTakeover sets what to tell when this server stops delivering while it
// runs (standby) and when it takes the delivery lock from another server
// (takeover: it makes good the transitions the old holder did not store,
// docs/webhooks.md). When this server delivers already, takeover is called
// at once, in the background.
// takeover reports whether it made good what was not stored: only then
// is this server steady again (SnapshotMark).
func (d *Dispatcher) OnTakeover(standby func(context.Context), takeover func(context.Context) (bool, error)) {
	d.mu.Lock()
	d.standby, d.takeover = standby, takeover
	leading := d.leading.Load()
	d.mu.Unlock()
	if leading {
		d.wg.Go(func() { d.takeOver(takeover) })
	}
}

// takeOverWhileHeld runs takeOver with a context that ends when the lock
// is lost: a takeover may take long (it waits for the engine's load and
// reads every account's history), and one that goes on after another
// server took the lock would store transitions beside that server's.
func (d *Dispatcher) takeOverWhileHeld(take func(context.Context) (bool, error), lost <-chan struct{}) {
	ctx, cancel := context.WithCancel(d.ctx)
	defer cancel()
	go func() {
		select {
		case <-lost:
			cancel()
		case <-ctx.Done():
		}
	}()
	d.takeOverIn(ctx, take)
}

// takeOver calls take, when set, after this server took the lock; once
// take made good what was not stored, this server is steady. A take that
// reconciled nothing (this server kept nothing to make good: it delivered
// already) leaves steady as it was.
func (d *Dispatcher) takeOver(take func(context.Context) (bool, error)) { d.takeOverIn(d.ctx, take) }

func (d *Dispatcher) takeOverIn(ctx context.Context, take func(context.Context) (bool, error)) {
	if take == nil {
		return
	}
	reconciled, err := take(ctx)
	if err != nil {
		if ctx.Err() == nil {
			d.o.Log.Error("making good the transitions the last deliverer did not store; some may be lost", "err", err)
		}
		return
	}
	// What this server's engine holds is now what the stored transitions
	// say: its snapshots may carry marks again (SnapshotMark).
	if reconciled && d.leading.Load() {
		d.steady.Store(true)
	}
}

// lead reloads the subscriptions every Elect until the lock is lost or
// the dispatcher stops.
func (d *Dispatcher) lead(lost <-chan struct{}) {
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-lost:
			return
		case <-time.After(d.o.Elect):
			d.resync()
		}
	}
}

// setLeading starts or stops delivering: the subscriptions' goroutines,
// and the engine's transitions taken (Record, Wants).
func (d *Dispatcher) setLeading(on bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.leading.Store(on)
	if !on {
		d.steady.Store(false)
	}
	if on {
		for _, subs := range d.subs {
			for _, s := range subs {
				d.startWorker(s)
			}
		}
		return
	}
	for k, w := range d.workers {
		w.cancel()
		delete(d.workers, k)
	}
}

// resync reloads every subscription and applies the accounts' that
// changed.
func (d *Dispatcher) resync() {
	subs, err := d.o.Store.Subscriptions(d.ctx, 0)
	if err != nil {
		if d.ctx.Err() == nil {
			d.o.Log.Error("reloading webhook subscriptions", "err", err)
		}
		return
	}
	by := map[int64][]segmentd.Subscription{}
	for _, s := range subs {
		by[s.AccountID] = append(by[s.AccountID], s)
	}
	d.mu.Lock()
	var changed []int64
	for acct := range d.subs {
		if _, ok := by[acct]; !ok {
			changed = append(changed, acct)
		}
	}
	for acct, ss := range by {
		if !sameSubscriptions(d.subs[acct], ss) {
			changed = append(changed, acct)
		}
	}
	d.mu.Unlock()
	for _, acct := range changed {
		d.apply(acct, by[acct])
	}
}

func sameSubscriptions(a, b []segmentd.Subscription) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].ID != b[i].ID || !a[i].UpdatedAt.Equal(b[i].UpdatedAt) || a[i].Status != b[i].Status {
			return false
		}
	}
	return true
}

// Close stops delivering, after the attempts under way (each bounded by
// the timeout). Transitions recorded but not stored are lost with the
// process, as they would be with a kill.
func (d *Dispatcher) Close() {
	d.mu.Lock()
	d.closed = true
	d.cond.Broadcast()
	d.mu.Unlock()
	d.stop()
	d.wg.Wait()
}

// Record implements segmentd.Outbox: it queues and returns.
func (d *Dispatcher) Record(acct int64, ts []segmentd.Transition) {
	if !d.leading.Load() {
		return // another server delivers
	}
	d.mu.Lock()
	if len(d.subs[acct]) == 0 && d.o.History == nil {
		d.mu.Unlock()
		return // nobody subscribed and no history: nothing to keep
	}
	d.queue = append(d.queue, batch{acct, ts})
	d.queued++
	d.mu.Unlock()
	select {
	case d.wakeWriter <- struct{}{}:
	default:
	}
}

// Wants implements segmentd.Outbox: with the history kept, every
// account's transitions are wanted; without it, those of an account with
// a subscription, read from the copy Changed publishes.
func (d *Dispatcher) Wants(acct int64) bool {
	if !d.leading.Load() {
		return false
	}
	if d.o.History != nil {
		return true
	}
	m := d.watched.Load()
	return m != nil && (*m)[acct]
}

// publishWatched publishes the accounts of d.subs for Wants; d.mu is
// held.
func (d *Dispatcher) publishWatched() {
	m := make(map[int64]bool, len(d.subs))
	for acct := range d.subs {
		m[acct] = true
	}
	d.watched.Store(&m)
}

// Flush implements segmentd.Outbox.
func (d *Dispatcher) Flush(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	target := d.queued
	for d.written < target && !d.closed && ctx.Err() == nil {
		d.cond.Wait()
	}
	if d.written < target {
		return errors.New("hooks: the dispatcher stopped before storing the transitions")
	}
	return nil
}

// SnapshotMark is the transition mark of an account's engine state in a
// snapshot (docs/webhooks.md, "Durability"): called while the account can
// make no transition, it stores every transition recorded so far and
// returns the number of the account's last one. ok is false when the
// history is not kept, or when this server has not delivered without a
// break since it started (another server stored transitions meanwhile, or
// none did): the snapshot's state then says nothing of what was stored.
func (d *Dispatcher) SnapshotMark(ctx context.Context, acct int64) (mark int64, ok bool) {
	if d.o.History == nil || !d.steady.Load() {
		return 0, false
	}
	if err := d.Flush(ctx); err != nil {
		return 0, false
	}
	mark, err := d.o.History.HistoryMark(ctx, acct)
	if err != nil || !d.steady.Load() {
		if err != nil {
			d.o.Log.Warn("reading the account's last transition number for the engine snapshot", "account", acct, "err", err)
		}
		return 0, false
	}
	return mark, true
}

// Changed implements segmentd.Outbox: it reloads the account's
// subscriptions, starts and stops their goroutines, and wakes them.
func (d *Dispatcher) Changed(acct int64) {
	subs, err := d.o.Store.Subscriptions(d.ctx, acct)
	if err != nil {
		d.o.Log.Error("reloading webhook subscriptions", "account", acct, "err", err)
		return
	}
	d.apply(acct, subs)
}

// apply makes an account's subscriptions subs.
func (d *Dispatcher) apply(acct int64, subs []segmentd.Subscription) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.subs[acct] = subs
	if len(subs) == 0 {
		delete(d.subs, acct)
	}
	d.publishWatched()
	live := map[string]bool{}
	for _, s := range subs {
		live[workerKey(acct, s.ID)] = true
		d.startWorker(s)
	}
	for k, w := range d.workers {
		if w.acct == acct && !live[k] {
			w.cancel()
			delete(d.workers, k)
		}
	}
	for _, w := range d.workers {
		if w.acct == acct {
			w.poke()
		}
	}
}

func workerKey(acct int64, id string) string { return strconv.FormatInt(acct, 10) + "/" + id }

// startWorker starts a subscription's goroutine unless it runs. d.mu is
// held.
func (d *Dispatcher) startWorker(s segmentd.Subscription) {
	k := workerKey(s.AccountID, s.ID)
	if d.workers[k] != nil || !d.leading.Load() {
		return
	}
	ctx, cancel := context.WithCancel(d.ctx)
	w := &worker{d: d, acct: s.AccountID, id: s.ID, wake: make(chan struct{}, 1), cancel: cancel}
	d.workers[k] = w
	d.wg.Go(func() { w.run(ctx) })
}

// writer stores the recorded transitions that some subscription wants,
// account by account in the order they were recorded, and wakes the
// account's subscriptions.
func (d *Dispatcher) writer() {
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.wakeWriter:
		}
		d.mu.Lock()
		q := d.queue
		d.queue = nil
		subs := make(map[int64][]segmentd.Subscription, len(d.subs))
		for a, s := range d.subs {
			subs[a] = s
		}
		d.mu.Unlock()
		if len(q) == 0 {
			continue
		}
		// Consecutive batches of one account go in one transaction.
		woken := map[int64]bool{}
		for i := 0; i < len(q); {
			acct := q[i].acct
			var keep []segmentd.Transition
			var deliver []bool // with the history: which of keep the outbox takes
			j := i
			for ; j < len(q) && q[j].acct == acct; j++ {
				for _, t := range q[j].ts {
					w := wanted(subs[acct], &t)
					if d.o.History != nil {
						keep, deliver = append(keep, t), append(deliver, w)
					} else if w {
						keep = append(keep, t)
					}
				}
			}
			for len(keep) > 0 {
				err := d.o.Store.AppendTransitions(d.ctx, acct, keep, deliver, d.o.History != nil)
				if err == nil {
					woken[acct] = true
					break
				}
				if errors.Is(err, segmentd.ErrDeliveryFenced) {
					// Another server took the lock over and stores them
					// (its engine made them too); this one's lock is lost.
					d.o.Log.Warn("another server took webhook delivery over: these transitions are left to it", "account", acct, "transitions", len(keep))
					break
				}
				if d.ctx.Err() != nil {
					return
				}
				d.o.Log.Error("storing segment transitions for webhooks; retrying", "account", acct, "transitions", len(keep), "err", err)
				select {
				case <-d.ctx.Done():
					return
				case <-time.After(time.Second):
				}
			}
			i = j
		}
		d.mu.Lock()
		d.written += uint64(len(q))
		d.cond.Broadcast()
		for _, w := range d.workers {
			if woken[w.acct] {
				w.poke()
			}
		}
		d.mu.Unlock()
	}
}

func wanted(subs []segmentd.Subscription, t *segmentd.Transition) bool {
	for i := range subs {
		if subs[i].Wants(t) {
			return true
		}
	}
	return false
}

// worker delivers one subscription.
type worker struct {
	d      *Dispatcher
	acct   int64
	id     string
	wake   chan struct{}
	cancel context.CancelFunc
}

func (w *worker) poke() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run delivers until ctx ends: each turn sends the next message, or waits
// for a poke or, when a retry is due later, for the clock.
func (w *worker) run(ctx context.Context) {
	for ctx.Err() == nil {
		wait, err := w.turn(ctx)
		switch {
		case errors.Is(err, segmentd.ErrDeliveryFenced):
			// Another server took the lock over; it is lost, and this
			// goroutine is stopped with the others.
			w.d.o.Log.Warn("another server took webhook delivery over: its delivery state is left to it", "account", w.acct, "subscription", w.id)
			wait = -1
		case err != nil && ctx.Err() == nil:
			w.d.o.Log.Error("delivering webhooks", "account", w.acct, "subscription", w.id, "err", err)
			wait = w.d.o.Poll
		}
		if wait == 0 {
			continue
		}
		var tick <-chan time.Time
		if wait > 0 {
			tick = time.After(wait)
		}
		select {
		case <-ctx.Done():
		case <-w.wake:
		case <-tick:
		}
	}
}

// turn does the subscription's next step: it returns 0 to go on at once,
// a real duration to wait for at most (a retry due later: the clock is
// looked at again then), or -1 to wait for a poke.
func (w *worker) turn(ctx context.Context) (time.Duration, error) {
	d := w.d
	sub, err := d.o.Store.Subscription(ctx, w.acct, w.id)
	if segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
		return -1, nil // deleted: Changed stops this goroutine
	}
	if err != nil {
		return 0, err
	}
	if sub.Status != segmentd.HookActive {
		return -1, nil
	}
	now := d.o.Clock.Now()
	if !sub.NextAttempt.IsZero() && now.Before(sub.NextAttempt) {
		return d.o.Poll, nil
	}
	if sub.Inflight <= sub.Cursor {
		sub.Inflight = 0
	}
	ts, last, err := w.next(ctx, &sub)
	if err == nil && last == 0 && d.o.History != nil {
		// Nothing new: a replay's next message, if one is under way.
		return w.replayTurn(ctx, &sub)
	}
	if err != nil || last == 0 {
		return -1, err
	}
	if len(ts) == 0 {
		// Nothing the subscription wants up to last (its segments or
		// types changed meanwhile): move past it.
		sub.Cursor, sub.Inflight = last, 0
		return 0, d.o.Store.SetHookState(ctx, w.acct, w.id, sub.HookState, false)
	}
	if sub.Inflight == 0 {
		sub.Inflight = ts[len(ts)-1].Seq
		if err := d.o.Store.SetHookState(ctx, w.acct, w.id, sub.HookState, false); err != nil {
			return 0, err
		}
	}
	msg := Message{Type: MessageType, Timestamp: jsonTime(ts[len(ts)-1].At), Data: make([]TransitionJSON, len(ts))}
	for i := range ts {
		msg.Data[i] = transitionJSON(&ts[i])
	}
	del := d.send(ctx, &sub, MessageID(sub.ID, ts[0].Seq), encode(msg), len(ts))
	if ctx.Err() != nil {
		return 0, nil // stopping: the message goes again after the start
	}
	return 0, w.settle(ctx, &sub, del, func() error {
		st := segmentd.HookState{Status: segmentd.HookActive, Cursor: sub.Inflight}
		if err := d.o.Store.SetHookState(ctx, w.acct, w.id, st, false); err != nil {
			return err
		}
		d.forget(ctx, w.acct)
		return nil
	})
}

// replayTurn sends the next message of the subscription's replay, if one
// is under way (docs/webhooks.md, "Replay"): up to MaxBatch of the
// history's transitions of its first segment left, after where the last
// message stopped. A replay's message id names its first transition
// ("msg_<subscription>_r<number>"), so a retry sends the same message.
func (w *worker) replayTurn(ctx context.Context, sub *segmentd.Subscription) (time.Duration, error) {
	d := w.d
	r, ok, err := d.o.History.HookReplay(ctx, w.acct, w.id)
	if err != nil || !ok {
		return -1, err
	}
	if len(r.Segments) == 0 {
		return 0, d.o.History.DeleteHookReplay(ctx, w.acct, w.id)
	}
	rows, err := d.o.History.HistoryTransitions(ctx, w.acct, r.Segments[0], r.From, r.To, r.After, readAhead)
	if err != nil {
		return 0, err
	}
	var ts []segmentd.Transition
	size := 64
	for i := range rows {
		t := &rows[i]
		if !sub.Wants(t) {
			continue
		}
		n := len(encode(Message{Data: []TransitionJSON{transitionJSON(t)}}))
		if len(ts) == d.o.MaxBatch || len(ts) > 0 && size+n > d.o.MaxBody {
			break
		}
		ts = append(ts, *t)
		size += n
	}
	if len(ts) == 0 {
		if len(rows) == readAhead {
			// Nothing wanted in a full read: move past it.
			last := rows[len(rows)-1]
			r.After = segmentd.HistoryCursor{At: last.At, Seq: last.Seq}
		} else {
			r.Segments, r.After = r.Segments[1:], segmentd.HistoryCursor{}
		}
		return 0, d.o.History.PutHookReplay(ctx, w.acct, r)
	}
	msg := Message{Type: MessageType, Timestamp: jsonTime(ts[len(ts)-1].At), Data: make([]TransitionJSON, len(ts))}
	for i := range ts {
		msg.Data[i] = transitionJSON(&ts[i])
	}
	del := d.send(ctx, sub, "msg_"+sub.ID+"_r"+strconv.FormatInt(ts[0].Seq, 10), encode(msg), len(ts))
	if ctx.Err() != nil {
		return 0, nil
	}
	return 0, w.settle(ctx, sub, del, func() error {
		last := ts[len(ts)-1]
		r.After = segmentd.HistoryCursor{At: last.At, Seq: last.Seq}
		if err := d.o.History.PutHookReplay(ctx, w.acct, r); err != nil {
			return err
		}
		if st := sub.HookState; st.Attempts > 0 {
			st.Attempts, st.FirstFailure, st.NextAttempt = 0, time.Time{}, time.Time{}
			return d.o.Store.SetHookState(ctx, w.acct, w.id, st, false)
		}
		return nil
	})
}

// settle logs an attempt and, after a success, runs ok; after a failure
// it schedules the retry with backoff, or marks the subscription failing
// past the horizon.
func (w *worker) settle(ctx context.Context, sub *segmentd.Subscription, del segmentd.Delivery, ok func() error) error {
	d := w.d
	if _, err := d.o.Store.AddDelivery(ctx, w.acct, del, keepDeliveries); err != nil {
		d.o.Log.Error("recording a webhook delivery", "subscription", w.id, "err", err)
	}
	if del.Error == "" {
		return ok()
	}
	st := sub.HookState
	now := d.o.Clock.Now()
	st.Attempts++
	if st.FirstFailure.IsZero() {
		st.FirstFailure = del.At
	}
	if now.Sub(st.FirstFailure) >= d.o.Horizon {
		st.Status = segmentd.HookFailing
		st.FailingReason = fmt.Sprintf("no success for %v since %s; last attempt: %s", d.o.Horizon, jsonTime(st.FirstFailure), del.Error)
		st.NextAttempt = time.Time{}
		d.o.Log.Warn("webhook subscription failing", "account", w.acct, "subscription", w.id, "reason", st.FailingReason)
	} else {
		st.NextAttempt = now.Add(d.backoff(st.Attempts))
	}
	if err := d.o.Store.SetHookState(ctx, w.acct, w.id, st, false); err != nil {
		return err
	}
	if st.Status != segmentd.HookActive {
		d.Changed(w.acct) // the outbox keeps nothing more for it
	}
	return nil
}

// next reads the transitions of the subscription's next message: the
// message in flight again, or up to MaxBatch of the wanted ones after
// the cursor within MaxBody. last is the number of the last row read (0:
// none).
func (w *worker) next(ctx context.Context, sub *segmentd.Subscription) (ts []segmentd.Transition, last int64, err error) {
	d := w.d
	rows, err := d.o.Store.Transitions(ctx, w.acct, sub.Cursor, sub.Inflight, readAhead)
	if err != nil || len(rows) == 0 {
		return nil, 0, err
	}
	size := 64
	for i := range rows {
		t := &rows[i]
		if !sub.Wants(t) {
			continue
		}
		n := len(encode(Message{Data: []TransitionJSON{transitionJSON(t)}}))
		if sub.Inflight == 0 && (len(ts) == d.o.MaxBatch || len(ts) > 0 && size+n > d.o.MaxBody) {
			break
		}
		ts = append(ts, *t)
		size += n
	}
	return ts, rows[len(rows)-1].Seq, nil
}

// backoff is the delay before the retry after the n-th failed attempt:
// MinDelay doubling up to MaxDelay, drawn between half and all of it.
func (d *Dispatcher) backoff(n int) time.Duration {
	delay := d.o.MinDelay
	for i := 1; i < n && delay < d.o.MaxDelay; i++ {
		delay *= 2
	}
	delay = min(delay, d.o.MaxDelay)
	return delay/2 + rand.N(delay/2+1)
}

// forget drops the outbox rows every active subscription of the account
// has delivered.
func (d *Dispatcher) forget(ctx context.Context, acct int64) {
	subs, err := d.o.Store.Subscriptions(ctx, acct)
	if err != nil {
		return
	}
	through := int64(-1)
	for _, s := range subs {
		if s.Status == segmentd.HookActive && (through < 0 || s.Cursor < through) {
			through = s.Cursor
		}
	}
	if through > 0 {
		if err := d.o.Store.ForgetTransitions(ctx, acct, through); err != nil {
			d.o.Log.Warn("forgetting delivered transitions", "account", acct, "err", err)
		}
	}
}

// send posts a message and says how it went.
func (d *Dispatcher) send(ctx context.Context, sub *segmentd.Subscription, id string, body []byte, n int) segmentd.Delivery {
	at := d.o.Clock.Now()
	del := segmentd.Delivery{SubscriptionID: sub.ID, MessageID: id, At: at, Transitions: n}
	if d.o.Observe != nil {
		defer func() { d.o.Observe(del) }() // del as returned
	}
	sig, err := Sign(sub.Secret, id, at.Unix(), body)
	if old := sub.OldSecretAt(at); old != "" && err == nil {
		// A rotation's grace: the replaced secret's signature too,
		// after the new one's (Standard Webhooks allows several).
		var oldSig string
		oldSig, err = Sign(old, id, at.Unix(), body)
		sig += " " + oldSig
	}
	if err != nil {
		del.Error = "the subscription's secret cannot sign"
		return del
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.URL, bytes.NewReader(body))
	if err != nil {
		del.Error = "the URL cannot be requested"
		return del
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "segmentd-webhooks/1")
	req.Header.Set("webhook-id", id)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(at.Unix(), 10))
	req.Header.Set("webhook-signature", sig)
	start := time.Now()
	resp, err := d.o.Client.Do(req)
	del.Latency = time.Since(start)
	if err != nil {
		del.Error = attemptError(err)
		return del
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	del.StatusCode = resp.StatusCode
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		del.Error = "HTTP " + strconv.Itoa(resp.StatusCode)
	}
	return del
}

// attemptError says why an attempt got no answer, without Go's wording.
func attemptError(err error) string {
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return "timed out"
	}
	return "no answer: " + segmentd.Clip(err.Error())
}

// SendTest sends a test message to a subscription at once, records the
// attempt in its log and returns it. It changes nothing of the
// subscription's deliveries.
func (d *Dispatcher) SendTest(ctx context.Context, sub segmentd.Subscription) (segmentd.Delivery, error) {
	now := d.o.Clock.Now()
	id := "msg_" + sub.ID + "_test_" + strconv.FormatInt(now.UnixNano(), 36)
	body := encode(Message{Type: TestType, Timestamp: jsonTime(now), Data: []TransitionJSON{}})
	del := d.send(ctx, &sub, id, body, 0)
	return d.o.Store.AddDelivery(ctx, sub.AccountID, del, keepDeliveries)
}

// pruner deletes the history's transitions older than the retention, at
// start and every PruneEvery, in bounded batches.
func (d *Dispatcher) pruner() {
	for {
		before := d.o.Clock.Now().Add(-d.o.Retention)
		pruned := 0
		for d.ctx.Err() == nil && d.leading.Load() {
			n, err := d.o.History.PruneHistory(d.ctx, before, segmentd.MaxHistoryPruneBatch)
			pruned += n
			if err != nil {
				if d.ctx.Err() == nil {
					d.o.Log.Error("pruning the membership history", "err", err)
				}
				break
			}
			if n < segmentd.MaxHistoryPruneBatch {
				break
			}
		}
		if pruned > 0 {
			d.o.Log.Info("membership history pruned", "transitions", pruned, "before", before)
		}
		select {
		case <-d.ctx.Done():
			return
		case <-time.After(d.o.PruneEvery):
		}
	}
}
