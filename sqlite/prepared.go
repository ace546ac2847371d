package sqlite

import (
	"context"
	"database/sql"
	"errors"
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
