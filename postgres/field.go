package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

// fieldCounter names the account_counters row that numbers custom fields.
const fieldCounter = "field_id"

const fieldCols = "id, name, field_type, created_at"

func (s *Store) FieldDefinitions(ctx context.Context, acct int64) ([]segmentd.FieldDefinition, error) {
	// The counter only grows, so the number in the id is the creation order.
	return queryAll(ctx, s.db, scanField, "SELECT "+fieldCols+" FROM field_definitions WHERE account_id = $1 ORDER BY substr(id, 2)::bigint", acct)
}

func scanField(row pgx.Row) (segmentd.FieldDefinition, error) {
	var f segmentd.FieldDefinition
	var t string
	var created int64
	if err := row.Scan(&f.ID, &f.Name, &t, &created); err != nil {
		return f, err
	}
	f.Type = segmentd.FieldType(t)
	f.CreatedAt = fromMS(created)
	return f, nil
}

func fieldByID(ctx context.Context, q querier, acct int64, id string) (segmentd.FieldDefinition, error) {
	f, err := scanField(q.QueryRow(ctx, "SELECT "+fieldCols+" FROM field_definitions WHERE account_id = $1 AND id = $2", acct, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return f, notFound("field_id", "custom field %s does not exist", segmentd.Quote(id))
	}
	return f, err
}

// checkFieldName returns KindConflict when another field of the account
// (not except) has name, ignoring case.
func checkFieldName(ctx context.Context, tx pgx.Tx, acct int64, name, except string) error {
	return checkName(ctx, tx, "custom field", name,
		"SELECT EXISTS (SELECT 1 FROM field_definitions WHERE account_id = $1 AND name_key = $2 AND id <> $3)",
		acct, strings.ToLower(name), except)
}

// CreateFieldDefinition counts the account's fields under the account
// lock, so that servers creating fields at once stop at max together.
func (s *Store) CreateFieldDefinition(ctx context.Context, acct int64, name string, t segmentd.FieldType, max int, now time.Time) (segmentd.FieldDefinition, error) {
	switch t {
	case segmentd.FieldText, segmentd.FieldNumber, segmentd.FieldDate:
	default:
		return segmentd.FieldDefinition{}, segmentd.Errorf(segmentd.KindInvalid, "field_type", "field_type must be Text, Number or Date")
	}
	f := segmentd.FieldDefinition{Name: name, Type: t, CreatedAt: msTime(now)}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := recordCatalogChange(ctx, tx, acct); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM field_definitions WHERE account_id = $1", acct).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return segmentd.Errorf(segmentd.KindInvalid, "", "the account already has the maximum of %d custom fields", max)
		}
		if err := checkFieldName(ctx, tx, acct, name, ""); err != nil {
			return err
		}
		var next int64
		err := tx.QueryRow(ctx, `INSERT INTO account_counters AS c (account_id, name, value) VALUES ($1, $2, 1)
			ON CONFLICT (account_id, name) DO UPDATE SET value = c.value + 1 RETURNING value`, acct, fieldCounter).Scan(&next)
		if err != nil {
			return err
		}
		f.ID = segmentd.FieldIDPrefix(t) + strconv.FormatInt(next, 10)
		_, err = tx.Exec(ctx, `INSERT INTO field_definitions (account_id, id, name, name_key, field_type, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, acct, f.ID, name, strings.ToLower(name), string(t), toMS(f.CreatedAt))
		return err
	})
	if isUniqueViolation(err) {
		return segmentd.FieldDefinition{}, nameTaken("custom field", name)
	}
	if err != nil {
		return segmentd.FieldDefinition{}, err
	}
	return f, nil
}

func (s *Store) RenameFieldDefinition(ctx context.Context, acct int64, id, name string) (segmentd.FieldDefinition, error) {
	var f segmentd.FieldDefinition
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := recordCatalogChange(ctx, tx, acct); err != nil {
			return err
		}
		var err error
		if f, err = fieldByID(ctx, tx, acct, id); err != nil {
			return err
		}
		if err := checkFieldName(ctx, tx, acct, name, id); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE field_definitions SET name = $1, name_key = $2 WHERE account_id = $3 AND id = $4",
			name, strings.ToLower(name), acct, id)
		f.Name = name
		return err
	})
	if isUniqueViolation(err) {
		return segmentd.FieldDefinition{}, nameTaken("custom field", name)
	}
	if err != nil {
		return segmentd.FieldDefinition{}, err
	}
	return f, nil
}

// DeleteFieldDefinition removes the definition and, in the same transaction,
// the field's value from every contact of the account. It holds the
// account lock, so that an upsert cannot write back a value it read
// before. The id is never given out again: the counter in
// account_counters keeps counting.
func (s *Store) DeleteFieldDefinition(ctx context.Context, acct int64, id string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := recordCatalogChange(ctx, tx, acct); err != nil {
			return err
		}
		if _, err := fieldByID(ctx, tx, acct, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM field_definitions WHERE account_id = $1 AND id = $2", acct, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "UPDATE contacts SET custom_fields = custom_fields - $2::text WHERE account_id = $1 AND custom_fields ? $2::text", acct, id)
		return err
	})
}
