package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

var (
	_ segmentd.ExportStore = (*Store)(nil)
	_ segmentd.ExportTaker = (*Store)(nil)
)

func refsJSON(refs []segmentd.ExportRef) string {
	if refs == nil {
		refs = []segmentd.ExportRef{}
	}
	b, _ := json.Marshal(refs) // strings only: cannot fail
	return string(b)
}

func refsFromJSON(s string) ([]segmentd.ExportRef, error) {
	var refs []segmentd.ExportRef
	if err := json.Unmarshal([]byte(s), &refs); err != nil {
		return nil, err
	}
	if refs == nil {
		refs = []segmentd.ExportRef{}
	}
	return refs, nil
}

func filesJSON(files []segmentd.ExportFile) string {
	if len(files) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(files) // numbers only: cannot fail
	return string(b)
}

func exportNotFound(id string) error {
	return notFound("id", "export %s does not exist", segmentd.Quote(id))
}

// CreateExport implements segmentd.ExportStore. The pending exports are
// counted under the account's lock, so servers sharing the database
// cannot together pass the limit.
func (s *Store) CreateExport(ctx context.Context, e segmentd.Export, max int) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, e.AccountID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM exports WHERE account_id = $1 AND status = 'pending'", e.AccountID).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return segmentd.ErrTooManyExports
		}
		_, err := tx.Exec(ctx, `INSERT INTO exports (account_id, id, status, export_type, file_type, lists, segments,
			max_file_bytes, notify, token, created_at, updated_at, expires_at, lease_until, input)
			VALUES ($1, $2, 'pending', $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
			e.AccountID, e.ID, string(e.Type), e.FileType, refsJSON(e.Lists), refsJSON(e.Segments), e.MaxFileBytes, e.Notify, e.Token,
			toMS(e.CreatedAt), toMS(e.UpdatedAt), toMS(e.ExpiresAt), toMS(e.Lease), e.Input)
		return err
	})
}

// RenewExport implements segmentd.ExportStore.
func (s *Store) RenewExport(ctx context.Context, acct int64, id string, lease time.Time) error {
	_, err := s.db.Exec(ctx, "UPDATE exports SET lease_until = $3 WHERE account_id = $1 AND id = $2 AND status = 'pending'", acct, id, toMS(lease))
	return err
}

// AddExportChunk implements segmentd.ExportStore: the insert happens only
// while the export is pending, in one statement.
func (s *Store) AddExportChunk(ctx context.Context, acct int64, id string, file, seq int, data []byte) error {
	tag, err := s.db.Exec(ctx, `INSERT INTO export_chunks (account_id, export_id, file, seq, data)
		SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM exports WHERE account_id = $1 AND id = $2 AND status = 'pending')`,
		acct, id, file, seq, data)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return exportNotFound(id)
	}
	return nil
}

// FinishExport implements segmentd.ExportStore.
func (s *Store) FinishExport(ctx context.Context, e segmentd.Export) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		err := execOne(ctx, tx, segmentd.Errorf(segmentd.KindConflict, "id", "export %s is no longer pending", segmentd.Quote(e.ID)),
			`UPDATE exports SET status = $3, message = $4, contact_count = $5, files = $6, updated_at = $7, completed_at = $8, expires_at = $9,
				input = NULL
			WHERE account_id = $1 AND id = $2 AND status = 'pending'`,
			e.AccountID, e.ID, string(e.Status), nullString(e.Message), e.ContactCount, filesJSON(e.Files),
			toMS(e.UpdatedAt), toMS(e.CompletedAt), toMS(e.ExpiresAt))
		if err != nil || e.Status == segmentd.ExportReady {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM export_chunks WHERE account_id = $1 AND export_id = $2", e.AccountID, e.ID)
		return err
	})
}

func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

const qExportColumns = `SELECT account_id, id, status, export_type, file_type, lists::text, segments::text, max_file_bytes, notify, token,
	message, contact_count, files::text, created_at, updated_at, completed_at, expires_at, lease_until FROM exports `

func scanExport(r pgx.Row) (segmentd.Export, error) {
	var e segmentd.Export
	var status, typ, lists, segs, files string
	var message *string
	var created, updated, expires, lease int64
	var completed *int64
	err := r.Scan(&e.AccountID, &e.ID, &status, &typ, &e.FileType, &lists, &segs, &e.MaxFileBytes, &e.Notify, &e.Token,
		&message, &e.ContactCount, &files, &created, &updated, &completed, &expires, &lease)
	if err != nil {
		return e, err
	}
	e.Status, e.Type = segmentd.ExportStatus(status), segmentd.ExportType(typ)
	if message != nil {
		e.Message = *message
	}
	if e.Lists, err = refsFromJSON(lists); err != nil {
		return e, err
	}
	if e.Segments, err = refsFromJSON(segs); err != nil {
		return e, err
	}
	if files != "[]" {
		if err := json.Unmarshal([]byte(files), &e.Files); err != nil {
			return e, err
		}
	}
	e.CreatedAt, e.UpdatedAt, e.ExpiresAt, e.Lease = fromMS(created), fromMS(updated), fromMS(expires), fromMS(lease)
	e.CompletedAt = timeOf(completed)
	return e, nil
}

func (s *Store) oneExport(ctx context.Context, id, where string, args ...any) (segmentd.Export, error) {
	e, err := scanExport(s.db.QueryRow(ctx, qExportColumns+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return segmentd.Export{}, exportNotFound(id)
	}
	return e, err
}

// Export implements segmentd.ExportStore.
func (s *Store) Export(ctx context.Context, acct int64, id string) (segmentd.Export, error) {
	return s.oneExport(ctx, id, "WHERE account_id = $1 AND id = $2", acct, id)
}

// ExportByToken implements segmentd.ExportStore.
func (s *Store) ExportByToken(ctx context.Context, acct int64, token string) (segmentd.Export, error) {
	return s.oneExport(ctx, "", "WHERE account_id = $1 AND token = $2", acct, token)
}

// Exports implements segmentd.ExportStore.
func (s *Store) Exports(ctx context.Context, acct int64) ([]segmentd.Export, error) {
	return queryAll(ctx, s.db, scanExport, qExportColumns+"WHERE account_id = $1 ORDER BY created_at DESC, id DESC", acct)
}

// ExportChunk implements segmentd.ExportStore.
func (s *Store) ExportChunk(ctx context.Context, acct int64, id string, file, seq int) ([]byte, error) {
	var data []byte
	err := s.db.QueryRow(ctx, "SELECT data FROM export_chunks WHERE account_id = $1 AND export_id = $2 AND file = $3 AND seq = $4",
		acct, id, file, seq).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("id", "export %s has no chunk %d of file %d", segmentd.Quote(id), seq, file)
	}
	return data, err
}

// exportKey names one export of one account.
type exportKey struct {
	acct int64
	id   string
}

// exportsWhere finds the exports of every account that cond (on $1)
// selects. The sweeps read across accounts once, then write each export
// in statements that name its account, so that on Citus each goes to the
// one node holding it.
func (s *Store) exportsWhere(ctx context.Context, cond string, arg any) ([]exportKey, error) {
	return queryAll(ctx, s.db, func(r pgx.Row) (exportKey, error) {
		var k exportKey
		return k, r.Scan(&k.acct, &k.id)
	}, "SELECT account_id, id FROM exports WHERE "+cond, arg)
}

// FailAbandonedExports implements segmentd.ExportStore.
func (s *Store) FailAbandonedExports(ctx context.Context, leaseBefore time.Time, msg string, now time.Time) (int, error) {
	keys, err := s.exportsWhere(ctx, "status = 'pending' AND lease_until < $1", toMS(leaseBefore))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		err := s.inTx(ctx, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, `UPDATE exports SET status = 'failure', message = $3, updated_at = $4, completed_at = $4, expires_at = $5,
					input = NULL
				WHERE account_id = $1 AND id = $2 AND status = 'pending' AND lease_until < $6`,
				k.acct, k.id, msg, toMS(now), toMS(now.Add(segmentd.ExportLifetime)), toMS(leaseBefore))
			if err != nil || tag.RowsAffected() == 0 {
				return err // renewed meanwhile: its server is alive
			}
			n++
			_, err = tx.Exec(ctx, "DELETE FROM export_chunks WHERE account_id = $1 AND export_id = $2", k.acct, k.id)
			return err
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// DeleteExpiredExports implements segmentd.ExportStore.
func (s *Store) DeleteExpiredExports(ctx context.Context, now time.Time) (int, error) {
	keys, err := s.exportsWhere(ctx, "expires_at <= $1", toMS(now))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		err := s.inTx(ctx, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, "DELETE FROM exports WHERE account_id = $1 AND id = $2 AND expires_at <= $3", k.acct, k.id, toMS(now))
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			n++
			_, err = tx.Exec(ctx, "DELETE FROM export_chunks WHERE account_id = $1 AND export_id = $2", k.acct, k.id)
			return err
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// LapsedExports implements segmentd.ExportTaker.
func (s *Store) LapsedExports(ctx context.Context, leaseBefore time.Time) ([]segmentd.Export, error) {
	return queryAll(ctx, s.db, scanExport, qExportColumns+"WHERE status = 'pending' AND lease_until < $1", toMS(leaseBefore))
}

// TakeExport implements segmentd.ExportTaker: the lease moves by a
// conditional UPDATE that only one of several servers passes, and the
// previous writer's chunks go in the same transaction.
func (s *Store) TakeExport(ctx context.Context, acct int64, id string, leaseBefore, lease time.Time) ([]byte, error) {
	var input []byte
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `UPDATE exports SET lease_until = $4
			WHERE account_id = $1 AND id = $2 AND status = 'pending' AND lease_until < $3 RETURNING input`,
			acct, id, toMS(leaseBefore), toMS(lease)).Scan(&input)
		if errors.Is(err, pgx.ErrNoRows) {
			var found bool
			if err := tx.QueryRow(ctx, "SELECT true FROM exports WHERE account_id = $1 AND id = $2", acct, id).Scan(&found); errors.Is(err, pgx.ErrNoRows) {
				return exportNotFound(id)
			} else if err != nil {
				return err
			}
			return segmentd.Errorf(segmentd.KindConflict, "id", "export %s is finished or leased by a live server", segmentd.Quote(id))
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "DELETE FROM export_chunks WHERE account_id = $1 AND export_id = $2", acct, id)
		return err
	})
	return input, err
}
