package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// preparedReads runs the read pool's statements that nearly every API
// request runs (its key, its account, the account's subusers, a segment,
// its refreshes, the custom fields), each prepared once per connection and
// kept: database/sql prepares a statement anew for every query, and
// SQLite's parsing of one was about half of running it, a tenth of a
// segment GET's CPU at 200,000 contacts (docs/sqlite.md, "Prepared
// reads"). It is a queryer, for queryAll and the scan helpers. Only
// constant query texts may be given: each is kept until Close.
type preparedReads struct {
	db    *sql.DB
	stmts sync.Map // query text → *sql.Stmt
}

// stmt returns the statement of query, preparing it at its first use.
func (p *preparedReads) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := p.stmts.Load(query); ok {
		return st.(*sql.Stmt), nil
	}
	st, err := p.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	if prev, loaded := p.stmts.LoadOrStore(query, st); loaded {
		st.Close() // another request prepared it first
		return prev.(*sql.Stmt), nil
	}
	return st, nil
}

func (p *preparedReads) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := p.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (p *preparedReads) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := p.stmt(ctx, query)
	if err != nil {
		// The pool's own QueryRow reports the same failure through Scan.
		return p.db.QueryRowContext(ctx, query, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (p *preparedReads) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return p.db.ExecContext(ctx, query, args...) // the read pool is query-only
}

// close closes every kept statement.
func (p *preparedReads) close() error {
	var errs []error
	p.stmts.Range(func(k, st any) bool {
		errs = append(errs, st.(*sql.Stmt).Close())
		p.stmts.Delete(k)
		return true
	})
	return errors.Join(errs...)
}

// preparedTx is a read transaction that runs the statements of
// txReads prepared: each is prepared once on the read pool at Open
// (preparedReads.prepare) and bound to the transaction with
// sql.Tx.StmtContext, which prepares it on the transaction's connection
// the first time and reuses it after, where the transaction's own
// QueryContext prepares it anew every time. Any other statement runs
// unprepared: preparing it on the pool here would wait for a second
// connection while the transaction holds one, and readers holding every
// connection would wait for each other. The reads by contact run three
// to five statements in one transaction; with their lists from the
// engine, parsing them was about a sixth of a list's GET with its sample
// (docs/sqlite.md, "Lists from the engine").
type preparedTx struct {
	tx *sql.Tx
	p  *preparedReads
}

// stmt returns query's statement bound to the transaction, nil when it
// is not one of txReads.
func (t preparedTx) stmt(ctx context.Context, query string) *sql.Stmt {
	st, ok := t.p.stmts.Load(query)
	if !ok {
		return nil
	}
	return t.tx.StmtContext(ctx, st.(*sql.Stmt))
}

func (t preparedTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, query, args...)
}

func (t preparedTx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if st := t.stmt(ctx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, query, args...)
}

func (t preparedTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, query, args...) // the read pool is query-only
}

// readPrepared is readTx whose statements are the preparedReads'
// (preparedTx).
func (s *Store) readPrepared(ctx context.Context, fn func(q queryer) error) error {
	return s.readTx(ctx, func(tx *sql.Tx) error { return fn(preparedTx{tx: tx, p: &s.reads}) })
}

// txReads are the statements the reads by contact run in a preparedTx.
var txReads = []string{
	qContactByID, qContactsWhere + "email" + qInValues, qContactsWhere + "id" + qInValues,
	qContactsWhere + "phone_number_id" + qInValues, qContactsWhere + "external_id" + qInValues,
	qContactsWhere + "anonymous_id" + qInValues, qAlternateEmailOwners,
	qContactsByIDs, qSampleContacts,
	qTagIDsOf, qCCDetailsOf, qListsByNum, qPageLists, qListNumsOf,
}

// prepare prepares queries on the pool, before any transaction holds a
// connection of it (preparedTx).
func (p *preparedReads) prepare(ctx context.Context, queries []string) error {
	for _, q := range queries {
		if _, err := p.stmt(ctx, q); err != nil {
			return fmt.Errorf("preparing %q: %w", q, err)
		}
	}
	return nil
}
