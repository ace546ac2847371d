package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/segmentd/segmentd"
)

// The imports' writes change no contact (an import's rows are written by
// UpsertContacts), so they keep the remembered emails (writeTxKeep):
// their sweeps run beside a contact load.

var _ segmentd.ImportStore = (*Store)(nil)

func importNotFound(id string) error {
	return notFound("id", "import %s does not exist", segmentd.Quote(id))
}

// stringsJSON is a list of strings as stored ([] for none).
func stringsJSON(ss []string) string {
	if ss == nil {
		ss = []string{}
	}
	b, _ := json.Marshal(ss) // strings only: cannot fail
	return string(b)
}

// CreateImport implements segmentd.ImportStore.
func (s *Store) CreateImport(ctx context.Context, imp segmentd.Import) error {
	return s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO imports (account_id, id, token, mappings, list_ids, state, row_count, batch_count,
			created_at, expires_at, lease_until) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			imp.AccountID, imp.ID, imp.Token, stringsJSON(imp.Mappings), stringsJSON(imp.ListIDs), string(imp.State), imp.Rows, imp.Batches,
			toMS(imp.CreatedAt), toMS(imp.ExpiresAt), toMS(imp.Lease))
		return err
	})
}

const qImportColumns = `SELECT account_id, id, token, mappings, list_ids, state, row_count, batch_count, created_at, expires_at,
	lease_until FROM imports `

func scanImport(r rowScanner) (segmentd.Import, error) {
	var imp segmentd.Import
	var mappings, lists, state string
	var created, expires, lease int64
	err := r.Scan(&imp.AccountID, &imp.ID, &imp.Token, &mappings, &lists, &state, &imp.Rows, &imp.Batches, &created, &expires, &lease)
	if err != nil {
		return imp, err
	}
	if err := json.Unmarshal([]byte(mappings), &imp.Mappings); err != nil {
		return imp, err
	}
	if err := json.Unmarshal([]byte(lists), &imp.ListIDs); err != nil {
		return imp, err
	}
	if len(imp.ListIDs) == 0 {
		imp.ListIDs = nil
	}
	imp.State = segmentd.ImportState(state)
	imp.CreatedAt, imp.ExpiresAt, imp.Lease = fromMS(created), fromMS(expires), fromMS(lease)
	return imp, nil
}

func (s *Store) oneImport(ctx context.Context, id, where string, args ...any) (segmentd.Import, error) {
	imp, err := scanImport(s.read.QueryRowContext(ctx, qImportColumns+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return imp, importNotFound(id)
	}
	return imp, err
}

// Import implements segmentd.ImportStore.
func (s *Store) Import(ctx context.Context, acct int64, id string) (segmentd.Import, error) {
	return s.oneImport(ctx, id, "WHERE account_id = ? AND id = ?", acct, id)
}

// ImportByToken implements segmentd.ImportStore.
func (s *Store) ImportByToken(ctx context.Context, acct int64, token string) (segmentd.Import, error) {
	return s.oneImport(ctx, "", "WHERE account_id = ? AND token = ?", acct, token)
}

// UpdateImport implements segmentd.ImportStore.
func (s *Store) UpdateImport(ctx context.Context, imp segmentd.Import, from segmentd.ImportState) error {
	return s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE imports SET state = ?, row_count = ?, batch_count = ?, expires_at = ?, lease_until = ?
			WHERE account_id = ? AND id = ? AND state = ?`,
			string(imp.State), imp.Rows, imp.Batches, toMS(imp.ExpiresAt), toMS(imp.Lease), imp.AccountID, imp.ID, string(from))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var state string
		err = tx.QueryRowContext(ctx, "SELECT state FROM imports WHERE account_id = ? AND id = ?", imp.AccountID, imp.ID).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return importNotFound(imp.ID)
		}
		if err != nil {
			return err
		}
		return segmentd.Errorf(segmentd.KindConflict, "id", "import %s is %s, not %s", segmentd.Quote(imp.ID), state, from)
	})
}

// PutImportChunk implements segmentd.ImportStore.
func (s *Store) PutImportChunk(ctx context.Context, acct int64, id string, kind segmentd.ImportChunkKind, seq int, data []byte) error {
	return s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO import_chunks (account_id, import_id, kind, seq, data)
			SELECT ?, ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM imports WHERE account_id = ? AND id = ?)`,
			acct, id, int(kind), seq, data, acct, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = importNotFound(id)
			}
			return err
		}
		return nil
	})
}

// ImportChunk implements segmentd.ImportStore.
func (s *Store) ImportChunk(ctx context.Context, acct int64, id string, kind segmentd.ImportChunkKind, seq int) ([]byte, error) {
	var data []byte
	err := s.read.QueryRowContext(ctx, "SELECT data FROM import_chunks WHERE account_id = ? AND import_id = ? AND kind = ? AND seq = ?",
		acct, id, int(kind), seq).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound("id", "import %s has no chunk %d of kind %d", segmentd.Quote(id), seq, kind)
	}
	return data, err
}

// NextImportChunk implements segmentd.ImportStore.
func (s *Store) NextImportChunk(ctx context.Context, acct int64, id string, kind segmentd.ImportChunkKind, after int) (int, []byte, error) {
	var seq int
	var data []byte
	err := s.read.QueryRowContext(ctx, `SELECT seq, data FROM import_chunks WHERE account_id = ? AND import_id = ? AND kind = ? AND seq > ?
		ORDER BY seq LIMIT 1`, acct, id, int(kind), after).Scan(&seq, &data)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, notFound("id", "import %s has no chunk of kind %d after %d", segmentd.Quote(id), kind, after)
	}
	return seq, data, err
}

// DropImportChunks implements segmentd.ImportStore.
func (s *Store) DropImportChunks(ctx context.Context, acct int64, id string, kind segmentd.ImportChunkKind) error {
	return s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM import_chunks WHERE account_id = ? AND import_id = ? AND kind = ?", acct, id, int(kind))
		return err
	})
}

// UnfinishedImports implements segmentd.ImportStore.
func (s *Store) UnfinishedImports(ctx context.Context) ([]segmentd.Import, error) {
	return queryAll(ctx, s.read, scanImport, qImportColumns+"WHERE state <> 'done' ORDER BY created_at, account_id, id")
}

// DeleteExpiredImports implements segmentd.ImportStore.
func (s *Store) DeleteExpiredImports(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM import_chunks WHERE (account_id, import_id) IN
			(SELECT account_id, id FROM imports WHERE state = 'done' AND expires_at <= ?)`, toMS(now)); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "DELETE FROM imports WHERE state = 'done' AND expires_at <= ?", toMS(now))
		if err != nil {
			return err
		}
		k, err := res.RowsAffected()
		n = int(k)
		return err
	})
	return n, err
}
