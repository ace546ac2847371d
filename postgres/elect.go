package postgres

import (
	"context"
	"hash/fnv"
	"sync"
	"time"

	"github.com/segmentd/segmentd"
)

// The election of the server that delivers webhooks (segmentd.DeliveryLock,
// docs/webhooks.md): a session-level advisory lock, held on a connection
// taken out of the pool for as long as the server delivers. A server that
// dies, or whose connection breaks, loses its session and with it the
// lock, which the next server to try then takes.

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
	lost := make(chan struct{})
	done := make(chan struct{})
	dead := false // set before lost is closed: the session died
	go func() {
		defer close(lost)
		t := time.NewTicker(deliveryLockCheck)
		defer t.Stop()
		for {
			select {
			case <-done:
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
