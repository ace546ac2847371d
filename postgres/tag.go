package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

// qTags selects tags of the account $1; append the condition.
const qTags = `SELECT id, name, source, created_at, updated_at FROM tags WHERE account_id = $1 AND `

func scanTag(row pgx.Row) (segmentd.Tag, error) {
	var t segmentd.Tag
	var source *string
	var created, updated int64
	if err := row.Scan(&t.ID, &t.Name, &source, &created, &updated); err != nil {
		return t, err
	}
	if source != nil {
		t.Source = *source
	}
	t.CreatedAt = fromMS(created)
	t.UpdatedAt = fromMS(updated)
	return t, nil
}

func tagNotFound(id string) error {
	return notFound("tag_id", "tag %s does not exist", segmentd.Quote(id))
}

func getTag(ctx context.Context, q querier, acct int64, id string) (segmentd.Tag, error) {
	t, err := scanTag(q.QueryRow(ctx, qTags+"id = $2", acct, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, tagNotFound(id)
	}
	return t, err
}

// checkTagName returns KindConflict when another tag of the account (not
// except) has name, ignoring case.
func checkTagName(ctx context.Context, tx pgx.Tx, acct int64, name, except string) error {
	return checkName(ctx, tx, "tag", name, "SELECT EXISTS (SELECT 1 FROM tags WHERE account_id = $1 AND name_key = $2 AND id <> $3)",
		acct, strings.ToLower(name), except)
}

// CreateTag counts the account's tags under the account lock, so that
// servers sharing the database never pass max together.
func (s *Store) CreateTag(ctx context.Context, acct int64, name, source string, max int, now time.Time) (segmentd.Tag, error) {
	now = msTime(now)
	t := segmentd.Tag{ID: segmentd.NewID(), Name: name, Source: source, CreatedAt: now, UpdatedAt: now}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, acct); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM tags WHERE account_id = $1", acct).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return segmentd.Errorf(segmentd.KindInvalid, "", "the account already has the maximum of %d tags", max)
		}
		if err := checkTagName(ctx, tx, acct, name, ""); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO tags (account_id, id, name, name_key, source, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
			acct, t.ID, name, strings.ToLower(name), nullString(source), toMS(now))
		return err
	})
	if isUniqueViolation(err) {
		return segmentd.Tag{}, nameTaken("tag", name)
	}
	if err != nil {
		return segmentd.Tag{}, err
	}
	return t, nil
}

func (s *Store) Tags(ctx context.Context, acct int64, afterID string, limit int) ([]segmentd.Tag, error) {
	if limit <= 0 {
		return nil, nil
	}
	return queryAll(ctx, s.db, scanTag, qTags+"id > $2 ORDER BY id LIMIT $3", acct, afterID, limit)
}

func (s *Store) CountTags(ctx context.Context, acct int64) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, "SELECT count(*) FROM tags WHERE account_id = $1", acct).Scan(&n)
	return n, classify(err)
}

func (s *Store) Tag(ctx context.Context, acct int64, id string) (segmentd.Tag, error) {
	t, err := getTag(ctx, s.db, acct, id)
	return t, classify(err)
}

func (s *Store) RenameTag(ctx context.Context, acct int64, id, name string, now time.Time) (segmentd.Tag, error) {
	var t segmentd.Tag
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, acct); err != nil {
			return err
		}
		if _, err := getTag(ctx, tx, acct, id); err != nil {
			return err
		}
		if err := checkTagName(ctx, tx, acct, name, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "UPDATE tags SET name = $3, name_key = $4, updated_at = $5 WHERE account_id = $1 AND id = $2",
			acct, id, name, strings.ToLower(name), toMS(msTime(now)))
		if err != nil {
			return err
		}
		t, err = getTag(ctx, tx, acct, id)
		return err
	})
	if isUniqueViolation(err) {
		return segmentd.Tag{}, nameTaken("tag", name)
	}
	if err != nil {
		return segmentd.Tag{}, err
	}
	return t, nil
}

func (s *Store) DeleteTag(ctx context.Context, acct int64, id string) error {
	tag, err := s.db.Exec(ctx, "DELETE FROM tags WHERE account_id = $1 AND id = $2", acct, id)
	if err != nil {
		return classify(err)
	}
	if tag.RowsAffected() == 0 {
		return tagNotFound(id)
	}
	return nil
}
