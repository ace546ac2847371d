package postgres

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestPipedTx: a pipedTx commits what it sent and what it queued, with
// BEGIN and COMMIT in its pipelines; a statement that fails, whether in a
// round trip or queued for COMMIT, and an error of fn after a statement
// went, roll back all of it; and the connection goes back to the pool
// outside any transaction.
func TestPipedTx(t *testing.T) {
	eachServer(t, func(t *testing.T, srv server) {
		ctx := context.Background()
		st := openFresh(t, srv)
		const insert = "INSERT INTO membership_changes (account_id, change_seq, contact_ids) VALUES ($1, $2, $3)"
		stored := func() []int64 {
			t.Helper()
			seqs, err := queryAll(ctx, st.pool, func(row pgx.Row) (int64, error) {
				var n int64
				return n, row.Scan(&n)
			}, "SELECT change_seq FROM membership_changes WHERE account_id = 7 ORDER BY change_seq")
			if err != nil {
				t.Fatal(err)
			}
			return seqs
		}
		idle := func() {
			t.Helper()
			conn, err := st.pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Release()
			if s := conn.Conn().PgConn().TxStatus(); s != 'I' {
				t.Fatalf("a pooled connection's transaction status is %q, want I", s)
			}
		}

		// Committed: a statement sent, one queued.
		err := st.inPipedTx(ctx, func(tx *pipedTx) error {
			if _, err := nextChange(ctx, tx, 7); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, insert, 7, 1, []string{"a"}); err != nil {
				return err
			}
			return execLast(ctx, tx, insert, 7, 2, []string{"b"})
		})
		if err != nil {
			t.Fatalf("inPipedTx: %v", err)
		}
		if got := stored(); len(got) != 2 {
			t.Fatalf("stored %v, want [1 2]", got)
		}

		// A queued statement that fails at COMMIT: nothing of the transaction stays.
		err = st.inPipedTx(ctx, func(tx *pipedTx) error {
			if _, err := tx.Exec(ctx, insert, 7, 3, []string{"c"}); err != nil {
				return err
			}
			return execLast(ctx, tx, insert, 7, 1, []string{"again"}) // seq 1 is stored
		})
		if !isUniqueViolation(err) {
			t.Fatalf("inPipedTx with a failing queued statement: %v, want a unique violation", err)
		}
		idle()

		// A failing statement in a round trip, with a queued one before it.
		err = st.inPipedTx(ctx, func(tx *pipedTx) error {
			tx.queueLast(insert, 7, 4, []string{"d"})
			var b pgx.Batch
			b.Queue(insert, 7, 2, []string{"again"})
			return tx.SendBatch(ctx, &b).Close()
		})
		if !isUniqueViolation(err) {
			t.Fatalf("inPipedTx with a failing batch: %v, want a unique violation", err)
		}
		idle()

		// fn's own error after a statement went.
		boom := errors.New("boom")
		err = st.inPipedTx(ctx, func(tx *pipedTx) error {
			if _, err := tx.Exec(ctx, insert, 7, 5, []string{"e"}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("inPipedTx = %v, want %v", err, boom)
		}
		idle()
		if got := stored(); len(got) != 2 || got[0] != 1 || got[1] != 2 {
			t.Fatalf("stored %v after the failed transactions, want [1 2]", got)
		}
	})
}
