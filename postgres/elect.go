package postgres

import (
	"context"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

// The election of the server that delivers webhooks (segmentd.DeliveryLock,
// docs/webhooks.md): a session-level advisory lock, held on a connection
// taken out of the pool for as long as the server delivers. A server that
// dies, or whose connection breaks, loses its session and with it the
// lock, which the next server to try then takes.
//
// The fence (docs/webhooks.md, "The fence"): a server learns that its
// session ended only when it next looks (every deliveryLockCheck), and
// another server may take the lock over meanwhile. So each take adds one
// to the database's delivery epoch (delivery_fence), and the holder's
// stores of transitions (AppendTransitions) check, under the account's
// transition counter lock, that the epoch is still the one its take
// made; if not they store nothing and the lock is lost at once. A take
// waits, after adding one, for every account's transition counter lock
// (fenceBarrier): a store that read the old epoch has then committed, so
// the new holder reads what it stored; every later one reads the new
// epoch and stores nothing.

var _ segmentd.DeliveryLock = (*Store)(nil)

// deliveryLockKey names the lock; like the migrations' lock it names the
// schema, so that stores in other schemas of one database elect apart.
func deliveryLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("segmentd webhook delivery\x00" + schema))
	return int64(h.Sum64())
}

// deliveryLockCheck is how often the holder checks that its session is
// alive.
const deliveryLockCheck = 2 * time.Second

// TryLockDelivery implements segmentd.DeliveryLock.
func (s *Store) TryLockDelivery(ctx context.Context) (bool, <-chan struct{}, func(), error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return false, nil, nil, classify(err)
	}
	key := deliveryLockKey(s.schema)
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil || !ok {
		conn.Release()
		return false, nil, nil, classify(err)
	}
	epoch, err := takeFence(ctx, conn.Conn())
	if err != nil {
		// A session that cannot fence is closed, which unlocks.
		conn.Conn().Close(context.Background())
		conn.Release()
		return false, nil, nil, classify(err)
	}
	lost := make(chan struct{})
	done := make(chan struct{})
	fenced := make(chan struct{})
	s.fence.hold(epoch, sync.OnceFunc(func() { close(fenced) }))
	dead := false // set before lost is closed: the session died
	go func() {
		defer close(lost)
		t := time.NewTicker(deliveryLockCheck)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-fenced:
				// Another server took the lock over: this session no
				// longer holds it.
				dead = true
				return
			case <-t.C:
			}
			// A session lock holds while its session lives.
			cctx, cancel := context.WithTimeout(context.Background(), deliveryLockCheck)
			err := conn.Ping(cctx)
			cancel()
			if err != nil {
				dead = true
				return
			}
		}
	}()
	var once sync.Once
	release := func() {
		once.Do(func() {
			close(done)
			<-lost
			if !dead {
				if _, err := conn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", key); err == nil {
					conn.Release()
					return
				}
			}
			// A session that cannot unlock is closed, which unlocks.
			conn.Conn().Close(context.Background())
			conn.Release()
		})
	}
	return true, lost, release, nil
}

// deliveryFence is a store's part in the delivery fence: the epoch of its
// last take of the delivery lock (0: it never took it, and does not
// check), and how its stores end the hold they find fenced out.
type deliveryFence struct {
	epoch atomic.Int64
	mu    sync.Mutex
	out   func()
}

func (f *deliveryFence) hold(epoch int64, out func()) {
	f.mu.Lock()
	f.epoch.Store(epoch)
	f.out = out
	f.mu.Unlock()
}

// check is called by a store of transitions in its transaction, after it
// locked the account's transition counter: it returns
// segmentd.ErrDeliveryFenced, and ends the hold, when another server took
// the lock since this store's take.
func (f *deliveryFence) check(ctx context.Context, tx pgx.Tx) error {
	mine := f.epoch.Load()
	if mine == 0 {
		return nil
	}
	var now int64
	if err := tx.QueryRow(ctx, "SELECT epoch FROM delivery_fence WHERE id = 1").Scan(&now); err != nil {
		return err
	}
	if now == mine {
		return nil
	}
	f.mu.Lock()
	out := f.out
	f.mu.Unlock()
	if out != nil {
		out()
	}
	return segmentd.ErrDeliveryFenced
}

// takeFence adds one to the delivery epoch and returns it, then waits for
// every store of transitions under way (fenceBarrier). It runs on the
// session that holds the lock, once it holds it.
func takeFence(ctx context.Context, conn *pgx.Conn) (int64, error) {
	var epoch int64
	if err := conn.QueryRow(ctx, "UPDATE delivery_fence SET epoch = epoch + 1 WHERE id = 1 RETURNING epoch").Scan(&epoch); err != nil {
		return 0, err
	}
	if _, err := conn.Exec(ctx, qFenceBarrier); err != nil {
		return 0, err
	}
	return epoch, nil
}

// qFenceBarrier locks every account's transition counter (creating it at
// 0 where an account has none yet), and so waits for each store of
// transitions that holds it, its own statement included. It runs after
// the new epoch is committed: a store that takes a counter after it reads
// the new epoch. An upsert rather than a SELECT … FOR UPDATE: an insert
// of a first counter under way locks no row yet, but an upsert of the
// same key waits for it. An account created after the statement began
// stores nothing before its creation, which is after the new epoch.
const qFenceBarrier = `INSERT INTO account_counters AS c (account_id, name, value)
	SELECT id, '` + hookCounter + `', 0 FROM accounts
	ON CONFLICT (account_id, name) DO UPDATE SET value = c.value`
