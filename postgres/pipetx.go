package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// txConn is what the statements of a write transaction are sent through:
// a pgx.Tx, or a pipedTx.
type txConn interface {
	querier
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
	CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, rows pgx.CopyFromSource) (int64, error)
}

// pipedTx is a write transaction whose BEGIN and COMMIT are not round
// trips of their own, as they are with pgx.BeginFunc: BEGIN goes to the
// database at the head of the transaction's first statement's pipeline,
// and statements whose results nobody reads (queueLast) wait to go with
// the next round trip, at the latest with COMMIT. An event batch then
// makes two or three round trips where it made four or five
// (docs/postgres.md, "Session 15").
//
// Within an explicit transaction block, a pipeline's statements run one
// after the other as they would one by one; a statement that fails
// aborts the transaction, the pipeline's later statements (COMMIT
// among them) are skipped, and pipedTx rolls it back.
type pipedTx struct {
	conn    *pgx.Conn
	pending pgx.Batch // BEGIN, then queueLast's statements, not sent yet
}

// inPipedTx runs fn in a pipedTx and commits it; any error rolls
// everything back. Like inTx, its isolation is READ COMMITTED.
func (s *Store) inPipedTx(ctx context.Context, fn func(tx *pipedTx) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return classify(err)
	}
	defer conn.Release() // a connection left inside a transaction is closed, not reused
	tx := &pipedTx{conn: conn.Conn()}
	tx.pending.Queue("BEGIN")
	err = fn(tx)
	if err == nil {
		tx.pending.Queue("COMMIT")
		err = tx.flush(ctx)
	}
	if tx.conn.PgConn().TxStatus() != 'I' {
		// Failed, or fn's error came after BEGIN went: end the block. An
		// error of ROLLBACK itself leaves the connection in a block, which
		// Release then closes.
		_, rerr := tx.conn.Exec(ctx, "ROLLBACK")
		if err == nil {
			err = rerr
		}
	}
	return classify(err)
}

// queueLast queues a statement whose result is not read: it goes to the
// database with the transaction's next round trip (COMMIT at the latest),
// and its error, if any, fails the transaction there.
func (tx *pipedTx) queueLast(query string, args ...any) {
	tx.pending.Queue(query, args...)
}

// flush sends the pending statements, if any, in one round trip.
func (tx *pipedTx) flush(ctx context.Context) error {
	if tx.pending.Len() == 0 {
		return nil
	}
	b := tx.pending
	tx.pending = pgx.Batch{}
	return tx.conn.SendBatch(ctx, &b).Close()
}

// SendBatch sends the pending statements at the head of b, in its round
// trip, and returns the results of b's own statements.
func (tx *pipedTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	n := tx.pending.Len()
	if n == 0 {
		return tx.conn.SendBatch(ctx, b)
	}
	all := tx.pending
	tx.pending = pgx.Batch{}
	all.QueuedQueries = append(all.QueuedQueries, b.QueuedQueries...)
	br := tx.conn.SendBatch(ctx, &all)
	for range n {
		if _, err := br.Exec(); err != nil {
			br.Close()
			return failedBatch{err}
		}
	}
	return br
}

func (tx *pipedTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if tx.pending.Len() > 0 {
		var tag pgconn.CommandTag
		var b pgx.Batch
		b.Queue(sql, args...).Exec(func(ct pgconn.CommandTag) error { tag = ct; return nil })
		err := tx.SendBatch(ctx, &b).Close()
		return tag, err
	}
	return tx.conn.Exec(ctx, sql, args...)
}

func (tx *pipedTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if err := tx.flush(ctx); err != nil {
		return nil, err
	}
	return tx.conn.Query(ctx, sql, args...)
}

func (tx *pipedTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	if err := tx.flush(ctx); err != nil {
		return errRow{err}
	}
	return tx.conn.QueryRow(ctx, sql, args...)
}

func (tx *pipedTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, rows pgx.CopyFromSource) (int64, error) {
	if err := tx.flush(ctx); err != nil {
		return 0, err
	}
	return tx.conn.CopyFrom(ctx, table, columns, rows)
}

// execLast runs a statement whose result is not read: queued to go with
// the transaction's next round trip on a pipedTx, at once on another.
func execLast(ctx context.Context, tx txConn, query string, args ...any) error {
	if p, ok := tx.(*pipedTx); ok {
		p.queueLast(query, args...)
		return nil
	}
	_, err := tx.Exec(ctx, query, args...)
	return err
}

// failedBatch is the results of a batch whose pending head failed.
type failedBatch struct{ err error }

func (f failedBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, f.err }
func (f failedBatch) Query() (pgx.Rows, error)         { return nil, f.err }
func (f failedBatch) QueryRow() pgx.Row                { return errRow(f) }
func (f failedBatch) Close() error                     { return f.err }
func (f failedBatch) Tx() pgx.Tx                       { return nil }

// errRow is a row whose Scan returns err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }
