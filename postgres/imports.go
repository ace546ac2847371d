package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

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
	_, err := s.db.Exec(ctx, `INSERT INTO imports (account_id, id, token, mappings, list_ids, state, row_count, batch_count,
		created_at, expires_at, lease_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		imp.AccountID, imp.ID, imp.Token, stringsJSON(imp.Mappings), stringsJSON(imp.ListIDs), string(imp.State), imp.Rows, imp.Batches,
		toMS(imp.CreatedAt), toMS(imp.ExpiresAt), toMS(imp.Lease))
	return err
}

const qImportColumns = `SELECT account_id, id, token, mappings::text, list_ids::text, state, row_count, batch_count, created_at,
	expires_at, lease_until FROM imports `

func scanImport(r pgx.Row) (segmentd.Import, error) {
	var imp segmentd.Import
	var mappings, lists, state string
	var created, expires, lease int64
	var rows, batches int64
	err := r.Scan(&imp.AccountID, &imp.ID, &imp.Token, &mappings, &lists, &state, &rows, &batches, &created, &expires, &lease)
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
	imp.State, imp.Rows, imp.Batches = segmentd.ImportState(state), int(rows), int(batches)
	imp.CreatedAt, imp.ExpiresAt, imp.Lease = fromMS(created), fromMS(expires), fromMS(lease)
	return imp, nil
}

func (s *Store) oneImport(ctx context.Context, id, where string, args ...any) (segmentd.Import, error) {
	imp, err := scanImport(s.db.QueryRow(ctx, qImportColumns+where, args...))
	if errors.Is(err, pgx.ErrNoRows) {
		return segmentd.Import{}, importNotFound(id)
	}
	return imp, err
}

// Import implements segmentd.ImportStore.
func (s *Store) Import(ctx context.Context, acct int64, id string) (segmentd.Import, error) {
	return s.oneImport(ctx, id, "WHERE account_id = $1 AND id = $2", acct, id)
}

// ImportByToken implements segmentd.ImportStore.
func (s *Store) ImportByToken(ctx context.Context, acct int64, token string) (segmentd.Import, error) {
	return s.oneImport(ctx, "", "WHERE account_id = $1 AND token = $2", acct, token)
}

// UpdateImport implements segmentd.ImportStore: one conditional UPDATE,
// so that of two servers taking one upload URI at once only one changes
// its state.
func (s *Store) UpdateImport(ctx context.Context, imp segmentd.Import, from segmentd.ImportState) error {
	tag, err := s.db.Exec(ctx, `UPDATE imports SET state = $4, row_count = $5, batch_count = $6, expires_at = $7, lease_until = $8
		WHERE account_id = $1 AND id = $2 AND state = $3`,
		imp.AccountID, imp.ID, string(from), string(imp.State), imp.Rows, imp.Batches, toMS(imp.ExpiresAt), toMS(imp.Lease))
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var state string
	err = s.db.QueryRow(ctx, "SELECT state FROM imports WHERE account_id = $1 AND id = $2", imp.AccountID, imp.ID).Scan(&state)
	if errors.Is(err, pgx.ErrNoRows) {
		return importNotFound(imp.ID)
	}
	if err != nil {
		return err
	}
	return segmentd.Errorf(segmentd.KindConflict, "id", "import %s is %s, not %s", segmentd.Quote(imp.ID), state, from)
}

// PutImportChunk implements segmentd.ImportStore: the chunk is written only
// while its import exists, in one statement.
func (s *Store) PutImportChunk(ctx context.Context, acct int64, id string, kind segmentd.ImportChunkKind, seq int, data []byte) error {
	tag, err := s.db.Exec(ctx, `INSERT INTO import_chunks (account_id, import_id, kind, seq, data)
		SELECT $1, $2, $3, $4, $5 WHERE EXISTS (SELECT 1 FROM imports WHERE account_id = $1 AND id = $2)
		ON CONFLICT (account_id, import_id, kind, seq) DO UPDATE SET data = excluded.data`,
		acct, id, int(kind), seq, data)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return importNotFound(id)
	}
	return nil
}

// ImportChunk implements segmentd.ImportStore.
func (s *Store) ImportChunk(ctx context.Context, acct int64, id string, kind segmentd.ImportChunkKind, seq int) ([]byte, error) {
	var data []byte
	err := s.db.QueryRow(ctx, "SELECT data FROM import_chunks WHERE account_id = $1 AND import_id = $2 AND kind = $3 AND seq = $4",
		acct, id, int(kind), seq).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, notFound("id", "import %s has no chunk %d of kind %d", segmentd.Quote(id), seq, kind)
	}
	return data, err
}

// NextImportChunk implements segmentd.ImportStore.
func (s *Store) NextImportChunk(ctx context.Context, acct int64, id string, kind segmentd.ImportChunkKind, after int) (int, []byte, error) {
	var seq int
	var data []byte
	err := s.db.QueryRow(ctx, `SELECT seq, data FROM import_chunks WHERE account_id = $1 AND import_id = $2 AND kind = $3 AND seq > $4
		ORDER BY seq LIMIT 1`, acct, id, int(kind), after).Scan(&seq, &data)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil, notFound("id", "import %s has no chunk of kind %d after %d", segmentd.Quote(id), kind, after)
	}
	return seq, data, err
}

// DropImportChunks implements segmentd.ImportStore.
func (s *Store) DropImportChunks(ctx context.Context, acct int64, id string, kind segmentd.ImportChunkKind) error {
	_, err := s.db.Exec(ctx, "DELETE FROM import_chunks WHERE account_id = $1 AND import_id = $2 AND kind = $3", acct, id, int(kind))
	return err
}

// UnfinishedImports implements segmentd.ImportStore.
func (s *Store) UnfinishedImports(ctx context.Context) ([]segmentd.Import, error) {
	return queryAll(ctx, s.db, scanImport, qImportColumns+"WHERE state <> 'done' ORDER BY created_at, account_id, id")
}

// DeleteExpiredImports implements segmentd.ImportStore. It finds the
// expired imports across accounts once, then deletes each in statements
// that name its account, so that on Citus each goes to the one node
// holding it.
func (s *Store) DeleteExpiredImports(ctx context.Context, now time.Time) (int, error) {
	type key struct {
		acct int64
		id   string
	}
	keys, err := queryAll(ctx, s.db, func(r pgx.Row) (key, error) {
		var k key
		return k, r.Scan(&k.acct, &k.id)
	}, "SELECT account_id, id FROM imports WHERE state = 'done' AND expires_at <= $1", toMS(now))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, k := range keys {
		err := s.inTx(ctx, func(tx pgx.Tx) error {
			tag, err := tx.Exec(ctx, "DELETE FROM imports WHERE account_id = $1 AND id = $2 AND state = 'done' AND expires_at <= $3",
				k.acct, k.id, toMS(now))
			if err != nil || tag.RowsAffected() == 0 {
				return err
			}
			n++
			_, err = tx.Exec(ctx, "DELETE FROM import_chunks WHERE account_id = $1 AND import_id = $2", k.acct, k.id)
			return err
		})
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
