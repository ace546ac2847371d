package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/segmentd/segmentd"
)

// The exports' writes change no contact, so they keep the remembered
// emails (writeTxKeep): their sweeps run beside a contact load.

var _ segmentd.ExportStore = (*Store)(nil)

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

// CreateExport implements segmentd.ExportStore.
func (s *Store) CreateExport(ctx context.Context, e segmentd.Export, max int) error {
	return s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM exports WHERE account_id = ? AND status = 'pending'", e.AccountID).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return segmentd.ErrTooManyExports
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO exports (account_id, id, status, export_type, file_type, lists, segments,
			max_file_bytes, notify, token, created_at, updated_at, expires_at, lease_until) VALUES (?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.AccountID, e.ID, string(e.Type), e.FileType, refsJSON(e.Lists), refsJSON(e.Segments), e.MaxFileBytes, e.Notify, e.Token,
			toMS(e.CreatedAt), toMS(e.UpdatedAt), toMS(e.ExpiresAt), toMS(e.Lease))
		return err
	})
}

// RenewExport implements segmentd.ExportStore.
func (s *Store) RenewExport(ctx context.Context, acct int64, id string, lease time.Time) error {
	return s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "UPDATE exports SET lease_until = ? WHERE account_id = ? AND id = ? AND status = 'pending'", toMS(lease), acct, id)
		return err
	})
}

// AddExportChunk implements segmentd.ExportStore.
func (s *Store) AddExportChunk(ctx context.Context, acct int64, id string, file, seq int, data []byte) error {
	return s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM exports WHERE account_id = ? AND id = ? AND status = 'pending'", acct, id).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return exportNotFound(id)
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO export_chunks (account_id, export_id, file, seq, data) VALUES (?, ?, ?, ?, ?)", acct, id, file, seq, data)
		return err
	})
}

// FinishExport implements segmentd.ExportStore.
func (s *Store) FinishExport(ctx context.Context, e segmentd.Export) error {
	return s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		err := execOne(ctx, tx, segmentd.Errorf(segmentd.KindConflict, "id", "export %s is no longer pending", segmentd.Quote(e.ID)),
			`UPDATE exports SET status = ?, message = ?, contact_count = ?, files = ?, updated_at = ?, completed_at = ?, expires_at = ?
			WHERE account_id = ? AND id = ? AND status = 'pending'`,
			string(e.Status), nullText(e.Message), e.ContactCount, filesJSON(e.Files), toMS(e.UpdatedAt), toMS(e.CompletedAt), toMS(e.ExpiresAt),
			e.AccountID, e.ID)
		if err != nil || e.Status == segmentd.ExportReady {
			return err
		}
		_, err = tx.ExecContext(ctx, "DELETE FROM export_chunks WHERE account_id = ? AND export_id = ?", e.AccountID, e.ID)
		return err
	})
}

const qExportColumns = `SELECT account_id, id, status, export_type, file_type, lists, segments, max_file_bytes, notify, token,
	message, contact_count, files, created_at, updated_at, completed_at, expires_at, lease_until FROM exports `

func scanExport(r rowScanner) (segmentd.Export, error) {
	var e segmentd.Export
	var status, typ, lists, segs, files string
	var message sql.NullString
	var created, updated, expires, lease int64
	var completed sql.NullInt64
	err := r.Scan(&e.AccountID, &e.ID, &status, &typ, &e.FileType, &lists, &segs, &e.MaxFileBytes, &e.Notify, &e.Token,
		&message, &e.ContactCount, &files, &created, &updated, &completed, &expires, &lease)
	if err != nil {
		return e, err
	}
	e.Status, e.Type, e.Message = segmentd.ExportStatus(status), segmentd.ExportType(typ), message.String
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
	if completed.Valid {
		e.CompletedAt = fromMS(completed.Int64)
	}
	return e, nil
}

func (s *Store) oneExport(ctx context.Context, id, where string, args ...any) (segmentd.Export, error) {
	e, err := scanExport(s.read.QueryRowContext(ctx, qExportColumns+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return e, exportNotFound(id)
	}
	return e, err
}

// Export implements segmentd.ExportStore.
func (s *Store) Export(ctx context.Context, acct int64, id string) (segmentd.Export, error) {
	return s.oneExport(ctx, id, "WHERE account_id = ? AND id = ?", acct, id)
}

// ExportByToken implements segmentd.ExportStore.
func (s *Store) ExportByToken(ctx context.Context, acct int64, token string) (segmentd.Export, error) {
	return s.oneExport(ctx, "", "WHERE account_id = ? AND token = ?", acct, token)
}

// Exports implements segmentd.ExportStore.
func (s *Store) Exports(ctx context.Context, acct int64) ([]segmentd.Export, error) {
	return queryAll(ctx, s.read, scanExport, qExportColumns+"WHERE account_id = ? ORDER BY created_at DESC, id DESC", acct)
}

// ExportChunk implements segmentd.ExportStore.
func (s *Store) ExportChunk(ctx context.Context, acct int64, id string, file, seq int) ([]byte, error) {
	var data []byte
	err := s.read.QueryRowContext(ctx, "SELECT data FROM export_chunks WHERE account_id = ? AND export_id = ? AND file = ? AND seq = ?",
		acct, id, file, seq).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("id", "export %s has no chunk %d of file %d", segmentd.Quote(id), seq, file)
	}
	return data, err
}

// FailAbandonedExports implements segmentd.ExportStore.
func (s *Store) FailAbandonedExports(ctx context.Context, leaseBefore time.Time, msg string, now time.Time) (int, error) {
	var n int
	err := s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM export_chunks WHERE (account_id, export_id) IN
			(SELECT account_id, id FROM exports WHERE status = 'pending' AND lease_until < ?)`, toMS(leaseBefore)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE exports SET status = 'failure', message = ?, updated_at = ?, completed_at = ?,
			expires_at = ? WHERE status = 'pending' AND lease_until < ?`,
			msg, toMS(now), toMS(now), toMS(now.Add(segmentd.ExportLifetime)), toMS(leaseBefore))
		if err != nil {
			return err
		}
		k, err := res.RowsAffected()
		n = int(k)
		return err
	})
	return n, err
}

// DeleteExpiredExports implements segmentd.ExportStore.
func (s *Store) DeleteExpiredExports(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM export_chunks WHERE (account_id, export_id) IN
			(SELECT account_id, id FROM exports WHERE expires_at <= ?)`, toMS(now)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM exports WHERE expires_at <= ?", toMS(now))
		if err != nil {
			return err
		}
		k, err := res.RowsAffected()
		n = int(k)
		return err
	})
	return n, err
}
