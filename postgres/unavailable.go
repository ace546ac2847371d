package postgres

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/segmentd/segmentd"
)

// classify turns the errors of a database that cannot be reached (no
// connection, a connection lost, the server shutting down or starting up)
// into segmentd.KindUnavailable, which the faces answer 503 and clients
// retry; every other error is returned as it is. The message names what
// failed for the log; a client never sees it.
func classify(err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err // the caller's own deadline, not the database's absence
	}
	var e *segmentd.Error
	if errors.As(err, &e) {
		return err // already the domain's
	}
	var (
		ce *pgconn.ConnectError
		ne net.Error
		pe *pgconn.PgError
	)
	switch {
	case errors.As(err, &pe):
		// The server answered: unreachable only while it shuts down or
		// starts (connection_exception, admin_shutdown, crash_shutdown,
		// cannot_connect_now); a refused password is not retried away.
		if !strings.HasPrefix(pe.Code, "08") && pe.Code != "57P01" && pe.Code != "57P02" && pe.Code != "57P03" {
			return err
		}
	case errors.As(err, &ce), errors.As(err, &ne), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
	case strings.Contains(err.Error(), "closed pool"), strings.Contains(err.Error(), "conn closed"):
	default:
		return err
	}
	return &segmentd.Error{Kind: segmentd.KindUnavailable, Message: "the database cannot be reached: " + err.Error()}
}

// classified is a querier whose errors go through classify.
type classified struct{ q querier }

func (c classified) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tag, err := c.q.Exec(ctx, sql, args...)
	return tag, classify(err)
}

func (c classified) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	rows, err := c.q.Query(ctx, sql, args...)
	if err != nil {
		return nil, classify(err)
	}
	return classifiedRows{rows}, nil
}

func (c classified) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	return classifiedRow{c.q.QueryRow(ctx, sql, args...)}
}

type classifiedRows struct{ pgx.Rows }

func (r classifiedRows) Err() error { return classify(r.Rows.Err()) }

type classifiedRow struct{ pgx.Row }

func (r classifiedRow) Scan(dst ...any) error { return classify(r.Row.Scan(dst...)) }
