package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
)

// fieldCounter names the account_counters row that numbers custom fields.
const fieldCounter = "field_id"

func (s *Store) FieldDefinitions(ctx context.Context, acct int64) ([]segmentd.FieldDefinition, error) {
	return fieldDefinitions(ctx, &s.reads, acct)
}

// fieldDefinitions lists the account's custom fields in creation order (the
// counter only grows, so the number in the id is the creation order).
func fieldDefinitions(ctx context.Context, q queryer, acct int64) ([]segmentd.FieldDefinition, error) {
	return queryAll(ctx, q, scanField, `SELECT id, name, field_type, created_at FROM field_definitions
		WHERE account_id = ? ORDER BY CAST(substr(id, 2) AS INTEGER)`, acct)
}

func scanField(row rowScanner) (segmentd.FieldDefinition, error) {
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

func fieldByID(ctx context.Context, q queryer, acct int64, id string) (segmentd.FieldDefinition, error) {
	f, err := scanField(q.QueryRowContext(ctx, "SELECT id, name, field_type, created_at FROM field_definitions WHERE account_id = ? AND id = ?", acct, id))
	if errors.Is(err, sql.ErrNoRows) {
		return f, notFound("field_id", "custom field %s does not exist", segmentd.Quote(id))
	}
	return f, err
}

// checkFieldName returns KindConflict when another field of the account
// (not except) has name, ignoring case.
func checkFieldName(ctx context.Context, tx *sql.Tx, acct int64, name, except string) error {
	return checkName(ctx, tx, "custom field", name, "SELECT count(*) FROM field_definitions WHERE account_id = ? AND name_key = ? AND id != ?",
		acct, strings.ToLower(name), except)
}

func (s *Store) CreateFieldDefinition(ctx context.Context, acct int64, name string, t segmentd.FieldType, max int, now time.Time) (segmentd.FieldDefinition, error) {
	switch t {
	case segmentd.FieldText, segmentd.FieldNumber, segmentd.FieldDate:
	default:
		return segmentd.FieldDefinition{}, segmentd.Errorf(segmentd.KindInvalid, "field_type", "field_type must be Text, Number or Date")
	}
	f := segmentd.FieldDefinition{Name: name, Type: t, CreatedAt: msTime(now)}
	err := s.catalogTx(ctx, acct, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM field_definitions WHERE account_id = ?", acct).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return segmentd.Errorf(segmentd.KindInvalid, "", "the account already has the maximum of %d custom fields", max)
		}
		if err := checkFieldName(ctx, tx, acct, name, ""); err != nil {
			return err
		}
		var next int64
		err := tx.QueryRowContext(ctx, `INSERT INTO account_counters (account_id, name, value) VALUES (?, ?, 1)
			ON CONFLICT (account_id, name) DO UPDATE SET value = value + 1 RETURNING value`, acct, fieldCounter).Scan(&next)
		if err != nil {
			return err
		}
		f.ID = segmentd.FieldIDPrefix(t) + strconv.FormatInt(next, 10)
		_, err = tx.ExecContext(ctx, `INSERT INTO field_definitions (account_id, id, name, name_key, field_type, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, acct, f.ID, name, strings.ToLower(name), string(t), toMS(f.CreatedAt))
		return err
	})
	if err != nil {
		return segmentd.FieldDefinition{}, err
	}
	return f, nil
}

func (s *Store) RenameFieldDefinition(ctx context.Context, acct int64, id, name string) (segmentd.FieldDefinition, error) {
	var f segmentd.FieldDefinition
	err := s.catalogTx(ctx, acct, func(tx *sql.Tx) error {
		var err error
		if f, err = fieldByID(ctx, tx, acct, id); err != nil {
			return err
		}
		if err := checkFieldName(ctx, tx, acct, name, id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE field_definitions SET name = ?, name_key = ? WHERE account_id = ? AND id = ?",
			name, strings.ToLower(name), acct, id)
		f.Name = name
		return err
	})
	if err != nil {
		return segmentd.FieldDefinition{}, err
	}
	return f, nil
}

// DeleteFieldDefinition removes the definition and, in the same transaction,
// the field's value from every contact of the account. The id is never
// given out again: the counter in account_counters keeps counting.
func (s *Store) DeleteFieldDefinition(ctx context.Context, acct int64, id string) error {
	return s.catalogTx(ctx, acct, func(tx *sql.Tx) error {
		if _, err := fieldByID(ctx, tx, acct, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM field_definitions WHERE account_id = ? AND id = ?", acct, id); err != nil {
			return err
		}
		path := `$."` + id + `"` // ids are a letter and digits: nothing to escape
		_, err := tx.ExecContext(ctx, `UPDATE contacts SET custom_fields = json_remove(custom_fields, ?1)
			WHERE account_id = ?2 AND json_type(custom_fields, ?1) IS NOT NULL`, path, acct)
		return err
	})
}
